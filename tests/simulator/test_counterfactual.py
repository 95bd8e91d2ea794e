"""The top-k trigger comparison against a brute-force per-request check."""

from __future__ import annotations

import numpy as np
import pytest

from shoplab.core.errors import InputError
from shoplab.simulator.counterfactual import triggered
from shoplab.simulator.serving import Served


def _lists(rng: np.random.Generator, n: int, length: int) -> list[list[int]]:
    return [list(rng.choice(50, size=length, replace=False)) for _ in range(n)]


def _served(lists: list[list[int]]) -> Served:
    row = np.repeat(np.arange(len(lists)), [len(x) for x in lists])
    pos = np.concatenate([np.arange(len(x)) for x in lists]).astype(np.int32)
    item = np.concatenate([np.array(x) for x in lists]).astype(np.int32)
    return Served(row=row, item=item, position=pos)


def test_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    a = _lists(rng, 200, 12)
    b = [
        x if rng.random() < 0.6 else (x[:k] + x[k:][::-1])
        for x, k in zip(a, rng.integers(0, 13, 200), strict=True)
    ]
    for k in (1, 5, 10, 20):
        want = [x[:k] != y[:k] for x, y in zip(a, b, strict=True)]
        assert triggered(_served(a), _served(b), 200, k).tolist() == want


def test_bad_k() -> None:
    s = _served([[1, 2]])
    with pytest.raises(InputError, match="trigger k == 0"):
        triggered(s, s, 1, 0)
