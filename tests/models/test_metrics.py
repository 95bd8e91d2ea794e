"""Offline metrics against scikit-learn on the same inputs, and a brute-force NDCG."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from shoplab.models.metrics import auc, calibration, gauc, log_loss, ndcg_at_k


def _data(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 60, n)
    requests = rng.integers(0, 300, n)
    # rounded scores: many ties, the case rank-average AUC must get right
    score = np.round(rng.random(n), 2)
    y = (rng.random(n) < 0.2 + 0.5 * score * (users % 3 == 0)).astype(np.int8)
    return users, requests, y, score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_and_log_loss_equal_sklearn(seed: int) -> None:
    _, _, y, score = _data(seed)
    p = np.clip(score, 0.01, 0.99)
    assert auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, p), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_gauc_is_the_impression_weighted_mean_of_sklearn_per_user_auc(seed: int) -> None:
    users, _, y, score = _data(seed)
    total = weight = 0.0
    n_users = 0
    for u in np.unique(users):
        m = users == u
        if 0 < y[m].sum() < m.sum():
            total += roc_auc_score(y[m], score[m]) * m.sum()
            weight += m.sum()
            n_users += 1
    got, got_users = gauc(users, y, score)
    assert got_users == n_users
    assert got == pytest.approx(total / weight, abs=1e-12)


def _brute_ndcg(groups: list[int], y: list[int], s: list[float], k: int) -> float:
    values = []
    for g in sorted(set(groups)):
        rows = [(s[i], y[i]) for i in range(len(y)) if groups[i] == g]
        if not any(label for _, label in rows):
            continue
        shown = [label for _, label in sorted(rows, key=lambda r: -r[0])][:k]
        ideal = sorted((label for _, label in rows), reverse=True)[:k]
        dcg = sum(label / math.log2(i + 2) for i, label in enumerate(shown))
        idcg = sum(label / math.log2(i + 2) for i, label in enumerate(ideal))
        values.append(dcg / idcg)
    return sum(values) / len(values)


def test_ndcg_equals_brute_force_on_a_small_example() -> None:
    # request 1: clicks at predicted ranks 2 and 3; request 2: at rank 1; request 3: no click
    groups = [1, 1, 1, 1, 2, 2, 2, 3, 3]
    y = [0, 1, 1, 0, 1, 0, 0, 0, 0]
    s = [0.9, 0.8, 0.7, 0.1, 0.5, 0.4, 0.3, 0.2, 0.1]
    got, requests = ndcg_at_k(groups, y, s, k=10)
    assert requests == 2
    # by hand: request 1 (1/log2(3) + 1/log2(4)) / (1 + 1/log2(3)) = 0.6934..., request 2: 1
    by_hand = ((1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3)) + 1.0) / 2
    assert got == pytest.approx(by_hand, abs=1e-12)
    assert got == pytest.approx(_brute_ndcg(groups, y, s, 10), abs=1e-12)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_ndcg_equals_brute_force_on_random_requests(k: int) -> None:
    rng = np.random.default_rng(k)
    groups = rng.integers(0, 40, 400).tolist()
    y = (rng.random(400) < 0.15).astype(int).tolist()
    s = rng.random(400).tolist()  # distinct scores: no tie convention involved
    got, _ = ndcg_at_k(groups, y, s, k=k)
    assert got == pytest.approx(_brute_ndcg(groups, y, s, k), abs=1e-12)


def test_calibration_bins_partition_the_rows_and_sum_to_the_totals() -> None:
    _, _, y, score = _data(3, n=1003)  # not a multiple of 10: bins of 100 and 101
    bins = calibration(y, score)
    assert [b.bin for b in bins] == list(range(10))
    assert sum(b.n for b in bins) == y.size
    assert {b.n for b in bins} <= {100, 101}
    assert sum(b.n * b.observed for b in bins) == pytest.approx(y.sum())
    assert sum(b.n * b.predicted for b in bins) == pytest.approx(score.sum())
    predicted = [b.predicted for b in bins]
    assert predicted == sorted(predicted)  # bin 0 holds the lowest predictions


def test_undefined_statistics_are_none_not_nan() -> None:
    assert auc([1, 1, 1], [0.1, 0.2, 0.3]) is None
    assert gauc([1, 2], [1, 0], [0.3, 0.4]) == (None, 0)  # no user has both classes
    assert ndcg_at_k([1, 1], [0, 0], [0.3, 0.4]) == (None, 0)
