"""Experiment-layer benchmarks: per-request ``assign`` and vectorized ``assign_frame``.

Cases (4 layers x 3 running experiments each, 2 variants, 5 % global holdout):

- ``assign`` p50 per request over distinct units (cold: every hash computed) and over 5,000 units
  requested 10 times each (warm: the plan's unit cache), next to the GrowthBook Python SDK
  evaluating the same 12 experiments (layer ranges and holdout as GrowthBook hash-range
  ``filters``, same seeds) with ``GrowthBook.run``: one request = 12 ``run`` calls, because
  GrowthBook has no layers. Before timing, both are checked to give the same variant to every
  sampled unit.
- ``assign_frame`` over 10M units (quick: 1M) x 4 layers, in a child process each (peak RSS),
  with default threads and with 1 thread, next to a per-unit Python loop of ``assign``. The loop is
  timed on 20,000 units and extrapolated linearly to the frame size (it would take minutes at 10M).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from shoplab.benchmarks.harness import Result, child_report, run_in_subprocess, time_median
from shoplab.core.errors import StateError

__all__ = ["run"]

AT = datetime(2026, 1, 10, tzinfo=UTC)
LAYERS = ("recall", "prerank", "rank", "mix")
HOLDOUT_SALT = "bench_holdout"


def _layout() -> Any:
    from shoplab.experiments.layout import Layout
    from shoplab.experiments.models import Experiment, LayerSet

    layers = LayerSet.model_validate(
        {
            "holdout": {"key": "global_holdout", "share": 0.05, "salt": HOLDOUT_SALT},
            "layers": [{"name": n, "salt": f"bench_{n}"} for n in LAYERS],
        }
    )
    exps = {}
    for layer in LAYERS:
        for i in range(3):
            key = f"{layer}_exp{i}"
            exps[key] = Experiment.model_validate(
                {
                    "key": key, "layer": layer, "buckets": [i * 3000, (i + 1) * 3000],
                    "variants": [
                        {"key": "control", "weight": 0.5, "params": {"w": 1.0}},
                        {"key": "treatment", "weight": 0.5, "params": {"w": 1.2}},
                    ],
                    "status": "running", "start": "2026-01-08T00:00:00Z",
                    "end": "2026-01-22T00:00:00Z", "salt": f"{key}_salt",
                    "metrics": {"primary": "ctr"}, "owner": "bench",
                },
                strict=False,
            )
    return Layout.build(layers, exps)


def _growthbook(layout: Any) -> tuple[Any, list[Any]]:
    from growthbook import GrowthBook
    from growthbook.common_types import Experiment as GbExperiment

    share = layout.holdout.share
    gb_exps = []
    for cl in layout.layers:
        for ce in cl.experiments:
            p = ce.placement
            gb_exps.append(
                GbExperiment(
                    key=ce.key, variations=list(ce.variant_keys), weights=ce.experiment.weights,
                    seed=ce.experiment.seed, hashVersion=ce.experiment.hash_version,
                    filters=[
                        {"seed": HOLDOUT_SALT, "ranges": [(share, 1.0)], "hashVersion": 2},
                        {"seed": cl.layer.seed, "ranges": [(p.start / 1e4, p.end / 1e4)],
                         "hashVersion": 2},
                    ],
                )
            )
    return GrowthBook(attributes={"id": "0"}), gb_exps


def _gb_request(gb: Any, gb_exps: list[Any], unit: int) -> dict[str, str]:
    gb.set_attributes({"id": str(unit)})
    out = {}
    for e in gb_exps:
        r = gb.run(e)
        if r.inExperiment:
            out[e.key] = r.value
    return out


def _p50_per_call(fn: Any, units: list[int]) -> tuple[float, float]:
    """Return (p50 wall seconds per call, mean CPU seconds per call).

    The CPU figure does not count time the process waited for a core, so it stays readable when
    the shared machine is busy.
    """
    times = []
    clock = time.perf_counter_ns
    cpu0 = time.process_time()
    for u in units:
        t0 = clock()
        fn(u)
        times.append(clock() - t0)
    cpu = (time.process_time() - cpu0) / len(units)
    return statistics.median(times) / 1e9, cpu


def _assign_cases(quick: bool) -> list[Result]:
    from shoplab.experiments import assign

    layout = _layout()
    gb, gb_exps = _growthbook(layout)
    n = 20_000 if quick else 200_000
    cold = list(range(10**8, 10**8 + n))  # 9-digit ids, never seen
    # same answers first: a speed comparison of different results would mean nothing
    for u in cold[:3_000]:
        ours = {la.experiment: la.variant for la in assign(u, experiments=layout, at=AT).layers
                if la.experiment}
        theirs = _gb_request(gb, gb_exps, u)
        if ours != theirs:
            raise StateError(f"unit {u}: shoplab {ours} != GrowthBook {theirs}, must be equal")
    from shoplab.experiments.request_plan import plan_at

    plan_at(layout, AT.timestamp()).units.clear()  # cold means cold: forget the checked units

    def ours_fn(u: int) -> object:
        return assign(u, experiments=layout, at=AT)

    def gb_fn(u: int) -> object:
        return _gb_request(gb, gb_exps, u)

    gb_units = cold[: max(n // 10, 2_000)]  # GrowthBook is slower: fewer units, same distribution
    gb_p50, gb_cpu = _p50_per_call(gb_fn, gb_units)
    cold_p50, cold_cpu = _p50_per_call(ours_fn, cold)
    warm_units = list(range(10**9, 10**9 + 5_000)) * 10
    _p50_per_call(ours_fn, warm_units[:5_000])  # fill the cache
    warm_p50, warm_cpu = _p50_per_call(ours_fn, warm_units)
    base = "growthbook GrowthBook.run x 12 experiments"
    return [
        Result("experiments", "growthbook run, 4 layers x 3 experiments (p50/request)", gb_p50,
               note=f"growthbook {_gb_version()}; {len(gb_units):,} distinct units; "
               f"mean CPU {gb_cpu * 1e6:.1f} us/request"),
        Result("experiments", "assign p50, 4 layers x 3 experiments, cold units", cold_p50,
               baseline=base, ratio=cold_p50 / gb_p50,
               note=f"{len(cold):,} distinct 9-digit units; goal <= 10 us; mean CPU "
               f"{cold_cpu * 1e6:.1f} us/request; same variants as GrowthBook on 3,000 units; "
               f"{_load()}"),
        Result("experiments", "assign p50, 4 layers x 3 experiments, warm units", warm_p50,
               baseline=base, ratio=warm_p50 / gb_p50,
               note=f"5,000 units x 10 requests each (the plan's unit cache); mean CPU "
               f"{warm_cpu * 1e6:.1f} us/request"),
    ]


def _load() -> str:
    # the machine is shared: say how busy it was, so a slow figure can be read as contention
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def _gb_version() -> str:
    from importlib.metadata import version

    return version("growthbook")


def _loop_per_unit(layout: Any) -> float:
    from shoplab.experiments import assign

    units = list(range(10**8, 10**8 + 20_000))
    t0 = time.perf_counter()
    for u in units:
        assign(u, experiments=layout, at=AT)
    return (time.perf_counter() - t0) / len(units)


def _child_frame(n: int, threads: int, repeats: int, kind: str = "int") -> None:
    import numpy as np
    import polars as pl

    from shoplab.experiments import assign_frame

    layout = _layout()
    ids = np.arange(10**8, 10**8 + n, dtype=np.int64)
    if kind == "int":
        df = pl.DataFrame({"user_id": ids})
    else:  # logged-out traffic: 17-character device ids ("dev-" + 13 hex digits)
        df = pl.DataFrame({"user_id": ids}).select(
            ("dev-" + pl.col("user_id").map_batches(
                lambda s: pl.Series([f"{x:013x}" for x in s.to_list()]), return_dtype=pl.String
            )).alias("user_id")
        )
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    median = time_median(
        lambda: assign_frame(df, experiments=layout, at=AT, threads=threads),
        repeats=repeats, warmup=1,
    )
    # CPU seconds per wall second: ~threads on an idle machine, less when others compete
    cpu_share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    child_report(median_s=median, cpu_share=cpu_share)


def _frame_cases(quick: bool) -> list[Result]:
    n = 1_000_000 if quick else 10_000_000
    repeats = 3
    per_unit = _loop_per_unit(_layout())
    loop_s = per_unit * n
    out = [
        Result("experiments", f"per-unit assign loop, {n:,} units x 4 layers (extrapolated)",
               loop_s, note=f"timed on 20,000 units ({per_unit * 1e6:.1f} us/unit), x {n:,}")
    ]
    cores = os.cpu_count() or 1
    for kind, threads in (("int", cores), ("int", 1), ("string", cores)):
        rep = run_in_subprocess("shoplab.benchmarks.experiments", "frame", str(n), str(threads),
                                str(repeats), kind)
        rate = n * len(LAYERS) / rep["median_s"]
        ids = "units" if kind == "int" else "string device ids (17 chars)"
        goal = "10M/s" if kind == "int" else "5M/s"
        out.append(
            Result("experiments", f"assign_frame {n:,} {ids} x 4 layers, {threads} thread(s)",
                   rep["median_s"], peak_mib=rep["peak_mib"],
                   baseline="per-unit assign loop (extrapolated)", ratio=rep["median_s"] / loop_s,
                   note=f"{rate / 1e6:.1f}M unit-layer assignments/s (goal >= {goal}); "
                   f"{rep['cpu_share']:.2f} CPU s per wall s, i.e. "
                   f"{rate / rep['cpu_share'] / 1e6:.1f}M per CPU second; {_load()}")
        )
    return out


def run(quick: bool) -> list[Result]:
    """All experiment-layer cases (quick: 20k request units and a 1M-unit frame)."""
    return _assign_cases(quick) + _frame_cases(quick)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "frame":
        _child_frame(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:6])
    else:
        for r in run(quick="--full" not in sys.argv):
            print(r.as_dict())
