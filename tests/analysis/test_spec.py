"""analysis's own input record, and the key lookups that live in the integration layer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shoplab.analysis.spec import ExperimentSpec, UnknownExperimentError, resolve_experiment
from shoplab.core.errors import InputError, NotFoundError
from tests.analysis.builders import make_experiment


def test_spec_adapts_any_experiment_like_object() -> None:
    exp = make_experiment()
    spec = ExperimentSpec.from_experiment(exp)
    assert (spec.key, spec.control, spec.treatments) == (exp.key, "control", ("treatment",))
    assert spec.start == exp.start
    assert spec.start.tzinfo is UTC or spec.start.utcoffset() is not None
    assert spec.metrics.primary == exp.metrics.primary
    assert ExperimentSpec.from_experiment(spec) is spec


def test_a_bare_date_bound_means_through_that_day() -> None:
    exp = make_experiment()
    spec = ExperimentSpec.from_experiment(exp)
    naive_end = type(exp)(**{**exp.__dict__, "end": "2026-01-21"})
    assert ExperimentSpec.from_experiment(naive_end).end == datetime(2026, 1, 22, tzinfo=UTC)
    assert spec.end == exp.end


def test_unknown_keys_and_one_variant_are_shoplab_errors() -> None:
    with pytest.raises(UnknownExperimentError, match="experiment == 'x', must be one of: a"):
        resolve_experiment("x", {"a": make_experiment()})
    with pytest.raises(NotFoundError):
        resolve_experiment("x")
    with pytest.raises(KeyError):  # kept for callers that caught KeyError
        resolve_experiment("x")
    exp = make_experiment()
    one = type(exp)(**{**exp.__dict__, "variants": exp.variants[:1]})
    with pytest.raises(InputError, match="variants has 1, must be >= 2"):
        ExperimentSpec.from_experiment(one)


def test_sdk_looks_keys_up_in_the_configured_experiments() -> None:
    from shoplab import sdk

    with pytest.raises(UnknownExperimentError, match="experiment == 'no_such_experiment_xyz'"):
        sdk.analyze("no_such_experiment_xyz")


def test_analysis_errors_sit_under_the_shoplab_tree() -> None:
    from shoplab.analysis import ScorecardNotFoundError, UnknownMetricError

    assert issubclass(UnknownMetricError, NotFoundError)
    assert issubclass(UnknownMetricError, KeyError)
    assert issubclass(UnknownExperimentError, NotFoundError)
    assert issubclass(ScorecardNotFoundError, NotFoundError)
    assert issubclass(ScorecardNotFoundError, FileNotFoundError)
