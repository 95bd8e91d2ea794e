"""``shoplab bench``: every area's benchmarks in one run, one table.

Each benchmark module exposes ``run(quick: bool) -> list[Result]``; this command runs the ones
asked for, prints medians, peak memory and the ratio to each case's named baseline, and writes the
rows as JSON under ``$SHOPLAB_DATA/benchmarks/`` so figures can be quoted from the file.
"""

from __future__ import annotations

import importlib
import json
import time
from typing import Annotated, Any

import typer

AREAS = ("simulator", "experiments", "features", "analysis", "dashboard")


def area_module(area: str) -> Any:
    """The benchmark module of one area (``shoplab.benchmarks.<area>``), which has ``run``."""
    return importlib.import_module(f"{__package__}.{area}")


def register(app: typer.Typer) -> None:
    """Add ``shoplab bench``."""

    @app.command("bench")
    def bench(
        only: Annotated[
            list[str] | None, typer.Option("--only", help=f"Areas to run: {', '.join(AREAS)}.")
        ] = None,
        full: Annotated[
            bool, typer.Option("--full", help="Full sizes from the issues (10M users; slow).")
        ] = False,
    ) -> None:
        """Run the benchmarks and print medians, peak memory and ratios to named baselines."""
        from rich.console import Console
        from rich.table import Table

        from shoplab.core.paths import data_root

        console = Console()
        areas = only or list(AREAS)
        unknown = sorted(set(areas) - set(AREAS))
        if unknown:
            raise typer.BadParameter(f"--only == {unknown}, must be among {list(AREAS)}.")
        rows = []
        for area in areas:
            module = area_module(area)
            console.print(f"[bold]{area}[/] ({'full' if full else 'quick'} sizes)…")
            rows.extend(module.run(quick=not full))
        table = Table(title="shoplab benchmarks (medians; ratio = case / baseline)")
        for col in ("benchmark", "case", "median", "peak MiB", "baseline", "ratio", "note"):
            right = col in ("median", "peak MiB", "ratio")
            table.add_column(col, justify="right" if right else "left")
        for r in rows:
            table.add_row(
                r.benchmark,
                r.case,
                f"{r.median_s * 1e3:.3f} ms" if r.median_s < 1 else f"{r.median_s:.2f} s",
                "" if r.peak_mib is None else f"{r.peak_mib:,.0f}",
                r.baseline or "",
                "" if r.ratio is None else f"{r.ratio:.2f}×",
                r.note,
            )
        console.print(table)
        out = data_root() / "benchmarks" / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([r.as_dict() for r in rows], indent=2))
        console.print(f"rows written to {out}")
