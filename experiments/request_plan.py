"""The per-request assignment plan: one stretch of time's running experiments, compiled.

What :func:`experiments.assign` reads.

Why a plan: ``assign`` answers every ranking request, in CPython, where each interpreter
operation costs ~20 ns. A request needs up to 1 + 2 × layers v2 hashes (the holdout, each layer's
bucket, the owning experiment's variant), each two FNV-1a passes of ~10 steps. Done one by one
that was ~10 µs of hashing alone; the plan removes every operation that does not depend on the
unit:

- **Decisions are lookups.** The owner of each of a layer's 10,000 buckets, and each experiment's
  answer (a prebuilt, immutable :class:`LayerAssignment`) for each of its 10,000 (v2) or 1,000
  (v1) hash values, are tables built once per plan with GrowthBook's own float comparisons
  (:func:`experiments.hashing.choose_variation_array`), so an index gives the same answer as
  ``chooseVariation``.
- **All first passes at once (SWAR).** v2 hashes ``fnv1a32(seed + unit)``: every v2 seed's state
  after the seed and the unit's first 3 digits is packed into one Python int, 64 bits per seed
  (a "lane"), and each remaining digit is applied to all lanes in three big-int operations: XOR
  with the digit replicated in every lane, multiply by the FNV prime (a 32-bit state times the
  25-bit prime is < 2**57, so no lane spills into the next) and mask every lane back to 32 bits.
  17 seeds cost 1.3 µs together here, against 0.45 µs each one by one.
- **Second pass by table.** ``fnv1a32(str(h))``: the state after ``str(h // 10**4)`` is one of
  429,497 precomputed states (1.7 MB, shared by all plans) and the 4 zero-padded last digits are
  4 unrolled steps.

Units that are not ≥ 4 ASCII digits (string device ids, negative or short ids) take a plain
scalar path with the same answers. A plan is valid between two consecutive experiment starts or
ends (:meth:`Layout.time_bounds`), so ``assign`` finds it with one bisect.
"""

from __future__ import annotations

import array
import functools
import struct
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from shoplab.experiments.hashing import (
    BUCKETS,
    FNV_OFFSET,
    FNV_PRIME,
    _fnv_of_decimal,
    _fnv_update,
    choose_variation_array,
)
from shoplab.experiments.layout import CompiledExperiment, Layout
from shoplab.experiments.results import LayerAssignment

__all__ = ["PlanExperiment", "PlanLayer", "RequestPlan", "UnitHashes", "plan_at", "second_pass"]

_P: Final = FNV_PRIME
_M: Final = 0xFFFFFFFF
_LANE_BITS: Final = 64
_MAX_PACKED_LANES: Final = 64
"""Above this many v2 seeds in a plan, experiments' seeds leave the packed first pass (holdout and
layers stay): the packed pass costs ~0.6 µs + 28 ns per lane here, so past ~64 lanes hashing
only the ≤ 1 owner per layer one by one (~1 µs each) is cheaper than packing every seed."""
_UNIT_CACHE_SIZE: Final = 1 << 16
"""Units whose hash-decided answers a plan keeps. A user sends many requests a session, and the
answers are a pure function of (plan, unit): a repeated unit skips all hashing. 65,536 units ×
~0.3 KiB ≈ 20 MiB at most; cleared when full."""

_HEAD_DIV: Final = 10_000
# digit d of a 4-digit zero-padded tail, as code units: T4[lo] unpacks to 4 ints
_TAIL4: Final = tuple(b"%04d" % lo for lo in range(_HEAD_DIV))


@functools.cache
def _heads4() -> array.array[int]:
    """FNV-1a state after ``str(hi)`` for every ``hi`` ≤ 2**32 // 10**4.

    Entry 0: the offset basis. Built once per process, vectorized (~70 ms); an ``array('I')``
    (1.7 MB) rather than a list (17 MB of int objects), since indexing it is as fast.
    """
    his = np.arange((2**32 - 1) // _HEAD_DIV + 1, dtype=np.uint32)
    states = _fnv_of_decimal(his)
    states[0] = FNV_OFFSET
    return array.array("I", states.tobytes())


def second_pass(h: int, heads: array.array[int] | None = None) -> int:
    """``fnv1a32(str(h))`` for a 32-bit ``h`` (v2's second pass), by the head table.

    ``heads`` is :func:`_heads4`'s table, passed by callers on the request path to skip the
    cached call (~40 ns, a request makes up to 9 second passes).

    Example:
        >>> from experiments.hashing import fnv1a32
        >>> all(second_pass(h) == fnv1a32(str(h)) for h in (0, 9_999, 10_000, 2**32 - 1))
        True
    """
    hi, lo = divmod(h, _HEAD_DIV)
    if not hi:  # h < 10**4: no zero padding (probability 2e-6)
        return _fnv_update(FNV_OFFSET, str(h))
    c1, c2, c3, c4 = _TAIL4[lo]
    head = (heads if heads is not None else _heads4())[hi]
    return ((((head ^ c1) * _P ^ c2) * _P ^ c3) * _P ^ c4) * _P & _M


@dataclass(frozen=True, eq=False)
class PlanExperiment:
    """A running experiment as a request uses it.

    Attributes:
        compiled: the layout's compiled experiment.
        lane: its seed's lane in the packed first pass; -1 for v1 and for v2 seeds left out of
            the packed pass (:data:`_MAX_PACKED_LANES`), hashed one by one.
        eligible: targeting check, or None when the experiment targets everyone.
        answers: the answer for each hash value (10,000 for v2, 1,000 for v1); the layer's empty
            answer where GrowthBook's ranges hold no variation.
    """

    compiled: CompiledExperiment
    lane: int
    eligible: Callable[[Mapping[str, Any] | None], bool] | None
    answers: tuple[LayerAssignment, ...] = field(repr=False)  # 10,000 entries: keep reprs short


@dataclass(frozen=True, eq=False)
class PlanLayer:
    """A layer as a request uses it: bucket owners (None: no running experiment, no hash)."""

    name: str
    lane: int
    owners: tuple[PlanExperiment | None, ...] | None = field(repr=False)
    allow: Mapping[int, LayerAssignment] = field(repr=False)
    empty: LayerAssignment = field(repr=False)


UnitHashes = tuple[bool, tuple[PlanExperiment | None, ...], tuple[LayerAssignment, ...]]
"""What hashing decides for one unit: (in the holdout, each layer's owner, each layer's answer);
targeting and allowlists are applied per request on top, since they depend on attributes and
ids."""


def _answers(ce: CompiledExperiment, layer: str, empty: LayerAssignment) -> tuple[Any, ...]:
    """The answer for every hash value, with the same float comparisons as chooseVariation."""
    size = BUCKETS if ce.experiment.hash_version == 2 else 1_000
    n = np.arange(size, dtype=np.float64) / size  # == (h % size) / size in Python floats
    choice = choose_variation_array(n, ce.ranges).tolist()
    by_variant = [
        LayerAssignment(layer, ce.key, k, ce.params[i]) for i, k in enumerate(ce.variant_keys)
    ]
    return tuple(by_variant[i] if i >= 0 else empty for i in choice)


@dataclass(eq=False)
class RequestPlan:
    """Everything ``assign`` needs for one interval of time (see the module docstring)."""

    layers: tuple[PlanLayer, ...]
    holdout_lane: int  # -1: no holdout
    holdout_buckets: int
    lane_states: tuple[int, ...]  # each lane's FNV state after its seed
    # the big tables stay out of repr (a plan printed in a debugger or a test failure)
    packed: dict[bytes, int] = field(repr=False)  # 3-digit prefix -> all lanes after it
    replicated: tuple[int, ...] = field(repr=False)  # code unit c in every lane
    lane_mask: int = field(repr=False)
    unpack: Callable[[bytes], tuple[int, ...]] = field(repr=False)
    n_bytes: int = field(repr=False)
    heads: array.array[int] = field(repr=False)
    units: dict[str, UnitHashes] = field(repr=False)

    @classmethod
    def build(cls, layout: Layout, t: float) -> RequestPlan:
        """Compile the experiments of ``layout`` running at epoch second ``t``."""
        lane_states: list[int] = []

        def lane(state: int) -> int:
            lane_states.append(state)
            return len(lane_states) - 1

        holdout_lane, holdout_buckets = -1, 0
        if layout.holdout_state is not None and layout.holdout is not None:
            holdout_buckets = layout.holdout.buckets
            if holdout_buckets > 0:
                holdout_lane = lane(layout.holdout_state)
        layers = []
        n_v2 = sum(
            1 for cl in layout.layers for ce in cl.experiments
            if ce.t0 <= t < ce.t1 and ce.experiment.hash_version == 2
        )
        pack_experiments = len(lane_states) + len(layout.layers) + n_v2 <= _MAX_PACKED_LANES
        for cl in layout.layers:
            name = cl.layer.name
            empty = LayerAssignment(name)
            active = [ce for ce in cl.experiments if ce.t0 <= t < ce.t1]
            allow = {
                unit: LayerAssignment(name, ce.key, ce.variant_keys[i], ce.params[i], True)
                for unit, pairs in cl.allowlist.items()
                for ce, i in pairs[::-1]  # the first active pair wins, as in the set rules
                if ce.t0 <= t < ce.t1
            }
            if not active:
                layers.append(PlanLayer(name, -1, None, allow, empty))
                continue
            layer_lane = lane(cl.seed_state)
            owners: list[PlanExperiment | None] = [None] * BUCKETS
            for ce in active:
                v2 = ce.experiment.hash_version == 2 and pack_experiments
                pe = PlanExperiment(
                    ce, lane(ce.seed_state) if v2 else -1, ce.eligible if ce.targeted else None,
                    _answers(ce, name, empty),
                )
                p = ce.placement
                owners[p.start : p.end] = [pe] * (p.end - p.start)
            layers.append(PlanLayer(name, layer_lane, tuple(owners), allow, empty))
        n = len(lane_states)
        packed = {}
        for prefix in (f"{i:03d}" for i in range(1_000)):  # ~5 ms for 17 lanes, once per plan
            packed[prefix.encode()] = sum(
                _fnv_update(state, prefix) << (_LANE_BITS * i)
                for i, state in enumerate(lane_states)
            )
        ones = sum(1 << (_LANE_BITS * i) for i in range(n))
        return cls(
            layers=tuple(layers),
            holdout_lane=holdout_lane,
            holdout_buckets=holdout_buckets,
            lane_states=tuple(lane_states),
            packed=packed,
            replicated=tuple(c * ones for c in range(256)),
            lane_mask=_M * ones,
            unpack=struct.Struct(f"<{n}Q").unpack,
            n_bytes=8 * n,
            heads=_heads4(),
            units={},
        )

    def first_passes(self, s: str) -> tuple[int, ...]:
        """Every lane's first v2 pass, ``fnv1a32(seed + s)``, in lane order."""
        if len(s) > 3 and s.isascii() and s.isdigit():
            b = s.encode()
            x = self.packed[b[:3]]
            rep, mask = self.replicated, self.lane_mask
            for c in b[3:]:
                x = ((x ^ rep[c]) * _P) & mask
            return self.unpack(x.to_bytes(self.n_bytes, "little"))
        return tuple(_fnv_update(state, s) for state in self.lane_states)

    def hash_unit(self, s: str) -> UnitHashes:
        """What hashing decides for unit ``s`` (cached per plan)."""
        hit = self.units.get(s)
        if hit is not None:
            return hit
        h = self.first_passes(s)
        heads = self.heads
        holdout = (
            self.holdout_lane >= 0
            and second_pass(h[self.holdout_lane], heads) % BUCKETS < self.holdout_buckets
        )
        owners: list[PlanExperiment | None] = []
        answers: list[LayerAssignment] = []
        v1_state = -1
        for pl in self.layers:
            pe, answer = None, pl.empty
            if not holdout and pl.owners is not None:
                pe = pl.owners[second_pass(h[pl.lane], heads) % BUCKETS]
            if pe is None:
                pass
            elif pe.lane >= 0:
                answer = pe.answers[second_pass(h[pe.lane], heads) % BUCKETS]
            elif pe.compiled.experiment.hash_version == 2:  # v2 seed outside the packed pass
                first = _fnv_update(pe.compiled.seed_state, s)
                answer = pe.answers[second_pass(first, heads) % BUCKETS]
            else:  # v1: fnv1a32(unit + seed) % 1000
                if v1_state < 0:
                    v1_state = _fnv_update(FNV_OFFSET, s)
                state = v1_state
                for c in pe.compiled.seed_units:
                    state = ((state ^ c) * _P) & _M
                answer = pe.answers[state % 1_000]
            owners.append(pe)
            answers.append(answer)
        # three tuples per unit, not one per layer: fewer objects for the GC to walk in the cache
        result = (holdout, tuple(owners), tuple(answers))
        if len(self.units) >= _UNIT_CACHE_SIZE:
            self.units.clear()
        self.units[s] = result
        return result


def plan_at(layout: Layout, t: float) -> RequestPlan:
    """The plan of ``layout`` at epoch second ``t`` (built on first use, then cached)."""
    i = bisect_right(layout.time_bounds, t)
    plan = layout.request_plans.get(i)
    if plan is None:
        plan = layout.request_plans[i] = RequestPlan.build(layout, t)
    return plan

