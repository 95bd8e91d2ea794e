"""Feature pipelines on a hand-made event log whose values are checked by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from shoplab.core.contract import polars_schema
from shoplab.core.paths import events_dir, feature_tables_dir
from shoplab.feature_repo.pipelines import build
from shoplab.feature_repo.pipelines.item_stats import CTR_PRIOR_IMPRESSIONS, CVR_PRIOR_CLICKS


def ts(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


def write(table: str, rows: list[dict], daily: bool = True) -> None:
    df = pl.DataFrame(rows, schema=polars_schema(table))
    folder = events_dir(table)
    folder.mkdir(parents=True, exist_ok=True)
    if not daily:
        df.write_parquet(folder / "part-0.parquet")
        return
    for d in df["ts"].dt.date().unique():
        df.filter(pl.col("ts").dt.date() == d).write_parquet(folder / f"{d}.parquet")


@pytest.fixture
def tiny(data_root: Path) -> Path:
    """User 1 sees items 1 (shoes) and 2 (bags) on Jan 1-2, clicks item 1 twice, orders once."""
    write("users", [{"user_id": 1, "signup_ts": ts(1), "country": "ID", "platform": "ios"}], False)
    write("shops", [{"shop_id": 7, "created_ts": ts(1), "rating": 4.5, "return_rate": 0.1}], False)
    write(
        "items",
        [
            {
                "item_id": 1,
                "shop_id": 7,
                "category": "shoes",
                "content_type": "product",
                "price": 20.0,
                "created_ts": datetime(2025, 12, 1, tzinfo=UTC),
            },
            {
                "item_id": 2,
                "shop_id": 7,
                "category": "bags",
                "content_type": "video",
                "price": 50.0,
                "created_ts": ts(1, 12),
            },
            {
                "item_id": 3,
                "shop_id": 7,
                "category": "shoes",
                "content_type": "live",
                "price": 5.0,
                "created_ts": ts(3),
            },  # exists only from Jan 3: no row stamped Jan 2/3
        ],
        False,
    )
    write(
        "impressions",
        [
            {"request_id": 1, "user_id": 1, "item_id": 1, "position": 0, "ts": ts(1, 10)},
            {"request_id": 2, "user_id": 1, "item_id": 1, "position": 0, "ts": ts(1, 23, 59)},
            {"request_id": 2, "user_id": 1, "item_id": 2, "position": 1, "ts": ts(1, 23, 59)},
            # exactly at the Jan 3 stamp: belongs to the row stamped Jan 4, not Jan 3
            {"request_id": 3, "user_id": 1, "item_id": 2, "position": 0, "ts": ts(3)},
        ],
    )
    write(
        "clicks",
        [
            {"request_id": 1, "user_id": 1, "item_id": 1, "ts": ts(1, 10, 1)},
            {"request_id": 2, "user_id": 1, "item_id": 1, "ts": ts(2, 0, 1)},  # next day's file
        ],
    )
    write(
        "orders",
        [
            {
                "order_id": 1,
                "request_id": 2,
                "user_id": 1,
                "item_id": 1,
                "ts": ts(2, 0, 5),
                "quantity": 2,
                "gmv": 40.0,
                "refunded": False,
            },
        ],
    )
    return data_root


def view(name: str, day: int) -> pl.DataFrame:
    return pl.read_parquet(feature_tables_dir(name) / f"2026-01-{day:02d}.parquet")


def test_user_long_term_by_hand(tiny: Path) -> None:
    build(date(2026, 1, 1), date(2026, 1, 3))
    d1, d2 = (
        view("user_long_term", 1).row(0, named=True),
        view("user_long_term", 2).row(0, named=True),
    )
    assert d1["event_timestamp"] == ts(2)
    # Jan 1 window [Dec 3, Jan 2): 3 impressions, 1 click (the 00:01 click is after the stamp)
    assert (d1["impressions_7d"], d1["clicks_7d"], d1["orders_7d"]) == (3, 1, 0)
    assert d1["ctr_7d"] == pytest.approx(1 / 3)
    assert d1["cvr_7d"] == pytest.approx(0.0)
    assert d1["avg_paid_price_30d"] is None  # no order yet: null, not 0
    assert d1["avg_clicked_price_30d"] == pytest.approx(20.0)  # one click on item 1 (price 20)
    assert (d2["clicks_30d"], d2["orders_30d"], d2["gmv_30d"]) == (2, 1, 40.0)
    assert d2["avg_paid_price_30d"] == pytest.approx(20.0)  # 40 gmv / 2 units
    assert (d2["top_category_1"], d2["top_category_1_share"], d2["top_category_2"]) == (
        "shoes",
        1.0,
        None,
    )
    # the impression at exactly 2026-01-03 00:00 is not in the row stamped 2026-01-03 00:00
    assert d2["impressions_30d"] == 3
    assert view("user_long_term", 3).row(0, named=True)["impressions_30d"] == 4


def test_item_stats_smoothing_and_existence(tiny: Path) -> None:
    build(date(2026, 1, 1), date(2026, 1, 2))
    rows = {r["item_id"]: r for r in view("item_stats", 1).iter_rows(named=True)}
    assert set(rows) == {1, 2}  # item 3 is created on Jan 3
    # category priors over the 7d window: shoes 1 click / 2 impressions, bags 0 / 1
    m = CTR_PRIOR_IMPRESSIONS
    assert rows[1]["ctr_7d_smoothed"] == pytest.approx((1 + m * 0.5) / (2 + m))
    assert rows[2]["ctr_7d_smoothed"] == pytest.approx((0 + m * 0.0) / (1 + m))
    # CVR: shoes has 1 click and no order yet; bags has no click -> global prior (0 orders / 1)
    k = CVR_PRIOR_CLICKS
    assert rows[1]["cvr_7d_smoothed"] == pytest.approx(0.0 / (1 + k))
    assert rows[2]["age_days"] == pytest.approx(0.5)
    d2 = {r["item_id"]: r for r in view("item_stats", 2).iter_rows(named=True)}
    assert (d2[1]["item_clicks_1d"], d2[1]["item_orders_1d"], d2[1]["item_gmv_1d"]) == (1, 1, 40.0)


def test_short_term_hourly_by_hand(tiny: Path) -> None:
    build(date(2026, 1, 2), date(2026, 1, 2))
    st = view("user_short_term", 2).sort("event_timestamp")
    assert st["event_timestamp"].min() == ts(2, 1)
    assert st["event_timestamp"].max() == ts(3)
    first = st.row(0, named=True)  # stamped 01:00: window [Jan 1 01:00, Jan 2 01:00)
    assert (first["clicks_1h"], first["clicks_1d"], first["impressions_1d"]) == (1, 2, 3)
    assert first["last_clicked_category"] == "shoes"
    later = st.filter(pl.col("event_timestamp") == ts(2, 11)).row(0, named=True)
    assert (later["clicks_1h"], later["clicks_1d"]) == (0, 1)  # the 10:01 click left the window


def test_shop_stats_by_hand(tiny: Path) -> None:
    build(date(2026, 1, 2), date(2026, 1, 2))
    row = view("shop_stats", 2).row(0, named=True)
    assert (row["rating"], row["return_rate"], row["shop_gmv_30d"], row["shop_orders_30d"]) == (
        4.5,
        0.1,
        40.0,
        1,
    )


def test_bad_range_is_named(tiny: Path) -> None:
    with pytest.raises(ValueError, match="must be >= start"):
        build(date(2026, 1, 3), date(2026, 1, 1))
    with pytest.raises(ValueError, match="views"):
        build(views=["nope"])


def test_empty_log_is_a_clear_error(data_root: Path) -> None:
    with pytest.raises(FileNotFoundError, match="impressions"):
        build()


@pytest.mark.parametrize("breakage", ["truncated", "missing column"])
def test_a_broken_event_file_is_named_before_anything_is_written(tiny: Path, breakage: str) -> None:
    from shoplab.events.errors import EventLogError

    build(date(2026, 1, 1), date(2026, 1, 2))
    before = {p: p.read_bytes() for p in sorted(feature_tables_dir().rglob("*.parquet"))}
    orders = sorted(events_dir("orders").glob("*.parquet"))[0]
    if breakage == "truncated":
        orders.write_bytes(orders.read_bytes()[:100])
    else:
        pl.read_parquet(orders).drop("gmv").write_parquet(orders)
    with pytest.raises(EventLogError, match=orders.name) as err:
        build()
    assert breakage == "truncated" or "'gmv'" in str(err.value)
    after = {p: p.read_bytes() for p in sorted(feature_tables_dir().rglob("*.parquet"))}
    assert after == before  # no view was half rebuilt
