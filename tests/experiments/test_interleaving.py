"""Team-draft interleaving against a per-request reference, and the flips' properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from shoplab.core.errors import InputError
from shoplab.experiments.interleaving import (
    TEAM_A,
    TEAM_B,
    coin_flips,
    rounds_for,
    team_draft,
)


def reference(
    a: list[int], b: list[int], flips: list[bool]
) -> tuple[list[int], list[int], list[bool]]:
    """Radlinski et al. 2008, Algorithm 2, one request at a time, with a set of placed items."""
    placed: list[int] = []
    teams: list[int] = []
    contested: list[bool] = []
    team_sizes = [0, 0]
    while len(placed) < len(a):
        rnd = len(placed) // 2
        # the coin decides at equal team sizes (a round's first pick); the smaller team otherwise
        a_turn = flips[rnd] if team_sizes[0] == team_sizes[1] else team_sizes[0] < team_sizes[1]
        best_a = next(x for x in a if x not in placed)
        best_b = next(x for x in b if x not in placed)
        contested.append(best_a == best_b)
        placed.append(best_a if a_turn else best_b)
        teams.append(TEAM_A if a_turn else TEAM_B)
        team_sizes[0 if a_turn else 1] += 1
    return placed, teams, contested


@st.composite
def requests(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 6))
    k = draw(st.integers(1, 9))
    pool = draw(st.integers(k, 2 * k + 2))
    rows_a, rows_b = [], []
    for _ in range(n):
        rows_a.append(draw(st.permutations(range(pool)))[:k])
        rows_b.append(draw(st.permutations(range(pool)))[:k])
    flips = draw(
        st.lists(
            st.lists(st.booleans(), min_size=rounds_for(k), max_size=rounds_for(k)),
            min_size=n,
            max_size=n,
        )
    )
    offset = draw(st.integers(-5, 10**12))  # item ids need not be small or positive
    return (np.array(rows_a) + offset, np.array(rows_b) + offset, np.array(flips, dtype=bool))


@settings(max_examples=300, deadline=None)
@given(requests())
def test_matches_per_request_reference(case: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    a, b, flips = case
    out = team_draft(a, b, flips)
    for r in range(len(a)):
        items, teams, contested = reference(a[r].tolist(), b[r].tolist(), flips[r].tolist())
        assert out.items[r].tolist() == items
        assert out.team[r].tolist() == teams
        assert out.contested[r].tolist() == contested


@settings(max_examples=100, deadline=None)
@given(requests())
def test_teams_balanced_and_identical_rankers(
    case: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    a, b, flips = case
    out = team_draft(a, b, flips)
    k = a.shape[1]
    # every round gives each team one pick: team sizes differ by at most one
    assert np.all(np.abs((out.team == TEAM_A).sum(axis=1) - k / 2) <= 0.5)
    same = team_draft(a, a, flips)
    assert (same.items == a).all()  # the list does not depend on the flips ...
    assert same.contested.all()
    first = same.team[:, 0::2]  # ... but the teams do: the round's first pick is the flip
    assert ((first == TEAM_A) == flips[:, : first.shape[1]]).all()


def test_coin_flips_deterministic_fair_and_independent() -> None:
    ids = np.arange(1, 200_001, dtype=np.int64)
    f = coin_flips("rank_il", ids, 3)
    assert (f == coin_flips("rank_il", ids, 3)).all()
    # fair: a binomial test per round at the 0.1 % level
    for r in range(3):
        assert stats.binomtest(int(f[:, r].sum()), len(ids)).pvalue > 1e-3
    # independent across rounds and seeds: 2x2 chi-square tests of independence
    g = coin_flips("other_experiment", ids, 1)[:, 0]
    for x, y in ((f[:, 0], f[:, 1]), (f[:, 0], g)):
        table = np.array([[np.sum(x & y), np.sum(x & ~y)], [np.sum(~x & y), np.sum(~x & ~y)]])
        assert stats.chi2_contingency(table).pvalue > 1e-3


def test_bad_input_named() -> None:
    with pytest.raises(InputError, match="ranked_b.shape"):
        team_draft([[1, 2]], [[1, 2, 3]], [[True]])
    with pytest.raises(InputError, match=r"flips.shape == \(1, 2\)"):
        team_draft([[1, 2]], [[1, 2]], [[True, False]])
    with pytest.raises(InputError, match=r"ranked_a\[0\] == \[1, 1\].*distinct"):
        team_draft([[1, 1]], [[1, 2]], [[True]])
    with pytest.raises(InputError, match="rounds == -1"):
        coin_flips("s", [1], -1)


# --- config: type: interleaving ------------------------------------------------------------------

from shoplab.experiments import validate  # noqa: E402
from shoplab.simulator.params import PARAM_BOUNDS  # noqa: E402
from tests.experiments.conftest import CATALOG, WriteConfigs, experiment_doc  # noqa: E402


def _interleaving_problems(root: object) -> list[str]:
    report = validate(
        root,
        metrics=CATALOG,
        param_bounds=PARAM_BOUNDS,  # type: ignore[arg-type]
        write_lock=False,
    )
    return [str(p) for p in report.problems]


def test_valid_interleaving_config(write_configs: WriteConfigs) -> None:
    doc = experiment_doc(
        "rank_il",
        type="interleaving",
        variants=[
            {"key": "ranker_v1", "weight": 0.5, "params": {}},
            {"key": "ranker_v2", "weight": 0.5, "params": {"rank_w_short_term": 0.8}},
        ],
    )
    assert _interleaving_problems(write_configs(doc)) == []


def test_interleaving_rules_name_file_field_value(write_configs: WriteConfigs) -> None:
    doc = experiment_doc(
        "mix_il",
        type="interleaving",
        layer="mix",
        variants=[
            {"key": "a", "weight": 0.4, "params": {"mix_video_share": 0.3}},
            {"key": "b", "weight": 0.3, "params": {}},
            {"key": "c", "weight": 0.3, "params": {}},
        ],
    )
    problems = _interleaving_problems(write_configs(doc))
    assert "mix_il.yaml: layer == 'mix': must be 'rank' for type == 'interleaving'" in "\n".join(
        problems
    )
    assert any(
        p.startswith("mix_il.yaml: variants == ['a', 'b', 'c']: must be exactly two")
        for p in problems
    )
    assert any(
        p.startswith(
            "mix_il.yaml: variants[0].params.mix_video_share == 0.3: must be a ranker param"
        )
        for p in problems
    )


def test_unknown_type_refused(write_configs: WriteConfigs) -> None:
    problems = _interleaving_problems(write_configs(experiment_doc("x", type="bandit")))
    assert any("x.yaml: type == 'bandit'" in p for p in problems), problems


@settings(max_examples=100, deadline=None)
@given(requests())
def test_one_request_path_equals_the_vectorized_path(
    case: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """n == 1 takes the scalar path; each row drafted alone equals its row of the batch draft."""
    a, b, flips = case
    batch = team_draft(np.vstack([a, a[:1]]), np.vstack([b, b[:1]]), np.vstack([flips, flips[:1]]))
    for r in range(a.shape[0]):
        one = team_draft(a[r : r + 1], b[r : r + 1], flips[r : r + 1])
        assert one.items.tolist() == batch.items[r : r + 1].tolist()
        assert one.team.tolist() == batch.team[r : r + 1].tolist()
        assert one.contested.tolist() == batch.contested[r : r + 1].tolist()
        assert one.items.dtype == batch.items.dtype
