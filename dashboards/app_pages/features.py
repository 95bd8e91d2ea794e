"""Features: the Feast registry, online-store freshness, feature distributions, online = offline."""

from __future__ import annotations

import streamlit as st

from shoplab.dashboards import charts, feature_registry
from shoplab.dashboards.data import MissingDependency

st.title("Features")
st.caption(f"Feast repo `{feature_registry.REPO_PATH}`")

try:
    reg = feature_registry.registry()
except MissingDependency as exc:
    st.warning(
        f"The feature store is not available: {exc} Run `shoplab demo` (or "
        "`shoplab features build` then `feast -c feature_repo apply`)."
    )
    st.stop()

if reg.feature_views.empty:
    st.info(
        "The Feast registry has no feature views: run `shoplab features build` and "
        "`feast -c feature_repo apply` (or `shoplab demo`)."
    )
    st.stop()

st.subheader("Entities")
st.dataframe(reg.entities, hide_index=True, width="stretch")

st.subheader("Feature views")
st.dataframe(
    reg.feature_views[["feature_view", "entities", "features", "ttl", "online", "owner", "source"]],
    hide_index=True,
    width="stretch",
)
if not reg.on_demand_views.empty:
    st.markdown("**On-demand feature views** (computed at request time)")
    st.dataframe(reg.on_demand_views, hide_index=True, width="stretch")

st.subheader("Feature services")
st.dataframe(reg.feature_services, hide_index=True, width="stretch")

st.subheader("Online store freshness")
st.caption(
    "The online store applies each view's ttl at read time for every reader (`feast serve` "
    "included; Feast's own stores do not, feast #6821): a row older than its ttl is served as "
    "null. `online_behind_hours` is how far the newest offline row is ahead of the last "
    "materialization; `event_log` is the version of the validated event log the online rows "
    "were built from."
)
fresh = reg.feature_views[
    [
        "feature_view",
        "ttl",
        "last_materialized",
        "newest_offline_row",
        "online_behind_hours",
        "online_age_hours",
        "event_log",
    ]
]
never = fresh[fresh["last_materialized"].isna()]["feature_view"].tolist()
if never:
    st.warning(f"Never materialized to the online store: {', '.join(never)}.")
behind = fresh[fresh["online_behind_hours"].fillna(0) > 0]["feature_view"].tolist()
if behind:
    st.warning(
        f"The online store lags the offline tables for: {', '.join(behind)}. "
        "Run `feast -c feature_repo materialize-incremental <now>`."
    )
hours = st.column_config.NumberColumn(format="%.1f h")
st.dataframe(
    fresh,
    hide_index=True,
    width="stretch",
    column_config={"online_behind_hours": hours, "online_age_hours": hours},
)

st.subheader("Distributions and null rates")
names = reg.feature_views["feature_view"].tolist()
if not names:
    st.info("No feature views are registered.")
    st.stop()
view = st.selectbox("Feature view", names)
sample, stats = feature_registry.feature_sample(view)
st.caption(f"{len(sample):,} rows of the newest offline snapshot of `{view}` (by entity key)")
st.dataframe(
    stats,
    hide_index=True,
    width="stretch",
    column_config={"null_rate": st.column_config.NumberColumn(format="percent")},
)
numeric = [c for c in sample.columns if sample[c].dtype.kind in "fiu"]
if numeric:
    feature = st.selectbox("Feature", numeric)
    st.altair_chart(charts.distribution(sample[[feature]], feature), width="stretch")

st.subheader("Online / offline consistency")
check = feature_registry.consistency(view)
if check.as_of is None:
    st.info(f"`{view}` has not been materialized yet: nothing to compare.")
elif not check.consistent:
    st.error(
        f"`{view}` as of {check.as_of:%Y-%m-%d %H:%M} UTC: {check.online_keys:,} online keys for "
        f"{check.offline_keys:,} offline keys ({check.orphans:,} orphans online, "
        f"{check.missing:,} missing online); {check.mismatches:,} of {check.compared:,} values "
        "differ from the newest offline row."
    )
    st.dataframe(check.rows, hide_index=True, width="stretch")
else:
    st.success(
        f"`{view}`: the online store equals the offline tables as of "
        f"{check.as_of:%Y-%m-%d %H:%M} UTC: the same {check.online_keys:,} keys, all "
        f"{check.compared:,} values."
    )
