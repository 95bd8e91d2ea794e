"""One rendering of a benchmark run: the terminal table, the Markdown table, the saved JSON.

``shoplab bench`` prints :func:`rich_table`, writes the rows to
``$SHOPLAB_DATA/benchmarks/bench-<time>.json`` and ``latest.json`` (:func:`save_rows`), and
``shoplab readme`` puts :func:`markdown_table` of ``latest.json`` into the README: the numbers a
reader sees are those of a real run, never retyped.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shoplab.benchmarks.harness import Result

__all__ = ["HEADER", "cells", "load_rows", "markdown_table", "rich_table", "save_rows"]

HEADER = ("benchmark", "case", "median", "peak MiB", "baseline", "ratio", "note")


def _median(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 1 else f"{seconds:.2f} s"


def cells(r: Result) -> tuple[str, ...]:
    """One row as text, in :data:`HEADER` order."""
    return (
        r.benchmark,
        r.case,
        _median(r.median_s),
        "" if r.peak_mib is None else f"{r.peak_mib:,.0f}",
        r.baseline or "",
        "" if r.ratio is None else f"{r.ratio:.2f}×",
        r.note,
    )


def rich_table(rows: Sequence[Result]) -> Any:
    """The terminal table of a run."""
    from rich.table import Table

    table = Table(title="shoplab benchmarks (medians; ratio = case / baseline)")
    for col in HEADER:
        table.add_column(col, justify="right" if col in ("median", "peak MiB", "ratio") else "left")
    for r in rows:
        table.add_row(*cells(r))
    return table


def save_rows(rows: Sequence[Result], folder: Path, *, full: bool) -> Path:
    """Write the run as ``bench-<time>.json`` and ``latest.json`` in ``folder``; return the first.

    The file holds the rows and the run's context (sizes, when, where, load average): a ratio
    means little without the machine and its load.
    """
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sizes": "full" if full else "quick",
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "load_average": list(os.getloadavg()),
        "rows": [r.as_dict() for r in rows],
    }
    text = json.dumps(doc, indent=2) + "\n"
    out = folder / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    for path in (out, folder / "latest.json"):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return out


def load_rows(path: Path) -> tuple[dict[str, Any], list[Result]]:
    """A saved run: its context and rows (a bare list, as older runs wrote, has no context)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(doc, list):
        doc = {"rows": doc}
    return doc, [Result(**r) for r in doc["rows"]]


def markdown_table(path: Path) -> str:
    """The README's benchmark block from a saved run (``latest.json``)."""
    doc, rows = load_rows(path)
    load = doc.get("load_average")
    context = ", ".join(
        x for x in (
            f"{doc.get('sizes', '?')} sizes",
            doc.get("machine", ""),
            f"load {load[0]:.1f}" if load else "",
            f"generated {doc['generated_at']}" if "generated_at" in doc else "",
        ) if x
    )
    lines = [f"`make bench` run ({context}):", ""]
    lines.append("| " + " | ".join(HEADER) + " |")
    lines.append("|" + "---|" * len(HEADER))
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells(r)) + " |")
    return "\n".join(lines) + "\n"
