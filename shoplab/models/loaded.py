"""Registered versions loaded for serving, cached per version (a load costs 20-300 ms).

A version is immutable in MLflow's registry (new weights are a new version), so a loaded model
stays valid while the process lives; what can change is which version a reference names (an
alias moved, a version deleted). :func:`resolve_cached` keeps that answer for
:data:`RESOLVE_TTL_S` seconds: a registry round trip per request would cost more than the
model's own predict, and a moved alias or a deleted version is seen within the ttl.
:func:`clear_cache` forgets both (tests, or a deploy that must take effect at once).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from shoplab.models.errors import ModelLoadError, ModelPredictError
from shoplab.models.ranker import SERVING_POSITION, FeatureSpec, ShoplabRanker
from shoplab.models.registry import (
    ModelRef,
    ModelVersionInfo,
    mlflow_client,
    resolve,
    tracking_uri,
)

__all__ = ["RESOLVE_TTL_S", "LoadedModel", "clear_cache", "load", "resolve_cached"]

RESOLVE_TTL_S = 10.0

_MODELS: dict[tuple[str, str, int], LoadedModel] = {}
_RESOLVED: dict[tuple[str, str], tuple[float, ModelVersionInfo]] = {}


@dataclass(frozen=True)
class LoadedModel:
    """A loaded version: its reference, its feature spec, and how to score a feature frame."""

    ref: str
    spec: FeatureSpec
    pyfunc: Any
    ranker: ShoplabRanker | None

    def score(self, frame: pl.DataFrame) -> np.ndarray:
        """P(label) per row of a ``ranking_features`` frame, each scored at the top position.

        The built-in ranker is called directly on the Polars frame (no pandas round trip, no
        MLflow schema enforcement: ~1 ms of the 15 ms budget at 500 candidates); any other pyfunc
        gets a pandas frame of its declared features, numbers as float64.
        """
        if self.ranker is not None:
            return self.ranker.score(frame, SERVING_POSITION)
        if "position" in self.spec.features:
            frame = frame.with_columns(position=pl.lit(SERVING_POSITION, dtype=pl.Float64))
        cols = [
            pl.col(c) if frame.schema[c] == pl.String else pl.col(c).cast(pl.Float64)
            for c in self.spec.features
        ]
        out = self.pyfunc.predict(frame.select(cols).to_pandas())
        scores = np.asarray(out, dtype=np.float64).reshape(-1)
        if scores.size != frame.height:
            raise ModelPredictError(
                f"model {self.ref} returned {scores.size} scores, must return one per row "
                f"({frame.height})."
            )
        return scores


def clear_cache() -> None:
    """Forget loaded models and resolved references."""
    _MODELS.clear()
    _RESOLVED.clear()


def resolve_cached(ref: str) -> ModelVersionInfo:
    """:func:`~shoplab.models.registry.resolve`, remembered for :data:`RESOLVE_TTL_S` seconds."""
    key = (tracking_uri(), ref)
    now = time.monotonic()
    hit = _RESOLVED.get(key)
    if hit is not None and now - hit[0] < RESOLVE_TTL_S:
        return hit[1]
    info = resolve(ModelRef.parse(ref))
    if len(_RESOLVED) > 256:
        _RESOLVED.clear()
    _RESOLVED[key] = (now, info)
    return info


def load(info: ModelVersionInfo) -> LoadedModel:
    """The loaded model of a registered version (cached per tracking URI and version).

    Raises:
        ModelLoadError: the artifact cannot be loaded (missing, corrupt, an unpicklable class),
            or a version shoplab did not train declares no ``shoplab.service`` /
            ``shoplab.features`` tags.
    """
    key = (tracking_uri(), info.name, info.version)
    hit = _MODELS.get(key)
    if hit is not None:
        return hit
    import mlflow.pyfunc

    try:
        with mlflow_client():  # sets MLflow's global registry URI, which load_model reads
            pyfunc = mlflow.pyfunc.load_model(f"models:/{info.name}/{info.version}")
            inner = pyfunc.unwrap_python_model()
    except Exception as exc:  # MLflow, pickle, OSError ...: all mean "this artifact is unusable"
        raise ModelLoadError(
            f"model {info.ref} (source {info.source}) cannot be loaded: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:300] if str(exc) else ''}; must be a loadable MLflow "
            "pyfunc model (register a new version)."
        ) from exc
    if isinstance(inner, ShoplabRanker):
        loaded = LoadedModel(info.ref, inner.spec, pyfunc, inner)
    elif info.spec is not None:
        loaded = LoadedModel(info.ref, info.spec, pyfunc, None)
    else:
        raise ModelLoadError(
            f"model {info.ref} declares no feature list: tags shoplab.service and "
            "shoplab.features (a JSON list) must be set on the version for serving to know its "
            "inputs."
        )
    _MODELS[key] = loaded
    return loaded
