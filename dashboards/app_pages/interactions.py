"""Interactions: do experiments running at once in different layers interfere?"""

from __future__ import annotations

import streamlit as st

from shoplab.dashboards import data, views

st.title("Interactions")
key = data.select_experiment()
st.caption(
    "For every experiment running at the same time in another layer: a χ² test that the two "
    "assignments are independent (orthogonal layers; dependent when p < 0.001), and the "
    "interaction effect on the primary metric (difference in differences over the 2×2 of "
    "variants, Holm-adjusted)."
)
checks = data.or_stop("Interaction checks", data.interactions, key)
if checks is None:
    st.info(
        f"Cross-layer interaction checks for `{key}` are not computed yet: neither the scorecard "
        "has an `interactions` section nor does `analysis.interactions.interactions` exist. "
        "Nothing is shown rather than a guess."
    )
    st.stop()
if not checks:
    st.success(
        f"No experiment in another layer runs at the same time as `{key}`: nothing to check."
    )
    st.stop()
independence = views.independence_rows(checks)
if (independence["units_both"] == 0).all():
    st.info(
        f"No unit has been exposed to both `{key}` and any of its {len(checks)} concurrent "
        "experiments yet: nothing to test."
    )
effects = views.interaction_rows(checks)
dependent = independence[independence["dependent"]]["other"].tolist()
flagged = effects[effects["flagged"]]["other"].unique().tolist()
if dependent:
    st.error(
        f"Assignments of `{key}` are not independent of {', '.join(f'`{o}`' for o in dependent)}: "
        "the layers are not orthogonal (shared salt, or one layer hashed off another)."
    )
if flagged:
    st.error(
        f"Interaction effect with {', '.join(f'`{o}`' for o in flagged)}: this experiment's effect "
        "depends on which variant of the other experiment a unit gets."
    )
if not dependent and not flagged and (independence["units_both"] > 0).any():
    st.success(
        f"No dependence and no interaction effect flagged for `{key}` "
        f"across {len(checks)} concurrent experiments."
    )
st.subheader("Assignment independence")
st.dataframe(
    independence,
    hide_index=True,
    column_config={"pvalue": st.column_config.NumberColumn(format="%.4f")},
)
st.subheader("Interaction effects")
num = st.column_config.NumberColumn(format="%.5g")
st.dataframe(
    effects,
    hide_index=True,
    column_config={
        "interaction": num,
        "ci_lower": num,
        "ci_upper": num,
        "pvalue": st.column_config.NumberColumn(format="%.4f"),
        "adjusted_pvalue": st.column_config.NumberColumn(format="%.4f"),
    },
)
