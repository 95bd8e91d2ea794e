"""The marketplace simulator: the world every demo, test and benchmark runs on.

``simulate(users, items, days, seed)`` writes the event log of ``shoplab.core.contract`` under
``$SHOPLAB_DATA/events``: users, shops and items (with new ones arriving every day), requests on
search and feed served by recall → rank → mix, impressions with positions, clicks with position
bias, orders with quantity, GMV and refunds. A ``Policy`` sets every stage's parameters per user
and day, which is how experiments plug in.

``ExperimentPolicy`` is that plug: the experiment configs as a ``Policy`` (the simulator owns the
adapter, so the experiment layer never imports the simulator). A rank variant that deploys a
registered model (``params: {model: ctr_ranker@challenger}``) is ranked by it on the features
serving would have returned (``shoplab.simulator.model_rank``); ``simulate(on_day=...)`` is where
such models are trained on the pre-period before their experiment starts.

Names resolve lazily (PEP 562): a caller that needs only the ``Policy`` contract must not pay for
NumPy/pyarrow generation code it never runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoplab.core.lazy import lazy_exports

__all__ = [
    "BASELINE",
    "ExperimentPolicy",
    "Policy",
    "PolicyDecision",
    "SimulationReport",
    "WorldConfig",
    "simulate",
    "world_of",
]

_EXPORTS = {
    "BASELINE": "shoplab.simulator.policy",
    "ExperimentPolicy": "shoplab.simulator.experiment_policy",
    "Policy": "shoplab.simulator.policy",
    "PolicyDecision": "shoplab.simulator.policy",
    "SimulationReport": "shoplab.simulator.run",
    "WorldConfig": "shoplab.simulator.config",
    "simulate": "shoplab.simulator.run",
    "world_of": "shoplab.simulator.run",
}

if TYPE_CHECKING:  # pragma: no cover
    from shoplab.simulator.config import WorldConfig
    from shoplab.simulator.experiment_policy import ExperimentPolicy
    from shoplab.simulator.policy import BASELINE, Policy, PolicyDecision
    from shoplab.simulator.run import SimulationReport, simulate, world_of


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
