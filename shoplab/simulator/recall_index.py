"""Per-day popularity tables the recall stage samples candidates from.

Scoring the whole catalog for each of ~10M requests a day is out of the question, so recall works
like a real candidate generator: per (category, content type), and per content type over all
categories, a table of item indices in which an item appears in proportion to its current
popularity. Drawing a candidate is then one random number and one gather (≈ 10 ns), whatever the
catalog size. Tables are rebuilt once per day from the items that exist at the day's start, so a
request never sees an item created after it; an item's popularity ramps up with its age, which is
what makes new items cold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from shoplab.core.contract import CONTENT_TYPES
from shoplab.simulator.world import N_CATEGORIES, World

__all__ = ["GLOBAL", "N_TYPES", "RecallIndex", "build_recall_index", "table_id"]

N_TYPES: Final = len(CONTENT_TYPES)
GLOBAL: Final = N_CATEGORIES
"""Category code of the all-category (popularity) channel."""

_SLOTS_PER_ITEM = 4  # table length ≈ 4 × items: a popularity quantum of 1/4 of an average item


def table_id(category: np.ndarray, content_type: int) -> np.ndarray:
    """Table of (category, type); category ``GLOBAL`` is the all-category table of that type."""
    return category.astype(np.int16) * N_TYPES + content_type


@dataclass(frozen=True)
class RecallIndex:
    """Concatenated sampling tables: table ``t`` is ``items[offset[t] : offset[t] + size[t]]``.

    An empty (category, type) table is redirected to its type's global table (``offset``/``size``
    are already remapped), and an empty global table to the global table of any type, so every
    table id samples real items as long as the catalog is not empty.
    """

    items: np.ndarray  # int32 item indices
    offset: np.ndarray  # int64, per table id
    size: np.ndarray  # int64, per table id


def _table(rng: np.random.Generator, idx: np.ndarray, weight: np.ndarray, k: int) -> np.ndarray:
    """Systematic sampling: ``k`` slots, item i gets ≈ k·w_i/Σw of them (floor or ceil)."""
    if len(idx) == 0 or k == 0:
        return np.empty(0, dtype=np.int32)
    cum = np.cumsum(weight, dtype=np.float64)
    points = (np.arange(k, dtype=np.float64) + rng.random()) * (cum[-1] / k)
    pos = np.minimum(np.searchsorted(cum, points, side="right"), len(idx) - 1)
    out: np.ndarray = idx[pos].astype(np.int32)
    return out


def build_recall_index(
    rng: np.random.Generator, world: World, day: int, cold_start_days: float
) -> RecallIndex:
    """Sampling tables for day ``day`` over items created before the day starts."""
    n_live = int(np.searchsorted(world.item_created_day, day, side="left"))
    age = (day - world.item_created_day[:n_live]).astype(np.float32)  # ≥ 1 day
    weight = world.item_pop[:n_live] * (1.0 - 0.9 * np.exp(-age / cold_start_days))
    key = table_id(world.item_cat[:n_live], 0) + world.item_type[:n_live]
    order = np.argsort(key, kind="stable")
    n_tables = (N_CATEGORIES + 1) * N_TYPES
    bounds = np.searchsorted(key[order], np.arange(n_tables + 1))
    tables = []
    for t in range(N_CATEGORIES * N_TYPES):  # 72 tables: a loop over tables, not over items
        idx = order[bounds[t] : bounds[t + 1]]
        tables.append(_table(rng, idx, weight[idx], _SLOTS_PER_ITEM * len(idx)))
    ctype = world.item_type[:n_live]
    for t in range(N_TYPES):
        idx = np.flatnonzero(ctype == t)
        tables.append(_table(rng, idx, weight[idx], _SLOTS_PER_ITEM * len(idx)))
    size = np.array([len(t) for t in tables], dtype=np.int64)
    offset = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)

    # Redirect empty tables: (category, type) -> (GLOBAL, type) -> the largest global table.
    glob = np.arange(N_CATEGORIES * N_TYPES, n_tables)
    biggest = glob[np.argmax(size[glob])]
    for g in glob:
        if size[g] == 0:
            offset[g], size[g] = offset[biggest], size[biggest]
    target = np.arange(n_tables)
    target[: N_CATEGORIES * N_TYPES] = np.where(
        size[: N_CATEGORIES * N_TYPES] > 0,
        np.arange(N_CATEGORIES * N_TYPES),
        N_CATEGORIES * N_TYPES + np.arange(N_CATEGORIES * N_TYPES) % N_TYPES,
    )
    items = np.concatenate(tables) if n_live else np.zeros(1, dtype=np.int32)
    return RecallIndex(items=items, offset=offset[target], size=size[target])
