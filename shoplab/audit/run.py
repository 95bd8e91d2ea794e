"""``run_audit``: simulate once, aggregate once, then every check on re-hashed assignments."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from shoplab.analysis import analyze, analyze_assignments, unit_aggregates
from shoplab.audit.checks import (
    aa_checks,
    acceptance_band,
    coverage_checks,
    cuped_checks,
    drop_treatment_units,
    sequential_checks,
    srm_check,
)
from shoplab.audit.interleaving import interleaving_aa_check, logged_lists
from shoplab.audit.rehash import rehash_assignments
from shoplab.audit.results import AuditReport, DatasetInfo, SimulatedEffectCheck, SrmCheck
from shoplab.audit.settings import AuditSettings
from shoplab.audit.world import (
    AA_KEY,
    AUDITED_METRICS,
    EFFECT_KEY,
    audit_experiments,
    data_root_at,
    simulate_world,
    window,
)
from shoplab.core.paths import data_root
from shoplab.simulator import ExperimentPolicy

__all__ = ["COVERAGE_METRICS", "audit_dir", "run_audit"]

COVERAGE_METRICS: tuple[str, ...] = ("ctr", "cvr", "gmv_per_user")
"""A multiplicative lift is defined for means and ratios; 1[orders > 0] (buyer_rate) does not
scale, so coverage is audited on these three."""

Step = Callable[[str], None]


def audit_dir() -> Path:
    """``$SHOPLAB_DATA/audit``: the audit's world and its saved reports."""
    return data_root() / "audit"


def _simulated_effect(settings: AuditSettings) -> tuple[SimulatedEffectCheck, ...]:
    exp = audit_experiments(settings)[EFFECT_KEY]
    card = analyze(exp, metrics=["ctr", "cvr"], daily=False, as_of=exp.end)
    truth = {"ctr": settings.click_mult - 1.0, "cvr": 0.0}
    out = []
    for row in card.rows:
        t = truth[row.metric]
        lo, hi = row.rel_ci_lower, row.rel_ci_upper
        out.append(
            SimulatedEffectCheck(
                metric=row.metric,
                true_rel_effect=t,
                rel_effect=row.rel_effect,
                rel_ci_lower=lo,
                rel_ci_upper=hi,
                pvalue=row.pvalue,
                status=row.status,
                covered=lo is not None and hi is not None and lo <= t <= hi,
            )
        )
    return tuple(out)


def _policy_srm(settings: AuditSettings) -> tuple[SrmCheck, ...]:
    """SRM on the exposure log the experiment policy writes for ``srm_units`` active users."""
    exp = audit_experiments(settings)[AA_KEY]
    start = exp.start
    policy = ExperimentPolicy({AA_KEY: exp}, holdout=False)
    ids = np.arange(1, settings.srm_units + 1, dtype=np.int64)
    active = pl.DataFrame(
        {"user_id": ids, "first_ts": pl.Series([start] * ids.size, dtype=pl.Datetime("us", "UTC"))}
    )
    decision = policy(start.date(), active)
    first = (
        decision.exposures.filter(pl.col("experiment") == AA_KEY)
        .group_by("unit_id")
        .agg(pl.col("variant").sort_by("ts").first())
    )
    weights = {v.key: v.weight for v in exp.variants}
    treatment = exp.variants[1].key
    broken = drop_treatment_units(first, treatment, settings.srm_drop, settings.seed)
    return (
        srm_check(first, weights, source="policy_log", broken=False, dropped_share=0.0),
        srm_check(
            broken, weights, source="policy_log", broken=True, dropped_share=settings.srm_drop
        ),
    )


def run_audit(
    settings: AuditSettings | None = None,
    *,
    root: Path | None = None,
    on_step: Step | None = None,
) -> AuditReport:
    """Run the calibration audit end to end and return its report.

    Simulates the audit world (two experiments through ``ExperimentPolicy``) into ``root``
    (default ``$SHOPLAB_DATA/audit/world``, so the demo's event log is never touched), runs the
    unit-level SQL once, and checks on ``settings.replications`` fresh-salt re-hashes: A/A
    false-positive rates (50/50, and at ``settings.unbalanced_share`` where skewness does not
    cancel; the interleaving preference test on re-drawn coin flips), coverage of a known lift
    and power, always-valid vs naive peeking with a
    look per day, CUPED variance reduction; then the simulator-injected effect through
    ``analysis.analyze`` and SRM on intact and broken exposure logs.

    Args:
        settings: sizes, seeds and bands (default ``AuditSettings()``).
        root: data root of the audit world.
        on_step: called with a description before each step (progress display).

    Returns:
        The frozen :class:`AuditReport` (``report.passed`` says whether every gated check passed).
    """
    s = settings or AuditSettings()
    step = on_step or (lambda _: None)
    t0 = time.perf_counter()
    world_root = root or audit_dir() / "world"
    exps = audit_experiments(s)
    aa = exps[AA_KEY]
    with data_root_at(world_root):
        step(f"simulate {s.users:,} users × {s.pre_days + s.experiment_days} days")
        sim = simulate_world(s)
        step("unit-level aggregates (SQL, once)")
        units = unit_aggregates(aa, metrics=list(AUDITED_METRICS), pre_days=s.pre_days)
        ids = units.table.get_column("unit_id").to_numpy()
        step(f"re-hash {ids.size:,} units with {s.replications:,} fresh salts")
        assign = rehash_assignments(ids, s.replications, f"audit_rehash_{s.seed}")
        step("A/A false-positive rates (with and without CUPED)")
        plain, adjusted = (
            analyze_assignments(units, assign, cuped=c, alpha=s.alpha, metrics=AUDITED_METRICS)
            for c in (False, True)
        )
        aa_res = aa_checks({False: plain, True: adjusted}, s.alpha, s.band_alpha, s.fpr_band)
        if s.unbalanced_share is not None:
            step(f"A/A with {s.unbalanced_share:.0%} of units in treatment")
            skewed = rehash_assignments(
                ids, s.replications, f"audit_rehash_{s.seed}_unbalanced", s.unbalanced_share
            )
            uneven = analyze_assignments(
                units, skewed, cuped=True, alpha=s.alpha, metrics=AUDITED_METRICS
            )
            aa_res += aa_checks(
                {True: uneven}, s.alpha, s.band_alpha, s.fpr_band, s.unbalanced_share
            )
        if s.interleaving_requests:
            step(
                f"interleaving A/A: {s.replications:,} re-drawn coin flips on "
                f"{s.interleaving_requests:,} logged requests"
            )
            aa_res += (
                interleaving_aa_check(
                    logged_lists(s.interleaving_requests, seed=s.seed),
                    replications=s.replications,
                    alpha=s.alpha,
                    band=s.fpr_band or acceptance_band(s.alpha, s.replications, s.band_alpha),
                    seed=f"audit_interleaving_{s.seed}",
                ),
            )
        cuped_res = cuped_checks(plain, adjusted, ["gmv_per_user", "ctr", "cvr"])
        step(f"coverage of a known +{s.lift:.0%} lift")
        lifted = analyze_assignments(
            units, assign, cuped=True, alpha=s.alpha, metrics=COVERAGE_METRICS, lift=s.lift
        )
        cov_res = coverage_checks(lifted, s.lift, s.alpha, s.band_alpha, s.coverage_band)
        step(f"sequential: a look every day for {s.experiment_days} days")
        start, _ = window(s)
        looks = [
            unit_aggregates(
                aa,
                as_of=start + timedelta(days=d),
                metrics=list(AUDITED_METRICS),
                pre_days=s.pre_days,
            )
            for d in range(1, s.experiment_days + 1)
        ]
        seq_res = sequential_checks(
            looks, ids, assign, AUDITED_METRICS, alpha=s.alpha, tuning_n=float(ids.size)
        )
        step("simulator-injected effect through analysis.analyze")
        sim_res = _simulated_effect(s)
        step("SRM: intact and broken exposure logs")
        first = units.table.select("unit_id", "variant")
        weights = {v.key: v.weight for v in aa.variants}
        srm_res = (
            srm_check(first, weights, source="simulated_log", broken=False, dropped_share=0.0),
            srm_check(
                drop_treatment_units(first, aa.variants[1].key, s.srm_drop, s.seed),
                weights,
                source="simulated_log",
                broken=True,
                dropped_share=s.srm_drop,
            ),
            *_policy_srm(s),
        )
    return AuditReport(
        settings=s,
        dataset=DatasetInfo(
            users=sim.users,
            exposed_units=int(ids.size),
            impressions=sim.impressions,
            clicks=sim.clicks,
            orders=sim.orders,
            simulate_seconds=sim.seconds,
        ),
        aa=aa_res,
        coverage=cov_res,
        simulated_effect=sim_res,
        sequential=seq_res,
        cuped=cuped_res,
        srm=srm_res,
        seconds=time.perf_counter() - t0,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
