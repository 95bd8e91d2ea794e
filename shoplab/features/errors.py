"""Errors of the feature-store SDK.

::

    FeatureStoreError (ValueError)
     ├── UnknownServiceError         service name not in the registry
     ├── UnknownFeatureError         feature reference not in the registry
     ├── LabelFrameError             label frame: missing column, wrong dtype, naive timestamps
     └── FeatureTableMissingError    a view's Parquet source has no files (build not run)
"""

from __future__ import annotations

__all__ = [
    "FeatureStoreError",
    "FeatureTableMissingError",
    "LabelFrameError",
    "UnknownFeatureError",
    "UnknownServiceError",
]


class FeatureStoreError(ValueError):
    """Base class: bad input to the feature-store SDK."""


class UnknownServiceError(FeatureStoreError):
    """A feature service name that the applied registry does not hold."""


class UnknownFeatureError(FeatureStoreError):
    """A ``view:feature`` reference that the applied registry does not hold."""


class LabelFrameError(FeatureStoreError):
    """A label frame that breaks the contract of :func:`shoplab.features.training_set`."""


class FeatureTableMissingError(FeatureStoreError):
    """A feature view whose Parquet source has no files yet."""
