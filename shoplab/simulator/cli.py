"""CLI commands of this area: ``shoplab simulate`` and ``shoplab events validate``.

Registered on the ``shoplab`` app by ``shoplab.cli``. Heavy imports (NumPy, DuckDB) happen inside
the commands so that ``shoplab --help`` stays fast.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shoplab.core.contract import TABLES
from shoplab.core.errors import InputError
from shoplab.core.timeparse import parse_day

if TYPE_CHECKING:
    from shoplab.simulator.experiment_policy import ExperimentPolicy
    from shoplab.simulator.run import SimulationReport

__all__ = ["exposure_note", "register"]

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
_Experiments = Annotated[
    bool,
    typer.Option(
        "--experiments/--no-experiments",
        help="Serve users by the experiment configs ($SHOPLAB_EXPERIMENTS) and log their "
        "exposures, as `shoplab demo` does.",
    ),
]


def _running_windows(policy: ExperimentPolicy) -> list[tuple[str, datetime, datetime]]:
    """(key, start, end) of every running experiment of the policy's layout, by start."""
    exps = policy.layout.experiments.values()
    return sorted(
        ((e.key, e.start, e.end) for e in exps if e.status == "running"), key=lambda w: w[1]
    )


def exposure_note(
    report: SimulationReport, policy: ExperimentPolicy | None
) -> str | None:
    """Why a simulated log has no exposures, and how to get them; ``None`` when it has some.

    Without exposures ``shoplab analyze`` has no units to compare: the log is still a valid
    feature-store input, but say so instead of letting an empty scorecard look like a result.

    Example:
        >>> from datetime import date
        >>> from shoplab.simulator.run import SimulationReport
        >>> empty = SimulationReport(users=9, shops=1, items=9, requests=0, impressions=0,
        ...     clicks=0, orders=0, exposures=0, start=date(2026, 1, 1), end=date(2026, 1, 1),
        ...     days=1, seconds=0.1)
        >>> exposure_note(empty, None).split(":")[0]
        'no exposures logged (--no-experiments)'
    """
    if report.exposures:
        return None
    if policy is None:
        return (
            "no exposures logged (--no-experiments): `shoplab analyze` has no units to compare; "
            "drop --no-experiments to assign users by the experiment configs."
        )
    windows = _running_windows(policy)
    if not windows:
        return (
            "no exposures logged: no experiment config has status running "
            "(see `shoplab experiments list`)."
        )
    first = min(w[1] for w in windows).date()
    last = max(w[2] for w in windows).date()
    return (
        f"no exposures logged: no running experiment overlaps {report.start}..{report.end} "
        f"(they run {first}..{last}); simulate their window, e.g. "
        f"--start {first - timedelta(days=7)} --days {(last - first).days + 7}."
    )


def simulate_command(
    users: _Users = 50_000,
    items: _Items = 5_000,
    days: _Days = 21,
    seed: _Seed = 0,
    start: _Start = "2026-01-01",
    shops: _Shops = None,
    quiet: _Quiet = False,
    experiments: _Experiments = True,
) -> None:
    """Simulate a marketplace and write its event log under $SHOPLAB_DATA/events.

    With the experiment configs (the default), every active user is assigned each day and the
    exposures of the experiments running in the window go to events/exposures, so that
    `shoplab analyze` has units to compare; a window no experiment runs in says so.
    """
    from rich.console import Console
    from rich.table import Table

    from shoplab.core.paths import events_dir
    from shoplab.simulator.experiment_policy import ExperimentPolicy
    from shoplab.simulator.run import simulate

    try:
        start_day = parse_day(start, "--start")
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from None
    # configs are read before anything is written: a broken config leaves the old log in place
    policy = ExperimentPolicy() if experiments else None
    report = simulate(
        users=users, items=items, days=days, seed=seed, start=start_day, shops=shops,
        policy=policy, progress=not quiet,
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
    note = exposure_note(report, policy)
    if note is not None:
        Console(stderr=True).print(f"[yellow]warning:[/] {note}", highlight=False)


@events_app.command("validate")
def validate_command(
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Only these tables (repeatable).")
    ] = None,
) -> None:
    """Validate the event log: rows that break the contract move to $SHOPLAB_DATA/quarantine."""
    from rich.console import Console

    from shoplab.core.paths import events_dir
    from shoplab.events import EventLogError, load_events

    console = Console()
    known = [t for t in (table or TABLES) if t in TABLES]  # unknown names: load_events says so
    if known and not any(_has_files(events_dir(t)) for t in known):
        # checked before load_events, which would write an all-zero quarantine report: an empty
        # log usually means $SHOPLAB_DATA points at the wrong place, not that all is clear
        where = ", ".join(str(events_dir(t)) for t in known) if table else str(events_dir())
        Console(stderr=True).print(
            f"[red]error:[/] no event files under {where}: run `shoplab simulate`, "
            "write the event tables there, or point $SHOPLAB_DATA at the data root.",
            highlight=False,
        )
        raise typer.Exit(1)
    try:
        report = load_events(table or None, progress=True)
    except EventLogError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(report.to_rich())


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.iterdir())


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and the ``events`` group to the ``shoplab`` app."""
    app.command("simulate")(simulate_command)
    app.add_typer(events_app, name="events")
