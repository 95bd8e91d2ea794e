"""The rank stage with deployed models: batch features equal ``ranking_features``, order is the
model's, and models trained in ``simulate(on_day=...)`` on the pre-period keep the seed guarantee.

One world per module (~30 s on 2 cores): 3,000 users x 600 items x 6 days from 2026-01-01; a
rank experiment from day 4 (2026-01-04) whose variants deploy ``sim_ctr@champion`` (logistic
regression on ranker_v1) and ``sim_ctr@challenger`` (LightGBM on ranker_v2), both trained by the
``on_day`` hook on days 1-3 before day 4 is simulated. The rest of the rank layer runs
``rank_il`` (buckets 6000-8000), an interleaving experiment of the same two models, and two
triggered A/B experiments (k = 10): ``rank_tr_aa`` (champion against itself, 8000-9000) and
``rank_tr`` (champion against challenger, 9000-10000).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from shoplab.core.paths import using_data_root
from shoplab.experiments.loader import clear_cache as clear_configs
from shoplab.experiments.loader import load_layout
from shoplab.models.loaded import clear_cache as clear_models

START = date(2026, 1, 1)
EXPERIMENT_DAY = date(2026, 1, 4)
DAY = date(2026, 1, 5)  # the day the checks serve (features materialized up to its 00:00)
WORLD: dict[str, Any] = {"users": 3_000, "items": 600, "days": 6, "seed": 5, "start": START}
MODELS = {"control": "sim_ctr@champion", "challenger": "sim_ctr@challenger"}


@dataclass(frozen=True)
class ModelWorld:
    root: Path
    configs: Path
    trained_on: list[date]


def _configs(root: Path) -> Path:
    layers = {
        "holdout": {"key": "global_holdout", "share": 0.05, "salt": "ho"},
        "layers": [{"name": n, "salt": f"layer_{n}"} for n in ("recall", "prerank", "rank", "mix")],
    }
    doc = {
        "key": "rank_models",
        "layer": "rank",
        "buckets": [0, 6000],
        "variants": [
            {"key": k, "weight": 0.5, "params": {"model": ref}} for k, ref in MODELS.items()
        ],
        "status": "running",
        "start": f"{EXPERIMENT_DAY.isoformat()}T00:00:00Z",
        "end": "2026-01-07T00:00:00Z",
        "metrics": {"primary": "ctr", "secondary": ["cvr"], "guardrails": ["refund_rate"]},
        "owner": "tests",
    }
    interleaving = {
        **doc,
        "key": "rank_il",
        "type": "interleaving",
        "buckets": [6000, 8000],
        "variants": [
            {"key": k, "weight": 0.5, "params": {"model": ref}}
            for k, ref in zip(("ranker_a", "ranker_b"), MODELS.values(), strict=True)
        ],
    }
    root.mkdir()
    (root / "layers.yaml").write_text(yaml.safe_dump(layers, sort_keys=False))
    (root / "rank_models.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (root / "rank_il.yaml").write_text(yaml.safe_dump(interleaving, sort_keys=False))
    for key, buckets, refs in (
        ("rank_tr_aa", [8000, 9000], (MODELS["control"], MODELS["control"])),
        ("rank_tr", [9000, 10000], tuple(MODELS.values())),
    ):
        triggered = {
            **doc,
            "key": key,
            "buckets": buckets,
            "trigger": {"k": 10},
            "variants": [
                {"key": k, "weight": 0.5, "params": {"model": ref}}
                for k, ref in zip(MODELS, refs, strict=True)
            ],
        }
        (root / f"{key}.yaml").write_text(yaml.safe_dump(triggered, sort_keys=False))
    clear_configs()
    return root


def _train(day: date, trained_on: list[date]) -> None:
    """The ``on_day`` hook: on the experiment's first day, train both arms on days 1-3."""
    if day != EXPERIMENT_DAY:
        return
    import shoplab.features as sf
    from shoplab.models.registry import set_alias
    from shoplab.models.train import train_model

    sf.build_features()
    sf.apply_repo()
    train, valid = ("2026-01-01", "2026-01-03"), ("2026-01-03", "2026-01-04")
    champion = train_model("sim_ctr", "ranker_v1", "logreg", train, valid)
    challenger = train_model("sim_ctr", "ranker_v2", "lightgbm", train, valid)
    set_alias("sim_ctr", champion.version.version, "champion")
    set_alias("sim_ctr", challenger.version.version, "challenger")
    trained_on.append(day)


def _simulate(configs: Path, on_day: Any = None) -> None:
    from shoplab.simulator import ExperimentPolicy, simulate

    simulate(**WORLD, policy=ExperimentPolicy(load_layout(configs)), on_day=on_day)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelWorld]:
    base = tmp_path_factory.mktemp("model_rank")
    root = base / "data"
    root.mkdir()
    configs = _configs(base / "configs")
    trained_on: list[date] = []
    with using_data_root(root):
        clear_models()
        _simulate(configs, lambda day: _train(day, trained_on))
        import shoplab.features as sf

        sf.build_features()  # the whole log, as `shoplab features build` after the simulation
        sf.materialize(datetime.combine(DAY, datetime.min.time(), tzinfo=UTC))
        yield ModelWorld(root, configs, trained_on)
    clear_models()


def _day_frame(table: str) -> pl.DataFrame:
    from shoplab.core.paths import events_dir

    return pl.read_parquet(events_dir(table) / f"{DAY.isoformat()}.parquet")


def _sample_requests(n_early: int, n_late: int) -> pl.DataFrame:
    """Requests of DAY with their shown items: before 02:00 (short-term rows live) and after."""
    requests = _day_frame("requests")
    shown = _day_frame("impressions").group_by("request_id").agg(pl.col("item_id"))
    requests = requests.join(shown, on="request_id")
    two = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC).replace(hour=2)
    early = requests.filter(pl.col("ts") < two).head(n_early)
    late = requests.filter(pl.col("ts") >= two).sample(n_late, seed=1)
    return pl.concat([early, late])


@pytest.mark.parametrize("service", ["ranker_v1", "ranker_v2"])
def test_batch_features_equal_ranking_features(world: ModelWorld, service: str) -> None:
    """Every feature of every view (ttl nulls included) equals the online store's answer."""
    from shoplab.features import ranking_features
    from shoplab.features.repo import feature_store
    from shoplab.features.services import plan_service
    from shoplab.simulator.model_rank import DailyFeatures

    with using_data_root(world.root):
        plan = plan_service(feature_store(), service)
        batch_source = DailyFeatures(START)
        sample = _sample_requests(12, 18)
        rng = np.random.default_rng(0)
        compared = 0
        short_term_values = 0
        short_term_expired = 0
        for req in sample.iter_rows(named=True):
            # the shown items, plus random ones (some new since 00:00: no stats row at all)
            items = [*req["item_id"], *rng.integers(1, 700, 5).tolist()]
            n = len(items)
            ts_us = int(req["ts"].timestamp() * 1_000_000)
            online = ranking_features(
                req["user_id"], items, service, {"query": req["query"]} if service ==
                "ranker_v2" else None, as_of=req["ts"],
            )
            batch = batch_source.frame(
                plan, DAY, np.full(n, req["user_id"]), np.array(items), np.full(n, ts_us),
                pl.Series("query", [req["query"]] * n, dtype=pl.String),
            )
            assert_frame_equal(batch, online.select(batch.columns))
            compared += n
            if "user_short_term__clicks_1d" in batch.columns:
                short_term_values += batch["user_short_term__clicks_1d"].is_not_null().sum()
                short_term_expired += online["user_short_term__stale"].sum()
        assert compared > 300
        if service == "ranker_v2":
            # early requests see yesterday's short-term rows, later ones ttl nulls
            assert short_term_values > 0
            assert short_term_expired > 0
            assert set(plan.request_fields) == {"query"}


def test_model_variants_show_items_in_the_models_order(world: ModelWorld) -> None:
    """Shown items of a model-ranked request, per content type, follow the model's scores."""

    assert world.trained_on == [EXPERIMENT_DAY]  # the hook trained once, before the experiment
    with using_data_root(world.root):
        exposures = pl.read_parquet(world.root / "events" / "exposures" / "*.parquet").filter(
            pl.col("experiment") == "rank_models"
        )
        arm = dict(exposures.select("unit_id", "variant").unique().iter_rows())
        items = pl.read_parquet(world.root / "events" / "items" / "items.parquet")
        impressions = _day_frame("impressions").join(
            items.select("item_id", "content_type"), on="item_id"
        )
        requests = _day_frame("requests").filter(pl.col("user_id").is_in(list(arm)))
        checked = dict.fromkeys(MODELS, 0)
        for req in requests.head(60).iter_rows(named=True):
            variant = arm[req["user_id"]]
            shown = impressions.filter(pl.col("request_id") == req["request_id"])
            _assert_in_model_order(MODELS[variant], req, shown)
            checked[variant] += 1
        assert min(checked.values()) >= 10


def _assert_in_model_order(ref: str, req: dict[str, Any], shown: pl.DataFrame) -> None:
    """Per content type, ``shown`` (item_id, position, content_type) is in ``ref``'s score order,
    scored on the features ``ranking_features`` serves at the request's time."""
    from shoplab.features import ranking_features
    from shoplab.models.loaded import load, resolve_cached

    model = load(resolve_cached(ref))
    shown = shown.sort("position")
    fields = {"query": req["query"]} if model.spec.service == "ranker_v2" else None
    frame = ranking_features(
        req["user_id"], shown["item_id"], model.spec.service, fields, as_of=req["ts"]
    )
    scored = shown.with_columns(score=pl.Series(model.score(frame)))
    for _, part in scored.group_by("content_type"):
        scores = part.sort("position")["score"].to_numpy()
        assert np.all(np.diff(scores) <= 1e-12), (ref, req["request_id"], scores)


def test_interleaved_models_draft_their_own_orders(world: ModelWorld) -> None:
    """In ``rank_il`` each team's shown items, per content type, follow that team's model.

    Team-draft: each ranker's picks are a subsequence of its own ranked list, and the mixer
    keeps the ranked order within a content type, so the items a team drafted are in
    decreasing order of its model's scores, on the features served at the request's time.
    """

    refs = dict(zip(("ranker_a", "ranker_b"), MODELS.values(), strict=True))
    with using_data_root(world.root):
        items = pl.read_parquet(world.root / "events" / "items" / "items.parquet")
        teams = _day_frame("teams").join(items.select("item_id", "content_type"), on="item_id")
        assert set(teams["experiment"]) == {"rank_il"}
        assert set(teams["team"]) == set(refs)
        # the two models disagree: most slots are not both rankers' best unplaced item
        assert 0.0 < teams["contested"].mean() < 0.8  # type: ignore[operator]
        requests = _day_frame("requests").join(
            teams.select("request_id").unique(), on="request_id"
        ).sort("request_id")
        checked = dict.fromkeys(refs, 0)
        for req in requests.head(40).iter_rows(named=True):
            shown = teams.filter(pl.col("request_id") == req["request_id"]).sort("position")
            for team, ref in refs.items():
                mine = shown.filter(pl.col("team") == team)
                if mine.height >= 2:
                    _assert_in_model_order(ref, req, mine)
                    checked[team] += 1
        assert min(checked.values()) >= 10


def test_triggered_model_arms_replay_the_other_arms_model(world: ModelWorld) -> None:
    """The counterfactual list of a model arm is scored by the other arm's model: against an
    identical model it is the served list (no request triggers), against another model the top
    10 differs for most requests."""
    with using_data_root(world.root):
        triggers = pl.read_parquet(world.root / "events" / "triggers" / "*.parquet")
    rate = dict(triggers.group_by("experiment").agg(pl.col("triggered").mean()).iter_rows())
    counts = dict(triggers.group_by("experiment").len().iter_rows())
    assert set(rate) == {"rank_tr_aa", "rank_tr"}
    assert min(counts.values()) > 30  # requests of ~10 % of 3,000 users over 3 days
    assert rate["rank_tr_aa"] == 0.0
    assert rate["rank_tr"] > 0.5


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "events").rglob("*.parquet"))
    }


def test_same_models_same_files(world: ModelWorld) -> None:
    """Re-simulating with the registered models (no training hook) writes the same bytes."""
    with using_data_root(world.root):
        before = _hashes(world.root)
        clear_models()
        _simulate(world.configs)
        assert _hashes(world.root) == before


def test_demo_configs_deploy_the_two_models(tmp_path: Path) -> None:
    """The demo's config set validates and puts every rank-experiment user on a model."""
    from datetime import timedelta

    from shoplab.analysis.metrics import metric_names
    from shoplab.demo import DEMO_MODELS, demo_configs
    from shoplab.experiments import validate_all
    from shoplab.simulator import ExperimentPolicy
    from shoplab.simulator.params import PARAM_BOUNDS

    root = demo_configs(tmp_path / "experiments")
    exps = validate_all(root, metrics=metric_names(), param_bounds=PARAM_BOUNDS)
    rank = exps["rank_ranker_v2"]
    assert {v.key: v.params["model"] for v in rank.variants} == {
        k: f"ctr_ranker@{alias}" for k, (alias, _, _) in DEMO_MODELS.items()
    }
    day = rank.start.date() + timedelta(days=1)
    active = pl.DataFrame({"user_id": range(1, 2001)})
    decision = ExperimentPolicy(root)(day, active)
    refs = decision.params.filter(pl.col("rank_model").is_not_null())["rank_model"]
    assert set(refs) == {f"ctr_ranker@{alias}" for alias, _, _ in DEMO_MODELS.values()}
    assert len(DEMO_MODELS) == 3  # popularity, logreg v1, LightGBM v2
    assert 0.45 * 2000 < len(refs) < 0.7 * 2000  # traffic 0.6 of the non-holdout users


def test_a_rank_model_must_be_a_string() -> None:
    from shoplab.core.errors import InputError
    from shoplab.simulator.policy import PolicyDecision

    def policy(day: date, active: pl.DataFrame) -> PolicyDecision:
        params = active.select("user_id", rank_model=pl.lit(3.0))
        return PolicyDecision(params, pl.DataFrame(schema=_EXPOSURES))

    from shoplab.simulator.params import day_params
    from shoplab.simulator.run import world_of

    w = world_of(100, 50, 1)
    with pytest.raises(InputError, match="rank_model has dtype Float64, must be String"):
        day_params(policy, w, START, 0, np.arange(3), np.zeros(3, np.int64), 7)


_EXPOSURES = {"experiment": pl.String, "variant": pl.String, "unit_id": pl.Int64,
              "ts": pl.Datetime("us", "UTC")}


def _missing_model_configs(root: Path, *, interleaving: bool = False) -> Path:
    """A rank experiment whose treatment (ranker B) deploys a model never registered."""
    layers = {"layers": [{"name": n, "salt": f"layer_{n}"}
                         for n in ("recall", "prerank", "rank", "mix")]}
    doc = {
        "key": "rank_missing",
        "layer": "rank",
        "buckets": [0, 10000],
        "variants": [
            {"key": "control", "weight": 0.5, "params": {}},
            {"key": "treatment", "weight": 0.5, "params": {"model": "never_trained@challenger"}},
        ],
        "status": "running",
        "start": "2026-01-02T00:00:00Z",
        "end": "2026-01-04T00:00:00Z",
        "metrics": {"primary": "ctr", "guardrails": ["refund_rate"]},
        "owner": "tests",
    }
    if interleaving:
        doc["type"] = "interleaving"
        for v, key in zip(doc["variants"], ("ranker_a", "ranker_b"), strict=True):
            v["key"] = key
    root.mkdir()
    (root / "layers.yaml").write_text(yaml.safe_dump(layers, sort_keys=False))
    (root / "rank_missing.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    clear_configs()
    return root


@contextlib.contextmanager
def _missing_model_world(tmp_path: Path, *, interleaving: bool = False) -> Iterator[Path]:
    """1,500 users x 3 days under :func:`_missing_model_configs`, the data root set to it."""
    from shoplab.simulator import ExperimentPolicy, simulate

    configs = _missing_model_configs(tmp_path / "configs", interleaving=interleaving)
    root = tmp_path / "data"
    root.mkdir()
    with using_data_root(root):
        clear_models()
        simulate(users=1_500, items=300, days=3, seed=11, start=START,
                 policy=ExperimentPolicy(load_layout(configs)))
        yield root


def test_a_missing_ranker_b_is_counted_and_drafted_against_the_control(tmp_path: Path) -> None:
    """An interleaving experiment whose ranker B deploys a model never registered: B's every
    request is counted under ``ranker_b`` (brute force from the log) and ranked by the control
    ranker A, so each list is A's own (every slot contested) and its teams are still logged."""
    from shoplab.core.paths import events_dir, exposures_dir
    from shoplab.models.fallbacks import fallback_days

    with _missing_model_world(tmp_path, interleaving=True):
        days = fallback_days("rank_missing")
        teams = pl.read_parquet(events_dir("teams") / "*.parquet")
        req = pl.read_parquet(events_dir("requests") / "*.parquet").with_columns(
            day=pl.col("ts").dt.date())
        exp = pl.read_parquet(exposures_dir() / "**" / "*.parquet").filter(
            pl.col("experiment") == "rank_missing"
        )
    clear_models()
    assert set(exp["variant"]) == {"interleaved"}
    units = exp.select(pl.col("unit_id").alias("user_id"), day=pl.col("ts").dt.date()).unique()
    want = req.join(units, on=["user_id", "day"]).group_by("day").len().sort("day")
    assert want.height == 2
    assert {(e, v, m, r) for e, v, m, r, _, _ in days} == {
        ("rank_missing", "ranker_b", "never_trained@challenger", "not_found")
    }
    assert [(d, n) for *_, d, n in days] == list(want.iter_rows())
    assert teams["request_id"].n_unique() == want["len"].sum()  # every request drafted
    assert teams["contested"].all()  # A against itself
    assert set(teams["team"]) == {"ranker_a", "ranker_b"}  # the coin flips still credit both


def test_a_missing_treatment_model_falls_back_and_fails_the_guardrail(tmp_path: Path) -> None:
    """The simulator serves the treatment with the control ranker, counts every request (brute
    force from the log), and the scorecard's fallback_rate row fails the decision."""
    from shoplab import sdk
    from shoplab.analysis.decision import FALLBACK_METRIC
    from shoplab.analysis.engine import analyze
    from shoplab.core.paths import events_dir, exposures_dir
    from shoplab.events import load_events
    from shoplab.models.fallbacks import fallback_days

    with _missing_model_world(tmp_path):
        load_events()
        days = fallback_days("rank_missing")
        assert {(e, v, m, r) for e, v, m, r, _, _ in days} == {
            ("rank_missing", "treatment", "never_trained@challenger", "not_found")
        }
        # brute force: every request of a treatment-exposed user on an experiment day
        req = pl.read_parquet(events_dir("requests") / "*.parquet").with_columns(
            day=pl.col("ts").dt.date())
        exp = pl.read_parquet(exposures_dir() / "**" / "*.parquet").filter(
            (pl.col("experiment") == "rank_missing") & (pl.col("variant") == "treatment")
        ).select(pl.col("unit_id").alias("user_id"), day=pl.col("ts").dt.date()).unique()
        want = req.join(exp, on=["user_id", "day"]).group_by("day").len().sort("day")
        assert [(d, n) for *_, d, n in days] == list(want.iter_rows())
        layout = load_layout(tmp_path / "configs")
        card = analyze(layout.experiments["rank_missing"], daily=False,
                       fallbacks=sdk._fallbacks("rank_missing"))
    row = card.row(FALLBACK_METRIC, "treatment")
    assert row.role == "guardrail"
    assert row.control_value == 0.0
    assert row.treatment_value is not None
    assert row.treatment_value == pytest.approx(want["len"].sum() / row.n_treatment)
    assert row.treatment_value > 0.99  # every treatment request fell back
    assert row.detail.endswith("FAIL (treatment)")
    assert card.decision is not None
    assert card.decision.decision in ("don't ship", "stop for harm")
    assert any(r.startswith(f"treatment: guardrail {FALLBACK_METRIC} failed") for r in
               card.decision.reasons)
    from shoplab.analysis.render import render_rich

    assert list(render_rich(card))  # the row renders like any other


class _FailingModel:
    """Builds a pyfunc whose ``predict`` raises on frames of more than ``limit`` rows."""

    @staticmethod
    def make(limit: int) -> Any:
        import mlflow.pyfunc

        class Failing(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
            """Fails like a broken model in production: a RuntimeError from predict."""

            _skip_type_hint_validation = True

            def __init__(self, limit: int) -> None:
                self.limit = limit

            def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
                if len(model_input) > self.limit:
                    raise RuntimeError(f"broken model: {len(model_input)} rows")
                return model_input["item_stats__price"].fillna(0.0).to_numpy()

        return Failing(limit)


def _failing_configs(root: Path, ref: str) -> Path:
    """A rank experiment from day 2: control on the hand weights, treatment on ``ref``."""
    layers = {"layers": [{"name": n, "salt": f"layer_{n}"}
                         for n in ("recall", "prerank", "rank", "mix")]}
    doc = {
        "key": "rank_failing",
        "layer": "rank",
        "buckets": [0, 10000],
        "variants": [
            {"key": "control", "weight": 0.5, "params": {}},
            {"key": "treatment", "weight": 0.5, "params": {"model": ref}},
        ],
        "status": "running",
        "start": "2026-01-02T00:00:00Z",
        "end": "2026-01-04T00:00:00Z",
        "metrics": {"primary": "ctr", "guardrails": ["refund_rate"]},
        "owner": "tests",
    }
    root.mkdir()
    (root / "layers.yaml").write_text(yaml.safe_dump(layers, sort_keys=False))
    (root / "rank_failing.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    clear_configs()
    return root


@pytest.mark.parametrize(
    ("limit", "where"),
    [(0, "cannot score"), (32, "failed to score")],  # 32: the probe's 2 x 16 rows pass
    ids=["fails-on-every-frame", "fails-only-on-served-chunks"],
)
def test_a_model_failing_while_scoring_falls_back_and_is_counted(
    tmp_path: Path, limit: int, where: str
) -> None:
    """A registered pyfunc that raises in ``predict`` does not stop ``simulate``: every
    treatment request is served by the control ranker and counted per day (brute force from
    the log), whether it fails on the prepare-time probe or only on the served chunks."""
    from shoplab.core.paths import events_dir, exposures_dir
    from shoplab.models.fallbacks import fallback_counts, fallback_days
    from shoplab.models.ranker import FeatureSpec
    from shoplab.models.registry import register
    from shoplab.simulator import ExperimentPolicy, simulate

    ref = "broken_ranker/1"
    configs = _failing_configs(tmp_path / "configs", ref)
    root = tmp_path / "data"
    root.mkdir()

    def deploy(day: date) -> None:
        if day != date(2026, 1, 2):
            return
        import shoplab.features as sf

        sf.build_features()
        sf.apply_repo()
        spec = FeatureSpec("ranker_v1", ("item_stats__price",), (("item_stats__price", "Float64"),),
                           ("item_stats__price",))
        assert register("broken_ranker", _FailingModel.make(limit), spec).ref == ref

    with using_data_root(root):
        clear_models()
        simulate(users=1_000, items=300, days=3, seed=11, start=START,
                 policy=ExperimentPolicy(load_layout(configs)), on_day=deploy)
        days = fallback_days("rank_failing")
        messages = {c.last_message for c in fallback_counts() if c.experiment == "rank_failing"}
        req = pl.read_parquet(events_dir("requests") / "*.parquet").with_columns(
            day=pl.col("ts").dt.date())
        exp = pl.read_parquet(exposures_dir() / "**" / "*.parquet").filter(
            (pl.col("experiment") == "rank_failing") & (pl.col("variant") == "treatment")
        ).select(pl.col("unit_id").alias("user_id"), day=pl.col("ts").dt.date()).unique()
        want = req.join(exp, on=["user_id", "day"]).group_by("day").len().sort("day")
    clear_models()
    assert {(e, v, m, r) for e, v, m, r, _, _ in days} == {
        ("rank_failing", "treatment", ref, "predict_error")
    }
    assert want.height == 2  # both experiment days served treatment requests
    assert [(d, n) for *_, d, n in days] == list(want.iter_rows())
    assert len(messages) == 1
    message = messages.pop()
    assert where in message
    assert "RuntimeError" in message
    assert "broken model" in message


def test_the_true_ctr_ceiling_beats_the_trained_models_and_is_calibrated(
    world: ModelWorld,
) -> None:
    """On the models' own valid window (day 3, before the experiment): ranking by the true
    P(click) orders clicks better than either model, and its mean equals the observed CTR
    within 4 binomial standard errors (it is the probability the clicks were drawn from)."""
    from shoplab.features import training_labels
    from shoplab.models.registry import get_version
    from shoplab.simulator import world_of
    from shoplab.simulator.model_rank import true_ctr_ceiling
    from shoplab.simulator.oracle import true_click_probability

    valid = ("2026-01-03", "2026-01-04")
    w = world_of(WORLD["users"], WORLD["items"], WORLD["days"], WORLD["seed"], WORLD["start"])
    top = true_ctr_ceiling(valid, w)
    labels = training_labels(*valid)
    assert top.rows == labels.height
    assert top.positives == int(labels["clicked"].sum())
    for ref in MODELS.values():
        m = get_version(ref).metrics
        assert m["rows"] == top.rows  # the same window
        assert top.gauc is not None
        assert top.gauc > m["gauc"]
        assert top.ndcg_at_10 is not None
        assert top.ndcg_at_10 > m["ndcg_at_10"]
        assert top.log_loss < m["log_loss"]
    p = true_click_probability(w, labels, labels.select("request_id", "query").unique())
    se = float(np.sqrt(np.sum(p * (1 - p)))) / labels.height
    assert abs(float(p.mean()) - top.positives / top.rows) < 4 * se
    predicted = sum(b.predicted * b.n for b in top.calibration) / top.rows
    # the simulator's probabilities are float32: bin means and the mean differ in the 8th digit
    assert predicted == pytest.approx(float(p.mean()), rel=1e-6)
