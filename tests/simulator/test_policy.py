"""Policies change behaviour in the expected direction; click/order multipliers are exact.

Direction tests split users by id parity (even = treatment) inside one run, as an experiment
would, and compare the arms on the ground truth behind the log (true affinity, quality, price
fit from ``world_of``), recomputed here in NumPy. Multiplier tests couple two runs with the same
seed: the impressions are identical, so the treatment's clicks must be a superset of the
control's and their ratio the multiplier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from scipy import stats

from shoplab.core.contract import TIMESTAMP, arrow_schema
from shoplab.simulator import BASELINE, PolicyDecision, simulate
from shoplab.simulator.run import world_of
from shoplab.simulator.world import World

SIZE = {"users": 20_000, "items": 6_000, "days": 3, "seed": 5}


@dataclass
class SplitPolicy:
    """Even user ids get ``treatment`` params, odd ones ``control`` (default: baseline)."""

    treatment: dict[str, float]
    control: dict[str, float] | None = None

    def __call__(self, day: date, active: pl.DataFrame) -> PolicyDecision:
        even = (active["user_id"] % 2 == 0).to_numpy()
        cols: dict[str, object] = {"user_id": active["user_id"]}
        for name in {*self.treatment, *(self.control or {})}:
            t = self.treatment.get(name, BASELINE[name])
            c = (self.control or {}).get(name, BASELINE[name])
            cols[name] = np.where(even, t, c)
        exposures = active.select(
            pl.lit("split").alias("experiment"),
            pl.when(pl.col("user_id") % 2 == 0).then(pl.lit("treatment"))
            .otherwise(pl.lit("control")).alias("variant"),
            pl.col("user_id").alias("unit_id"),
            pl.col("first_ts").alias("ts"),
        )
        return PolicyDecision(params=pl.DataFrame(cols), exposures=exposures)


def _impressions(root: Path) -> dict[str, np.ndarray]:
    con = duckdb.connect()
    out = con.execute(
        f"SELECT i.user_id, i.item_id, i.position, r.surface FROM "
        f"read_parquet('{root}/events/impressions/*.parquet') i "
        f"JOIN read_parquet('{root}/events/requests/*.parquet') r USING (request_id)"
    ).fetchnumpy()
    con.close()
    return {k: np.asarray(v) for k, v in out.items()}


def _truth(world: World, imp: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ground truth of each impression: true affinity, estimated quality, price fit."""
    u = imp["user_id"].astype(np.int64) - 1
    i = imp["item_id"].astype(np.int64) - 1
    cat = world.item_cat[i]
    aff = np.zeros(len(u))
    for k in range(world.user_pref_cat.shape[1]):
        aff += np.where(world.user_pref_cat[u, k] == cat, world.user_pref_w[u, k], 0.0)
    d = world.item_price_z[i].astype(float) - world.user_price_z[u]
    return {
        "affinity": aff,
        "quality": world.item_quality_est[i].astype(float),
        "price_fit": -0.5 * d * d,
        "type": world.item_type[i],
        "treated": imp["user_id"] % 2 == 0,
        "position": imp["position"],
    }


@pytest.fixture
def run_split(data_root: Path):  # type: ignore[no-untyped-def]
    def run(treatment: dict[str, float], control: dict[str, float] | None = None):  # type: ignore[no-untyped-def]
        simulate(**SIZE, policy=SplitPolicy(treatment, control))  # type: ignore[arg-type]
        world = world_of(SIZE["users"], SIZE["items"], SIZE["days"], SIZE["seed"])
        return _truth(world, _impressions(data_root))

    return run


def _arms(t: dict[str, np.ndarray], col: str) -> tuple[float, float]:
    return float(t[col][t["treated"]].mean()), float(t[col][~t["treated"]].mean())


def test_personal_recall_share_raises_affinity_of_shown_items(run_split) -> None:  # type: ignore[no-untyped-def]
    t = run_split({"recall_personal_share": 0.9}, {"recall_personal_share": 0.05})
    treat, ctrl = _arms(t, "affinity")
    assert treat > ctrl + 0.05


@pytest.mark.parametrize(
    ("param", "truth"),
    [("rank_w_affinity", "affinity"), ("rank_w_quality", "quality"), ("rank_w_price", "price_fit")],
)
def test_rank_weight_raises_its_feature_at_the_top(run_split, param: str, truth: str) -> None:  # type: ignore[no-untyped-def]
    t = run_split({param: 4.0}, {param: 0.0})
    top = t["position"] < 3
    treat = t[truth][top & t["treated"]].mean()
    ctrl = t[truth][top & ~t["treated"]].mean()
    sd = t[truth][top].std()
    assert treat > ctrl + 0.2 * sd
    # ...and orders the list: in the treatment arm the feature's mean falls with position
    by_position = [t[truth][t["treated"] & (t["position"] == p)].mean() for p in range(10)]
    assert stats.spearmanr(np.arange(10), by_position).statistic < -0.8


def test_short_term_weight_ranks_the_last_clicked_category_first(data_root: Path) -> None:
    """ranker_v2's short-term interest: items of the user's last clicked category move up.

    Truth per impression: its item's category equals the category of the user's last click
    before that day (the simulator updates that state between days), by an ASOF join on the log.
    """
    simulate(**SIZE, policy=SplitPolicy({"rank_w_short_term": 4.0}, {"rank_w_short_term": 0.0}))
    con = duckdb.connect()
    rows = con.execute(
        f"""
        WITH items AS (SELECT item_id, category
                       FROM read_parquet('{data_root}/events/items/*.parquet')),
        clk AS (SELECT c.user_id, c.ts, i.category FROM
                read_parquet('{data_root}/events/clicks/*.parquet') c JOIN items i USING (item_id)),
        imp AS (SELECT m.user_id, m.position, date_trunc('day', m.ts) AS day, i.category
                FROM read_parquet('{data_root}/events/impressions/*.parquet') m
                JOIN items i USING (item_id))
        SELECT imp.user_id % 2 = 0 AS treated, imp.position < 3 AS top,
               avg((imp.category = clk.category)::INT) AS share, count(*) AS n
        FROM imp ASOF JOIN clk ON imp.user_id = clk.user_id AND clk.ts < imp.day
        GROUP BY ALL
        """
    ).fetchall()
    con.close()
    share = {(t, top): (s, n) for t, top, s, n in rows}
    (treat, n_t), (ctrl, n_c) = share[(True, True)], share[(False, True)]
    # top-3 impressions of users who clicked on an earlier day
    assert min(n_t, n_c) > 500, (n_t, n_c)
    assert treat > ctrl + 0.10, (treat, ctrl)


def test_mix_shares_set_the_content_type_shares_of_impressions(run_split) -> None:  # type: ignore[no-untyped-def]
    t = run_split({"mix_video_share": 0.5, "mix_live_share": 0.15})
    for arm, video, live in ((t["treated"], 0.5, 0.15), (~t["treated"], 0.2, 0.1)):
        types = t["type"][arm]
        assert abs((types == 1).mean() - video) < 0.03
        assert abs((types == 2).mean() - live) < 0.03


_EXPOSURES = {"experiment": pl.String(), "variant": pl.String(), "unit_id": pl.Int64(),
              "ts": TIMESTAMP}
Log = dict[str, pl.DataFrame]


def _coupled(data_root: Path, users: int, **params: float) -> tuple[Log, Log]:
    """Run one day with baseline, then with ``params`` for every user; return both logs."""
    size = {**SIZE, "days": 1, "users": users}

    def policy(day: date, active: pl.DataFrame) -> PolicyDecision:
        cols = {"user_id": active["user_id"], **{k: [v] * active.height for k, v in params.items()}}
        return PolicyDecision(pl.DataFrame(cols), pl.DataFrame(schema=_EXPOSURES))

    logs = []
    for pol in (None, policy):
        simulate(**size, policy=pol)  # type: ignore[arg-type]
        logs.append({t: pl.read_parquet(data_root / "events" / t)
                     for t in ("impressions", "clicks", "orders")})
    base, treat = logs
    assert base["impressions"].equals(treat["impressions"])  # same serving: coupled
    return base, treat


def _is_superset(big: pl.DataFrame, small: pl.DataFrame) -> bool:
    key = ["request_id", "item_id"]
    return small.select(key).join(big.select(key), on=key, how="anti").height == 0


def test_click_mult_multiplies_clicks(data_root: Path) -> None:
    # 100k users: ≈ 3.5k control clicks, so the ratio's sd is ≈ 0.01 (the extra clicks are
    # Binomial): the bounds sit 5 sd away from 1.5.
    base, treat = _coupled(data_root, 100_000, click_mult=1.5)
    assert _is_superset(treat["clicks"], base["clicks"])
    assert 1.45 < treat["clicks"].height / base["clicks"].height < 1.55


def test_order_mult_multiplies_orders_and_leaves_clicks(data_root: Path) -> None:
    # 250k users: ≈ 300 control orders, ratio sd ≈ 0.06; a few orders are capped at p = 1.
    base, treat = _coupled(data_root, 250_000, order_mult=2.0)
    assert base["clicks"].equals(treat["clicks"])
    assert _is_superset(treat["orders"], base["orders"])
    assert 1.75 < treat["orders"].height / base["orders"].height < 2.2


def test_policy_sees_each_days_active_users_once(data_root: Path) -> None:
    calls: list[tuple[date, pl.DataFrame]] = []

    def policy(day: date, active: pl.DataFrame) -> PolicyDecision:
        calls.append((day, active))
        return PolicyDecision(pl.DataFrame({"user_id": []}, schema={"user_id": pl.Int64}),
                              pl.DataFrame(schema=_EXPOSURES))

    simulate(**SIZE, start="2026-02-01", policy=policy)  # type: ignore[arg-type]
    assert [d for d, _ in calls] == [date(2026, 2, 1) + timedelta(days=k) for k in range(3)]
    users = pl.read_parquet(data_root / "events" / "users")
    for day, active in calls:
        assert active.schema == pl.Schema({
            "user_id": pl.Int64(), "first_ts": TIMESTAMP, "country": pl.String(),
            "platform": pl.String(), "signup_ts": TIMESTAMP, "is_new_user": pl.Boolean(),
        })
        req = pl.read_parquet(data_root / "events" / "requests" / f"{day}.parquet")
        expected = (
            req.group_by("user_id").agg(pl.col("ts").min().alias("first_ts"))
            .join(users, on="user_id")
            .with_columns(
                (pl.col("signup_ts") > pl.lit(day - timedelta(days=7)).cast(TIMESTAMP))
                .alias("is_new_user")
            )
            .select(active.columns).sort("user_id")
        )
        assert active.sort("user_id").equals(expected)
        assert active["is_new_user"].any()
        assert not active["is_new_user"].all()


def test_exposures_are_written_per_day_with_the_contract_schema(data_root: Path) -> None:
    report = simulate(**SIZE, policy=SplitPolicy({"click_mult": 1.1}))  # type: ignore[arg-type]
    files = sorted((data_root / "events" / "exposures").glob("*.parquet"))
    assert [f.name for f in files] == [f"sim-2026-01-0{d}.parquet" for d in (1, 2, 3)]
    rows = 0
    for f in files:
        assert pq.read_schema(f).remove_metadata() == arrow_schema("exposures")
        rows += pq.read_metadata(f).num_rows
    assert rows == report.exposures > 0
    req = pl.read_parquet(data_root / "events" / "requests")
    assert rows == req.select(pl.col("ts").dt.date(), "user_id").unique().height


def test_null_or_absent_params_mean_baseline(tmp_path: Path, data_root: Path) -> None:
    def nulls(day: date, active: pl.DataFrame) -> PolicyDecision:
        return PolicyDecision(
            active.select("user_id", pl.lit(None, dtype=pl.Float64).alias("click_mult"),
                          pl.lit(float("nan")).alias("rank_w_price")),
            pl.DataFrame(schema=_EXPOSURES),
        )

    simulate(**SIZE)  # type: ignore[arg-type]
    base = {t: pl.read_parquet(data_root / "events" / t) for t in ("impressions", "clicks")}
    simulate(**SIZE, policy=nulls)  # type: ignore[arg-type]
    for t, frame in base.items():
        assert pl.read_parquet(data_root / "events" / t).equals(frame), t


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"user_id": [1], "recall_sise": [10.0]}, r"unknown column\(s\) \['recall_sise'\]"),
        ({"user_id": [1], "mix_video_share": [1.5]}, r"mix_video_share == 1.5, must be within"),
        ({"user_id": [1], "recall_size": [0.0]}, r"recall_size == 0.0, must be within \[1.0"),
        ({"user_id": [1, 1], "click_mult": [1.0, 2.0]}, r"1 duplicate user_id rows"),
        ({"click_mult": [1.0]}, r"column 'user_id' is missing"),
    ],
)
def test_bad_policy_params_fail_with_the_column_value_and_rule(
    data_root: Path, params: dict[str, list[float]], message: str
) -> None:
    def policy(day: date, active: pl.DataFrame) -> PolicyDecision:
        return PolicyDecision(pl.DataFrame(params), pl.DataFrame(schema=_EXPOSURES))

    with pytest.raises(ValueError, match=message):
        simulate(**SIZE, policy=policy)  # type: ignore[arg-type]


def test_a_policy_must_return_a_decision(data_root: Path) -> None:
    with pytest.raises(TypeError, match="policy returned dict on 2026-01-01, must return a Pol"):
        simulate(**SIZE, policy=lambda day, active: {})  # type: ignore[arg-type]
