"""The Scorecard page of an interleaving experiment shows its preference table (AppTest).

The oracle is the InterleavingScorecard the SDK returns on the same hand-built log
(``tests/analysis/test_interleaving_analysis``), not the dashboard's helpers.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from shoplab import sdk
from tests.analysis.test_interleaving_analysis import _IL_YAML, write_il_log
from tests.dashboards.conftest import APP

TIMEOUT = 120


@pytest.fixture
def il_world(data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    configs = tmp_path / "configs"
    configs.mkdir()
    layers = Path(__file__).parents[2] / "experiments" / "configs" / "layers.yaml"
    (configs / "layers.yaml").write_text(layers.read_text())
    (configs / "rank_il.yaml").write_text(_IL_YAML)
    monkeypatch.setenv("SHOPLAB_EXPERIMENTS", str(configs))
    write_il_log(data_root, users=600, p_a=0.05, p_b=0.07, seed=4)
    return data_root


def _same(shown: object, expected: float | None) -> bool:
    if expected is None:
        return shown is None or (isinstance(shown, float) and math.isnan(shown))
    return bool(np.isclose(float(shown), expected, rtol=1e-12, atol=0.0))  # type: ignore[arg-type]


def test_scorecard_page_shows_the_preference_table(il_world: Path) -> None:
    from shoplab.analysis.interleaving import save_interleaving_scorecard

    card = sdk.analyze_interleaving("rank_il", as_of="2026-01-21")
    save_interleaving_scorecard(card)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.query_params["experiment"] = "rank_il"
    at = at.switch_page("app_pages/scorecard.py").run()
    assert not at.exception, [e.value for e in at.exception]
    frames = [d.value for d in at.dataframe if "delta" in d.value.columns]
    assert frames, "no preference table on the page"
    table = frames[0]
    assert list(table["outcome"]) == [r.outcome for r in card.rows]
    assert "wins_uncontested" in list(table["outcome"])
    for (_, shown), row in zip(table.iterrows(), card.rows, strict=True):
        for f in ("credit_a", "credit_b", "delta", "ci_lower", "ci_upper", "pvalue"):
            assert _same(shown[f], getattr(row, f)), (row.outcome, f, shown[f])
    said = " ".join(str(s.value) for s in [*at.success, *at.info])
    assert f"Decision: **{card.decision.decision}**" in said


@pytest.mark.parametrize("page", ["trends", "segments"])
def test_arm_pages_say_an_interleaving_experiment_has_no_arms(il_world: Path, page: str) -> None:
    from shoplab.analysis.interleaving import save_interleaving_scorecard

    save_interleaving_scorecard(sdk.analyze_interleaving("rank_il", as_of="2026-01-21"))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.query_params["experiment"] = "rank_il"
    at = at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("interleaving experiment" in str(i.value) for i in at.info)
