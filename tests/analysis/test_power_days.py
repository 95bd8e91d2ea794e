"""``power --days`` beyond the impression log: refused with the range, never mislabelled."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from shoplab.analysis import power
from shoplab.benchmarks.analysis import synthesize_event_log
from shoplab.core.errors import InputError
from shoplab.core.files import day_files


def _app() -> typer.Typer:
    from shoplab.analysis_cli import register

    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def log_days(data_root: Path) -> tuple[date, date]:
    """A 21-day synthetic log (14 days + 7 pre-period days); its first and last day."""
    synthesize_event_log(data_root, users=5_000, seed=4)
    days = day_files(data_root / "events" / "impressions")
    assert len(days) == 21
    return min(days), max(days)


def test_days_beyond_the_log_are_refused(log_days: tuple[date, date]) -> None:
    first, last = log_days
    # before: a 21-day measurement came back labelled days=100
    with pytest.raises(InputError) as info:
        power("gmv_per_user", 0.1, 100)
    msg = str(info.value)
    assert "days == 100, must be <= 21" in msg
    assert f"covers {first} to {last}" in msg
    assert "impressions" in msg  # names the folder it counted
    assert "not extrapolated" in msg
    with pytest.raises(InputError, match="days == 15, must be <= 14"):
        power("gmv_per_user", 0.1, 15, as_of=date.fromordinal(last.toordinal() - 7))
    with pytest.raises(InputError, match="as_of == "):
        power("gmv_per_user", 0.1, 7, as_of=date.fromordinal(last.toordinal() + 1))


def test_the_whole_log_is_allowed_and_labelled_by_its_window(
    log_days: tuple[date, date],
) -> None:
    first, last = log_days
    r = power("gmv_per_user", 0.1, 21)
    assert r.days == 21
    assert r.window_start == datetime(first.year, first.month, first.day, tzinfo=UTC)
    assert (r.window_end - r.window_start).days == 21


def test_cli_refuses_days_beyond_the_log_and_shows_the_window(
    log_days: tuple[date, date],
) -> None:
    first, last = log_days
    runner = CliRunner()
    res = runner.invoke(_app(), ["power", "--metric", "ctr", "--traffic", "0.1", "--days", "100"])
    assert res.exit_code == 2, res.output
    assert "days == 100, must be <= 21" in res.output
    assert "100 days" not in res.output  # no table labelled with the requested duration
    res = runner.invoke(_app(), ["power", "--metric", "ctr", "--traffic", "0.1", "--days", "21"])
    assert res.exit_code == 0, res.output
    assert f"{first} to {last} (21 days)" in res.output
