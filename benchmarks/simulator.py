"""Simulator benchmark: events per second and peak memory of ``simulate``, and of validating it.

Sizes: quick 100k users; full 1M and 10M users (the issue's goal: 10M users / ≈ 100M impressions
in ≤ 10 minutes and ≤ 12 GiB on 2 cores), 14 days, items = users / 10.

Cases (each in its own subprocess, so peak RSS is its own):

- ``simulate``: ``shoplab.simulator.simulate`` writing the whole log (requests, impressions,
  clicks, orders, users, shops, items). Events = rows written to the four fact tables.
- ``floor`` (the baseline): the same number of fact rows drawn as independent uniform NumPy
  columns and written with the same Parquet writer, day by day: what any generator of this log
  must pay for RNG and I/O. ``ratio`` = simulate / floor is the cost of the world model (recall →
  rank → mix, position-biased clicks, orders) on top of that floor.
- ``validate``: ``shoplab.events.load_events`` over the simulated log (DuckDB: every rule, every
  reference join, duplicate keys); its baseline is ``scan``, one DuckDB ``count(*)`` per table
  over the same files with the same columns read.

``python -m benchmarks.simulator <case> <users> <root>`` runs one case in a child.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from statistics import median

import numpy as np

from shoplab.benchmarks.harness import Result, child_report, run_in_subprocess

__all__ = ["run"]

DAYS = 14
START = date(2026, 1, 1)
_FACTS = ("requests", "impressions", "clicks", "orders")


def _simulate(users: int) -> dict[str, float]:
    from shoplab.simulator import simulate

    r = simulate(users=users, items=max(1_000, users // 10), days=DAYS, seed=1, start=START)
    return {"seconds": r.seconds, "events": r.requests + r.impressions + r.clicks + r.orders,
            "impressions": r.impressions, "requests": r.requests, "clicks": r.clicks,
            "orders": r.orders}


def _floor(users: int, root: Path) -> dict[str, float]:
    """Uniform random columns with the simulated row counts, written with the same writer."""
    import pyarrow.parquet as pq

    from shoplab.simulator.world import day_start_us
    from shoplab.simulator.writer import codes_to_strings, write_table

    rows = {t: sum(pq.read_metadata(f).num_rows for f in (root / "events" / t).glob("*.parquet"))
            for t in _FACTS}
    rng = np.random.default_rng(0)
    out = Path(tempfile.mkdtemp(prefix="floor-", dir=root))
    t0 = time.perf_counter()
    for d in range(DAYS):
        day = START + timedelta(days=d)
        lo = day_start_us(day)
        per = {t: rows[t] // DAYS for t in _FACTS}

        def ids(n: int, hi: int) -> np.ndarray:
            return rng.integers(1, hi, n, dtype=np.int64)

        def ts(n: int, lo: int = lo) -> np.ndarray:
            return lo + rng.integers(0, 86_400_000_000, n, dtype=np.int64)

        n = per["requests"]
        write_table("requests", {
            "request_id": ids(n, 1 << 40), "user_id": ids(n, users), "ts": ts(n),
            "surface": codes_to_strings(("search", "feed"), rng.integers(0, 2, n)),
            "query": codes_to_strings(("q",), rng.integers(-1, 1, n)),
            "country": codes_to_strings(("ID", "TH"), rng.integers(0, 2, n)),
            "platform": codes_to_strings(("ios", "web"), rng.integers(0, 2, n)),
        }, out / "requests" / f"{day}.parquet")
        n = per["impressions"]
        write_table("impressions", {
            "request_id": ids(n, 1 << 40), "user_id": ids(n, users), "item_id": ids(n, 1 << 20),
            "position": rng.integers(0, 12, n, dtype=np.int32), "ts": ts(n),
        }, out / "impressions" / f"{day}.parquet")
        n = per["clicks"]
        write_table("clicks", {
            "request_id": ids(n, 1 << 40), "user_id": ids(n, users), "item_id": ids(n, 1 << 20),
            "ts": ts(n),
        }, out / "clicks" / f"{day}.parquet")
        n = per["orders"]
        write_table("orders", {
            "order_id": ids(n, 1 << 40), "request_id": ids(n, 1 << 40), "user_id": ids(n, users),
            "item_id": ids(n, 1 << 20), "ts": ts(n), "quantity": np.ones(n, np.int32),
            "gmv": rng.random(n) * 100, "refunded": rng.random(n) < 0.05,
        }, out / "orders" / f"{day}.parquet")
    return {"seconds": time.perf_counter() - t0}


def _validate() -> dict[str, float]:
    from shoplab.events import load_events

    report = load_events()
    return {"seconds": report.seconds, "rows": report.rows_in, "quarantined": report.quarantined}


def _scan(root: Path) -> dict[str, float]:
    import duckdb

    from shoplab.core.contract import TABLES

    con = duckdb.connect()
    t0 = time.perf_counter()
    rows = 0
    for table in ("users", "shops", "items", *_FACTS):
        cols = ", ".join(f"count({c})" for c in TABLES[table].column_names)
        rows += con.execute(
            f"SELECT count(*), {cols} FROM read_parquet('{root}/events/{table}/*.parquet')"
        ).fetchone()[0]  # type: ignore[index]
    return {"seconds": time.perf_counter() - t0, "rows": rows}


def _cpu_s() -> float:
    """User + system CPU seconds of this process (threads included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(case: str, users: int, root: Path) -> None:
    os.environ["SHOPLAB_DATA"] = str(root)
    cases: dict[str, Callable[[], dict[str, float]]] = {
        "simulate": lambda: _simulate(users),
        "floor": lambda: _floor(users, root),
        "validate": _validate,
        "scan": lambda: _scan(root),
    }
    if case not in cases:
        raise SystemExit(f"case == {case!r}, must be one of {sorted(cases)}.")
    cpu0 = _cpu_s()
    out = cases[case]()
    # CPU seconds next to wall seconds: on a shared 2-core box the wall time mostly measures
    # the neighbours; CPU time is what the case costs.
    child_report(**out, cpu_s=_cpu_s() - cpu0)


def _case(case: str, users: int, root: Path, repeats: int) -> tuple[float, float, dict[str, float]]:
    runs = [run_in_subprocess("shoplab.benchmarks.simulator", case, str(users), str(root))
            for _ in range(repeats)]
    return (median(r["seconds"] for r in runs), max(r["peak_mib"] for r in runs), runs[-1])


def run(quick: bool) -> list[Result]:
    """Simulate and validate at 100k users (quick) or 1M and 10M users (full)."""
    sizes = [100_000] if quick else [1_000_000, 10_000_000]
    repeats = 3 if quick else 1
    results: list[Result] = []
    for users in sizes:
        with tempfile.TemporaryDirectory(prefix=f"bench-sim-{users}-") as tmp:
            root = Path(tmp)
            sim_s, sim_mib, sim = _case("simulate", users, root, repeats)
            floor_s, floor_mib, _ = _case("floor", users, root, repeats)
            scan_s, scan_mib, _ = _case("scan", users, root, repeats)
            val_s, val_mib, val = _case("validate", users, root, 1)  # later runs are no-ops
            label = f"{users // 1000:,}k" if users < 1_000_000 else f"{users // 1_000_000}M"
            results += [
                Result("simulator", f"floor {label} users", floor_s, floor_mib,
                       note="uniform columns, same rows, same writer"),
                Result("simulator", f"simulate {label} users", sim_s, sim_mib,
                       baseline=f"floor {label} users", ratio=sim_s / floor_s,
                       note=f"{sim['events'] / sim_s / 1e6:.2f}M events/s; "
                            f"{sim['cpu_s']:.0f} CPU s; "
                            f"{sim['impressions']:,.0f} impressions, {sim['clicks']:,.0f} "
                            f"clicks, {sim['orders']:,.0f} orders"),
                Result("simulator", f"scan {label} users", scan_s, scan_mib,
                       note="DuckDB count(*) of every column"),
                Result("simulator", f"validate {label} users", val_s, val_mib,
                       baseline=f"scan {label} users", ratio=val_s / scan_s,
                       note=f"{val['rows'] / val_s / 1e6:.2f}M rows/s; "
                            f"{val['cpu_s']:.0f} CPU s; "
                            f"{val['quarantined']:,.0f} quarantined"),
            ]
    return results


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
