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
from typing import Any, Final, NamedTuple

from shoplab.core.atomic import atomic_path, remove_orphans
from shoplab.core.errors import InputError, StateError
from shoplab.core.files import day_files
from shoplab.core.paths import events_dir, feature_tables_dir
from shoplab.events.files import discover

from .engine import DuckEngine, PipelineEngine
from .item_stats import item_stats_sql, shop_stats_sql
from .manifest import event_log_input, read_manifest, write_manifest
from .relations import reading_with
from .user_long_term import user_category_sql, user_long_term_sql
from .user_rfm import user_rfm_sql
from .user_short_term import user_short_term_sql

__all__ = ["VIEWS", "BuildReport", "NoEventsError", "build", "event_days"]

VIEWS: Final[dict[str, Callable[[date, datetime], str]]] = {
    "user_long_term": user_long_term_sql,
    "user_short_term": user_short_term_sql,
    "item_stats": item_stats_sql,
    "shop_stats": shop_stats_sql,
    "user_category": user_category_sql,
    "user_rfm": user_rfm_sql,  # valid on any log with orders, orders-only ones included
}


INPUT_TABLES: Final = ("items", "shops", "impressions", "clicks", "orders")
"""The event tables the pipelines read (``relations.dim`` / ``relations.window``)."""


class NoEventsError(StateError, FileNotFoundError):
    """The event log has no impressions yet: nothing to build features from.

    Also a ``FileNotFoundError``, what ``build`` raised before the error tree existed.
    """


class BuildReport(NamedTuple):
    """What a build wrote: days, and rows per view (summed over the days).

    ``event_log`` is the version of the event log it read (``manifest.event_log_input``);
    ``notes`` says what the build decided on its own (a full rebuild because the log changed, an
    unvalidated log).
    """

    days: tuple[date, ...]
    rows: dict[str, int]
    removed: tuple[str, ...] = ()
    event_log: dict[str, Any] = {}
    notes: tuple[str, ...] = ()


def event_days() -> list[date]:
    """Days that have an impressions file in the event log (orders-only log: an orders file)."""
    days = day_files(events_dir("impressions")) or day_files(events_dir("orders"))
    return sorted(days)


def build(
    start: date | None = None,
    end: date | None = None,
    views: list[str] | None = None,
    on_step: Callable[[str, date], None] | None = None,
    engine: PipelineEngine | None = None,
) -> BuildReport:
    """Compute the feature tables of ``views`` for days ``start..end`` (inclusive).

    Args:
        start: first day (default: the first day of the event log).
        end: last day (default: the last day of the event log).
        views: subset of :data:`VIEWS` (default: all).
        on_step: called after each (view, day) partition is written (progress bars).
        engine: where the SQL runs (default :class:`~.engine.DuckEngine`; Spark:
            :class:`shoplab.features.spark_pipelines.SparkEngine`), same tables either way.

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
            "no impressions or orders in the event log (events/impressions/*.parquet, "
            "events/orders/*.parquet): "
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
    log = event_log_input(INPUT_TABLES)
    notes = _input_notes(log)
    stale = _built_from_other_log(names, log["version"])
    if stale and days_available and (first > days_available[0] or last < days_available[-1]):
        notes.append(
            f"event log changed since the last build of {', '.join(stale)} "
            f"(now {log['version']}): rebuilding every day {days_available[0]}.."
            f"{days_available[-1]}, not only {first}..{last}, so no day of the old log remains."
        )
        first, last = min(first, days_available[0]), max(last, days_available[-1])
    created = datetime.now(UTC).replace(microsecond=0)
    days = tuple(first + timedelta(days=i) for i in range((last - first).days + 1))
    rows = dict.fromkeys(names, 0)
    eng = engine or DuckEngine()
    eng.open()
    try:
        with reading_with(eng.reader):
            for view in names:
                folder = feature_tables_dir(view)
                remove_orphans(folder)  # temp files of a build that was killed mid-write
                for day in days:
                    sql = VIEWS[view](day, created)
                    with atomic_path(folder / f"{day.isoformat()}.parquet") as tmp:
                        rows[view] += eng.write(sql, tmp)
                    if on_step is not None:
                        on_step(view, day)
    finally:
        eng.close()
    if engine is not None and engine.name != DuckEngine.name:
        notes.append(f"built on {engine.name}")
    removed = _prune(names, days_available, set(days))
    write_manifest(names, days, rows, created, log)
    return BuildReport(
        days=days, rows=rows, removed=tuple(removed), event_log=log, notes=tuple(notes)
    )


def _input_notes(log: dict[str, Any]) -> list[str]:
    """A loud note when the build reads a log that validation did not pass as it is."""
    if log["status"] == "validated":
        return []
    why = (
        "was never validated" if log["status"] == "unvalidated"
        else f"changed since validation ({'; '.join(log['problems'][:3])})"
    )
    return [
        f"event log {why}: features are built from unchecked rows (input {log['version']}); "
        "run `shoplab events validate` first."
    ]


def _built_from_other_log(views: list[str], version: str) -> list[str]:
    """Views whose last build read another event log version than ``version``."""
    built = read_manifest().get("views", {})
    return [v for v in views if v in built and built[v].get("event_log", version) != version]


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
