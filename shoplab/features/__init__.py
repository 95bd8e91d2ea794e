"""The feature store SDK: training sets and online ranking features through Feast.

Example (after ``shoplab features build``, ``apply_repo()`` and ``materialize(end)``)::

    import shoplab.features as sf

    labels = sf.training_labels("2026-01-01", "2026-01-05")  # one row per impression
    train = sf.training_set(labels, service="ranker_v1")     # point-in-time features
    feats = sf.ranking_features(42, [1, 2, 3])               # online, ttl enforced

Names resolve lazily (PEP 562, as in ``shoplab``): importing Feast costs seconds, and the CLI
(``shoplab --help``, experiment commands) must not pay it until a feature command runs.

Modules ``feature_store.yaml`` names (Feast plug-ins): ``shoplab.features.registry_store``
(registry file under the data root, written atomically), ``shoplab.features.online_store``
(wide SQLite online store), ``shoplab.features.offline_store`` (ASOF DuckDB offline store);
``shoplab.features.sqlite_online_store`` is Feast's own layout, a config-only fallback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoplab.core.lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "LABEL_COLUMNS": "shoplab.features.training",
    "FeatureStoreError": "shoplab.features.errors",
    "FeatureTableMissingError": "shoplab.features.errors",
    "LabelFrameError": "shoplab.features.errors",
    "RankingRequestError": "shoplab.features.errors",
    "SparkJobError": "shoplab.features.errors",
    "UnknownFeatureError": "shoplab.features.errors",
    "UnknownServiceError": "shoplab.features.errors",
    "apply_repo": "shoplab.features.repo",
    "build_features": "shoplab.features.repo",
    "feature_store": "shoplab.features.repo",
    "materialize": "shoplab.features.repo",
    "repo_path": "shoplab.features.repo",
    "ranking_features": "shoplab.features.online",
    "training_labels": "shoplab.features.training",
    "training_set": "shoplab.features.training",
}

__all__ = [
    "LABEL_COLUMNS",
    "FeatureStoreError",
    "FeatureTableMissingError",
    "LabelFrameError",
    "RankingRequestError",
    "SparkJobError",
    "UnknownFeatureError",
    "UnknownServiceError",
    "apply_repo",
    "build_features",
    "feature_store",
    "materialize",
    "ranking_features",
    "repo_path",
    "training_labels",
    "training_set",
]

if TYPE_CHECKING:  # pragma: no cover
    from shoplab.features.errors import (
        FeatureStoreError,
        FeatureTableMissingError,
        LabelFrameError,
        RankingRequestError,
        SparkJobError,
        UnknownFeatureError,
        UnknownServiceError,
    )
    from shoplab.features.online import ranking_features
    from shoplab.features.repo import (
        apply_repo,
        build_features,
        feature_store,
        materialize,
        repo_path,
    )
    from shoplab.features.training import LABEL_COLUMNS, training_labels, training_set


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
