"""How the pages render tables: number formats, verdict colours and the SRM banner, in one place."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from shoplab.dashboards.charts import STATUS_COLORS

__all__ = ["metric_dataframe", "sequential_dataframe", "srm_banner"]

_PCT = st.column_config.NumberColumn(format="percent")
_NUM = st.column_config.NumberColumn(format="%.5g")
_P = st.column_config.NumberColumn(format="%.4f")


def _colour(frame: pd.DataFrame) -> Any:
    def paint(row: pd.Series) -> list[str]:
        colour = STATUS_COLORS.get(str(row.get("verdict")), "")
        tint = (
            f"background-color: {colour}22"
            if row.get("verdict") in ("improvement", "regression")
            else ""
        )
        return [tint] * len(row)

    return frame.style.apply(paint, axis=1)


def metric_dataframe(table: pd.DataFrame) -> None:
    """The metric table: values, effects, intervals, p-values, CUPED; rows tinted by verdict."""
    # values stay as the Scorecard holds them (fractions); only the display format is percent.
    # What a reader decides on comes first; counts and bookkeeping columns trail.
    first = [
        "dimension",
        "segment",
        "metric",
        "variant",
        "verdict",
        "rel_effect",
        "rel_ci_lower",
        "rel_ci_upper",
        "pvalue",
        "adjusted_pvalue",
        "control_value",
        "treatment_value",
        "abs_effect",
        "abs_ci_lower",
        "abs_ci_upper",
        "cuped",
        "variance_reduction",
    ]
    order = [c for c in first if c in table] + [str(c) for c in table if c not in first]
    st.dataframe(
        _colour(table),
        hide_index=True,
        column_order=order,
        column_config={
            "control_value": _NUM,
            "treatment_value": _NUM,
            "abs_effect": _NUM,
            "abs_ci_lower": _NUM,
            "abs_ci_upper": _NUM,
            "rel_effect": _PCT,
            "rel_ci_lower": _PCT,
            "rel_ci_upper": _PCT,
            "pvalue": _P,
            "adjusted_pvalue": _P,
            "variance_reduction": _PCT,
        },
    )


def sequential_dataframe(rows: pd.DataFrame) -> None:
    """Always-valid vs fixed-horizon intervals of the absolute effect, per metric."""
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            c: _NUM for c in ["abs_effect", "cs_lower", "cs_upper", "abs_ci_lower", "abs_ci_upper"]
        },
    )


def srm_banner(card: Any) -> None:
    """Red banner on a sample ratio mismatch (the scorecard cannot be trusted), else a note."""
    srm = card.srm
    counts = ", ".join(
        f"{k}: {srm.observed.get(k, 0):,} (expected {v:,.0f})" for k, v in srm.expected.items()
    )
    if srm.mismatch:
        st.error(
            f"**Sample ratio mismatch** (χ² p = {srm.pvalue:.2e} < {srm.threshold}): {counts}. "
            "Assignment or exposure logging is broken; do not act on these effects.",
            icon=":material/error:",
        )
    else:
        st.success(f"Sample ratio OK (χ² p = {srm.pvalue:.3f}): {counts}.")
    if srm.multi_variant_units:
        st.warning(
            f"{srm.multi_variant_units:,} units were exposed to two or more variants and "
            "are excluded."
        )
