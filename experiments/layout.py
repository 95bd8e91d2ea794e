"""The compiled experiment set: layers, holdout, and each experiment's bucket range.

:class:`Layout` is what assignment reads. Building it checks the set rules assignment relies on
(known layer, a range for every experiment, no two experiments sharing a bucket of a layer while
both run, an allowlisted unit in at most one experiment of a layer at a time) and precomputes what
a request needs: each seed's FNV-1a state (v2 hashes ``seed + unit``, so the seed's part is hashed
once per config load, not per request), the GrowthBook weight ranges, params as read-only mappings,
and the times where the set of running experiments changes (``experiments.request_plan`` compiles
one plan per interval between them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from shoplab.experiments.allocation import Placement, overlaps, place
from shoplab.experiments.errors import ConfigError, Problem
from shoplab.experiments.hashing import FNV_OFFSET, _code_units, _fnv_update, bucket_ranges
from shoplab.experiments.models import Experiment, Holdout, Layer, LayerSet, ParamValue

__all__ = ["CompiledExperiment", "CompiledLayer", "Layout", "set_problems", "unknown_layer"]


@dataclass(frozen=True)
class CompiledExperiment:
    """An experiment as assignment uses it."""

    experiment: Experiment
    placement: Placement
    ranges: tuple[tuple[float, float], ...]
    variant_keys: tuple[str, ...]
    params: tuple[Mapping[str, ParamValue], ...]
    seed_state: int  # FNV state after the seed (v2 prefix)
    seed_units: tuple[int, ...]  # the seed's code units (v1 suffix)
    t0: float  # start, epoch seconds
    t1: float  # end, epoch seconds
    countries: frozenset[str] | None
    platforms: frozenset[str] | None
    user_type: str
    attributes: tuple[tuple[str, frozenset[Any]], ...]

    @property
    def key(self) -> str:
        """The experiment key."""
        return self.experiment.key

    @property
    def targeted(self) -> bool:
        """Whether any targeting rule applies (else every unit is eligible)."""
        return (
            self.countries is not None or self.platforms is not None
            or self.user_type != "all" or bool(self.attributes)
        )

    def eligible(self, attributes: Mapping[str, Any] | None) -> bool:
        """Whether a unit with ``attributes`` passes targeting (missing attribute: not eligible)."""
        if not self.targeted:
            return True
        a = attributes or {}
        if self.countries is not None and a.get("country") not in self.countries:
            return False
        if self.platforms is not None and a.get("platform") not in self.platforms:
            return False
        if self.user_type != "all":
            is_new = a.get("is_new_user")
            if not isinstance(is_new, bool) or is_new != (self.user_type == "new"):
                return False
        return all(a.get(name) in allowed for name, allowed in self.attributes)


@dataclass(frozen=True)
class CompiledLayer:
    """A layer and the experiments placed in it."""

    layer: Layer
    seed_state: int
    experiments: tuple[CompiledExperiment, ...]
    allowlist: Mapping[int, tuple[tuple[CompiledExperiment, int], ...]]


def _compile(e: Experiment, p: Placement) -> CompiledExperiment:
    t = e.targeting
    return CompiledExperiment(
        experiment=e,
        placement=p,
        ranges=tuple(bucket_ranges(len(e.variants), 1.0, e.weights)),
        variant_keys=tuple(v.key for v in e.variants),
        params=tuple(MappingProxyType(dict(v.params)) for v in e.variants),
        seed_state=_fnv_update(FNV_OFFSET, e.seed),
        seed_units=tuple(_code_units(e.seed)),
        t0=e.start.timestamp(),
        t1=e.end.timestamp(),
        countries=frozenset(t.countries) if t.countries else None,
        platforms=frozenset(t.platforms) if t.platforms else None,
        user_type=t.user_type,
        attributes=tuple((k, frozenset(v)) for k, v in t.attributes.items()),
    )


def _time_overlap(a: Experiment, b: Experiment) -> bool:
    return a.start < b.end and b.start < a.end


def unknown_layer(file: str, layer: object, names: list[str]) -> Problem:
    """The unknown-layer problem (shared with validation of files that failed to parse)."""
    return Problem(file, "layer", layer, f"must be one of the layers {names}.")


def set_problems(
    layers: LayerSet,
    experiments: Mapping[str, Experiment],
    placements: Mapping[str, Placement],
    files: Mapping[str, str] | None = None,
    locked: Mapping[str, tuple[str, int, int]] | None = None,
) -> list[Problem]:
    """Set rules: known layer, placeable, no overlapping ranges, no double allowlisting.

    An overlap is reported once, on the file that most likely caused it, and names both files and
    both ranges. The user edits one file and the other is the range it ran into, so the blamed one
    is the less established of the two: not in the lock of running experiments with its current
    salt and range (``locked``: key -> (salt, start, end)), then a draft before a running one,
    then the later start, then the later key. Blaming the untouched file sends the user to fix a
    config that was right.
    """
    files = files or {}
    locks = locked or {}

    def established(e: Experiment) -> tuple[bool, bool, float]:
        # larger is more established: locked as it is now, running, started earlier
        p = placements[e.key]
        in_lock = locks.get(e.key) == (e.seed, p.start, p.end)
        return (in_lock, e.status == "running", -e.start.timestamp())

    problems: list[Problem] = []
    names = [layer.name for layer in layers.layers]
    live = [e for e in experiments.values() if e.status != "stopped"]
    if layers.holdout is not None and layers.holdout.key in experiments:
        key = layers.holdout.key
        problems.append(Problem(files.get(key, key), "key", key,
                                "must differ from the holdout's key (layers.yaml holdout.key)."))
    for e in experiments.values():
        f = files.get(e.key, e.key)
        if layers.layer(e.layer) is None:
            problems.append(unknown_layer(f, e.layer, names))
        p = placements[e.key]
        if p.error is not None and e.status != "stopped":
            problems.append(Problem(f, "traffic", e.traffic, p.error))
    # one seed for two experiments correlates their variants unit by unit (treatment in one ⇔
    # treatment in the other), which breaks orthogonality across layers: seeds must be unique
    reserved = {layer.seed: f"layer {layer.name}" for layer in layers.layers}
    if layers.holdout is not None:
        reserved[layers.holdout.salt] = "the holdout"
    for e in sorted(live, key=lambda e: e.key):
        if e.seed in reserved:
            problems.append(
                Problem(files.get(e.key, e.key), "salt" if e.salt is not None else "key", e.seed,
                        f"must be a unique variant seed; {reserved[e.seed]} uses it already.")
            )
        else:
            reserved[e.seed] = f"experiment {e.key}"
    for i, a in enumerate(live):
        for b in live[i + 1 :]:
            if a.layer != b.layer or not _time_overlap(a, b):
                continue
            pa, pb = placements[a.key], placements[b.key]
            if pa.error or pb.error:
                continue
            if overlaps(pa, pb):
                ra, rb = established(a), established(b)
                # blame the less established; on a full tie the later key (b if keys sort so)
                new, old = (a, b) if ra < rb or (ra == rb and a.key > b.key) else (b, a)
                pn, po = placements[new.key], placements[old.key]
                fn, fo = files.get(new.key, new.key), files.get(old.key, old.key)
                problems.append(
                    Problem(
                        fn, "buckets", [pn.start, pn.end],
                        f"must not overlap {old.key} ({fo}) buckets "
                        f"[{po.start}, {po.end}) in layer {a.layer!r} while both run "
                        f"({fn} [{pn.start}, {pn.end}) and {fo} [{po.start}, {po.end}) share "
                        f"[{max(pn.start, po.start)}, {min(pn.end, po.end)})).",
                    )
                )
            both = set(a.allowlist) & set(b.allowlist)
            if both:
                problems.append(
                    Problem(
                        files.get(b.key, b.key), "allowlist", sorted(both),
                        f"units must not be allowlisted in two experiments of layer {a.layer!r} "
                        f"at once (also in {a.key}).",
                    )
                )
    return problems


@dataclass(frozen=True)
class Layout:
    """Layers, holdout and placed experiments: everything assignment needs, precomputed."""

    layer_set: LayerSet
    experiments: Mapping[str, Experiment]
    placements: Mapping[str, Placement]
    layers: tuple[CompiledLayer, ...]
    holdout_state: int | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    # epoch seconds where the set of running experiments changes (starts and ends, sorted)
    time_bounds: tuple[float, ...] = ()
    # per-request plans by interval of time_bounds (experiments.request_plan), built on first use
    request_plans: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def holdout(self) -> Holdout | None:
        """The global holdout, if configured."""
        return self.layer_set.holdout

    @classmethod
    def build(
        cls,
        layers: LayerSet,
        experiments: Mapping[str, Experiment],
        files: Mapping[str, str] | None = None,
    ) -> Layout:
        """Check the set rules and compile.

        Raises:
            ConfigError: listing every set problem.
        """
        placements = place(experiments)
        problems = set_problems(layers, experiments, placements, files)
        if problems:
            raise ConfigError(problems)
        compiled_layers = []
        for layer in layers.layers:
            members = tuple(
                _compile(e, placements[e.key])
                for e in sorted(experiments.values(), key=lambda e: placements[e.key].start)
                if e.layer == layer.name and e.status == "running"
            )
            allow: dict[int, list[tuple[CompiledExperiment, int]]] = {}
            for ce in members:
                for unit, variant in ce.experiment.allowlist.items():
                    allow.setdefault(unit, []).append((ce, ce.variant_keys.index(variant)))
            compiled_layers.append(
                CompiledLayer(
                    layer,
                    _fnv_update(FNV_OFFSET, layer.seed),
                    members,
                    MappingProxyType({u: tuple(v) for u, v in allow.items()}),
                )
            )
        holdout_state = (
            _fnv_update(FNV_OFFSET, layers.holdout.salt) if layers.holdout is not None else None
        )
        return cls(
            layers,
            MappingProxyType(dict(experiments)),
            MappingProxyType(placements),
            tuple(compiled_layers),
            holdout_state,
            MappingProxyType(dict(files or {})),
            tuple(sorted({t for cl in compiled_layers for ce in cl.experiments
                          for t in (ce.t0, ce.t1)})),
        )

    def holdout_experiment(self) -> Experiment | None:
        """The holdout as an analyzable experiment (None without a holdout or a time window).

        Its window is the holdout's ``start`` / ``end`` or, when not configured, the span of the
        running experiments.
        """
        h = self.layer_set.holdout
        if h is None:
            return None
        running = [e for e in self.experiments.values() if e.status == "running"]
        start = h.start or (min(e.start for e in running) if running else None)
        end = h.end or (max(e.end for e in running) if running else None)
        if start is None or end is None:
            return None
        return h.as_experiment(start, end)

    def experiment(self, key: str) -> CompiledExperiment | None:
        """The running, compiled experiment ``key`` (None if absent or not running)."""
        for layer in self.layers:
            for ce in layer.experiments:
                if ce.key == key:
                    return ce
        return None
