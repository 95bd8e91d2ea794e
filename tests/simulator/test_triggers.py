"""Counterfactual triggers: a row per request of a unit, triggered exactly where lists differ."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from shoplab.core.contract import polars_schema
from shoplab.experiments import load_layout
from shoplab.simulator import ExperimentPolicy, simulate
from shoplab.simulator.policy import PolicyDecision
from tests.experiments.conftest import WriteConfigs, experiment_doc

SIM: dict[str, Any] = {"users": 6_000, "items": 1_500, "seed": 11, "start": "2026-01-10"}
START = "2026-01-10T00:00:00Z"


def _trigger_exp(treatment: dict[str, object], k: int = 5, **over: object) -> dict[str, object]:
    """Rank-layer ab test on every unit; the ~20 % example is ``rank_w_price: 0.55``, k = 5."""
    return experiment_doc(
        "rank_tr",
        buckets=[0, 10000],
        start=START,
        trigger={"k": k},
        variants=[
            {"key": "control", "weight": 0.5, "params": {}},
            {"key": "treatment", "weight": 0.5, "params": treatment},
        ],
        **over,
    )


class _Everyone:
    """Serve every active user ``params`` (no exposures): one arm for the whole population."""

    def __init__(self, **params: float) -> None:
        self.params = params

    def __call__(self, day: date, active: pl.DataFrame) -> PolicyDecision:
        return PolicyDecision(
            params=active.select("user_id", *(pl.lit(v).alias(k) for k, v in self.params.items())),
            exposures=pl.DataFrame(schema=polars_schema("exposures")),
        )


def _top_k(root: Path, k: int) -> dict[int, list[int]]:
    rows = (
        duckdb.connect()
        .execute(
            f"SELECT request_id, list(item_id ORDER BY position) FROM "
            f"'{root}/events/impressions/*.parquet' WHERE position < {k} GROUP BY 1"
        )
        .fetchall()
    )
    return {int(r): list(items) for r, items in rows}


def _triggers(root: Path) -> pl.DataFrame:
    return pl.read_parquet(root / "events" / "triggers" / "*.parquet")


def test_aa_never_triggers_and_logs_one_row_per_request(
    data_root: Path, write_configs: WriteConfigs
) -> None:
    cfg = write_configs(_trigger_exp({"rank_w_quality": 1.0}, k=10))
    report = simulate(**SIM, days=2, policy=ExperimentPolicy(load_layout(cfg), holdout=False))
    tr = _triggers(data_root)
    assert tr.height == report.requests == report.triggers > 500  # every unit, every request
    assert tr["request_id"].n_unique() == tr.height
    assert not tr["triggered"].any()
    assert set(tr["k"]) == {10}
    assert set(tr["variant"]) == {"control", "treatment"}
    exposed = (
        duckdb.connect()
        .execute(
            f"SELECT unit_id, min(variant) FROM '{data_root}/events/exposures/*.parquet' GROUP BY 1"
        )
        .fetchall()
    )
    by_unit = dict(exposed)
    served = dict(zip(tr["user_id"], tr["variant"], strict=True))
    assert all(by_unit[u] == v for u, v in served.items())  # the arm that served it


def test_triggered_exactly_where_the_arms_lists_differ(
    data_root: Path, write_configs: WriteConfigs
) -> None:
    # one day: the two single-arm runs below see the same world state, so their lists are the
    # lists each arm would show each request
    k = 5
    cfg = write_configs(_trigger_exp({"rank_w_price": 0.55}, k=k))
    simulate(**SIM, days=1, policy=ExperimentPolicy(load_layout(cfg), holdout=False))
    tr = _triggers(data_root)
    simulate(**SIM, days=1)
    control = _top_k(data_root, k)
    simulate(**SIM, days=1, policy=_Everyone(rank_w_price=0.55))
    treatment = _top_k(data_root, k)
    differ = np.array([control[r] != treatment[r] for r in tr["request_id"].to_list()])
    assert (tr["triggered"].to_numpy() == differ).all()
    rate = differ.mean()
    assert 0.10 < rate < 0.30  # a small weight change moves the top 5 of ~20 % of requests


def test_trigger_rate_grows_with_a_feature_only_some_requests_have(
    data_root: Path, write_configs: WriteConfigs
) -> None:
    # rank_w_short_term only scores requests of users with an earlier click: none on day 1
    cfg = write_configs(_trigger_exp({"rank_w_short_term": 1.0}, k=10))
    simulate(**SIM, days=4, policy=ExperimentPolicy(load_layout(cfg), holdout=False))
    by_day = (
        _triggers(data_root)
        .group_by(pl.col("ts").dt.date().alias("day"))
        .agg(pl.col("triggered").mean())
        .sort("day")
    )
    rates = by_day["triggered"].to_list()
    assert rates[0] == 0.0
    assert 0.0 < rates[1] < rates[-1] < 0.5


def test_trigger_is_rejected_on_interleaving(
    data_root: Path, write_configs: WriteConfigs
) -> None:
    from shoplab.experiments.validation import validate

    il = experiment_doc(
        "rank_il",
        type="interleaving",
        buckets=[0, 10000],
        trigger={"k": 3},
        variants=[
            {"key": "a", "weight": 0.5, "params": {}},
            {"key": "b", "weight": 0.5, "params": {"rank_w_quality": 2.0}},
        ],
    )
    report = validate(write_configs(il), write_lock=False)
    assert [(p.field, p.value) for p in report.problems] == [("trigger", {"k": 3})]


def test_a_triggered_arm_whose_model_cannot_load_is_its_control(
    data_root: Path, write_configs: WriteConfigs
) -> None:
    """The treatment's model is not registered: its units are served by the control ranker
    (counted), and so is its counterfactual list, so no request differs."""
    from shoplab.models.fallbacks import fallback_days

    model = _trigger_exp({"model": "never_registered/1"})
    simulate(**SIM, days=1, policy=ExperimentPolicy(load_layout(write_configs(model)),
                                                    holdout=False))
    tr = _triggers(data_root)
    assert tr.height > 0
    assert not tr["triggered"].any()
    assert {(v, m, r) for _, v, m, r, _, _ in fallback_days(tr["experiment"][0])} == {
        ("treatment", "never_registered/1", "not_found")
    }
