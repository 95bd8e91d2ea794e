"""Errors of the event-log loader.

::

    ValueError
    └── EventLogError        a file cannot be read as its table: not Parquet, a column missing,
                             a column of the wrong type, an unknown table name

Rows that break the contract are not errors: they are quarantined and counted (see ``rules``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["EventLogError"]


class EventLogError(ValueError):
    """A file of the event log cannot be read as its table.

    Attributes:
        path: the offending file (or folder), if any.
        column: the offending column, if any.
        expected: the expected Arrow type of that column, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        column: str | None = None,
        expected: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.column = column
        self.expected = expected
