"""One verdict rule for every reader: a significant rise of a lower-is-better metric is a
regression, in the analysis, the demo's summary and the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shoplab.analysis.metrics import get_metric
from shoplab.analysis.scorecard import MetricRow
from shoplab.analysis.verdict import primary_verdict, verdict


def _row(metric: str, abs_effect: float, pvalue: float, adjusted: float | None = None) -> MetricRow:
    m = get_metric(metric)
    return MetricRow(
        metric=metric,
        role=m.role,
        kind=m.kind,
        variant="treatment",
        status="ok",
        n_control=1000,
        n_treatment=1000,
        abs_effect=abs_effect,
        pvalue=pvalue,
        adjusted_pvalue=adjusted,
    )


@pytest.mark.parametrize(
    ("metric", "effect", "expected"),
    [
        ("ctr", +0.01, "improvement"),
        ("ctr", -0.01, "regression"),
        ("refund_rate", +0.01, "regression"),  # lower is better: a rise is not a win
        ("refund_rate", -0.01, "improvement"),
    ],
)
def test_direction_decides_improvement_or_regression(
    metric: str, effect: float, expected: str
) -> None:
    assert verdict(_row(metric, effect, 0.001), get_metric(metric), 0.05) == expected
    assert verdict(_row(metric, effect, 0.001), get_metric(metric).higher_is_better) == expected


def test_adjusted_pvalue_decides_significance() -> None:
    row = _row("ctr", 0.01, pvalue=0.01, adjusted=0.2)
    assert verdict(row, get_metric("ctr")) == "not significant"
    assert verdict(_row("ctr", 0.01, pvalue=0.2), True) == "not significant"
    empty = MetricRow(
        metric="ctr",
        role="business",
        kind="ratio",
        variant="t",
        status="no_data",
        n_control=0,
        n_treatment=0,
        adjusted_pvalue=None,
    )
    assert verdict(empty, True) == "not computed"


class _Srm:
    mismatch = False


class _Card:
    """The Scorecard attributes the verdict readers use."""

    def __init__(self, row: MetricRow) -> None:
        self.rows = [row]
        self.primary_metric = row.metric
        self.alpha = 0.05
        self.trustworthy = True
        self.srm = _Srm()
        self.generated_at = datetime(2026, 1, 22, tzinfo=UTC)


def test_lower_is_better_primary_that_rose_is_no_win_anywhere() -> None:
    from shoplab.dashboards.views import primary_verdict as dashboard_verdict
    from shoplab.demo import verdict as demo_verdict

    card: Any = _Card(_row("refund_rate", +0.02, 1e-6, 1e-6))
    assert primary_verdict(card, get_metric("refund_rate")) == "regression"
    assert dashboard_verdict(card, get_metric("refund_rate").higher_is_better) == "regression"
    said = demo_verdict(card)
    assert "regression" in said
    assert "improvement" not in said
