"""Position-aware metrics (issue 15): CTR@10, orders@10, position-weighted clicks, slot shares.

Oracle: the unit columns recomputed in Polars from the raw Parquet (a click or an order takes the
slot of the impression it came from), on a log with 16-slot lists so that slots 10-15 exist and
must be left out; then the scorecard's values are the ratio of those per-unit sums.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from shoplab.analysis import analyze
from shoplab.analysis.unit_base import build_unit_base
from shoplab.analysis.unit_query import UnitQuery
from shoplab.analysis.unit_table import build_sql_unit_table, build_unit_table, fetch_polars
from shoplab.core.duck import connect
from tests.analysis.builders import make_experiment, mark_validated, write_table
from tests.eventlog import START, write_events

COLUMNS = (
    "impressions",
    "clicks",
    "impressions_top10",
    "clicks_top10",
    "orders_top10",
    "position_weighted_clicks",
    "product_impressions_top10",
    "video_impressions_top10",
    "live_impressions_top10",
)
DAYS = 6


@pytest.fixture(scope="module")
def slot_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7 pre-period + 6 experiment days, 16-slot lists, every user exposed on day 0 or 1."""
    root = tmp_path_factory.mktemp("slots") / "data"
    root.mkdir()
    first = (START - timedelta(days=7)).date()
    write_events(root, users=300, items=200, days=7 + DAYS, seed=4, start=first, slate=16)
    users = np.arange(1, 301)
    write_table(
        root,
        "exposures",
        {
            "experiment": ["bench_rank"] * users.size,
            "variant": ["control" if u % 2 else "treatment" for u in users],
            "unit_id": users.tolist(),
            "ts": [START + timedelta(hours=int(u % 36)) for u in users],
        },
        "exposures",
    )
    from shoplab.core.paths import using_data_root
    from shoplab.events import load_events

    with using_data_root(root):
        report = load_events()
    assert report.quarantined == 0
    return root


def _oracle(root: Path, window_end: object) -> pl.DataFrame:
    ev = root / "events"
    exp = pl.read_parquet(ev / "exposures" / "*.parquet").group_by("unit_id").agg(
        first_ts=pl.col("ts").min()
    )
    imp = pl.read_parquet(ev / "impressions" / "*.parquet")
    items = pl.read_parquet(ev / "items" / "*.parquet").select("item_id", "content_type")
    slot = imp.select("request_id", "item_id", "position")

    def window(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.join(exp, left_on="user_id", right_on="unit_id").filter(
            (pl.col("ts") >= pl.col("first_ts")) & (pl.col("ts") < window_end)
        )

    i = window(imp).join(items, on="item_id", how="left")
    c = window(pl.read_parquet(ev / "clicks" / "*.parquet")).join(
        slot, on=["request_id", "item_id"], how="left"
    )
    o = window(pl.read_parquet(ev / "orders" / "*.parquet")).join(
        slot, on=["request_id", "item_id"], how="left"
    )
    top = pl.col("position") < 10
    parts = [
        i.group_by("user_id").agg(
            impressions=pl.len(),
            impressions_top10=top.sum(),
            **{f"{ct}_impressions_top10": (top & (pl.col("content_type") == ct)).sum()
               for ct in ("product", "video", "live")},
        ),
        c.group_by("user_id").agg(
            clicks=pl.len(),
            clicks_top10=top.sum(),
            position_weighted_clicks=(1.0 / (pl.col("position") + 2).log(2)).sum(),
        ),
        o.group_by("user_id").agg(orders_top10=top.sum()),
    ]
    out = exp.select(pl.col("unit_id").alias("user_id"))
    for p in parts:
        out = out.join(p, on="user_id", how="left")
    return out.fill_null(0).with_columns(pl.col(c).cast(pl.Float64) for c in COLUMNS).sort(
        "user_id"
    )


def test_both_unit_table_builds_equal_the_oracle(slot_log: Path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    monkeypatch.setenv("SHOPLAB_DATA", str(slot_log))
    exp = make_experiment(days=DAYS)
    q = UnitQuery(exp.key, exp.start, exp.end, 7, COLUMNS)
    want = _oracle(slot_log, exp.end)
    assert float(want["impressions"].sum()) > float(want["impressions_top10"].sum()) > 0
    assert float(want["clicks_top10"].sum()) < float(want["clicks"].sum())  # slots 10-15 clicked
    con = connect(ordered=False)
    try:
        build_unit_table(con, q, name="scan")
        build_unit_base(con, q)
        build_sql_unit_table(con, q, "sql")
        for name in ("scan", "sql"):
            got = fetch_polars(con, name).sort("unit_id")
            assert got["unit_id"].to_list() == want["user_id"].to_list()
            for col in COLUMNS:
                np.testing.assert_allclose(
                    got[col].to_numpy(), want[col].to_numpy(), rtol=1e-12, err_msg=f"{name} {col}"
                )
    finally:
        con.close()


def test_the_scorecard_values_are_the_ratios_of_the_unit_sums(
    slot_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLAB_DATA", str(slot_log))
    exp = make_experiment(days=DAYS, primary="ctr_at_10", secondary=("position_weighted_ctr",),
                          guardrails=("video_share_top10",))
    card = analyze(exp, cuped=False, daily=False, metrics=[
        "ctr_at_10", "orders_at_10", "video_share_top10", "live_share_top10",
        "product_share_top10",
    ])
    units = _oracle(slot_log, exp.end).with_columns(
        variant=pl.when(pl.col("user_id") % 2 == 1).then(pl.lit("control"))
        .otherwise(pl.lit("treatment"))
    )
    control = units.filter(pl.col("variant") == "control")
    for metric, num, den in (
        ("ctr_at_10", "clicks_top10", "impressions_top10"),
        ("orders_at_10", "orders_top10", "impressions_top10"),
        ("video_share_top10", "video_impressions_top10", "impressions_top10"),
        ("live_share_top10", "live_impressions_top10", "impressions_top10"),
        ("product_share_top10", "product_impressions_top10", "impressions_top10"),
    ):
        row = card.row(metric)
        assert row.control_value == pytest.approx(control[num].sum() / control[den].sum(),
                                                  rel=1e-12), metric
    shares = sum(card.row(m).control_value or 0.0 for m in (
        "video_share_top10", "live_share_top10", "product_share_top10"))
    assert shares == pytest.approx(1.0, rel=1e-12)  # every top slot shows one content type


def test_a_log_without_impressions_says_slot_metrics_are_not_available(
    data_root: Path,
) -> None:
    write_table(data_root, "exposures", {
        "experiment": ["bench_rank", "bench_rank"], "variant": ["control", "treatment"],
        "unit_id": [1, 2], "ts": [START, START],
    }, "exposures")
    write_table(data_root, "clicks", {
        "request_id": [1], "user_id": [1], "item_id": [5], "ts": [START + timedelta(hours=1)],
    }, START.date().isoformat())
    mark_validated(data_root)
    from shoplab.core.errors import ShoplabError

    with pytest.raises(ShoplabError, match="ctr_at_10: not available: no impressions table"):
        analyze(make_experiment(), metrics=["ctr_at_10"], daily=False, cuped=False)
