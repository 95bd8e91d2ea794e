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

from shoplab.core.lazy import lazy_exports

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
    "STATUSES": "shoplab.analysis.scorecard",
    "Metric": "shoplab.analysis.metrics",
    "PowerResult": "shoplab.analysis.power",
    "UnitAggregates": "shoplab.analysis.replicate",
    "Scorecard": "shoplab.analysis.scorecard",
    "ScorecardNotFoundError": "shoplab.analysis.scorecard",
    "SufficientStatistic": "shoplab.analysis.stats",
    "UnknownExperimentError": "shoplab.analysis.engine",
    "UnknownMetricError": "shoplab.analysis.metrics",
    "analyze": "shoplab.analysis.engine",
    "analyze_assignments": "shoplab.analysis.replicate",
    "load_scorecard": "shoplab.analysis.scorecard",
    "metric_names": "shoplab.analysis.metrics",
    "power": "shoplab.analysis.power",
    "save_scorecard": "shoplab.analysis.scorecard",
    "scorecard_schema": "shoplab.analysis.scorecard",
    "unit_aggregates": "shoplab.analysis.replicate",
}

if TYPE_CHECKING:  # pragma: no cover
    from shoplab.analysis.engine import UnknownExperimentError, analyze
    from shoplab.analysis.metrics import Metric, UnknownMetricError, metric_names
    from shoplab.analysis.power import PowerResult, power
    from shoplab.analysis.replicate import UnitAggregates, analyze_assignments, unit_aggregates
    from shoplab.analysis.scorecard import (
        STATUSES,
        Scorecard,
        ScorecardNotFoundError,
        load_scorecard,
        save_scorecard,
        scorecard_schema,
    )
    from shoplab.analysis.stats import SufficientStatistic


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
