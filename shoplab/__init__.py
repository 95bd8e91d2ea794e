"""shoplab: feature store and A/B experimentation for e-commerce ranking.

The SDK that model code and notebooks import::

    import shoplab

    shoplab.simulate(users=10_000, items=2_000, days=7, seed=1)   # write an event log
    labels = shoplab.training_labels("2026-01-06", "2026-01-07")  # one row per impression
    train = shoplab.training_set(labels, service="ranker_v1")     # point-in-time features
    feats = shoplab.ranking_features(42, [1, 2, 3])               # online, one user x N items
    shoplab.assign(42, {"country": "ID"})                         # every layer's variant
    trained = shoplab.train_model("ctr_ranker", "ranker_v2", "lightgbm",
                                  train=("2026-01-02", "2026-01-08"),
                                  valid=("2026-01-08", "2026-01-09"))  # MLflow-registered
    ranked = shoplab.rank(42, [1, 2, 3])                           # the user's rank variant's model
    card = shoplab.analyze("rank_ranker_v2")                       # a Scorecard

Names are resolved lazily (PEP 562) so that ``import shoplab`` does not pay for Feast, DuckDB or
Streamlit until a function that needs them is called: the CLI and per-request assignment stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoplab.core.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "data_root": "shoplab.core.paths",
    "simulate": "shoplab.simulator",
    "load_events": "shoplab.events",
    "training_labels": "shoplab.features",
    "training_set": "shoplab.features",
    "ranking_features": "shoplab.features",
    "assign": "shoplab.experiments",
    "assign_frame": "shoplab.experiments",
    "load_experiments": "shoplab.experiments",
    "train_model": "shoplab.models",
    "rank": "shoplab.models",
    "analyze": "shoplab.sdk",
    "power": "shoplab.sdk",
    "off_policy_evaluation": "shoplab.sdk",
    "Scorecard": "shoplab.analysis",
    # the error tree: `except shoplab.ShoplabError` catches everything shoplab raises on purpose
    "ShoplabError": "shoplab.core.errors",
    "ConfigError": "shoplab.core.errors",
    "DataError": "shoplab.core.errors",
    "InputError": "shoplab.core.errors",
    "NotFoundError": "shoplab.core.errors",
    "StateError": "shoplab.core.errors",
}

__all__ = [  # exactly the keys of _EXPORTS plus __version__ (tests/shoplab/test_public_surface.py)
    "ConfigError",
    "DataError",
    "InputError",
    "NotFoundError",
    "Scorecard",
    "ShoplabError",
    "StateError",
    "__version__",
    "analyze",
    "assign",
    "assign_frame",
    "data_root",
    "load_events",
    "load_experiments",
    "off_policy_evaluation",
    "power",
    "rank",
    "ranking_features",
    "simulate",
    "train_model",
    "training_labels",
    "training_set",
]

if TYPE_CHECKING:  # pragma: no cover
    from shoplab.analysis import Scorecard
    from shoplab.core.errors import (
        ConfigError,
        DataError,
        InputError,
        NotFoundError,
        ShoplabError,
        StateError,
    )
    from shoplab.core.paths import data_root
    from shoplab.events import load_events
    from shoplab.experiments import assign, assign_frame, load_experiments
    from shoplab.features import ranking_features, training_labels, training_set
    from shoplab.models import rank, train_model
    from shoplab.sdk import analyze, off_policy_evaluation, power
    from shoplab.simulator import simulate


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
