"""Interleaving analysis (``analysis.interleaving``) on hand-built team logs.

The oracle for the preference Δ and its interval is computed here independently: per-user sums
with Polars from the same rows, the delta method in NumPy, and statsmodels' OLS of the
request-level ±1/0 outcome on an intercept with user-clustered errors (the same variance, see the
module docstring). A log where B's slots are clicked more must make B win; a log without teams
rows of the experiment is a clear error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from shoplab.analysis.interleaving import (
    OUTCOMES,
    PreferenceRow,
    analyze_interleaving,
    interleaving_decision,
    preference_from_units,
    preference_row,
)
from shoplab.analysis.unit_query import EventTableMissingError
from tests.analysis.builders import START, Exp, make_experiment, mark_validated, write_table

K = 6


@dataclass(frozen=True)
class ILExp(Exp):
    type: str = "interleaving"


def il_experiment(key: str = "rank_il", days: int = 14) -> ILExp:
    base = make_experiment(key, days=days)
    variants = [type(base.variants[0])("ranker_a", 0.5), type(base.variants[0])("ranker_b", 0.5)]
    return ILExp(base.key, base.layer, variants, base.start, base.end, base.status, base.metrics)


class Log(NamedTuple):
    teams: pl.DataFrame
    clicks: pl.DataFrame
    orders: pl.DataFrame


def write_il_log(
    root: Path, *, users: int, p_a: float, p_b: float, seed: int, key: str = "rank_il"
) -> Log:
    """Requests of ``K`` slots, teams by coin flips per round, clicks with per-team rates."""
    rng = np.random.default_rng(seed)
    per_user = rng.integers(1, 9, users)
    user = np.repeat(np.arange(1, users + 1), per_user)
    n = user.size
    rid = np.arange(1, n + 1)
    t_us = rng.integers(0, 13 * 86_400, n) * 1_000_000
    first_a = rng.random((n, K // 2)) < 0.5  # per round: does A pick first?
    team_b = np.repeat(~first_a, 2, axis=1)
    team_b[:, 1::2] = first_a
    contested = rng.random((n, K)) < 0.2
    taste = rng.normal(0, 0.6, users + 1)[user]  # user heterogeneity: clustering matters
    p = np.where(team_b, p_b, p_a) * np.exp(taste)[:, None] * (0.9 ** np.arange(K))
    clicked = rng.random((n, K)) < np.clip(p, 0, 1)
    item = rng.permuted(np.tile(np.arange(1, 40), (n, 1)), axis=1)[:, :K]
    ts = [START + timedelta(microseconds=int(x)) for x in t_us]
    teams = pl.DataFrame(
        {
            "request_id": np.repeat(rid, K),
            "user_id": np.repeat(user, K),
            "item_id": item.reshape(-1),
            "position": np.tile(np.arange(K), n).astype(np.int32),
            "ts": np.repeat(np.array(ts, dtype=object), K).tolist(),
            "experiment": key,
            "team": np.where(team_b.reshape(-1), "ranker_b", "ranker_a"),
            "contested": contested.reshape(-1),
        }
    )
    flat = clicked.reshape(-1)
    clicks = teams.filter(pl.Series(flat)).select(
        "request_id", "user_id", "item_id", pl.col("ts") + pl.duration(seconds=30)
    )
    ordered = rng.random(clicks.height) < 0.2
    orders = (
        clicks.filter(pl.Series(ordered))
        .with_columns(
            order_id=pl.int_range(1, int(ordered.sum()) + 1, dtype=pl.Int64),
            ts=pl.col("ts") + pl.duration(minutes=5),
            quantity=pl.lit(1, pl.Int32),
            gmv=pl.Series(np.round(rng.uniform(5, 50, int(ordered.sum())), 2)),
            refunded=pl.Series(rng.random(int(ordered.sum())) < 0.1),
        )
        .select("order_id", "request_id", "user_id", "item_id", "ts", "quantity", "gmv", "refunded")
    )
    write_table(root, "teams", teams.to_dict(as_series=False), "part-0")
    write_table(root, "clicks", clicks.to_dict(as_series=False), "part-0")
    write_table(root, "orders", orders.to_dict(as_series=False), "part-0")
    mark_validated(root)
    return Log(teams, clicks, orders)


def user_sums(log: Log) -> pl.DataFrame:
    """Per user: requests, wins and credit differences (B − A), from the rows (Polars)."""
    o = log.orders.group_by("request_id", "item_id").agg(
        orders=pl.len(), gmv=pl.when(pl.col("refunded")).then(0.0).otherwise("gmv").sum()
    )
    imp = (
        log.teams.join(
            log.clicks.select("request_id", "item_id", click=pl.lit(1)),
            on=["request_id", "item_id"],
            how="left",
        )
        .join(o, on=["request_id", "item_id"], how="left")
        .with_columns(
            pl.col("click", "orders", "gmv").fill_null(0),
            sgn=pl.when(pl.col("team") == "ranker_b").then(1).otherwise(-1),
        )
    )
    req = (
        imp.group_by("user_id", "request_id")
        .agg(
            clicks=(pl.col("click") * pl.col("sgn")).sum(),
            orders=(pl.col("orders") * pl.col("sgn")).sum(),
            gmv=(pl.col("gmv") * pl.col("sgn")).sum(),
            contested_clicks=(pl.col("click") * pl.col("contested")).sum(),
            uncontested=(pl.col("click") * pl.col("sgn") * ~pl.col("contested")).sum(),
        )
        .with_columns(wins=pl.col("clicks").sign(), wins_uncontested=pl.col("uncontested").sign())
    )
    return (
        req.group_by("user_id")
        .agg(
            pl.len().alias("n"),
            pl.col("wins", "wins_uncontested", "clicks", "orders", "gmv", "contested_clicks").sum(),
        )
        .sort("user_id")
    )


@pytest.fixture
def b_better(data_root: Path) -> Log:
    return write_il_log(data_root, users=1_500, p_a=0.05, p_b=0.065, seed=3)


@pytest.mark.parametrize("outcome", ["wins", "wins_uncontested", "clicks", "orders", "gmv"])
def test_delta_and_interval_equal_numpy_and_statsmodels(b_better: Log, outcome: str) -> None:
    card = analyze_interleaving(il_experiment(), as_of=START + timedelta(days=14))
    row = card.row(outcome)  # type: ignore[arg-type]
    u = user_sums(b_better)
    d, n = u[outcome].to_numpy().astype(float), u["n"].to_numpy().astype(float)
    delta = d.sum() / n.sum()
    lin = (d - delta * n) / n.mean()  # the linearized per-user value of the ratio
    se = np.sqrt(lin.var(ddof=1) / d.size)
    assert row.users == d.size
    assert row.requests == n.sum()
    assert row.delta == pytest.approx(delta, rel=1e-12, abs=1e-15)
    assert row.se == pytest.approx(se, rel=1e-9)
    z = sps.norm.ppf(0.975)
    assert (row.ci_lower, row.ci_upper) == pytest.approx((delta - z * se, delta + z * se), rel=1e-9)
    assert row.pvalue == pytest.approx(2 * sps.norm.sf(abs(delta) / se), rel=1e-8, abs=1e-300)
    # statsmodels: request-level outcome on an intercept, clustered by user
    req = b_better.teams.select("request_id", "user_id").unique().sort("request_id")
    per_req = _request_outcome(b_better, outcome, req)
    fit = sm.OLS(per_req, np.ones(per_req.size)).fit(
        cov_type="cluster", cov_kwds={"groups": req["user_id"].to_numpy()}
    )
    assert row.delta == pytest.approx(float(fit.params[0]), rel=1e-10)
    assert row.se == pytest.approx(float(fit.bse[0]), rel=1e-9)


def _request_outcome(log: Log, outcome: str, req: pl.DataFrame) -> np.ndarray:
    """The per-request B − A credit (wins: its sign on clicks), aligned with ``req``."""
    o = log.orders.group_by("request_id", "item_id").agg(
        orders=pl.len(), gmv=pl.when(pl.col("refunded")).then(0.0).otherwise("gmv").sum()
    )
    imp = (
        log.teams.join(
            log.clicks.select("request_id", "item_id", clicks=pl.lit(1)),
            on=["request_id", "item_id"],
            how="left",
        )
        .join(o, on=["request_id", "item_id"], how="left")
        .with_columns(
            pl.col("clicks", "orders", "gmv").fill_null(0),
            sgn=pl.when(pl.col("team") == "ranker_b").then(1).otherwise(-1),
            # wins_uncontested: a contested slot's click is credited to neither
            keep=~pl.col("contested") if outcome == "wins_uncontested" else pl.lit(True),
        )
    )
    col = "clicks" if outcome.startswith("wins") else outcome
    per = imp.group_by("request_id").agg(v=(pl.col(col) * pl.col("sgn") * pl.col("keep")).sum())
    v = req.join(per, on="request_id", how="left")["v"].to_numpy().astype(float)
    return np.sign(v) if outcome.startswith("wins") else v


def test_b_better_wins_and_ships(b_better: Log) -> None:
    card = analyze_interleaving(il_experiment(), as_of=START + timedelta(days=14))
    wins = card.row("wins")
    assert card.status == "ok"
    assert card.trustworthy
    assert wins.delta is not None
    assert wins.ci_lower is not None
    assert wins.ci_lower > 0
    assert card.wins_b > card.wins_a
    assert card.wins_a + card.wins_b + card.ties == card.requests
    assert card.win_rate_b == pytest.approx(card.wins_b / card.requests)
    assert card.decision.decision == "ship"
    assert card.decision.horizon == "fixed-horizon"
    u = user_sums(b_better)
    assert card.contested_clicks == int(u["contested_clicks"].sum())
    assert card.clicks == b_better.clicks.height
    assert card.impressions == b_better.teams.height


def test_a_a_log_keeps_running_before_the_end(data_root: Path) -> None:
    write_il_log(data_root, users=800, p_a=0.06, p_b=0.06, seed=5)
    card = analyze_interleaving(il_experiment(), as_of=START + timedelta(days=7))
    # before the planned end: the always-valid interval is read and it is wider
    wins = card.row("wins")
    assert wins.cs_lower is not None
    assert wins.ci_lower is not None
    assert wins.cs_lower < wins.ci_lower
    assert wins.cs_upper > wins.ci_upper
    assert card.decision.horizon == "always-valid"
    assert card.decision.decision == "keep running"


def test_no_teams_rows_names_the_experiment(data_root: Path) -> None:
    write_il_log(data_root, users=50, p_a=0.06, p_b=0.06, seed=1, key="other_il")
    with pytest.raises(EventTableMissingError, match="experiment == 'rank_il'.*no rows"):
        analyze_interleaving(il_experiment(), as_of=START + timedelta(days=14))


def test_no_teams_table_is_a_clear_error(data_root: Path) -> None:
    write_table(
        data_root,
        "clicks",
        {"request_id": [1], "user_id": [1], "item_id": [1], "ts": [START]},
        "part-0",
    )
    mark_validated(data_root)
    with pytest.raises(EventTableMissingError, match="experiment == 'rank_il'.*'teams'"):
        analyze_interleaving(il_experiment(), as_of=START + timedelta(days=14))


def test_hand_checkable_row() -> None:
    # d = (1, 0, 2), n = (1, 2, 3): Δ = 3/6, s²(d) = 1, s²(n) = 1, s(d, n) = 0.5,
    # Var = (1 − 2·0.5·0.5 + 0.25·1) / (3 · 2²) = 0.0625
    s = preference_from_units(np.array([1.0, 0.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    r = preference_row("wins", s)
    assert (r.delta, r.se) == pytest.approx((0.5, 0.25), rel=1e-12)
    assert r.pvalue == pytest.approx(2 * sps.norm.sf(2.0))
    zero = preference_row("wins", preference_from_units(np.zeros(4), np.ones(4)))
    assert zero.status == "zero_variance"
    assert zero.pvalue is None


@pytest.mark.parametrize(
    ("lo", "hi", "interim", "expected"),
    [
        (0.01, 0.03, False, "ship"),
        (-0.03, -0.01, False, "don't ship"),
        (-0.01, 0.03, False, "don't ship"),
        (-0.01, 0.03, True, "keep running"),
        (0.01, 0.03, True, "ship"),
    ],
)
def test_decision_table(lo: float, hi: float, interim: bool, expected: str) -> None:
    row = PreferenceRow(
        outcome="wins",
        status="ok",
        users=100,
        requests=500,
        credit_a=1,
        credit_b=2,
        delta=(lo + hi) / 2,
        ci_lower=lo,
        ci_upper=hi,
        cs_lower=lo,
        cs_upper=hi,
        pvalue=0.5,
    )
    end = START + timedelta(days=14)
    got = interleaving_decision(
        row,
        ranker_b="b",
        trustworthy=True,
        status="ok",
        as_of=end - timedelta(days=int(interim)),
        end=end,
        alpha=0.05,
    )
    assert got.decision == expected
    untrusted = interleaving_decision(
        row,
        ranker_b="b",
        trustworthy=False,
        status="unvalidated_log",
        as_of=end,
        end=end,
        alpha=0.05,
    )
    assert untrusted.decision == "don't ship"
    assert "unvalidated_log" in untrusted.reasons[0]


_IL_YAML = """\
key: rank_il
layer: rank
type: interleaving
traffic: 0.2
owner: ranking-team
status: running
start: 2026-01-08T00:00:00Z
end: 2026-01-22T00:00:00Z
variants:
  - key: ranker_a
    weight: 0.5
    params: {}
  - key: ranker_b
    weight: 0.5
    params: {rank_w_quality: 1.4}
metrics:
  primary: ctr
"""


@pytest.fixture
def il_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config directory with the layers and one interleaving experiment, ``rank_il``."""
    configs = tmp_path / "configs"
    configs.mkdir()
    layers = Path(__file__).parents[2] / "experiments" / "configs" / "layers.yaml"
    (configs / "layers.yaml").write_text(layers.read_text())
    (configs / "rank_il.yaml").write_text(_IL_YAML)
    monkeypatch.setenv("SHOPLAB_EXPERIMENTS", str(configs))
    return configs


def test_cli_sdk_and_json_dispatch_on_type(
    b_better: Log, il_configs: Path, data_root: Path
) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from shoplab import sdk
    from shoplab.analysis.engine import analyze
    from shoplab.analysis.interleaving import InterleavingScorecard
    from shoplab.analysis_cli import register
    from shoplab.core.errors import InputError

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    res = runner.invoke(app, ["analyze", "rank_il", "--format", "json", "--as-of", "2026-01-21"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert got["type"] == "interleaving"
    assert [r["outcome"] for r in got["rows"]] == list(OUTCOMES)
    assert got["decision"]["decision"] == "ship"
    saved = data_root / "scorecards" / "rank_il.json"
    card = InterleavingScorecard.model_validate_json(saved.read_text())
    direct = sdk.analyze_interleaving("rank_il", as_of="2026-01-21")
    assert card.row("wins").delta == direct.row("wins").delta
    res = runner.invoke(
        app, ["analyze", "rank_il", "--format", "markdown", "--as-of", "2026-01-21"]
    )
    assert res.exit_code == 0, res.output
    assert "Interleaving scorecard: rank_il" in res.stdout
    assert "| wins |" in res.stdout
    assert "decision: SHIP" in res.stdout
    res = runner.invoke(app, ["analyze", "rank_il", "--triggered"])
    assert res.exit_code != 0
    assert "interleaving" in res.output
    with pytest.raises(InputError, match="type == 'interleaving'.*analyze_interleaving"):
        analyze(sdk.experiment("rank_il"), as_of="2026-01-21")


def test_interleaving_units_are_the_scorecards_per_user_rows(b_better: Log) -> None:
    from shoplab.analysis.interleaving import interleaving_units

    units = interleaving_units(il_experiment(), as_of=START + timedelta(days=14))
    oracle = user_sums(b_better)
    assert units["user_id"].to_list() == oracle["user_id"].to_list()
    assert units["n"].to_list() == oracle["n"].to_list()
    for out in ("wins", "wins_uncontested", "clicks", "orders"):
        got = (units[f"{out}_b"] - units[f"{out}_a"]).to_numpy()
        np.testing.assert_array_equal(got, oracle[out].to_numpy(), err_msg=out)
    np.testing.assert_allclose(
        (units["gmv_b"] - units["gmv_a"]).to_numpy(), oracle["gmv"].to_numpy(), rtol=1e-12
    )
    # the scorecard's row is the ratio of these users' sums
    card = analyze_interleaving(il_experiment(), as_of=START + timedelta(days=14))
    d = (units["wins_uncontested_b"] - units["wins_uncontested_a"]).to_numpy().astype(float)
    assert card.row("wins_uncontested").delta == pytest.approx(d.sum() / units["n"].sum())
