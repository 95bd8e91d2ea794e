"""The one verdict of a metric row: improvement, regression, not significant, not computed.

A significant rise of a lower-is-better metric (refund rate, latency) is a regression, not a win:
the verdict reads the metric's direction (``Metric.higher_is_better``), and significance uses the
adjusted p-value when there is one, so it agrees with the multiple-testing correction the
scorecard reports. The demo and the dashboard print this verdict in their own words.

Example:
    >>> from shoplab.analysis.scorecard import MetricRow
    >>> row = MetricRow(metric="refund_rate", role="guardrail", kind="ratio", variant="t",
    ...                 status="ok", n_control=100, n_treatment=100, abs_effect=0.02, pvalue=0.001)
    >>> verdict(row, False), verdict(row, True)
    ('regression', 'improvement')
"""

from __future__ import annotations

from typing import Literal, Protocol

from shoplab.analysis.metrics import Metric

__all__ = ["Verdict", "primary_verdict", "verdict"]

Verdict = Literal["improvement", "regression", "not significant", "not computed"]


class _Row(Protocol):
    @property
    def abs_effect(self) -> float | None: ...
    @property
    def pvalue(self) -> float | None: ...
    @property
    def adjusted_pvalue(self) -> float | None: ...


def verdict(row: _Row, metric: Metric | bool, alpha: float = 0.05) -> Verdict:
    """Verdict of one metric row at level ``alpha``.

    Args:
        row: a ``MetricRow`` (or anything with its ``abs_effect``, ``pvalue`` and
            ``adjusted_pvalue``).
        metric: the metric definition, or its ``higher_is_better`` flag.
        alpha: the scorecard's level.
    """
    higher_is_better = metric if isinstance(metric, bool) else metric.higher_is_better
    p = row.adjusted_pvalue if row.adjusted_pvalue is not None else row.pvalue
    if p is None or row.abs_effect is None:
        return "not computed"
    if p >= alpha:
        return "not significant"
    return "improvement" if (row.abs_effect > 0) == higher_is_better else "regression"


class _Card(Protocol):
    @property
    def primary_metric(self) -> str: ...
    @property
    def alpha(self) -> float: ...
    @property
    def rows(self) -> list[object]: ...


def primary_verdict(card: _Card, metric: Metric | bool) -> Verdict | None:
    """Verdict of the primary metric's first treatment row; None when the card has no such row."""
    for row in card.rows:
        if getattr(row, "metric", None) == card.primary_metric:
            return verdict(row, metric, card.alpha)  # type: ignore[arg-type] # rows are MetricRows
    return None
