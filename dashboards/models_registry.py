"""What the Models page reads: the MLflow registry through ``shoplab.models``.

Each version's offline metrics, calibration and importance, which rank variant serves which
version, and the serving fallbacks.

Cached with ``st.cache_data`` keyed on the data root and the registry file's fingerprint, so a
new ``shoplab models train`` or ``alias`` shows up on the next rerun. Names a user picks are
compared against the registry's own list; nothing typed reaches a query.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from shoplab.core import paths
from shoplab.dashboards.data import (
    MissingDependency,
    UnknownName,
    _config_files,
    experiments,
    fingerprint,
)

__all__ = [
    "calibration",
    "deployments",
    "fallbacks",
    "importance",
    "model_version",
    "offline_online",
    "versions",
]


def _version() -> tuple[str, tuple[tuple[str, int, int], ...]]:
    from shoplab.models.registry import local_paths

    db, _ = local_paths()
    fallbacks_db = paths.data_root() / "models" / "fallbacks.db"
    files = [*(p for p in (db, fallbacks_db) if p.exists()), *_config_files()]
    return str(paths.data_root()), fingerprint(files)


def _infos() -> list[Any]:
    from shoplab.models.errors import RegistryUnavailableError
    from shoplab.models.registry import list_versions

    try:
        return list_versions()
    except RegistryUnavailableError as exc:
        raise MissingDependency(str(exc)) from exc


@st.cache_data(show_spinner="Reading the model registry…")
def _versions(root: str, version: tuple[tuple[str, int, int], ...]) -> pd.DataFrame:
    del root, version
    from shoplab.models.report import metrics_table

    return metrics_table(_infos()).to_pandas()


def versions() -> pd.DataFrame:
    """Every registered version with its aliases, service, windows and offline metrics."""
    return _versions(*_version())


def _info(ref: str) -> Any:
    known = {i.ref: i for i in _infos()}
    if ref not in known:
        raise UnknownName(f"model == {ref!r}, must be one of {sorted(known)}.")
    return known[ref]


@st.cache_data(show_spinner="Reading the calibration…")
def _calibration(ref: str, root: str, version: tuple[tuple[str, int, int], ...]) -> pd.DataFrame:
    del root, version
    from shoplab.models.report import calibration as read

    return read(_info(ref)).to_pandas()


def calibration(ref: str) -> pd.DataFrame:
    """Predicted vs observed rate by decile of the version's valid window."""
    return _calibration(ref, *_version())


@st.cache_data(show_spinner="Loading the model…")
def _importance(ref: str, root: str, version: tuple[tuple[str, int, int], ...]) -> pd.DataFrame:
    del root, version
    from shoplab.models.report import feature_importance

    return feature_importance(_info(ref)).to_pandas()


def importance(ref: str) -> pd.DataFrame:
    """Per input feature: split gain (LightGBM) or |standardized coefficient| (logreg)."""
    return _importance(ref, *_version())


@st.cache_data(show_spinner="Resolving deployed models…")
def _deployments(root: str, version: tuple[tuple[str, int, int], ...]) -> pd.DataFrame:
    del root, version
    from dataclasses import asdict

    from shoplab.models.report import deployments as resolve

    rows = [asdict(d) for d in resolve(experiments())]
    cols = ["experiment", "status", "variant", "reference", "version", "problem"]
    return pd.DataFrame(rows, columns=cols)


def deployments() -> pd.DataFrame:
    """Which experiment and variant of the rank layer serve which version."""
    return _deployments(*_version())


def model_version(key: str) -> dict[str, str]:
    """Variant -> the model version it serves (``name/version`` or why none), of one experiment."""
    table = deployments()
    rows = table[table["experiment"] == key]
    return {
        str(r.variant): str(r.version) if r.version is not None else f"unresolved: {r.reference}"
        for r in rows.itertuples()
    }


@st.cache_data(show_spinner=False)
def _fallbacks(root: str, version: tuple[tuple[str, int, int], ...]) -> pd.DataFrame:
    del root, version
    from dataclasses import asdict

    from shoplab.models.fallbacks import fallback_counts

    cols = ["experiment", "variant", "model", "reason", "count", "last_ts", "last_message"]
    return pd.DataFrame([asdict(f) for f in fallback_counts()], columns=cols)


def fallbacks() -> pd.DataFrame:
    """Serving fallbacks counted per experiment, variant, model and reason."""
    return _fallbacks(*_version())


@st.cache_data(show_spinner="Comparing offline and online…")
def _offline_online(root: str, version: tuple[tuple[str, int, int], ...]) -> pd.DataFrame:
    del root, version
    import polars as pl

    from shoplab.dashboards.data import scorecard
    from shoplab.models.report import offline_online as compare

    frames = []
    for key, exp in sorted(experiments().items()):
        if exp.layer != "rank" or not any("model" in (v.params or {}) for v in exp.variants):
            continue
        own = paths.scorecards_dir() / f"{key}.json"
        if not own.is_file():  # analyzed scorecards only: the page does not run an analysis
            continue
        table = compare(exp, scorecard(key))
        if table.height:
            frames.append(table.with_columns(experiment=pl.lit(key)))
    if not frames:
        return pd.DataFrame()
    out = pl.concat(frames, how="diagonal_relaxed")
    return out.select(["experiment", *[c for c in out.columns if c != "experiment"]]).to_pandas()


def offline_online() -> pd.DataFrame:
    """Each model-served rank arm: offline gain vs its control's model, online lift, agreement."""
    folder = paths.scorecards_dir()
    scorecards = sorted(folder.glob("*.json")) if folder.is_dir() else []
    root, version = _version()
    return _offline_online(root, (*version, *fingerprint(scorecards)))
