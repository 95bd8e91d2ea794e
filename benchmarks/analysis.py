"""Analysis benchmark: a full scorecard vs one hand-written DuckDB pass vs tea-tasting.

Data: an event log synthesized directly with NumPy (``synthesize_event_log``; not the simulator,
whose serving model is irrelevant to the cost of analysis and 20× slower to generate). It follows
``shoplab/schema.py``: users, items, impressions, clicks, orders (daily files) and exposures, with
pre-period days before the experiment. Full size: 10M users, ≈ 100M impressions in 14 days.

Cases (each in its own subprocess, so peak RSS is its own):

- ``bound``: one hand-written DuckDB pass computing the same unit-level aggregates (exposures →
  first exposure, impressions / clicks / orders in window and pre-period per user) — the floor.
- ``scorecard``: ``analysis.analyze`` with its defaults: 8 metrics, CUPED, SRM, Holm,
  always-valid intervals, the cross-layer interaction checks and the daily cumulative series of
  every effect (on by default up to ``analysis.engine.DAILY_AUTO_MAX_UNITS`` = 12M units, so at
  both sizes).
- ``scorecard_no_daily``: the same with ``daily=False``: what the series costs.
- ``tea_tasting``: tea-tasting's ``Mean`` / ``RatioOfMeans`` on the unit-level table (after the
  bound's SQL; its time includes that SQL, since it needs the same table).

``python -m benchmarks.analysis <case> <root> <experiment>`` runs one case in a child.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from shoplab.benchmarks.harness import Result, child_report, run_in_subprocess, time_median
from shoplab.core.errors import InputError

__all__ = ["BenchExperiment", "bench_experiment", "run", "synthesize_event_log"]

START = datetime(2026, 1, 8, tzinfo=UTC)


@dataclass(frozen=True)
class _Variant:
    key: str
    weight: float
    params: dict[str, Any]


@dataclass(frozen=True)
class _Metrics:
    primary: str
    secondary: list[str]
    guardrails: list[str]


@dataclass(frozen=True)
class BenchExperiment:
    """The minimal experiment object ``analysis.analyze`` accepts (same attribute names)."""

    key: str
    layer: str
    variants: list[_Variant]
    start: datetime
    end: datetime
    status: str
    metrics: _Metrics


def bench_experiment(
    key: str = "bench_rank", days: int = 14, weights: tuple[float, float] = (0.5, 0.5)
) -> BenchExperiment:
    """A two-variant experiment starting at ``START`` and running ``days`` days."""
    return BenchExperiment(
        key=key,
        layer="rank",
        variants=[_Variant("control", weights[0], {}), _Variant("treatment", weights[1], {})],
        start=START,
        end=START + timedelta(days=days),
        status="running",
        metrics=_Metrics(
            "ctr",
            ["cvr", "gmv_per_user", "buyer_rate", "orders_per_user", "aov"],
            ["refund_rate", "new_item_exposure_share"],
        ),
    )


def _ts(seconds: np.ndarray) -> pl.Series:
    return pl.Series("ts", (seconds * 1e6).astype(np.int64)).cast(pl.Datetime("us", "UTC"))


def synthesize_event_log(
    root: Path,
    *,
    users: int,
    days: int = 14,
    pre_days: int = 7,
    impressions_per_user_day: float = 0.7,
    experiment: str = "bench_rank",
    weights: tuple[float, float] = (0.5, 0.5),
    variants: tuple[str, str] = ("control", "treatment"),
    click_mult: float = 1.0,
    order_mult: float = 1.0,
    drop_treatment_exposures: float = 0.0,
    seed: int = 7,
    validate: bool = True,
) -> None:
    """Write a schema-conforming event log + exposures for one two-variant experiment.

    With ``validate`` (default) the log is then validated (``shoplab.events.load_events``, which
    quarantines nothing here and writes the manifest analysis requires); ``validate=False``
    leaves it raw, as a marketplace's export arrives.

    Users have lognormal activity and Beta click / order propensities (so the unit-level variance
    looks like a marketplace's, not like iid Bernoulli impressions). Treatment multiplies the
    click and order probabilities by ``click_mult`` / ``order_mult`` after exposure, so the true
    effect is known. ``drop_treatment_exposures`` removes that share of treatment units' exposure
    rows (a broken logger) to exercise SRM. Generation is one vectorized NumPy pass per day.
    """
    rng = np.random.default_rng(seed)
    ev = root / "events"
    for t in ("users", "items", "impressions", "clicks", "orders", "exposures"):
        (ev / t).mkdir(parents=True, exist_ok=True)
    t0 = START.timestamp()
    day_s = 86_400.0
    uid = np.arange(1, users + 1, dtype=np.int64)
    signup = t0 + rng.uniform(-90, days, users) * day_s
    countries = np.array(["ID", "TH", "VN", "MY", "PH", "SG", "US", "GB"])
    platforms = np.array(["android", "ios", "web"])
    pl.DataFrame(
        {
            "user_id": uid,
            "signup_ts": _ts(signup),
            "country": countries[rng.integers(0, len(countries), users)],
            "platform": platforms[rng.integers(0, 3, users)],
        }
    ).write_parquet(ev / "users" / "users.parquet")
    n_items = max(1_000, users // 10)
    item_created = t0 + rng.uniform(-60, days, n_items) * day_s
    # items 1..50 (the fallback of an impression drawn before its item existed) exist before
    # the pre-period: the log passes validation with nothing quarantined
    item_created[:50] = t0 - (pre_days + 60) * day_s
    price = np.round(np.exp(rng.normal(3.0, 1.0, n_items)), 2)
    ctypes = np.array(["product", "video", "live"])
    pl.DataFrame(
        {
            "item_id": np.arange(1, n_items + 1, dtype=np.int64),
            "shop_id": rng.integers(1, max(2, n_items // 40), n_items).astype(np.int64),
            "category": np.full(n_items, "electronics"),
            "content_type": ctypes[rng.choice(3, n_items, p=[0.74, 0.2, 0.06])],
            "price": price,
            "created_ts": _ts(item_created),
        }
    ).write_parquet(ev / "items" / "items.parquet")

    activity = np.exp(rng.normal(0.0, 1.2, users))
    activity *= impressions_per_user_day / activity.mean()
    p_click = rng.beta(2, 50, users)  # mean ≈ 3.8 %
    p_order = rng.beta(2, 40, users)  # mean ≈ 4.8 % of clicks
    treated = rng.random(users) < weights[1] / sum(weights)
    first_exp = np.full(users, np.inf)
    next_req = 1
    next_order = 1
    for d in range(-pre_days, days):
        day0 = t0 + d * day_s
        n_imp = rng.poisson(activity)
        idx = np.repeat(np.arange(users), n_imp)
        m = idx.size
        ts = day0 + rng.uniform(0, day_s, m)
        order = np.argsort(ts, kind="stable")
        idx, ts = idx[order], ts[order]
        if d >= 0:  # exposure at a unit's first impression in the window
            np.minimum.at(first_exp, idx, ts)
        live = (d >= 0) & treated[idx] & (ts >= first_exp[idx])
        item = rng.integers(1, n_items + 1, m).astype(np.int64)
        item = np.where(
            item_created[item - 1] <= ts, item, 1 + (item % 50)
        )  # mostly existing items
        req = next_req + np.arange(m, dtype=np.int64)
        next_req += m
        pc = p_click[idx] * np.where(live, click_mult, 1.0)
        clicked = rng.random(m) < np.minimum(pc, 1.0)
        po = p_order[idx] * np.where(live, order_mult, 1.0)
        ordered = clicked & (rng.random(m) < np.minimum(po, 1.0))
        name = f"{(START + timedelta(days=d)).date().isoformat()}.parquet"
        pl.DataFrame(
            {
                "request_id": req,
                "user_id": uid[idx],
                "item_id": item,
                "position": (np.arange(m) % 10).astype(np.int32),
                "ts": _ts(ts),
            }
        ).write_parquet(ev / "impressions" / name)
        c_ts = ts[clicked] + 5.0
        pl.DataFrame(
            {
                "request_id": req[clicked],
                "user_id": uid[idx[clicked]],
                "item_id": item[clicked],
                "ts": _ts(c_ts),
            }
        ).write_parquet(ev / "clicks" / name)
        k = int(ordered.sum())
        qty = rng.integers(1, 3, k).astype(np.int32)
        pl.DataFrame(
            {
                "order_id": next_order + np.arange(k, dtype=np.int64),
                "request_id": req[ordered],
                "user_id": uid[idx[ordered]],
                "item_id": item[ordered],
                "ts": _ts(ts[ordered] + 60.0),
                "quantity": qty,
                "gmv": price[item[ordered] - 1] * qty,
                "refunded": rng.random(k) < 0.06,
            }
        ).write_parquet(ev / "orders" / name)
        next_order += k
    exposed = np.isfinite(first_exp)
    if drop_treatment_exposures > 0:
        exposed &= ~(treated & (rng.random(users) < drop_treatment_exposures))
    pl.DataFrame(
        {
            "experiment": np.full(int(exposed.sum()), experiment),
            "variant": np.where(treated[exposed], variants[1], variants[0]),
            "unit_id": uid[exposed],
            "ts": _ts(first_exp[exposed]),
        }
    ).write_parquet(ev / "exposures" / f"{experiment}.parquet")
    if validate:
        from shoplab.core.paths import using_data_root
        from shoplab.events import load_events

        with using_data_root(root):
            load_events()


_BOUND_SQL = """
WITH x AS (
  SELECT unit_id, min(ts) AS first_ts, arg_min(variant, ts) AS variant
  FROM read_parquet('{ev}/exposures/*.parquet') WHERE experiment = '{key}'
  GROUP BY unit_id),
it AS (SELECT item_id, created_ts FROM read_parquet('{ev}/items/*.parquet')),
i AS (SELECT e.user_id, count(*) FILTER (WHERE e.ts >= x.first_ts) AS impressions,
             count(*) FILTER (WHERE e.ts < TIMESTAMPTZ '{start}') AS pre_impressions,
             count(*) FILTER (WHERE e.ts >= x.first_ts AND {new_item}) AS new_item_impressions,
             count(*) FILTER (WHERE e.ts < TIMESTAMPTZ '{start}' AND {new_item})
                 AS pre_new_item_impressions
      FROM read_parquet('{ev}/impressions/*.parquet') e JOIN x ON x.unit_id = e.user_id
      JOIN it ON it.item_id = e.item_id GROUP BY 1),
c AS (SELECT e.user_id, count(*) FILTER (WHERE e.ts >= x.first_ts) AS clicks,
             count(*) FILTER (WHERE e.ts < TIMESTAMPTZ '{start}') AS pre_clicks
      FROM read_parquet('{ev}/clicks/*.parquet') e JOIN x ON x.unit_id = e.user_id GROUP BY 1),
o AS (SELECT e.user_id, count(*) FILTER (WHERE e.ts >= x.first_ts) AS orders,
             sum(e.gmv) FILTER (WHERE e.ts >= x.first_ts AND NOT e.refunded) AS gmv,
             count(*) FILTER (WHERE e.ts >= x.first_ts AND e.refunded) AS refunded_orders,
             count(*) FILTER (WHERE e.ts < TIMESTAMPTZ '{start}') AS pre_orders,
             sum(e.gmv) FILTER (WHERE e.ts < TIMESTAMPTZ '{start}' AND NOT e.refunded) AS pre_gmv,
             count(*) FILTER (WHERE e.ts < TIMESTAMPTZ '{start}' AND e.refunded)
                 AS pre_refunded_orders
      FROM read_parquet('{ev}/orders/*.parquet') e JOIN x ON x.unit_id = e.user_id GROUP BY 1)
SELECT x.unit_id, x.variant,
       coalesce(i.impressions, 0) impressions, coalesce(i.pre_impressions, 0) pre_impressions,
       coalesce(i.new_item_impressions, 0) new_item_impressions,
       coalesce(i.pre_new_item_impressions, 0) pre_new_item_impressions,
       coalesce(c.clicks, 0) clicks, coalesce(c.pre_clicks, 0) pre_clicks,
       coalesce(o.orders, 0) orders, coalesce(o.gmv, 0) gmv,
       coalesce(o.refunded_orders, 0) refunded_orders,
       coalesce(o.pre_orders, 0) pre_orders, coalesce(o.pre_gmv, 0) pre_gmv,
       coalesce(o.pre_refunded_orders, 0) pre_refunded_orders
FROM x LEFT JOIN i ON i.user_id = x.unit_id LEFT JOIN c ON c.user_id = x.unit_id
LEFT JOIN o ON o.user_id = x.unit_id
"""
_NEW_ITEM = "epoch_us(e.ts) - epoch_us(it.created_ts) < 604800000000"  # < 7 days old


def _bound(root: Path, key: str) -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    return con.sql(
        _BOUND_SQL.format(ev=root / "events", key=key, start=START.isoformat(), new_item=_NEW_ITEM)
    ).to_arrow_table()


def _child(case: str, root: str, key: str, days: str) -> None:
    os.environ["SHOPLAB_DATA"] = root
    exp = bench_experiment(key, int(days))
    as_of = exp.end
    # imports outside the timed region: both sides pay them once per process, not per analysis
    import duckdb  # noqa: F401
    import tea_tasting  # noqa: F401

    import shoplab.analysis.engine  # noqa: F401

    t = time.perf_counter()
    if case == "bound":
        tbl = _bound(Path(root), key)
        note = f"{tbl.num_rows} units"
    elif case in ("scorecard", "scorecard_no_daily"):
        from shoplab.analysis import analyze

        card = analyze(exp, as_of=as_of, daily=None if case == "scorecard" else False)
        elapsed = time.perf_counter() - t
        note = (
            f"{sum(v.units for v in card.variants)} units, {len(card.rows)} rows, "
            f"{len(card.daily)} daily points"
        )
        if case == "scorecard":
            from shoplab.analysis import load_scorecard, save_scorecard

            save_scorecard(card)
            load_s = time_median(lambda: load_scorecard(key), repeats=5)
            child_report(seconds=elapsed, note=note, load_s=load_s)
            return
    elif case == "tea_tasting":
        import tea_tasting as tt

        data = pl.from_arrow(_bound(Path(root), key)).with_columns(  # type: ignore[union-attr]
            buyer=(pl.col("orders") > 0).cast(pl.Float64)
        )
        exp_tt = tt.Experiment(
            variant="variant",
            ctr=tt.RatioOfMeans("clicks", "impressions"),
            cvr=tt.RatioOfMeans("orders", "clicks"),
            gmv_per_user=tt.Mean("gmv", covariate="pre_gmv"),
            orders_per_user=tt.Mean("orders", covariate="pre_orders"),
            buyer_rate=tt.Mean("buyer"),
            aov=tt.RatioOfMeans("gmv", "orders"),
        )
        result = exp_tt.analyze(data, control="control")
        note = f"{len(result)} metrics"
    else:
        raise InputError(
            f"case == {case!r}, must be bound, scorecard, scorecard_no_daily or tea_tasting."
        )
    child_report(seconds=time.perf_counter() - t, note=note)


def run(quick: bool) -> list[Result]:
    """Run every case at quick (100k users) or full (10M users) size."""
    users = 100_000 if quick else 10_000_000
    repeats = 3 if quick else 1
    days = 14
    keep = os.environ.get("SHOPLAB_BENCH_ANALYSIS_DATA")  # reuse a generated log across runs
    with tempfile.TemporaryDirectory(prefix="shoplab-bench-analysis-") as tmp:
        root = Path(keep) / f"{users}" if keep else Path(tmp)
        t = time.perf_counter()
        if not (root / "events" / "exposures").is_dir():
            synthesize_event_log(root, users=users, days=days)
        gen_s = time.perf_counter() - t
        n_imp = (
            pl.scan_parquet(root / "events/impressions/*.parquet").select(pl.len()).collect().item()
        )
        results: dict[str, tuple[float, float, str]] = {}
        load_s: list[float] = []
        cases = ["bound", "scorecard", "scorecard_no_daily", "tea_tasting"]
        for case in cases:
            # the machine is shared: the 1-minute load average before the case goes in its note
            load = os.getloadavg()[0]
            runs = [
                run_in_subprocess(
                    "shoplab.benchmarks.analysis", case, str(root), "bench_rank", str(days)
                )
                for _ in range(repeats)
            ]
            med = float(np.median([r["seconds"] for r in runs]))
            load_s += [r["load_s"] for r in runs if "load_s" in r]
            note = f"{runs[0]['note']}; load {load:.1f} on {os.cpu_count()} cores"
            results[case] = (med, max(r["peak_mib"] for r in runs), note)
    size = f"{users:,} users, {n_imp:,} impressions, {days} days (+7 pre); data gen {gen_s:.0f} s"
    bound = results["bound"][0]
    out = []
    for case, (med, peak, note) in results.items():
        out.append(
            Result(
                benchmark="analysis",
                case=case,
                median_s=med,
                peak_mib=peak,
                baseline=None if case == "bound" else "bound",
                ratio=None if case == "bound" else med / bound,
                note=f"{note}; {size}",
            )
        )
    out.append(
        Result(
            benchmark="analysis",
            case="load_cached_scorecard",
            median_s=float(np.median(load_s)),
            note=f"load_scorecard() of the scorecard above (goal < 1 s); {size}",
        )
    )
    return out


if __name__ == "__main__":
    _child(*sys.argv[1:5])
