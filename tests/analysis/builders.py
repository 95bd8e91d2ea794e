"""Builders for the analysis tests: minimal experiment objects and hand-written event tables.

Experiments are plain frozen dataclasses with the attribute names ``experiments.Experiment`` has
(key, layer, variants, start, end, status, metrics), so these tests do not depend on YAML configs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shoplab.benchmarks.analysis import START
from tests.eventlog import (  # the one synthetic-log module, re-exported here
    mark_validated,
    ts,
    write_table,
)

__all__ = ["Exp", "Metrics", "Variant", "make_experiment", "mark_validated", "ts", "write_table"]


@dataclass(frozen=True)
class Variant:
    key: str
    weight: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Metrics:
    primary: str
    secondary: list[str] = field(default_factory=list)
    guardrails: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Exp:
    key: str
    layer: str
    variants: list[Variant]
    start: datetime
    end: datetime
    status: str
    metrics: Metrics


def make_experiment(
    key: str = "bench_rank",
    *,
    days: int = 14,
    weights: Sequence[float] = (0.5, 0.5),
    primary: str = "ctr",
    secondary: Sequence[str] = ("cvr", "gmv_per_user", "buyer_rate"),
    guardrails: Sequence[str] = ("refund_rate",),
    start: datetime = START,
    status: str = "running",
) -> Exp:
    """A running experiment with variants control, treatment[, treatment_2…]."""
    names = ["control", "treatment", *[f"treatment_{i}" for i in range(2, len(weights))]]
    return Exp(
        key=key,
        layer="rank",
        variants=[Variant(n, w) for n, w in zip(names, weights, strict=True)],
        start=start,
        end=start + timedelta(days=days),
        status=status,
        metrics=Metrics(primary, list(secondary), list(guardrails)),
    )
