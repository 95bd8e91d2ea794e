"""One exception tree: catching ``ShoplabError`` catches everything shoplab raises on purpose.

::

    ShoplabError
    ├── ConfigError          a setting or a config file breaks a rule                (ValueError)
    │   └── experiments.ConfigError           every problem of the experiment configs
    ├── InputError           an argument breaks a rule: a date, a unit id, a frame   (ValueError)
    │   ├── experiments.UnitIdError           a unit id that is no unit: None, bool, '', > 64 bits
    │   ├── features.LabelFrameError          a label frame without its keys, naive timestamps
    │   └── features.RankingRequestError      a ranking request: user id, candidates, as_of
    ├── DataError            the event log or a derived table breaks the contract    (ValueError)
    │   ├── events.EventLogError              a file that cannot be read as its table
    │   ├── events.EventImportError           source files an import mapping cannot read
    │   └── analysis.EventTableMissingError   an event table analysis reads has no files
    │                                         (also FileNotFoundError)
    ├── NotFoundError        a named thing does not exist: experiment, metric, service (LookupError)
    │   ├── analysis.UnknownMetricError       (also KeyError)
    │   ├── analysis.UnknownExperimentError   (also KeyError)
    │   ├── analysis.ScorecardNotFoundError   (also FileNotFoundError)
    │   ├── analysis.RowNotFoundError         ``Scorecard.row(metric)`` of no such row (KeyError)
    │   ├── events.UnknownTableError          ``report[table]`` of a table not validated (KeyError)
    │   ├── experiments.UnknownLayerError     ``assignment["nope"]``: no such layer (KeyError)
    │   ├── dashboards.data.UnknownName       a page's experiment, segment or view (KeyError)
    │   ├── features.UnknownServiceError      (also ValueError)
    │   ├── features.UnknownFeatureError      (also ValueError)
    │   └── models.UnknownModelError          a model, version or alias not in MLflow's registry
    └── StateError           a step ran out of order or failed midway              (RuntimeError)
        ├── features.FeatureTableMissingError materialize or train before ``features build``
        ├── features.RedisUnavailableError    the Redis online store does not answer
        ├── features.SparkJobError            a Spark job cancelled or failed, its JVM dead
        ├── features.stream.StreamError       the broker does not answer, a bad message
        │   └── features.stream.PublishError  messages the broker did not acknowledge
        ├── feature_repo.pipelines.NoEventsError  build before an event log exists
        │                                     (also FileNotFoundError)
        ├── events.UnvalidatedLogError        analysis of a log never validated or changed since
        ├── core.lock.DataRootBusyError       another process is writing the data root
        ├── demo.DemoStepError                a demo step failed (names the step)
        ├── models.ModelLoadError             a model version's artifact cannot be loaded
        ├── models.ModelPredictError          a model's scores cannot order the candidates
        ├── models.RegistryUnavailableError   the MLflow URI cannot be reached
        └── dashboards.data.MissingDependency a page's part of shoplab is absent or not built

A package may group its errors under a family class that is itself a ``ShoplabError``:
``experiments.ExperimentError`` (every class of ``shoplab.experiments.errors``) and
``features.FeatureStoreError`` (every class of ``shoplab.features.errors``, also ``ValueError``).
``tests/core/test_errors.py`` imports every module and checks each exception class defined in
shoplab is a ``ShoplabError``; keep this drawing in step with it.

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
