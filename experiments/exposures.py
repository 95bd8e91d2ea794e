"""The exposure log: append-only Parquet under ``$SHOPLAB_DATA/events/exposures/``.

Each append writes one new, uniquely named file (``exp-<utc time>-<pid>-<uuid4>.parquet``) to a
temporary name in the same folder and renames it into place. A rename within one file system is
atomic, so readers never see half a file and any number of processes can append at once without a
lock: nothing is overwritten, nothing lost. Many small files are the price; DuckDB reads the folder
with one glob, and a compaction job can merge files later without changing what readers see.

Analysis uses :func:`first_exposures`: one row per (experiment, unit) with its first exposure.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from shoplab.core.atomic import atomic_path
from shoplab.core.contract import TABLES, arrow_schema, polars_schema
from shoplab.core.errors import InputError
from shoplab.core.exposures import first_exposures_sql
from shoplab.core.paths import exposures_dir

__all__ = ["first_exposures", "log_exposures", "read_exposures"]

_COLUMNS = TABLES["exposures"].column_names


def _checked(df: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"exposures columns == {df.columns}, must include {missing}.")
    out = df.select(_COLUMNS)
    try:
        out = out.cast(polars_schema("exposures"))
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            f"exposures schema == {dict(df.select(_COLUMNS).schema)}, must cast to "
            f"{dict(polars_schema('exposures'))}: {exc}"
        ) from exc
    nulls = {c: n for c, n in zip(_COLUMNS, out.null_count().row(0), strict=True) if n}
    if nulls:
        raise InputError(f"exposures null counts == {nulls}, must be 0 (no column is nullable).")
    return out


def log_exposures(df: pl.DataFrame, root: Path | None = None) -> Path | None:
    """Append exposures (experiment, variant, unit_id, ts) as one new Parquet file.

    Rows are written as given (a unit is exposed many times; readers take the first). Returns the
    file written, or None for an empty frame.

    Raises:
        InputError: a column is missing, has the wrong type or holds nulls (nothing is written).
    """
    out = _checked(df)
    if out.height == 0:
        return None
    folder = root or exposures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"exp-{stamp}-{os.getpid()}-{uuid.uuid4().hex}.parquet"
    with atomic_path(folder / name) as tmp:
        pq.write_table(out.to_arrow().cast(arrow_schema("exposures")), tmp)
    return folder / name


def _glob(root: Path | None) -> str | None:
    folder = root or exposures_dir()
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        return None
    return str(folder / "*.parquet")


def read_exposures(root: Path | None = None) -> pl.DataFrame:
    """Every exposure row logged so far (all files of the folder)."""
    pattern = _glob(root)
    if pattern is None:
        return pl.DataFrame(schema=polars_schema("exposures"))
    return pl.read_parquet(pattern).select(_COLUMNS)


def first_exposures(experiment: str | None = None, root: Path | None = None) -> pl.DataFrame:
    """One row per (experiment, unit): the variant and ts of its first exposure (DuckDB).

    ``n_variants`` counts the distinct variants the unit was logged with: more than 1 means the
    unit switched arms (a config edit or a client bug) and analysis should exclude or flag it.
    Ties on the first ts are broken by variant name so the answer is deterministic.
    """
    import duckdb

    schema = pl.Schema({**polars_schema("exposures"), "n_variants": pl.Int64()})
    pattern = _glob(root)
    if pattern is None:
        return pl.DataFrame(schema=schema)
    where = "experiment = $experiment" if experiment is not None else ""
    first = first_exposures_sql("read_parquet($pattern)", where)  # the rule analysis uses too
    sql = f"""
        SELECT experiment, variant, unit_id, first_ts AS ts, n_variants
        FROM ({first})
        ORDER BY experiment, unit_id
    """
    params: dict[str, object] = {"pattern": pattern}
    if experiment is not None:
        params["experiment"] = experiment
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        out: pl.DataFrame = con.sql(sql, params=params).pl()
    return out.cast(schema)
