"""Scorecard: the metric table, a forest plot of relative effects, SRM and sequential status."""

from __future__ import annotations

import streamlit as st

from shoplab.dashboards import charts, data, models_registry, tables, views

st.title("Scorecard")
key = data.select_experiment()
card = data.or_stop("The scorecard", data.scorecard, key)

if getattr(card, "type", "ab") == "interleaving":
    # its own scorecard type (analysis.interleaving): one list per request, no arms
    st.markdown(
        f"**{card.experiment}** · interleaving · layer `{card.layer}` · A = `{card.ranker_a}`, "
        f"B = `{card.ranker_b}` · window {card.start:%Y-%m-%d} → "
        f"{card.window_end:%Y-%m-%d %H:%M} UTC · {card.users:,} users, "
        f"{card.requests:,} requests"
    )
    say = {"ship": st.success}.get(card.decision.decision, st.info)
    say(
        f"Decision: **{card.decision.decision}** ({card.decision.horizon}). "
        + " ".join(f"{r}." for r in card.decision.reasons)
    )
    for warning in card.warnings:
        st.warning(warning)
    st.caption(card.event_log.describe() if card.event_log else "event log: not recorded")
    st.subheader("Preference")
    st.caption(
        "Δ = (B − A) per request: wins (requests where B's credited clicks beat A's, minus the "
        "reverse; the verdict's test), wins_uncontested (the same with a contested slot's click "
        "credited to neither), then credited clicks, orders and GMV; intervals clustered by user "
        f"(delta method), α = {card.alpha}. Requests won: A {card.wins_a:,}, B {card.wins_b:,}, "
        f"ties {card.ties:,}; clicks on contested slots {card.contested_clicks:,} of "
        f"{card.clicks:,} (credited by team, the coin flip's, in wins)."
    )
    st.dataframe(views.preference_table(card), hide_index=True)
    st.stop()

st.markdown(
    f"**{card.experiment}** · layer `{card.layer}` · control `{card.control}` · "
    f"window {card.start:%Y-%m-%d} → {card.window_end:%Y-%m-%d %H:%M} UTC · "
    f"as of {card.as_of:%Y-%m-%d %H:%M} UTC · primary metric `{card.primary_metric}`"
)
tables.srm_banner(card)
# the decision (analysis.decision): the same words as the CLI, the demo and the JSON
if card.decision is not None:
    say = {"ship": st.success, "stop for harm": st.error}.get(card.decision.decision, st.info)
    say(
        f"Decision: **{card.decision.decision}** ({card.decision.horizon}). "
        + " ".join(f"{r}." for r in card.decision.reasons)
    )
for warning in card.warnings:
    st.warning(warning)
# which version of the event log this scorecard read (shoplab.events.manifest)
st.caption(card.event_log.describe() if card.event_log else "event log: not recorded")
# which model version each arm serves (only experiments whose variants name a model: the
# registry costs an MLflow import)
if any("model" in (v.params or {}) for v in data.experiment(key).variants):
    served = models_registry.model_version(key)
    st.caption(
        "Models served: "
        + "; ".join(f"`{variant}` → `{version}`" for variant, version in served.items())
    )

directions = {r.metric: data.higher_is_better(r.metric) for r in card.rows}
table = views.metric_table(card, directions)
st.subheader("Metrics")
st.caption(
    f"α = {card.alpha}; adjusted p-values are Holm across the primary and secondary metrics. "
    f"CUPED {'on' if card.cuped else 'off'} (pre-period covariate from "
    f"{card.pre_period_start:%Y-%m-%d}). Green: significant improvement; red: significant harm."
)
tables.metric_dataframe(table)

trig = views.triggered_table(card)
if not trig.empty:
    st.subheader("Triggered analysis")
    st.caption(
        "Triggered units counted from their first triggered request; diluted: Deng & Hu (the "
        "dilution is the trigger rate, or for ratio metrics the triggered share of the "
        "denominator); untriggered: all units, no CUPED. Width ratio < 1: variance reduction."
    )
    st.dataframe(trig, hide_index=True)

st.subheader("Relative effects")
forest = views.forest_rows(table)
if forest.empty:
    st.info("No metric has a relative effect with an interval yet.")
else:
    st.altair_chart(charts.forest_plot(forest), width="stretch")

st.subheader("Sequential status")
seq = card.sequential
st.caption(
    f"{seq.method}; α = {seq.alpha}, tuned for N* = {seq.tuning_n:,} units. The always-valid "
    "interval can be checked every day without inflating false positives: an effect is "
    "conclusive once it excludes zero."
)
tables.sequential_dataframe(views.sequential_rows(card))
