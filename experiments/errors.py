"""Exceptions of the experiment layer.

::

    ExperimentError
    ├── ConfigError        a config file or the set of files breaks a rule (lists every problem)
    └── UnitIdError        a unit id column has nulls or a non-integer type
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

__all__ = ["ConfigError", "ExperimentError", "Problem", "UnitIdError"]


class ExperimentError(Exception):
    """Base class of the experiment layer's errors."""


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (file, field), what (value) and which rule."""

    file: str
    field: str
    value: object
    rule: str

    @property
    def shown_value(self) -> str:
        """The value as the user wrote it: repr, but datetimes in ISO 8601 (as in YAML)."""
        if isinstance(self.value, datetime | date):
            return self.value.isoformat()
        return repr(self.value)

    def __str__(self) -> str:
        return f"{self.file}: {self.field} == {self.shown_value}: {self.rule}"


class ConfigError(ExperimentError):
    """The configs break one or more rules; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} experiment config problem(s):\n{lines}")


class UnitIdError(ExperimentError, ValueError):
    """The unit id column cannot be hashed (nulls, or not an integer column)."""
