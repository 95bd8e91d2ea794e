"""One exception tree: catching ``ShoplabError`` catches everything shoplab raises on purpose.

::

    ShoplabError
    ├── ConfigError          a setting or a config file breaks a rule (experiments' ConfigError)
    ├── InputError           an argument breaks a rule: a date, a unit id, a frame   (ValueError)
    │   └── UnitIdError, LabelFrameError, ...
    ├── DataError            the event log or a derived table breaks the contract    (ValueError)
    │   └── EventLogError, FeatureTableMissingError, ...
    ├── NotFoundError        a named thing does not exist: experiment, metric, service (LookupError)
    │   └── UnknownExperimentError, UnknownMetricError, ScorecardNotFoundError, ...
    └── StateError           a step ran out of order or concurrently (materialize before apply)

Every message names the field, the value and the rule (``start == '2026-13-01', must be an ISO
date``). The branches also derive from the builtin a caller would have caught before the tree
existed (``ValueError``, ``LookupError``, ``RuntimeError``), so ``except ValueError`` keeps working.
Each package's own errors sit under one of these branches.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "InputError", "NotFoundError", "ShoplabError", "StateError"]


class ShoplabError(Exception):
    """Root of every error shoplab raises on purpose (never a bare ``KeyError``)."""


class ConfigError(ShoplabError, ValueError):
    """A setting or a configuration file breaks a rule."""


class InputError(ShoplabError, ValueError):
    """An argument from the caller breaks a rule (a date, a unit id, a label frame)."""


class DataError(ShoplabError, ValueError):
    """The event log, or a table derived from it, breaks the contract."""


class NotFoundError(ShoplabError, LookupError):
    """A named thing does not exist: an experiment, a metric, a scorecard, a feature service."""

    def __str__(self) -> str:
        """The message as written: KeyError would repr() it (quotes, escaped newlines)."""
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class StateError(ShoplabError, RuntimeError):
    """A step ran out of order or concurrently (materialize before apply, two builds at once)."""
