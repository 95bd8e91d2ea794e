"""Power and minimum detectable effect from the variance of recent traffic (statsmodels).

Before an experiment exists there are no exposures, so the population is every user with an
impression in the most recent ``days`` days (the same unit-level SQL with
``population="active"``). The per-unit variance of the metric (linearized for ratio metrics, as in
the delta method) and ``traffic`` × active users / variants per arm go into statsmodels'
``NormalIndPower``. The CUPED line uses the correlation between that window and the ``pre_days``
before it: MDE × sqrt(1 − ρ²).

A duration longer than the impression log is refused (:class:`InputError` naming the days and the
range the log covers), not extrapolated. Both inputs of the MDE depend on the duration in ways the
log cannot show beyond its end: active users grow sublinearly (returning users are not new units),
and per-unit variance changes as each unit accumulates more days of behaviour. Measuring the
shorter window and labelling it with the longer duration (what happened before) understates the
traffic of a long test and mislabels the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from statsmodels.stats.power import NormalIndPower

from shoplab.analysis.metrics import get_metric
from shoplab.analysis.reduce import reduce_statistics, winsorize_caps
from shoplab.analysis.stats import linearized
from shoplab.analysis.unit_query import EventTableMissingError, UnitQuery
from shoplab.analysis.unit_table import build_unit_table
from shoplab.analysis.variables import unit_columns_for
from shoplab.core import paths
from shoplab.core.duck import connect
from shoplab.core.errors import DataError, InputError
from shoplab.core.files import day_files
from shoplab.events.manifest import check_event_log

__all__ = ["PowerResult", "power"]


@dataclass(frozen=True)
class PowerResult:
    """Sample size and MDE for one metric at one traffic share and duration.

    ``mde_abs`` / ``mde_rel`` are the smallest true effects detected with probability ``power``
    at two-sided level ``alpha``; ``*_cuped`` the same after the expected CUPED variance cut.
    """

    metric: str
    traffic: float
    days: int
    alpha: float
    power: float
    active_units: int
    units_per_variant: int
    baseline: float
    sd: float
    mde_abs: float
    mde_rel: float
    variance_reduction: float
    mde_abs_cuped: float
    mde_rel_cuped: float
    window_start: datetime
    window_end: datetime


def _log_days() -> tuple[date, date]:
    """First and last day of the daily impression files."""
    days = day_files(paths.events_dir("impressions"))
    if not days:
        raise EventTableMissingError(
            "no daily impression files (YYYY-MM-DD.parquet) in the event log."
        )
    return min(days), max(days)


def power(
    metric: str,
    traffic: float,
    days: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    variants: int = 2,
    as_of: date | None = None,
    pre_days: int = 7,
) -> PowerResult:
    """MDE of ``metric`` for an experiment on ``traffic`` of users running ``days`` days.

    Args:
        metric: a catalog metric name.
        traffic: share of users in the experiment, in (0, 1].
        days: planned duration (the variance is measured over the latest ``days`` days of data,
            which must lie in the impression log: no extrapolation).
        alpha: two-sided significance level.
        power: probability of detecting an effect of size MDE.
        variants: number of arms sharing the traffic equally.
        as_of: last day of data to use (default: the latest impressions file).
        pre_days: days before the window used as the CUPED covariate.

    Raises:
        analysis.metrics.UnknownMetricError: unknown metric.
        InputError: an argument out of range (a ``ValueError``), ``days`` beyond the log included.
        DataError: no variation of the metric in the window.
        EventTableMissingError: no daily impression files.
        UnvalidatedLogError: the event log was never validated, or changed since.
    """
    if not 0 < traffic <= 1:
        raise InputError(f"traffic == {traffic}, must be in (0, 1].")
    if days < 1:
        raise InputError(f"days == {days}, must be >= 1.")
    if not 0 < alpha < 1:
        raise InputError(f"alpha == {alpha}, must be in (0, 1).")
    if not 0 < power < 1:
        raise InputError(f"power == {power}, must be in (0, 1).")
    if variants < 2:
        raise InputError(f"variants == {variants}, must be >= 2.")
    m = get_metric(metric)
    if m.kind == "concentration":
        raise InputError(
            f"metric == {metric!r}, must be a per-unit metric: the power of a concentration "
            "index across shops has no closed form here (its interval is a bootstrap)."
        )
    first, latest = _log_days()
    check_event_log()  # the variance of what validation accepted, as a scorecard would see it
    folder = paths.events_dir("impressions")
    last = as_of or latest
    if not first <= last <= latest:
        raise InputError(
            f"as_of == {last}, must be in [{first}, {latest}] (the days of {folder})."
        )
    available = (last - first).days + 1
    if days > available:
        raise InputError(
            f"days == {days}, must be <= {available}: the impression log ({folder}) covers "
            f"{first} to {latest}, {available} day(s) up to {last}. The MDE of a longer test is "
            "not extrapolated (active users and per-unit variance depend on the duration); "
            "simulate or collect more days, or ask for fewer."
        )
    end = datetime.combine(last, time(), tzinfo=UTC) + timedelta(days=1)
    start = end - timedelta(days=days)
    q = UnitQuery("__power__", start, end, pre_days, unit_columns_for([m]), population="active")
    con = connect(ordered=False)
    try:
        build_unit_table(con, q)
        caps = winsorize_caps(con, [m])
        stats = reduce_statistics(con, [m], caps)
    finally:
        con.close()
    s = stats[("all", None)][m.name]
    ddof = 0 if m.kind == "proportion" else 1
    r, _, var_y, var_c, cov = (float(x) for x in linearized(s, ddof))
    n_active = int(s.n)
    n_arm = max(1, int(n_active * traffic / variants))
    sd = float(np.sqrt(var_y))
    if not np.isfinite(sd) or sd == 0:
        raise DataError(
            f"metric {metric}: per-unit standard deviation == {sd}, must be > 0 "
            f"(no variation in the latest {days} days)."
        )
    d = float(
        NormalIndPower().solve_power(
            effect_size=None,
            nobs1=n_arm,
            alpha=alpha,
            power=power,
            ratio=1.0,
            alternative="two-sided",
        )
    )
    mde = d * sd
    vr = cov**2 / (var_y * var_c) if var_c > 0 and np.isfinite(cov) else 0.0
    base = abs(r) if r != 0 else float("nan")
    return PowerResult(
        metric=metric,
        traffic=traffic,
        days=days,
        alpha=alpha,
        power=power,
        active_units=n_active,
        units_per_variant=n_arm,
        baseline=r,
        sd=sd,
        mde_abs=mde,
        mde_rel=mde / base,
        variance_reduction=vr,
        mde_abs_cuped=mde * float(np.sqrt(1 - vr)),
        mde_rel_cuped=mde * float(np.sqrt(1 - vr)) / base,
        window_start=start,
        window_end=end,
    )
