"""The import mapping: where a log's files are and how their columns become the contract's.

One YAML file (``shoplab events import CONFIG.yaml``) names the sources (Parquet or CSV: a file, a
folder or a glob, relative to the config file) and, per event table the log has, which source
feeds it and where each contract column comes from::

    sources:
      hillstrom: {path: hillstrom.csv}
    timestamps: {zone: UTC}            # zone of naive timestamps (and a default unit / format)
    tables:
      exposures:
        source: hillstrom
        columns:
          experiment: {const: hillstrom}
          variant: {column: segment, values: {"No E-Mail": no_email, "Mens E-Mail": mens_email}}
          unit_id: {row_number: true}  # no id in the file: its row number (1-based)
          ts: {const: "2008-03-01T00:00:00Z"}
      orders:
        source: hillstrom
        where: {conversion: [1]}       # keep rows whose value (as text) is listed
        columns:
          order_id: {row_number: true}
          gmv: spend                   # shorthand for {column: spend}
          ...

A column value is exactly one of ``column`` (a source column, optionally recoded by ``values``
and shifted by ``add``), ``const`` (one value for every row) or ``row_number``. Timestamps from
a column are parsed by ``format`` (strptime), or read as epoch numbers in ``unit``, or cast (ISO
text, Parquet timestamps and dates); naive ones are in ``timestamps.zone``. Nullable contract
columns (``requests.query``) may be left out: they are null.

An optional ``vocabularies:`` block lists the log's own values (``countries: [FR, DE]``,
``platforms: [web, tv]``, ...) for the ``unknown <column>`` rules; see
:mod:`shoplab.events.vocabularies`.

The model is the JSON schema editors use (``shoplab/events/schemas/import.schema.json``).
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from shoplab.core.contract import TABLES
from shoplab.core.errors import ConfigError
from shoplab.events.vocabularies import Vocabularies

__all__ = [
    "ColumnValue",
    "ImportConfig",
    "Scalar",
    "Source",
    "TableMapping",
    "TimestampSpec",
    "TimeUnit",
    "load_import_config",
]

Scalar = str | int | float | bool
TimeUnit = Literal["s", "ms", "us", "ns"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Model):
    """Files of one source: a file, a folder (its ``*.csv`` / ``*.parquet``) or a glob."""

    path: str = Field(description="File, folder or glob; relative paths are under the config's "
                      "folder.")
    format: Literal["csv", "parquet"] | None = Field(
        default=None,
        description="Default: from the file suffix (.parquet; .csv, .tsv, .txt, .gz: CSV).",
    )
    delimiter: str = Field(
        default=",",
        description="CSV delimiter: one character, or 'whitespace' for fields separated by runs "
        "of spaces and tabs (aligned text such as CDNOW_master.txt).",
    )
    header: bool = Field(default=True, description="CSV: the first line names the columns.")
    names: list[str] | None = Field(
        default=None, description="CSV without a header: the column names, in file order."
    )


    @model_validator(mode="after")
    def _one_char(self) -> Source:
        if len(self.delimiter) != 1 and self.delimiter != "whitespace":
            raise ValueError(f"delimiter == {self.delimiter!r}, must be one character or "
                             "'whitespace'")
        return self


class TimestampSpec(_Model):
    """How timestamps are read: zone of naive values, default epoch unit or strptime format."""

    zone: str = Field(
        default="UTC", description="IANA zone of naive timestamps (Europe/Paris, UTC)."
    )
    unit: TimeUnit | None = Field(default=None, description="Epoch numbers: their unit.")
    format: str | None = Field(default=None, description="Text: a strptime format (%Y%m%d).")

    @model_validator(mode="after")
    def _known_zone(self) -> TimestampSpec:
        try:
            zoneinfo.ZoneInfo(self.zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"zone == {self.zone!r}, must be an IANA time zone") from None
        return self


class ColumnValue(_Model):
    """Where one contract column comes from: exactly one of column, const, row_number."""

    column: str | None = Field(default=None, description="A source column.")
    const: Scalar | None = Field(
        default=None, description="One value for every row (null: a null)."
    )
    row_number: bool = Field(
        default=False, description="The row's number in its source, from 1."
    )
    values: dict[str, Scalar] | None = Field(
        default=None,
        description="Recode: source value (as text) → value; a value not listed is an error.",
    )
    add: int | None = Field(
        default=None,
        description="Integer added to an id (derived ids that must not collide: a second row "
        "per unit).",
    )
    unit: TimeUnit | None = Field(
        default=None, description="Timestamp as an epoch number in this unit."
    )
    format: str | None = Field(
        default=None, description="Timestamp as text in this strptime format."
    )

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnValue:
        origins = [k for k, on in (("column", self.column is not None),
                                   ("const", "const" in self.model_fields_set),
                                   ("row_number", self.row_number)) if on]
        if len(origins) != 1:
            raise ValueError(
                f"origins == {origins}, must be exactly one of column, const, row_number"
            )
        if self.values is not None and self.column is None:
            raise ValueError("values recodes a column: it needs column")
        return self


class TableMapping(_Model):
    """One event table: its source, an optional row filter and its column values."""

    source: str = Field(description="A name of ``sources``.")
    where: dict[str, list[Scalar]] = Field(
        default_factory=dict,
        description="Keep rows whose column value, as text, is listed ({conversion: [1]}).",
    )
    columns: dict[str, str | ColumnValue] = Field(
        description="Contract column → its value; a string is the source column of that name."
    )
    keep: Literal["all", "first"] = Field(
        default="all",
        description="first: only the first row (in source order) of each key of the table: a "
        "dimension table from a fact file (a customer's first purchase as the users row).",
    )

    @field_validator("columns", mode="after")
    @classmethod
    def _expand(cls, columns: dict[str, str | ColumnValue]) -> dict[str, str | ColumnValue]:
        return {k: ColumnValue(column=v) if isinstance(v, str) else v for k, v in columns.items()}

    def value(self, column: str) -> ColumnValue:
        """Where ``column`` comes from (a left-out nullable column: the constant null)."""
        v = self.columns.get(column)
        if v is None:
            return ColumnValue(const=None)
        return ColumnValue(column=v) if isinstance(v, str) else v


class ImportConfig(_Model):
    """An import: the sources, how timestamps are read, and the tables the log has."""

    sources: dict[str, Source]
    timestamps: TimestampSpec = TimestampSpec()
    tables: dict[str, TableMapping | list[TableMapping]] = Field(
        description="Event table → its mapping, or a list of mappings whose rows are "
        "concatenated (two kinds of rows of one table: a visit and a past-period visit)."
    )
    vocabularies: Vocabularies | None = Field(
        default=None,
        description="The log's own vocabularies (countries, platforms, categories, "
        "content_types, surfaces), each a list of values; one left out keeps the contract's. "
        "Kept for later validations (shoplab.events.vocabularies).",
    )
    _base_dir: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _tables_match_contract(self) -> ImportConfig:
        problems = []
        for name, t in self._all_parts():
            if name not in TABLES:
                problems.append(f"tables.{name}: unknown table, must be one of {list(TABLES)}")
                continue
            if not isinstance(self.tables[name], TableMapping) and not self.tables[name]:
                problems.append(f"tables.{name}: an empty list, must hold at least one mapping")
            if t.source not in self.sources:
                problems.append(f"tables.{name}.source == {t.source!r}, must be one of "
                                f"{sorted(self.sources)}")
            contract = {c.name: c for c in TABLES[name].columns}
            unknown = sorted(set(t.columns) - set(contract))
            if unknown:
                problems.append(f"tables.{name}.columns: {unknown} not in the contract, must be "
                                f"among {list(contract)}")
            if t.keep == "first" and not TABLES[name].key:
                problems.append(f"tables.{name}.keep == 'first', must be 'all': {name} has no key")
            missing = [c for c, col in contract.items() if not col.nullable and c not in t.columns]
            if missing:
                problems.append(f"tables.{name}.columns: {missing} missing, every non-nullable "
                                "contract column must be mapped")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _all_parts(self) -> list[tuple[str, TableMapping]]:
        return [(name, part) for name in self.tables for part in self.parts(name)]

    def parts(self, table: str) -> list[TableMapping]:
        """The mappings of ``table`` (one, or the parts whose rows are concatenated)."""
        t = self.tables[table]
        return t if isinstance(t, list) else [t]

    @property
    def base_dir(self) -> Path | None:
        """The folder relative source paths are under: the config file's (None: the cwd)."""
        return self._base_dir

    def resolve(self, path: str) -> Path:
        """A source path made absolute against :attr:`base_dir` (the config's folder)."""
        p = Path(path).expanduser()
        if p.is_absolute() or self._base_dir is None:
            return p
        return self._base_dir / p


def load_import_config(path: str | Path) -> ImportConfig:
    """Read an import mapping from YAML; relative source paths are under its folder.

    Raises:
        ConfigError: the file cannot be read or breaks the model (field, value and rule named).
    """
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{p}: cannot read the import mapping ({exc}).") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: must be a YAML mapping with sources and tables.")
    try:
        cfg = ImportConfig.model_validate(data)
    except ValidationError as exc:
        listed = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'} == {e['input']!r}, {e['msg']}"
            if e["type"] != "value_error" else f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"{p}: {listed}.") from None
    cfg._base_dir = p.resolve().parent
    return cfg
