"""Sensitivity: the users an A/B test needs for 80 % power against team-draft interleaving's.

Issue 15's claim to check: interleaving detects a small ranking difference with far fewer users
(the literature reports 10–100×). One simulated world serves one pair of hand-weight rankers two
ways at once in the rank layer: an A/B test (buckets 0–5000, user-level arms) and an interleaving
experiment (buckets 5000–10000, every request the team-draft of both). Ranker B differs from A
by its short-term-interest weight only (:data:`RANKER_B`), a small true difference (on the
quick world B is the worse ranker: A/B z ≈ −2.3 at 112k users).

Power by subsampling users of that one world: for each size m on a grid, R random subsets of m
users (without replacement, nested: one random key per user and replicate, the subset of size m
is the m smallest keys), each analysed as the scorecard would, significant at α = 0.05
two-sided *and* in the direction of the full-sample effect:

- A/B: ``analysis.analyze_assignments`` (the scorecard's delta method, CUPED on the 7-day
  pre-period) on ``ctr`` and ``ctr_at_10``; the more sensitive of the two is the baseline, so
  the comparison favours the A/B test.
- interleaving: ``analysis.interleaving.preference_row`` (user-clustered delta method) on
  ``wins`` (the verdict's test: contested slots credited by team) and ``wins_uncontested``
  (contested slots credited to neither, as team-draft prescribes).

Users for 80 % power: where the power curve crosses 0.8, interpolated in log m, read only on
sizes up to half the population (beyond, subsets overlap so much that their power is that of
the full sample). When the world is too small for that, the figure is the normal projection
from the full sample's z: N · ((z_{1−α/2} + z_{0.8}) / z_N)², printed beside the measured one
in every row. The ratio A/B users ÷ interleaving users is the sensitivity gain.

Quick: 600,000 users x (7 + 14) days (about 80 s to simulate on 2 cores); full: 2,000,000.
``median_s`` of a row is the time of its subsampling (R replicates x the grid).
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import stats as sps

from shoplab.analysis.interleaving import PreferenceStatistic
from shoplab.benchmarks.harness import Result

__all__ = ["PowerCurve", "run", "users_for_power"]

RANKER_B: dict[str, float | int | str | bool] = {"rank_w_short_term": 1.5}
"""Ranker B's params (ranker A is the baseline): the small true difference."""
START = date(2026, 1, 1)
PRE_DAYS, DAYS = 7, 14
ALPHA, POWER = 0.05, 0.8
AB_KEY, IL_KEY = "sens_ab", "sens_il"
AB_METRICS = ("ctr", "ctr_at_10")
IL_OUTCOMES = ("wins", "wins_uncontested")


class PowerCurve(NamedTuple):
    """Power by subsampling at each size, and what it implies.

    Attributes:
        test: e.g. ``A/B ctr`` or ``interleaving wins``.
        population: N, the users the world has for this test.
        sizes: the grid of subset sizes m.
        power: share of the R subsets of each size significant in the effect's direction.
        z_full: the full sample's z statistic (effect / se).
        n80: users for 80 % power read off the curve (sizes <= N / 2), or None.
        n80_projected: N · ((z_{1−α/2} + z_{0.8}) / z_N)².
        seconds: wall time of the subsampling.
    """

    test: str
    population: int
    sizes: np.ndarray
    power: np.ndarray
    z_full: float
    n80: float | None
    n80_projected: float
    seconds: float

    @property
    def users(self) -> float:
        """The figure used: measured where the curve reaches 0.8, else projected."""
        return self.n80 if self.n80 is not None else self.n80_projected


def users_for_power(
    sizes: np.ndarray, power: np.ndarray, target: float = POWER, max_size: float = math.inf
) -> float | None:
    """The size where ``power`` first reaches ``target``, log-linear between grid points.

    Example:
        >>> users_for_power(np.array([100, 200, 400]), np.array([0.3, 0.6, 0.9]))
        317.48...
    """
    ok = sizes <= max_size
    s, p = sizes[ok].astype(np.float64), power[ok]
    above = np.flatnonzero(p >= target)
    if not above.size:
        return None
    i = int(above[0])
    if i == 0:
        return float(s[0])
    t = (target - p[i - 1]) / (p[i] - p[i - 1])
    return float(np.exp(np.log(s[i - 1]) + t * (np.log(s[i]) - np.log(s[i - 1]))))


def _projected(population: int, z_full: float) -> float:
    q = float(sps.norm.ppf(1 - ALPHA / 2) + sps.norm.ppf(POWER))
    return math.inf if z_full == 0 else population * (q / z_full) ** 2


def _curve(
    test: str,
    population: int,
    sizes: np.ndarray,
    significant: Callable[[np.ndarray], np.ndarray],
    keys: np.ndarray,
    z_full: float,
) -> PowerCurve:
    """Power at each size: ``significant(mask)`` -> (R,) bools for an (R, N) subset mask."""
    t0 = time.perf_counter()
    power = np.array([significant(keys < m).mean() for m in sizes])
    n80 = users_for_power(sizes, power, max_size=population / 2)
    return PowerCurve(
        test,
        population,
        sizes,
        power,
        z_full,
        n80,
        _projected(population, z_full),
        time.perf_counter() - t0,
    )


def _experiments() -> dict[str, object]:
    from shoplab.experiments import Experiment, Metrics, Variant

    start = datetime.combine(START, datetime.min.time(), tzinfo=UTC) + timedelta(days=PRE_DAYS)

    def exp(key: str, kind: str, buckets: list[int]) -> Experiment:
        return Experiment.model_validate(
            {
                "key": key,
                "layer": "rank",
                "type": kind,
                "buckets": buckets,
                "salt": key,
                "status": "running",
                "start": start,
                "end": start + timedelta(days=DAYS),
                "metrics": Metrics(primary="ctr", secondary=["ctr_at_10"]),
                "owner": "benchmarks",
                "variants": [
                    Variant(key="ranker_a", weight=0.5),
                    Variant(key="ranker_b", weight=0.5, params=RANKER_B),
                ],
            }
        )

    return {
        AB_KEY: exp(AB_KEY, "ab", [0, 5000]),
        IL_KEY: exp(IL_KEY, "interleaving", [5000, 10000]),
    }


def _ab_curves(exps: dict[str, object], reps: int, rng: np.random.Generator) -> list[PowerCurve]:
    from shoplab.analysis import analyze_assignments, unit_aggregates

    units = unit_aggregates(exps[AB_KEY], experiments=exps, metrics=list(AB_METRICS))  # type: ignore[arg-type]
    arm = (units.table["variant"] == "ranker_b").cast(int).to_numpy()
    full = analyze_assignments(units, arm, metrics=list(AB_METRICS))
    n = arm.size
    keys = rng.random((reps, n)).argsort(axis=1).argsort(axis=1)  # a random rank per user
    sizes = np.unique(np.geomspace(n / 64, n, 13).astype(np.int64))
    curves = []
    for metric in AB_METRICS:
        sign = np.sign(float(full[metric].abs_effect))

        def significant(mask: np.ndarray, metric: str = metric, sign: float = sign) -> np.ndarray:
            eff = analyze_assignments(units, np.where(mask, arm, -1), metrics=[metric])[metric]
            hit: np.ndarray = (eff.pvalue < ALPHA) & (np.sign(eff.abs_effect) == sign)
            return hit

        z = float(full[metric].abs_effect / full[metric].abs_se)
        curves.append(_curve(f"A/B {metric}", n, sizes, significant, keys, z))
    return curves


def _il_curves(exps: dict[str, object], reps: int, rng: np.random.Generator) -> list[PowerCurve]:
    from shoplab.analysis.interleaving import (
        interleaving_units,
        preference_from_units,
        preference_row,
    )

    units = interleaving_units(exps[IL_KEY], experiments=exps)  # type: ignore[arg-type]
    n_i = units["n"].to_numpy().astype(np.float64)
    n = n_i.size
    keys = rng.random((reps, n)).argsort(axis=1).argsort(axis=1)
    sizes = np.unique(np.geomspace(n / 512, n, 19).astype(np.int64))
    curves = []
    for out in IL_OUTCOMES:
        d_i = (units[f"{out}_b"] - units[f"{out}_a"]).to_numpy().astype(np.float64)
        full = preference_row("wins", preference_from_units(d_i, n_i), alpha=ALPHA)
        sign = np.sign(full.delta or 0.0)
        # the preference test's sums for every subset at once: (R, N) mask @ (N, 5) columns
        cols = np.c_[np.ones(n), n_i, n_i * n_i, d_i, d_i * d_i, d_i * n_i]

        def significant(
            mask: np.ndarray, cols: np.ndarray = cols, sign: float = sign
        ) -> np.ndarray:
            sums = mask.astype(np.float64) @ cols
            rows = [
                preference_row(
                    "wins",
                    _statistic(s),
                    alpha=ALPHA,
                )
                for s in sums
            ]
            return np.array(
                [
                    r.pvalue is not None and r.pvalue < ALPHA and np.sign(r.delta or 0.0) == sign
                    for r in rows
                ]
            )

        z = (full.delta or 0.0) / full.se if full.se else 0.0
        curves.append(_curve(f"interleaving {out}", n, sizes, significant, keys, z))
    return curves


def _statistic(s: np.ndarray) -> PreferenceStatistic:
    users, req, nn, d, dd, dn = (float(x) for x in s)
    return PreferenceStatistic(int(users), int(round(req)), nn, 0.0, 0.0, d, dd, dn)


def _rows(ab: list[PowerCurve], il: list[PowerCurve]) -> list[Result]:
    best_ab = min(ab, key=lambda c: c.users)
    out = []
    for i, c in enumerate((*ab, *il)):
        measured = f"{c.n80:,.0f}" if c.n80 is not None else "not reached at <= N/2"
        note = (
            f"users for 80 % power: {measured} by subsampling, {c.n80_projected:,.0f} projected "
            f"from z = {c.z_full:.2f} at N = {c.population:,}"
        )
        if i >= len(ab):  # an interleaving test
            note += f"; A/B ({best_ab.test}) needs {best_ab.users / c.users:.1f}x the users"
        out.append(Result("sensitivity", c.test, c.seconds, note=note))
    return out


def run(quick: bool) -> list[Result]:
    """Simulate the world in a scratch data root, then the power curves of all four tests."""
    from shoplab.core.paths import using_data_root
    from shoplab.events import load_events
    from shoplab.simulator import ExperimentPolicy, simulate

    users, reps = (600_000, 200) if quick else (2_000_000, 200)
    exps = _experiments()
    root = Path(tempfile.mkdtemp(prefix="shoplab-bench-sensitivity-"))
    try:
        with using_data_root(root):
            simulate(
                users=users,
                items=users // 5,
                days=PRE_DAYS + DAYS,
                seed=11,
                start=START,
                policy=ExperimentPolicy(exps, holdout=False),  # type: ignore[arg-type]
            )
            load_events()
            rng = np.random.default_rng(2026)
            ab = _ab_curves(exps, reps, rng)
            il = _il_curves(exps, reps, rng)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return _rows(ab, il)
