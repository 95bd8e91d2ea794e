"""Key-based analysis: an experiment key → its configured experiment → ``shoplab.analysis``.

Analysis takes its input record (``analysis.spec``) and never imports the experiments package;
this integration module composes the two: it looks keys up in
``experiments.load_experiments()`` and hands every configured experiment along, so that the
interaction checks see the concurrent experiments of other layers. ``shoplab.analyze`` and
``shoplab.power`` are these functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from shoplab.analysis.power_analysis import power  # needs no experiment: it measures traffic
from shoplab.analysis.spec import ExperimentLike, resolve_experiment

if TYPE_CHECKING:  # pragma: no cover
    from shoplab.analysis.interactions import InteractionResult
    from shoplab.analysis.interleaving import InterleavingScorecard
    from shoplab.analysis.ope import OpeResult
    from shoplab.analysis.replicate import UnitAggregates
    from shoplab.analysis.scorecard import Scorecard

__all__ = [
    "analyze",
    "analyze_interleaving",
    "experiment",
    "interactions",
    "off_policy_evaluation",
    "power",
    "unit_aggregates",
]


def _catalog() -> Mapping[str, ExperimentLike]:
    from shoplab.experiments import load_experiments  # deferred: YAML + pydantic at call time

    return load_experiments()


def experiment(key_or_experiment: str | ExperimentLike) -> ExperimentLike:
    """The configured experiment of a key (objects pass through).

    Raises:
        shoplab.analysis.UnknownExperimentError: the key is not configured (the message lists
            the known keys).
    """
    return resolve_experiment(key_or_experiment, _catalog())


def analyze(key_or_experiment: str | ExperimentLike, **kw: Any) -> Scorecard:
    """``shoplab.analysis.analyze`` of a key or an experiment.

    The configured experiments are the interaction checks' candidates.

    Example:
        >>> import shoplab
        >>> shoplab.analyze is analyze
        True
    """
    from shoplab.analysis.engine import analyze as analyze_experiment

    catalog = _catalog()
    exp = resolve_experiment(key_or_experiment, catalog)
    kw.setdefault("fallbacks", _fallbacks(exp.key))
    return analyze_experiment(exp, experiments=kw.pop("experiments", catalog), **kw)


def analyze_interleaving(
    key_or_experiment: str | ExperimentLike, **kw: Any
) -> InterleavingScorecard:
    """``shoplab.analysis.interleaving.analyze_interleaving`` of a key or an experiment.

    The scorecard of a ``type: interleaving`` experiment: per-user credited clicks, orders and
    GMV of rankers A and B, the preference Δ = (wins_B − wins_A) / requests with a
    user-clustered interval, the win rates and the verdict (``shoplab analyze KEY`` dispatches
    here for such an experiment).
    """
    from shoplab.analysis.interleaving import analyze_interleaving as interleaving

    return interleaving(resolve_experiment(key_or_experiment, _catalog()), **kw)


def _fallbacks(experiment: str) -> dict[str, int]:
    """Serving fallbacks counted per variant of ``experiment`` ({} when nothing was served)."""
    from shoplab.models.fallbacks import fallback_counts, fallbacks_path

    if not fallbacks_path().is_file():
        return {}
    out: dict[str, int] = {}
    for f in fallback_counts():
        if f.experiment == experiment:
            out[f.variant] = out.get(f.variant, 0) + f.count
    return out


def interactions(key_or_experiment: str | ExperimentLike, **kw: Any) -> list[InteractionResult]:
    """``shoplab.analysis.interactions.interactions`` against the configured experiments."""
    from shoplab.analysis.interactions import interactions as cross_layer

    catalog = kw.pop("experiments", None) or _catalog()
    return cross_layer(resolve_experiment(key_or_experiment, catalog), experiments=catalog, **kw)


def unit_aggregates(
    key_or_experiment: str | ExperimentLike,
    *,
    as_of: datetime | date | str | None = None,
    **kw: Any,
) -> UnitAggregates:
    """``shoplab.analysis.unit_aggregates`` of a key or an experiment."""
    from shoplab.analysis.replicate import unit_aggregates as aggregates

    return aggregates(experiment(key_or_experiment), as_of=as_of, **kw)


def off_policy_evaluation(policy: str, action_dist: Any, **kw: Any) -> OpeResult:
    """A new ranker's value estimated from the logs of ``policy`` (``analysis.ope``).

    IPW, self-normalized IPW and doubly robust estimates with bootstrap intervals, overall and
    per slot, from the rows of ``events/propensities`` that ``policy`` logged; ``action_dist``
    is the new ranker's probability of each item at each slot (``analysis.ope.evaluate_policy``
    says how it is shaped and what the estimates assume).
    """
    from shoplab.analysis.ope import evaluate_policy

    return evaluate_policy(policy, action_dist, **kw)
