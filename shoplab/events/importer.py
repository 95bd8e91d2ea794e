"""``import_events``: copy a log's own files into the contract's tables, then validate them.

Steps, each a function below: find the source files; read each source once into DuckDB (CSV
as text, so every cast is ours and its failure can be named; Parquet as is); build every table's
columns in SQL (one vectorized ``CREATE TABLE AS``, no loop over rows) with the raw value kept
beside the cast one; collect every problem (a mapped column missing, a value a cast rejects, a
table without rows) and stop before anything is written; else write ``events/<table>/`` (fact
tables as ``YYYY-MM-DD.parquet`` per UTC day, like the simulator; others one ``imported.parquet``)
through a staging folder under the data root, and run :func:`~shoplab.events.load_events`, which
quarantines rows that break the contract. The user's files are only read.

What is an error and what is quarantined: a value the mapping cannot *read* (``'2008-13-01'``
as a timestamp, ``'A17'`` as an id) is an import error, since no rule of the contract can judge
a row whose columns do not exist yet; a readable value that breaks the contract (a null key, a
negative GMV, an order of an unknown request) is quarantined with its reason, as for any log.
"""

from __future__ import annotations

import glob
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Final

import duckdb
import polars as pl

from shoplab.core.contract import TABLES, Column
from shoplab.core.duck import connect, quote, sql_list, sql_str
from shoplab.core.errors import ConfigError
from shoplab.core.files import parquet_files
from shoplab.core.lock import writes_data_root
from shoplab.core.paths import data_root, events_dir, quarantine_dir
from shoplab.events.errors import EventImportError
from shoplab.events.load import load_events
from shoplab.events.mapping import (
    ColumnValue,
    ImportConfig,
    Scalar,
    Source,
    TableMapping,
    load_import_config,
)
from shoplab.events.report import LoadReport, TableLoad
from shoplab.events.vocabularies import keep_import_vocabularies

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table as RichTable

__all__ = ["ImportReport", "TableImport", "import_events"]

_CSV_SUFFIXES: Final = frozenset({".csv", ".tsv", ".txt", ".dat"})
_FILE: Final = "__file"
_ROW: Final = "__row"
_US: Final = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}
_SQL_TYPES: Final = {pl.Int64(): "BIGINT", pl.Int32(): "INTEGER", pl.Float64(): "DOUBLE",
                     pl.Boolean(): "BOOLEAN", pl.String(): "VARCHAR"}
_INTEGER_TEXT: Final = r"[+-]?[0-9]+(\.0*)?"


@dataclass(frozen=True)
class TableImport:
    """One imported table: where its rows came from and what validation made of them.

    Attributes:
        table: the event table.
        source_files: the user's files it was read from (never modified).
        rows_in: rows written under the data root (source rows kept by ``where``).
        files_written: Parquet files written (one per UTC day for fact tables).
        load: the validation of the table: ``rows_in == accepted + quarantined``.
    """

    table: str
    source_files: tuple[Path, ...]
    rows_in: int
    files_written: int
    load: TableLoad


@dataclass(frozen=True)
class ImportReport:
    """Every imported table, the validation run over the whole log and the wall time."""

    tables: tuple[TableImport, ...]
    validation: LoadReport
    seconds: float

    def __getitem__(self, table: str) -> TableImport:
        """The entry of one imported table: ``report["orders"].load.quarantined``."""
        for t in self.tables:
            if t.table == table:
                return t
        self.validation[table]  # raises UnknownTableError naming the known tables
        raise EventImportError([f"table == {table!r} was validated, not imported."])

    def to_rich(self) -> RichTable:
        """A Rich table: per imported table, files read and written, rows, accepted, quarantined."""
        from rich.table import Table

        out = Table(title=f"event log import ({self.seconds:.1f} s, version "
                          f"{self.validation.version})")
        for col in ("table", "source files", "rows in", "files written", "accepted",
                    "quarantined", "reasons"):
            out.add_column(col, justify="left" if col in ("table", "reasons") else "right")
        for t in self.tables:
            reasons = ", ".join(f"{r}: {n:,}" for r, n in sorted(t.load.reasons.items()))
            out.add_row(t.table, f"{len(t.source_files):,}", f"{t.rows_in:,}",
                        f"{t.files_written:,}", f"{t.load.accepted:,}",
                        f"{t.load.quarantined:,}", reasons,
                        style="red" if t.load.quarantined else None)
        return out


# ---------------------------------------------------------------------------------------- files


def _format_of(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".parquet":
        return "parquet"
    if suffixes and suffixes[-1] in (".gz", ".zst") and len(suffixes) > 1:
        suffixes = suffixes[:-1]
    return "csv" if suffixes and suffixes[-1] in _CSV_SUFFIXES else None


def _source_files(cfg: ImportConfig, name: str, src: Source, problems: list[str]) -> list[Path]:
    """The files of a source, sorted by name; a problem when none match or formats mix."""
    where = cfg.resolve(src.path)
    if any(ch in src.path for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(where), recursive=True)
                       if Path(p).is_file())
    elif where.is_dir():
        files = sorted(p for p in where.iterdir() if p.is_file() and not p.name.startswith(".")
                       and (_format_of(p) == src.format if src.format else _format_of(p)))
    else:
        files = [where] if where.is_file() else []
    if not files:
        problems.append(f"sources.{name}.path == {src.path!r} ({where}): matches no file, must "
                        "name a file, a folder of CSV / Parquet files or a glob.")
        return []
    formats = {src.format or _format_of(f) for f in files}
    if None in formats or len(formats) > 1:
        listed = ", ".join(f"{f.name}: {src.format or _format_of(f)}" for f in files[:5])
        problems.append(f"sources.{name}: formats of {listed}; must be one of csv, parquet for "
                        "every file (set format when the suffix does not say).")
        return []
    return files


def _read_source(
    con: duckdb.DuckDBPyConnection, alias: str, name: str, src: Source, files: list[Path],
    problems: list[str],
) -> list[str] | None:
    """Read a source into temp table ``alias``; its columns, or None after a problem.

    Insertion order is kept (``connect(ordered=True)``), so ``rowid`` is the row's place in its
    files taken in name order: what ``row_number`` numbers.
    """
    listed = sql_list(str(f) for f in files)
    fmt = src.format or _format_of(files[0])
    if fmt == "csv" and src.delimiter == "whitespace":
        return _read_whitespace(con, alias, name, src, files, problems)
    if fmt == "csv":
        names = f", names = {sql_list(src.names)}" if src.names else ""
        reader = (f"read_csv({listed}, delim = {sql_str(src.delimiter)}, header = "
                  f"{str(src.header).lower()}, all_varchar = true, union_by_name = true, "
                  f"filename = {sql_str(_FILE)}{names})")
    else:
        reader = f"read_parquet({listed}, union_by_name = true, filename = {sql_str(_FILE)})"
    try:
        con.execute(f"CREATE TEMP TABLE {alias} AS SELECT * FROM {reader}")
    except duckdb.Error as exc:
        what = f"CSV with delimiter {src.delimiter!r}" if fmt == "csv" else "Parquet"
        first = str(exc).strip().splitlines()[0]
        problems.append(f"sources.{name} ({', '.join(str(f) for f in files[:3])}): cannot be "
                        f"read as {what} ({first}).")
        return None
    return [c for c in con.execute(f"SELECT * FROM {alias} LIMIT 0").fetchnumpy() if c != _FILE]


def _read_whitespace(
    con: duckdb.DuckDBPyConnection, alias: str, name: str, src: Source, files: list[Path],
    problems: list[str],
) -> list[str] | None:
    """Read aligned text (fields separated by runs of blanks) into ``alias``, as text columns.

    DuckDB's CSV reader takes one delimiter character, and ``'  00001 19970101  1   11.77'``
    has runs of them: the lines are split by a regular expression instead.
    """
    con.execute(
        f"CREATE TEMP TABLE {alias}_lines AS SELECT {_FILE}, n, "
        r"regexp_split_to_array(trim(line), '\s+') AS parts FROM ("
        f"SELECT filename AS {_FILE}, unnest(lines) AS line, unnest(range(1, len(lines) + 1)) "
        f"AS n FROM (SELECT filename, string_split(replace(content, chr(13), ''), chr(10)) "
        f"AS lines FROM read_text({sql_list(str(f) for f in files)}))) WHERE trim(line) <> ''"
    )
    first = con.execute(f"SELECT min(n) FROM {alias}_lines WHERE {_FILE} = ?",
                        [str(files[0])]).fetchall()[0][0]
    if src.names:
        names = list(src.names)
    elif src.header and first is not None:
        names = con.execute(f"SELECT parts FROM {alias}_lines WHERE {_FILE} = ? AND n = ?",
                            [str(files[0]), first]).fetchall()[0][0]
    else:
        problems.append(f"sources.{name}: header == false, must give names for the columns.")
        return None
    body = (f"n > (SELECT min(n) FROM {alias}_lines m WHERE m.{_FILE} = l.{_FILE})"
            if src.header and not src.names else "true")
    bad = con.execute(
        f"SELECT {_FILE}, n, array_to_string(parts, ' ') FROM {alias}_lines l WHERE {body} AND "
        f"len(parts) <> {len(names)} ORDER BY {_FILE}, n LIMIT 1"
    ).fetchall()
    if bad:
        problems.append(f"{bad[0][0]}: line {bad[0][1]}: value {bad[0][2]!r} has a field count "
                        f"other than the {len(names)} columns {names}, must have exactly that.")
        return None
    cols = ", ".join(f"parts[{i + 1}] AS {quote(c)}" for i, c in enumerate(names))
    con.execute(f"CREATE TEMP TABLE {alias} AS SELECT {cols}, {_FILE} FROM {alias}_lines l "
                f"WHERE {body} ORDER BY {_FILE}, n")
    return names


# ---------------------------------------------------------------------------------------- SQL


def _literal(value: Scalar | None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return sql_str(value)


def _ts_sql(x: str, v: ColumnValue, cfg: ImportConfig) -> tuple[str, str]:
    """SQL of a timestamp value as TIMESTAMPTZ, and the rule its failure breaks."""
    unit = v.unit or (cfg.timestamps.unit if v.column is not None else None)
    fmt = v.format or (cfg.timestamps.format if v.column is not None and unit is None else None)
    if unit is not None:
        # epoch numbers are instants: no zone; microseconds as integers (doubles lose µs ≈ 2^53)
        mult = _US[unit]
        us = (f"TRY_CAST({x} AS BIGINT) // 1000" if mult is None else
              f"TRY_CAST({x} AS BIGINT) * {mult}" if unit == "us" else
              f"CAST(round(TRY_CAST({x} AS DOUBLE) * {mult}) AS BIGINT)")
        return (f"(TIMESTAMPTZ '1970-01-01 00:00:00+00' + to_microseconds({us}))",
                f"must be an epoch number in {unit}")
    if fmt is not None:
        return (f"CAST(try_strptime(CAST({x} AS VARCHAR), {sql_str(fmt)}) AS TIMESTAMPTZ)",
                f"must match the format {fmt!r}")
    return (f"TRY_CAST({x} AS TIMESTAMPTZ)",
            "must be a timestamp (ISO 8601 text, a Parquet timestamp or date; set format or "
            "unit otherwise)")


def _value_sql(v: ColumnValue, col: Column, cfg: ImportConfig) -> tuple[str | None, str, str]:
    """(raw SQL or None for a constant, cast SQL, rule) of one contract column."""
    if v.row_number:
        raw = f"({_ROW} + {v.add or 0})"
    elif v.column is not None:
        raw = quote(v.column)
    else:
        raw = None
    x = raw if raw is not None else _literal(v.const)
    rule = ""
    if v.values is not None:
        cases = " ".join(f"WHEN {sql_str(str(k))} THEN {_literal(val)}"
                         for k, val in v.values.items())
        x = f"(CASE CAST({x} AS VARCHAR) {cases} END)"
        rule = f"must be one of the mapping's values {sorted(v.values)}"
    if col.dtype == pl.Datetime("us", "UTC"):
        cast, ts_rule = _ts_sql(x, v, cfg)
        return raw, cast, rule or ts_rule
    sql_type = _SQL_TYPES[col.dtype]
    if sql_type in ("BIGINT", "INTEGER"):
        # TRY_CAST('1.5' AS BIGINT) is 2: a rounded id would join the wrong rows, so only
        # integer text passes ('00017' is 17, as in CDNOW's ids)
        text = f"trim(CAST({x} AS VARCHAR))"
        x = f"(CASE WHEN regexp_full_match({text}, '{_INTEGER_TEXT}') THEN {x} END)"
        if v.add and not v.row_number:
            x = f"(TRY_CAST({x} AS DOUBLE) + {v.add})"
        kind = "a 64-bit integer (ids are int64)" if sql_type == "BIGINT" else "a 32-bit integer"
        rule = rule or f"must be {kind}"
    else:
        rule = rule or f"must be a {sql_type.lower()}"
    return raw, f"TRY_CAST({x} AS {sql_type})", rule


def _where_sql(where: dict[str, list[Scalar]]) -> str:
    if not where:
        return ""
    parts = [f"CAST({quote(c)} AS VARCHAR) IN ({', '.join(sql_str(str(v)) for v in vals)})"
             for c, vals in where.items()]
    return "WHERE " + " AND ".join(parts)


def _missing_columns(
    table: str, t: TableMapping, columns: list[str], files: list[Path], src: Source
) -> list[str]:
    """A problem per source column the mapping names and the files lack."""
    named = [(f"{table}.{target}", v.column) for target in t.columns
             if (v := t.value(target)).column is not None]
    named += [(f"{table}.where", c) for c in t.where]
    absent = [(target, c) for target, c in named if c not in columns]
    if not absent:
        return []
    where = files[0] if len(files) == 1 else files[0].parent
    if len(columns) == 1:  # a whole header in one column: another delimiter, one message
        for d in (";", "\t", "|", ",", " "):
            if d != src.delimiter and d in columns[0]:
                return [f"{where}: the file looks delimited by {d!r}, not {src.delimiter!r}: its "
                        f"one column is {columns[0][:60]!r}, so the mapped columns "
                        f"{sorted({c for _, c in absent})} are missing; set the source's "
                        "delimiter."]
    by_column: dict[str, list[str]] = {}
    for target, c in absent:
        by_column.setdefault(c, []).append(target)
    return [f"{where}: column {c!r} (mapped to {', '.join(targets)}) is missing, must be one of "
            f"the file's columns {columns[:20]}." for c, targets in by_column.items()]


def _stage_table(
    con: duckdb.DuckDBPyConnection, table: str, label: str, t: TableMapping, alias: str,
    cfg: ImportConfig, src_alias: str, source_files: list[Path], problems: list[str],
) -> int:
    """Build temp table ``alias`` of ``table`` from its source; rows, problems appended."""
    contract = TABLES[table].columns
    parts = [f"{_FILE}", f"{_ROW}"]
    checks: list[tuple[str, str, str]] = []  # (contract column, what the value is, rule)
    for i, col in enumerate(contract):
        v = t.value(col.name)
        raw, cast, rule = _value_sql(v, col, cfg)
        parts.append(f"{cast} AS {quote(col.name)}")
        if raw is None and v.const is not None:
            ok = con.execute(f"SELECT {cast} IS NOT NULL").fetchall()[0][0]
            if not ok:
                problems.append(f"{cfg.base_dir or '.'}: tables.{label}.columns.{col.name}: "
                                f"const == {v.const!r}, {rule}.")
        elif raw is not None:
            parts.append(f"CAST({raw} AS VARCHAR) AS __raw_{i}")
            what = "row_number" if v.row_number else f"column {v.column!r}"
            checks.append((col.name, what, rule))
    key = ", ".join(quote(k) for k in TABLES[table].key)
    first = (f" QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {_ROW}) = 1"
             if t.keep == "first" else "")
    con.execute(
        f"CREATE TEMP TABLE {alias} AS SELECT {', '.join(parts)} FROM "
        f"(SELECT *, rowid + 1 AS {_ROW} FROM {src_alias}) {_where_sql(t.where)}{first}"
    )
    rows = int(con.execute(f"SELECT count(*) FROM {alias}").fetchall()[0][0])
    if rows == 0:
        cond = f" where {dict(t.where)}" if t.where else ""
        listed = ", ".join(str(f) for f in source_files[:3])
        problems.append(f"tables.{label}: source {t.source!r} ({listed}) has no rows{cond}; an "
                        "imported table must have at least one row (leave the table out "
                        "instead).")
        return 0
    names = {c.name: i for i, c in enumerate(contract)}
    found: dict[tuple[str, str, int, str, str, int], list[str]] = {}
    for name, what, rule in checks:
        i = names[name]
        bad = con.execute(
            f"SELECT count(*), arg_min(__raw_{i}, {_ROW}), arg_min({_FILE}, {_ROW}), "
            f"min({_ROW}) FROM {alias} WHERE __raw_{i} IS NOT NULL AND {quote(name)} IS NULL"
        ).fetchall()[0]
        if bad[0]:
            first_row = con.execute(
                f"SELECT min({_ROW}) FROM (SELECT rowid + 1 AS {_ROW}, {_FILE} FROM {src_alias}) "
                f"WHERE {_FILE} = ?", [bad[2]]
            ).fetchall()[0][0]
            problem = (bad[2], what, bad[3] - first_row + 1, bad[1], rule, bad[0])
            found.setdefault(problem, []).append(f"{label}.{name}")
    # one message per source value and rule, naming every column it was mapped to
    for (file, what, row, value, rule, n), targets in found.items():
        problems.append(f"{file}: {what} (mapped to {', '.join(targets)}) row {row}: value "
                        f"{value!r} {rule} ({n:,} such rows).")
    return rows


# ---------------------------------------------------------------------------------------- write


def _write_table(con: duckdb.DuckDBPyConnection, table: str, alias: str, folder: Path) -> int:
    """Write staged ``alias`` as the contract's files of ``table`` into ``folder``; files."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = TABLES[table]
    cols = ", ".join(quote(c) for c in spec.column_names)
    order = ", ".join(quote(c) for c in (spec.ts_column, *spec.key) if c)
    opts = "(FORMAT parquet, COMPRESSION zstd)"
    if not spec.daily:
        con.execute(f"COPY (SELECT {cols} FROM {alias} ORDER BY {order}) TO "
                    f"{sql_str(str(folder / 'imported.parquet'))} {opts}")
        return 1
    # one pass: DuckDB writes a folder per UTC day (``__day=1997-01-01/``), renamed to the
    # contract's day files; a loop of one COPY per day scanned the table once per day (546 days
    # of CDNOW: 4.1 s against 0.5 s)
    parts = folder / ".days"
    con.execute(
        f"COPY (SELECT {cols}, CAST(ts AS DATE) AS __day FROM {alias} WHERE ts IS NOT NULL "
        f"ORDER BY {order}) TO {sql_str(str(parts))} (FORMAT parquet, COMPRESSION zstd, "
        "PARTITION_BY (__day))"
    )
    written = 0
    for day_dir in sorted(parts.glob("__day=*")):
        day = day_dir.name.removeprefix("__day=")
        chunks = sorted(day_dir.glob("*.parquet"))
        target = folder / f"{date.fromisoformat(day)}.parquet"
        if len(chunks) == 1:
            os.replace(chunks[0], target)
        else:  # DuckDB may split a large day over several files: one file per day here
            con.execute(f"COPY (SELECT * FROM read_parquet({sql_list(str(c) for c in chunks)}) "
                        f"ORDER BY {order}) TO {sql_str(str(target))} {opts}")
        written += 1
    shutil.rmtree(parts, ignore_errors=True)
    nulls = con.execute(f"SELECT count(*) FROM {alias} WHERE ts IS NULL").fetchall()[0][0]
    if nulls:  # validation quarantines them as ``null ts``: counted, not dropped here
        con.execute(f"COPY (SELECT {cols} FROM {alias} WHERE ts IS NULL) TO "
                    f"{sql_str(str(folder / 'undated.parquet'))} {opts}")
    return written + (1 if nulls else 0)


def _occupied(tables: list[str]) -> list[str]:
    return [f"events/{t}/ has {len(parquet_files(events_dir(t)))} Parquet files"
            for t in tables if parquet_files(events_dir(t))]


def _commit(staging: Path, tables: list[str]) -> None:
    """Move the staged files in: each table's old files and quarantine go, the new ones come."""
    for table in tables:
        target = events_dir(table)
        target.mkdir(parents=True, exist_ok=True)
        for old in parquet_files(target):
            old.unlink()
        shutil.rmtree(quarantine_dir(table), ignore_errors=True)
        for f in sorted((staging / table).iterdir()):
            os.replace(f, target / f.name)


def _with_sources(
    cfg: ImportConfig, paths: Mapping[str, str | os.PathLike[str]]
) -> ImportConfig:
    unknown = sorted(set(paths) - set(cfg.sources))
    if unknown:
        raise ConfigError(
            f"sources == {unknown}, must be among the mapping's {sorted(cfg.sources)}."
        )
    new = {k: v.model_copy(update={"path": os.fspath(paths[k])}) if k in paths else v
           for k, v in cfg.sources.items()}
    return cfg.model_copy(update={"sources": new})


@writes_data_root("events import")
def import_events(
    config: ImportConfig | str | os.PathLike[str],
    *,
    replace: bool = False,
    sources: Mapping[str, str | os.PathLike[str]] | None = None,
) -> ImportReport:
    r"""Import a log's own files as event tables under ``$SHOPLAB_DATA/events`` and validate.

    Args:
        config: the mapping (an :class:`~shoplab.events.mapping.ImportConfig`, or the path of
            its YAML file; relative source paths are under the file's folder).
        replace: replace the files of the imported tables when ``events/<table>/`` has some
            (and their quarantine); without it such a table is an error.
        sources: source name → path, instead of the mapping's (a shared mapping file, the
            data wherever it was downloaded).

    Returns:
        Per imported table: source files, rows in, files written and its validation
        (``rows_in == accepted + quarantined``); the whole log's validation report.

    Raises:
        ConfigError: the mapping file breaks the model.
        EventImportError: every problem with the sources (a mapped column missing, a value
            that cannot be cast, a CSV with another delimiter, a table with no rows), each
            naming file, column, value and rule; nothing is written.

    Example:
        >>> import os, tempfile
        >>> from pathlib import Path
        >>> os.environ["SHOPLAB_DATA"] = tempfile.mkdtemp()
        >>> src = Path(tempfile.mkdtemp()) / "assignments.csv"
        >>> _ = src.write_text("user,arm,at\n1,a,2026-01-01 10:00\n2,b,2026-01-01 11:00\n")
        >>> cfg = ImportConfig.model_validate({
        ...     "sources": {"log": {"path": str(src)}},
        ...     "tables": {"exposures": {"source": "log", "columns": {
        ...         "experiment": {"const": "checkout"}, "variant": "arm", "unit_id": "user",
        ...         "ts": "at"}}}})
        >>> report = import_events(cfg)
        >>> t = report["exposures"]
        >>> t.rows_in, t.load.accepted, t.load.quarantined
        (2, 2, 0)
    """
    t0 = time.perf_counter()
    cfg = config if isinstance(config, ImportConfig) else load_import_config(Path(config))
    if sources:
        cfg = _with_sources(cfg, sources)
    tables = [t for t in TABLES if t in cfg.tables]  # contract order
    problems: list[str] = [] if replace else [
        f"{o}; pass replace=True (--replace) to replace them, or import into another "
        "$SHOPLAB_DATA." for o in _occupied(tables)
    ]
    con = connect(ordered=True)
    staging = data_root() / "tmp" / f"import-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        con.execute(f"SET TimeZone = {sql_str(cfg.timestamps.zone)}")  # naive values' zone
        files: dict[str, list[Path]] = {}
        columns: dict[str, list[str] | None] = {}
        used = sorted({part.source for t in tables for part in cfg.parts(t)})
        aliases = {name: f"src_{i}" for i, name in enumerate(used)}
        for name in used:
            src = cfg.sources[name]
            files[name] = _source_files(cfg, name, src, problems)
            columns[name] = (_read_source(con, aliases[name], name, src, files[name], problems)
                             if files[name] else None)
        rows: dict[str, int] = {}
        for table in tables:
            staged = []
            for k, part in enumerate(cfg.parts(table)):
                cols = columns[part.source]
                if cols is None:
                    continue
                label = table if len(cfg.parts(table)) == 1 else f"{table}[{k}]"
                missing = _missing_columns(label, part, cols, files[part.source],
                                           cfg.sources[part.source])
                if missing:
                    problems.extend(missing)
                    continue
                n = _stage_table(con, table, label, part, f"t_{table}_{k}", cfg,
                                 aliases[part.source], files[part.source], problems)
                staged.append((f"t_{table}_{k}", n))
            if staged:
                # by name: a part's constant column has no raw column beside it (NULL there)
                union = " UNION ALL BY NAME ".join(f"SELECT * FROM {a}" for a, _ in staged)
                con.execute(f"CREATE TEMP TABLE t_{table} AS {union}")
                rows[table] = sum(n for _, n in staged)
        if problems:
            raise EventImportError(problems)
        con.execute("SET TimeZone = 'UTC'")  # days of the partitions are UTC days
        written = {t: _write_table(con, t, f"t_{t}", staging / t) for t in tables}
        _commit(staging, tables)
    finally:
        con.close()
        shutil.rmtree(staging, ignore_errors=True)
    if cfg.vocabularies is not None:  # kept before validation: every later run reads them too
        where = f"import mapping {config}" if not isinstance(config, ImportConfig) else (
            "import mapping")
        keep_import_vocabularies(cfg.vocabularies.model_copy(update={"source": where}))
    validation = load_events()
    out = tuple(
        TableImport(table=t, source_files=tuple(dict.fromkeys(
                        f for part in cfg.parts(t) for f in files[part.source])),
                    rows_in=rows[t],
                    files_written=written[t], load=validation[t])
        for t in tables
    )
    return ImportReport(tables=out, validation=validation, seconds=time.perf_counter() - t0)

