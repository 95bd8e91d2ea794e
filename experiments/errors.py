"""Exceptions of the experiment layer, under :mod:`shoplab.core.errors`.

::

    ExperimentError (ShoplabError)
    ├── ConfigError        a config file or the set of files breaks a rule (lists every problem)
    │                      (also shoplab.core.errors.ConfigError)
    ├── UnitIdError        a unit id column has nulls or a non-integer type (InputError)
    └── UnknownLayerError  ``assignment["nope"]``: no such layer (NotFoundError, and KeyError
                           for the mapping protocol)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from shoplab.core import errors as core_errors

__all__ = ["ConfigError", "ExperimentError", "Problem", "UnitIdError", "UnknownLayerError"]


class ExperimentError(core_errors.ShoplabError):
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
        """``file: field == value: rule``, the one line every report prints."""
        return f"{self.file}: {self.field} == {self.shown_value}: {self.rule}"


class ConfigError(ExperimentError, core_errors.ConfigError):
    """The configs break one or more rules; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        """Keep every problem (a caller fixes all at once) and list them in the message."""
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} experiment config problem(s):\n{lines}")


class UnitIdError(ExperimentError, core_errors.InputError):
    """The unit id column cannot be hashed (nulls, or not an integer column)."""


class UnknownLayerError(ExperimentError, core_errors.NotFoundError, KeyError):
    """An assignment was asked for a layer it does not have (also a ``KeyError``: ``a["x"]``)."""

    def __str__(self) -> str:
        """The message as given (``KeyError`` would show its repr)."""
        return str(self.args[0]) if self.args else ""
