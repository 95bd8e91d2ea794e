"""Train a CTR model on days 1..N-1 through the feature store and evaluate it on day N.

Run from the project root::

    SHOPLAB_DATA=/tmp/ctr .venv/bin/python examples/train_ctr.py --users 20000 --items 3000 --days 8

Steps: simulate an event log (``shoplab.simulator``), build the feature tables, apply the Feast
repo, then ``training_labels`` -> ``training_set(service="ranker_v2")`` for training (days
1..N-1) and test (day N): every feature is as of the impression's timestamp, so the test day sees
no future. Prints AUC and GAUC (per-user AUC averaged with impression weights, over users with
both a click and a non-click) for a position-only baseline, for the feature model, and for the
ceiling: the simulator's own true P(click) of each test impression (``shoplab.simulator.oracle``,
recomputed from ``world_of`` with the same arguments; no model can beat it on average).
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

import shoplab.features as sf
from shoplab.core.paths import events_dir
from shoplab.models.metrics import gauc
from shoplab.simulator import world_of
from shoplab.simulator.oracle import true_click_probability


def matrix(train: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """Numeric design matrix; strings become category codes (HistGradientBoosting handles NaN)."""
    cols = []
    for c in columns:
        s = train[c]
        if s.dtype == pl.String:
            s = s.cast(pl.Categorical).to_physical().cast(pl.Float64)
        cols.append(s.cast(pl.Float64).fill_null(np.nan).to_numpy())
    return np.column_stack(cols)


def logged_requests(day: date) -> pl.DataFrame:
    """The logged requests of ``day`` (the oracle needs each search's query)."""
    return pl.read_parquet(events_dir("requests") / f"{day.isoformat()}.parquet")


def main() -> None:
    """Simulate, build, apply, train, evaluate, print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--items", type=int, default=3_000)
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--service", default="ranker_v2", choices=["ranker_v1", "ranker_v2"])
    ap.add_argument(
        "--skip-simulate",
        action="store_true",
        help="reuse the event log (written with the same --users/--items/--days/--seed)",
    )
    args = ap.parse_args()
    start = date(2026, 1, 1)
    if not args.skip_simulate:
        from shoplab.simulator import simulate

        simulate(args.users, args.items, args.days, seed=args.seed, start=start, progress=True)
    sf.build_features()
    sf.apply_repo()

    test_day = start + timedelta(days=args.days - 1)
    # day 1 has no history yet (every feature is null): train on days 2..N-1
    train = sf.training_set(sf.training_labels(start + timedelta(days=1), test_day), args.service)
    test = sf.training_set(sf.training_labels(test_day, test_day + timedelta(days=1)), args.service)
    features = [
        c
        for c in train.columns
        if "__" in c
        and c.split("__")[0] != "item_stats"
        or c.startswith("item_stats__")
        and not c.endswith("_id")
    ]
    features = ["position", *[c for c in features if c != "item_stats__item_shop_id"]]
    y_train = train["clicked"].cast(pl.Int8).to_numpy()
    y_test = test["clicked"].cast(pl.Int8).to_numpy()

    base = HistGradientBoostingClassifier(max_iter=50, random_state=0)
    base.fit(matrix(train, ["position"]), y_train)
    base_score = base.predict_proba(matrix(test, ["position"]))[:, 1]
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0)
    model.fit(matrix(train, features), y_train)
    score = model.predict_proba(matrix(test, features))[:, 1]

    users = test["user_id"].to_numpy()
    world = world_of(args.users, args.items, args.days, seed=args.seed, start=start)
    oracle = true_click_probability(world, test, logged_requests(test_day))
    print(
        f"train rows {train.height:,} (days 2..{args.days - 1}), test rows {test.height:,} "
        f"(day {args.days}), test CTR {y_test.mean():.4f}, features {len(features)}"
    )
    rows = (
        ("position only", base_score),
        (f"{args.service} features", score),
        ("oracle (true P)", oracle),
    )
    for name, s in rows:
        g, n = gauc(users, y_test, s)  # None: no user with both a click and a non-click
        shown = f"{g:.4f}" if g is not None else "-"
        print(f"{name:<20} AUC {roc_auc_score(y_test, s):.4f}   GAUC {shown} ({n:,} users)")


if __name__ == "__main__":
    main()
