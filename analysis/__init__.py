"""Experiment analysis: metric catalog, unit-level SQL, sufficient statistics, tests, scorecards.

Analysis takes its own input record (:class:`ExperimentSpec`, or any object with its attributes)
and never imports the experiments package; ``shoplab.analyze`` (``shoplab.sdk``) is the
key-based entry point. Names resolve lazily (PEP 562) so that
``from shoplab.analysis.metrics import metric_names`` (used by the experiment config validator)
does not import DuckDB, SciPy and statsmodels.

Example:
    >>> from shoplab import analysis
    >>> "ctr" in analysis.metric_names()
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoplab.core.lazy import lazy_exports

__all__ = [
    "STATUSES",
    "ExperimentSpec",
    "Metric",
    "PowerResult",
    "Scorecard",
    "ScorecardNotFoundError",
    "SufficientStatistic",
    "UnitAggregates",
    "UnknownExperimentError",
    "UnknownMetricError",
    "analyze",
    "analyze_assignments",
    "load_scorecard",
    "metric_names",
    "power",
    "save_scorecard",
    "scorecard_schema",
    "unit_aggregates",
    "verdict",
]

_EXPORTS: dict[str, str] = {
    "STATUSES": "shoplab.analysis.scorecard",
    "ExperimentSpec": "shoplab.analysis.spec",
    "Metric": "shoplab.analysis.metrics",
    "PowerResult": "shoplab.analysis.power_analysis",
    "UnitAggregates": "shoplab.analysis.replicate",
    "Scorecard": "shoplab.analysis.scorecard",
    "ScorecardNotFoundError": "shoplab.analysis.scorecard",
    "SufficientStatistic": "shoplab.analysis.stats",
    "UnknownExperimentError": "shoplab.analysis.spec",
    "UnknownMetricError": "shoplab.analysis.metrics",
    "analyze": "shoplab.analysis.engine",
    "analyze_assignments": "shoplab.analysis.replicate",
    "load_scorecard": "shoplab.analysis.scorecard",
    "metric_names": "shoplab.analysis.metrics",
    "power": "shoplab.analysis.power_analysis",
    "save_scorecard": "shoplab.analysis.scorecard",
    "scorecard_schema": "shoplab.analysis.scorecard",
    "unit_aggregates": "shoplab.analysis.replicate",
    "verdict": "shoplab.analysis.verdict",
}

if TYPE_CHECKING:  # pragma: no cover
    from shoplab.analysis.engine import analyze
    from shoplab.analysis.metrics import Metric, UnknownMetricError, metric_names
    from shoplab.analysis.power_analysis import PowerResult, power
    from shoplab.analysis.replicate import UnitAggregates, analyze_assignments, unit_aggregates
    from shoplab.analysis.scorecard import (
        STATUSES,
        Scorecard,
        ScorecardNotFoundError,
        load_scorecard,
        save_scorecard,
        scorecard_schema,
    )
    from shoplab.analysis.spec import ExperimentSpec, UnknownExperimentError
    from shoplab.analysis.stats import SufficientStatistic
    from shoplab.analysis.verdict import verdict


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
