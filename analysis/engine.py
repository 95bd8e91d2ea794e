"""``analyze()``: experiment → unit table (SQL) → sufficient statistics (SQL) → tests → Scorecard.

The one orchestrator of the analysis. Each step is a named function below, in the order
``analyze`` runs them: check the options, fix the window, scan the event log once (unit table,
caps, daily series), reduce to sufficient statistics, check the sample ratio, build the rows,
the segments, the daily points, the triggered rows (``triggered=True``:
``analysis.triggered_rows``, from the same units) and the cross-layer checks, assemble the
Scorecard. The unit table is built once and handed to the interaction checks explicitly
(:class:`UnitTable`). An interleaving experiment has no arms and its own scorecard type: it is
refused here and read by ``analysis.interleaving.analyze_interleaving``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import NamedTuple

import duckdb

from shoplab.analysis.concentration import concentration_rows
from shoplab.analysis.daily import DailyStatistics, daily_points, daily_statistics
from shoplab.analysis.decision import MAX_FALLBACK_SHARE, decide, fallback_rows
from shoplab.analysis.interactions import interaction_rows
from shoplab.analysis.interleaving import experiment_type
from shoplab.analysis.limits import DAILY_AUTO_MAX_UNITS
from shoplab.analysis.metrics import Metric, get_metric
from shoplab.analysis.reduce import Caps, StatisticsTable, reduce_statistics, winsorize_caps
from shoplab.analysis.replicate import DEFAULT_PRE_DAYS
from shoplab.analysis.rows import (
    RELATIVE_CI_WIDE_G,
    adjust_holm,
    effect_row_fields,
    metric_rows,
    metric_test_options,
    segment_rows,
)
from shoplab.analysis.scorecard import (
    DailyPoint,
    InteractionRow,
    MetricRow,
    Scorecard,
    ScorecardStatus,
    SegmentRow,
    SequentialInfo,
    SrmInfo,
    TriggeredRow,
    VariantInfo,
)
from shoplab.analysis.sequential import DEFAULT_TUNING_N, mixture_rho
from shoplab.analysis.spec import (
    ExperimentLike,
    ExperimentSpec,
    UnknownExperimentError,
    as_spec,
    parse_bound,
    resolve_experiment,
    scorecard_metrics,
)
from shoplab.analysis.srm import SRM_THRESHOLD, SrmTest, srm_test
from shoplab.analysis.triggered_rows import build_triggered_units, triggered_rows
from shoplab.analysis.unit_query import (
    SEGMENT_DIMENSIONS,
    EventTableMissingError,
    SegmentDimension,
    UnitQuery,
    not_available,
    unavailable_metrics,
)
from shoplab.analysis.unit_scan import pre_period_table, scan_units, window_totals
from shoplab.analysis.unit_table import UnitTable, build_unit_table, write_unit_table
from shoplab.analysis.variables import unit_columns_for
from shoplab.core import paths
from shoplab.core.contract import TABLES
from shoplab.core.duck import connect
from shoplab.core.errors import InputError
from shoplab.core.files import parquet_files
from shoplab.events.manifest import LogCheck, check_event_log

__all__ = [
    "DAILY_AUTO_MAX_UNITS",
    "DEFAULT_PRE_DAYS",
    "RELATIVE_CI_WIDE_G",
    "scorecard_status",
    "ExperimentLike",
    "UnknownExperimentError",
    "analyze",
    "effect_row_fields",
    "metric_test_options",
    "resolve_experiment",
]


class _Window(NamedTuple):
    now: datetime
    as_of: datetime
    end: datetime
    """min(experiment end, as_of): the window is [start, end)."""


class _Scan(NamedTuple):
    """What the single read of the event log gives: the table, its caps, the daily series."""

    table: UnitTable
    units: int
    caps: Caps
    series: DailyStatistics | None


def _check_options(alpha: float, pre_days: int, segment: str | None) -> None:
    if not 0 < alpha < 1:
        raise InputError(f"alpha == {alpha}, must be in (0, 1).")
    if pre_days < 1:
        raise InputError(f"pre_days == {pre_days}, must be >= 1.")
    if segment is not None and segment not in SEGMENT_DIMENSIONS:
        raise InputError(
            f"segment == {segment!r}, must be one of: {', '.join(SEGMENT_DIMENSIONS)}."
        )


def _window(exp: ExperimentSpec, as_of: datetime | date | str | None) -> _Window:
    now = datetime.now(UTC)
    as_of_dt = parse_bound(as_of, "as_of") if as_of is not None else now
    if as_of_dt <= exp.start:
        raise InputError(
            f"as_of == {as_of_dt.isoformat()}, must be after the experiment start == "
            f"{exp.start.isoformat()}."
        )
    return _Window(now, as_of_dt, min(exp.end, as_of_dt))


def _scan(
    con: duckdb.DuckDBPyConnection, q: UnitQuery, metrics: Sequence[Metric], daily: bool | None
) -> _Scan:
    """One read of the event log for the unit table and the daily series (``analysis.daily``)."""
    scan = scan_units(con, q)
    n_units = scan.position.size
    run_daily = daily if daily is not None else n_units <= DAILY_AUTO_MAX_UNITS
    # the scorecard's caps, before the unit table exists; the daily series computes each day's
    # own (the cap an as_of run of that day would use, ``analysis.daily.daily_caps``)
    with pre_period_table(con, scan.events) as pre_table:
        caps = winsorize_caps(con, metrics, table=pre_table)
    series = daily_statistics(scan.events, metrics) if run_daily else None
    # the series' final state is the window totals: no separate per-unit sum of the events
    window = series.window if series is not None else window_totals(scan.events)
    write_unit_table(con, q, scan, window)
    table = UnitTable(con, q, "units", scan.multi_variant_units)
    return _Scan(table, n_units, caps, series)


def _srm_warnings(
    exp: ExperimentSpec, counts: Mapping[str, int], multi_variant_units: int
) -> tuple[SrmTest, list[str]]:
    """The sample-ratio test and the warnings about who was counted."""
    srm = srm_test(counts, exp.weights)
    warnings: list[str] = []
    unknown_variants = sorted(set(counts) - {v.key for v in exp.variants})
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
    if multi_variant_units:
        warnings.append(
            f"{multi_variant_units} units were exposed to more than one variant; excluded."
        )
    status = scorecard_status(exp, counts, srm.mismatch)
    if status == "no_exposures":
        warnings.insert(
            0,
            f"UNTRUSTWORTHY: no exposures of {exp.key} in its window as of the analysis: nothing "
            "was assigned or the exposure log is missing (simulate its window with experiments, "
            "or import the exposures); every metric is no_data.",
        )
    elif status == "draft":
        warnings.insert(
            0,
            f"UNTRUSTWORTHY: {exp.key} is a draft: it assigns nobody, so any exposures are not "
            "from this configuration.",
        )
    return srm, warnings


def _require_event_log() -> None:
    """Refuse to analyze a data root without an event log (no scorecard of nothing is saved)."""
    if not any(parquet_files(paths.events_dir(t)) for t, spec in TABLES.items() if spec.daily):
        raise EventTableMissingError(
            f"no event log under {paths.events_dir()}: no daily file of any fact table; "
            "simulate one (shoplab simulate) or import your logs first."
        )


def scorecard_status(
    exp: ExperimentSpec, counts: Mapping[str, int], srm_mismatch: bool
) -> ScorecardStatus:
    """Why a scorecard can be trusted or not: one explicit status, first cause first.

    Example:
        >>> from types import SimpleNamespace
        >>> running, draft = SimpleNamespace(status="running"), SimpleNamespace(status="draft")
        >>> scorecard_status(running, {"control": 0, "treatment": 0}, False)
        'no_exposures'
        >>> scorecard_status(draft, {"control": 5, "treatment": 5}, False)
        'draft'
    """
    if exp.status == "draft":
        return "draft"
    if sum(counts.values()) == 0:
        return "no_exposures"
    return "srm_mismatch" if srm_mismatch else "ok"


def _segment_statistics(
    con: duckdb.DuckDBPyConnection,
    q: UnitQuery,
    segment: SegmentDimension,
    metrics: Sequence[Metric],
    caps: Caps,
) -> StatisticsTable:
    """Statistics per segment value.

    Content types need their own table (an event's content type is its item's); user
    attributes are columns of the unit table already.
    """
    if segment != "content_type":
        return reduce_statistics(con, metrics, caps, by=segment)
    q_ct = UnitQuery(q.experiment, q.start, q.window_end, q.pre_days, q.columns, "content_type")
    build_unit_table(con, q_ct, name="units_ct")
    return reduce_statistics(con, metrics, caps, by=segment, table="units_ct")


def analyze(
    experiment: str | ExperimentLike,
    *,
    experiments: Mapping[str, ExperimentLike] | None = None,
    as_of: datetime | date | str | None = None,
    segment: SegmentDimension | None = None,
    metrics: Sequence[str] | None = None,
    cuped: bool = True,
    alpha: float = 0.05,
    pre_days: int = DEFAULT_PRE_DAYS,
    tuning_n: int = DEFAULT_TUNING_N,
    daily: bool | None = None,
    interactions: bool = True,
    allow_unvalidated: bool = False,
    fallbacks: Mapping[str, int] | None = None,
    fallback_ceiling: float = MAX_FALLBACK_SHARE,
    triggered: bool = False,
) -> Scorecard:
    """Analyse one experiment from the event log and exposures under ``$SHOPLAB_DATA``.

    Reads exactly the validated event log: the files on disk must be those of
    ``events/manifest.json`` (``shoplab.events.manifest``), whose version the scorecard names.

    Args:
        experiment: an object with ``key, layer, variants, start, end, metrics`` (first variant
            = control; ``ExperimentSpec`` or ``experiments.Experiment``), or a key of
            ``experiments``. ``shoplab.analyze`` looks keys up in the configured experiments.
        experiments: the other experiments (a key is looked up here; the interaction checks
            test the concurrent ones of other layers). None: no interaction checks.
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
            of ``experiments`` running at once in another layer (``analysis.interactions``).
        allow_unvalidated: analyse a log never validated, or changed since validation, instead
            of refusing: the scorecard's status is ``unvalidated_log`` (untrustworthy) and its
            first warning names what differs.
        fallbacks: serving fallbacks counted per variant (``shoplab.models.fallbacks``; the SDK
            passes them): a model-served arm that fell back often was not tested as deployed,
            and the decision (``analysis.decision``) says so. Given, the scorecard has a
            ``fallback_rate`` guardrail row per treatment (fallbacks / the arm's requests).
        fallback_ceiling: the largest fallback share an arm may have (default 1 %).
        triggered: also run the triggered analysis (``analysis.triggered_rows``): per metric the
            effect on triggered units (from ``events/triggers``, counted from their first
            triggered request), its dilution to the population (Deng & Hu) and the variance
            reduction against the untriggered estimate, in ``Scorecard.triggered``.

    Raises:
        UnvalidatedLogError: the event log was never validated or changed since (unless
            ``allow_unvalidated``).
        UnknownExperimentError: unknown key.
        analysis.metrics.UnknownMetricError: unknown metric.
        InputError: bad option values (the message names the field, the value and the rule), or
            an interleaving experiment (``analysis.interleaving.analyze_interleaving`` reads it).
        EventTableMissingError: ``triggered`` and no triggers rows for the experiment.
    """
    _check_options(alpha, pre_days, segment)
    _require_event_log()
    log = check_event_log(allow_unvalidated=allow_unvalidated)
    resolved = resolve_experiment(experiment, experiments)
    if experiment_type(resolved) == "interleaving":
        raise InputError(
            f"experiment {resolved.key}: type == 'interleaving', must be analysed with "
            "analysis.interleaving.analyze_interleaving (its own scorecard type; "
            "`shoplab analyze` and shoplab.analyze_interleaving dispatch to it)."
        )
    exp = as_spec(resolved)
    metric_defs, tested = scorecard_metrics(exp, metrics)
    # shop concentration is computed beside the unit table (analysis.concentration), not from it
    conc_defs = [m for m in metric_defs if m.kind == "concentration"]
    regular = [m for m in metric_defs if m.kind != "concentration"]
    # alone, a concentration metric still needs the unit table (units, variants, exposure
    # times): it is built for orders_per_user, whose rows are then left out
    hidden = {"orders_per_user"} if conc_defs and not regular else set()
    if hidden:
        regular = [get_metric("orders_per_user")]
    # a metric whose event table the log does not have is a row saying so, not a failure. It
    # stays in the scan (an absent fact table reads as no events) unless it needs the items or
    # the impressions' slots, which the scan cannot do without
    unavailable = unavailable_metrics(metric_defs)
    all_defs = metric_defs
    metric_defs = [
        m for m in regular if not {"items", "impressions"} & set(unavailable.get(m.name, ()))
    ]
    if not metric_defs:
        raise EventTableMissingError(
            f"metrics == {[m.name for m in all_defs]}, none available on this log: "
            + "; ".join(f"{k}: {not_available(v)}" for k, v in unavailable.items())
            + "."
        )
    window = _window(exp, as_of)
    q = UnitQuery(
        exp.key,
        exp.start,
        window.end,
        pre_days,
        # the fallback guardrail's denominator is the arm's requests (visit_rate's numerator)
        unit_columns_for([*metric_defs, get_metric("visit_rate")] if fallbacks else metric_defs),
        user_attributes=segment in ("country", "platform", "user_type"),
    )
    variant_keys = [v.key for v in exp.variants]
    con = connect(ordered=False)
    try:
        scan = _scan(con, q, metric_defs, daily)
        n_multi = scan.table.multi_variant_units
        stats = reduce_statistics(con, metric_defs, scan.caps)
        counts = {k[0]: int(next(iter(v.values())).n) for k, v in stats.items()}
        srm, warnings = _srm_warnings(exp, counts, n_multi)
        if log.status != "validated":
            warnings.insert(0, f"UNTRUSTWORTHY: {log.describe()}.")
        rows = adjust_holm(
            metric_rows(
                stats,
                metric_defs,
                variant_keys,
                scan.caps,
                cuped=cuped,
                alpha=alpha,
                tuning_n=tuning_n,
            ),
            tested,
        )
        rows += concentration_rows(
            con,
            q,
            [m for m in conc_defs if m.name not in unavailable],
            variant_keys,
            alpha=alpha,
            units=scan.table.name,
        )
        rows = _with_unavailable(rows, all_defs, unavailable, variant_keys, counts)
        rows = [r for r in rows if r.metric not in hidden]
        if fallbacks:
            requests, per = _arm_requests(con), "requests"
            if not any(requests.values()):  # a log without requests: the arms' units instead
                requests, per = dict(counts), "units"
            rows += fallback_rows(
                exp.control, exp.treatments, fallbacks, requests, fallback_ceiling, per=per
            )
        seg_rows: list[SegmentRow] = []
        if segment is not None:
            seg_stats = _segment_statistics(con, q, segment, metric_defs, scan.caps)
            seg_rows = segment_rows(
                seg_stats,
                metric_defs,
                variant_keys,
                scan.caps,
                segment,
                cuped=cuped,
                alpha=alpha,
                tuning_n=tuning_n,
            )
        if daily is None and scan.series is None:
            warnings.append(
                f"daily series skipped: {scan.units:,} units > {DAILY_AUTO_MAX_UNITS:,} "
                "(pass daily=True to force; the metric rows and their always-valid intervals are "
                "unaffected)."
            )
        points = (
            daily_points(
                scan.series, metric_defs, variant_keys, cuped=cuped, alpha=alpha, tuning_n=tuning_n
            )
            if scan.series is not None
            else []
        )
        trig_rows = (
            _triggered(
                con,
                q,
                f"{scan.table.name}_base",
                [m for m in metric_defs if m.name not in hidden],
                variant_keys,
                alpha,
            )
            if triggered
            else []
        )
        # while ``con`` is open: the checks copy this unit table instead of scanning the log
        inter_rows = (
            interaction_rows(exp, experiments, window.as_of, alpha, scan.table, warnings)
            if interactions and experiments is not None
            else []
        )
    finally:
        con.close()
    card = _scorecard(
        exp,
        window,
        q,
        srm,
        counts,
        n_multi,
        _Sections(rows, segment, seg_rows, points, inter_rows, warnings, trig_rows),
        log,
        cuped=cuped,
        alpha=alpha,
        tuning_n=tuning_n,
    )
    return card.model_copy(
        update={
            "decision": decide(
                card.rows,
                {m.name: m for m in all_defs},
                primary=exp.metrics.primary,
                guardrails=list(exp.metrics.guardrails),
                trustworthy=card.trustworthy,
                status=card.status,
                as_of=window.as_of,
                end=exp.end,
                alpha=alpha,
                fallback_ceiling=fallback_ceiling,  # read from the fallback_rate rows
            )
        }
    )


def _triggered(
    con: duckdb.DuckDBPyConnection,
    q: UnitQuery,
    base: str,
    metrics: Sequence[Metric],
    variant_keys: Sequence[str],
    alpha: float,
) -> list[TriggeredRow]:
    """The triggered rows, from the scorecard's own units (``base``) and the triggers."""
    build_triggered_units(con, q, q.columns, base, units=base.removesuffix("_base"))
    return triggered_rows(con, metrics, variant_keys, alpha=alpha)


def _arm_requests(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Requests per variant in the unit table (the fallback guardrail's denominator)."""
    got = con.sql("SELECT variant, sum(requests) FROM units GROUP BY variant").fetchall()
    return {str(v): int(n or 0) for v, n in got}


def _with_unavailable(
    rows: list[MetricRow],
    metrics: Sequence[Metric],
    unavailable: Mapping[str, Sequence[str]],
    variant_keys: Sequence[str],
    counts: Mapping[str, int],
) -> list[MetricRow]:
    """``rows`` with a ``no_data`` row ``not available: …`` for each unavailable metric."""
    if not unavailable:
        return rows
    have = {(r.variant, r.metric): r for r in rows}
    return [
        # validated from a dict: the optional statistics fields stay at their None defaults
        MetricRow.model_validate(
            {
                "metric": m.name,
                "role": m.role,
                "kind": m.kind,
                "variant": vk,
                "status": "no_data",
                "detail": not_available(unavailable[m.name]),
                "n_control": counts.get(variant_keys[0], 0),
                "n_treatment": counts.get(vk, 0),
            }
        )
        if m.name in unavailable
        else have[(vk, m.name)]
        for vk in variant_keys[1:]
        for m in metrics
    ]


class _Sections(NamedTuple):
    rows: list[MetricRow]
    segment: SegmentDimension | None
    segments: list[SegmentRow]
    daily: list[DailyPoint]
    interactions: list[InteractionRow]
    warnings: list[str]
    triggered: list[TriggeredRow]


def _scorecard(
    exp: ExperimentSpec,
    window: _Window,
    q: UnitQuery,
    srm: SrmTest,
    counts: Mapping[str, int],
    n_multi: int,
    parts: _Sections,
    log: LogCheck,
    *,
    cuped: bool,
    alpha: float,
    tuning_n: int,
) -> Scorecard:
    """The Scorecard record: the header (who, when, SRM, sequential tuning) and the sections."""
    return Scorecard(
        experiment=exp.key,
        layer=exp.layer,
        control=exp.control,
        variants=[
            VariantInfo(key=v.key, weight=v.weight, units=counts.get(v.key, 0))
            for v in exp.variants
        ],
        start=exp.start,
        end=exp.end,
        as_of=window.as_of,
        window_end=window.end,
        pre_period_start=q.pre_start,
        generated_at=window.now,
        alpha=alpha,
        cuped=cuped,
        primary_metric=exp.metrics.primary,
        status=(
            status := "unvalidated_log"
            if log.status != "validated"
            else scorecard_status(exp, counts, srm.mismatch)
        ),
        trustworthy=status == "ok",
        warnings=parts.warnings,
        event_log=log,
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
        rows=parts.rows,
        segment_dimension=parts.segment,
        segments=parts.segments,
        daily=parts.daily,
        interactions=parts.interactions,
        triggered=parts.triggered,
    )
