"""Compatibility names for the unit-level modules (``analysis.units`` was split by concept).

``unit_query`` (what to aggregate, the unit columns' SQL), ``unit_base`` (exposed units),
``unit_scan`` (streamed scan), ``unit_table`` (the table), ``reduce`` (caps, sufficient
statistics) and ``variables`` (a metric's unit-level variables). New code imports from those.
"""

from __future__ import annotations

from shoplab.analysis.reduce import reduce_statistics, winsorize_caps
from shoplab.analysis.unit_query import (
    NEW_USER_DAYS,
    SEGMENT_DIMENSIONS,
    SegmentDimension,
    UnitQuery,
)
from shoplab.analysis.unit_scan import (
    EventChunk,
    UnitScan,
    WindowEvents,
    add_events,
    pre_period_table,
    scan_units,
    window_totals,
)
from shoplab.analysis.unit_table import (
    UnitBuild,
    UnitTable,
    build_unit_table,
    build_units,
    fetch_polars,
    write_unit_table,
)
from shoplab.analysis.variables import metric_sql, unit_columns_for

__all__ = [
    "NEW_USER_DAYS",
    "SEGMENT_DIMENSIONS",
    "EventChunk",
    "SegmentDimension",
    "UnitBuild",
    "UnitQuery",
    "UnitScan",
    "UnitTable",
    "WindowEvents",
    "add_events",
    "build_unit_table",
    "build_units",
    "fetch_polars",
    "metric_sql",
    "pre_period_table",
    "reduce_statistics",
    "scan_units",
    "unit_columns_for",
    "window_totals",
    "winsorize_caps",
    "write_unit_table",
]
