"""Feature pipelines: DuckDB SQL from the event log to one Parquet feature table per view.

Each view is computed one day at a time into ``$SHOPLAB_DATA/features/<view>/YYYY-MM-DD.parquet``
(written to a temp file, then renamed), so recomputing a day replaces exactly that partition and a
crash never leaves half a file. Rows are stamped with the end of their window and read only events
strictly before it. Listed in ``.feastignore``: ``feast apply`` must not import this package.

Money (GMV, prices) is summed as ``DECIMAL(18, 2)``: exact, so a rebuilt partition is
bit-identical to the first build. DuckDB's parallel DOUBLE sums depend on thread interleaving and
differed in the last bit between two builds (``gmv_7d`` 154.87 vs 154.86999999999998). Amounts
are whole cents in the event-log contract; a fraction of a cent would be rounded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Final, NamedTuple

from shoplab.core.paths import feature_tables_dir
from shoplab.features._duckdb import new_connection

from ._events import day_files
from .item_stats import item_stats_sql, shop_stats_sql
from .user_long_term import user_category_sql, user_long_term_sql
from .user_short_term import user_short_term_sql

__all__ = ["VIEWS", "BuildReport", "build", "event_days"]

VIEWS: Final[dict[str, Callable[[date, datetime], str]]] = {
    "user_long_term": user_long_term_sql,
    "user_short_term": user_short_term_sql,
    "item_stats": item_stats_sql,
    "shop_stats": shop_stats_sql,
    "user_category": user_category_sql,
}


class BuildReport(NamedTuple):
    """What a build wrote: days, and rows per view (summed over the days)."""

    days: tuple[date, ...]
    rows: dict[str, int]


def event_days() -> list[date]:
    """Days that have an impressions file in the event log."""
    return sorted(day_files("impressions"))


def build(
    start: date | None = None,
    end: date | None = None,
    views: list[str] | None = None,
    on_step: Callable[[str, date], None] | None = None,
) -> BuildReport:
    """Compute the feature tables of ``views`` for days ``start..end`` (inclusive).

    Args:
        start: first day (default: the first day of the event log).
        end: last day (default: the last day of the event log).
        views: subset of :data:`VIEWS` (default: all).
        on_step: called after each (view, day) partition is written (progress bars).

    Returns:
        The days built and the rows written per view.
    """
    days_available = event_days()
    if not days_available and (start is None or end is None):
        raise FileNotFoundError(
            "no impressions in the event log (events/impressions/*.parquet): "
            "run `shoplab simulate` or write the event tables first."
        )
    first = start or days_available[0]
    last = end or days_available[-1]
    if last < first:
        raise ValueError(f"end == {last}, must be >= start == {first}.")
    names = list(VIEWS) if views is None else views
    unknown = [v for v in names if v not in VIEWS]
    if unknown:
        raise ValueError(f"views == {unknown}, must be among {sorted(VIEWS)}.")
    created = datetime.now(UTC).replace(microsecond=0)
    days = tuple(first + timedelta(days=i) for i in range((last - first).days + 1))
    rows = dict.fromkeys(names, 0)
    con = new_connection()
    try:
        for view in names:
            folder = feature_tables_dir(view)
            folder.mkdir(parents=True, exist_ok=True)
            for day in days:
                final = folder / f"{day.isoformat()}.parquet"
                tmp = folder / f".{day.isoformat()}.parquet.tmp"
                sql = VIEWS[view](day, created)
                path = str(tmp).replace("'", "''")
                # COPY answers with the number of rows it wrote
                written = con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet)").fetchall()
                os.replace(tmp, final)
                rows[view] += int(written[0][0])
                if on_step is not None:
                    on_step(view, day)
    finally:
        con.close()
    return BuildReport(days=days, rows=rows)
