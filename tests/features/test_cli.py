"""``shoplab features ...``: dates go through the one parser, and bad ones are named."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplab.cli import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "--start", "2026-13-01"], "--start == '2026-13-01', must be an ISO date"),
        (["build", "--end", "Jan 5"], "--end == 'Jan 5', must be an ISO date"),
        (
            ["materialize", "--end", "2026-01-05T00:00:00"],
            "--end == '2026-01-05T00:00:00', must carry a time zone",
        ),
    ],
)
def test_bad_dates_are_named_and_nothing_runs(
    data_root: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["features", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (data_root / "features").exists()
    assert not (data_root / "feast").exists()


def test_materialize_prints_plain_text_off_a_terminal(use_built: Path) -> None:
    """Feast prints colour codes around names; a log or a CI job gets plain text."""
    result = CliRunner().invoke(
        app, ["features", "materialize", "--end", "2026-01-04T12:00:00Z"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "item_stats: 2026-01-" in result.stdout
    assert "Materializing 1 feature views" in result.stderr
    assert "\x1b[" not in result.stdout + result.stderr
