"""Power: the minimum detectable effect against days and traffic share, from historical data."""

from __future__ import annotations

import streamlit as st

from shoplab.dashboards import charts, data

st.title("Power")
key = data.select_experiment()
exp = data.experiment(key)
metrics = list(
    dict.fromkeys([exp.metrics.primary, *exp.metrics.secondary, *exp.metrics.guardrails])
)
c1, c2, c3, c4 = st.columns(4)
metric = c1.selectbox("Metric", metrics)
alpha = c2.select_slider("α", options=[0.01, 0.05, 0.1], value=0.05)
power = c3.select_slider("Power", options=[0.8, 0.9, 0.95], value=0.8)
cuped = c4.toggle(
    "With CUPED",
    value=True,
    help="MDE after the variance cut CUPED achieves with the pre-period covariate.",
)
shares = (0.05, 0.1, 0.2, 0.5, 1.0)
days = (1, 2, 3, 5, 7, 10, 14)
st.markdown(f"**{key}** · MDE of `{metric}`")
st.caption(
    f"Minimum detectable relative effect of `{metric}` for a two-sided test at α = {alpha} with "
    f"power {power}, {len(exp.variants)} arms sharing the traffic equally; variance measured on "
    "the latest days of data, CUPED from the days before them. Traffic share = share of all users."
)
grid = data.or_stop(
    "Power analysis",
    data.power_grid,
    metric,
    shares,
    days,
    alpha=alpha,
    power=power,
    variants=len(exp.variants),
)
column = "mde_cuped" if cuped else "mde"
plot = grid[grid["status"] == "ok"].assign(mde=lambda g: g[column])
failed = grid[grid["status"] != "ok"]
if not failed.empty:
    st.warning(
        f"{len(failed)} of {len(grid)} cells could not be computed: {failed['status'].iloc[0]}"
    )
if plot.empty:
    st.stop()
st.altair_chart(charts.mde_curves(plot[["days", "traffic_share", "mde"]]), width="stretch")
st.dataframe(
    grid,
    hide_index=True,
    column_config={
        c: st.column_config.NumberColumn(format="percent")
        for c in ["traffic_share", "mde", "mde_cuped", "variance_reduction"]
    },
)
