"""Ranking models: train CTR/CVR models on the feature store, register in MLflow, serve them.

Example (after ``shoplab features build`` / ``apply`` / ``materialize``)::

    import shoplab.models as sm

    trained = sm.train_model("ctr_ranker", "ranker_v2", "lightgbm",
                             train=("2026-01-02", "2026-01-08"), valid=("2026-01-08", "2026-01-09"))
    sm.set_alias("ctr_ranker", trained.version.version, "challenger")
    ranked = sm.rank(42, [1, 2, 3], {"query": "shoes"})  # the user's rank variant's model

A rank-layer variant deploys a model with ``params: {model: ctr_ranker@challenger}``;
``shoplab experiments validate`` checks it (:mod:`shoplab.models.deploy_check`). Names resolve
lazily (PEP 562): MLflow and LightGBM cost seconds to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoplab.core.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "FallbackCount": "shoplab.models.fallbacks",
    "FeatureSpec": "shoplab.models.ranker",
    "ModelLoadError": "shoplab.models.errors",
    "ModelPredictError": "shoplab.models.errors",
    "ModelRef": "shoplab.models.registry",
    "ModelVersionInfo": "shoplab.models.registry",
    "OfflineMetrics": "shoplab.models.metrics",
    "RegistryUnavailableError": "shoplab.models.errors",
    "ShoplabRanker": "shoplab.models.ranker",
    "TrainedModel": "shoplab.models.train",
    "UnknownModelError": "shoplab.models.errors",
    "check_variant_params": "shoplab.models.deploy_check",
    "fallback_counts": "shoplab.models.fallbacks",
    "get_version": "shoplab.models.registry",
    "list_versions": "shoplab.models.registry",
    "rank": "shoplab.models.serve",
    "register": "shoplab.models.registry",
    "serving_rows": "shoplab.models.serving_log",
    "set_alias": "shoplab.models.registry",
    "train_model": "shoplab.models.train",
}

__all__ = [
    "FallbackCount",
    "FeatureSpec",
    "ModelLoadError",
    "ModelPredictError",
    "ModelRef",
    "ModelVersionInfo",
    "OfflineMetrics",
    "RegistryUnavailableError",
    "ShoplabRanker",
    "TrainedModel",
    "UnknownModelError",
    "check_variant_params",
    "fallback_counts",
    "get_version",
    "list_versions",
    "rank",
    "register",
    "serving_rows",
    "set_alias",
    "train_model",
]

if TYPE_CHECKING:  # pragma: no cover
    from shoplab.models.deploy_check import check_variant_params
    from shoplab.models.errors import (
        ModelLoadError,
        ModelPredictError,
        RegistryUnavailableError,
        UnknownModelError,
    )
    from shoplab.models.fallbacks import FallbackCount, fallback_counts
    from shoplab.models.metrics import OfflineMetrics
    from shoplab.models.ranker import FeatureSpec, ShoplabRanker
    from shoplab.models.registry import (
        ModelRef,
        ModelVersionInfo,
        get_version,
        list_versions,
        register,
        set_alias,
    )
    from shoplab.models.serve import rank
    from shoplab.models.serving_log import serving_rows
    from shoplab.models.train import TrainedModel, train_model

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
