"""``analyze()``: experiment → unit table (SQL) → sufficient statistics (SQL) → tests → Scorecard.

Each metric is analysed in isolation (GrowthBook's per-analysis try): a metric that cannot be
computed gets a row with an explicit status and the rest of the scorecard is still produced.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

import numpy as np
from shoplab.analysis.daily import daily_points, daily_statistics
from shoplab.analysis.metrics import Metric, get_metric, load_metric_catalog
from shoplab.analysis.scorecard import (
    InteractionRow,
    MetricRow,
    RowStatus,
    Scorecard,
    SegmentRow,
    SequentialInfo,
    SrmInfo,
    VariantInfo,
)
from shoplab.analysis.sequential import DEFAULT_TUNING_N, confidence_sequence_halfwidth, mixture_rho
from shoplab.analysis.srm import SRM_THRESHOLD, srm_test
from shoplab.analysis.stats import Effect, SufficientStatistic, two_sample_effect
from shoplab.analysis.units import (
    SEGMENT_DIMENSIONS,
    SegmentDimension,
    UnitQuery,
    build_unit_table,
    connect,
    pre_period_table,
    reduce_statistics,
    scan_units,
    sharing_unit_table,
    unit_columns_for,
    window_totals,
    winsorize_caps,
    write_unit_table,
)
from statsmodels.stats.multitest import multipletests

__all__ = [
    "DAILY_AUTO_MAX_UNITS",
    "DEFAULT_PRE_DAYS",
    "RELATIVE_CI_APPROX_G",
    "ExperimentLike",
    "UnknownExperimentError",
    "analyze",
    "effect_row_fields",
    "resolve_experiment",
    "metric_test_options",
]

DEFAULT_PRE_DAYS = 7
RELATIVE_CI_APPROX_G = 0.1
"""Fieller's g = (z · SE(control) / control)² above which a row says its relative CI is
approximate. The delta-method interval of abs_effect / |control| is the first-order expansion of
Fieller's exact one; they agree closely for g below ~0.1 (the control value's 95 % interval
within ±32 % of it) and part ways as g grows. At g >= 1 the exact interval is unbounded and
none is shown."""
DAILY_AUTO_MAX_UNITS = 12_000_000
"""Above this many units the daily series is skipped unless asked for. Time is not the limit
(the series reuses the unit table's single read of the events: 33.7 s → 39.3 s for the 10M-user
benchmark scorecard), memory is: the window's events are kept by day until the series is done,
and the peak is ≈ 0.75 GB per million units (6.6 GB for 9M), so 12M units stay near 9 GB."""


class UnknownExperimentError(KeyError):
    """An experiment key that is not in ``experiments.load_experiments()``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ExperimentLike(Protocol):
    """What analyze() reads from an experiment (``experiments.Experiment`` satisfies it).

    ``variants``: objects with ``key`` and ``weight`` (first = control); ``metrics``: an object
    with ``primary``, ``secondary`` and ``guardrails``. Read-only properties so that any class
    with these attributes (pydantic model, dataclass) matches.
    """

    @property
    def key(self) -> str: ...
    @property
    def layer(self) -> str: ...
    @property
    def variants(self) -> Sequence[Any]: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def metrics(self) -> Any: ...


def resolve_experiment(experiment: str | ExperimentLike) -> ExperimentLike:
    """Look a key up in ``experiments.load_experiments()``; pass objects through.

    Raises:
        UnknownExperimentError: the key is not configured (the message lists the known keys).
    """
    if not isinstance(experiment, str):
        return experiment
    from shoplab.experiments import (
        load_experiments,  # deferred: the experiments package is optional here
    )

    known = load_experiments()
    if experiment not in known:
        raise UnknownExperimentError(
            f"experiment == {experiment!r}, must be one of: {', '.join(sorted(known)) or '(none)'}."
        )
    found: ExperimentLike = known[experiment]
    return found


def _as_utc(value: datetime | date | str, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} == {value!r}, must be an ISO date or datetime.") from None
    if not isinstance(value, datetime):
        # a date means "through the end of that day"
        return datetime.combine(value, time(), tzinfo=UTC) + timedelta(days=1)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def metric_test_options(metric: Metric) -> dict[str, Any]:
    """Test and ddof per metric kind (see ``analysis.stats.two_sample_effect``)."""
    if metric.kind == "mean":
        return {"test": "welch", "ddof": 1}
    if metric.kind == "proportion":
        return {"test": "z", "ddof": 0}
    return {"test": "z", "ddof": 1}


def _f(x: Any) -> float | None:
    v = float(x)
    return v if np.isfinite(v) else None


def _status(
    metric: Metric, c: SufficientStatistic, t: SufficientStatistic, e: Effect
) -> tuple[RowStatus, str]:
    n_c, n_t = float(c.n), float(t.n)
    if n_c == 0 or n_t == 0:
        return "no_data", f"units: control {int(n_c)}, treatment {int(n_t)}"
    if n_c < 2 or n_t < 2:
        return "too_few_units", f"units: control {int(n_c)}, treatment {int(n_t)}; need >= 2 each"
    if metric.kind == "ratio" and (c.sums[1] == 0 or t.sums[1] == 0):
        return "zero_denominator", (
            f"sum of {metric.denominator}: control {c.sums[1]:g}, treatment {t.sums[1]:g}"
        )
    se = float(e.abs_se)
    if not np.isfinite(se) or se == 0:
        return "zero_variance", "standard error of the effect is 0: the metric is constant"
    if float(e.control_value) == 0:
        return "zero_baseline", "control value is 0: relative effect undefined"
    return "ok", ""


def effect_row_fields(
    metric: Metric,
    control: SufficientStatistic,
    treatment: SufficientStatistic,
    *,
    cuped: bool,
    alpha: float,
    tuning_n: int,
) -> dict[str, Any]:
    """Everything a MetricRow needs for one metric × treatment, status included."""
    opts = metric_test_options(metric)
    e = two_sample_effect(control, treatment, cuped=cuped, alpha=alpha, **opts)
    status, detail = _status(metric, control, treatment, e)
    fields: dict[str, Any] = {
        "metric": metric.name,
        "role": metric.role,
        "kind": metric.kind,
        "status": status,
        "detail": detail,
        "n_control": int(control.n),
        "n_treatment": int(treatment.n),
        "test": "welch_t" if opts["test"] == "welch" else "z",
    }
    if status in ("no_data", "zero_denominator"):
        return fields
    fields |= {"control_value": _f(e.control_value), "treatment_value": _f(e.treatment_value)}
    if status in ("zero_variance", "too_few_units"):
        fields["abs_effect"] = _f(e.abs_effect)
        return fields
    applied = bool(float(e.theta) != 0)
    hw = confidence_sequence_halfwidth(
        e.abs_se, float(control.n + treatment.n), alpha=alpha, tuning_n=tuning_n
    )
    fields |= {
        "abs_effect": _f(e.abs_effect),
        "abs_ci_lower": _f(e.ci_lower),
        "abs_ci_upper": _f(e.ci_upper),
        "pvalue": _f(e.pvalue),
        "cuped": applied,
        "variance_reduction": _f(e.variance_reduction) if applied else None,
        "cs_lower": _f(e.abs_effect - hw),
        "cs_upper": _f(e.abs_effect + hw),
    }
    if cuped and not applied:
        fields["detail"] = "CUPED not applied: no pre-period variation"
    if status == "ok":
        fields["rel_effect"] = _f(e.rel_effect)
        g = float(e.fieller_g)
        note = ""
        if g >= 1:
            # the control value is within its own CI of 0: the exact relative interval is
            # unbounded, and a delta-method one (−659 % to +1553 % on a small segment) misleads
            note = (
                f"relative CI not shown: the control value is not distinguishable from 0 "
                f"(Fieller g = {g:.2f} >= 1); read the absolute effect"
            )
        else:
            fields |= {"rel_ci_lower": _f(e.rel_ci_lower), "rel_ci_upper": _f(e.rel_ci_upper)}
            if g >= RELATIVE_CI_APPROX_G:
                note = f"relative CI approximate (Fieller g = {g:.2f} >= {RELATIVE_CI_APPROX_G})"
        if note:
            fields["detail"] = f"{fields['detail']}; {note}" if fields["detail"] else note
    return fields


def _metric_list(
    exp: ExperimentLike, metrics: Sequence[str] | None
) -> tuple[list[Metric], set[str]]:
    catalog = load_metric_catalog()
    m = exp.metrics
    tested = [m.primary, *m.secondary]
    names = list(metrics) if metrics is not None else [*tested, *m.guardrails]
    if not names:
        raise ValueError("metrics == [], must name at least one metric.")
    seen: dict[str, Metric] = {}
    for name in names:
        seen.setdefault(name, get_metric(name, catalog))
    return list(seen.values()), set(tested)


def analyze(
    experiment: str | ExperimentLike,
    *,
    as_of: datetime | date | str | None = None,
    segment: SegmentDimension | None = None,
    metrics: Sequence[str] | None = None,
    cuped: bool = True,
    alpha: float = 0.05,
    pre_days: int = DEFAULT_PRE_DAYS,
    tuning_n: int = DEFAULT_TUNING_N,
    daily: bool | None = None,
    interactions: bool = True,
) -> Scorecard:
    """Analyse one experiment from the event log and exposures under ``$SHOPLAB_DATA``.

    Args:
        experiment: an experiment key (looked up in ``experiments.load_experiments()``) or an
            object with ``key, layer, variants, start, end, metrics`` (first variant = control).
        as_of: analyse data before this instant (a date means the end of that day, UTC); default
            now. The window is [start, min(end, as_of)).
        segment: also break every metric down by ``content_type``, ``country``, ``platform`` or
            ``user_type`` (new vs returning), with BH-adjusted p-values across segments.
        metrics: metric names (default: the experiment's primary, secondary and guardrails).
        cuped: adjust with pre-period covariates (variance reduction is reported per row).
        alpha: 1 − confidence level.
        pre_days: length of the pre-period before ``start`` (CUPED covariates, winsorization caps).
        tuning_n: N* of the confidence sequence (see ``analysis.sequential``).
        daily: also compute the daily cumulative series (``analysis.daily``: from the same read
            of the events as the unit table). ``None`` (default): only up to
            ``DAILY_AUTO_MAX_UNITS`` exposed units.
        interactions: also test independence and interaction effects against every experiment
            running at once in another layer (``analysis.interactions``); the same pair appears
            in both experiments' scorecards.

    Raises:
        UnknownExperimentError: unknown key.
        analysis.metrics.UnknownMetricError: unknown metric.
        ValueError: bad option values (the message names the field, the value and the rule).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha == {alpha}, must be in (0, 1).")
    if pre_days < 1:
        raise ValueError(f"pre_days == {pre_days}, must be >= 1.")
    if segment is not None and segment not in SEGMENT_DIMENSIONS:
        raise ValueError(
            f"segment == {segment!r}, must be one of: {', '.join(SEGMENT_DIMENSIONS)}."
        )
    exp = resolve_experiment(experiment)
    if len(exp.variants) < 2:
        raise ValueError(f"experiment {exp.key}: variants has {len(exp.variants)}, must be >= 2.")
    metric_defs, tested = _metric_list(exp, metrics)
    now = datetime.now(UTC)
    as_of_dt = _as_utc(as_of, "as_of") if as_of is not None else now
    start, end = _as_utc(exp.start, "start"), _as_utc(exp.end, "end")
    if as_of_dt <= start:
        raise ValueError(
            f"as_of == {as_of_dt.isoformat()}, must be after the experiment start == "
            f"{start.isoformat()}."
        )
    window_end = min(end, as_of_dt)
    q = UnitQuery(
        exp.key,
        start,
        window_end,
        pre_days,
        unit_columns_for(metric_defs),
        user_attributes=segment in ("country", "platform", "user_type"),
    )
    variant_keys = [v.key for v in exp.variants]
    control_key = variant_keys[0]

    con = connect()
    try:
        # one read of the event log for the unit table and the daily series (analysis.daily)
        scan = scan_units(con, q)
        n_multi = scan.multi_variant_units
        n_units = scan.position.size
        run_daily = daily if daily is not None else n_units <= DAILY_AUTO_MAX_UNITS
        # caps first: the daily series applies them day by day, before the unit table exists
        with pre_period_table(con, scan.events) as pre_table:
            caps = winsorize_caps(con, metric_defs, table=pre_table)
        series = daily_statistics(scan.events, metric_defs, caps) if run_daily else None
        # the series' final state is the window totals: no separate per-unit sum of the events
        window = series.window if series is not None else window_totals(scan.events)
        write_unit_table(con, q, scan, window)
        del scan  # the kept events (≈ 5 bytes per window impression) are not needed further
        stats = reduce_statistics(con, metric_defs, caps)
        counts = {k[0]: int(next(iter(v.values())).n) for k, v in stats.items()}
        srm = srm_test(counts, {v.key: float(v.weight) for v in exp.variants})
        warnings: list[str] = []
        unknown_variants = sorted(set(counts) - set(variant_keys))
        if unknown_variants:
            warnings.append(
                f"exposures name variants not in the config: {unknown_variants}; ignored "
                f"({sum(counts[k] for k in unknown_variants)} units)."
            )
        if srm.mismatch:
            warnings.insert(
                0,
                f"UNTRUSTWORTHY: sample-ratio mismatch (chi2 p = {srm.pvalue:.2e} < "
                f"{SRM_THRESHOLD}); observed {srm.observed}, expected "
                f"{ {k: round(v, 1) for k, v in srm.expected.items()} }. Do not ship on these "
                "numbers: fix assignment / exposure logging first.",
            )
        if n_multi:
            warnings.append(f"{n_multi} units were exposed to more than one variant; excluded.")
        empty = {m.name: SufficientStatistic.from_units(np.zeros((0, 4))) for m in metric_defs}

        def stat(
            variant: str,
            seg: str | None = None,
            table: dict[tuple[str, str | None], dict[str, SufficientStatistic]] = stats,
        ) -> dict[str, SufficientStatistic]:
            return table.get((variant, seg), empty)

        rows: list[MetricRow] = []
        for vk in variant_keys[1:]:
            for m in metric_defs:
                rows.append(
                    MetricRow(
                        variant=vk,
                        winsorize_cap=_cap(caps, m),
                        **_safe_fields(
                            m, stat(control_key)[m.name], stat(vk)[m.name], cuped, alpha, tuning_n
                        ),
                    )
                )
        rows = _holm(rows, tested)

        seg_rows: list[SegmentRow] = []
        if segment is not None:
            if segment == "content_type":
                q_ct = UnitQuery(exp.key, start, window_end, pre_days, q.columns, "content_type")
                build_unit_table(con, q_ct, name="units_ct")
                seg_stats = reduce_statistics(con, metric_defs, caps, by=segment, table="units_ct")
            else:
                seg_stats = reduce_statistics(con, metric_defs, caps, by=segment)
            values = sorted({k[1] for k in seg_stats if k[1] is not None})
            for vk in variant_keys[1:]:
                for m in metric_defs:
                    for s in values:
                        seg_rows.append(
                            SegmentRow(
                                variant=vk,
                                dimension=segment,
                                segment=s,
                                winsorize_cap=_cap(caps, m),
                                **_safe_fields(
                                    m,
                                    stat(control_key, s, seg_stats)[m.name],
                                    stat(vk, s, seg_stats)[m.name],
                                    cuped,
                                    alpha,
                                    tuning_n,
                                ),
                            )
                        )
            seg_rows = _bh(seg_rows)

        if daily is None and not run_daily:
            warnings.append(
                f"daily series skipped: {n_units:,} units > {DAILY_AUTO_MAX_UNITS:,} "
                "(pass daily=True to force; the metric rows and their always-valid intervals are "
                "unaffected)."
            )
        points = (
            daily_points(
                series, metric_defs, variant_keys, cuped=cuped, alpha=alpha, tuning_n=tuning_n
            )
            if series is not None
            else []
        )
        # before the Scorecard is built: its checks may add warnings; while ``con`` is open, so
        # that their unit_aggregates() copies this unit table instead of scanning the log again
        inter_rows: list[InteractionRow] = []
        if interactions:
            with sharing_unit_table(con, q, "units", n_multi):
                inter_rows = _interaction_rows(exp, as_of_dt, alpha, warnings)
    finally:
        con.close()
    return Scorecard(
        experiment=exp.key,
        layer=str(exp.layer),
        control=control_key,
        variants=[
            VariantInfo(key=v.key, weight=float(v.weight), units=counts.get(v.key, 0))
            for v in exp.variants
        ],
        start=start,
        end=end,
        as_of=as_of_dt,
        window_end=window_end,
        pre_period_start=q.pre_start,
        generated_at=now,
        alpha=alpha,
        cuped=cuped,
        primary_metric=exp.metrics.primary,
        trustworthy=not srm.mismatch,
        warnings=warnings,
        srm=SrmInfo(
            chi2=srm.chi2,
            pvalue=srm.pvalue,
            threshold=SRM_THRESHOLD,
            mismatch=srm.mismatch,
            observed=srm.observed,
            expected=srm.expected,
            multi_variant_units=n_multi,
        ),
        sequential=SequentialInfo(alpha=alpha, tuning_n=tuning_n, rho=mixture_rho(tuning_n, alpha)),
        rows=rows,
        segment_dimension=segment,
        segments=seg_rows,
        daily=points,
        interactions=inter_rows,
    )


def _interaction_rows(
    exp: ExperimentLike, as_of: datetime, alpha: float, warnings: list[str]
) -> list[InteractionRow]:
    """Cross-layer checks as scorecard rows; a failure becomes a warning, not a lost scorecard."""
    from shoplab.analysis.interactions import interactions as cross_layer

    if str(exp.layer) == "holdout":  # holdout units are in no experiment: no pairs to test
        return []
    try:
        results = cross_layer(exp, as_of=as_of, alpha=alpha)
    except Exception as exc:  # isolate: the metric rows stay valid without this section
        warnings.append(f"interaction checks not computed: {type(exc).__name__}: {exc}")
        return []
    rows: list[InteractionRow] = []
    for res in results:
        for eff in res.effects or ():
            rows.append(
                InteractionRow(
                    other_experiment=res.other,
                    other_layer=res.other_layer,
                    units_both=res.units_both,
                    independence_pvalue=res.independence.pvalue,
                    dependent=res.independence.dependent,
                    metric=eff.metric,
                    variant=eff.variant,
                    other_variant=eff.other_variant,
                    status=eff.status,
                    interaction=eff.interaction,
                    ci_lower=eff.ci_lower,
                    ci_upper=eff.ci_upper,
                    pvalue=eff.pvalue,
                    adjusted_pvalue=eff.adjusted_pvalue,
                    flagged=eff.flagged,
                )
            )
        if res.independence.dependent:
            warnings.append(
                f"assignments of {exp.key} and {res.other} ({res.other_layer}) are not "
                f"independent (χ² p = {res.independence.pvalue:.2g}): check the layer salts."
            )
    flagged = sorted({r.other_experiment for r in rows if r.flagged})
    if flagged:
        warnings.append(f"interaction with {', '.join(flagged)} on {exp.metrics.primary}.")
    return rows


def _cap(caps: dict[str, tuple[float, float] | None], m: Metric) -> float | None:
    c = caps.get(m.name)
    return c[1] if c else None


def _safe_fields(
    m: Metric,
    c: SufficientStatistic,
    t: SufficientStatistic,
    cuped: bool,
    alpha: float,
    tuning_n: int,
) -> dict[str, Any]:
    try:
        return effect_row_fields(m, c, t, cuped=cuped, alpha=alpha, tuning_n=tuning_n)
    except Exception as exc:  # noqa: BLE001 - isolate one metric's failure, report it in its row
        return {
            "metric": m.name,
            "role": m.role,
            "kind": m.kind,
            "status": "error",
            "detail": f"{type(exc).__name__}: {exc}",
            "n_control": int(c.n),
            "n_treatment": int(t.n),
        }


def _holm(rows: list[MetricRow], tested: set[str]) -> list[MetricRow]:
    """Holm across primary + secondary metrics (all treatment variants); guardrails unadjusted."""
    idx = [i for i, r in enumerate(rows) if r.metric in tested and r.pvalue is not None]
    if not idx:
        return rows
    adj = multipletests([rows[i].pvalue for i in idx], method="holm")[1]
    out = list(rows)
    for i, p in zip(idx, adj, strict=True):
        out[i] = rows[i].model_copy(update={"adjusted_pvalue": float(p)})
    return out


def _bh(rows: list[SegmentRow]) -> list[SegmentRow]:
    """Benjamini–Hochberg across the segments of each (metric, variant)."""
    out = list(rows)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        if r.pvalue is not None:
            groups.setdefault((r.metric, r.variant), []).append(i)
    for idx in groups.values():
        adj = multipletests([rows[i].pvalue for i in idx], method="fdr_bh")[1]
        for i, p in zip(idx, adj, strict=True):
            out[i] = rows[i].model_copy(update={"adjusted_pvalue": float(p)})
    return out
