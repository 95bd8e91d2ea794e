"""CLI commands of the feature store (registered on the ``shoplab`` app by ``shoplab.cli``)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import typer

from shoplab.core.errors import InputError
from shoplab.core.timeparse import parse_day, parse_instant


def _day(value: str | None, option: str) -> date | None:
    try:
        return parse_day(value, option) if value else None
    except InputError as exc:  # the message names the option and the value
        raise typer.BadParameter(str(exc)) from None


def _instant(value: str | None, option: str) -> datetime:
    try:
        # a bare date is its first instant: materialize through the day before it
        return parse_instant(value, option) if value else datetime.now(UTC)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from None


def register(app: typer.Typer) -> None:
    """Add ``shoplab features build|apply|materialize|stream``."""
    features = typer.Typer(
        help="Feature store: build feature tables, apply the Feast repo, "
        "materialize to the online store.",
        no_args_is_help=True,
    )

    @features.command("build")
    def build(
        start: str | None = typer.Option(
            None, help="First day (YYYY-MM-DD); default: first event day."
        ),
        end: str | None = typer.Option(None, help="Last day (YYYY-MM-DD); default: last event day"),
        engine: str | None = typer.Option(
            None, help="duckdb or spark (default: the offline store's, SHOPLAB_OFFLINE_STORE)."
        ),
    ) -> None:
        """Compute every feature table from the event log (one Parquet partition per day)."""
        from rich.console import Console
        from rich.progress import Progress

        from shoplab.feature_repo.pipelines import VIEWS, event_days
        from shoplab.features.repo import build_features

        first, last = _day(start, "--start"), _day(end, "--end")
        days = event_days()
        lo, hi = first or (days[0] if days else None), last or (days[-1] if days else None)
        total = len(VIEWS) * (((hi - lo).days + 1) if lo and hi else 0)
        with Progress() as progress:
            task = progress.add_task("feature tables", total=total)
            report = build_features(
                first, last, on_step=lambda v, d: progress.advance(task), engine=engine
            )
        Console().print({k: f"{v:,} rows" for k, v in report.rows.items()})
        for note in report.notes:  # a full rebuild it decided, an unvalidated log
            Console(stderr=True).print(f"[bold yellow]note:[/] {note}")
        typer.echo(f"read event log {report.event_log.get('version', '?')}")
        if report.removed:  # a shorter log than the last build's: its extra days are gone
            typer.echo(
                f"removed {len(report.removed)} partitions outside the event log's days "
                f"({report.removed[0]} ... {report.removed[-1]})"
            )

    @features.command("apply")
    def apply() -> None:
        """Register the feature_repo definitions (same as `feast -c feature_repo apply`)."""
        from shoplab.features.repo import apply_repo

        apply_repo()

    @features.command("materialize")
    def materialize(
        end: str | None = typer.Option(
            None, help="ISO datetime with its zone (2026-01-22T00:00:00Z); default: now."
        ),
    ) -> None:
        """Load the newest rows up to END into the online store (first run: from END - ttl)."""
        from shoplab.features import materialized
        from shoplab.features.repo import materialize as run

        when = _instant(end, "--end")
        loaded = run(when)
        state = materialized.load()
        for view, (lo, hi) in loaded.items():
            got = state.views.get(view)
            log = f" (event log {got.event_log})" if got is not None and got.event_log else ""
            typer.echo(f"{view}: {lo.isoformat()} .. {hi.isoformat()}{log}")

    @features.command("stream")
    def stream(
        bootstrap: str = typer.Option(..., help="The Kafka-protocol broker, host:port."),
        topic: str = typer.Option("shoplab.events", help="The event topic (Arrow IPC batches)."),
        group: str = typer.Option("shoplab-short-term", help="Names the checkpoint."),
        poll: float = typer.Option(0.2, help="Seconds a poll waits for new messages."),
        until_idle: bool = typer.Option(
            False, "--until-idle", help="Stop once the topic is drained (catch up, then exit)."
        ),
    ) -> None:
        """Keep user_short_term fresh: consume the event topic, push rows to the online store."""
        from shoplab.features.stream import ShortTermProcessor

        with ShortTermProcessor(bootstrap=bootstrap, topic=topic, group=group) as proc:
            typer.echo(f"consuming {topic} at {bootstrap}; checkpoint {proc.checkpoint}")
            while True:
                report = proc.poll(poll)
                if report.messages:
                    typer.echo(
                        f"{report.events:,} events, watermark {report.watermark}: pushed "
                        f"{report.fresh_rows:,} fresh + {report.boundary_rows:,} hourly rows"
                    )
                elif until_idle:
                    return

    app.add_typer(features, name="features")
