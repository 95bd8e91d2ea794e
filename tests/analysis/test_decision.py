"""The ship decision (analysis.decision): each branch of the rule on hand-built rows, and the
scorecard carrying the same decision the rule gives on its own rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shoplab.analysis import analyze
from shoplab.analysis.decision import decide
from shoplab.analysis.metrics import get_metric
from shoplab.analysis.scorecard import MetricRow
from tests.analysis.builders import make_experiment

END = datetime(2026, 1, 22, tzinfo=UTC)
INTERIM, FINAL = datetime(2026, 1, 15, tzinfo=UTC), END
METRICS = {m: get_metric(m) for m in ("ctr", "refund_rate", "gmv_per_user")}


def _row(metric: str, effect: float, lo: float, hi: float, p: float, control: float = 0.1,
         **kw: Any) -> MetricRow:
    m = METRICS[metric]
    return MetricRow(
        metric=metric, role=m.role, kind=m.kind, variant=kw.pop("variant", "treatment"),
        status="ok", n_control=1000, n_treatment=1000, control_value=control,
        abs_effect=effect, abs_ci_lower=lo, abs_ci_upper=hi, pvalue=p, adjusted_pvalue=p,
        cs_lower=kw.pop("cs_lower", lo * 2), cs_upper=kw.pop("cs_upper", hi * 2), **kw,
    )


def _decide(rows: list[MetricRow], as_of: datetime = FINAL, **kw: Any) -> Any:
    return decide(rows, METRICS, primary="ctr", guardrails=["refund_rate"],
                  trustworthy=kw.pop("trustworthy", True), status=kw.pop("status", "ok"),
                  as_of=as_of, end=END, alpha=0.05, **kw)


SAFE_REFUND = _row("refund_rate", 0.0001, -0.001, 0.002, 0.8, control=0.06)  # margin 0.003


def test_significantly_better_and_non_inferior_ships() -> None:
    got = _decide([_row("ctr", 0.01, 0.005, 0.015, 1e-4), SAFE_REFUND])
    assert got.decision == "ship"
    assert got.horizon == "fixed-horizon"
    assert got.reasons[0] == "treatment: primary ctr significantly better (fixed-horizon)"
    assert any("refund_rate non-inferior" in r for r in got.reasons)


def test_a_guardrail_not_shown_non_inferior_blocks_the_ship() -> None:
    wide = _row("refund_rate", 0.001, -0.002, 0.004, 0.5, control=0.06)  # up to 0.004 > 0.003
    got = _decide([_row("ctr", 0.01, 0.005, 0.015, 1e-4), wide])
    assert got.decision == "don't ship"
    assert any("not shown non-inferior" in r for r in got.reasons)


def test_a_guardrail_worse_beyond_its_margin_stops_for_harm() -> None:
    # refund rate is lower-is-better: its rise of [0.004, 0.008] is harm beyond 5 % of 0.06
    bad = _row("refund_rate", 0.006, 0.004, 0.008, 1e-5, control=0.06)
    got = _decide([_row("ctr", 0.01, 0.005, 0.015, 1e-4), bad])
    assert got.decision == "stop for harm"
    assert "guardrail refund_rate worse by more than its 5% margin" in got.reasons[0]


def test_a_significantly_worse_primary_stops_for_harm() -> None:
    got = _decide([_row("ctr", -0.01, -0.015, -0.005, 1e-4), SAFE_REFUND])
    assert got.decision == "stop for harm"


def test_before_the_end_the_always_valid_interval_decides() -> None:
    # the fixed-horizon CI excludes 0 but the always-valid one does not: keep running
    row = _row("ctr", 0.01, 0.002, 0.018, 0.01, cs_lower=-0.003, cs_upper=0.023)
    got = _decide([row, _row("refund_rate", 0.0, -0.001, 0.001, 0.9, control=0.06,
                              cs_lower=-0.002, cs_upper=0.002)], as_of=INTERIM)
    assert (got.decision, got.horizon) == ("keep running", "always-valid")
    assert _decide([row, SAFE_REFUND], as_of=FINAL).decision == "ship"  # the planned end: the CI
    early = _row("ctr", 0.01, 0.006, 0.014, 1e-6, cs_lower=0.001, cs_upper=0.019)
    safe_cs = _row("refund_rate", 0.0, -0.001, 0.001, 0.9, control=0.06, cs_lower=-0.002,
                   cs_upper=0.002)
    assert _decide([early, safe_cs], as_of=INTERIM).decision == "ship"


def test_not_significant_at_the_end_is_dont_ship() -> None:
    got = _decide([_row("ctr", 0.001, -0.002, 0.004, 0.5), SAFE_REFUND])
    assert got.decision == "don't ship"
    assert got.reasons[0] == "treatment: primary ctr not significant (fixed-horizon)"


def test_untrustworthy_and_fallback_storms_decide_nothing() -> None:
    rows = [_row("ctr", 0.01, 0.005, 0.015, 1e-4), SAFE_REFUND]
    got = _decide(rows, trustworthy=False, status="srm_mismatch")
    assert got.decision == "don't ship"
    assert "srm_mismatch" in got.reasons[0]
    storm = _decide(rows, fallback_share={"treatment": 0.02})
    assert storm.decision == "don't ship"
    assert any("2.0% of units fell back" in r for r in storm.reasons)
    assert _decide(rows, fallback_share={"treatment": 0.005}).decision == "ship"


def test_the_scorecard_carries_the_rules_decision(use_log: Path) -> None:
    exp = make_experiment()
    card = analyze(exp, daily=False)
    assert card.decision is not None
    metrics = {r.metric: get_metric(r.metric) for r in card.rows}
    want = decide(card.rows, metrics, primary=exp.metrics.primary,
                  guardrails=exp.metrics.guardrails, trustworthy=card.trustworthy,
                  status=card.status, as_of=card.as_of, end=exp.end, alpha=card.alpha)
    assert card.decision == want
    assert card.decision.decision in ("ship", "don't ship")  # analyzed at the planned end
    assert card.row("ctr").pvalue is not None
    assert card.row("ctr").pvalue < 0.05
    assert any(r.startswith("treatment: primary ctr significantly better") for r in
               card.decision.reasons)


@pytest.mark.parametrize("fallbacks", [{"treatment": 500}])
def test_the_sdk_counts_fallbacks_into_the_decision(use_log: Path, fallbacks: dict[str, int]
                                                    ) -> None:
    card = analyze(make_experiment(), daily=False, fallbacks=fallbacks)
    assert card.decision is not None
    assert card.decision.decision == "don't ship"
    assert any("fell back to the control ranker" in r for r in card.decision.reasons)
