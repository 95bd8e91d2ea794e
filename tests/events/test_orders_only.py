"""Orders-only logs: ``request_id`` and ``item_id`` of an order may be null when nothing they name.

A purchase log (CDNOW: customer, day, CDs, dollars) has no requests, impressions or clicks, so its
orders point to nothing; the contract lets those two ids be null then. A log that has requests
(clicks) still needs them: a null there is quarantined with a reason saying why. Metrics that
read impressions or clicks say ``not available: no ... table`` on such a log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shoplab.analysis.engine import analyze
from shoplab.analysis.spec import ExperimentSpec, MetricRoles, VariantSpec
from shoplab.core.contract import TABLES
from shoplab.events import load_events
from shoplab.events.rules import NULL_ITEM_WITH_CLICKS, NULL_REQUEST_WITH_REQUESTS
from tests.events.test_events import O1, USERS, order, ts, write_log, write_rows


def _orders_only(root: Path) -> None:
    """3 users, 4 orders without request or item, 2 exposures per arm: no requests at all."""
    write_rows(root / "events" / "users" / "users.parquet", "users", USERS)
    rows = [
        {**order(i, 0, user, 0, at, 1, gmv), "request_id": None, "item_id": None}
        for i, (user, at, gmv) in enumerate([
            (1, "2026-01-01 10:05", 20.0), (1, "2026-01-02 09:10", 30.0),
            (2, "2026-01-01 12:00", 12.5), (3, "2026-01-02 18:00", 7.0)], start=1)
    ]
    write_rows(root / "events" / "orders" / "2026-01-01.parquet", "orders",
               [r for r in rows if r["ts"].day == 1])
    write_rows(root / "events" / "orders" / "2026-01-02.parquet", "orders",
               [r for r in rows if r["ts"].day == 2])
    write_rows(root / "events" / "exposures" / "exposures.parquet", "exposures", [
        {"experiment": "promo", "variant": v, "unit_id": u, "ts": ts("2026-01-01 00:00")}
        for u, v in ((1, "control"), (2, "treatment"), (3, "treatment"), (4, "control"))])


def test_the_contract_lets_order_ids_be_null_and_nothing_else_of_orders() -> None:
    nullable = {c.name for c in TABLES["orders"].columns if c.nullable}
    assert nullable == {"request_id", "item_id"}


def test_an_orders_only_log_with_null_ids_is_accepted_whole(data_root: Path) -> None:
    _orders_only(data_root)
    report = load_events()
    assert (report["orders"].rows_in, report["orders"].accepted) == (4, 4)
    assert report.quarantined == 0
    again = load_events()  # idempotent
    assert all(not t.rewritten for t in again.tables)


def test_null_ids_in_a_log_with_requests_and_clicks_are_quarantined_saying_why(
    data_root: Path,
) -> None:
    write_log(data_root, {"orders/2026-01-01.parquet": [
        {**O1[0], "order_id": 9, "request_id": None},
        {**O1[0], "order_id": 10, "item_id": None},
    ]})
    report = load_events()
    assert report["orders"].reasons == {NULL_REQUEST_WITH_REQUESTS: 1, NULL_ITEM_WITH_CLICKS: 1}
    assert report["orders"].accepted == 2  # the valid log's two orders stay
    moved = pq.read_table(data_root / "quarantine" / "orders").to_pylist()
    assert sorted(r["order_id"] for r in moved) == [9, 10]


@pytest.mark.parametrize(("metric", "detail"), [
    ("ctr", "not available: no clicks / impressions table"),
    ("cvr", "not available: no clicks table"),
    ("ctr_at_10", "not available: no clicks / impressions table"),
    ("orders_at_10", "not available: no impressions table"),
])
def test_metrics_on_impressions_say_not_available_on_an_orders_only_log(
    data_root: Path, metric: str, detail: str
) -> None:
    _orders_only(data_root)
    load_events()
    spec = ExperimentSpec(
        key="promo", layer="checkout",
        variants=(VariantSpec("control", 0.5), VariantSpec("treatment", 0.5)),
        start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 1, 3, tzinfo=UTC),
        metrics=MetricRoles("gmv_per_user", ()),
    )
    card = analyze(spec, as_of="2026-01-02", interactions=False, daily=False,
                   metrics=[metric, "gmv_per_user", "buyer_rate"])
    rows = {r.metric: r for r in card.rows}
    assert (rows[metric].status, rows[metric].detail) == ("no_data", detail)
    # gmv per exposed user: control = users 1 and 4 (50 + 0) / 2, treatment = 2 and 3 (12.5 + 7)
    assert rows["gmv_per_user"].control_value == pytest.approx(25.0)
    assert rows["gmv_per_user"].treatment_value == pytest.approx(9.75)
    assert rows["buyer_rate"].control_value == pytest.approx(0.5)
    assert rows["buyer_rate"].treatment_value == pytest.approx(1.0)
