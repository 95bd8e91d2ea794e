"""CLI commands of the feature store (registered on the ``shoplab`` app by ``shoplab.cli``)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import typer


def register(app: typer.Typer) -> None:
    """Add ``shoplab features build|apply|materialize``."""
    features = typer.Typer(
        help="Feature store: build feature tables, apply the Feast repo, "
        "materialize to the online store.",
        no_args_is_help=True,
    )

    @features.command("build")
    def build(
        start: str = typer.Option(None, help="First day (YYYY-MM-DD); default: first event day."),
        end: str = typer.Option(None, help="Last day (YYYY-MM-DD); default: last event day."),
    ) -> None:
        """Compute every feature table from the event log (one Parquet partition per day)."""
        from rich.console import Console
        from rich.progress import Progress

        from shoplab.feature_repo.pipelines import VIEWS, event_days
        from shoplab.features.repo import build_features

        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
        days = event_days()
        lo, hi = first or (days[0] if days else None), last or (days[-1] if days else None)
        total = len(VIEWS) * (((hi - lo).days + 1) if lo and hi else 0)
        with Progress() as progress:
            task = progress.add_task("feature tables", total=total)
            report = build_features(first, last, on_step=lambda v, d: progress.advance(task))
        Console().print({k: f"{v:,} rows" for k, v in report.rows.items()})  # type: ignore[attr-defined]

    @features.command("apply")
    def apply() -> None:
        """Register the feature_repo definitions (same as `feast -c feature_repo apply`)."""
        from shoplab.features.repo import apply_repo

        apply_repo()

    @features.command("materialize")
    def materialize(
        end: str = typer.Option(None, help="ISO datetime (UTC); default: now."),
    ) -> None:
        """Load the newest rows up to END into the online store (first run: from END - ttl)."""
        from shoplab.features.repo import materialize as run

        when = datetime.fromisoformat(end) if end else datetime.now(UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        for view, (lo, hi) in run(when).items():
            typer.echo(f"{view}: {lo.isoformat()} .. {hi.isoformat()}")

    app.add_typer(features, name="features")
