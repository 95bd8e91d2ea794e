"""The mixer's interleaving on hand-checkable lists."""

from __future__ import annotations

import numpy as np
import pytest

from shoplab.simulator.serving import _interleave, queue_sizes

P, V, L = 0, 1, 2  # product, video, live


@pytest.mark.parametrize(
    ("chosen", "ctype", "expected"),
    [
        # two cards on top: the second moves below the first product
        ([1, 1, 1, 1, 1, 1], [V, V, P, P, P, P], [0, 2, 1, 3, 4, 5]),
        # two cards at the end: the first moves up so the second still fits
        ([1, 1, 1, 1, 1, 1], [P, P, P, P, V, L], [0, 1, 2, 4, 3, 5]),
        # four cards in six slots cannot be kept apart: ranker order
        ([1, 1, 1, 1, 1, 1], [V, L, V, L, P, P], [0, 1, 2, 3, 4, 5]),
        # one card: ranker order
        ([1, 1, 1, 1, 1, 1], [P, V, P, P, P, P], [0, 1, 2, 3, 4, 5]),
        # candidates not chosen get -1; positions count chosen ones only
        ([1, 0, 1, 1, 0, 1], [L, V, V, P, P, P], [0, -1, 2, 1, -1, 3]),
    ],
)
def test_interleave(chosen: list[int], ctype: list[int], expected: list[int]) -> None:
    got = _interleave(np.array([chosen], dtype=bool), np.array([ctype]))
    assert got.tolist() == [expected]


def test_interleave_is_row_wise() -> None:
    chosen = np.ones((2, 6), dtype=bool)
    ctype = np.array([[V, V, P, P, P, P], [P, P, P, P, V, L]])
    assert _interleave(chosen, ctype).tolist() == [[0, 2, 1, 3, 4, 5], [0, 1, 2, 4, 3, 5]]


@pytest.mark.parametrize(
    ("size", "queues"), [(200, (130, 50, 20)), (10, (7, 2, 1)), (2, (2, 0, 0))]
)
def test_recall_queue_sizes_add_up(size: int, queues: tuple[int, int, int]) -> None:
    assert queue_sizes(size) == queues
