"""Every serving fallback, counted and persisted: a failing model is a guardrail, never hidden.

One SQLite file, ``<data root>/models/fallbacks.db``, one row per (experiment, variant, model,
reason) with its count and the last time and message (``shoplab.rank``'s requests, as they come),
and a second table with one row per (experiment, variant, model, reason, **day**): the simulator's
model-ranked stage, which falls back a whole day's requests of an arm at once
(:func:`record_day_fallbacks`; a re-simulated day replaces its count rather than adding to it).
:func:`fallback_counts` reads both, so the scorecard's ``fallback_rate`` guardrail
(``analysis.decision``) sees every fallback, served or simulated.

Why a database beside the event log rather than an event table: a fallback is the serving
system's account of itself, not a user's behaviour; ``shoplab.rank`` counts into this file
already (outside any simulation), and one store for both keeps one reader. SQLite because
several processes serve at once (the CLI, a notebook, the simulator): an ``INSERT ... ON
CONFLICT DO UPDATE`` is one atomic increment, where a JSON file would lose counts between two
writers. A fallback is rare
by design, so its ~1 ms write is off the happy path.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from shoplab.core.errors import InputError
from shoplab.core.paths import data_root

__all__ = [
    "FallbackCount",
    "count_fallback",
    "fallback_counts",
    "fallback_days",
    "fallbacks_path",
    "record_day_fallbacks",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fallbacks (
    experiment TEXT NOT NULL, variant TEXT NOT NULL, model TEXT NOT NULL, reason TEXT NOT NULL,
    count INTEGER NOT NULL, last_ts TEXT NOT NULL, last_message TEXT NOT NULL,
    PRIMARY KEY (experiment, variant, model, reason)
);
CREATE TABLE IF NOT EXISTS fallback_days (
    experiment TEXT NOT NULL, variant TEXT NOT NULL, model TEXT NOT NULL, reason TEXT NOT NULL,
    day TEXT NOT NULL, count INTEGER NOT NULL, last_ts TEXT NOT NULL, last_message TEXT NOT NULL,
    PRIMARY KEY (experiment, variant, model, reason, day)
)
"""


@dataclass(frozen=True)
class FallbackCount:
    """How often one variant's model fell back, for one reason."""

    experiment: str
    variant: str
    model: str
    reason: str
    count: int
    last_ts: str
    last_message: str


def fallbacks_path() -> Path:
    """``<root>/models/fallbacks.db``."""
    return data_root() / "models" / "fallbacks.db"


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=10.0)
    con.executescript(_SCHEMA)
    return con


def count_fallback(experiment: str, variant: str, model: str, reason: str, message: str) -> None:
    """Add one fallback of ``experiment``/``variant``'s ``model`` for ``reason``."""
    con = _connect(fallbacks_path())
    try:
        with con:
            con.execute(
                "INSERT INTO fallbacks VALUES (?, ?, ?, ?, 1, ?, ?) "
                "ON CONFLICT (experiment, variant, model, reason) DO UPDATE SET "
                "count = count + 1, last_ts = excluded.last_ts, "
                "last_message = excluded.last_message",
                (experiment, variant, model, reason, datetime.now(UTC).isoformat(), message[:500]),
            )
    finally:
        con.close()


def record_day_fallbacks(
    experiment: str, variant: str, model: str, reason: str, day: date, count: int, message: str
) -> None:
    """Set the fallbacks of ``experiment``/``variant``'s ``model`` on ``day`` (simulator).

    A set, not an increment: simulating the same day again (same seed, new data root or not)
    must not double its count.

    Raises:
        InputError: ``count`` is negative.
    """
    if count < 0:
        raise InputError(f"count == {count}, must be >= 0 (requests that fell back).")
    con = _connect(fallbacks_path())
    try:
        with con:
            con.execute(
                "INSERT INTO fallback_days VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (experiment, variant, model, reason, day) DO UPDATE SET "
                "count = excluded.count, last_ts = excluded.last_ts, "
                "last_message = excluded.last_message",
                (experiment, variant, model, reason, day.isoformat(), int(count),
                 datetime.now(UTC).isoformat(), message[:500]),
            )
    finally:
        con.close()


def fallback_counts() -> list[FallbackCount]:
    """Every counted fallback, by experiment, variant, model, reason (empty before any).

    Served (``shoplab.rank``) and simulated (summed over days) counts of the same key add up.
    """
    path = fallbacks_path()
    if not path.is_file():
        return []
    con = _connect(path)
    try:
        # SQLite's bare column beside max(): last_message comes from the row of the latest last_ts
        rows = con.execute(
            "SELECT experiment, variant, model, reason, sum(count), max(last_ts), last_message "
            "FROM (SELECT experiment, variant, model, reason, count, last_ts, last_message "
            "FROM fallbacks UNION ALL SELECT experiment, variant, model, reason, count, last_ts, "
            "last_message FROM fallback_days) GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
        ).fetchall()
    finally:
        con.close()
    return [FallbackCount(*row) for row in rows]


def fallback_days(experiment: str | None = None) -> list[tuple[str, str, str, str, date, int]]:
    """The simulator's per-day rows: ``(experiment, variant, model, reason, day, count)``."""
    path = fallbacks_path()
    if not path.is_file():
        return []
    con = _connect(path)
    try:
        rows = con.execute(
            "SELECT experiment, variant, model, reason, day, count FROM fallback_days "
            "WHERE ? IS NULL OR experiment = ? ORDER BY 1, 2, 3, 4, 5",
            (experiment, experiment),
        ).fetchall()
    finally:
        con.close()
    return [(e, v, m, r, date.fromisoformat(d), int(n)) for e, v, m, r, d, n in rows]
