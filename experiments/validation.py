"""``shoplab experiments validate``: every rule, every file, every problem at once.

File rules (:mod:`experiments.models`): types, unknown fields, weights summing to 1, end after
start, UTC datetimes, one of buckets / traffic, allowlisted variants exist, key = file name.
Params named like a stage parameter of the serving system (``recall_size``,
``mix_video_share`` …) must be numbers within its bounds, so a bad value fails here and not on
day 8 of a simulation. Targeting values must be countries and platforms of the event-log
contract (``shoplab.core.contract``).
Set rules (:mod:`experiments.layout`): known layer, a range for every experiment, no overlapping
ranges in a layer while both run, no unit allowlisted twice in a layer. Catalog rule: every metric
name is in the analysis catalog. Interleaving rule: a ``type: interleaving`` experiment has two
variants in the rank layer that set only ranker params. Model rule: a variant's ``model`` /
``feature_service`` params name a registered model version and a feature service that match
(``param_checker``, from ``shoplab.models.deploy_check``).

The metric catalog, the parameter bounds and the model registry belong to the layers that define
them (analysis, the simulator, models), which this layer must not import: the caller passes them
(``metrics=``, ``param_bounds=``, ``param_checker=``; the ``shoplab experiments validate`` command
and the demo do). A check whose input is not given is skipped, and the report says so
(``ValidationReport.skipped``; the model check only where a variant names a ``model``).

Lock rule: the last validated set of *running* experiments is stored in
``$SHOPLAB_DATA/experiments/lock.json`` (written after a validation with no problem). A running
experiment that is still running with the same salt must keep what decides its units — layer and
layer salt, hash version, variant keys and weights in order, and a bucket range containing the
locked one — otherwise units would move between variants or leave it mid-test. Declaring a new
``salt`` re-randomizes on purpose and is accepted (analysis must then start a new period). The
holdout's share and salt are locked the same way. Experiments that stopped or disappeared leave
the lock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shoplab.core.atomic import atomic_write_text
from shoplab.core.contract import COUNTRIES, PLATFORMS
from shoplab.experiments.allocation import place
from shoplab.experiments.errors import Problem
from shoplab.experiments.layout import set_problems, unknown_layer
from shoplab.experiments.loader import LAYERS_FILE, RawConfigs, read_configs
from shoplab.experiments.models import Experiment, LayerSet

__all__ = [
    "SKIPPED_METRICS",
    "SKIPPED_MODELS",
    "SKIPPED_PARAMS",
    "ParamBounds",
    "ParamChecker",
    "ValidationReport",
    "default_lock_path",
    "validate",
    "validate_all",
]

LOCK_VERSION = 1

ParamBounds = Mapping[str, tuple[float, float]]
"""Stage parameter name -> inclusive ``(low, high)`` a variant's value must lie in."""

ParamChecker = Callable[[str, Mapping[str, Any]], Iterable[tuple[str, object, str]]]
"""``(layer, a variant's params) -> (param, value, rule)`` for every param it refuses."""

SKIPPED_METRICS = "metric names: no metric catalog given (metrics=None)"
SKIPPED_PARAMS = "stage parameter bounds: none given (param_bounds=None)"
SKIPPED_MODELS = "model params: no model registry check given (param_checker=None)"


def default_lock_path() -> Path:
    """``$SHOPLAB_DATA/experiments/lock.json``."""
    from shoplab.core.paths import data_root

    return data_root() / "experiments" / "lock.json"


@dataclass(frozen=True)
class ValidationReport:
    """What validation found: all problems, whether the lock was (re)written, what was not checked.

    ``skipped`` names each check left out because its input was not given (an empty tuple: every
    rule was checked), so "OK" never silently means "OK, except the metric names".
    """

    dir: Path
    experiments: int
    running: int
    problems: tuple[Problem, ...]
    lock_path: Path
    lock_written: bool
    skipped: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems


def _raw_metric_names(metrics: object) -> list[tuple[str, object]]:
    if not isinstance(metrics, dict):
        return []
    out: list[tuple[str, object]] = []
    if isinstance(metrics.get("primary"), str):
        out.append(("metrics.primary", metrics["primary"]))
    for group in ("secondary", "guardrails"):
        values = metrics.get(group)
        if isinstance(values, list):
            out += [
                (f"metrics.{group}[{i}]", m) for i, m in enumerate(values) if isinstance(m, str)
            ]
    return out


def _lock_entry(e: Experiment, layers: LayerSet, start: int, end: int) -> dict[str, Any]:
    layer = layers.layer(e.layer)
    return {
        "layer": e.layer,
        "layer_salt": layer.seed if layer else None,
        "salt": e.seed,
        "hash_version": e.hash_version,
        "variants": [[v.key, v.weight] for v in e.variants],
        "buckets": [start, end],
    }


def _lock_problems(
    lock: dict[str, Any], now: dict[str, dict[str, Any]], layers: LayerSet, files: dict[str, str]
) -> list[Problem]:
    problems: list[Problem] = []
    fix = "declare a new salt to re-randomize on purpose"
    for key, cur in now.items():
        old = lock.get("experiments", {}).get(key)
        if old is None or old["salt"] != cur["salt"]:
            continue
        f = files.get(key, key)
        for field, why in (
            ("layer", "units would be re-bucketed"),
            ("layer_salt", "units would be re-bucketed"),
            ("hash_version", "units would move between variants"),
            ("variants", "units would move between variants"),
        ):
            if old[field] != cur[field]:
                name = (
                    {"layer_salt": "layer salt", "variants": "variants (key, weight)"}[field]
                    if field in ("layer_salt", "variants")
                    else field
                )
                problems.append(
                    Problem(
                        f,
                        field,
                        cur[field],
                        f"must equal the locked {name} {old[field]!r} of running experiment "
                        f"{key} ({why}); {fix}.",
                    )
                )
        (o0, o1), (c0, c1) = old["buckets"], cur["buckets"]
        if not (c0 <= o0 and o1 <= c1):
            problems.append(
                Problem(
                    f,
                    "buckets",
                    [c0, c1],
                    f"must contain the locked range [{o0}, {o1}) of running experiment {key} "
                    f"(units would leave it mid-test); pin buckets or {fix}.",
                )
            )
    old_h, h = lock.get("holdout"), layers.holdout
    if (
        old_h is not None
        and h is not None
        and old_h["salt"] == h.salt
        and old_h["share"] != h.share
    ):
        problems.append(
            Problem(
                LAYERS_FILE,
                "holdout.share",
                h.share,
                f"must equal the locked share {old_h['share']} (units would move in or out of "
                f"the holdout); {fix}.",
            )
        )
    return problems


def _metric_problems(
    file: str, pairs: Iterable[tuple[str, object]], catalog: frozenset[str]
) -> list[Problem]:
    known = sorted(catalog)
    return [
        Problem(file, field, name, f"must be a metric of the analysis catalog {known}.")
        for field, name in pairs
        if name not in catalog
    ]


def _targeting_problems(file: str, e: Experiment) -> list[Problem]:
    # a typo in targeting ("IDN") would silently assign nobody: check against the contract
    out = []
    for field, values, allowed in (
        ("targeting.countries", e.targeting.countries, COUNTRIES),
        ("targeting.platforms", e.targeting.platforms, PLATFORMS),
    ):
        out += [
            Problem(file, f"{field}[{i}]", value, f"must be one of {list(allowed)}.")
            for i, value in enumerate(values)
            if value not in allowed
        ]
    return out


def _param_problems(file: str, e: Experiment, bounds: ParamBounds) -> list[Problem]:
    out = []
    for i, v in enumerate(e.variants):
        for name, param in v.params.items():
            if name not in bounds:
                continue
            lo, hi = bounds[name]
            if isinstance(param, str) or not lo <= param <= hi:
                out.append(
                    Problem(
                        file,
                        f"variants[{i}].params.{name}",
                        param,
                        f"must be a number within [{lo:g}, {hi:g}] (a stage parameter the "
                        "serving system bounds).",
                    )
                )
    return out


INTERLEAVING_LAYER = "rank"
"""Interleaving compares two rankers: the rank stage is the only one that orders one list."""
_RANKER_PARAMS = ("model", "feature_service")  # plus every rank_w_* hand weight


def _interleaving_problems(file: str, e: Experiment) -> list[Problem]:
    """An interleaving experiment: two rank-layer variants, each naming a ranker by its params.

    One list is shown per request, so a variant may only set what decides its *ranking*: hand
    weights (``rank_w_*``) or a ``model`` reference (with its ``feature_service``). Empty params
    are the baseline ranker (an A/A's control).
    """
    if e.type != "interleaving":
        return []
    out = []
    if e.trigger is not None:
        out.append(
            Problem(
                file,
                "trigger",
                e.trigger.model_dump(),
                "must be unset for type == 'interleaving': every unit sees both rankers' "
                "draft, there is no other arm to compare with (set it on an ab experiment).",
            )
        )
    if e.layer != INTERLEAVING_LAYER:
        out.append(
            Problem(
                file,
                "layer",
                e.layer,
                f"must be {INTERLEAVING_LAYER!r} for type == 'interleaving' (it compares rankers).",
            )
        )
    if len(e.variants) != 2:
        out.append(
            Problem(
                file,
                "variants",
                [v.key for v in e.variants],
                "must be exactly two for type == 'interleaving' (ranker A, then ranker B).",
            )
        )
    for i, v in enumerate(e.variants):
        for name, value in v.params.items():
            if not (name in _RANKER_PARAMS or name.startswith("rank_w_")):
                out.append(
                    Problem(
                        file,
                        f"variants[{i}].params.{name}",
                        value,
                        "must be a ranker param (model, feature_service, rank_w_*) in an "
                        "interleaving experiment: both rankers share one list.",
                    )
                )
    return out


def _checked_problems(file: str, e: Experiment, checker: ParamChecker) -> list[Problem]:
    return [
        Problem(file, f"variants[{i}].params.{name}", value, rule)
        for i, v in enumerate(e.variants)
        for name, value, rule in checker(e.layer, v.params)
    ]


def _unparsed_problems(cfg: RawConfigs, catalog: frozenset[str] | None) -> list[Problem]:
    """Files that failed to parse still get the rules that need only one raw field."""
    out: list[Problem] = []
    parsed = set(cfg.files.values()) | {LAYERS_FILE}
    for name, doc in cfg.raw.items():
        if name in parsed or not isinstance(doc, dict):
            continue
        layer = doc.get("layer")
        if cfg.layers is not None and isinstance(layer, str) and cfg.layers.layer(layer) is None:
            out.append(unknown_layer(name, layer, [x.name for x in cfg.layers.layers]))
        if catalog is not None:
            out += _metric_problems(name, _raw_metric_names(doc.get("metrics")), catalog)
    return out


def _write_lock(path: Path, cfg: RawConfigs, running: dict[str, dict[str, Any]]) -> None:
    h = cfg.layers.holdout if cfg.layers is not None else None
    doc = {
        "version": LOCK_VERSION,
        "written_at": datetime.now(UTC).isoformat(),
        "dir": str(cfg.dir),
        "holdout": {"key": h.key, "salt": h.salt, "share": h.share} if h else None,
        "experiments": running,
    }
    # atomic: a concurrent reader sees the old or the new lock
    atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True))


def validate(
    dir: str | os.PathLike[str] | None = None,
    *,
    metrics: Iterable[str] | None = None,
    param_bounds: ParamBounds | None = None,
    param_checker: ParamChecker | None = None,
    lock_path: Path | None = None,
    write_lock: bool = True,
) -> ValidationReport:
    """Check every file and the set; list every problem.

    Args:
        dir: the config directory (default: ``$SHOPLAB_EXPERIMENTS`` or the package's).
        metrics: the metric catalog to check metric names against (the integration layer passes
            ``analysis.metrics.metric_names()``); None skips that check.
        param_bounds: bounds of the stage parameters a variant may set (the integration layer
            passes ``shoplab.simulator.params.PARAM_BOUNDS``); None skips that check.
        param_checker: checks of params the layers above own (the integration layer passes
            ``shoplab.models.deploy_check.check_variant_params``: model versions, feature
            services, skew); None skips it, reported where a variant names a ``model``.
        lock_path: the lock of running experiments (default: :func:`default_lock_path`).
        write_lock: update the lock when no problem is found.
    """
    cfg = read_configs(dir)
    problems = list(cfg.problems)
    lock_path = lock_path or default_lock_path()
    catalog = frozenset(metrics) if metrics is not None else None
    bounds: ParamBounds = param_bounds if param_bounds is not None else {}
    skipped = tuple(
        why
        for why, given in ((SKIPPED_METRICS, catalog), (SKIPPED_PARAMS, param_bounds))
        if given is None
    )
    if param_checker is None and any(
        "model" in v.params for e in cfg.experiments.values() for v in e.variants
    ):
        skipped += (SKIPPED_MODELS,)
    for key, e in cfg.experiments.items():
        file = cfg.files[key]
        if catalog is not None:
            problems += _metric_problems(file, e.metrics.names(), catalog)
        problems += _targeting_problems(file, e)
        problems += _param_problems(file, e, bounds)
        problems += _interleaving_problems(file, e)
        if param_checker is not None:
            problems += _checked_problems(file, e, param_checker)
    holdout = cfg.layers.holdout if cfg.layers is not None else None
    if catalog is not None and holdout is not None and holdout.metrics is not None:
        pairs = [(f"holdout.{f}", m) for f, m in holdout.metrics.names()]
        problems += _metric_problems(LAYERS_FILE, pairs, catalog)
    problems += _unparsed_problems(cfg, catalog)
    running: dict[str, dict[str, Any]] = {}
    if cfg.layers is not None:
        placements = place(cfg.experiments)
        lock: dict[str, Any] | None = None
        if lock_path.is_file():
            lock = json.loads(lock_path.read_text(encoding="utf-8"))
        # the lock tells which of two overlapping experiments is untouched since the last run
        locked = {
            k: (str(v.get("salt")), int(v["buckets"][0]), int(v["buckets"][1]))
            for k, v in ((lock or {}).get("experiments") or {}).items()
            if isinstance(v, dict) and isinstance(v.get("buckets"), list) and len(v["buckets"]) == 2
        }
        problems += set_problems(cfg.layers, cfg.experiments, placements, cfg.files, locked)
        running = {
            k: _lock_entry(e, cfg.layers, placements[k].start, placements[k].end)
            for k, e in cfg.experiments.items()
            if e.status == "running" and placements[k].error is None
        }
        if lock is not None:
            problems += _lock_problems(lock, running, cfg.layers, cfg.files)
    written = not problems and write_lock and cfg.layers is not None
    if written:
        _write_lock(lock_path, cfg, running)
    return ValidationReport(
        cfg.dir, len(cfg.experiments), len(running), tuple(problems), lock_path, written, skipped
    )


def validate_all(
    dir: str | os.PathLike[str] | None = None,
    *,
    metrics: Iterable[str] | None = None,
    param_bounds: ParamBounds | None = None,
    param_checker: ParamChecker | None = None,
) -> dict[str, Experiment]:
    """Validate (updating the lock) and return the experiments that can have exposures.

    What a pipeline runs before simulating or analyzing: every running or stopped experiment by
    key, plus the global holdout as an experiment (see :func:`experiments.load_experiments`).
    Drafts are validated but left out: they have no exposures to analyze. ``metrics`` and
    ``param_bounds`` and ``param_checker`` are as in :func:`validate` (None skips that check).

    Raises:
        ConfigError: listing every problem, as ``shoplab experiments validate`` prints them.
    """
    from shoplab.experiments.errors import ConfigError
    from shoplab.experiments.loader import load_experiments

    report = validate(dir, metrics=metrics, param_bounds=param_bounds, param_checker=param_checker)
    if not report.ok:
        raise ConfigError(list(report.problems))
    return {k: e for k, e in load_experiments(dir).items() if e.status != "draft"}
