"""Errors of the models area, each under its branch of :mod:`shoplab.core.errors`.

::

    UnknownModelError         a model, version or alias not in the registry   (NotFoundError)
    ModelLoadError            a version exists but its artifact cannot be loaded or does not
                              declare what serving needs (corrupt pickle, no feature list)
                                                                               (StateError)
    ModelPredictError         a loaded model's predict failed or returned unusable scores
                                                                               (StateError)
    RegistryUnavailableError  the MLflow tracking/registry URI cannot be reached (StateError)

Serving catches all four to fall back to the control ranker (and counts it); validation turns
them into one problem per variant; the CLI prints them as one line.
"""

from __future__ import annotations

from shoplab.core.errors import NotFoundError, StateError

__all__ = ["ModelLoadError", "ModelPredictError", "RegistryUnavailableError", "UnknownModelError"]


class UnknownModelError(NotFoundError):
    """A registered model, a version of it or an alias that the registry does not have."""


class ModelLoadError(StateError):
    """A registered version whose artifact cannot be loaded, or lacks its feature declaration."""


class ModelPredictError(StateError):
    """A loaded model whose scores cannot order the candidates (wrong count, NaN, inf)."""


class RegistryUnavailableError(StateError):
    """The MLflow URI (``$SHOPLAB_MLFLOW_URI`` or the local SQLite default) cannot be reached."""
