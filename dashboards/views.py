"""SDK objects → the tidy frames the pages show and the charts draw.

This is the only module that knows the shape of an ``Experiment`` config and of a ``Scorecard``;
pages and charts see frames with fixed columns. The AppTest suite compares what a page renders
against the SDK object itself, so a mistake here fails a test rather than hiding in a picture.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = [
    "METRIC_COLUMNS",
    "bucket_ranges",
    "daily_rows",
    "experiment_rows",
    "forest_rows",
    "independence_rows",
    "interaction_rows",
    "metric_table",
    "primary_verdict",
    "row_verdict",
    "segment_table",
    "sequential_rows",
]

BUCKETS = 10_000

METRIC_COLUMNS: tuple[str, ...] = (
    "metric",
    "role",
    "variant",
    "status",
    "n_control",
    "n_treatment",
    "control_value",
    "treatment_value",
    "abs_effect",
    "abs_ci_lower",
    "abs_ci_upper",
    "rel_effect",
    "rel_ci_lower",
    "rel_ci_upper",
    "pvalue",
    "adjusted_pvalue",
    "cuped",
    "variance_reduction",
)
"""Scorecard fields the metric table shows, in order (names as in ``analysis.MetricRow``)."""


def _p(row: Any) -> float | None:
    # Holm-adjusted where the analysis adjusted (primary + secondary), raw otherwise (guardrails)
    p = row.adjusted_pvalue if row.adjusted_pvalue is not None else row.pvalue
    return None if p is None else float(p)


def row_verdict(row: Any, alpha: float, higher_is_better: bool) -> str:
    """Improvement / regression / not significant / not computed, for one metric row.

    Significance uses the adjusted p-value when there is one, so the colour agrees with the
    multiple-testing correction the scorecard reports.
    """
    from shoplab.analysis.verdict import verdict  # the one verdict rule (metric direction)

    return verdict(row, higher_is_better, alpha)


def primary_verdict(card: Any, higher_is_better: bool) -> str:
    """Verdict of the primary metric (first treatment); SRM overrides: the numbers are suspect."""
    if card.srm.mismatch:
        return "SRM: untrustworthy"
    rows = [r for r in card.rows if r.metric == card.primary_metric]
    if not rows:
        return "not computed"
    return row_verdict(rows[0], card.alpha, higher_is_better)


def metric_table(card: Any, directions: Mapping[str, bool]) -> pd.DataFrame:
    """One row per metric × treatment variant with every number the Scorecard holds for it.

    Args:
        card: the Scorecard.
        directions: metric → higher_is_better (from the metric catalog).
    """
    rows = []
    for r in card.rows:
        d = {c: getattr(r, c) for c in METRIC_COLUMNS}
        d["verdict"] = row_verdict(r, card.alpha, directions.get(r.metric, True))
        d["detail"] = r.detail
        rows.append(d)
    return pd.DataFrame(rows, columns=[*METRIC_COLUMNS, "verdict", "detail"])


def forest_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the metric table that have a relative effect and CI (what the forest plot draws)."""
    cols = ["metric", "variant", "rel_effect", "rel_ci_lower", "rel_ci_upper", "verdict"]
    out = table.dropna(subset=["rel_effect", "rel_ci_lower", "rel_ci_upper"])[cols].copy()
    if out["variant"].nunique() > 1:
        out["metric"] = out["metric"] + " · " + out["variant"]
    return out.reset_index(drop=True)


def sequential_rows(card: Any) -> pd.DataFrame:
    """Always-valid interval of each metric's absolute effect beside the fixed-horizon one.

    ``evidence`` says whether the confidence sequence already excludes zero: then the effect can
    be acted on today, however many times the scorecard was looked at.
    """
    rows = []
    for r in card.rows:
        if r.cs_lower is None or r.cs_upper is None:
            evidence = "not computed"
        elif r.cs_lower > 0 or r.cs_upper < 0:
            evidence = "conclusive"
        else:
            evidence = "keep running"
        rows.append(
            {
                "metric": r.metric,
                "variant": r.variant,
                "abs_effect": r.abs_effect,
                "cs_lower": r.cs_lower,
                "cs_upper": r.cs_upper,
                "abs_ci_lower": r.abs_ci_lower,
                "abs_ci_upper": r.abs_ci_upper,
                "evidence": evidence,
            }
        )
    return pd.DataFrame(rows)


def daily_rows(card: Any, metric: str, variant: str, *, interval: str) -> pd.DataFrame:
    """The cumulative daily series of one metric as ``day, effect, ci_lower, ci_upper``.

    Args:
        card: the scorecard (its ``daily`` looks).
        metric: the metric shown.
        variant: the treatment variant compared with control.
        interval: ``"sequential"`` (always-valid ``cs_*``) or ``"fixed"`` (``abs_ci_*``).
    """
    lo, hi = (
        ("cs_lower", "cs_upper") if interval == "sequential" else ("abs_ci_lower", "abs_ci_upper")
    )
    rows = [
        {
            "day": pd.Timestamp(p.day),
            "effect": p.abs_effect,
            "ci_lower": getattr(p, lo),
            "ci_upper": getattr(p, hi),
            "pvalue": p.pvalue,
            "n_control": p.n_control,
            "n_treatment": p.n_treatment,
            "status": p.status,
        }
        for p in card.daily
        if p.metric == metric and p.variant == variant
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "day",
            "effect",
            "ci_lower",
            "ci_upper",
            "pvalue",
            "n_control",
            "n_treatment",
            "status",
        ],
    ).sort_values("day", ignore_index=True)


def segment_table(card: Any, directions: Mapping[str, bool]) -> pd.DataFrame:
    """One row per segment × metric × variant, with raw and BH-adjusted p-values."""
    cols = ["dimension", "segment", *METRIC_COLUMNS]
    rows = []
    for r in card.segments:
        d = {c: getattr(r, c) for c in cols}
        d["verdict"] = row_verdict(r, card.alpha, directions.get(r.metric, True))
        rows.append(d)
    return pd.DataFrame(rows, columns=[*cols, "verdict"])


def bucket_ranges(
    placements: Mapping[str, Any],
    exps: Mapping[str, Any],
    layers: list[str],
    holdout: tuple[str, int] | None = None,
) -> pd.DataFrame:
    """Each layer's [0, 10000) split into experiment ranges and free space, plus the holdout.

    Stopped experiments are left out: their buckets are free again for new experiments. Layers
    from ``layers.yaml`` with no experiment still get a row (all free). When the layer list is
    known, an experiment outside it (the global holdout, logged as an experiment of its own) is
    not drawn as a layer; ``holdout`` = (key, buckets) draws it as the first row instead, on its
    own hash: [0, buckets) held out, the rest eligible for every layer.
    """
    rows = []
    if holdout is not None:
        key, size = holdout
        rows.append(
            {
                "layer": "global holdout",
                "owner": key,
                "kind": "holdout",
                "start": 0,
                "end": size,
                "status": "running",
            }
        )
        rows.append(
            {
                "layer": "global holdout",
                "owner": "free",
                "kind": "free",
                "start": size,
                "end": BUCKETS,
                "status": "",
            }
        )
    known = set(layers)
    drawn = [p for p in placements.values() if not known or p.layer in known]
    names = list(dict.fromkeys([*layers, *sorted({p.layer for p in drawn})]))
    for layer in names:
        used = sorted(
            (p.start, p.end, p.key)
            for p in drawn
            if p.layer == layer and p.error is None and exps[p.key].status != "stopped"
        )
        for start, end, key in used:
            rows.append(
                {
                    "layer": layer,
                    "owner": key,
                    "kind": "experiment",
                    "start": start,
                    "end": end,
                    "status": exps[key].status,
                }
            )
        cursor = 0
        for start, end, _ in [*used, (BUCKETS, BUCKETS, "")]:
            if start > cursor:
                rows.append(
                    {
                        "layer": layer,
                        "owner": "free",
                        "kind": "free",
                        "start": cursor,
                        "end": start,
                        "status": "",
                    }
                )
            cursor = max(cursor, end)
    return pd.DataFrame(rows, columns=["layer", "owner", "kind", "start", "end", "status"])


def _traffic(exp: Any) -> float:
    if exp.traffic is not None:
        return float(exp.traffic)
    lo, hi = exp.buckets
    return float(hi - lo) / BUCKETS


def experiment_rows(exps: Mapping[str, Any], verdicts: Mapping[str, str]) -> pd.DataFrame:
    """One row per experiment: where it runs, who owns it, what it is judged on, its verdict.

    Args:
        exps: experiment configs keyed by experiment key.
        verdicts: experiment key → verdict of the primary metric (missing: not analyzed yet).
    """
    rows = [
        {
            "experiment": key,
            "layer": exp.layer,
            "status": exp.status,
            "traffic": _traffic(exp),
            "variants": ", ".join(f"{v.key} {v.weight:.0%}" for v in exp.variants),
            "start": exp.start,
            "end": exp.end,
            "primary_metric": exp.metrics.primary,
            "verdict": verdicts.get(key, "not analyzed"),
            "owner": exp.owner,
        }
        for key, exp in sorted(exps.items())
    ]
    return pd.DataFrame(rows)


def independence_rows(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per concurrent experiment: the χ² test that the two layers assign independently."""
    rows = [
        {
            "other": r["other"],
            "other_layer": r["other_layer"],
            "units_both": r["units_both"],
            "chi2": r["independence"]["chi2"],
            "dof": r["independence"]["dof"],
            "pvalue": r["independence"]["pvalue"],
            "dependent": r["independence"]["dependent"],
            "status": r["independence"]["status"],
        }
        for r in results
    ]
    cols = ["other", "other_layer", "units_both", "chi2", "dof", "pvalue", "dependent", "status"]
    return pd.DataFrame(rows, columns=cols)


def interaction_rows(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (concurrent experiment, treatment, other treatment): the interaction effect."""
    cols = [
        "other",
        "metric",
        "variant",
        "other_variant",
        "status",
        "interaction",
        "ci_lower",
        "ci_upper",
        "pvalue",
        "adjusted_pvalue",
        "flagged",
        "detail",
    ]
    rows = [
        {"other": r["other"], **{c: e[c] for c in cols[1:]}} for r in results for e in r["effects"]
    ]
    return pd.DataFrame(rows, columns=cols)


PREFERENCE_COLUMNS: tuple[str, ...] = (
    "outcome",
    "credit_a",
    "credit_b",
    "delta",
    "ci_lower",
    "ci_upper",
    "cs_lower",
    "cs_upper",
    "pvalue",
    "users",
    "requests",
    "status",
)
"""Interleaving preference table fields, in order (names as in ``analysis.PreferenceRow``)."""


def preference_table(card: Any) -> pd.DataFrame:
    """One row per outcome (wins, wins_uncontested, clicks, orders, GMV) of a scorecard."""
    rows = [{c: getattr(r, c) for c in PREFERENCE_COLUMNS} for r in card.rows]
    return pd.DataFrame(rows, columns=list(PREFERENCE_COLUMNS))


TRIGGERED_COLUMNS: tuple[str, ...] = (
    "metric",
    "variant",
    "units",
    "triggered_units",
    "dilution",
    "triggered_effect",
    "triggered_ci_lower",
    "triggered_ci_upper",
    "pvalue",
    "diluted_effect",
    "diluted_ci_lower",
    "diluted_ci_upper",
    "untriggered_effect",
    "untriggered_ci_lower",
    "untriggered_ci_upper",
    "width_ratio",
    "status",
)
"""Triggered-analysis table fields (names as in ``analysis.scorecard.TriggeredRow``)."""


def triggered_table(card: Any) -> pd.DataFrame:
    """One row per metric × treatment of a scorecard's triggered analysis (empty: none run)."""
    rows = [{c: getattr(r, c) for c in TRIGGERED_COLUMNS} for r in getattr(card, "triggered", [])]
    return pd.DataFrame(rows, columns=list(TRIGGERED_COLUMNS))
