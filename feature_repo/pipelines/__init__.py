"""Feature pipelines: DuckDB SQL from the event log to one Parquet feature table per view.

Each view is computed one day at a time into ``$SHOPLAB_DATA/features/<view>/YYYY-MM-DD.parquet``
(written to a temp file, then renamed), so recomputing a day replaces exactly that partition and a
crash never leaves half a file. A build replaces, never mixes: partitions of days outside the
event log's range (left by a longer world that was re-simulated shorter) are removed, and
``features/manifest.json`` records each view's content version (:mod:`.manifest`), which
materialization compares to decide a full reload. Rows are stamped with the end of their window
and read only events strictly before it. Listed in ``.feastignore``: ``feast apply`` must not
import this package.

Money (GMV, prices) is summed as ``DECIMAL(18, 2)``: exact, so a rebuilt partition is
bit-identical to the first build. DuckDB's parallel DOUBLE sums depend on thread interleaving and
differed in the last bit between two builds (``gmv_7d`` 154.87 vs 154.86999999999998). Amounts
are whole cents in the event-log contract; a fraction of a cent would be rounded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Final, NamedTuple

from shoplab.core.atomic import atomic_path, remove_orphans
from shoplab.core.duck import connect, sql_str
from shoplab.core.errors import InputError, StateError
from shoplab.core.files import day_files
from shoplab.core.paths import events_dir, feature_tables_dir
from shoplab.events.files import discover

from .item_stats import item_stats_sql, shop_stats_sql
from .manifest import write_manifest
from .user_long_term import user_category_sql, user_long_term_sql
from .user_short_term import user_short_term_sql

__all__ = ["VIEWS", "BuildReport", "NoEventsError", "build", "event_days"]

VIEWS: Final[dict[str, Callable[[date, datetime], str]]] = {
    "user_long_term": user_long_term_sql,
    "user_short_term": user_short_term_sql,
    "item_stats": item_stats_sql,
    "shop_stats": shop_stats_sql,
    "user_category": user_category_sql,
}


INPUT_TABLES: Final = ("items", "shops", "impressions", "clicks", "orders")
"""The event tables the pipelines read (``relations.dim`` / ``relations.window``)."""


class NoEventsError(StateError, FileNotFoundError):
    """The event log has no impressions yet: nothing to build features from.

    Also a ``FileNotFoundError``, what ``build`` raised before the error tree existed.
    """


class BuildReport(NamedTuple):
    """What a build wrote: days, and rows per view (summed over the days)."""

    days: tuple[date, ...]
    rows: dict[str, int]
    removed: tuple[str, ...] = ()


def event_days() -> list[date]:
    """Days that have an impressions file in the event log."""
    return sorted(day_files(events_dir("impressions")))


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

    Partitions of days outside the event log's range are removed from every built view: a log
    re-simulated over 5 of the old 10 days must not leave days 6-10 of the old world behind.

    Returns:
        The days built and the rows written per view (``removed``: the stale partitions).

    Raises:
        NoEventsError: no impressions file, and ``start`` or ``end`` left to default.
        InputError: ``end`` before ``start``, or an unknown view.
        EventLogError: an event file the pipelines read is not Parquet, or lacks a contract
            column (checked on every file's footer before anything is written).
    """
    check_inputs()
    days_available = event_days()
    if not days_available and (start is None or end is None):
        raise NoEventsError(
            "no impressions in the event log (events/impressions/*.parquet): "
            "run `shoplab simulate` or write the event tables first."
        )
    first = start or days_available[0]
    last = end or days_available[-1]
    if last < first:
        raise InputError(f"end == {last}, must be >= start == {first}.")
    names = list(VIEWS) if views is None else views
    unknown = [v for v in names if v not in VIEWS]
    if unknown:
        raise InputError(f"views == {unknown}, must be among {sorted(VIEWS)}.")
    created = datetime.now(UTC).replace(microsecond=0)
    days = tuple(first + timedelta(days=i) for i in range((last - first).days + 1))
    rows = dict.fromkeys(names, 0)
    con = connect()
    try:
        for view in names:
            folder = feature_tables_dir(view)
            remove_orphans(folder)  # temp files of a build that was killed mid-write
            for day in days:
                sql = VIEWS[view](day, created)
                with atomic_path(folder / f"{day.isoformat()}.parquet") as tmp:
                    # COPY answers with the number of rows it wrote
                    written = con.execute(
                        f"COPY ({sql}) TO {sql_str(str(tmp))} (FORMAT parquet)"
                    ).fetchall()
                rows[view] += int(written[0][0])
                if on_step is not None:
                    on_step(view, day)
    finally:
        con.close()
    removed = _prune(names, days_available, set(days))
    write_manifest(names, days, rows, created)
    return BuildReport(days=days, rows=rows, removed=tuple(removed))


def check_inputs() -> None:
    """Check every file of the tables the pipelines read, from its Parquet footer (ms per file).

    Before anything is written: a truncated file or a missing column used to surface as DuckDB's
    traceback after some views' partitions were already replaced; now it is one message naming
    the file and the column, and the feature tables stay as they were.
    """
    for table in INPUT_TABLES:
        discover(table)


def _prune(views: list[str], log_days: list[date], built: set[date]) -> list[str]:
    """Remove partitions of ``views`` outside ``log_days[0]..log_days[-1]``; return them.

    Days this build wrote stay (``--start``/``--end`` may ask for days beyond the log); an
    empty log gives no range to judge by: nothing is removed.
    """
    if not log_days:
        return []
    removed = []
    for view in views:
        for day, path in day_files(feature_tables_dir(view)).items():
            if (day < log_days[0] or day > log_days[-1]) and day not in built:
                path.unlink(missing_ok=True)
                removed.append(f"{view}/{path.name}")
    return removed
