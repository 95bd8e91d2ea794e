"""The one fixture module for synthetic event logs: seeded, contract-valid, written as Parquet.

Three kinds of test data, one home (the house style: tea-tasting's ``make_users_data``):

- :func:`write_events` — a small marketplace log of every table the contract names
  (``shoplab.core.contract``: users, shops, items, requests, impressions, clicks, orders), with the
  shapes the feature pipelines care about: daily fact files split by the event's own UTC day (a
  click at 00:01 lands in the next day's file), items created during the window (cold start), a
  CTR that decays with position and rises with the user's affinity to the category, so a CTR model
  has something to learn. No ranking policy, no experiments: that is ``shoplab.simulator``.
- :func:`experiment_log` — users exposed to a two-arm experiment with an injected lift, large
  enough for the statistics to be checked (the analysis benchmark's generator, which stays in
  ``shoplab.benchmarks.analysis`` because ``make bench`` needs it in the installed package).
- :func:`write_table` and :func:`ts` — a few hand-written rows of one table, for hand-checkable
  cases, cast to the contract's schema so a typo in a column fails at once.

``tests/test_eventlog.py`` checks that :func:`write_events` passes ``shoplab.events`` validation
with nothing quarantined, and that it is seeded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from shoplab.benchmarks.analysis import START
from shoplab.benchmarks.analysis import synthesize_event_log as experiment_log
from shoplab.core.contract import CATEGORIES, CONTENT_TYPES, COUNTRIES, PLATFORMS, polars_schema
from shoplab.core.paths import events_dir, using_data_root

__all__ = ["START", "experiment_log", "mark_validated", "ts", "write_events", "write_table"]

_US = 1_000_000


def _ts(us: np.ndarray) -> pl.Series:
    return pl.Series(us.astype(np.int64)).cast(pl.Datetime("us", "UTC"))


def _write_daily(table: str, df: pl.DataFrame) -> None:
    folder = events_dir(table)
    folder.mkdir(parents=True, exist_ok=True)
    df = df.select(polars_schema(table).names()).cast(polars_schema(table))
    days = df.get_column("ts").dt.date()
    for day in days.unique().sort():
        df.filter(days == day).write_parquet(folder / f"{day.isoformat()}.parquet")


def _write_dim(table: str, df: pl.DataFrame) -> None:
    folder = events_dir(table)
    folder.mkdir(parents=True, exist_ok=True)
    df.select(polars_schema(table).names()).cast(polars_schema(table)).write_parquet(
        Path(folder) / "part-0.parquet"
    )


@contextmanager
def _at(root: Path | None) -> Iterator[None]:
    """Write under ``root`` when given, else under the current ``$SHOPLAB_DATA``."""
    if root is None:
        yield
        return
    with using_data_root(root):
        yield


def write_events(
    root: Path | None = None,
    *,
    users: int = 200,
    items: int = 120,
    days: int = 5,
    seed: int = 0,
    start: date = date(2026, 1, 1),
    requests_per_day: int = 400,
    slate: int = 8,
) -> dict[str, int]:
    """Write a seeded event log under ``<root>/events``; return rows per table.

    ``root`` defaults to the current ``$SHOPLAB_DATA`` (the ``data_root`` fixture's).
    """
    with _at(root):
        return _write_events(users, items, days, seed, start, requests_per_day, slate)


def _write_events(
    users: int, items: int, days: int, seed: int, start: date, requests_per_day: int, slate: int
) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    t0 = int(datetime.combine(start, time(0), tzinfo=UTC).timestamp()) * _US
    day_us = 86_400 * _US
    n_shops = max(2, items // 10)
    cats = np.array(CATEGORIES)

    shops = pl.DataFrame(
        {
            "shop_id": np.arange(1, n_shops + 1),
            "created_ts": _ts(t0 - rng.integers(30, 400, n_shops) * day_us),
            "rating": np.round(rng.uniform(3.0, 5.0, n_shops), 2),
            "return_rate": np.round(rng.uniform(0.0, 0.2, n_shops), 3),
        }
    )
    # a quarter of the items appear during the window: cold-start items
    created = np.where(
        rng.random(items) < 0.75,
        t0 - rng.integers(1, 200, items) * day_us,
        t0 + rng.integers(0, max(days, 1) * day_us, items),
    )
    item_cat = rng.integers(0, len(cats), items)
    item_quality = rng.normal(0.0, 0.5, items)
    price = np.round(np.exp(rng.normal(3.0, 0.8, items)), 2)
    items_df = pl.DataFrame(
        {
            "item_id": np.arange(1, items + 1),
            "shop_id": rng.integers(1, n_shops + 1, items),
            "category": cats[item_cat],
            "content_type": np.array(CONTENT_TYPES)[rng.choice(3, items, p=[0.7, 0.2, 0.1])],
            "price": price,
            "created_ts": _ts(created),
        }
    )
    users_df = pl.DataFrame(
        {
            "user_id": np.arange(1, users + 1),
            "signup_ts": _ts(t0 - rng.integers(1, 300, users) * day_us),
            "country": np.array(COUNTRIES)[rng.integers(0, len(COUNTRIES), users)],
            "platform": np.array(PLATFORMS)[rng.integers(0, len(PLATFORMS), users)],
        }
    )
    user_fav = rng.integers(0, len(cats), users)  # each user's favourite category

    n_req = requests_per_day * days
    req_user = rng.integers(1, users + 1, n_req)
    req_ts = t0 + np.sort(rng.integers(0, days * day_us, n_req))
    search = rng.random(n_req) < 0.4
    fav = user_fav[req_user - 1]
    query = pl.select(
        pl.when(pl.Series(search)).then(pl.Series(np.char.replace(cats[fav], "_", " ")))
    ).to_series()
    requests = pl.DataFrame(
        {
            "request_id": np.arange(1, n_req + 1),
            "user_id": req_user,
            "ts": _ts(req_ts),
            "surface": np.where(search, "search", "feed"),
            "query": query,
            "country": users_df["country"].to_numpy()[req_user - 1],
            "platform": users_df["platform"].to_numpy()[req_user - 1],
        }
    )

    # impressions: `slate` items per request, half from the user's favourite category
    rid = np.repeat(np.arange(1, n_req + 1), slate)
    uid = np.repeat(req_user, slate)
    its = np.repeat(req_ts, slate)
    pos = np.tile(np.arange(slate), n_req)
    item = rng.integers(1, items + 1, rid.size)
    fav_pool = [np.flatnonzero(item_cat == c) + 1 for c in range(len(cats))]
    want_fav = rng.random(rid.size) < 0.5
    for c in range(len(cats)):  # 24 categories: vectorized within each
        rows = want_fav & (user_fav[uid - 1] == c)
        if rows.any() and fav_pool[c].size:
            item[rows] = rng.choice(fav_pool[c], rows.sum())
    # an item is shown only after it exists: swap in an old item otherwise
    old = np.flatnonzero(created < t0) + 1
    late = created[item - 1] > its
    item[late] = rng.choice(old, late.sum())
    impressions = pl.DataFrame(
        {
            "request_id": rid,
            "user_id": uid,
            "item_id": item,
            "position": pos.astype(np.int32),
            "ts": _ts(its),
        }
    ).unique(["request_id", "item_id"], keep="first", maintain_order=True)
    rid, uid, item = (impressions[c].to_numpy() for c in ("request_id", "user_id", "item_id"))
    pos = impressions["position"].to_numpy()
    its = impressions["ts"].dt.epoch("us").to_numpy()

    logit = (
        -2.6 - 0.25 * pos + item_quality[item - 1] + 1.2 * (item_cat[item - 1] == user_fav[uid - 1])
    )
    clicked = rng.random(item.size) < 1 / (1 + np.exp(-logit))
    cts = its[clicked] + rng.integers(5, 600, clicked.sum()) * _US
    clicks = pl.DataFrame(
        {
            "request_id": rid[clicked],
            "user_id": uid[clicked],
            "item_id": item[clicked],
            "ts": _ts(cts),
        }
    )
    ordered = rng.random(clicked.sum()) < 0.12
    qty = rng.integers(1, 4, ordered.sum())
    orders = pl.DataFrame(
        {
            "order_id": np.arange(1, ordered.sum() + 1),
            "request_id": rid[clicked][ordered],
            "user_id": uid[clicked][ordered],
            "item_id": item[clicked][ordered],
            "ts": _ts(cts[ordered] + rng.integers(30, 3600, ordered.sum()) * _US),
            "quantity": qty.astype(np.int32),
            "gmv": np.round(price[item[clicked][ordered] - 1] * qty, 2),
            "refunded": rng.random(ordered.sum()) < 0.05,
        }
    )
    _write_dim("users", users_df)
    _write_dim("shops", shops)
    _write_dim("items", items_df)
    for name, df in (
        ("requests", requests),
        ("impressions", impressions),
        ("clicks", clicks),
        ("orders", orders),
    ):
        _write_daily(name, df)
    return {
        "users": users,
        "shops": n_shops,
        "items": items,
        "requests": n_req,
        "impressions": impressions.height,
        "clicks": clicks.height,
        "orders": orders.height,
    }


def write_table(root: Path, table: str, rows: dict[str, list[Any]], name: str) -> None:
    """Write ``rows`` as ``<root>/events/<table>/<name>.parquet`` with the contract's schema."""
    folder = root / "events" / table
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows, schema=polars_schema(table)).write_parquet(folder / f"{name}.parquet")


def mark_validated(root: Path) -> str:
    """Record the files under ``root`` as the validated log, as they are; return its version.

    For the analysis tests' hand-written logs only: they hold rows that validation would
    quarantine on purpose (an order of an item its request never clicked, impressions of items
    missing from the items table), to pin how the engine attributes them. Analysis refuses an
    unvalidated log, so these tests record the manifest directly (every row accepted) and test
    the engine's arithmetic on exactly these rows. Logs that should be valid go through
    ``shoplab.events.load_events`` instead.
    """
    import pyarrow.parquet as pq

    from shoplab.core.contract import TABLES
    from shoplab.core.files import parquet_files
    from shoplab.events.manifest import record_validation
    from shoplab.events.report import TableLoad

    with using_data_root(root):
        loads = []
        for table in TABLES:
            files = parquet_files(events_dir(table))
            rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
            loads.append(TableLoad(table, len(files), rows, rows, 0))
        return record_validation(loads).version


def ts(day: int, hour: float = 12.0) -> datetime:
    """An instant ``day`` days after :data:`START` at ``hour`` (UTC)."""
    return START + timedelta(days=day, hours=hour)
