"""Team-draft interleaving's cost on top of running both rankers (issue 15: <= 1 ms per request).

A request of 50 candidates, two rankers (a score each, 50 x 2 floats): the baseline is what any
comparison of two rankers pays, ordering the candidates by both scores (two argsorts); the case
adds what interleaving adds, hashing the coin flips and drafting the list
(:func:`~shoplab.experiments.interleaving.coin_flips`, :func:`team_draft`). Both online (one
request per call, the serving path) and in batches of 10,000 requests (the simulator's path,
reported per request). Medians of repeated runs, in one process, alternating.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from shoplab.benchmarks.harness import Result, time_median

__all__ = ["run"]

ITEMS = 50


def _one_request(rng: np.random.Generator, calls: int) -> tuple[list[float], list[float]]:
    from shoplab.experiments.interleaving import coin_flips, rounds_for, team_draft

    items = np.arange(1, ITEMS + 1, dtype=np.int64)
    both, extra = [], []
    for i in range(calls + 50):
        s_a, s_b = rng.random(ITEMS), rng.random(ITEMS)
        t0 = time.perf_counter()
        ranked_a = items[np.argsort(-s_a)][None, :]
        ranked_b = items[np.argsort(-s_b)][None, :]
        t1 = time.perf_counter()
        flips = coin_flips("rank_il", np.array([i]), rounds_for(ITEMS))
        team_draft(ranked_a, ranked_b, flips)
        t2 = time.perf_counter()
        if i >= 50:  # warm-up
            both.append(t1 - t0)
            extra.append(t2 - t1)
    return both, extra


def run(quick: bool) -> list[Result]:
    """One request at a time (quick: 500 calls; full: 5,000) and batches of 10,000 requests."""
    from shoplab.experiments.interleaving import coin_flips, rounds_for, team_draft

    rng = np.random.default_rng(0)
    both, extra = _one_request(rng, 500 if quick else 5_000)
    n = 10_000
    scores_a, scores_b = rng.random((n, ITEMS)), rng.random((n, ITEMS))
    items = np.arange(1, ITEMS + 1, dtype=np.int64)
    ids = np.arange(n, dtype=np.int64)

    def rank_both() -> tuple[np.ndarray, np.ndarray]:
        return items[np.argsort(-scores_a, axis=1)], items[np.argsort(-scores_b, axis=1)]

    ranked_a, ranked_b = rank_both()

    def draft() -> None:
        team_draft(ranked_a, ranked_b, coin_flips("rank_il", ids, rounds_for(ITEMS)))

    batch_rank = time_median(rank_both, repeats=7)
    batch_draft = time_median(draft, repeats=7)
    p99 = float(np.quantile(extra, 0.99))
    return [
        Result(
            "interleaving",
            "rank both, 1 request",
            statistics.median(both),
            note=f"p99 {np.quantile(both, 0.99) * 1e6:.0f} µs; two argsorts of {ITEMS} scores",
        ),
        Result(
            "interleaving",
            "+ flips and draft, 1 request",
            statistics.median(extra),
            baseline="rank both, 1 request",
            ratio=statistics.median(extra) / statistics.median(both),
            note=f"p99 {p99 * 1e6:.0f} µs (goal <= 1 ms per request of {ITEMS} items)",
        ),
        Result(
            "interleaving",
            f"rank both, {n:,} requests",
            batch_rank,
            note=f"{batch_rank / n * 1e6:.2f} µs per request",
        ),
        Result(
            "interleaving",
            f"+ flips and draft, {n:,} requests",
            batch_draft,
            baseline=f"rank both, {n:,} requests",
            ratio=batch_draft / batch_rank,
            note=f"{batch_draft / n * 1e6:.2f} µs per request",
        ),
    ]
