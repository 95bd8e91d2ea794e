"""Errors of the event-log loader, under :mod:`shoplab.core.errors`.

::

    DataError (ValueError)
    └── EventLogError        a file cannot be read as its table: not Parquet, a column missing,
                             a column of the wrong type, an unknown table name; several bad
                             files give one error listing each (``problems``)
    NotFoundError (LookupError)
    └── UnknownTableError    ``report[table]`` of a table the run did not validate (KeyError)

Rows that break the contract are not errors: they are quarantined and counted (see ``rules``).
"""

from __future__ import annotations

from pathlib import Path

from shoplab.core.errors import DataError, NotFoundError

__all__ = ["EventLogError", "UnknownTableError"]


class EventLogError(DataError):
    """A file of the event log cannot be read as its table.

    Attributes:
        path: the offending file (or folder), if any.
        column: the offending column, if any.
        expected: the expected Arrow type of that column, if any.
        problems: when several files are bad, each file's own error (its message lists them all);
            empty for an error about one file.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        column: str | None = None,
        expected: str | None = None,
        problems: tuple[EventLogError, ...] = (),
    ) -> None:
        """Keep the message and the offending path, column and expected type for callers."""
        super().__init__(message)
        self.problems = problems
        self.path = path
        self.column = column
        self.expected = expected


class UnknownTableError(NotFoundError, KeyError):
    """A table a :class:`~shoplab.events.LoadReport` does not hold (also a ``KeyError``)."""
