"""Trends: the cumulative effect of each metric per day, with its interval band."""

from __future__ import annotations

import streamlit as st

from shoplab.dashboards import charts, data, views

st.title("Trends")
key = data.select_experiment()
card = data.or_stop("The scorecard", data.scorecard, key)
if getattr(card, "type", "ab") == "interleaving":
    st.info(f"{key} is an interleaving experiment: no arms, no daily series (see Scorecard).")
    st.stop()
st.markdown(f"**{card.experiment}** · cumulative absolute effect (treatment − control) per day")
if not card.daily:
    st.info("This scorecard has no daily series (analyzed with `daily=False`).")
    st.stop()

metrics = list(dict.fromkeys(p.metric for p in card.daily))
variants = list(dict.fromkeys(p.variant for p in card.daily))
col1, col2, col3 = st.columns(3)
metric = col1.selectbox(
    "Metric",
    metrics,
    index=metrics.index(card.primary_metric) if card.primary_metric in metrics else 0,
)
variant = col2.selectbox("Variant", variants)
band = col3.radio(
    "Interval",
    ["always-valid", "fixed-horizon"],
    horizontal=True,
    help="Always-valid (confidence sequence) bands may be watched daily; "
    "fixed-horizon ones are valid only at the planned end.",
)
rows = views.daily_rows(
    card, metric, variant, interval="sequential" if band == "always-valid" else "fixed"
)
drawable = rows.dropna(subset=["effect", "ci_lower", "ci_upper"])
st.subheader(f"Cumulative effect on {metric}")
if drawable.empty:
    st.info(
        f"No day of `{metric}` has an effect with an interval yet "
        f"(statuses: {', '.join(sorted(set(rows['status'])))})."
    )
else:
    st.altair_chart(charts.trend_band(drawable, relative=False), width="stretch")
st.dataframe(
    rows,
    hide_index=True,
    column_config={
        c: st.column_config.NumberColumn(format="%.5g") for c in ["effect", "ci_lower", "ci_upper"]
    }
    | {
        "pvalue": st.column_config.NumberColumn(format="%.4f"),
        "day": st.column_config.DateColumn(format="YYYY-MM-DD"),
    },
)
