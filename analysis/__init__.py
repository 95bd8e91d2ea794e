"""Experiment analysis: metric catalog, unit-level SQL, sufficient statistics, tests, scorecards.

Names resolve lazily (PEP 562) so that ``from analysis.metrics import metric_names`` (used by the
experiment config validator) does not import DuckDB, SciPy and statsmodels.

Example:
    >>> import analysis
    >>> "ctr" in analysis.metric_names()
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoplab._lazy import lazy_exports

__all__ = [
    "STATUSES",
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
]

_EXPORTS: dict[str, str] = {
    "STATUSES": "analysis.scorecard",
    "Metric": "analysis.metrics",
    "PowerResult": "analysis.power",
    "UnitAggregates": "analysis.replicate",
    "Scorecard": "analysis.scorecard",
    "ScorecardNotFoundError": "analysis.scorecard",
    "SufficientStatistic": "analysis.stats",
    "UnknownExperimentError": "analysis.engine",
    "UnknownMetricError": "analysis.metrics",
    "analyze": "analysis.engine",
    "analyze_assignments": "analysis.replicate",
    "load_scorecard": "analysis.scorecard",
    "metric_names": "analysis.metrics",
    "power": "analysis.power",
    "save_scorecard": "analysis.scorecard",
    "scorecard_schema": "analysis.scorecard",
    "unit_aggregates": "analysis.replicate",
}

if TYPE_CHECKING:  # pragma: no cover
    from analysis.engine import UnknownExperimentError, analyze
    from analysis.metrics import Metric, UnknownMetricError, metric_names
    from analysis.power import PowerResult, power
    from analysis.replicate import UnitAggregates, analyze_assignments, unit_aggregates
    from analysis.scorecard import (
        STATUSES,
        Scorecard,
        ScorecardNotFoundError,
        load_scorecard,
        save_scorecard,
        scorecard_schema,
    )
    from analysis.stats import SufficientStatistic


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
