"""``shoplab analyze`` and ``shoplab power`` (registered on the ``shoplab`` app by ``shoplab.cli``).

An integration module: ``analyze`` takes an experiment key, which ``shoplab.sdk`` looks up in the
configured experiments (the analysis package itself never imports them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

from shoplab.analysis.limits import DAILY_AUTO_MAX_UNITS


def register(app: typer.Typer) -> None:
    """Add ``shoplab analyze`` and ``shoplab power``."""

    @app.command("analyze")
    def analyze_cmd(
        experiment: Annotated[str, typer.Argument(help="Experiment key (experiments/configs).")],
        fmt: Annotated[str, typer.Option("--format", help="table | json | markdown")] = "table",
        as_of: Annotated[
            str | None, typer.Option("--as-of", help="Analyse data up to the end of DATE (UTC).")
        ] = None,
        segment: Annotated[
            str | None,
            typer.Option("--segment", help="content_type | country | platform | user_type"),
        ] = None,
        no_cuped: Annotated[bool, typer.Option("--no-cuped", help="Turn CUPED off.")] = False,
        daily: Annotated[
            bool | None,
            typer.Option(
                "--daily/--no-daily",
                help=(
                    "Daily cumulative series (default: on up to "
                    f"{DAILY_AUTO_MAX_UNITS:,} units, off above: memory)."
                ),
            ),
        ] = None,
        allow_unvalidated: Annotated[
            bool,
            typer.Option(
                "--allow-unvalidated",
                help=(
                    "Analyse an event log never validated or changed since validation "
                    "(refused by default); the scorecard is marked untrustworthy."
                ),
            ),
        ] = False,
        triggered: Annotated[
            bool,
            typer.Option(
                "--triggered",
                help=(
                    "Also run the triggered analysis (events/triggers): effect on triggered "
                    "units from their first triggered request, diluted effect, variance "
                    "reduction."
                ),
            ),
        ] = False,
    ) -> None:
        """Analyse EXPERIMENT: scorecard with CIs, CUPED, SRM, Holm, always-valid intervals.

        An interleaving experiment (type: interleaving) gets its own scorecard: the users'
        preference between rankers A and B. Reads exactly the validated event log
        (`shoplab events validate` writes its manifest).
        """
        from rich.console import Console

        from shoplab.analysis.interleaving import experiment_type
        from shoplab.analysis.render import render_markdown, render_rich
        from shoplab.analysis.scorecard import save_scorecard
        from shoplab.core.errors import InputError, ShoplabError
        from shoplab.core.timeparse import parse_day
        from shoplab.sdk import analyze
        from shoplab.sdk import experiment as find_experiment

        if fmt not in ("table", "json", "markdown"):
            raise typer.BadParameter(f"--format == {fmt!r}, must be table, json or markdown.")
        as_of_day = None
        if as_of is not None:
            try:
                as_of_day = parse_day(as_of, "--as-of")
            except InputError:
                raise typer.BadParameter(
                    f"--as-of == {as_of!r}, must be an ISO date like 2026-01-21."
                ) from None
        console = Console(stderr=fmt != "table")
        try:
            if experiment_type(find_experiment(experiment)) == "interleaving":
                if triggered or segment is not None:
                    raise typer.BadParameter(
                        f"{experiment} is an interleaving experiment: --triggered and "
                        "--segment apply to A/B tests only."
                    )
                _interleaving(experiment, fmt, as_of_day, allow_unvalidated, console)
                return
            with console.status(f"analysing {experiment}…"):
                card = analyze(
                    experiment,
                    as_of=as_of_day,
                    segment=segment,
                    cuped=not no_cuped,
                    daily=daily,
                    allow_unvalidated=allow_unvalidated,
                    triggered=triggered,
                )
        except (ShoplabError, ValueError, FileNotFoundError) as exc:
            Console(stderr=True).print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None
        _emit(card, save_scorecard(card), fmt, render_markdown, render_rich, console)

    def _interleaving(
        experiment: str, fmt: str, as_of: date | None, allow_unvalidated: bool, console: Console
    ) -> None:
        """The interleaving scorecard of EXPERIMENT, printed and saved (exit 3 if untrustworthy)."""
        from shoplab.analysis.interleaving import save_interleaving_scorecard
        from shoplab.analysis.render import render_interleaving_markdown, render_interleaving_rich
        from shoplab.sdk import analyze_interleaving

        with console.status(f"analysing {experiment} (interleaving)…"):
            card = analyze_interleaving(
                experiment, as_of=as_of, allow_unvalidated=allow_unvalidated
            )
        path = save_interleaving_scorecard(card)
        _emit(card, path, fmt, render_interleaving_markdown, render_interleaving_rich, console)

    def _emit(
        card: Any,
        path: Any,
        fmt: str,
        markdown: Callable[[Any], str],
        rich: Callable[[Any], Iterable[Any]],
        console: Console,
    ) -> None:
        """Print a saved scorecard as ``fmt``; exit 3 when it is untrustworthy."""
        from rich.console import Console

        if fmt == "json":
            typer.echo(card.model_dump_json(indent=1))
        elif fmt == "markdown":
            typer.echo(markdown(card))
        else:
            for part in rich(card):
                console.print(part)
            console.print(f"[dim]saved {path}[/]")
        if not card.trustworthy:
            Console(stderr=True).print(
                f"[bold red]UNTRUSTWORTHY scorecard ({card.status}): see the warning above.[/]"
            )
            raise typer.Exit(3)

    @app.command("power")
    def power_cmd(
        metric: Annotated[str, typer.Option("--metric", help="Catalog metric name.")],
        traffic: Annotated[float, typer.Option("--traffic", help="Share of users, (0, 1].")],
        days: Annotated[int, typer.Option("--days", help="Planned duration in days.")],
        alpha: Annotated[float, typer.Option("--alpha")] = 0.05,
        target_power: Annotated[float, typer.Option("--power")] = 0.8,
        variants: Annotated[int, typer.Option("--variants")] = 2,
    ) -> None:
        """Minimum detectable effect of METRIC from the variance of the latest DAYS of traffic.

        DAYS beyond the impression log is refused (exit 2), never extrapolated.
        """
        from datetime import timedelta

        from rich.console import Console
        from rich.table import Table

        from shoplab.core.errors import ShoplabError
        from shoplab.sdk import power

        console = Console()
        try:
            with console.status("measuring variance…"):
                r = power(metric, traffic, days, alpha=alpha, power=target_power, variants=variants)
        except (ShoplabError, ValueError, FileNotFoundError) as exc:
            Console(stderr=True).print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None
        t = Table(
            title=f"power: {metric}, traffic {traffic:g}, {days} days, "
            f"alpha {alpha:g}, power {target_power:g}"
        )
        t.add_column("quantity")
        t.add_column("value", justify="right")
        last_day = (r.window_end - timedelta(days=1)).date()
        for k, v in (
            ("traffic window", f"{r.window_start.date()} to {last_day} ({r.days} days)"),
            ("active users in window", f"{r.active_units:,}"),
            ("units per variant", f"{r.units_per_variant:,}"),
            ("baseline", f"{r.baseline:.4g}"),
            ("per-unit sd", f"{r.sd:.4g}"),
            ("MDE (absolute)", f"{r.mde_abs:.4g}"),
            ("MDE (relative)", f"{r.mde_rel:.2%}"),
            ("CUPED variance reduction", f"{r.variance_reduction:.1%}"),
            ("MDE with CUPED (relative)", f"{r.mde_rel_cuped:.2%}"),
        ):
            t.add_row(k, v)
        console.print(t)
