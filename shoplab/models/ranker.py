"""The built-in ranker as an MLflow pyfunc: encoder + estimator + the features it was trained on.

Position bias, the standard way: the impression's ``position`` is a training feature, so the
model learns how much of a click is the slot rather than the item, and at inference every
candidate is scored at the same position (:data:`SERVING_POSITION`, the top slot). The scores
then compare items as if each were shown first, which is the question a ranker answers; the
slot effect is a constant shift that cannot reorder them (for LightGBM, up to interactions the
trees learned with position).

:class:`ShoplabRanker` is pickled into the MLflow artifact with its :class:`FeatureSpec`, so a
loaded version knows its service and its inputs without reading the registry's tags; MLflow's
``predict`` (a pandas frame) and shoplab's fast :meth:`ShoplabRanker.score` (a Polars frame,
what serving uses) run the same code.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from shoplab.core.settings import settings
from shoplab.models.encoding import Encoder

with warnings.catch_warnings():
    # mlflow 3.17 warns (UserWarning) about type hints of its own response types at import
    warnings.simplefilter("ignore")
    import mlflow.pyfunc  # noqa: F401  (the first import, quietly; the name comes below)
from mlflow.pyfunc.model import PythonModel  # noqa: E402  (already imported: no warning)

__all__ = ["ALGOS", "SERVING_POSITION", "TARGETS", "Algo", "FeatureSpec", "ShoplabRanker", "Target"]

Algo = Literal["lightgbm", "logreg", "popularity"]
Target = Literal["click", "order"]
ALGOS: tuple[Algo, ...] = ("lightgbm", "logreg", "popularity")
"""``popularity``: logistic regression on the item's impression/click/order/GMV volumes only
(``shoplab.models.train.POPULARITY_FEATURES``) and position: the weak baseline of the
offline-vs-online comparison, which knows nothing of the user."""
TARGETS: tuple[Target, ...] = ("click", "order")
SERVING_POSITION = 1
"""The position every candidate is scored at (the top slot; positions in the log start at 1)."""
_PARALLEL_ROWS = 256  # below this LightGBM's OpenMP start-up costs more than it saves
_LARGE_BATCH = 10_000  # from here (offline, the simulator's chunks) every core, whatever is set


@dataclass(frozen=True)
class FeatureSpec:
    """What a model reads: its feature service, its inputs in order, and their dtypes.

    Attributes:
        service: the Feast feature service it was trained on (and must be served with).
        features: the model's inputs in order: ``position`` and ``view__feature`` columns.
        dtypes: Polars dtype name of each input, as in the training set.
        service_features: every feature column the service returned at training time; the
            skew guard compares it with the service as it is in the registry today.
        target: ``click`` (CTR: P(click | impression)) or ``order`` (CVR: P(order | click)).
    """

    service: str
    features: tuple[str, ...]
    dtypes: tuple[tuple[str, str], ...]
    service_features: tuple[str, ...]
    target: Target = "click"

    def tags(self) -> dict[str, str]:
        """The registry tags that declare this spec (``shoplab.*``; JSON for the lists)."""
        return {
            "shoplab.service": self.service,
            "shoplab.features": json.dumps(list(self.features)),
            "shoplab.feature_dtypes": json.dumps(dict(self.dtypes)),
            "shoplab.service_features": json.dumps(list(self.service_features)),
            "shoplab.target": self.target,
        }

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> FeatureSpec:
        """The spec a registered version declares in its tags (any pyfunc can declare one).

        Raises:
            KeyError / ValueError: a tag is missing or is not the JSON it should be.
        """
        features = tuple(json.loads(tags["shoplab.features"]))
        dtypes = json.loads(tags.get("shoplab.feature_dtypes", "{}"))
        service_features = json.loads(tags.get("shoplab.service_features", "null"))
        target = tags.get("shoplab.target", "click")
        if target not in TARGETS:
            raise ValueError(f"shoplab.target == {target!r}, must be one of {list(TARGETS)}.")
        return cls(
            service=tags["shoplab.service"],
            features=features,
            dtypes=tuple((k, str(v)) for k, v in dtypes.items()),
            service_features=tuple(
                service_features
                if service_features is not None
                else [f for f in features if f != "position"]
            ),
            target=target,
        )


class ShoplabRanker(PythonModel):
    """An encoder and a fitted LightGBM booster or logistic regression, as one pyfunc model.

    ``algo == "popularity"`` is a logistic regression too (on fewer inputs).
    """

    # MLflow wraps a subclass's ``predict`` to validate inputs by its type hints: none to read
    _skip_type_hint_validation = True

    def __init__(self, spec: FeatureSpec, encoder: Encoder, estimator: Any, algo: Algo) -> None:
        """Bundle what :func:`shoplab.models.train.fit_ranker` fitted."""
        self.spec = spec
        self.encoder = encoder
        self.estimator = estimator
        self.algo = algo

    def score(self, frame: pl.DataFrame, position: int | None = SERVING_POSITION) -> np.ndarray:
        """P(label) of every row of a feature frame (``ranking_features`` or ``training_set``).

        Args:
            frame: holds every input of :attr:`spec` but ``position``.
            position: the position every row is scored at (default: serving's); ``None`` reads
                the frame's own ``position`` column (offline: the impressions as logged).
        """
        if position is not None and "position" in self.spec.features:
            frame = frame.with_columns(position=pl.lit(position, dtype=pl.Int32))
        x = self.encoder.matrix(frame)
        return self._predict(x)

    def _predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if self.algo == "lightgbm":
            n = x.shape[0]
            # a ranking request (500 candidates) on both cores: 1.7x faster than on one,
            # measured alternating on 2 cores; SHOPLAB_PREDICT_THREADS=1 for throughput
            threads = (
                1 if n < _PARALLEL_ROWS else 0 if n >= _LARGE_BATCH else settings().predict_threads
            )
            return np.asarray(self.estimator.predict(x, num_threads=threads), dtype=np.float64)
        return np.asarray(self.estimator.predict_proba(x)[:, 1], dtype=np.float64)

    # unannotated on purpose: MLflow infers a signature from ``predict``'s type hints at every
    # log_model and warns that ``Any`` is none it supports; the logged signature declares them
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        """MLflow's entry point: a pandas frame of the inputs -> P(label) per row.

        A frame without ``position`` is scored at :data:`SERVING_POSITION`; one with it, at its
        own positions (what an offline evaluation through ``mlflow.pyfunc`` wants).
        """
        frame = pl.from_pandas(model_input)
        return self.score(frame, None if "position" in frame.columns else SERVING_POSITION)
