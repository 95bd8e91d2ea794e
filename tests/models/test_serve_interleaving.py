"""``rank`` in an interleaving experiment: the team-draft of the two variants' models, online."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shoplab.experiments import assign
from shoplab.experiments.interleaving import coin_flips, rounds_for, team_draft
from shoplab.features.errors import RankingRequestError
from shoplab.models.serve import rank
from tests.experiments.conftest import WriteConfigs, experiment_doc
from tests.models.conftest import T, World
from tests.models.test_serve import ITEMS, _expected_order, _fallbacks, _register_spare


def _interleaving(write_configs: WriteConfigs, model_a: str | None, model_b: str) -> Path:
    params_a = {} if model_a is None else {"model": model_a}
    doc = experiment_doc(
        "rank_il_models",
        type="interleaving",
        buckets=[0, 10_000],
        start="2026-01-05T00:00:00Z",  # at T the features are fresh: the models disagree
        variants=[
            {"key": "ranker_a", "weight": 0.5, "params": params_a},
            {"key": "ranker_b", "weight": 0.5, "params": {"model": model_b}},
        ],
    )
    return write_configs(doc)


def _draft(a: list[int], b: list[int], request_id: int) -> tuple[list[int], list[int], list[bool]]:
    flips = coin_flips("rank_il_models", [request_id], rounds_for(len(a)))
    d = team_draft(np.array([a]), np.array([b]), flips)
    return d.items[0].tolist(), d.team[0].tolist(), d.contested[0].tolist()


def test_the_list_is_the_team_draft_of_both_models(
    use_world: World, write_configs: WriteConfigs
) -> None:
    ref_a, ref_b = use_world.logreg.version.ref, use_world.lightgbm.version.ref
    configs = _interleaving(write_configs, ref_a, ref_b)
    user = 5
    order_a, scores_a = _expected_order(ref_a, user, ITEMS, T)
    order_b, scores_b = _expected_order(ref_b, user, ITEMS, T)
    assert order_a != order_b  # two rankers that disagree: the draft is not trivial
    by_a = dict(zip(order_a, scores_a, strict=True))
    by_b = dict(zip(order_b, scores_b, strict=True))
    teams_seen = set()
    for request_id in (11, 12, 13):
        got = rank(user, ITEMS, {"query": None, "request_id": request_id}, T, experiments=configs)
        items, team, contested = _draft(order_a, order_b, request_id)
        assert got["item_id"].to_list() == items
        assert got["team"].to_list() == [("ranker_a", "ranker_b")[t] for t in team]
        assert got["contested"].to_list() == contested
        assert got["model_version"].to_list() == [(ref_a, ref_b)[t] for t in team]
        want = [(by_a, by_b)[t][i] for t, i in zip(team, items, strict=True)]
        np.testing.assert_allclose(got["score"].to_numpy(), want, rtol=1e-12)
        assert set(got["variant"]) == {"interleaved"}
        assert set(got["experiment"]) == {"rank_il_models"}
        assert got["fallback"].null_count() == got.height
        # the same request id draws the same teams (a replica, a replay and the analysis agree)
        again = rank(user, ITEMS, {"query": None, "request_id": request_id}, T, experiments=configs)
        assert again["team"].to_list() == got["team"].to_list()
        teams_seen.add(tuple(team))
    assert len(teams_seen) > 1  # the coin flips depend on the request id


def test_a_variant_without_a_model_ranks_in_the_incoming_order(
    use_world: World, write_configs: WriteConfigs
) -> None:
    ref_b = use_world.lightgbm.version.ref
    configs = _interleaving(write_configs, None, ref_b)
    assert assign(5, experiments=configs, at=T)["rank"].experiment == "rank_il_models"
    order_b, _ = _expected_order(ref_b, 5, ITEMS, T)
    got = rank(5, ITEMS, {"query": None, "request_id": 99}, T, experiments=configs)
    items, team, _ = _draft(ITEMS, order_b, 99)
    assert got["item_id"].to_list() == items
    is_a = np.array(team) == 0
    assert got["score"].is_null().to_numpy().tolist() == is_a.tolist()  # no model, no score
    assert got["model_version"].is_null().to_numpy().tolist() == is_a.tolist()


def test_a_failing_ranker_is_counted_and_replaced_by_the_control(
    use_world: World, write_configs: WriteConfigs
) -> None:
    ref_a = use_world.logreg.version.ref
    configs = _interleaving(write_configs, ref_a, "no_such_model/1")
    before = _fallbacks("no_such_model/1")
    got = rank(5, ITEMS, {"query": None, "request_id": 3}, T, experiments=configs)
    assert _fallbacks("no_such_model/1") == before + 1
    assert set(got["fallback"]) == {"not_found"}
    # B is served by the control ranker A: A drafted against itself is A's own list ...
    assert got["item_id"].to_list() == _expected_order(ref_a, 5, ITEMS, T)[0]
    assert set(got["model_version"]) == {ref_a}
    # ... every slot contested, and the teams still the coin flips' (logged, not dropped)
    items, team, contested = _draft(got["item_id"].to_list(), got["item_id"].to_list(), 3)
    assert all(contested)
    assert got["contested"].all()
    assert got["team"].to_list() == [("ranker_a", "ranker_b")[t] for t in team]


def test_bad_requests_name_the_field(use_world: World, write_configs: WriteConfigs) -> None:
    spare = _register_spare(use_world, "spare_il")
    configs = _interleaving(write_configs, use_world.logreg.version.ref, spare)
    with pytest.raises(RankingRequestError, match=r"request\['request_id'\] == None"):
        rank(5, ITEMS, None, T, experiments=configs)
    with pytest.raises(RankingRequestError, match=r"request\['request_id'\] == '7'"):
        rank(5, ITEMS, {"request_id": "7"}, T, experiments=configs)
    with pytest.raises(RankingRequestError, match="must be a 64-bit integer"):
        rank(5, ITEMS, {"request_id": 2**63}, T, experiments=configs)
    with pytest.raises(RankingRequestError, match="1 duplicates, must be distinct"):
        rank(5, [*ITEMS, ITEMS[0]], {"request_id": 7}, T, experiments=configs)


def test_outside_interleaving_team_is_null(use_world: World) -> None:
    got = rank(5, ITEMS[:10], None, T, model=use_world.logreg.version.ref)
    assert got.columns[-3:-1] == ["team", "contested"]
    assert got["team"].null_count() == got["contested"].null_count() == 10
