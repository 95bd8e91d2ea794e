"""CLI commands of this area: ``shoplab simulate`` and ``shoplab events validate``.

Registered on the ``shoplab`` app by ``shoplab.cli``. Heavy imports (NumPy, DuckDB) happen inside
the commands so that ``shoplab --help`` stays fast.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

__all__ = ["register"]

events_app = typer.Typer(
    name="events",
    help="The event log: validate it (quarantine rows that break the contract).",
    no_args_is_help=True,
)


_Users = Annotated[
    int, typer.Option(min=1, help="Users in the world (≈ 25 % sign up during the window).")
]
_Items = Annotated[
    int, typer.Option(min=1, help="Items in the catalog at the start (≈ 1.5 % new per day).")
]
_Days = Annotated[int, typer.Option(min=1, help="Days to simulate.")]
_Seed = Annotated[
    int, typer.Option(min=0, help="Random seed: the same seed writes the same files.")
]
_Start = Annotated[str, typer.Option(help="First day (ISO date, UTC).")]
_Shops = Annotated[
    int | None, typer.Option(min=1, help="Shops at the start (default items / 40).")
]
_Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def simulate_command(
    users: _Users = 50_000,
    items: _Items = 5_000,
    days: _Days = 21,
    seed: _Seed = 0,
    start: _Start = "2026-01-01",
    shops: _Shops = None,
    quiet: _Quiet = False,
) -> None:
    """Simulate a marketplace and write its event log under $SHOPLAB_DATA/events."""
    from rich.console import Console
    from rich.table import Table

    from shoplab.core.paths import events_dir
    from shoplab.simulator.run import simulate

    try:
        start_day = date.fromisoformat(start)
    except ValueError:
        raise typer.BadParameter(
            f"start == {start!r}, must be an ISO date like 2026-01-01."
        ) from None
    report = simulate(
        users=users, items=items, days=days, seed=seed, start=start_day, shops=shops,
        progress=not quiet,
    )
    table = Table(title=f"event log {report.start}..{report.end}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in report.rows.items():
        table.add_row(name, f"{rows:,}")
    console = Console()
    console.print(table)
    console.print(f"written to {events_dir()}")
    ctr = report.clicks / report.impressions if report.impressions else float("nan")
    cvr = report.orders / report.clicks if report.clicks else float("nan")
    console.print(
        f"CTR {ctr:.2%}  orders/clicks {cvr:.2%}  "
        f"{report.impressions / report.seconds:,.0f} impressions/s  ({report.seconds:.1f} s)"
    )


@events_app.command("validate")
def validate_command(
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Only these tables (repeatable).")
    ] = None,
) -> None:
    """Validate the event log: rows that break the contract move to $SHOPLAB_DATA/quarantine."""
    from rich.console import Console

    from shoplab.events import EventLogError, load_events

    console = Console()
    try:
        report = load_events(table or None, progress=True)
    except EventLogError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(report.to_rich())


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and the ``events`` group to the ``shoplab`` app."""
    app.command("simulate")(simulate_command)
    app.add_typer(events_app, name="events")
