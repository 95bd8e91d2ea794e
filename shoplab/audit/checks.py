"""The audit's statistics: each check takes unit aggregates and assignment matrices, no I/O.

The unit-level aggregates come from ``analysis.unit_aggregates`` (the scorecard's SQL, run once)
and every replication goes through the tests a scorecard runs (``analysis.stats
.two_sample_effect``: delta method, Welch, CUPED), vectorized over replications by
``analysis.analyze_assignments`` (tested against per-replication statistics, scipy and
statsmodels in ``tests/e2e/test_audit.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy import stats as sps

from shoplab.analysis import UnitAggregates, analyze_assignments
from shoplab.analysis.sequential import confidence_sequence_halfwidth
from shoplab.analysis.srm import srm_test
from shoplab.analysis.stats import Effect
from shoplab.audit.results import AaCheck, CoverageCheck, CupedCheck, SequentialCheck, SrmCheck
from shoplab.core.errors import DataError

__all__ = [
    "aa_checks",
    "acceptance_band",
    "binomial_ci",
    "coverage_checks",
    "cuped_checks",
    "drop_treatment_units",
    "sequential_checks",
    "srm_check",
]


def binomial_ci(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper–Pearson interval of a binomial rate (exact: never narrower than it should be)."""
    ci = sps.binomtest(successes, trials).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def acceptance_band(nominal: float, trials: int, band_alpha: float) -> tuple[float, float]:
    """Rates ``k / trials`` that an exact binomial test of ``nominal`` does not reject.

    Equal-tailed at ``band_alpha``: ``k`` passes while ``P(X <= k) > band_alpha / 2`` and
    ``P(X >= k) > band_alpha / 2`` under Binomial(trials, nominal). Why not a fixed band: the
    Monte Carlo error of a rate shrinks as 1/sqrt(trials), so a fixed [3.5 %, 6.5 %] fails a
    correct method at 300 replications about one time in ten per metric.

    Example:
        >>> acceptance_band(0.05, 1_000, 0.01)
        (0.033, 0.069)
        >>> lo, hi = acceptance_band(0.05, 300, 0.01); bool(lo < 0.033 and hi > 0.068)
        True
    """
    k = np.arange(trials + 1)
    below = sps.binom.cdf(k, trials, nominal)  # P(X <= k)
    above = sps.binom.sf(k - 1, trials, nominal)  # P(X >= k)
    ok = np.flatnonzero((below > band_alpha / 2) & (above > band_alpha / 2))
    return float(ok[0] / trials), float(ok[-1] / trials)


def _band(
    nominal: float, trials: int, band_alpha: float, fixed: tuple[float, float] | None
) -> tuple[float, float]:
    return fixed if fixed is not None else acceptance_band(nominal, trials, band_alpha)


def aa_checks(
    effects: Mapping[bool, Mapping[str, Effect]],
    alpha: float,
    band_alpha: float = 0.01,
    fixed_band: tuple[float, float] | None = None,
    treatment_share: float = 0.5,
) -> tuple[AaCheck, ...]:
    """False-positive rates per metric, with and without CUPED (``effects[cuped][metric]``).

    An undefined or withheld p-value (NaN: a replication with no buyers in an arm, or a
    difference too skewed for its reference) counts as no rejection, so the rate's denominator
    is every replication. The pass band is ``acceptance_band(alpha, replications, band_alpha)``
    unless ``fixed_band`` is given; at an unbalanced ``treatment_share`` only its upper end
    gates (the scorecard may withhold p-values there, which lowers the rate).
    """
    out = []
    for cuped, by_metric in effects.items():
        for metric, e in by_metric.items():
            p = np.asarray(e.pvalue)
            hits = int((np.nan_to_num(p, nan=1.0) < alpha).sum())
            lo, hi = binomial_ci(hits, p.size)
            rate = hits / p.size
            blo, bhi = _band(alpha, p.size, band_alpha, fixed_band)
            ok = rate <= bhi and (blo <= rate or treatment_share != 0.5)
            out.append(
                AaCheck(
                    metric,
                    cuped,
                    p.size,
                    rate,
                    lo,
                    hi,
                    ok,
                    blo,
                    bhi,
                    treatment_share=treatment_share,
                    withheld=float(np.isnan(p).mean()),
                )
            )
    return tuple(out)


def coverage_checks(
    effects: Mapping[str, Effect],
    lift: float,
    alpha: float,
    band_alpha: float = 0.01,
    fixed_band: tuple[float, float] | None = None,
) -> tuple[CoverageCheck, ...]:
    """Coverage of the injected relative effect ``lift`` and power, per metric."""
    out = []
    for metric, e in effects.items():
        covered = (np.asarray(e.rel_ci_lower) <= lift) & (lift <= np.asarray(e.rel_ci_upper))
        k, n = int(covered.sum()), covered.size
        lo, hi = binomial_ci(k, n)
        blo, bhi = _band(1.0 - alpha, n, band_alpha, fixed_band)
        out.append(
            CoverageCheck(
                metric=metric,
                replications=n,
                true_rel_effect=lift,
                coverage=k / n,
                ci_lower=lo,
                ci_upper=hi,
                mean_rel_effect=float(np.mean(e.rel_effect)),
                power=float((np.asarray(e.pvalue) < alpha).mean()),
                passed=blo <= k / n <= bhi,
                band_lower=blo,
                band_upper=bhi,
            )
        )
    return tuple(out)


def cuped_checks(
    plain: Mapping[str, Effect], adjusted: Mapping[str, Effect], metrics: Sequence[str]
) -> tuple[CupedCheck, ...]:
    """Model-based and empirical variance reduction of CUPED on the same replications."""
    out = []
    for m in metrics:
        var_plain = float(np.var(plain[m].abs_effect, ddof=1))
        var_adj = float(np.var(adjusted[m].abs_effect, ddof=1))
        out.append(
            CupedCheck(
                metric=m,
                model_variance_reduction=float(np.mean(adjusted[m].variance_reduction)),
                empirical_variance_reduction=1.0 - var_adj / var_plain,
            )
        )
    return tuple(out)


def sequential_checks(
    looks: Sequence[UnitAggregates],
    final_ids: NDArray[np.int64],
    assignments: NDArray[np.int8],
    metrics: Sequence[str],
    *,
    alpha: float,
    tuning_n: float,
) -> tuple[SequentialCheck, ...]:
    """Look at every daily cumulative table under every replication's assignment.

    Args:
        looks: unit aggregates as of the end of each day (cumulative), in time order.
        final_ids: unit ids of the final table (sorted), the columns of ``assignments``.
        assignments: (R × N) assignment of the final units; a unit keeps its arm at every look.
        metrics: the metrics to look at, each on its own.
        alpha: the false-positive rate both the naive and the always-valid test are held to.
        tuning_n: N* of the confidence sequence, fixed before the first look (the planned size).
    """
    reps = assignments.shape[0]
    crossed = {m: np.zeros(reps, dtype=bool) for m in metrics}
    naive = {m: np.zeros(reps, dtype=bool) for m in metrics}
    last: dict[str, NDArray[np.bool_]] = {}
    for units in looks:
        ids = units.table.get_column("unit_id").to_numpy()
        cols = np.searchsorted(final_ids, ids)
        if not np.array_equal(final_ids[np.minimum(cols, final_ids.size - 1)], ids):
            raise DataError("a daily look holds units absent from the final table.")
        effects = analyze_assignments(
            units, assignments[:, cols], cuped=True, alpha=alpha, metrics=metrics
        )
        n_total = float(units.table.height)
        for m, e in effects.items():
            hw = confidence_sequence_halfwidth(e.abs_se, n_total, alpha=alpha, tuning_n=tuning_n)
            # NaN compares False: an undefined look (no orders yet for CVR) is no rejection
            crossed[m] |= np.abs(e.abs_effect) > hw
            sig = np.nan_to_num(np.asarray(e.pvalue), nan=1.0) < alpha
            naive[m] |= sig
            last[m] = sig
    return tuple(
        SequentialCheck(
            metric=m,
            replications=reps,
            looks=len(looks),
            always_valid_rate=float(crossed[m].mean()),
            naive_rate=float(naive[m].mean()),
            final_look_rate=float(last[m].mean()),
            passed=bool(crossed[m].mean() <= alpha),
        )
        for m in metrics
    )


def drop_treatment_units(
    first: pl.DataFrame, treatment: str, share: float, seed: int
) -> pl.DataFrame:
    """A broken exposure log: ``share`` of the treatment arm's units lose all their exposures.

    ``first`` has one row per unit (``unit_id``, ``variant``); the dropped units are drawn
    without replacement, so exactly ``round(share × treatment units)`` are gone.
    """
    treat = first.filter(pl.col("variant") == treatment).get_column("unit_id").to_numpy()
    rng = np.random.default_rng([seed, 17])
    gone = rng.choice(treat, size=round(share * treat.size), replace=False)
    return first.filter(~pl.col("unit_id").is_in(gone.tolist()))


def srm_check(
    first: pl.DataFrame,
    weights: Mapping[str, float],
    *,
    source: str,
    broken: bool,
    dropped_share: float,
) -> SrmCheck:
    """``analysis.srm.srm_test`` on units per variant of a first-exposure table."""
    counts = dict(first.group_by("variant").len().iter_rows())
    res = srm_test({str(k): int(v) for k, v in counts.items()}, weights)
    return SrmCheck(
        source=source,  # type: ignore[arg-type]
        broken=broken,
        dropped_share=dropped_share,
        units=int(sum(res.observed.values())),
        observed=res.observed,
        chi2=res.chi2,
        pvalue=res.pvalue,
        mismatch=res.mismatch,
        passed=res.mismatch == broken,
    )
