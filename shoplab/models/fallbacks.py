"""Every serving fallback, counted and persisted: a failing model is a guardrail, never hidden.

One SQLite file, ``<data root>/models/fallbacks.db``, one row per (experiment, variant, model,
reason) with its count and the last time and message. SQLite because several processes serve
at once (the CLI, a notebook, the simulator): an ``INSERT ... ON CONFLICT DO UPDATE`` is one
atomic increment, where a JSON file would lose counts between two writers. A fallback is rare
by design, so its ~1 ms write is off the happy path.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shoplab.core.paths import data_root

__all__ = ["FallbackCount", "count_fallback", "fallback_counts", "fallbacks_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fallbacks (
    experiment TEXT NOT NULL, variant TEXT NOT NULL, model TEXT NOT NULL, reason TEXT NOT NULL,
    count INTEGER NOT NULL, last_ts TEXT NOT NULL, last_message TEXT NOT NULL,
    PRIMARY KEY (experiment, variant, model, reason)
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
    con.execute(_SCHEMA)
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


def fallback_counts() -> list[FallbackCount]:
    """Every counted fallback, by experiment, variant, model, reason (empty before any)."""
    path = fallbacks_path()
    if not path.is_file():
        return []
    con = _connect(path)
    try:
        rows = con.execute("SELECT * FROM fallbacks ORDER BY 1, 2, 3, 4").fetchall()
    finally:
        con.close()
    return [FallbackCount(*row) for row in rows]
