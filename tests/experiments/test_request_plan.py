"""The per-request plan (``experiments.request_plan``): its packed first pass, lookup tables,
time intervals and unit cache give the answers of the plain rules (``test_assignment.oracle``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoplab.experiments import assign, load_layout
from shoplab.experiments import request_plan as rp
from shoplab.experiments.hashing import _fnv_update, bucket_ranges, choose_variation
from tests.experiments.conftest import WriteConfigs, experiment_doc
from tests.experiments.test_assignment import oracle

AT = datetime(2026, 1, 10, tzinfo=UTC)
ATTRS = {"country": "ID", "platform": "android", "is_new_user": True}


def _many(write_configs: WriteConfigs, per_layer: int) -> Any:
    """Every layer split between ``per_layer`` experiments; one v1 experiment in rank."""
    width = 10_000 // per_layer
    docs = []
    for layer in ("recall", "prerank", "rank", "mix"):
        for i in range(per_layer):
            over: dict[str, Any] = {"layer": layer, "buckets": [i * width, (i + 1) * width]}
            if layer == "rank" and i == 0:
                over |= {"hash_version": 1, "salt": "rank_v1_salt"}
            docs.append(experiment_doc(f"{layer}_{i}", **over))
    return load_layout(write_configs(*docs))


@pytest.fixture
def layout(write_configs: WriteConfigs) -> Any:
    return _many(write_configs, 3)


# digit strings of every length (the packed path starts at 4 digits), with leading zeros
# the layout fixture is read-only for these tests (its plan caches never change an answer), so
# sharing it across generated inputs is what we want
SHARED = [HealthCheck.function_scoped_fixture]
digit_ids = st.one_of(
    st.integers(0, 10**19).map(str),
    st.text("0123456789", min_size=1, max_size=22),
)


@settings(max_examples=300, deadline=None, suppress_health_check=SHARED)
@given(unit=st.one_of(digit_ids, st.text(max_size=12)))
def test_packed_first_passes_equal_one_seed_at_a_time(layout: Any, unit: str) -> None:
    plan = rp.plan_at(layout, AT.timestamp())
    assert len(plan.lane_states) == 1 + 4 + 11  # holdout, layers, v2 experiments
    assert plan.first_passes(unit) == tuple(_fnv_update(s, unit) for s in plan.lane_states)


@settings(max_examples=200, deadline=None, suppress_health_check=SHARED)
@given(unit=st.one_of(st.integers(-(10**12), 2**63 - 1), digit_ids))
def test_assign_equals_the_plain_rules(layout: Any, unit: int | str) -> None:
    """Int ids over the whole signed 64-bit range (beyond it assign refuses: test_assignment)."""
    got = assign(unit, ATTRS, experiments=layout, at=AT)
    want = oracle(layout, unit, ATTRS, AT)  # type: ignore[arg-type]
    assert got.holdout == want["holdout"]
    assert {la.layer: (la.experiment, la.variant) for la in got.layers} == {
        k: v for k, v in want.items() if k != "holdout"
    }


def test_answer_tables_equal_choose_variation(write_configs: WriteConfigs) -> None:
    """Every hash value of every experiment, including uneven weights and v1's 1,000 values."""
    odd = [{"key": "a", "weight": 0.1}, {"key": "b", "weight": 0.3333}, {"key": "c",
                                                                         "weight": 0.5667}]
    layout = load_layout(write_configs(
        experiment_doc("even"), experiment_doc("odd", buckets=[5000, 10000], variants=odd),
        experiment_doc("old", layer="mix", hash_version=1, salt="old_s", variants=odd),
    ))
    plan = rp.plan_at(layout, AT.timestamp())
    checked = 0
    for layer in plan.layers:
        for pe in {id(p): p for p in layer.owners or () if p is not None}.values():
            ce = pe.compiled
            size = 10_000 if ce.experiment.hash_version == 2 else 1_000
            ranges = bucket_ranges(len(ce.variant_keys), 1.0, ce.experiment.weights)
            for h, answer in enumerate(pe.answers):
                i = choose_variation(h / size, ranges)
                assert answer.variant == (ce.variant_keys[i] if i >= 0 else None)
            assert len(pe.answers) == size
            checked += 1
    assert checked == 3


def test_many_experiments_leave_the_packed_pass_and_agree(write_configs: WriteConfigs) -> None:
    """Past the lane cap the experiments' seeds are hashed one by one, with the same answers."""
    layout = _many(write_configs, 20)
    plan = rp.plan_at(layout, AT.timestamp())
    assert 1 + 4 + 79 > rp._MAX_PACKED_LANES
    assert len(plan.lane_states) == 1 + 4
    for unit in [*range(0, 3_000, 7), 10**9 + 7, 12_345_678_901_234]:
        got = assign(unit, ATTRS, experiments=layout, at=AT)
        want = oracle(layout, unit, ATTRS, AT)
        assert [(la.experiment, la.variant) for la in got.layers] == [
            want[la.layer] for la in got.layers
        ]


def test_plans_switch_exactly_at_start_and_end(write_configs: WriteConfigs) -> None:
    """[start, end): the instant of the start is in, the instant of the end is out."""
    start, end = datetime(2026, 1, 12, tzinfo=UTC), datetime(2026, 1, 14, tzinfo=UTC)
    layout = load_layout(write_configs(
        experiment_doc("late", buckets=[0, 10000], start=start.isoformat(), end=end.isoformat()),
    ))
    units = [u for u in range(400) if not oracle(layout, u, {}, start)["holdout"]]
    tick = timedelta(microseconds=1)
    for at, running in [(start - tick, False), (start, True), (end - tick, True), (end, False)]:
        exps = {assign(u, experiments=layout, at=at)["rank"].experiment for u in units}
        assert exps == ({"late"} if running else {None}), at
    # four instants, three intervals: [.., start), [start, end), [end, ..)
    assert len(layout.request_plans) == 3


def test_unit_cache_is_bounded_and_answers_are_stable(
    layout: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rp, "_UNIT_CACHE_SIZE", 50)
    plan = rp.plan_at(layout, AT.timestamp())
    plan.units.clear()
    first = [assign(u, ATTRS, experiments=layout, at=AT) for u in range(10**6, 10**6 + 120)]
    assert 0 < len(plan.units) <= 50
    again = [assign(u, ATTRS, experiments=layout, at=AT) for u in range(10**6, 10**6 + 120)]
    assert again == first


def test_targeting_applies_on_top_of_cached_hashes(write_configs: WriteConfigs) -> None:
    layout = load_layout(write_configs(
        experiment_doc("id_only", buckets=[0, 10000], targeting={"countries": ["ID"]}),
    ))
    unit = next(u for u in range(100) if not oracle(layout, u, {}, AT)["holdout"])
    answers = [
        assign(unit, {"country": c}, experiments=layout, at=AT)["rank"].experiment
        for c in ("ID", "US", "ID")
    ]
    assert answers == ["id_only", None, "id_only"]
    assert str(unit) in rp.plan_at(layout, AT.timestamp()).units
