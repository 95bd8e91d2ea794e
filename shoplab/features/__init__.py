"""The feature store SDK: training sets and online ranking features through Feast.

Example (after ``shoplab features build``, ``apply_repo()`` and ``materialize(end)``)::

    import shoplab.features as sf

    labels = sf.training_labels("2026-01-01", "2026-01-05")  # one row per impression
    train = sf.training_set(labels, service="ranker_v1")     # point-in-time features
    feats = sf.ranking_features(42, [1, 2, 3])               # online, ttl enforced
"""

from shoplab.features.errors import (
    FeatureStoreError,
    FeatureTableMissingError,
    LabelFrameError,
    UnknownFeatureError,
    UnknownServiceError,
)
from shoplab.features.online import ranking_features
from shoplab.features.repo import apply_repo, build_features, feature_store, materialize
from shoplab.features.training import LABEL_COLUMNS, training_labels, training_set

__all__ = [
    "LABEL_COLUMNS",
    "FeatureStoreError",
    "FeatureTableMissingError",
    "LabelFrameError",
    "UnknownFeatureError",
    "UnknownServiceError",
    "apply_repo",
    "build_features",
    "feature_store",
    "materialize",
    "ranking_features",
    "training_labels",
    "training_set",
]
