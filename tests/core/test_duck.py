"""The one DuckDB connection factory: UTC, the memory cap of the settings, spill under the root."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shoplab.core import duck


def _setting(con: object, name: str) -> object:
    return con.execute(f"SELECT current_setting('{name}')").fetchone()[0]  # type: ignore[attr-defined]


def test_session_zone_is_utc_whatever_the_process_zone(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Jakarta")
    con = duck.connect()
    assert _setting(con, "TimeZone") == "UTC"
    # date_trunc on TIMESTAMPTZ follows the session zone: 00:30+07:00 is the previous UTC day
    day = con.execute(
        "SELECT date_trunc('day', TIMESTAMPTZ '2026-01-10 00:30:00+07:00')"
    ).fetchone()[0]
    assert day == datetime(2026, 1, 9, tzinfo=UTC)


def test_memory_cap_and_spill_folder_follow_settings_and_root(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLAB_DUCKDB_MEMORY", "512MiB")
    con = duck.connect()
    assert _setting(con, "memory_limit") == "512.0 MiB"
    spill = data_root / "tmp" / "duckdb"
    assert _setting(con, "temp_directory") == spill.as_posix()
    assert spill.is_dir()
    assert _setting(con, "preserve_insertion_order") is True


def test_unordered_and_unspilled_connections(data_root: Path) -> None:
    con = duck.connect(ordered=False, spill=False)
    assert _setting(con, "preserve_insertion_order") is False
    assert _setting(con, "memory_limit") != "512.0 MiB"
    assert not (data_root / "tmp").exists()


def test_shared_connection_is_one_per_thread(data_root: Path) -> None:
    mine = duck.shared_connection()
    assert duck.shared_connection() is mine
    other: list[object] = []
    t = threading.Thread(target=lambda: other.append(duck.shared_connection()))
    t.start()
    t.join()
    assert other[0] is not mine


def test_quoting_survives_quotes(data_root: Path) -> None:
    con = duck.connect(spill=False)
    name, text = 'we"ird', "it's"
    got = con.execute(
        f"SELECT {duck.sql_str(text)} AS {duck.quote(name)}, "
        f"len({duck.sql_list(['a', text])}) AS n"
    )
    assert [d[0] for d in got.description] == [name, "n"]
    assert got.fetchone() == (text, 2)
