"""Whole-pipeline commands (registered on the ``shoplab`` app by ``shoplab.cli``).

``shoplab demo``: the pipeline end to end on the embedded default (``shoplab.demo.run_demo``).
``shoplab audit``: the calibration audit (``shoplab.audit.run_audit``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer

AuditFormat = Literal["table", "json", "markdown"]


def register(app: typer.Typer) -> None:
    """Add ``demo`` and ``audit`` to the ``shoplab`` app."""

    @app.command("demo")
    def demo_cmd(
        users: Annotated[int, typer.Option("--users", help="Simulated users.")] = 50_000,
        items: Annotated[int, typer.Option("--items", help="Catalog size at the start.")] = 20_000,
        seed: Annotated[int, typer.Option("--seed", help="Simulation seed.")] = 7,
    ) -> None:
        """Run the whole pipeline on the embedded default and print every scorecard.

        Simulate (7 pre-period days + 14 experiment days, every request's user assigned in every
        layer), validate the event log, build features, feast apply + materialize, analyze each
        experiment, show a training-set sample and an online ranking-features call. Safe to
        re-run: the same seed gives the same results and nothing is duplicated.
        """
        from rich.console import Console

        from shoplab.demo import DemoSettings, DemoStepError, run_demo

        try:
            run_demo(DemoSettings(users=users, items=items, seed=seed))
        except DemoStepError as exc:
            Console(stderr=True).print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(1) from None

    @app.command("audit")
    def audit_cmd(
        replications: Annotated[
            int, typer.Option("--replications", help="A/A re-hashes (fresh salts).")
        ] = 1_000,
        users: Annotated[int, typer.Option("--users", help="Simulated users.")] = 200_000,
        seed: Annotated[int, typer.Option("--seed", help="Simulation and re-hash seed.")] = 2026,
        fmt: Annotated[str, typer.Option("--format", help="table | json | markdown")] = "table",
    ) -> None:
        """Calibration audit: A/A false positives, coverage, power, peeking, CUPED, SRM.

        A/A false-positive rates, CI coverage and power, daily peeking (always-valid vs naive),
        CUPED variance reduction, SRM on a broken log.

        Simulates its own world under $SHOPLAB_DATA/audit/world (the demo's event log is not
        touched) and saves the table as $SHOPLAB_DATA/audit/latest.md (and .json). Exits 1 when
        a gated check fails.
        """
        import time

        from pydantic import ValidationError
        from rich.console import Console

        from shoplab.audit import (
            AuditSettings,
            audit_dir,
            render_json,
            render_markdown,
            render_rich,
            run_audit,
            save_report,
        )

        if fmt not in ("table", "json", "markdown"):
            raise typer.BadParameter(f"--format == {fmt!r}, must be table, json or markdown.")
        try:
            settings = AuditSettings(users=users, replications=replications, seed=seed)
        except ValidationError as exc:
            errors = "; ".join(
                f"--{'.'.join(map(str, e['loc']))} == {e['input']!r}, {e['msg']}"
                for e in exc.errors()
            )
            Console(stderr=True).print(f"[red]error:[/] {errors}")
            raise typer.Exit(2) from None
        # progress goes to stderr so that --format json|markdown stays machine-readable
        console = Console(stderr=True)
        t0 = time.perf_counter()
        with console.status("calibration audit…") as status:

            def step(what: str) -> None:
                console.print(f"[dim]{time.perf_counter() - t0:6.1f} s[/] {what}")
                status.update(f"audit: {what}…")

            report = run_audit(settings, on_step=step)
        path = save_report(report, audit_dir())
        if fmt == "json":
            typer.echo(render_json(report))
        elif fmt == "markdown":
            typer.echo(render_markdown(report), nl=False)
        else:
            Console().print(render_rich(report))
        console.print(f"[dim]saved {path}[/]")
        if not report.passed:
            console.print("[bold red]calibration audit: a gated check failed (see FAIL rows).[/]")
            raise typer.Exit(1)
