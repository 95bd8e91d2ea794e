"""What an experiment is to the analysis: its own input record, independent of ``experiments``.

Analysis reads an experiment's key, layer, variants (first = control) with their weights, its
[start, end) window, its status and its metric roles, nothing else. :class:`ExperimentSpec` holds
exactly that; :meth:`ExperimentSpec.from_experiment` adapts anything with those attributes
(``experiments.Experiment``, a test's dataclass), so analysis never imports the experiments
package: looking a key up is the integration layer's job (``shoplab.sdk``).

Example:
    >>> from datetime import UTC, datetime
    >>> spec = ExperimentSpec(
    ...     key="rank_v2", layer="ranking",
    ...     variants=(VariantSpec("control", 0.5), VariantSpec("v2", 0.5)),
    ...     start=datetime(2026, 1, 8, tzinfo=UTC), end=datetime(2026, 1, 22, tzinfo=UTC),
    ...     metrics=MetricRoles("ctr"),
    ... )
    >>> spec.control, spec.treatments
    ('control', ('v2',))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from shoplab.analysis.metrics import Metric, get_metric, load_metric_catalog
from shoplab.core.errors import InputError, NotFoundError
from shoplab.core.timeparse import parse_instant

__all__ = [
    "ExperimentLike",
    "ExperimentSpec",
    "MetricRoles",
    "UnknownExperimentError",
    "VariantSpec",
    "as_spec",
    "parse_bound",
    "resolve_experiment",
    "scorecard_metrics",
]


class UnknownExperimentError(NotFoundError, KeyError):
    """An experiment key that is not among the experiments given (``KeyError`` kept for callers)."""

    def __str__(self) -> str:
        """The message as written (``KeyError`` would quote it)."""
        return str(self.args[0]) if self.args else ""


class ExperimentLike(Protocol):
    """What analysis reads from an experiment (``experiments.Experiment`` satisfies it).

    ``variants``: objects with ``key`` and ``weight`` (first = control); ``metrics``: an object
    with ``primary``, ``secondary`` and ``guardrails``. Read-only properties so that any class
    with these attributes (pydantic model, dataclass) matches.
    """

    @property
    def key(self) -> str:
        """Unique experiment key."""
        ...

    @property
    def layer(self) -> str:
        """Layer whose traffic the experiment splits."""
        ...

    @property
    def variants(self) -> Sequence[Any]:
        """Arms with ``key`` and ``weight``; the first is the control."""
        ...

    @property
    def start(self) -> datetime:
        """First instant of the experiment."""
        ...

    @property
    def end(self) -> datetime:
        """End of the experiment (exclusive)."""
        ...

    @property
    def metrics(self) -> Any:
        """Metric roles: ``primary``, ``secondary``, ``guardrails``."""
        ...


@dataclass(frozen=True)
class VariantSpec:
    """One arm: its key and its share of the experiment's traffic (the SRM expectation)."""

    key: str
    weight: float


@dataclass(frozen=True)
class MetricRoles:
    """The experiment's metrics by role.

    Holm adjusts primary + secondary together; guardrails are tested alone.
    """

    primary: str
    secondary: tuple[str, ...] = ()
    guardrails: tuple[str, ...] = ()

    @property
    def tested(self) -> tuple[str, ...]:
        """Primary and secondary metrics: the family of the Holm adjustment."""
        return (self.primary, *self.secondary)

    @property
    def all(self) -> tuple[str, ...]:
        """Every metric of the scorecard, in role order."""
        return (*self.tested, *self.guardrails)


def parse_bound(value: datetime | date | str, field: str) -> datetime:
    """An experiment bound or ``as_of`` in UTC; a bare date means through the end of that day."""
    return parse_instant(value, field, bare_date="end_of_day")


@dataclass(frozen=True)
class ExperimentSpec:
    """An experiment as the analysis sees it (start and end in UTC, variants in config order)."""

    key: str
    layer: str
    variants: tuple[VariantSpec, ...]
    start: datetime
    end: datetime
    metrics: MetricRoles
    status: str = "running"

    @property
    def control(self) -> str:
        """The first variant's key: every effect is measured against it."""
        return self.variants[0].key

    @property
    def treatments(self) -> tuple[str, ...]:
        """Every variant key but the control's."""
        return tuple(v.key for v in self.variants[1:])

    @property
    def weights(self) -> dict[str, float]:
        """Variant key → configured weight."""
        return {v.key: v.weight for v in self.variants}

    @classmethod
    def from_experiment(cls, experiment: ExperimentLike) -> ExperimentSpec:
        """Adapt any object with the :class:`ExperimentLike` attributes.

        Raises:
            InputError: fewer than two variants, or a bound that is not an instant.
        """
        if isinstance(experiment, ExperimentSpec):
            return experiment
        if len(experiment.variants) < 2:
            raise InputError(
                f"experiment {experiment.key}: variants has {len(experiment.variants)}, "
                "must be >= 2."
            )
        m = experiment.metrics
        return cls(
            key=str(experiment.key),
            layer=str(experiment.layer),
            variants=tuple(VariantSpec(str(v.key), float(v.weight)) for v in experiment.variants),
            start=parse_bound(experiment.start, "start"),
            end=parse_bound(experiment.end, "end"),
            metrics=MetricRoles(str(m.primary), tuple(m.secondary), tuple(m.guardrails)),
            status=str(getattr(experiment, "status", "running")),
        )


def as_spec(experiment: ExperimentSpec | ExperimentLike) -> ExperimentSpec:
    """:meth:`ExperimentSpec.from_experiment`, as a function (passes a spec through)."""
    return ExperimentSpec.from_experiment(experiment)


def resolve_experiment(
    experiment: str | ExperimentLike,
    experiments: Mapping[str, ExperimentLike] | None = None,
) -> ExperimentLike:
    """Look a key up in ``experiments`` (the caller's catalog); pass objects through.

    Raises:
        UnknownExperimentError: the key is not in ``experiments`` (the message lists the known
            keys; with no catalog given, it says where keys are looked up).
    """
    if not isinstance(experiment, str):
        return experiment
    known = experiments if experiments is not None else {}
    if experiment not in known:
        hint = (
            ", ".join(sorted(known))
            if known
            else "(none given: pass experiments=, or call shoplab.analyze with a key)"
        )
        raise UnknownExperimentError(f"experiment == {experiment!r}, must be one of: {hint}.")
    return known[experiment]


def scorecard_metrics(
    experiment: ExperimentLike, names: Sequence[str] | None = None
) -> tuple[list[Metric], set[str]]:
    """The metric definitions of a scorecard and the names Holm adjusts (primary + secondary).

    Args:
        experiment: its metric roles give the default list and the Holm family.
        names: metric names instead of the experiment's (duplicates dropped, order kept).

    Raises:
        InputError: ``names`` is empty.
        analysis.metrics.UnknownMetricError: a name is not in the catalog.
    """
    catalog = load_metric_catalog()
    m = experiment.metrics
    tested = [m.primary, *m.secondary]
    wanted = list(names) if names is not None else [*tested, *m.guardrails]
    if not wanted:
        raise InputError("metrics == [], must name at least one metric.")
    seen: dict[str, Metric] = {}
    for name in wanted:
        seen.setdefault(name, get_metric(name, catalog))
    return list(seen.values()), set(tested)
