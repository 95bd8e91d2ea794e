"""Size limits of an analysis, in a module that imports nothing: the CLI's help text reads them.

Why separate: ``shoplab analyze --help`` must not import DuckDB and the engine to print a number,
and a limit written twice (once in the help, once in the engine) drifted (the help said 2M units
while the engine used 12M).
"""

from __future__ import annotations

from typing import Final

__all__ = ["DAILY_AUTO_MAX_UNITS"]

DAILY_AUTO_MAX_UNITS: Final = 12_000_000
"""Above this many units the daily series is skipped unless asked for. Time is not the limit
(the series reuses the unit table's single read of the events: 33.7 s → 39.3 s for the 10M-user
benchmark scorecard), memory is: the window's events are kept by day until the series is done,
and the peak is ≈ 0.75 GB per million units (6.6 GB for 9M), so 12M units stay near 9 GB."""
