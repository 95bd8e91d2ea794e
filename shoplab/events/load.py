"""``load_events``: validate the event log in place and quarantine what breaks the contract.

Per table, in dependency order: check every file's schema from its footer (a bad file is an
error, not a quarantine: nothing in it can be trusted), then one DuckDB query gives the reason of
every bad row (``rules``), a second one finds duplicate keys among the remaining rows. Bad rows are
appended to ``quarantine/<table>/batch-NNNN.parquet`` with ``reason`` and ``source_file`` and the
files they came from are rewritten without them, so every reader of ``events/`` (feature
pipelines, analysis SQL) sees accepted rows only. Files without a bad row are not touched, and a
second run finds nothing: validation is idempotent.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shoplab.core.atomic import atomic_path, remove_orphans
from shoplab.core.contract import TABLES, arrow_schema
from shoplab.core.duck import connect, sql_list, sql_str
from shoplab.core.lock import writes_data_root
from shoplab.core.paths import events_dir, quarantine_dir
from shoplab.events.errors import EventLogError
from shoplab.events.files import EventFile, discover, discover_all, log_end_us
from shoplab.events.manifest import record_validation
from shoplab.events.report import LoadReport, TableLoad
from shoplab.events.rules import QUARANTINED, REFERENCES, duplicate_reason, rules_for
from shoplab.events.vocabularies import Vocabularies, active_vocabularies

__all__ = ["load_events"]

ORDER = ("users", "shops", "items", "requests", "impressions", "clicks", "orders", "exposures",
         "propensities", "teams", "triggers")
"""Validation order: a table is checked after every table it refers to."""


def _parquet_list(files: Sequence[EventFile]) -> str:
    return sql_list(str(f.path) for f in files)


def _connect() -> duckdb.DuckDBPyConnection:
    """The one DuckDB connection (UTC, memory cap, spilling under the data root), unordered.

    Unordered: the rules only group and join, and the bad rows are sorted explicitly.
    """
    con = connect(ordered=False)
    # Parquet min/max statistics leave NaN out, and DuckDB folds `isnan(price)` or
    # `NOT (rating BETWEEN 0 AND 5)` to false from them: a NaN row would pass. Rules must see
    # the values, not the footer.
    con.execute("SET disabled_optimizers = 'statistics_propagation'")
    return con


def _bad_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    files: list[EventFile],
    refs: dict[str, list[EventFile]],
    log_end: int | None,
    vocabularies: Vocabularies | None = None,
) -> pa.Table:
    """``source_file, rn, reason`` of every row of ``table`` that breaks a rule."""
    cols = ", ".join(TABLES[table].column_names)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW src AS SELECT {cols}, filename AS source_file, "
        f"file_row_number AS rn FROM read_parquet({_parquet_list(files)}, filename = true, "
        f"file_row_number = true, union_by_name = true)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE f_days (source_file VARCHAR, day_lo BIGINT, day_hi BIGINT)"
    )
    dated = [(str(f.path), *f.day_bounds_us) for f in files if f.day_bounds_us]
    if dated:
        con.executemany("INSERT INTO f_days VALUES (?, ?, ?)", dated)

    available = {a for a, (t, _, _) in REFERENCES.items() if refs.get(t)}
    batches = {t: sorted(quarantine_dir(t).glob("batch-*.parquet")) for t, _, _ in
               REFERENCES.values()}
    available |= {q for q, a in QUARANTINED.items()
                  if a in available and batches[REFERENCES[a][0]]}
    if log_end is not None:
        available.add("log_end")
    rules = [r for r in rules_for(table, vocabularies)
             if r.needs is None or r.needs in available]
    used = sorted({r.needs for r in rules if r.needs in REFERENCES})
    used_q = sorted({r.needs for r in rules if r.needs in QUARANTINED})

    ctes, joins = [], ["LEFT JOIN f_days f ON f.source_file = s.source_file"]
    for alias in used:
        ref_table, sql, keys = REFERENCES[alias]
        ref = f"read_parquet({_parquet_list(refs[ref_table])}, union_by_name = true)"
        ctes.append(f"{alias} AS ({sql.format(ref=ref, src='src')})")
        on = " AND ".join(f"{alias}.{k} = s.{k}" for k in keys)
        joins.append(f"LEFT JOIN {alias} ON {on}")
    for q in used_q:
        # one reason per quarantined key; a duplicate's reason only when nothing else is known
        ref_table, _, keys = REFERENCES[QUARANTINED[q]]
        key_list = ", ".join(keys)
        ref = f"read_parquet({sql_list(str(p) for p in batches[ref_table])}, union_by_name = true)"
        ctes.append(
            f"{q} AS (SELECT {key_list}, coalesce(min(reason) FILTER "
            f"(WHERE reason NOT LIKE 'duplicate %'), min(reason)) AS reason FROM {ref} "
            f"SEMI JOIN (SELECT DISTINCT {key_list} FROM src) k USING ({key_list}) "
            f"GROUP BY {key_list})"
        )
        on = " AND ".join(f"{q}.{k} = s.{k}" for k in keys)
        joins.append(f"LEFT JOIN {q} ON {on}")
    cases = " ".join(
        f"WHEN {r.condition.format(log_end=log_end)} THEN {r.reason_sql or sql_str(r.reason)}"
        for r in rules
    )
    with_clause = f"WITH {', '.join(ctes)} " if ctes else ""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE bad AS SELECT * FROM ({with_clause}"
        f"SELECT s.source_file, s.rn, CASE {cases} END AS reason FROM src s {' '.join(joins)}) "
        f"WHERE reason IS NOT NULL"
    )

    dup = duplicate_reason(table)
    if dup:
        key_list = ", ".join(TABLES[table].key)
        # Group all rows by key (cheap: one hash aggregate) and rank only the few duplicate keys.
        con.execute(
            f"INSERT INTO bad SELECT source_file, rn, {sql_str(dup)} FROM ("
            f"SELECT s.source_file, s.rn, row_number() OVER (PARTITION BY {key_list} "
            f"ORDER BY s.source_file, s.rn) AS nth FROM src s "
            f"SEMI JOIN (SELECT {key_list} FROM src GROUP BY {key_list} HAVING count(*) > 1) d "
            f"USING ({key_list}) ANTI JOIN bad b USING (source_file, rn)) WHERE nth > 1"
        )
    bad = con.sql("SELECT source_file, rn, reason FROM bad ORDER BY source_file, rn")
    return bad.to_arrow_table()


def _quarantine(table: str, bad: pa.Table) -> tuple[str, ...]:
    """Move the bad rows out of their files into one quarantine batch; return rewritten files."""
    contract = arrow_schema(table)
    out_schema = contract.append(pa.field("reason", pa.large_string())).append(
        pa.field("source_file", pa.large_string())
    )
    parts, rewritten = [], []
    # `bad` is sorted by source file: find each file's run of rows from the dictionary codes.
    source = bad.column("source_file").combine_chunks().dictionary_encode()
    codes = source.indices.to_numpy(zero_copy_only=False)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(codes)) + 1, [len(codes)]])
    rn = bad.column("rn").to_numpy()
    reason = bad.column("reason")
    root = events_dir()
    # Every rewritten file is renamed into place when the stack closes, after the quarantine
    # batch is written; an error before that removes every temp file and changes nothing.
    with contextlib.ExitStack() as renames:
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):  # one iteration per file
            path = Path(source.dictionary[codes[lo]].as_py())
            data = pq.read_table(path)
            rows = rn[lo:hi]
            taken = data.take(pa.array(rows))
            rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
            cols = [taken.column(f.name).cast(f.type) for f in contract]
            cols += [reason.slice(lo, hi - lo).cast(pa.large_string()),
                     pa.repeat(pa.scalar(rel, type=pa.large_string()), hi - lo)]
            parts.append(pa.Table.from_arrays(cols, schema=out_schema))
            keep = np.ones(data.num_rows, dtype=bool)
            keep[rows] = False
            tmp = renames.enter_context(atomic_path(path))
            pq.write_table(data.filter(pa.array(keep)), tmp, compression="zstd")
            rewritten.append(rel)

        folder = quarantine_dir(table)
        folder.mkdir(parents=True, exist_ok=True)
        batch = 1 + sum(1 for _ in folder.glob("batch-*.parquet"))
        # Quarantine first, then replace the sources: a crash in between leaves a row in both
        # places (re-run quarantines nothing new), never in neither.
        with atomic_path(folder / f"batch-{batch:04d}.parquet") as tmp:
            pq.write_table(pa.concat_tables(parts), tmp, compression="zstd")
    return tuple(rewritten)


class _Progress:
    """A Rich bar over the tables being validated; a no-op when disabled."""

    def __init__(self, enabled: bool, tables: list[str]) -> None:
        self._bar: Any = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(TextColumn("[bold]validate[/] {task.description:<12}"),
                                 BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            self._task = self._bar.add_task("", total=len(tables))
            self._bar.start()
        self._started = False

    def start(self, table: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1 if self._started else 0, description=table)
            self._started = True

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self._bar.tasks[0].total)
            self._bar.stop()


@writes_data_root("events validate")
def load_events(tables: Sequence[str] | None = None, *, progress: bool = False) -> LoadReport:
    """Validate the event log under ``$SHOPLAB_DATA/events``; quarantine rows that break it.

    Args:
        tables: tables to validate (default: all of them). They are validated in dependency
            order whatever the order given; references to other tables read their current files.
        progress: show a Rich progress bar, one step per table (100M impressions take minutes).

    Returns:
        Per table: files, rows in, rows accepted, rows quarantined (by reason). Also written to
        ``$SHOPLAB_DATA/quarantine/report.json``; the accepted files with their content hashes
        go to ``events/manifest.json`` (``shoplab.events.manifest``), whose ``version`` every
        later step (features, materialization, scorecards) names.

    Raises:
        EventLogError: an unknown table name, a file that is not Parquet, a contract column
            missing or of the wrong type. Every file is checked first and one error names every
            bad file with its rule; nothing is changed on disk when a file fails the check.

    Example:
        >>> import os, tempfile
        >>> os.environ["SHOPLAB_DATA"] = tempfile.mkdtemp()
        >>> from shoplab.simulator import simulate
        >>> _ = simulate(users=1_000, items=200, days=2, seed=3)
        >>> report = load_events()
        >>> report["clicks"].rows_in == report["clicks"].accepted + report["clicks"].quarantined
        True
    """
    t0 = time.perf_counter()
    wanted = list(ORDER) if tables is None else list(tables)
    unknown = [t for t in wanted if t not in TABLES]
    if unknown:
        raise EventLogError(f"tables == {unknown}, must be among {list(ORDER)}.")
    # Check every file of every table first: bad files fail the run before anything moves, and
    # all of them are named in one error.
    files = discover_all(ORDER)
    todo = [t for t in ORDER if t in wanted]
    for t in todo:  # temp files of a run that was killed mid-rewrite (never read: hidden)
        remove_orphans(events_dir(t))
        remove_orphans(quarantine_dir(t))
    log_end = log_end_us(files)
    vocabularies = active_vocabularies()
    con = _connect()
    results = []
    bar = _Progress(progress, todo)
    try:
        for table in todo:
            bar.start(table)
            current = files[table]
            rows_in = sum(f.rows for f in current)
            if not current or rows_in == 0:
                results.append(TableLoad(table, len(current), rows_in, rows_in, 0))
                continue
            bad = _bad_rows(con, table, current, files, log_end, vocabularies)
            rewritten = _quarantine(table, bad) if bad.num_rows else ()
            if rewritten:  # later tables must see this table's accepted rows only
                files[table] = discover(table)
            reasons = Counter(bad.column("reason").to_pylist())
            results.append(TableLoad(
                table=table, files=len(current), rows_in=rows_in,
                accepted=rows_in - bad.num_rows, quarantined=bad.num_rows,
                reasons=dict(sorted(reasons.items())), rewritten=rewritten,
            ))
    finally:
        con.close()
        bar.stop()
    manifest = record_validation(results, vocabularies=vocabularies.as_record())
    report = LoadReport(
        tables=tuple(results), seconds=time.perf_counter() - t0, version=manifest.version
    )
    report.write_json(quarantine_dir() / "report.json")
    return report
