"""Counterfactual logging: did the other arm's list differ from the served one in the top k?

A request is *triggered* for a stage's experiment when the list the other arm would have shown
over the same candidates differs from the served list within the first ``k`` slots (slot by
slot: the same items in another order count as different, since position drives clicks).
Both lists are :class:`~shoplab.simulator.serving.Served` impressions of the same chunk of
requests; the comparison is one scatter into ``(requests, k)`` item grids, no loop over requests.
"""

from __future__ import annotations

import numpy as np

from shoplab.core.errors import InputError
from shoplab.simulator.serving import Served

__all__ = ["top_k_grid", "triggered"]


def top_k_grid(served: Served, n: int, k: int) -> np.ndarray:
    """Item per (request row, slot) for the first ``k`` slots, -1 where a slot is empty.

    Example:
        >>> s = Served(row=np.array([0, 0, 1]), item=np.array([7, 8, 9], np.int32),
        ...            position=np.array([0, 1, 0], np.int32))
        >>> top_k_grid(s, 2, 2).tolist()
        [[7, 8], [9, -1]]
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"trigger k == {k!r}, must be an integer >= 1.")
    grid = np.full((n, k), -1, dtype=np.int64)
    top = served.position < k
    grid[served.row[top], served.position[top]] = served.item[top]
    return grid


def triggered(actual: Served, other: Served, n: int, k: int) -> np.ndarray:
    """Per request row (``n`` rows), whether the two lists differ within the first ``k`` slots."""
    differ: np.ndarray = (top_k_grid(actual, n, k) != top_k_grid(other, n, k)).any(axis=1)
    return differ
