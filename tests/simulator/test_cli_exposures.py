"""``shoplab simulate`` logs the exposures of the experiments running in its window, or says so.

Before issue 12 the command served everyone with the baseline and removed the demo's exposure
log: ``shoplab analyze`` then found no units and printed every metric ``no_data``.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from shoplab.cli import app

SMALL = ["--users", "3000", "--items", "400", "--days", "3", "--seed", "2", "--quiet"]


@pytest.fixture(autouse=True)
def _packaged_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The packaged configs: rank_ranker_v2 and others run 2026-01-08..2026-01-22."""
    monkeypatch.delenv("SHOPLAB_EXPERIMENTS", raising=False)


def _exposures(root: Path) -> pl.DataFrame:
    return pl.read_parquet(root / "events" / "exposures" / "*.parquet")


def test_simulate_logs_exposures_of_the_experiments_running_in_its_window(
    data_root: Path,
) -> None:
    result = CliRunner().invoke(app, ["simulate", *SMALL, "--start", "2026-01-08"])
    assert result.exit_code == 0, result.output
    exposures = _exposures(data_root)
    assert exposures.height > 0
    assert f"exposures   │ {exposures.height:>5,} │" in result.output  # the summary counts them
    # every running experiment of the packaged set; drafts (mix_live_new_users) never expose
    running = {"rank_ranker_v2", "recall_aa", "global_holdout"}
    assert running <= set(exposures["experiment"])
    assert "mix_live_new_users" not in set(exposures["experiment"])
    assert exposures.select(pl.col("ts").min()).item().date().isoformat() >= "2026-01-08"
    assert "no exposures logged" not in result.output


def test_simulate_outside_every_experiment_says_so_and_how(data_root: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", *SMALL, "--start", "2025-06-01"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # Rich wraps at the terminal width
    assert "no exposures logged" in text
    assert "2026-01-08..2026-01-22" in text
    assert "--start 2026-01-01 --days 21" in text


def test_simulate_without_experiments_says_analyze_has_no_units(data_root: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", *SMALL, "--no-experiments"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "no exposures logged (--no-experiments)" in text
    assert not list((data_root / "events" / "exposures").glob("sim-*.parquet"))


def test_a_broken_config_stops_simulate_before_it_replaces_the_log(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = CliRunner().invoke(app, ["simulate", *SMALL, "--start", "2026-01-08"])
    assert first.exit_code == 0, first.output
    before = {p: p.read_bytes() for p in (data_root / "events").rglob("*.parquet")}
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "layers.yaml").write_text("layers: [recall\n")
    monkeypatch.setenv("SHOPLAB_EXPERIMENTS", str(configs))
    result = CliRunner().invoke(app, ["simulate", *SMALL, "--start", "2026-01-08"])
    assert result.exit_code != 0
    assert "layers.yaml" in str(result.exception)
    after = {p: p.read_bytes() for p in (data_root / "events").rglob("*.parquet")}
    assert after == before


def test_analyze_after_simulate_has_units_and_results(data_root: Path) -> None:
    """The README's sequence: simulate, validate, then analyze; no longer every metric ``no_data``.

    Without the validation step analyze refuses (exit 2) and names the command that fixes it.
    """
    sim = CliRunner().invoke(app, ["simulate", *SMALL, "--start", "2026-01-08"])
    assert sim.exit_code == 0, sim.output
    refused = CliRunner().invoke(app, ["analyze", "rank_ranker_v2", "--as-of", "2026-01-10"])
    assert refused.exit_code == 2
    assert "shoplab events validate" in refused.output
    checked = CliRunner().invoke(app, ["events", "validate"])
    assert checked.exit_code == 0, checked.output
    result = CliRunner().invoke(
        app, ["analyze", "rank_ranker_v2", "--as-of", "2026-01-10", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    assert sum(v["units"] for v in card["variants"]) > 0
    assert any(r["status"] == "ok" for r in card["rows"])
