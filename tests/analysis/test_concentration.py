"""Seller concentration (analysis.concentration): the HHI of net GMV across shops per arm.

Oracles: the HHI recomputed in Polars from the raw Parquet for each arm; the bootstrap standard
error against the spread of the HHI difference over random re-assignments of the same units (what
an A/A test's difference would vary by); determinism of the seeded bootstrap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from shoplab.analysis import analyze
from shoplab.analysis.concentration import REPLICATES, hhi
from tests.analysis.builders import make_experiment


def _orders(root: Path, end: object) -> pl.DataFrame:
    ev = root / "events"
    exp = pl.read_parquet(ev / "exposures" / "*.parquet").group_by("unit_id").agg(
        first_ts=pl.col("ts").min(), variant=pl.col("variant").first()
    )
    items = pl.read_parquet(ev / "items" / "*.parquet").select("item_id", "shop_id")
    orders = pl.read_parquet(ev / "orders" / "*.parquet")
    return (
        orders.join(exp, left_on="user_id", right_on="unit_id")
        .filter((pl.col("ts") >= pl.col("first_ts")) & (pl.col("ts") < end))
        .join(items, on="item_id")
        .with_columns(net=pl.when(pl.col("refunded")).then(0.0).otherwise(pl.col("gmv")))
    )


def _hhi(frame: pl.DataFrame) -> float:
    shops = frame.group_by("shop_id").agg(pl.col("net").sum())["net"].to_numpy()
    return float(hhi(shops))


def test_hhi_closed_form() -> None:
    assert float(hhi(np.array([1.0, 1.0, 1.0, 1.0]))) == pytest.approx(0.25)
    assert float(hhi(np.array([[3.0, 1.0], [0.0, 2.0]]))[0]) == pytest.approx(0.625)
    assert np.isnan(hhi(np.array([0.0, 0.0])))


def test_the_row_equals_the_oracle_and_its_interval_is_calibrated(use_log: Path) -> None:
    exp = make_experiment(guardrails=("refund_rate", "seller_hhi"))
    card = analyze(exp, daily=False)
    row = card.row("seller_hhi")
    assert row.status == "ok"
    assert row.test == "randomization"
    assert row.role == "guardrail"
    orders = _orders(use_log, exp.end)
    want_c = _hhi(orders.filter(pl.col("variant") == "control"))
    want_t = _hhi(orders.filter(pl.col("variant") == "treatment"))
    assert row.control_value == pytest.approx(want_c, rel=1e-12)
    assert row.treatment_value == pytest.approx(want_t, rel=1e-12)
    assert row.abs_effect == pytest.approx(want_t - want_c, rel=1e-9)
    assert row.abs_ci_lower is not None
    assert row.abs_ci_upper is not None
    assert row.abs_ci_lower < row.abs_effect < row.abs_ci_upper
    assert f"{REPLICATES} re-drawn assignments" in row.detail
    assert row.pvalue is not None
    assert 1 / (REPLICATES + 1) <= row.pvalue <= 1

    # the interval's sd against an independent re-randomization: re-label the same units 300
    # times (every exposed unit, buyers or not; arm sizes kept) and measure the HHI difference
    per_unit = orders.group_by("user_id", "shop_id").agg(pl.col("net").sum())
    n_units = row.n_control + row.n_treatment
    _, u_idx = np.unique(per_unit["user_id"].to_numpy(), return_inverse=True)
    _, s_idx = np.unique(per_unit["shop_id"].to_numpy(), return_inverse=True)
    buyers, net = int(u_idx.max()) + 1, per_unit["net"].to_numpy()
    rng = np.random.default_rng(1)
    diffs = []
    for _ in range(300):  # re-randomizations of a test oracle, each vectorized
        arm = rng.permutation(n_units)[:buyers] < row.n_treatment  # the buyers' new labels
        t = arm[u_idx]
        diffs.append(float(hhi(np.bincount(s_idx[t], net[t]))
                           - hhi(np.bincount(s_idx[~t], net[~t]))))
    sd_rerandom = float(np.std(diffs, ddof=1))
    sd_row = (row.abs_ci_upper - row.abs_ci_lower) / (2 * 1.959964)
    assert 0.85 < sd_row / sd_rerandom < 1.18, (sd_row, sd_rerandom)  # MC error ~4 % each

    again = analyze(exp, daily=False).row("seller_hhi")
    # seeded: the same interval (to DuckDB's parallel-sum last bits)
    assert (again.abs_ci_lower, again.abs_ci_upper) == pytest.approx(
        (row.abs_ci_lower, row.abs_ci_upper), rel=1e-12
    )


def test_alone_it_still_reads_the_scorecards_units(use_log: Path) -> None:
    exp = make_experiment()
    alone = analyze(exp, metrics=["seller_hhi"], daily=False)
    assert [r.metric for r in alone.rows] == ["seller_hhi"]
    among = analyze(exp, metrics=["ctr", "seller_hhi"], daily=False).row("seller_hhi")
    assert alone.rows[0].control_value == among.control_value
    assert (alone.rows[0].n_control, alone.rows[0].n_treatment) == (among.n_control,
                                                                    among.n_treatment)


def test_power_refuses_a_concentration_metric(use_log: Path) -> None:
    from shoplab.analysis import power
    from shoplab.core.errors import InputError

    with pytest.raises(InputError, match="must be a per-unit metric"):
        power("seller_hhi", 0.1, 7)
