"""Errors of the event-log loader, under :mod:`shoplab.core.errors`.

::

    DataError (ValueError)
    └── EventLogError        a file cannot be read as its table: not Parquet, a column missing,
                             a column of the wrong type, an unknown table name; several bad
                             files give one error listing each (``problems``)
    └── EventImportError     ``import_events``: a source file or value the mapping cannot read
                             (a missing column, an unparseable timestamp, a non-integer id, no
                             rows); every problem named with file, column, value and rule
    NotFoundError (LookupError)
    └── UnknownTableError    ``report[table]`` of a table the run did not validate (KeyError)

Rows that break the contract are not errors: they are quarantined and counted (see ``rules``).
"""

from __future__ import annotations

from pathlib import Path

from shoplab.core.errors import DataError, NotFoundError

__all__ = ["EventImportError", "EventLogError", "UnknownTableError"]


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


class EventImportError(DataError):
    """Source files an import mapping cannot turn into the contract's tables; nothing written.

    Attributes:
        problems: one message per problem (file, column, value, rule); the error's message lists
            them all, so a user fixes every one before re-running.
    """

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        """Keep each problem; the message is the one problem, or all of them numbered."""
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            listed = " ".join(f"({i}) {p}" for i, p in enumerate(self.problems, 1))
            message = f"import problems == {len(self.problems)}, must be 0: {listed}"
        super().__init__(message)
