"""Reading configs: a directory of experiment YAML files plus ``layers.yaml``.

The directory is, in order: the ``dir`` argument, ``$SHOPLAB_EXPERIMENTS`` (the ``experiments``
field of :func:`shoplab.core.settings.settings`), the package's ``experiments/configs``. Every
``*.yaml`` except ``layers.yaml`` is one experiment whose ``key`` equals its file name.
Per-request assignment reads the set through :func:`current_layout`, which caches it and
re-checks file modification times at most once a second (a ``stat`` per file costs ~1 µs, a tenth
of the per-request budget), so an edited config is served within a second.
"""

from __future__ import annotations

import difflib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from shoplab.core.settings import ENV_PREFIX, settings
from shoplab.experiments.errors import ConfigError, Problem
from shoplab.experiments.layout import Layout
from shoplab.experiments.models import Experiment, LayerSet, cross_field_problems

__all__ = [
    "LAYERS_FILE",
    "RawConfigs",
    "clear_cache",
    "config_dir",
    "current_layout",
    "load_experiments",
    "load_layers",
    "load_layout",
    "read_configs",
]

LAYERS_FILE = "layers.yaml"
DEFAULT_DIR = Path(__file__).parent / "configs"
_RECHECK_S = 1.0
_ENV_NAME = f"{ENV_PREFIX}EXPERIMENTS"
"""The variable behind ``settings().experiments``: read raw only as the per-request cache key."""


def config_dir(dir: str | os.PathLike[str] | None = None) -> Path:
    """The experiment config directory (argument > ``$SHOPLAB_EXPERIMENTS`` > package default)."""
    if dir is not None:
        return Path(dir).expanduser().resolve()
    configured = settings().experiments
    if configured is None or configured == Path():  # unset, or set empty (pydantic reads ".")
        return DEFAULT_DIR
    return configured.expanduser().resolve()


def _field_names(model: type[BaseModel]) -> frozenset[str]:
    """Every field name of ``model`` and of the models nested in it: the keys a config may use."""
    seen: set[type[BaseModel]] = set()
    names: set[str] = set()
    todo = [model]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        for name, info in m.model_fields.items():
            names.add(info.alias or name)
            todo.extend(_nested_models(info.annotation))
    return frozenset(names)


def _nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _nested_models(arg)


def _unknown_key_rule(key: object, known: frozenset[str]) -> str:
    """``trafic`` → "..., did you mean 'traffic'?": a misspelt key is the usual cause."""
    close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
    hint = f", did you mean {close[0]!r}?" if close else " (unknown key)."
    return f"Extra inputs are not permitted{hint}"


def _pydantic_problems(
    file: str,
    err: ValidationError,
    *,
    cross_field_reported: bool = False,
    model: type[BaseModel] | None = None,
) -> Iterator[Problem]:
    known = _field_names(model) if model is not None else frozenset()
    for e in err.errors():
        if cross_field_reported and not e["loc"] and e["type"] == "value_error":
            continue  # a cross-field rule: reported from the raw document (cross_field_problems)
        loc = ".".join(str(x) for x in e["loc"]) or "(file)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden" and known and e["loc"]:
            msg = _unknown_key_rule(e["loc"][-1], known)
        yield Problem(file, loc, e.get("input"), f"{msg} [{e['type']}]")


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> Problem:
    """A YAML syntax error as ``file: (file) == 'the line': ... at line L, column C: problem``.

    Line and column are 1-based, as editors show them. PyYAML's own text names the file twice
    over four lines; the problem, where it was noticed and where the broken construct opened are
    what the user needs.
    """
    mark = getattr(exc, "problem_mark", None)
    if not isinstance(exc, yaml.MarkedYAMLError) or mark is None:
        return Problem(path.name, "(file)", None, f"is not valid YAML: {exc}")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    text = lines[mark.line] if mark.line < len(lines) else ""
    rule = f"is not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    ctx = exc.context_mark
    if exc.context and ctx is not None and (ctx.line, ctx.column) != (mark.line, mark.column):
        rule += f" ({exc.context} at line {ctx.line + 1}, column {ctx.column + 1})"
    return Problem(path.name, "(file)", text, rule + ".")


def _read_yaml(path: Path) -> tuple[Any, Problem | None]:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh), None
    except yaml.YAMLError as exc:
        return None, _yaml_problem(path, exc)


@dataclass(frozen=True)
class RawConfigs:
    """What a directory holds: the models that parsed, the raw documents, and every problem."""

    dir: Path
    layers: LayerSet | None
    experiments: dict[str, Experiment]
    files: dict[str, str]  # experiment key -> file name
    raw: dict[str, Any]  # file name -> YAML document
    problems: list[Problem]


def read_configs(dir: str | os.PathLike[str] | None = None) -> RawConfigs:
    """Parse every file of the directory, collecting problems instead of stopping at the first."""
    root = config_dir(dir)
    problems: list[Problem] = []
    layers: LayerSet | None = None
    experiments: dict[str, Experiment] = {}
    files: dict[str, str] = {}
    raw: dict[str, Any] = {}
    if not root.is_dir():
        raise ConfigError([Problem(str(root), "(dir)", str(root), "must be a directory.")])
    layers_path = root / LAYERS_FILE
    if not layers_path.is_file():
        problems.append(Problem(LAYERS_FILE, "(file)", str(layers_path), "must exist."))
    else:
        doc, problem = _read_yaml(layers_path)
        raw[LAYERS_FILE] = doc
        if problem:
            problems.append(problem)
        else:
            try:
                layers = LayerSet.model_validate(doc)
            except ValidationError as exc:
                problems.extend(_pydantic_problems(LAYERS_FILE, exc, model=LayerSet))
    for path in sorted(root.glob("*.yaml")):
        if path.name == LAYERS_FILE:
            continue
        doc, problem = _read_yaml(path)
        raw[path.name] = doc
        if problem:
            problems.append(problem)
            continue
        if not isinstance(doc, dict):
            problems.append(Problem(path.name, "(file)", doc, "must be a mapping of fields."))
            continue
        try:
            exp = Experiment.model_validate(doc)
        except ValidationError as exc:
            problems.extend(
                _pydantic_problems(path.name, exc, cross_field_reported=True, model=Experiment)
            )
            problems.extend(
                Problem(path.name, f, v, r) for f, v, r in cross_field_problems(doc)
            )
            continue
        if exp.key != path.stem:
            problems.append(
                Problem(path.name, "key", exp.key, f"must equal the file name {path.stem!r}.")
            )
        if exp.key in experiments:
            problems.append(
                Problem(path.name, "key", exp.key, f"is already used by {files[exp.key]}.")
            )
            continue
        experiments[exp.key] = exp
        files[exp.key] = path.name
    return RawConfigs(root, layers, experiments, files, raw, problems)


def load_layout(dir: str | os.PathLike[str] | None = None) -> Layout:
    """Load and compile the whole set (file rules + set rules that assignment relies on).

    Raises:
        ConfigError: listing every problem (file, field, value, rule).
    """
    cfg = read_configs(dir)
    if cfg.problems or cfg.layers is None:
        raise ConfigError(cfg.problems)
    return Layout.build(cfg.layers, cfg.experiments, files=cfg.files)


def load_experiments(dir: str | os.PathLike[str] | None = None) -> dict[str, Experiment]:
    """Every experiment of the config directory by key (all statuses), validated as a set.

    The global holdout is included as an experiment too (key ``holdout.key``, layer
    ``"holdout"``, variants ``holdout`` / ``in_experiments`` weighted share / 1 - share), so that
    analysis reads it like any other test.

    Example:
        >>> exps = load_experiments()
        >>> exps["rank_ranker_v2"].layer, [v.key for v in exps["global_holdout"].variants]
        ('rank', ['holdout', 'in_experiments'])
    """
    layout = load_layout(dir)
    out = dict(layout.experiments)
    holdout = layout.holdout_experiment()
    if holdout is not None:
        out[holdout.key] = holdout
    return out


def load_layers(dir: str | os.PathLike[str] | None = None) -> LayerSet:
    """The layers and holdout of the config directory."""
    return load_layout(dir).layer_set


_lock = threading.Lock()
_cache: dict[object, tuple[float, tuple[tuple[str, int, int], ...], Layout]] = {}


def _fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in sorted(root.glob("*.yaml")):
        st = p.stat()
        out.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def current_layout(dir: str | os.PathLike[str] | None = None) -> Layout:
    """The cached :class:`Layout` of the config directory (reloaded when a file changes)."""
    # keyed on the raw argument / env value: Path.resolve() alone costs ~5 µs per request, and
    # settings() sorts the environment; what the value means is config_dir's (settings) rule
    raw = dir if dir is not None else os.environ.get(_ENV_NAME)
    now = time.monotonic()
    hit = _cache.get(raw)
    if hit is not None and now - hit[0] < _RECHECK_S:
        return hit[2]
    with _lock:
        root = config_dir(dir)
        fp = _fingerprint(root)
        if hit is not None and hit[1] == fp:
            _cache[raw] = (now, fp, hit[2])
            return hit[2]
        layout = load_layout(root)
        _cache[raw] = (now, fp, layout)
        return layout


def clear_cache() -> None:
    """Forget cached layouts (the next call reads the files again)."""
    with _lock:
        _cache.clear()
