"""Segments: every metric by one dimension, with Benjamini–Hochberg-adjusted p-values."""

from __future__ import annotations

import streamlit as st

from shoplab.dashboards import data, views
from shoplab.dashboards.tables import metric_dataframe

st.title("Segments")
key = data.select_experiment()
if getattr(data.experiment(key), "type", "ab") == "interleaving":
    st.info(f"{key} is an interleaving experiment: no arms to break down (see Scorecard).")
    st.stop()
dims = data.or_stop("Segment analysis", data.segment_dimensions)
labels = {
    "content_type": "content type",
    "country": "country",
    "platform": "platform",
    "user_type": "new vs returning",
}
requested = st.query_params.get("segment")
if requested is not None and requested not in dims:
    st.error(
        f"Unknown segment dimension `{requested}` in the URL; known: "
        f"{', '.join(f'`{d}`' for d in dims)}."
    )
    st.stop()
dim = st.radio(
    "Break down by",
    dims,
    index=dims.index(requested) if requested else 0,
    format_func=lambda d: labels.get(d, d),
    horizontal=True,
)
st.query_params["segment"] = dim
card = data.or_stop("Segment analysis", data.segment_scorecard, key, dim)
st.markdown(f"**{card.experiment}** by **{labels.get(dim, dim)}**")
st.caption(
    "p-values adjusted with Benjamini–Hochberg across segments (false discovery rate "
    f"at α = {card.alpha}); a segment is coloured only when its adjusted p-value is below α."
)
directions = {r.metric: data.higher_is_better(r.metric) for r in card.rows}
table = views.segment_table(card, directions)
metrics = list(dict.fromkeys(table["metric"]))
chosen = st.multiselect("Metrics", metrics, default=metrics)
metric_dataframe(table[table["metric"].isin(chosen)])
