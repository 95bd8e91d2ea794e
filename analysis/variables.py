"""A metric's four unit-level variables (num, den, pre_num, pre_den), defined once.

:func:`metric_variables` says what each variable is (which unit column, in which window, through
which transform); :func:`variable_sql` renders it as DuckDB SQL over the unit table (the
scorecard's aggregate) and :func:`variables_array` as NumPy over per-unit columns (the daily
series' fast path). Both renderings come from the same tuple, so a metric cannot mean one thing in
SQL and another in NumPy (``tests/analysis/test_variables.py`` checks them equal on every catalog
metric).

Example:
    >>> from shoplab.analysis.metrics import get_metric
    >>> metric_sql(get_metric("ctr"), None)
    ('clicks', 'impressions', 'pre_clicks', 'pre_impressions')
    >>> metric_sql(get_metric("buyer_rate"), None)[0]
    '(orders > 0)::DOUBLE'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from shoplab.analysis.metrics import UNIT_COLUMNS, Metric

__all__ = [
    "ONE",
    "Cap",
    "Variable",
    "metric_sql",
    "metric_variables",
    "unit_columns_for",
    "variable_sql",
    "variables_array",
]

Cap = tuple[float, float]
"""Winsorization bounds (lower, upper) of a unit's value."""
Transform = Literal["value", "positive", "clip", "one"]
Scope = Literal["window", "pre", "one"]
Variable = tuple[Scope, Transform, str, Cap | None]
"""(scope, transform, unit column, cap): one of a metric's (num, den, pre_num, pre_den)."""

ONE: Final[Variable] = ("one", "one", "", None)
"""The constant 1: the denominator of mean and proportion metrics."""


def metric_variables(m: Metric, cap: Cap | None) -> tuple[Variable, Variable, Variable, Variable]:
    """(num, den, pre_num, pre_den) of ``m``; ``cap`` winsorizes a mean metric's numerator."""
    n = m.numerator
    if m.kind == "ratio":
        d = m.denominator or ""
        return (
            ("window", "value", n, None),
            ("window", "value", d, None),
            ("pre", "value", n, None),
            ("pre", "value", d, None),
        )
    if m.kind == "proportion":
        return ("window", "positive", n, None), ONE, ("pre", "positive", n, None), ONE
    if cap is not None:
        return ("window", "clip", n, cap), ONE, ("pre", "clip", n, cap), ONE
    return ("window", "value", n, None), ONE, ("pre", "value", n, None), ONE


def variable_sql(v: Variable, prefix: str = "") -> str:
    """SQL of one variable over the unit table (window columns ``<prefix><column>``)."""
    scope, how, col, cap = v
    if how == "one":
        return "1.0"
    name = f"pre_{col}" if scope == "pre" else f"{prefix}{col}"
    if how == "positive":
        return f"({name} > 0)::DOUBLE"
    if how == "clip":
        lo, hi = cap if cap is not None else (-np.inf, np.inf)
        return f"least(greatest({name}, {lo!r}), {hi!r})"
    return name


def metric_sql(m: Metric, cap: Cap | None, prefix: str = "") -> tuple[str, str, str, str]:
    """SQL expressions (num, den, pre_num, pre_den) of one metric over the unit table.

    ``prefix`` renames the window columns (``clicks`` → ``<prefix>clicks``) but not the pre-period
    ones, to evaluate the same metric on another state of the window columns.
    """
    num, den, pre_num, pre_den = (variable_sql(v, prefix) for v in metric_variables(m, cap))
    return num, den, pre_num, pre_den


def variables_array(
    window: Mapping[str, NDArray[np.float64]],
    pre: Mapping[str, NDArray[np.float64]],
    variables: Sequence[Variable],
    rows: slice,
) -> NDArray[np.float64]:
    """(variables × units) of per-unit columns, exactly as :func:`variable_sql` computes them.

    Args:
        window: unit column → per-unit window totals.
        pre: unit column → per-unit pre-period totals.
        variables: what to compute.
        rows: the block of units, ``slice(lo, hi)`` (blocks keep the temporaries in cache).
    """
    out = np.empty((len(variables), rows.stop - rows.start))
    for j, (scope, how, col, cap) in enumerate(variables):
        if how == "one":
            out[j] = 1.0
            continue
        x = (pre if scope == "pre" else window)[col][rows]
        if how == "value":
            out[j] = x
        elif how == "positive":
            np.greater(x, 0, out=out[j])
        else:
            lo, hi = cap if cap is not None else (-np.inf, np.inf)
            np.clip(x, lo, hi, out=out[j])
    return out


def unit_columns_for(metrics: Sequence[Metric]) -> tuple[str, ...]:
    """Unit columns a set of metrics needs, in catalog order."""
    need = {m.numerator for m in metrics} | {m.denominator for m in metrics if m.denominator}
    return tuple(c for c in UNIT_COLUMNS if c in need)
