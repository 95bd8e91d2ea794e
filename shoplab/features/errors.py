"""Errors of the feature-store SDK, each under its branch of :mod:`shoplab.core.errors`.

::

    FeatureStoreError (ShoplabError, ValueError)   every error of the feature-store SDK
     ├── UnknownServiceError         service name not in the registry       (NotFoundError)
     ├── UnknownFeatureError         feature reference not in the registry  (NotFoundError)
     ├── LabelFrameError             label frame: missing column, wrong dtype, naive timestamps
     │                                                                        (InputError)
     ├── RankingRequestError         a ranking request: user id, candidates, as_of, request fields
     │                                                                        (InputError)
     ├── FeatureTableMissingError    a view's Parquet source has no files: build not run
     │                                                                        (StateError)
     └── SparkJobError               a Spark job cancelled or failed midway, or its JVM died
                                                                              (StateError)

``FeatureStoreError`` stays a ``ValueError`` and the ``Unknown*`` errors stay ``ValueError`` too:
code written before the tree (``except ValueError``) keeps catching them.
"""

from __future__ import annotations

from shoplab.core.errors import InputError, NotFoundError, ShoplabError, StateError

__all__ = [
    "FeatureStoreError",
    "FeatureTableMissingError",
    "LabelFrameError",
    "RankingRequestError",
    "SparkJobError",
    "UnknownFeatureError",
    "UnknownServiceError",
]


class FeatureStoreError(ShoplabError, ValueError):
    """Base class: every error the feature-store SDK raises on purpose."""


class UnknownServiceError(FeatureStoreError, NotFoundError):
    """A feature service name that the applied registry does not hold."""


class UnknownFeatureError(FeatureStoreError, NotFoundError):
    """A ``view:feature`` reference that the applied registry does not hold."""


class LabelFrameError(FeatureStoreError, InputError):
    """A label frame that breaks the contract of :func:`shoplab.features.training_set`."""


class RankingRequestError(FeatureStoreError, InputError):
    """A ranking request that breaks the contract of :func:`shoplab.features.ranking_features`."""


class FeatureTableMissingError(FeatureStoreError, StateError):
    """A feature view whose Parquet source has no files yet (``shoplab features build`` not run)."""


class SparkJobError(FeatureStoreError, StateError):
    """A Spark job of the offline store that was cancelled or failed midway, or whose JVM died.

    Nothing of the job is returned or written (a result comes back whole or not at all), so the
    caller re-runs the step; after a dead JVM the next call starts a new session.
    """
