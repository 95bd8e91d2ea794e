"""One way to time things, shared by every benchmark.

Machines are shared and noisy, so a case is run ``repeats`` times and the median is reported, and
every case is reported next to a named baseline as a ratio measured in the same run. Peak memory is
the peak RSS of a fresh subprocess that runs only that case (``ru_maxrss`` of the child), so cases
do not inherit each other's high-water marks.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from shoplab.core.errors import StateError

__all__ = ["Result", "child_report", "run_in_subprocess", "time_median"]


@dataclass(frozen=True)
class Result:
    """One benchmark row: what ran, its median time, peak memory, and ratio to its baseline."""

    benchmark: str
    case: str
    median_s: float
    peak_mib: float | None = None
    baseline: str | None = None
    ratio: float | None = None  # median_s / baseline's median_s (lower is better)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


def time_median(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_in_subprocess(target: str, *args: str, timeout: float = 3600) -> dict[str, Any]:
    """Run ``python -m <target> <args>`` in a child; return its JSON + peak RSS.

    The child must print one JSON object on its last stdout line, built with :func:`child_report`
    so that it carries the child's own peak RSS.
    """
    proc = subprocess.run(
        [sys.executable, "-m", target, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise StateError(f"benchmark {target} {args} failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def child_report(**fields: Any) -> None:
    """Print the last-line JSON a benchmark child returns, with its own peak RSS in MiB.

    ``ru_maxrss`` survives fork+exec on Linux (a child of a 230 MiB parent reports >= 230 MiB), so
    the peak is read from ``VmHWM`` in /proc/self/status: it belongs to the process's memory map,
    which exec replaces, so it counts only what this child touched.
    """
    peak_kib: float | None = None
    try:
        for line in open("/proc/self/status", encoding="ascii"):
            if line.startswith("VmHWM:"):
                peak_kib = float(line.split()[1])
                break
    except OSError:  # not Linux: fall back to ru_maxrss (KiB on Linux, bytes on macOS)
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({**fields, "peak_mib": None if peak_kib is None else peak_kib / 1024}))
