"""``shoplab models train | list | show | alias | fallbacks`` and ``shoplab rank``.

Registered on the ``shoplab`` app by ``shoplab.cli``; MLflow, LightGBM and Feast are imported
inside the commands, so ``shoplab --help`` does not pay for them. :func:`param_checker` is the
provider ``shoplab.cli`` hands to ``shoplab experiments validate`` (model params).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from shoplab.core.errors import InputError
from shoplab.core.timeparse import parse_instant

if TYPE_CHECKING:  # pragma: no cover
    from shoplab.experiments.validation import ParamChecker

__all__ = ["param_checker", "register"]


def param_checker() -> ParamChecker:
    """The check of ``model`` / ``feature_service`` variant params, imported when validate runs."""
    from shoplab.models.deploy_check import check_variant_params

    return check_variant_params


@contextlib.contextmanager
def _quiet_feast() -> Iterator[None]:
    """Feast's prints to stderr and its experimental-feature warnings dropped (training sets)."""
    from shoplab.features.quiet import feast_quiet

    with warnings.catch_warnings(), feast_quiet():
        warnings.filterwarnings("ignore", module=r"feast\..*")
        warnings.filterwarnings("ignore", message="On demand feature view is an experimental")
        yield


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def register(app: typer.Typer) -> None:
    """Add ``shoplab models ...`` and ``shoplab rank``."""
    models = typer.Typer(
        help="Ranking models: train on the feature store, register in MLflow, alias, inspect.",
        no_args_is_help=True,
    )

    @models.command("train")
    def train(
        name: Annotated[str, typer.Argument(help="Registered model name (a new version per run).")],
        train_window: Annotated[
            tuple[str, str],
            typer.Option(
                "--train", help="Training window START END (END excluded; a date is 00:00Z)."
            ),
        ],
        valid_window: Annotated[
            tuple[str, str],
            typer.Option("--valid", help="Validation window START END (from --train's END on)."),
        ],
        service: Annotated[str, typer.Option(help="Feast feature service.")] = "ranker_v2",
        algo: Annotated[str, typer.Option(help="lightgbm | logreg | popularity")] = "lightgbm",
        target: Annotated[str, typer.Option(help="click (CTR) | order (CVR: given a click)")] = (
            "click"
        ),
    ) -> None:
        """Train on --train, evaluate on --valid, register the next version of NAME."""
        from shoplab.models.train import train_model

        with _quiet_feast():
            got = train_model(
                name, service, algo, train_window, valid_window, target  # type: ignore[arg-type]
            )
        m = got.metrics
        typer.echo(
            f"registered {got.version.ref}: {algo} on {service} ({target}), "
            f"{got.train_rows:,} training rows, {len(got.spec.features)} features, "
            f"data version {got.data_version}"
        )
        typer.echo(
            f"valid {m.rows:,} rows ({m.positives:,} positive): AUC {_fmt(m.auc)}  "
            f"GAUC {_fmt(m.gauc)} ({m.gauc_users:,} users)  log loss {_fmt(m.log_loss)}  "
            f"NDCG@10 {_fmt(m.ndcg_at_10)} ({m.ndcg_requests:,} requests)"
        )

    @models.command("list")
    def list_cmd(
        name: Annotated[str | None, typer.Argument(help="Only this model's versions.")] = None,
    ) -> None:
        """Every registered version: service, algorithm, aliases, windows, offline metrics."""
        from rich.console import Console
        from rich.table import Table

        from shoplab.models.registry import list_versions

        table = Table(title="registered models")
        table.add_column("model", no_wrap=True)
        for col in ("aliases", "service", "algo", "target", "train", "AUC", "GAUC", "NDCG@10",
                    "log loss"):
            table.add_column(col)
        for v in list_versions(name):
            metrics = v.metrics
            table.add_row(
                v.ref, ", ".join(f"@{a}" for a in v.aliases) or "-",
                v.tags.get("shoplab.service", "-"), v.tags.get("shoplab.algo", "-"),
                v.tags.get("shoplab.target", "-"),
                f"{v.tags.get('shoplab.train_start', '?')[:10]}.."
                f"{v.tags.get('shoplab.train_end', '?')[:10]}",
                _fmt(metrics.get("auc")), _fmt(metrics.get("gauc")),
                _fmt(metrics.get("ndcg_at_10")), _fmt(metrics.get("log_loss")),
            )
        console = Console(highlight=False)
        console.width = max(console.width, 160)  # ten columns: folded at 80 they say nothing
        console.print(table)

    @models.command("show")
    def show(
        ref: Annotated[str, typer.Argument(help="NAME, NAME/VERSION or NAME@ALIAS.")],
    ) -> None:
        """One version's tags: service, features and dtypes, windows, data version, metrics."""
        from shoplab.models.registry import get_version

        v = get_version(ref)
        doc = {
            "model": v.ref,
            "aliases": list(v.aliases),
            "source": v.source,
            "run_id": v.run_id,
            "created": v.created.isoformat(),
            "tags": {
                k: (json.loads(t) if t[:1] in "[{" else t) for k, t in sorted(v.tags.items())
            },
        }
        typer.echo(json.dumps(doc, indent=2))

    @models.command("alias")
    def alias(
        name: Annotated[str, typer.Argument(help="Registered model name.")],
        version: Annotated[int, typer.Argument(help="Version to point the alias at.")],
        alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="champion, challenger…")],
    ) -> None:
        """Point NAME@ALIAS at VERSION (moving it from another version)."""
        from shoplab.models.registry import set_alias

        v = set_alias(name, version, alias_name)
        typer.echo(f"{name}@{alias_name} -> {v.ref}")

    @models.command("fallbacks")
    def fallbacks() -> None:
        """How often each variant's model fell back to the control ranker, and why."""
        from rich.console import Console
        from rich.table import Table

        from shoplab.models.fallbacks import fallback_counts

        rows = fallback_counts()
        if not rows:
            typer.echo("no fallback counted")
            return
        table = Table(title="serving fallbacks")
        for col in ("experiment", "variant", "model", "reason", "count", "last", "message"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r.experiment, r.variant, r.model, r.reason, f"{r.count:,}",
                          r.last_ts[:19], r.last_message)
        Console(highlight=False).print(table)

    app.add_typer(models, name="models")

    @app.command("rank")
    def rank_cmd(
        user: Annotated[int, typer.Argument(help="User id.")],
        items: Annotated[list[int], typer.Argument(help="Candidate item ids.")],
        query: Annotated[str | None, typer.Option(help="Search query (feed: leave out).")] = None,
        at: Annotated[
            str | None, typer.Option(help="Request time, ISO 8601 with zone (default: now).")
        ] = None,
        model: Annotated[
            str | None, typer.Option(help="Serve NAME/VERSION or NAME@ALIAS, not assignment.")
        ] = None,
        country: Annotated[str | None, typer.Option(help="Targeting: country.")] = None,
        platform: Annotated[str | None, typer.Option(help="Targeting: platform.")] = None,
        request_id: Annotated[
            int | None, typer.Option(help="Request id: an interleaving experiment's coin flips.")
        ] = None,
    ) -> None:
        """Rank ITEMS for USER as serving does: assignment, the variant's model, online features."""
        from rich.console import Console
        from rich.table import Table

        from shoplab.models.serve import rank

        try:
            when = parse_instant(at, "--at", bare_date="start_of_day") if at else None
        except InputError as exc:
            raise typer.BadParameter(str(exc)) from None
        attributes = {k: v for k, v in (("country", country), ("platform", platform)) if v}
        with _quiet_feast():
            fields = {"query": query, "request_id": request_id}
            out = rank(user, items, fields, when, attributes=attributes, model=model)
        first = out.row(0, named=True)
        console = Console(highlight=False)
        console.print(
            f"experiment {first['experiment'] or '-'}  variant {first['variant'] or '-'}  "
            f"model {first['model_version'] or '- (incoming order)'}"
            + (f"  [red]fallback: {first['fallback']}[/red]" if first["fallback"] else "")
            + ("" if first["triggered"] is None else f"  triggered {first['triggered']}")
        )
        if first["fallback"]:
            console.print(f"[red]why: {_fallback_message(first)}[/red]")
        table = Table()
        interleaved = out["team"].null_count() < out.height
        for col in ("rank", "item_id", "score", *(("team", "model") if interleaved else ())):
            table.add_column(col, justify="right")
        for r in out.iter_rows(named=True):
            extra = (r["team"], r["model_version"] or "-") if interleaved else ()
            table.add_row(str(r["rank"]), str(r["item_id"]), _fmt(r["score"]), *extra)
        console.print(table)


def _fallback_message(row: dict[str, object]) -> str:
    """The counted message of the fallback ``rank`` just reported (the newest of its kind)."""
    from shoplab.models.fallbacks import fallback_counts

    mine = [
        c for c in fallback_counts()
        if c.experiment == (row["experiment"] or "-") and c.reason == row["fallback"]
        and c.variant == (row["variant"] or "-")
    ]
    if not mine:
        return f"{row['fallback']} (no message recorded)"
    last = max(mine, key=lambda c: c.last_ts)
    return f"model {last.model}: {last.last_message}"
