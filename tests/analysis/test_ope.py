"""Off-policy evaluation (``analysis.ope``): closed forms, brute force and a synthetic bandit.

- Closed forms: IPW, SNIPW and DR on a six-row log, each written out by hand below.
- Brute force: the cross-fitted reward model against per-row Python means of the other fold; a
  two-item Thompson sampler's probability against ``P(θ₁ > θ₂)`` integrated by scipy.
- Simulation: a contextual bandit with three slots whose true value is a finite sum; over many
  logs, IPW and DR average to it (unbiased) and their 95 % bootstrap intervals cover it at about
  the nominal rate, while an evaluation policy that leaves the logger's support is missed.
- The event log: a tiny log imported through ``import_events`` reads back as logged feedback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy import integrate, stats

from shoplab.analysis.ope import (
    cross_fitted_rewards,
    logged_feedback,
    off_policy_estimates,
    thompson_action_dist,
)
from shoplab.core.errors import DataError, InputError
from shoplab.core.paths import using_data_root
from shoplab.events import import_events

# six logged rows: 2 items, 2 slots
A = [0, 1, 0, 1, 1, 0]
K = [0, 0, 1, 1, 0, 1]
R = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0]
P = [0.5, 0.5, 0.25, 0.75, 0.5, 0.25]
# context-free π_e: slot 0 shows item 0 w.p. 0.8, slot 1 shows item 1 w.p. 0.6
PI = np.array([[0.8, 0.4], [0.2, 0.6]])
Q = np.array([[0.5, 0.1], [0.2, 0.7]])  # a reward model q̂(item, slot)


def _estimates(**kw: Any) -> Any:
    return off_policy_estimates(
        actions=A, slots=K, rewards=R, propensities=P, action_dist=PI, n_bootstrap=500, **kw
    )


def test_ipw_snipw_dr_equal_their_closed_forms() -> None:
    w = [0.8 / 0.5, 0.2 / 0.5, 0.4 / 0.25, 0.6 / 0.75, 0.2 / 0.5, 0.4 / 0.25]
    ipw = sum(wi * ri for wi, ri in zip(w, R, strict=True)) / 6
    snipw = sum(wi * ri for wi, ri in zip(w, R, strict=True)) / sum(w)
    # DR: Σ_a π_e(a|k) q̂(a,k) + w (r − q̂(a_i,k))
    dm = {0: 0.8 * 0.5 + 0.2 * 0.2, 1: 0.4 * 0.1 + 0.6 * 0.7}
    dr_rows = [dm[k] + wi * (r - Q[a, k]) for a, k, r, wi in zip(A, K, R, w, strict=True)]
    res = _estimates(estimated_rewards=Q)
    assert res.get("ipw").value == pytest.approx(ipw, rel=1e-12)
    assert res.get("snipw").value == pytest.approx(snipw, rel=1e-12)
    assert res.get("dr").value == pytest.approx(sum(dr_rows) / 6, rel=1e-12)
    slot1 = [i for i in range(6) if K[i] == 1]
    assert res.get("ipw", 1).value == pytest.approx(
        sum(w[i] * R[i] for i in slot1) / len(slot1), rel=1e-12
    )
    assert res.get("dr", 0).value == pytest.approx(
        sum(dr_rows[i] for i in range(6) if K[i] == 0) / 3, rel=1e-12
    )
    assert res.get("ipw").ess == pytest.approx(sum(w) ** 2 / sum(x * x for x in w), rel=1e-12)
    assert res.get("ipw").max_weight == pytest.approx(1.6)
    for e in res.estimates:
        assert e.ci_lower <= e.value <= e.ci_upper or e.estimator == "snipw"


def test_dr_with_a_zero_model_is_ipw_and_a_logger_equal_to_the_target_gives_the_mean() -> None:
    res = _estimates(estimated_rewards=np.zeros_like(Q))
    assert res.get("dr").value == pytest.approx(res.get("ipw").value, rel=1e-12)
    # π_e = π_b on the logged rows (w = 1 everywhere): IPW and SNIPW are the logged mean (DR
    # adds mean(Σ_a π q̂(a) − q̂(a_i)), zero only in expectation)
    same = off_policy_estimates(
        actions=[0, 1, 1, 0],
        slots=[0, 0, 0, 0],
        rewards=[1, 0, 1, 1],
        propensities=[0.3, 0.7, 0.7, 0.3],
        action_dist=[[0.3], [0.7]],
        n_bootstrap=200,
    )
    for name in ("ipw", "snipw"):
        assert same.get(name).value == pytest.approx(0.75, rel=1e-12)


def test_bootstrap_interval_matches_the_normal_interval_on_a_large_log() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    a = rng.integers(0, 4, n)
    r = rng.binomial(1, 0.2 + 0.1 * a).astype(float)
    pi = np.array([[0.1], [0.2], [0.3], [0.4]])
    res = off_policy_estimates(
        actions=a,
        slots=np.zeros(n, int),
        rewards=r,
        propensities=np.full(n, 0.25),
        action_dist=pi,
        estimators=["ipw"],
        per_slot=False,
        n_bootstrap=2_000,
        seed=1,
    )
    v = pi[a, 0] / 0.25 * r
    half = stats.norm.ppf(0.975) * v.std(ddof=1) / np.sqrt(n)
    e = res.get("ipw")
    assert e.value == pytest.approx(v.mean(), rel=1e-12)
    assert (e.ci_upper - e.ci_lower) / 2 == pytest.approx(half, rel=0.08)


def test_cross_fitted_rewards_are_the_other_folds_means() -> None:
    rng = np.random.default_rng(2)
    n = 300
    a, k = rng.integers(0, 3, n), rng.integers(0, 2, n)
    r = rng.binomial(1, 0.3, n).astype(float)
    q = cross_fitted_rewards(a, k, r, n_actions=3, n_slots=2, folds=2, prior_weight=0.0, seed=4)
    fold = np.random.default_rng(4).integers(0, 2, n)  # the function's own fold draw
    for i in range(0, n, 17):
        for item in range(3):
            other = (fold != fold[i]) & (a == item) & (k == k[i])
            assert q[i, item] == pytest.approx(r[other].mean(), rel=1e-12)
    # with pseudo-rows, an item never shown at a slot gets that slot's rate
    q2 = cross_fitted_rewards(
        [0, 0, 1, 1],
        [0, 0, 0, 0],
        [1, 0, 1, 1],
        n_actions=3,
        n_slots=1,
        folds=2,
        prior_weight=5.0,
        seed=0,
    )
    fold2 = np.random.default_rng(0).integers(0, 2, 4)
    for i in range(4):
        train = fold2 != fold2[i]
        if train.any():
            assert q2[i, 2] == pytest.approx(np.array([1, 0, 1, 1])[train].mean(), rel=1e-12)


def test_thompson_probability_matches_the_beta_integral() -> None:
    a, b = np.array([30.0, 20.0]), np.array([70.0, 60.0])
    # P(θ₀ > θ₁) = ∫ f₀(x) F₁(x) dx
    exact, _ = integrate.quad(
        lambda x: stats.beta.pdf(x, a[0], b[0]) * stats.beta.cdf(x, a[1], b[1]), 0, 1
    )
    n_sim = 200_000
    d = thompson_action_dist(a, b, n_slots=2, n_sim=n_sim, seed=3)
    sd = np.sqrt(exact * (1 - exact) / n_sim)
    assert abs(d[0, 0] - exact) < 4 * sd
    assert d.sum(axis=0) == pytest.approx([1.0, 1.0])
    assert d[0, 1] == pytest.approx(d[1, 0], abs=1e-12)  # two items: slot 1 is the other one


def _bandit(rng: np.random.Generator, n: int) -> dict[str, Any]:
    """A contextual bandit: 2 contexts, 4 items, 3 slots with position bias, known logger."""
    x = rng.integers(0, 2, n)
    k = rng.integers(0, 3, n)
    logits = np.where(x[:, None] == 0, [0.0, 0.5, 1.0, 1.5], [1.5, 1.0, 0.5, 0.0])
    pb = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # (n, 4), same per slot
    u = rng.random(n)
    a = (u[:, None] > np.cumsum(pb, axis=1)).sum(axis=1)
    r = rng.binomial(1, _CTR[x, a, k]).astype(float)
    return {"x": x, "k": k, "a": a, "r": r, "p": pb[np.arange(n), a]}


_CTR = np.array(
    [
        [[0.30, 0.20, 0.10], [0.10, 0.07, 0.05], [0.05, 0.04, 0.02], [0.2, 0.1, 0.1]],
        [[0.02, 0.02, 0.01], [0.40, 0.30, 0.20], [0.15, 0.10, 0.05], [0.1, 0.1, 0.1]],
    ]
)
_PI_E = np.array([[0.7, 0.1, 0.1, 0.1], [0.05, 0.8, 0.1, 0.05]])  # π_e(a | x), every slot


def test_ipw_and_dr_are_unbiased_and_cover_the_true_value_on_a_synthetic_bandit() -> None:
    # true value: contexts and slots uniform, Σ_x Σ_k Σ_a ¼·⅓... as a finite sum
    truth = float(np.mean([_PI_E[x] @ _CTR[x, :, k] for x in range(2) for k in range(3)]))
    rng = np.random.default_rng(11)
    reps, n = 150, 2_000
    est: dict[str, list[float]] = {"ipw": [], "snipw": [], "dr": []}
    covered = {"ipw": 0, "dr": 0}
    for rep in range(reps):  # a loop over simulated logs
        log = _bandit(rng, n)
        dist = np.repeat(_PI_E[log["x"]][:, :, None], 3, axis=2)
        res = off_policy_estimates(
            actions=log["a"],
            slots=log["k"],
            rewards=log["r"],
            propensities=log["p"],
            action_dist=dist,
            per_slot=False,
            n_bootstrap=300,
            seed=rep,
        )
        for name in est:
            est[name].append(res.get(name).value)  # type: ignore[arg-type]
        for name in covered:
            e = res.get(name)  # type: ignore[arg-type]
            covered[name] += e.ci_lower <= truth <= e.ci_upper
    for name in ("ipw", "dr"):
        v = np.array(est[name])
        assert abs(v.mean() - truth) < 4 * v.std(ddof=1) / np.sqrt(reps), name
        # nominal 95 %: binomial sd over 150 logs is 1.8 points
        assert 0.88 <= covered[name] / reps <= 0.995, (name, covered[name])
    assert abs(np.mean(est["snipw"]) - truth) < 0.01  # O(1/n) bias: small at n = 2,000


def test_an_evaluation_policy_outside_the_support_is_biased() -> None:
    # the logger never shows item 1 at slot 0; π_e always does: IPW sees only weight-0 rows
    n = 5_000
    rng = np.random.default_rng(1)
    a = np.zeros(n, dtype=int)
    r = rng.binomial(1, 0.1, n).astype(float)  # item 1's true CTR would be 0.5
    res = off_policy_estimates(
        actions=a,
        slots=np.zeros(n, int),
        rewards=r,
        propensities=np.ones(n),
        action_dist=[[0.0], [1.0]],
        estimators=["ipw"],
        n_bootstrap=200,
    )
    e = res.get("ipw")
    assert e.value == 0.0
    assert e.ess == 0.0
    assert not e.ci_lower <= 0.5 <= e.ci_upper


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"propensities": [0.5, 0.5, 0.0, 0.75, 0.5, 0.25]},
            r"propensities\[2\] == 0.0, must be "
            r"in \(0, 1\]",
        ),
        ({"actions": [0, 1, 0, 2, 1, 0]}, r"actions\[3\] == 2, must be in \[0, 2\)"),
        ({"slots": [0, 0, 1]}, r"len\(actions\), len\(slots\), len\(rewards\), len\(propensit"),
        (
            {"action_dist": [[0.8, 0.4], [0.3, 0.6]]},
            r"action_dist\[0, :, 0\]\.sum\(\) == 1\.1, "
            "must be 1",
        ),
        ({"estimators": ["ipw", "switch"]}, r"estimators == \['ipw', 'switch'\], must be"),
        ({"rewards": [1.0, np.nan, 0, 1, 1, 0]}, r"rewards\[1\] == nan, must be finite"),
    ],
)
def test_bad_input_names_the_field_the_value_and_the_rule(
    change: dict[str, Any], message: str
) -> None:
    kw: dict[str, Any] = {
        "actions": A,
        "slots": K,
        "rewards": R,
        "propensities": P,
        "action_dist": PI,
        **change,
    }
    with pytest.raises(InputError, match=message):
        off_policy_estimates(**kw)


def test_a_result_names_its_estimates_when_asked_for_another() -> None:
    with pytest.raises(InputError, match=r"\('dr', 5\), must be one of"):
        _estimates().get("dr", 5)


def _tiny_log(folder: Path, extra_propensity: bool = False) -> Path:
    rows = [
        "ts,item,slot,click,p,policy",
        "2026-01-01 10:00:00,3,1,1,0.5,a",
        "2026-01-01 10:01:00,4,2,0,0.25,a",
        "2026-01-01 10:02:00,3,3,0,0.5,b",
    ]
    (folder / "log.csv").write_text("\n".join(rows) + "\n")
    props = [
        {
            "source": "log",
            "columns": {
                "request_id": {"row_number": True},
                "item_id": "item",
                "ts": "ts",
                "policy": "policy",
                "propensity": "p",
            },
        }
    ]
    if extra_propensity:  # a second propensity per row for an item never shown: an orphan
        props.append(
            {
                "source": "log",
                "columns": {
                    **props[0]["columns"],  # type: ignore[dict-item]
                    "item_id": {"const": 99},
                },
            }
        )
    cfg = {
        "sources": {"log": {"path": "log.csv"}},
        "tables": {
            "impressions": {
                "source": "log",
                "columns": {
                    "request_id": {"row_number": True},
                    "user_id": {"row_number": True},
                    "item_id": "item",
                    "position": {"column": "slot", "add": -1},
                    "ts": "ts",
                },
            },
            "clicks": {
                "source": "log",
                "where": {"click": [1]},
                "columns": {
                    "request_id": {"row_number": True},
                    "user_id": {"row_number": True},
                    "item_id": "item",
                    "ts": "ts",
                },
            },
            "propensities": props,
        },
    }
    path = folder / "import.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_logged_feedback_reads_the_imported_log(tmp_path: Path) -> None:
    with using_data_root(tmp_path / "root"):
        report = import_events(_tiny_log(tmp_path))
        assert report["propensities"].load.accepted == 3
        log = logged_feedback("a")
        assert log.request_ids.tolist() == [1, 2]
        assert log.item_ids.tolist() == [3, 4]
        assert log.slots.tolist() == [0, 1]
        assert log.rewards.tolist() == [1.0, 0.0]
        assert log.propensities.tolist() == [0.5, 0.25]
        with pytest.raises(DataError, match=r"policy == 'c': no rows"):
            logged_feedback("c")


def test_logged_feedback_refuses_a_propensity_without_impression(tmp_path: Path) -> None:
    with using_data_root(tmp_path / "root"):
        import_events(_tiny_log(tmp_path, extra_propensity=True))
        with pytest.raises(
            DataError,
            match=r"2 rows \(first request_id == 1\) have no "
            "impression",
        ):
            logged_feedback("a")


def test_the_sdk_evaluates_a_policy_of_the_event_log_with_item_ids(tmp_path: Path) -> None:
    from shoplab.sdk import off_policy_evaluation

    with using_data_root(tmp_path / "root"):
        import_events(_tiny_log(tmp_path))
        # items 3 and 4 as action indices 1 and 0; π_e shows item 3 at slot 0, item 4 at slot 1
        pi = np.array([[0.0, 1.0], [1.0, 0.0]])
        res = off_policy_evaluation("a", pi, items=[4, 3], estimators=["ipw"], n_bootstrap=100)
        assert res.get("ipw").value == pytest.approx((1 / 0.5 * 1 + 1 / 0.25 * 0) / 2)
        with pytest.raises(InputError, match=r"item_ids\[0\] == 3, must be one of items"):
            off_policy_evaluation("a", np.ones((1, 2)), items=[4])
        with pytest.raises(InputError, match=r"len\(items\) == 3, must equal the actions"):
            off_policy_evaluation("a", pi, items=[4, 3, 5])
