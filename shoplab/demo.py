"""``shoplab demo``: the whole pipeline on the embedded default, end to end, in one command.

validate experiment configs → simulate (the demo experiments assign every request's user through
``assign_frame``) and, on the rank experiment's first day, train a champion (logistic regression
on ``ranker_v1``) and a challenger (LightGBM on ``ranker_v2``) on the pre-period, register them
(``ctr_ranker@champion`` / ``@challenger``) and deploy-check them → the experiment days, ranked
by those models → validate the event log (quarantine report) → build feature tables → ``feast
apply`` → ``feast materialize`` → analyze every experiment → print scorecards → offline metrics
of each model beside the rank experiment's online effect → a training-set sample and a
ranking-features call → how to open the dashboard.

The rank experiment is the shipped ``rank_ranker_v2`` (same key, window, traffic, metrics) with
its variants deploying the two models (:data:`DEMO_MODELS`): the shipped configs keep their hand
weights, so that ``shoplab experiments validate`` and every other simulation work without a
registry. The demo's config set is written to ``<root>/demo/experiments`` and used for the run
(``$SHOPLAB_EXPERIMENTS``). Its model params are deploy-checked once the models exist (the
version, its service in the Feast registry, the skew guard); before, only metrics and bounds.

Re-running is safe: the simulator replaces the event log, feature builds replace their days, Feast
apply/materialize are idempotent, scorecards are overwritten; the same seed gives the same numbers.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.panel import Panel

from shoplab.core.atomic import atomic_write_text
from shoplab.core.errors import StateError
from shoplab.core.paths import data_root

__all__ = ["DEMO_MODELS", "DemoSettings", "run_demo"]

T = TypeVar("T")

RANK_EXPERIMENT = "rank_ranker_v2"
MODEL_NAME = "ctr_ranker"
DEMO_MODELS: dict[str, tuple[str, str, str]] = {
    # variant of rank_ranker_v2 -> (alias, feature service, algorithm)
    "control": ("champion", "ranker_v1", "logreg"),
    "ranker_v2": ("challenger", "ranker_v2", "lightgbm"),
    "popularity": ("popularity", "ranker_v2", "popularity"),
}
"""The models the demo's rank experiment deploys, per variant: three of clearly different
quality for the offline-vs-online table (``popularity``, a third arm the shipped config does
not have, knows only the items' volumes)."""
_DEMO_WEIGHTS = {"control": 0.34, "ranker_v2": 0.33, "popularity": 0.33}


@dataclass(frozen=True)
class DemoSettings:
    """The embedded default world: 7 pre-period days then 14 experiment days."""

    users: int = 50_000
    items: int = 20_000
    days: int = 21
    seed: int = 7
    start: date = date(2026, 1, 1)
    valid_days: int = 2
    """The pre-period's last days: the models' offline evaluation window (trained before it)."""


class DemoStepError(StateError):
    """A demo step failed; the message names the step and the underlying error."""


def _step(console: Console, title: str, fn: Callable[[], T]) -> T:
    t0 = time.perf_counter()
    console.rule(f"[bold cyan]{title}")
    try:
        result = fn()
    except Exception as exc:  # re-raised with the step's name: the user sees where it stopped
        raise DemoStepError(f"demo step '{title}' failed: {exc}") from exc
    console.print(f"[dim]{title}: {time.perf_counter() - t0:.1f} s[/]")
    return result


def verdict(card: Any) -> str:
    """One word for a PM: is the primary metric's effect trustworthy and significant?"""
    if not card.trustworthy:
        return "UNTRUSTWORTHY (SRM)"
    row = next((r for r in card.rows if r.metric == card.primary_metric), None)
    if row is None or row.status != "ok" or row.pvalue is None:
        return f"no verdict ({row.status if row else 'no row'})"
    from shoplab.analysis.metrics import get_metric
    from shoplab.analysis.verdict import verdict as row_verdict

    found = row_verdict(row, get_metric(row.metric), card.alpha)
    if found == "not significant":
        return found
    arrow = "↑" if (row.abs_effect or 0) > 0 else "↓"
    return f"significant {arrow} ({found})"  # a lower-is-better metric that rose: a regression


def verdict_table(cards: dict[str, Any]) -> Any:
    """Every experiment on one line: units, SRM, primary metric's effect, verdict, decision.

    ``verdict`` is the primary metric's own reading; ``decision`` the scorecard's
    (``analysis.decision``: guardrails, trust and the horizon included).
    """
    from rich.table import Table

    t = Table(title="Scorecard summary (primary metric; p adjusted by Holm)")
    for col in ("experiment", "layer", "units", "SRM p", "primary", "rel effect [95% CI]",
                "p adj", "interactions", "verdict", "decision"):
        t.add_column(col)
    for key, card in cards.items():
        row = next((r for r in card.rows if r.metric == card.primary_metric), None)
        rel = (
            f"{row.rel_effect:+.2%} [{row.rel_ci_lower:+.2%}, {row.rel_ci_upper:+.2%}]"
            if row is not None and row.rel_effect is not None
            and row.rel_ci_lower is not None and row.rel_ci_upper is not None
            else "—"
        )
        p_adj = "—" if row is None or row.adjusted_pvalue is None else f"{row.adjusted_pvalue:.3g}"
        flagged = sorted(
            {i.other_experiment for i in card.interactions if i.flagged or i.dependent}
        )
        t.add_row(
            key, card.layer, f"{sum(v.units for v in card.variants):,}", f"{card.srm.pvalue:.3g}",
            card.primary_metric, rel, p_adj, ", ".join(flagged) or "none flagged", verdict(card),
            card.decision.decision if card.decision is not None else "—",
        )
    return t


def summary_text(cards: dict[str, Any]) -> str:
    """The summary table as plain text (no colour, its natural width): the README's demo block.

    The demo writes it to ``<root>/demo/summary.txt``; ``shoplab readme`` copies that file into
    the README and a slow test compares the README with a fresh demo's file.
    """
    import io

    buffer = io.StringIO()
    Console(file=buffer, width=400, color_system=None, force_terminal=False).print(
        verdict_table(cards)
    )
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def demo_configs(root: Path) -> Path:
    """Write the demo's config set to ``root``: the shipped configs, rank variants on models."""
    import shutil

    import yaml

    from shoplab.experiments.loader import config_dir

    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(config_dir(), root)
    path = root / f"{RANK_EXPERIMENT}.yaml"
    doc = yaml.safe_load(path.read_text())
    known = {v["key"] for v in doc["variants"]}
    doc["variants"] += [{"key": k, "weight": 0.0, "params": {}} for k in DEMO_MODELS
                        if k not in known]
    for variant in doc["variants"]:
        alias, service, _ = DEMO_MODELS[variant["key"]]
        variant["params"] = {"feature_service": service, "model": f"{MODEL_NAME}@{alias}"}
        variant["weight"] = _DEMO_WEIGHTS[variant["key"]]
    doc["description"] = (
        f"The demo's rank experiment: {MODEL_NAME}@champion (logistic regression on ranker_v1) "
        f"against {MODEL_NAME}@challenger (LightGBM on ranker_v2) and {MODEL_NAME}@popularity "
        "(logistic regression on item popularity only), all trained on the pre-period."
    )
    header = (
        "# Written by `shoplab demo` from the shipped configs: the rank variants deploy models.\n"
    )
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False))
    return root


def train_demo_models(s: DemoSettings, experiment_start: date) -> dict[str, Any]:
    """Build features of the pre-period, train both models on it, register and alias them."""
    import warnings

    from shoplab import features
    from shoplab.features.quiet import feast_quiet
    from shoplab.models.quiet import mlflow_quiet
    from shoplab.models.registry import set_alias
    from shoplab.models.train import train_model

    features.build_features()
    valid_start = experiment_start - timedelta(days=s.valid_days)
    # day 1 has no history behind its features (every 7d/30d count starts at 0): left out
    train = (s.start + timedelta(days=1), valid_start)
    valid = (valid_start, experiment_start)
    trained = {}
    with mlflow_quiet(), feast_quiet(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="On demand feature view is an experimental")
        features.apply_repo()
        for variant, (alias, service, algo) in DEMO_MODELS.items():
            model = train_model(MODEL_NAME, service, algo, train, valid)  # type: ignore[arg-type]
            set_alias(MODEL_NAME, model.version.version, alias)
            trained[variant] = model
    return trained


def _deploy_check(configs: Path) -> Any:
    from shoplab.analysis.metrics import metric_names
    from shoplab.experiments import validate_all
    from shoplab.models.deploy_check import check_variant_params
    from shoplab.simulator.params import PARAM_BOUNDS

    return validate_all(
        configs, metrics=metric_names(), param_bounds=PARAM_BOUNDS,
        param_checker=check_variant_params,
    )


def offline_online_table(trained: dict[str, Any], card: Any, ceiling: Any = None) -> Any:
    """Each model's offline metrics beside the rank experiment's online effect (vs control).

    ``ceiling``: the offline metrics of ranking by the simulator's true P(click) on the same
    window (``shoplab.simulator.model_rank.true_ctr_ceiling``), shown as the last row.
    """
    from rich.table import Table

    t = Table(title=f"Offline vs online: {RANK_EXPERIMENT} (online effect vs {card.control})")
    for col in ("variant", "model", "algo", "service", "AUC", "GAUC", "NDCG@10", "GAUC gain",
                "NDCG gain", "CTR lift [95% CI]", "CVR lift [95% CI]", "GMV/user lift [95% CI]",
                "sign agrees"):
        t.add_column(col)
    rows = {(r.metric, r.variant): r for r in card.rows}

    def lift(metric: str, variant: str) -> str:
        r = rows.get((metric, variant))
        if r is None or r.rel_effect is None or r.rel_ci_lower is None or r.rel_ci_upper is None:
            return "—" if variant != card.control else "(control)"
        return f"{r.rel_effect:+.2%} [{r.rel_ci_lower:+.2%}, {r.rel_ci_upper:+.2%}]"

    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.4f}"

    base = trained.get(card.control)

    def signed(v: float | None) -> str:
        return "—" if v is None else f"{v:+.4f}"

    def gain(model: Any, key: str) -> float | None:
        a = getattr(model.metrics, key)
        b = getattr(base.metrics, key) if base is not None else None
        return None if a is None or b is None else float(a) - float(b)

    for variant, model in trained.items():
        m = model.metrics
        g, ctr = gain(model, "gauc"), rows.get(("ctr", variant))
        agrees = (
            "—" if variant == card.control or g is None or ctr is None or ctr.rel_effect is None
            or g == 0 or ctr.rel_effect == 0 else ("yes" if (g > 0) == (ctr.rel_effect > 0)
                                                   else "NO")
        )
        t.add_row(
            variant, model.version.ref, model.algo, model.spec.service,
            fmt(m.auc), fmt(m.gauc), fmt(m.ndcg_at_10),
            "—" if variant == card.control else signed(g),
            "—" if variant == card.control else signed(gain(model, "ndcg_at_10")),
            lift("ctr", variant), lift("cvr", variant), lift("gmv_per_user", variant), agrees,
        )
    if ceiling is not None:  # not deployed: no online effect, only how far the models are
        b = base.metrics if base is not None else None

        def over(key: str) -> str:
            a = getattr(ceiling, key)
            c = getattr(b, key) if b is not None else None
            return "—" if a is None or c is None else signed(float(a) - float(c))

        t.add_row(
            "(ceiling)", "true P(click)", "simulator", "—", fmt(ceiling.auc),
            fmt(ceiling.gauc), fmt(ceiling.ndcg_at_10), over("gauc"), over("ndcg_at_10"),
            "—", "—", "—", "—",
        )
    return t


def offline_online_text(trained: dict[str, Any], card: Any, ceiling: Any = None) -> str:
    """The offline-vs-online table as plain text (what the demo prints, without colour)."""
    import io

    buffer = io.StringIO()
    Console(file=buffer, width=400, color_system=None, force_terminal=False).print(
        offline_online_table(trained, card, ceiling)
    )
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def summary_path() -> Path:
    """``<root>/demo/summary.txt``: the last demo's summary table."""
    return data_root() / "demo" / "summary.txt"


def run_demo(
    settings: DemoSettings | None = None, console: Console | None = None
) -> dict[str, Any]:
    """Run the demo pipeline and return a summary (row counts, scorecard verdicts, timings)."""
    configs = demo_configs(data_root() / "demo" / "experiments")
    previous = os.environ.get("SHOPLAB_EXPERIMENTS")
    os.environ["SHOPLAB_EXPERIMENTS"] = str(configs)
    try:
        return _run(settings or DemoSettings(), console, configs)
    finally:
        if previous is None:
            os.environ.pop("SHOPLAB_EXPERIMENTS", None)
        else:
            os.environ["SHOPLAB_EXPERIMENTS"] = previous


def _run(s: DemoSettings, console: Console | None, configs: Path) -> dict[str, Any]:
    # Off a terminal (CI logs, `| tee`) Rich assumes 80 columns, too narrow for a scorecard.
    con = console or Console(width=None if Console().is_terminal else 160)
    t_start = time.perf_counter()
    summary: dict[str, Any] = {}

    import polars as pl

    from shoplab import experiments, features
    from shoplab.events import load_events

    # Polars wraps frames at ~100 characters; the samples below are wide.
    pl.Config.set_tbl_width_chars(con.width)
    pl.Config.set_tbl_cols(10)
    from shoplab.analysis.metrics import metric_names
    from shoplab.simulator import ExperimentPolicy, simulate
    from shoplab.simulator.params import PARAM_BOUNDS

    exps = _step(
        con,
        f"Validate experiment configs ({configs}; models are checked once trained)",
        lambda: experiments.validate_all(
            configs, metrics=metric_names(), param_bounds=PARAM_BOUNDS
        ),
    )
    policy = ExperimentPolicy(configs)
    experiment_start = exps[RANK_EXPERIMENT].start.date()
    trained: dict[str, Any] = {}
    ceiling: dict[str, Any] = {}

    def on_day(day: date) -> None:
        if day != experiment_start:
            return
        from shoplab.simulator import world_of
        from shoplab.simulator.model_rank import true_ctr_ceiling

        trained.update(
            _step(
                con,
                f"Train {MODEL_NAME}@champion (logreg, ranker_v1), @challenger (LightGBM, "
                f"ranker_v2) and @popularity on the pre-period {s.start}.."
                f"{day - timedelta(days=1)}",
                lambda: train_demo_models(s, day),
            )
        )
        _step(con, "Deploy check of the rank variants' models", lambda: _deploy_check(configs))
        ceiling["metrics"] = true_ctr_ceiling(
            (day - timedelta(days=s.valid_days), day),
            world_of(s.users, s.items, s.days, s.seed, s.start),
        )
        for variant, model in trained.items():
            m = model.metrics
            con.print(
                f"{variant}: {model.version.ref} ({model.algo}, {model.spec.service}, "
                f"{model.train_rows:,} rows) AUC {m.auc or float('nan'):.4f} "
                f"GAUC {m.gauc or float('nan'):.4f} NDCG@10 {m.ndcg_at_10 or float('nan'):.4f}"
            )

    sim = _step(
        con,
        f"Simulate {s.users:,} users × {s.days} days (rank experiment from {experiment_start}: "
        "model-ranked)",
        lambda: simulate(
            users=s.users, items=s.items, days=s.days, seed=s.seed, start=s.start,
            policy=policy, progress=True, on_day=on_day,
        ),
    )
    summary["simulation"] = sim
    summary["models"] = trained
    report = _step(con, "Validate the event log", load_events)
    con.print(report)
    summary["load_report"] = report

    end = datetime.combine(s.start + timedelta(days=s.days), datetime.min.time(), tzinfo=UTC)
    _step(con, "Build feature tables", features.build_features)
    _step(con, "feast apply", features.apply_repo)
    _step(con, f"feast materialize (to {end:%Y-%m-%d %H:%M})", lambda: features.materialize(end))

    from shoplab import analysis, sdk
    from shoplab.analysis.render import render_rich

    cards = {}
    for key in sorted(exps):
        card = _step(con, f"Analyze {key}", functools.partial(sdk.analyze, key, as_of=end))
        analysis.save_scorecard(card)  # the dashboard reads saved scorecards
        cards[key] = card
        for part in render_rich(card):
            con.print(part)
    summary["scorecards"] = cards
    con.print(verdict_table(cards))
    atomic_write_text(summary_path(), summary_text(cards))
    if trained and RANK_EXPERIMENT in cards:
        top = ceiling.get("metrics")
        con.print(offline_online_table(trained, cards[RANK_EXPERIMENT], top))
        atomic_write_text(
            data_root() / "demo" / "offline_online.txt",
            offline_online_text(trained, cards[RANK_EXPERIMENT], top),
        )

    labels = features.training_labels(end - timedelta(days=1), end)
    sample = _step(
        con,
        f"Training set: {min(len(labels), 1000):,} of {len(labels):,} day-{s.days} impressions "
        "with ranker_v1 features (point in time)",
        lambda: features.training_set(labels.head(1000)),
    )
    feature_cols = [c for c in sample.columns if "__" in c]
    nulls = sample.select(feature_cols).null_count().sum_horizontal()[0]
    con.print(
        f"{len(feature_cols)} feature columns, e.g. {', '.join(feature_cols[:6])}; "
        f"null rate {nulls / max(1, sample.height * len(feature_cols)):.1%}"
    )
    head = ["user_id", "item_id", "event_timestamp", "clicked", *feature_cols[:5]]
    con.print(sample.select(head).head(5))
    user_id = int(labels["user_id"][0])
    candidates = labels.filter(labels["user_id"] == user_id)["item_id"].unique().head(10).to_list()
    online = _step(
        con,
        f"Ranking features: user {user_id} × {len(candidates)} candidates (online store, "
        f"freshness judged at {end:%Y-%m-%d %H:%M})",
        lambda: features.ranking_features(user_id, candidates, as_of=end),
    )
    stale = [c for c in online.columns if c.endswith("__stale")]
    values = [c for c in online.columns if "__" in c and c not in stale]
    con.print(online.select(["user_id", "item_id", *values[:5], *stale[:2]]))
    summary["online_rows"] = len(online)
    con.print(
        Panel.fit(
            f"Done in {time.perf_counter() - t_start:.0f} s. Open the dashboard: "
            "[bold]make dashboard[/] (or `shoplab dashboard`, which reads the demo's configs, "
            f"{configs}: the rank variants deploy the models it trained)",
            title="shoplab demo",
        )
    )
    return summary
