"""``shoplab experiments list | assign | layout | schema`` on the shipped demo configs."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplab import experiments
from shoplab.cli import app
from shoplab.experiments import assign, load_layout

runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, ["experiments", *args], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    return result.output


def test_list_shows_every_experiment(demo_dir: Path) -> None:
    out = _run("list", "--dir", str(demo_dir))
    for key in load_layout(demo_dir).experiments:
        assert key in out
    assert "global_holdout" in out
    assert "5.00%" in out


def test_assign_matches_the_sdk(demo_dir: Path) -> None:
    from datetime import datetime

    at = datetime(2026, 1, 10, tzinfo=UTC)
    unit = next(u for u in range(100) if assign(u, experiments=demo_dir, at=at)["rank"].variant
                == "ranker_v2")
    out = _run("assign", str(unit), "--attr", "country=ID", "--attr", "is_new_user=false",
               "--at", "2026-01-10T00:00:00Z", "--dir", str(demo_dir))
    assert "rank_ranker_v2" in out
    assert "ranker_v2" in out
    assert '"feature_service": "ranker_v2"' in out
    bad = runner.invoke(app, ["experiments", "assign", "1", "--attr", "country"])
    assert bad.exit_code != 0
    assert "must be key=value" in bad.output


def test_layout_draws_every_layer_with_free_space(demo_dir: Path) -> None:
    out = _run("layout", "--dir", str(demo_dir), "--width", "100")
    lines = out.splitlines()
    for layer, free in [("recall", "20.0"), ("prerank", "50.0"), ("rank", "40.0"), ("mix", "30.0")]:
        row = next(line for line in lines if line.startswith(layer.ljust(9)))
        assert f"free {free} %" in row
        bar = row[9:109]
        assert bar.count("·") == round(float(free))  # 100 buckets per character
    holdout = next(line for line in lines if line.startswith("holdout"))
    assert holdout[9:109].count("█") == 5
    assert "rank_ranker_v2 [0, 6000) running" in out
    assert "free [6000, 10000)" in out
    assert "free [5000, 6000), [8000, 10000)" in out


def test_schema_prints_json(tmp_path: Path) -> None:
    doc = json.loads(_run("schema"))
    assert doc["additionalProperties"] is False
    assert "variants" in doc["required"]
    _run("schema", "--kind", "layers", "--out", str(tmp_path / "l.json"))
    assert "holdout" in json.loads((tmp_path / "l.json").read_text())["properties"]


@pytest.mark.parametrize("module", [experiments])
def test_public_surface_is_exactly_all(module: object) -> None:
    names = {n for n in dir(module) if not n.startswith("_")}
    submodules = {"allocation", "assignment", "errors", "exposures", "hashing", "layout", "loader",
                  "interleaving", "models", "request_plan", "results", "validation",
                  "cli"}
    assert names - submodules == set(module.__all__)  # type: ignore[attr-defined]
    import shoplab

    assert shoplab.assign is experiments.assign
    assert shoplab.assign_frame is experiments.assign_frame
    assert shoplab.load_experiments is experiments.load_experiments


def test_assign_accepts_a_bare_date_as_midnight_utc(demo_dir: Path) -> None:
    from datetime import datetime

    at = datetime(2026, 1, 10, tzinfo=UTC)
    unit = next(u for u in range(100) if assign(u, experiments=demo_dir, at=at)["rank"].variant)
    expected = assign(unit, experiments=demo_dir, at=at)["rank"]
    by_date = _run("assign", str(unit), "--at", "2026-01-10", "--dir", str(demo_dir))
    by_instant = _run("assign", str(unit), "--at", "2026-01-10T00:00:00Z", "--dir", str(demo_dir))
    assert by_date == by_instant
    assert expected.experiment in by_date
    assert expected.variant in by_date


def test_assign_explains_an_empty_answer(demo_dir: Path) -> None:
    out = _run("assign", "42", "--at", "2030-01-01", "--dir", str(demo_dir))  # after every end
    assert "no experiment assigned at 2030-01-01T00:00:00+00:00" in " ".join(out.split())
