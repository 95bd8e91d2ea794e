"""Where each experiment sits in its layer: explicit ``buckets`` or a ``traffic`` share.

Rule (deterministic, from the config set alone): in each layer, experiments with explicit
``buckets`` keep them; experiments with ``traffic`` are placed, in order of (start, key), at the
lowest bucket where ``traffic * 10000`` contiguous buckets are free of every non-stopped experiment
whose [start, end) time window overlaps theirs. Two experiments may share buckets only if their
time windows do not overlap (a layer is reused after an experiment ends).

Consequence for ramps: raising the traffic of the last-placed experiment of a layer only widens its
range. Raising an earlier one can shift a later experiment; ``shoplab experiments validate``
catches that against the lock of running experiments (the later one's range no longer contains its
locked range) and the fix is to pin ``buckets`` explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shoplab.experiments.hashing import BUCKETS
from shoplab.experiments.models import Experiment

__all__ = ["Placement", "overlaps", "place"]


@dataclass(frozen=True)
class Placement:
    """An experiment's bucket range [start, end) in its layer, or why it could not be placed."""

    key: str
    layer: str
    start: int
    end: int
    error: str | None = None

    @property
    def size(self) -> int:
        """Number of buckets."""
        return self.end - self.start


def _time_overlap(a: Experiment, b: Experiment) -> bool:
    return a.start < b.end and b.start < a.end


def overlaps(a: Placement, b: Placement) -> bool:
    """Whether two bucket ranges share a bucket."""
    return a.start < b.end and b.start < a.end


def place(experiments: Mapping[str, Experiment]) -> dict[str, Placement]:
    """Resolve every experiment's bucket range (stopped ones too: they keep their last range).

    Example:
        >>> from experiments.models import Experiment
        >>> base = dict(layer="rank", status="running", owner="me", metrics={"primary": "ctr"},
        ...             start="2026-01-08T00:00:00Z", end="2026-01-22T00:00:00Z",
        ...             variants=[{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}])
        >>> exps = {k: Experiment.model_validate({"key": k, "traffic": t, **base}, strict=False)
        ...         for k, t in [("x", 0.3), ("y", 0.2)]}
        >>> [(p.start, p.end) for p in place(exps).values()]
        [(0, 3000), (3000, 5000)]
    """
    out: dict[str, Placement] = {}
    for key, e in experiments.items():
        if e.buckets is not None:
            out[key] = Placement(key, e.layer, e.buckets[0], e.buckets[1])
    pending = sorted(
        (e for e in experiments.values() if e.traffic is not None), key=lambda e: (e.start, e.key)
    )
    for e in pending:
        size = round((e.traffic or 0.0) * BUCKETS)
        taken = sorted(
            (out[o.key].start, out[o.key].end)
            for o in experiments.values()
            if o.key in out
            and o.layer == e.layer
            and o.status != "stopped"
            and out[o.key].error is None
            and _time_overlap(o, e)
        )
        cursor, start = 0, None
        for lo, hi in taken + [(BUCKETS, BUCKETS)]:
            if lo - cursor >= size:
                start = cursor
                break
            cursor = max(cursor, hi)
        if start is None:
            free = BUCKETS - sum(hi - lo for lo, hi in taken)
            out[e.key] = Placement(
                e.key, e.layer, 0, 0,
                error=f"must fit {size} contiguous free buckets of layer {e.layer!r} "
                f"({free} free in all while it runs).",
            )
        else:
            out[e.key] = Placement(e.key, e.layer, start, start + size)
    return {k: out[k] for k in experiments}
