"""``rank`` in a triggered experiment: counterfactual logging online, and its event-log rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from shoplab.core.contract import polars_schema
from shoplab.core.errors import InputError
from shoplab.experiments import assign
from shoplab.models import serving_rows
from shoplab.models.serve import rank
from tests.experiments.conftest import WriteConfigs, experiment_doc
from tests.models.conftest import T, World
from tests.models.test_serve import ITEMS, _expected_order, _fallbacks, _register_spare
from tests.models.test_serve_interleaving import _interleaving

K = 10


def _triggered_experiment(
    write_configs: WriteConfigs, control: str | None, challenger: str | None, k: int = K
) -> Path:
    def params(ref: str | None) -> dict[str, str]:
        return {} if ref is None else {"model": ref}

    doc = experiment_doc(
        "rank_trig",
        buckets=[0, 10_000],
        start="2026-01-05T00:00:00Z",  # at T the features are fresh: the models disagree
        trigger={"k": k},
        variants=[
            {"key": "control", "weight": 0.5, "params": params(control)},
            {"key": "challenger", "weight": 0.5, "params": params(challenger)},
        ],
    )
    return write_configs(doc)


def _users(configs: Path, n: int = 40) -> list[tuple[int, str]]:
    """``n`` users in the experiment (not in the holdout) with their variants."""
    out = []
    for user in range(1, 10 * n):
        variant = assign(user, experiments=configs, at=T)["rank"].variant
        if variant is not None:
            out.append((user, variant))
        if len(out) == n:
            return out
    raise AssertionError(f"only {len(out)} users in the experiment")


def test_triggered_is_whether_the_other_models_top_k_differs(
    use_world: World, write_configs: WriteConfigs
) -> None:
    ref_a, ref_b = use_world.logreg.version.ref, use_world.lightgbm.version.ref
    configs = _triggered_experiment(write_configs, ref_a, ref_b)
    users = _users(configs)
    assert {v for _, v in users} == {"control", "challenger"}
    hits = []
    for user, variant in users:
        order_a, _ = _expected_order(ref_a, user, ITEMS, T)
        order_b, _ = _expected_order(ref_b, user, ITEMS, T)
        got = rank(user, ITEMS, {"query": None}, T, experiments=configs)
        served = order_a if variant == "control" else order_b
        assert got["item_id"].to_list() == served  # the counterfactual changes nothing shown
        assert set(got["variant"]) == {variant}
        want = order_a[:K] != order_b[:K]
        assert got["triggered"].to_list() == [want] * len(ITEMS)
        hits.append(want)
    assert any(hits)  # two rankers that disagree at the top for some users...
    # ... and a larger k compares more slots: a request triggered at k=10 stays so at k=120
    wide = _triggered_experiment(write_configs, ref_a, ref_b, k=len(ITEMS))
    for (user, _), hit in zip(users, hits, strict=True):
        got = rank(user, ITEMS, {"query": None}, T, experiments=wide)
        assert got["triggered"][0] or not hit


def test_the_same_ranker_on_both_arms_never_triggers(
    use_world: World, write_configs: WriteConfigs
) -> None:
    ref = use_world.lightgbm.version.ref
    for a, b in ((ref, ref), (None, None)):  # one model twice; hand weights (incoming order)
        configs = _triggered_experiment(write_configs, a, b)
        for user, _ in _users(configs, 12):
            got = rank(user, ITEMS, {"query": None}, T, experiments=configs)
            assert got["triggered"].to_list() == [False] * len(ITEMS)


def test_a_failing_challenger_triggers_nothing_and_counts_only_its_own_requests(
    use_world: World, write_configs: WriteConfigs
) -> None:
    """Its units are served the control's list, so the counterfactual of either arm is the
    control's: nothing triggers; the failing model is counted once per request it was asked to
    serve, never for a counterfactual list (shown to nobody)."""
    ghost = "ghost_trig/1"
    configs = _triggered_experiment(write_configs, use_world.logreg.version.ref, ghost)
    users = _users(configs, 20)
    before = _fallbacks(ghost)
    for user, _ in users:
        got = rank(user, ITEMS, {"query": None}, T, experiments=configs)
        assert got["triggered"].to_list() == [False] * len(ITEMS)
    served_by_ghost = sum(v == "challenger" for _, v in users)
    assert 0 < served_by_ghost < len(users)
    assert _fallbacks(ghost) == before + served_by_ghost


def test_outside_a_triggered_experiment_triggered_is_null(use_world: World) -> None:
    got = rank(5, ITEMS[:10], None, T, model=use_world.logreg.version.ref)
    assert got.columns[-1] == "triggered"
    assert got["triggered"].null_count() == 10


def test_serving_rows_have_the_contracts_schema(
    use_world: World, write_configs: WriteConfigs
) -> None:
    ref_a, ref_b = use_world.logreg.version.ref, use_world.lightgbm.version.ref
    configs = _triggered_experiment(write_configs, ref_a, ref_b)
    user, variant = _users(configs)[0]
    got = rank(user, ITEMS, {"query": None}, T, experiments=configs)
    rows = serving_rows(got, user_id=user, request_id=99, at=T, shown=20, experiments=configs)
    assert rows["teams"].schema == polars_schema("teams")
    assert rows["teams"].height == 0
    trig = rows["triggers"]
    assert trig.schema == polars_schema("triggers")
    assert trig.to_dicts() == [
        {"request_id": 99, "user_id": user, "ts": T, "experiment": "rank_trig",
         "variant": variant, "k": K, "triggered": got["triggered"][0]}
    ]
    # interleaving: one teams row per shown slot, positions 0-based as impressions
    spare = _register_spare(use_world, "spare_rows")
    il = _interleaving(write_configs, ref_a, spare)
    drafted = rank(user, ITEMS, {"query": None, "request_id": 7}, T, experiments=il)
    rows = serving_rows(drafted, user_id=user, request_id=7, at=T, shown=12)
    teams = rows["teams"]
    assert teams.schema == polars_schema("teams")
    assert rows["triggers"].height == 0
    assert teams["position"].to_list() == list(range(12))
    assert teams["item_id"].to_list() == drafted["item_id"].head(12).to_list()
    assert teams["team"].to_list() == drafted["team"].head(12).to_list()
    assert set(teams["request_id"]) == {7}
    assert set(teams["experiment"]) == {"rank_il_models"}


def test_serving_rows_bad_input_names_the_field(use_world: World) -> None:
    got = rank(5, ITEMS[:10], None, T, model=use_world.logreg.version.ref)
    with pytest.raises(InputError, match=r"shown == 11, must be an integer in \[0, 10\]"):
        serving_rows(got, user_id=5, request_id=1, at=T, shown=11)
    with pytest.raises(InputError, match=r"lacks columns \['triggered'\]"):
        serving_rows(got.drop("triggered"), user_id=5, request_id=1, at=T)
    with pytest.raises(InputError, match="must be timezone-aware"):
        serving_rows(got, user_id=5, request_id=1, at=T.replace(tzinfo=None))
    empty = serving_rows(got, user_id=5, request_id=1, at=T)
    assert empty["teams"].height == empty["triggers"].height == 0
    assert isinstance(empty["triggers"], pl.DataFrame)
