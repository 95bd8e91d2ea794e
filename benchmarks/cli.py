"""``shoplab bench``: every area's benchmarks in one run, one table.

Each benchmark module exposes ``run(quick: bool) -> list[Result]``; this command runs the ones
asked for, prints medians, peak memory and the ratio to each case's named baseline, and writes the
rows as JSON under ``$SHOPLAB_DATA/benchmarks/`` (``latest.json`` too: ``shoplab readme`` renders
the README's table from it) so figures are quoted from a real run.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer

AREAS = (
    "simulator",
    "experiments",
    "interleaving",
    "sensitivity",
    "features",
    "online_stores",
    "spark",
    "stream",
    "models",
    "analysis",
    "dashboard",
)


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

        from shoplab.benchmarks.report import rich_table, save_rows
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
        console.print(rich_table(rows))
        out = save_rows(rows, data_root() / "benchmarks", full=full)
        console.print(f"rows written to {out}")
