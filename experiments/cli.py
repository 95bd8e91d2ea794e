"""``shoplab experiments list | validate | assign UNIT | layout | schema``.

``validate`` checks metric names, stage parameter bounds and model params against catalogs that
belong to the layers above this one (analysis, the simulator, models): the integration layer
hands them in at
:func:`register` as providers, called only when ``validate`` runs, so ``shoplab --help`` does not
import analysis.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shoplab.core.errors import InputError
from shoplab.core.timeparse import parse_instant
from shoplab.experiments.validation import ParamBounds, ParamChecker

__all__ = [
    "MetricNamesProvider",
    "ParamBoundsProvider",
    "ParamCheckerProvider",
    "register",
    "schema_documents",
]

MetricNamesProvider = Callable[[], Iterable[str]]
"""Returns the metric catalog's names (analysis owns the catalog)."""
ParamBoundsProvider = Callable[[], ParamBounds]
"""Returns the stage parameter bounds (the simulator owns them)."""
ParamCheckerProvider = Callable[[], ParamChecker]
"""Returns the check of model / feature-service params (the models layer owns it)."""

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Config directory (default: $SHOPLAB_EXPERIMENTS, else built-in)."),
]
AtOption = Annotated[
    str | None, typer.Option("--at", help="Time asked, ISO 8601 UTC (default: now).")
]
SCHEMA_DIR = Path(__file__).parent / "schemas"
_PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta")

app = typer.Typer(
    name="experiments",
    help="Experiment configs: list, validate, assign a unit, draw the bucket layout, JSON schema.",
    no_args_is_help=True,
)
"""The commands but ``validate``, which :func:`register` adds with the catalogs it is given."""


def _console() -> Console:
    return Console(highlight=False)


def _parse_at(at: str | None) -> datetime | None:
    """``--at``: a bare date means its first instant, UTC (the one rule of ``core.timeparse``)."""
    if at is None:
        return None
    try:
        return parse_instant(at, "--at", bare_date="start_of_day")
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from None


def _load(dir: Path | None) -> Any:
    from shoplab.experiments.errors import ConfigError
    from shoplab.experiments.loader import load_layout

    try:
        return load_layout(dir)
    except ConfigError as exc:
        _console().print(f"[red]{exc}[/red]\nRun [bold]shoplab experiments validate[/bold].")
        raise typer.Exit(1) from exc


@app.command("list")
def list_cmd(dir: DirOption = None) -> None:
    """List every experiment: layer, status, bucket range, variants, dates, owner."""
    layout = _load(dir)
    table = Table(title="experiments")
    for col in ("key", "layer", "status", "buckets", "share", "variants", "start", "end", "owner"):
        table.add_column(col)
    order = {cl.layer.name: i for i, cl in enumerate(layout.layers)}
    for e in sorted(layout.experiments.values(), key=lambda e: (order.get(e.layer, 99), e.key)):
        p = layout.placements[e.key]
        style = {"running": "green", "draft": "yellow", "stopped": "dim"}[e.status]
        table.add_row(
            e.key, e.layer, Text(e.status, style=style), f"[{p.start}, {p.end})",
            f"{p.size / 100:.2f} %",
            ", ".join(f"{v.key} {v.weight:g}" for v in e.variants),
            e.start.strftime("%Y-%m-%d %H:%M"), e.end.strftime("%Y-%m-%d %H:%M"), e.owner,
        )
    console = _console()
    console.print(table)
    if layout.holdout is not None:
        h = layout.holdout
        console.print(f"global holdout [bold]{h.key}[/bold]: {h.share:.2%} of units "
                      f"(salt {h.salt!r}), no experiment in any layer.")


def _attr_value(raw: str) -> Any:
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(raw)
    except ValueError:
        return raw


@app.command("assign")
def assign_cmd(
    unit: Annotated[
        str, typer.Argument(help="Unit id: a user_id (integer) or a device id (string).")
    ],
    attr: Annotated[
        list[str] | None,
        typer.Option("--attr", help="Targeting attribute k=v (country=ID, is_new_user=true)."),
    ] = None,
    at: AtOption = None,
    dir: DirOption = None,
) -> None:
    """Show a unit's experiment, variant and params in every layer, and its holdout flag."""
    from shoplab.experiments.assignment import assign

    attributes: dict[str, Any] = {}
    for item in attr or []:
        if "=" not in item:
            raise typer.BadParameter(f"--attr == {item!r}, must be key=value.")
        k, v = item.split("=", 1)
        attributes[k] = _attr_value(v)
    layout = _load(dir)
    when = _parse_at(at)
    # digits are a user id (hashed as its decimal string either way, but allowlists key on ints);
    # anything else, '' included, goes to assign() as is: it refuses a bad id with its value
    unit_id: int | str = int(unit) if unit.lstrip("+-").isdigit() and unit.isascii() else unit
    a = assign(unit_id, attributes, experiments=layout, at=when)
    console = _console()
    console.print(f"unit [bold]{unit}[/bold]  holdout: "
                  + ("[red]yes[/red] (baseline everywhere)" if a.holdout else "no"))
    table = Table()
    for col in ("layer", "experiment", "variant", "params", "forced"):
        table.add_column(col)
    for la in a.layers:
        table.add_row(
            la.layer, la.experiment or "-", la.variant or "-",
            json.dumps(dict(la.params)) if la.params else "-", "yes" if la.forced else "",
        )
    console.print(table)
    if not a.holdout and all(la.experiment is None for la in a.layers):
        shown = (when or datetime.now(UTC)).isoformat(timespec="seconds")
        console.print(
            f"no experiment assigned at {shown}: the unit's buckets are free, its targeting "
            "does not match, or no experiment is running then (see `shoplab experiments list`; "
            "pass --at to ask about another time)."
        )


def _free_ranges(taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    gaps, cursor = [], 0
    for lo, hi in sorted(taken):
        if lo > cursor:
            gaps.append((cursor, lo))
        cursor = max(cursor, hi)
    if cursor < 10_000:
        gaps.append((cursor, 10_000))
    return gaps


def _bar(segments: list[tuple[int, int, str]], width: int) -> Text:
    text = Text()
    per = 10_000 / width
    for i in range(width):
        mid = (i + 0.5) * per
        seg = next((s for s in segments if s[0] <= mid < s[1]), None)
        text.append("█" if seg else "·", style=seg[2] if seg else "dim")
    return text


@app.command("layout")
def layout_cmd(
    dir: DirOption = None,
    at: AtOption = None,
    width: Annotated[
        int | None, typer.Option(help="Characters per bar (default: 100, or 50 if narrow).")
    ] = None,
) -> None:
    """Draw each layer's 10,000-bucket map: who owns which range, the holdout, free space."""
    layout = _load(dir)
    when = _parse_at(at)
    console = _console()
    if width is None:
        width = 100 if console.width >= 125 else 50
    if not 10 <= width <= 10_000 or 10_000 % width:
        raise typer.BadParameter(f"--width == {width}, must divide 10000 and be >= 10.")
    if layout.holdout is not None:
        h = layout.holdout
        console.print(
            Text.assemble(
                ("holdout ".ljust(9), "bold"),
                _bar([(0, h.buckets, "red")], width),
                f"  {h.key} {h.share:.1%}",
            )
        )
    else:
        console.print("no global holdout")
    for li, layer in enumerate(layout.layer_set.layers):
        members = [
            e for e in layout.experiments.values()
            if e.layer == layer.name and e.status != "stopped"
            and (when is None or e.start <= when < e.end)
        ]
        members.sort(key=lambda e: layout.placements[e.key].start)
        segments = []
        legend = []
        for i, e in enumerate(members):
            p = layout.placements[e.key]
            color = _PALETTE[(i + li) % len(_PALETTE)]
            style = color if e.status == "running" else f"{color} dim"
            segments.append((p.start, p.end, style))
            legend.append(Text(f"  {e.key} [{p.start}, {p.end}) {e.status}", style=style))
        gaps = _free_ranges([(s, e) for s, e, _ in segments])
        free = sum(hi - lo for lo, hi in gaps)
        console.print(Text.assemble((layer.name.ljust(9), "bold"), _bar(segments, width),
                                    f"  free {free / 100:.1f} %"))
        if gaps:
            legend.append(Text("  free " + ", ".join(f"[{lo}, {hi})" for lo, hi in gaps),
                               style="dim"))
        for line in legend:
            console.print(Text(" " * 9) + line)
    console.print(Text(f"each character = {10_000 // width} buckets; · = free; dim = draft",
                       style="dim"))


SchemaKind = Literal["experiment", "layers"]


def schema_documents() -> dict[str, dict[str, Any]]:
    """JSON schemas for editors: an experiment file, and ``layers.yaml``."""
    from shoplab.experiments.models import Experiment, LayerSet

    return {
        "experiment": Experiment.model_json_schema(),
        "layers": LayerSet.model_json_schema(),
    }


@app.command("schema")
def schema_cmd(
    kind: Annotated[str, typer.Option(help="experiment | layers")] = "experiment",
    out: Annotated[
        Path | None, typer.Option(help="Write here instead of stdout (a folder: write both).")
    ] = None,
) -> None:
    """Print (or write) the JSON schema of experiment files or of layers.yaml."""
    docs = schema_documents()
    if kind not in docs:
        raise typer.BadParameter(f"--kind == {kind!r}, must be one of {sorted(docs)}.")
    if out is not None and out.is_dir():
        for name, doc in docs.items():
            (out / f"{name}.schema.json").write_text(json.dumps(doc, indent=2) + "\n")
        typer.echo(f"wrote {sorted(docs)} schemas to {out}")
        return
    text = json.dumps(docs[kind], indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)


def _validate_command(
    metric_names: MetricNamesProvider | None,
    param_bounds: ParamBoundsProvider | None,
    param_checker: ParamCheckerProvider | None = None,
) -> Callable[..., None]:
    """The ``validate`` command, closed over the catalogs the integration layer provides."""

    def validate_cmd(
        dir: DirOption = None,
        lock: Annotated[
            bool, typer.Option("--lock/--no-lock", help="Update the lock of running experiments.")
        ] = True,
    ) -> None:
        """Check every file and the set; list every problem; exit 1 if any."""
        from shoplab.experiments.validation import validate

        report = validate(
            dir,
            metrics=metric_names() if metric_names is not None else None,
            param_bounds=param_bounds() if param_bounds is not None else None,
            param_checker=param_checker() if param_checker is not None else None,
            write_lock=lock,
        )
        console = _console()
        for why in report.skipped:
            console.print(f"[yellow]not checked[/yellow]: {why}")
        if report.ok:
            console.print(
                f"[green]OK[/green]: {report.experiments} experiments ({report.running} running) "
                f"in {report.dir}."
                + (f" Lock written: {report.lock_path}" if report.lock_written else "")
            )
            return
        table = Table(title=f"{len(report.problems)} problem(s) in {report.dir}")
        for col in ("file", "field", "value", "rule"):
            table.add_column(col, overflow="fold")
        for p in report.problems:  # Text: a rule's "[value_error]" is not Rich markup
            table.add_row(Text(p.file), Text(p.field), Text(p.shown_value), Text(p.rule))
        console.print(table)
        for p in report.problems:  # plain lines too: grep-able and readable in CI logs
            typer.echo(str(p), err=True)
        raise typer.Exit(1)

    return validate_cmd


def register(
    root: typer.Typer,
    *,
    metric_names: MetricNamesProvider | None = None,
    param_bounds: ParamBoundsProvider | None = None,
    param_checker: ParamCheckerProvider | None = None,
) -> None:
    """Add ``shoplab experiments ...`` to the ``shoplab`` app.

    Args:
        root: the ``shoplab`` app.
        metric_names: the metric catalog for ``validate`` (None: that check is skipped, and
            ``validate`` says so).
        param_bounds: the stage parameter bounds for ``validate`` (None: skipped likewise).
        param_checker: the check of ``model`` / ``feature_service`` params (None: skipped, and
            said where a variant names a model).
    """
    group = typer.Typer(name=app.info.name, help=app.info.help, no_args_is_help=True)
    group.registered_commands = list(app.registered_commands)
    group.command("validate")(_validate_command(metric_names, param_bounds, param_checker))
    root.add_typer(group, name="experiments")
