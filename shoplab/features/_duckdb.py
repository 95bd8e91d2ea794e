"""The process-wide DuckDB connection the offline store and the SDK share.

One connection so that a label frame the SDK registers is visible to the offline store's SQL
(``entity_df`` as a SQL string) without a copy. Session time zone is UTC: ``date_trunc`` and
interval arithmetic on TIMESTAMPTZ follow the session zone, and feature windows are UTC days.
"""

from __future__ import annotations

import threading

import duckdb

__all__ = ["connection", "new_connection", "quote"]

_local = threading.local()


def new_connection() -> duckdb.DuckDBPyConnection:
    """Return a fresh in-memory connection with the session settings shoplab relies on."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def connection() -> duckdb.DuckDBPyConnection:
    """Return this thread's shared connection (DuckDB connections are not thread-safe)."""
    con = getattr(_local, "con", None)
    if con is None:
        con = new_connection()
        _local.con = con
    return con


def quote(name: str) -> str:
    """Quote a SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
