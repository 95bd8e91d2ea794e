"""Every read the dashboard makes, cached, through the SDK.

Pages never open files or build SQL: they call the functions here, which call the public SDK
(``experiments.load_experiments``, ``analysis.analyze``, the Feast registry through
``shoplab.features``) and cache the answer with ``st.cache_data``. What a user types (the experiment
key in the URL, a segment name) is only ever compared against keys the SDK returned, never passed
into a query.

Cache keys carry the data root and a fingerprint of the files behind the answer (name, size and
mtime of each scorecard or config file), so a fresh ``shoplab demo`` shows up on the next rerun
without a restart, and two data roots in one process (tests) never share entries.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final, TypeVar

import streamlit as st

from shoplab.core import paths
from shoplab.core.errors import NotFoundError, StateError

__all__ = [
    "EXPERIMENT_PARAM",
    "MissingDependency",
    "UnknownName",
    "bucket_map",
    "data_root_label",
    "experiment",
    "experiments",
    "fingerprint",
    "higher_is_better",
    "interactions",
    "or_stop",
    "power_grid",
    "scorecard",
    "segment_dimensions",
    "segment_scorecard",
    "select_experiment",
    "verdicts",
]

EXPERIMENT_PARAM: Final = "experiment"
"""URL query parameter that selects the experiment (``/scorecard?experiment=rank_ranker_v2``)."""

_SESSION_KEY: Final = "shoplab_experiment"
T = TypeVar("T")


class MissingDependency(StateError):
    """A part of shoplab the page needs is not installed or not built yet (named in the message)."""


class UnknownName(NotFoundError, KeyError):
    """A page asked for an experiment, segment or view that does not exist (also a ``KeyError``).

    The message lists the known names, so the page can show it as is.
    """

    def __str__(self) -> str:
        """The message as given (``KeyError`` would show its repr)."""
        return str(self.args[0]) if self.args else ""


def data_root_label() -> str:
    """The data root the dashboard reads, for the sidebar (so nobody reads the wrong demo run)."""
    return str(paths.data_root())


def _sdk(module: str, name: str) -> Any:
    """Return ``module.name`` or raise :class:`MissingDependency` naming what is absent."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(f"`{module}` cannot be imported ({exc}).") from exc
    try:
        return getattr(mod, name)
    except (AttributeError, ImportError) as exc:  # lazy facades import on attribute access
        raise MissingDependency(f"`{module}.{name}` does not exist yet ({exc}).") from exc


def fingerprint(files: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """(name, size, mtime_ns) of each existing file: a cache key that changes when a file does."""
    out = []
    for f in sorted(files):
        try:
            st_ = f.stat()
        except FileNotFoundError:
            continue
        out.append((str(f), st_.st_size, st_.st_mtime_ns))
    return tuple(out)


def _config_files() -> list[Path]:
    """Experiment config files (``experiments.loader.config_dir()``): the experiments cache key."""
    try:
        folder = Path(_sdk("shoplab.experiments", "config_dir")())
    except MissingDependency:
        return []
    return [*folder.glob("*.yaml"), *folder.glob("*.yml")] if folder.is_dir() else []


@st.cache_data(show_spinner="Loading experiment configs…")
def _load_experiments(root: str, version: tuple[tuple[str, int, int], ...]) -> dict[str, Any]:
    del root, version  # cache key only
    return dict(_sdk("shoplab.experiments", "load_experiments")())


def experiments() -> dict[str, Any]:
    """Every experiment config, keyed by experiment key (``experiments.load_experiments``)."""
    return _load_experiments(str(paths.data_root()), fingerprint(_config_files()))


def experiment(key: str) -> Any:
    """One experiment config; :class:`UnknownName` with the known keys when ``key`` is unknown."""
    exps = experiments()
    if key not in exps:
        raise UnknownName(
            f"experiment == {key!r}, must be one of the configured experiments: "
            f"{', '.join(sorted(exps)) or '(none)'}."
        )
    return exps[key]


def select_experiment(*, label: str = "Experiment") -> str:
    """The experiment this page shows: from ``?experiment=`` in the URL, else a sidebar picker.

    An unknown key in the URL stops the page with a message naming the key and the known ones;
    it never reaches the SDK.
    """
    try:
        exps = experiments()
    except MissingDependency as exc:
        st.warning(f"Experiments are not available: {exc}")
        st.stop()
    keys = sorted(exps)
    if not keys:
        st.info("No experiments are configured. Add a YAML file under `experiments/configs/`.")
        st.stop()
    requested = st.query_params.get(EXPERIMENT_PARAM)
    if requested is not None and requested not in exps:
        st.error(
            f"Unknown experiment `{requested}` in the URL (`?{EXPERIMENT_PARAM}={requested}`). "
            f"Known experiments: {', '.join(f'`{k}`' for k in keys)}."
        )
        st.stop()
    current = requested or st.session_state.get(_SESSION_KEY)
    if current not in exps:
        # a running experiment is what someone opening the dashboard cold wants to see
        running = [k for k in keys if getattr(exps[k], "status", None) == "running"]
        current = (running or keys)[0]
    chosen = st.sidebar.selectbox(label, keys, index=keys.index(current))
    st.session_state[_SESSION_KEY] = chosen
    if st.query_params.get(EXPERIMENT_PARAM) != chosen:
        st.query_params[EXPERIMENT_PARAM] = chosen
    return str(chosen)


def _scorecard_files() -> list[Path]:
    folder = paths.scorecards_dir()
    return list(folder.glob("*.json")) if folder.is_dir() else []


@st.cache_data(show_spinner="Loading scorecard…", max_entries=256)
def _scorecard(key: str, root: str, version: tuple[tuple[str, int, int], ...]) -> Any:
    del root, version  # cache key only
    scorecard_not_found = _sdk("shoplab.analysis", "ScorecardNotFoundError")
    # an interleaving experiment has its own scorecard type (analysis.interleaving)
    if _sdk("shoplab.analysis.interleaving", "is_interleaving_scorecard")(key):
        return _sdk("shoplab.analysis.interleaving", "load_interleaving_scorecard")(key)
    if _sdk("shoplab.analysis.interleaving", "experiment_type")(experiment(key)) == "interleaving":
        card = _sdk("shoplab.sdk", "analyze_interleaving")(key)
        _sdk("shoplab.analysis.interleaving", "save_interleaving_scorecard")(card)
        return card
    try:
        return _sdk("shoplab.analysis", "load_scorecard")(key)
    except scorecard_not_found:
        # Not analyzed yet: compute it now through the SDK (analyze also writes the cache file).
        return _sdk("shoplab.sdk", "analyze")(key)


def scorecard(key: str) -> Any:
    """The experiment's Scorecard: the cached JSON when there is one, else ``analysis.analyze``.

    Raises:
        UnknownName: ``key`` is not a configured experiment.
        MissingDependency: the analysis package is not there yet.
    """
    experiment(key)  # unknown keys stop here, before any file name is formed from them
    own = paths.scorecards_dir() / f"{key}.json"
    return _scorecard(key, str(paths.data_root()), fingerprint([own]))


@st.cache_data(show_spinner="Analyzing segments…", max_entries=256)
def _segment_scorecard(
    key: str, dimension: str, root: str, version: tuple[tuple[str, int, int], ...]
) -> Any:
    del root, version
    # the daily series is not shown per segment: skip its SQL pass
    return _sdk("shoplab.sdk", "analyze")(key, segment=dimension, daily=False)


def segment_dimensions() -> tuple[str, ...]:
    """Dimensions a scorecard can be broken down by (``analysis.units.SEGMENT_DIMENSIONS``)."""
    return tuple(_sdk("shoplab.analysis.units", "SEGMENT_DIMENSIONS"))


def segment_scorecard(key: str, dimension: str) -> Any:
    """Scorecard of ``key`` broken down by ``dimension`` (BH-adjusted across segments)."""
    experiment(key)
    dims = segment_dimensions()
    if dimension not in dims:
        raise UnknownName(f"segment == {dimension!r}, must be one of: {', '.join(dims)}.")
    own = paths.scorecards_dir() / f"{key}.json"
    return _segment_scorecard(key, dimension, str(paths.data_root()), fingerprint([own]))


def verdicts() -> dict[str, str]:
    """Experiment key → verdict of its primary metric, for experiments with a cached scorecard."""
    from shoplab.dashboards.views import primary_verdict

    out: dict[str, str] = {}
    for f in _scorecard_files():
        key = f.stem
        try:
            card = _scorecard(key, str(paths.data_root()), fingerprint([f]))
        except Exception as exc:  # one broken file must not hide the other experiments
            out[key] = f"unreadable ({type(exc).__name__})"
            continue
        if getattr(card, "type", "ab") == "interleaving":
            out[key] = f"interleaving: {card.decision.decision}"
            continue
        out[key] = primary_verdict(card, higher_is_better(card.primary_metric))
    return out


def higher_is_better(metric: str) -> bool:
    """Direction of ``metric`` from the metric catalog (unknown metrics: higher is better)."""
    try:
        return bool(_sdk("shoplab.analysis.metrics", "get_metric")(metric).higher_is_better)
    except (MissingDependency, KeyError):
        return True


@st.cache_data(show_spinner=False)
def _placements(root: str, version: tuple[tuple[str, int, int], ...]) -> dict[str, Any]:
    del root, version
    exps = experiments()
    return dict(_sdk("shoplab.experiments.allocation", "place")(exps))


def bucket_map() -> tuple[Any, float]:
    """Every layer's bucket ranges (experiments and free space) and the global holdout share."""
    from shoplab.dashboards.views import bucket_ranges

    placements = _placements(str(paths.data_root()), fingerprint(_config_files()))
    layer_names: list[str] = []
    holdout: tuple[str, int] | None = None
    share = 0.0
    try:
        layer_set = _sdk("shoplab.experiments", "load_layers")()
    except MissingDependency:
        layer_set = None
    if layer_set is not None:
        layer_names = [layer.name for layer in layer_set.layers]
        if layer_set.holdout is not None:
            share = layer_set.holdout.share
            holdout = (layer_set.holdout.key, layer_set.holdout.buckets)
    return bucket_ranges(placements, experiments(), layer_names, holdout), share


def interactions(key: str) -> list[dict[str, Any]] | None:
    """Cross-layer interaction checks involving ``key`` as plain dicts, or None if not computed.

    Read from ``shoplab.sdk.interactions(key)``, cached on the data files: it carries
    the full contingency tables the page shows (the Scorecard's ``interactions`` section is the
    same checks flattened to one row per effect, for JSON/Markdown readers). Never synthesized
    here: None means the page says "not computed yet".
    """
    try:
        fn = _sdk("shoplab.sdk", "interactions")
    except MissingDependency:
        return None
    return _interactions(key, str(paths.data_root()), fingerprint(_scorecard_files()), fn)


def _as_dict(record: Any) -> dict[str, Any]:
    if isinstance(record, dict):
        return record
    for method in ("to_dict", "model_dump"):
        if hasattr(record, method):
            return dict(getattr(record, method)())
    raise TypeError(f"interaction record of type {type(record).__name__} has no to_dict().")


@st.cache_data(show_spinner="Checking interactions between layers…")
def _interactions(
    key: str, root: str, version: tuple[tuple[str, int, int], ...], _fn: Any
) -> list[dict[str, Any]]:
    del root, version  # _fn: a leading underscore keeps it out of the cache key
    return [_as_dict(r) for r in _fn(key)]


@st.cache_data(show_spinner="Computing power from historical data…")
def _power_grid(
    metric: str,
    shares: tuple[float, ...],
    days: tuple[int, ...],
    alpha: float,
    power: float,
    variants: int,
    root: str,
    version: tuple[tuple[str, int, int], ...],
) -> Any:
    del root, version
    import pandas as pd

    fn = _sdk("shoplab.analysis", "power")
    rows = []
    for share in shares:  # ≤ 5 × 10 calls, one SQL pass each: display-size, not a hot path
        for d in days:
            try:
                res = fn(metric, share, d, alpha=alpha, power=power, variants=variants)
            except ValueError as exc:  # e.g. fewer days of data than asked: say so in the cell
                rows.append({"days": d, "traffic_share": share, "status": str(exc)})
                continue
            rows.append(
                {
                    "days": d,
                    "traffic_share": share,
                    "status": "ok",
                    "mde": res.mde_rel,
                    "mde_cuped": res.mde_rel_cuped,
                    "mde_abs": res.mde_abs,
                    "units_per_variant": res.units_per_variant,
                    "baseline": res.baseline,
                    "variance_reduction": res.variance_reduction,
                }
            )
    cols = [
        "days",
        "traffic_share",
        "status",
        "mde",
        "mde_cuped",
        "mde_abs",
        "units_per_variant",
        "baseline",
        "variance_reduction",
    ]
    return pd.DataFrame(rows, columns=cols)


def power_grid(
    metric: str,
    shares: tuple[float, ...],
    days: tuple[int, ...],
    *,
    alpha: float,
    power: float,
    variants: int,
) -> Any:
    """MDE for each traffic share × duration (``analysis.power``), one row per cell.

    A cell the SDK refuses (too few days of data for that duration) keeps its row with the error
    in ``status`` instead of disappearing.
    """
    # a new simulation rewrites the scorecards too, so their fingerprint marks new data
    return _power_grid(
        metric,
        shares,
        days,
        alpha,
        power,
        variants,
        str(paths.data_root()),
        fingerprint(_scorecard_files()),
    )


def or_stop(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call an SDK read for a page; on a missing part or an empty data root, say so and stop.

    A fresh checkout has no event log until ``shoplab demo`` runs: that is a state to explain,
    not a traceback to show.
    """
    try:
        return fn(*args, **kwargs)
    except MissingDependency as exc:
        st.warning(f"{what} is not available: {exc}")
    except FileNotFoundError as exc:
        st.warning(
            f"{what}: no data under `{paths.data_root()}` yet ({exc}). Run `shoplab demo`, or "
            "point `$SHOPLAB_DATA` at an event log."
        )
    st.stop()
    raise AssertionError("st.stop() returned")  # pragma: no cover - st.stop raises
