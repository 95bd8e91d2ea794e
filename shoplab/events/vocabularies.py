"""Vocabularies of the event log: the values a country, platform, category, ... may take.

The contract's lists (:mod:`shoplab.core.contract`: 8 countries, 3 platforms, 24 categories)
were shaped after the simulator; a marketplace selling in France on a TV app has other values.
Validation reads the active vocabularies, resolved in this order:

1. ``SHOPLAB_VOCABULARIES=path.yaml`` (``shoplab.core.settings``): an operator's file;
2. the ``vocabularies:`` block of the last import mapping, kept by ``import_events`` in
   ``events/vocabularies.json`` so a later ``shoplab events validate`` judges the log the same way;
3. the contract's lists (the simulator and the demo).

A file or block lists any of ``countries``, ``platforms``, ``categories``, ``content_types``,
``surfaces``; a vocabulary left out keeps the contract's list. The manifest of the validation
records the vocabularies it used and where they came from (:meth:`Vocabularies.as_record`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shoplab.core.atomic import atomic_write_text
from shoplab.core.contract import CATEGORIES, CONTENT_TYPES, COUNTRIES, PLATFORMS, SURFACES
from shoplab.core.errors import ConfigError
from shoplab.core.paths import events_dir
from shoplab.core.settings import settings

__all__ = [
    "DEFAULT_SOURCE",
    "VOCABULARY_COLUMNS",
    "Vocabularies",
    "active_vocabularies",
    "keep_import_vocabularies",
    "load_vocabularies",
]

DEFAULT_SOURCE: Final = "default (shoplab.core.contract)"
SAVED_NAME: Final = "vocabularies.json"

VOCABULARY_COLUMNS: Final[dict[str, str]] = {
    "country": "countries",
    "platform": "platforms",
    "category": "categories",
    "content_type": "content_types",
    "surface": "surfaces",
}
"""Contract column → the vocabulary its values must be in."""


class Vocabularies(BaseModel):
    """The allowed values per vocabulary; each left out is the contract's list.

    Example:
        >>> v = Vocabularies(countries=("FR", "DE"))
        >>> v.countries, v.platforms, v.is_default
        (('FR', 'DE'), ('android', 'ios', 'web'), False)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    countries: tuple[str, ...] = Field(default=COUNTRIES, description="users/requests.country")
    platforms: tuple[str, ...] = Field(default=PLATFORMS, description="users/requests.platform")
    categories: tuple[str, ...] = Field(default=CATEGORIES, description="items.category")
    content_types: tuple[str, ...] = Field(
        default=CONTENT_TYPES, description="items.content_type"
    )
    surfaces: tuple[str, ...] = Field(default=SURFACES, description="requests.surface")
    source: str = Field(default=DEFAULT_SOURCE, description="Where these vocabularies came from.")

    @field_validator("countries", "platforms", "categories", "content_types", "surfaces")
    @classmethod
    def _non_empty_unique(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if not values:
            raise ValueError("an empty list, must hold at least one value")
        blank = [v for v in values if not v.strip()]
        if blank:
            raise ValueError(f"values {blank} are blank, must be non-empty text")
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"values {repeated} repeat, must be listed once")
        return values

    @property
    def is_default(self) -> bool:
        """Whether every vocabulary is the contract's (the simulator's log)."""
        return all(getattr(self, f) == Vocabularies.model_fields[f].default
                   for f in VOCABULARY_COLUMNS.values())

    def of(self, column: str) -> tuple[str, ...]:
        """The allowed values of contract column ``column`` (``country`` → countries)."""
        values: tuple[str, ...] = getattr(self, VOCABULARY_COLUMNS[column])
        return values

    def as_record(self) -> dict[str, Any]:
        """JSON form for the manifest: the source and every list."""
        return {"source": self.source,
                **{f: list(getattr(self, f)) for f in VOCABULARY_COLUMNS.values()}}


def _validate(data: object, where: str) -> Vocabularies:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a mapping of vocabulary → list of values "
                          f"(keys among {list(VOCABULARY_COLUMNS.values())}).")
    try:
        return Vocabularies.model_validate({**data, "source": where})
    except ValidationError as exc:
        listed = "; ".join(f"{'.'.join(map(str, e['loc']))} == {e['input']!r}, {e['msg']}"
                           for e in exc.errors())
        raise ConfigError(f"{where}: {listed}.") from None


def load_vocabularies(path: str | Path, *, source: str | None = None) -> Vocabularies:
    """Read vocabularies from a YAML (or JSON) file; ``source`` names them (default: the path).

    Raises:
        ConfigError: the file cannot be read, or a vocabulary is not a list of unique values.
    """
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{p}: cannot read the vocabularies ({exc}).") from None
    if isinstance(data, dict) and "source" in data and source is None:
        source = str(data.pop("source"))
    elif isinstance(data, dict):
        data.pop("source", None)
    return _validate(data, source or str(p))


def keep_import_vocabularies(block: Vocabularies | None) -> None:
    """Keep an import mapping's ``vocabularies:`` block for later validations (None: keep any).

    Written as ``events/vocabularies.json``; a mapping without the block leaves a kept file as
    it is (importing one more table does not reset the log's vocabularies).
    """
    if block is None:
        return
    target = events_dir() / SAVED_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, json.dumps(block.as_record(), indent=1) + "\n")


def active_vocabularies() -> Vocabularies:
    """The vocabularies validation uses now: the setting, else the import's, else the contract's.

    Raises:
        ConfigError: ``SHOPLAB_VOCABULARIES`` or the kept file cannot be read or breaks a rule.
    """
    configured = settings().vocabularies
    if configured is not None:
        return load_vocabularies(configured, source=f"SHOPLAB_VOCABULARIES={configured}")
    kept = events_dir() / SAVED_NAME
    if kept.is_file():
        return load_vocabularies(kept)
    return Vocabularies()
