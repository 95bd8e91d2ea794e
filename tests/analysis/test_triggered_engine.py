"""``analyze(..., triggered=True)``: the SQL path of the triggered analysis on a hand-built log.

The log: 4,000 users, a treatment that raises the click rate by 30 % only for the ~20 % of users
whose lists it changes, and only from their first triggered request on. Checks: the SQL path
equals ``analysis.triggered.triggered_effect`` on per-user arrays computed here independently
(Polars), to 1e-12; the ratio metric (CTR) equals a NumPy delta-method computation of the
denominator-share dilution; the triggered interval is clearly narrower and the diluted effect
agrees with the untriggered scorecard row; no triggers rows is a clear error.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from shoplab.analysis.engine import analyze
from shoplab.analysis.scorecard import Scorecard
from shoplab.analysis.triggered import triggered_effect
from shoplab.analysis.unit_query import EventTableMissingError
from tests.analysis.builders import START, make_experiment, mark_validated, write_table

SLATE = 8


class Log(NamedTuple):
    exposures: pl.DataFrame
    triggers: pl.DataFrame
    impressions: pl.DataFrame
    clicks: pl.DataFrame
    orders: pl.DataFrame


def write_triggered_log(
    root: Path, *, users: int = 4_000, lift: float = 0.30, seed: int = 7, trigger_share: float = 0.2
) -> Log:
    rng = np.random.default_rng(seed)
    n_req = rng.integers(3, 15, users)
    user = np.repeat(np.arange(1, users + 1), n_req)
    n = user.size
    rid = np.arange(1, n + 1)
    # requests of a user in time order over the 14 days
    t = rng.integers(0, 14 * 86_400, n) * 1_000_000
    t = t[np.lexsort((t, user))]  # ``user`` is sorted: this sorts the times within each user
    idx = np.arange(n) - np.repeat(np.cumsum(n_req) - n_req, n_req)  # request index per user
    treated_u = rng.random(users + 1) < 0.5
    trig_u = rng.random(users + 1) < trigger_share
    first_trig = (rng.random(users + 1) * n_req.max()).astype(int) % np.r_[1, n_req]
    j = first_trig[user]
    after = trig_u[user] & (idx >= j)
    triggered = after & ((idx == j) | (rng.random(n) < 0.7))
    ts = pl.Series(int(START.timestamp()) * 1_000_000 + t).cast(pl.Datetime("us", "UTC"))
    first_ts = pl.DataFrame({"user_id": user, "ts": ts}).group_by("user_id").agg(pl.col("ts").min())
    exposures = first_ts.select(
        experiment=pl.lit("trig_rank"),
        variant=pl.Series(
            np.where(treated_u[first_ts["user_id"].to_numpy()], "treatment", "control")
        ),
        unit_id="user_id",
        ts="ts",
    )
    triggers = pl.DataFrame(
        {
            "request_id": rid,
            "user_id": user,
            "ts": ts,
            "experiment": "trig_rank",
            "variant": np.where(treated_u[user], "treatment", "control"),
            "k": np.full(n, 10, dtype=np.int32),
            "triggered": triggered,
        }
    )
    base_p = rng.beta(2, 30, users + 1)[user]  # per-user click rate: heterogeneous
    p = base_p * np.where(after & treated_u[user], 1 + lift, 1.0)
    clicked = rng.random((n, SLATE)) < p[:, None]
    item = rng.permuted(np.tile(np.arange(1, 60), (n, 1)), axis=1)[:, :SLATE]
    impressions = pl.DataFrame(
        {
            "request_id": np.repeat(rid, SLATE),
            "user_id": np.repeat(user, SLATE),
            "item_id": item.reshape(-1),
            "position": np.tile(np.arange(SLATE), n).astype(np.int32),
            "ts": ts.gather(np.repeat(np.arange(n), SLATE)),
        }
    )
    clicks = impressions.filter(pl.Series(clicked.reshape(-1))).select(
        "request_id", "user_id", "item_id", pl.col("ts") + pl.duration(seconds=20)
    )
    bought = rng.random(clicks.height) < 0.3
    orders = (
        clicks.filter(pl.Series(bought))
        .with_columns(
            order_id=pl.int_range(1, int(bought.sum()) + 1, dtype=pl.Int64),
            ts=pl.col("ts") + pl.duration(minutes=3),
            quantity=pl.lit(1, pl.Int32),
            gmv=pl.lit(10.0),
            refunded=pl.lit(False),
        )
        .select("order_id", "request_id", "user_id", "item_id", "ts", "quantity", "gmv", "refunded")
    )
    log = Log(exposures, triggers, impressions, clicks, orders)
    for name, df in zip(Log._fields, log, strict=True):
        write_table(root, name, df.to_dict(as_series=False), "part-0")
    mark_validated(root)
    return log


def per_user(log: Log) -> pl.DataFrame:
    """Per user: arm, triggered, and clicks / impressions / orders from ``from_ts`` (Polars)."""
    first = log.triggers.filter("triggered").group_by("user_id").agg(trig_ts=pl.col("ts").min())
    u = (
        log.exposures.select(user_id="unit_id", variant="variant", first_ts="ts")
        .join(first, on="user_id", how="left")
        .with_columns(
            triggered=pl.col("trig_ts").is_not_null(),
            from_ts=pl.max_horizontal("first_ts", "trig_ts"),
        )
    )
    out = u
    for name, df in (
        ("impressions", log.impressions),
        ("clicks", log.clicks),
        ("orders", log.orders),
    ):
        c = (
            df.join(u.select("user_id", "from_ts"), on="user_id")
            .filter(pl.col("ts") >= pl.col("from_ts"), pl.col("ts") < START + timedelta(days=14))
            .group_by("user_id")
            .agg(pl.len().alias(name))
        )
        out = out.join(c, on="user_id", how="left")
    return out.with_columns(pl.col("impressions", "clicks", "orders").fill_null(0)).sort("user_id")


@pytest.fixture(scope="module")
def trig_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Log]:
    """The log, written once for the module (≈ 2 s)."""
    root = tmp_path_factory.mktemp("triggered")
    return root, write_triggered_log(root)


@pytest.fixture
def trig_log(trig_world: tuple[Path, Log], monkeypatch: pytest.MonkeyPatch) -> Log:
    monkeypatch.setenv("SHOPLAB_DATA", str(trig_world[0]))
    return trig_world[1]


def _analyze(**kw: object) -> Scorecard:
    exp = make_experiment("trig_rank", primary="ctr", secondary=("orders_per_user",), guardrails=())
    return analyze(
        exp,
        as_of=START + timedelta(days=14),
        cuped=False,
        interactions=False,
        daily=False,
        triggered=True,
        **kw,
    )  # type: ignore[arg-type]


def test_sql_path_equals_triggered_effect_on_the_same_arrays(trig_log: Log) -> None:
    card = _analyze()
    row = next(r for r in card.triggered if r.metric == "orders_per_user")
    u = per_user(trig_log)
    e = triggered_effect(
        u["orders"].to_numpy().astype(float),
        (u["variant"] == "treatment").to_numpy(),
        u["triggered"].to_numpy(),
    )
    assert row.status == "ok"
    assert row.units == u.height
    assert row.triggered_units == int(u["triggered"].sum())
    for got, want in (
        (row.trigger_rate, e.trigger_rate),
        (row.dilution, e.trigger_rate),
        (row.triggered_effect, e.triggered),
        (row.triggered_se, e.triggered_se),
        (row.diluted_effect, e.diluted),
        (row.diluted_se, e.diluted_se),
        (row.untriggered_effect, e.untriggered),
        (row.untriggered_se, e.untriggered_se),
        (row.width_ratio, e.width_ratio),
        (row.pvalue, e.p_value),
    ):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
    lo, hi = e.interval("diluted")
    assert (row.diluted_ci_lower, row.diluted_ci_upper) == pytest.approx((lo, hi), rel=1e-12)


def _ratio(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    r = num.sum() / den.sum()
    lin = (num - r * den) / den.mean()
    return r, lin.var(ddof=1) / num.size


def test_ratio_metric_dilutes_by_the_denominator_share(trig_log: Log) -> None:
    card = _analyze()
    row = next(r for r in card.triggered if r.metric == "ctr")
    u = per_user(trig_log)
    c, i = u["clicks"].to_numpy().astype(float), u["impressions"].to_numpy().astype(float)
    t, trig = (u["variant"] == "treatment").to_numpy(), u["triggered"].to_numpy()
    (rt, vt), (rc, vc) = _ratio(c[t & trig], i[t & trig]), _ratio(c[~t & trig], i[~t & trig])
    d_t, se_t = rt - rc, np.sqrt(vt + vc)
    s = i[trig].sum() / i.sum()
    lin_s = i * (trig - s) / i.mean()
    var_s = lin_s.var(ddof=0) / i.size
    se_d = np.sqrt(s * s * se_t**2 + d_t**2 * var_s)
    (at, vat), (ac, vac) = _ratio(c[t], i[t]), _ratio(c[~t], i[~t])
    assert row.dilution == pytest.approx(s, rel=1e-12)
    assert row.triggered_effect == pytest.approx(d_t, rel=1e-10)
    assert row.triggered_se == pytest.approx(se_t, rel=1e-10)
    assert row.diluted_se == pytest.approx(se_d, rel=1e-10)
    assert row.untriggered_effect == pytest.approx(at - ac, rel=1e-10)
    assert row.untriggered_se == pytest.approx(np.sqrt(vat + vac), rel=1e-10)
    assert row.pvalue == pytest.approx(2 * sps.norm.sf(abs(d_t) / se_t), rel=1e-8)


def test_triggered_interval_is_narrower_and_diluted_agrees_with_untriggered(
    trig_log: Log,
) -> None:
    card = _analyze()
    for metric in ("ctr", "orders_per_user"):
        row = next(r for r in card.triggered if r.metric == metric)
        scorecard_row = card.row(metric)
        assert row.trigger_rate == pytest.approx(0.2, abs=0.03)
        assert row.width_ratio is not None
        assert row.width_ratio < 0.75, row.width_ratio
        # the diluted effect estimates what the untriggered (whole-window) row estimates
        assert row.diluted_ci_lower is not None
        assert row.diluted_ci_upper is not None
        assert scorecard_row.abs_effect is not None
        assert row.diluted_ci_lower <= scorecard_row.abs_effect <= row.diluted_ci_upper
        # the treatment works on triggered users: clearly detected there
        assert row.triggered_ci_lower is not None
        assert row.triggered_ci_lower > 0
    assert card.row("ctr").abs_ci_lower is not None


def test_not_triggered_leaves_the_section_empty(trig_log: Log) -> None:
    exp = make_experiment("trig_rank", primary="ctr", secondary=(), guardrails=())
    card = analyze(exp, as_of=START + timedelta(days=14), cuped=False, daily=False)
    assert card.triggered == []


@pytest.mark.parametrize("with_triggers_table", [True, False])
def test_no_triggers_rows_is_a_clear_error(data_root: Path, with_triggers_table: bool) -> None:
    exp = make_experiment("other_exp", primary="ctr", secondary=(), guardrails=())
    write_table(
        data_root,
        "exposures",
        {
            "experiment": ["other_exp"] * 2,
            "variant": ["control", "treatment"],
            "unit_id": [1, 2],
            "ts": [START, START],
        },
        "part-0",
    )
    write_table(
        data_root,
        "impressions",
        {
            "request_id": [1, 2],
            "user_id": [1, 2],
            "item_id": [1, 1],
            "position": [0, 0],
            "ts": [START, START],
        },
        "part-0",
    )
    if with_triggers_table:  # rows of another experiment only
        write_table(
            data_root,
            "triggers",
            {
                "request_id": [1],
                "user_id": [1],
                "ts": [START],
                "experiment": ["trig_rank"],
                "variant": ["control"],
                "k": [10],
                "triggered": [True],
            },
            "part-0",
        )
    mark_validated(data_root)
    rule = "no rows in events table 'triggers'" if with_triggers_table else "'triggers' has no"
    with pytest.raises(EventTableMissingError, match=f"experiment == 'other_exp'.*{rule}"):
        analyze(exp, as_of=START + timedelta(days=14), cuped=False, daily=False, triggered=True)


_TRIG_YAML = """\
key: trig_rank
layer: rank
traffic: 0.2
owner: ranking-team
status: running
start: 2026-01-08T00:00:00Z
end: 2026-01-22T00:00:00Z
variants:
  - key: control
    weight: 0.5
  - key: treatment
    weight: 0.5
metrics:
  primary: ctr
  secondary: [orders_per_user]
"""


def test_cli_triggered_json_and_markdown(
    trig_log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from shoplab.analysis_cli import register

    configs = tmp_path / "configs"
    configs.mkdir()
    layers = Path(__file__).parents[2] / "experiments" / "configs" / "layers.yaml"
    (configs / "layers.yaml").write_text(layers.read_text())
    (configs / "trig_rank.yaml").write_text(_TRIG_YAML)
    monkeypatch.setenv("SHOPLAB_EXPERIMENTS", str(configs))
    # the CLI saves the scorecard under the shared root's scorecards/ (not an event table)
    app = typer.Typer()
    register(app)
    args = ["analyze", "trig_rank", "--as-of", "2026-01-21", "--no-cuped", "--triggered"]
    res = CliRunner().invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    expected = _analyze()
    assert [t["metric"] for t in got["triggered"]] == ["ctr", "orders_per_user"]
    for shown, row in zip(got["triggered"], expected.triggered, strict=True):
        assert shown["width_ratio"] == pytest.approx(row.width_ratio, rel=1e-12)
    res = CliRunner().invoke(app, [*args, "--format", "markdown"])
    assert res.exit_code == 0, res.output
    assert "### Triggered analysis" in res.stdout
    assert "| ctr | treatment |" in res.stdout
