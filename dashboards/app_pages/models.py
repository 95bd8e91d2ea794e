"""Models: registered versions, offline metrics, calibration, importance, deployment, fallbacks."""

from __future__ import annotations

import streamlit as st

from shoplab.core.errors import ShoplabError
from shoplab.dashboards import charts, data, models_registry

st.title("Models")
st.caption(
    "Ranking models registered in MLflow (`shoplab models train`), as the rank layer deploys "
    "them (`params: {model: NAME@ALIAS}`). Offline metrics are on each version's valid window, "
    "every impression scored at the top position as serving scores it."
)
table = data.or_stop("The model registry", models_registry.versions)
if table.empty:
    st.info("No model registered yet: `shoplab models train NAME --service ranker_v2 ...`.")
    st.stop()
st.subheader("Versions")
st.dataframe(table, hide_index=True, width="stretch")

st.subheader("Deployed in the rank layer")
deployed = data.or_stop("The deployments", models_registry.deployments)
if deployed.empty:
    st.info("No rank-layer variant names a model (`params: {model: ...}`).")
else:
    unresolved = deployed[deployed["version"].isna()]
    if not unresolved.empty:
        st.error(
            "Variants whose model does not resolve (serving falls back to the control ranker): "
            + "; ".join(
                f"{r.experiment}/{r.variant} → {r.reference}" for r in unresolved.itertuples()
            )
        )
    st.dataframe(deployed, hide_index=True, width="stretch")

st.subheader("Offline vs online")
st.caption(
    "Per model-served arm of a rank experiment: the offline GAUC / NDCG@10 gain of its model over "
    "the control arm's model (each on its own valid window), beside the online CTR and GMV lift "
    "the saved scorecard measured, and whether the GAUC gain and the CTR lift agree in sign."
)
compared = models_registry.offline_online()
if compared.empty:
    st.info("No analyzed rank experiment serves models yet (`make demo` runs one).")
else:
    disagree = compared[compared["agree"] == False]  # noqa: E712 - pandas element-wise
    if not disagree.empty:
        st.warning(
            "Offline and online disagree in sign for "
            + ", ".join(f"{r.experiment}/{r.variant}" for r in disagree.itertuples())
            + ": the offline metric did not predict the product's."
        )
    st.dataframe(compared, hide_index=True, width="stretch")

st.subheader("Serving fallbacks")
fallbacks = models_registry.fallbacks()
if fallbacks.empty:
    st.success("No fallback counted: every model-served request was served by its own model.")
else:
    st.error(
        f"{int(fallbacks['count'].sum()):,} requests were served by the control ranker (or the "
        "incoming order) instead of their variant's model."
    )
    st.dataframe(fallbacks, hide_index=True, width="stretch")

st.subheader("One version")
refs = table["model"].tolist()
ref = st.selectbox("Model version", refs, index=len(refs) - 1)
left, right = st.columns(2)
with left:
    st.markdown("**Calibration** (valid window, deciles of the prediction)")
    bins = models_registry.calibration(ref)
    if bins.empty:
        st.info(f"`{ref}` recorded no calibration.")
    else:
        st.altair_chart(charts.calibration_plot(bins), width="stretch")
with right:
    st.markdown("**Feature importance**")
    try:
        importance = models_registry.importance(ref)
    except ShoplabError as exc:  # a pyfunc shoplab did not train, an unloadable artifact
        st.info(f"`{ref}`: {exc}")
    else:
        st.dataframe(importance, hide_index=True, width="stretch")
