"""Experiments: every experiment with its layer, status, traffic, dates, primary metric, verdict."""

from __future__ import annotations

import streamlit as st

from shoplab.dashboards import charts, data, views
from shoplab.dashboards.data import MissingDependency

st.title("Experiments")
try:
    exps = data.experiments()
except MissingDependency as exc:
    st.warning(f"Experiments are not available: {exc}")
    st.stop()
if not exps:
    st.info("No experiments are configured. Add a YAML file under `experiments/configs/`.")
    st.stop()

rows = views.experiment_rows(exps, data.verdicts())
# relative link: works behind any base URL path the server is mounted at
rows["scorecard"] = "./scorecard?experiment=" + rows["experiment"]
st.dataframe(
    rows,
    hide_index=True,
    column_config={
        "scorecard": st.column_config.LinkColumn("scorecard", display_text="open"),
        "traffic": st.column_config.NumberColumn(format="percent"),
        "start": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "end": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    },
)

st.subheader("Bucket map")
st.caption(
    "Each layer hashes every unit into 10,000 buckets with its own salt: experiments in one layer "
    "own disjoint ranges (mutually exclusive), layers are independent (orthogonal). The global "
    "holdout is carved out before every layer."
)
try:
    ranges, holdout_share = data.bucket_map()
except MissingDependency as exc:
    st.warning(f"The bucket map is not available: {exc}")
    st.stop()
if holdout_share:
    st.markdown(f"Global holdout: **{holdout_share:.2%}** of units, excluded from every layer.")
st.altair_chart(charts.bucket_map(ranges), width="stretch")
with st.expander("Bucket ranges"):
    st.dataframe(ranges, hide_index=True)
