"""The repo's on-demand views' UDFs against a per-row reference written from their descriptions."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from shoplab.features.repo import repo_path


@pytest.fixture(scope="module")
def on_demand() -> Iterator[ModuleType]:
    """``feature_repo/on_demand.py`` imported as Feast imports it (the repo on ``sys.path``)."""
    repo = str(repo_path())
    sys.path.insert(0, repo)
    try:
        yield importlib.import_module("on_demand")
    finally:
        sys.path.remove(repo)


def _reference(query: object, category: object) -> float:
    """1.0 if a word of the category (a trailing 's' dropped) starts a word of the query."""
    if query is None or category is None or not str(query).strip():
        return float("nan")
    words = re.sub(r"[^a-z0-9]+", " ", str(query).lower()).split()
    stems = [t.rstrip("s") for t in str(category).split("_") if t]
    if not stems:  # no word to match: the regex " (?:)" matches any query
        return 1.0
    return float(any(w.startswith(s) for w in words for s in stems))


QUERIES = [None, "", "  ", "!!!", "Mens Running shoes", "women's fashion", "kids toys", "home",
           "beauty-skincare", "electronics phone", "sport", "SPORTS outdoor", "menswear"]
CATEGORIES = [None, "mens_fashion", "womens_fashion", "kids_toys", "home_kitchen", "beauty",
              "electronics", "sports_outdoor", ""]


@pytest.mark.parametrize("n", [0, 1, 7, 500, 5_000])
def test_query_category_match_equals_the_per_row_reference(on_demand: ModuleType, n: int) -> None:
    rng = np.random.default_rng(n)
    inputs = pd.DataFrame({
        "query": rng.choice(np.array(QUERIES, dtype=object), n),
        "item_category": rng.choice(np.array(CATEGORIES, dtype=object), n),
    })
    got = on_demand.query_category_match.feature_transformation.udf(inputs)
    want = [_reference(q, c) for q, c in zip(inputs["query"], inputs["item_category"], strict=True)]
    np.testing.assert_array_equal(got["query_matches_category"].to_numpy(), np.array(want))
    if n >= 500:  # every kind of answer occurs
        values = got["query_matches_category"]
        assert values.isna().any()
        assert (values == 1.0).any()
        assert (values == 0.0).any()


def test_one_request_is_one_query_for_every_candidate(on_demand: ModuleType) -> None:
    """The online shape: one query x 500 items; the feed (no query) is null everywhere."""
    cats = np.array(CATEGORIES[1:] * 63, dtype=object)[:500]
    udf = on_demand.query_category_match.feature_transformation.udf
    search = udf(pd.DataFrame({"query": ["mens running shoes"] * 500, "item_category": cats}))
    assert search["query_matches_category"].tolist() == [
        _reference("mens running shoes", c) for c in cats
    ]
    feed = udf(pd.DataFrame({"query": [None] * 500, "item_category": cats}))
    assert feed["query_matches_category"].isna().all()


def _numbers(rng: np.random.Generator, n: int, kind: str) -> pd.Series:
    """A column as the UDFs meet it: float64 with NaN, or pandas' nullable Int64 (offline)."""
    values = rng.choice(np.array([np.nan, -1.0, 0.0, 2.0, 3.0, 99.0, 100.0, 250.5]), n)
    if kind == "Int64":
        return pd.Series(values).round().astype("Int64")
    return pd.Series(values)


@pytest.mark.parametrize("kind", ["float64", "Int64"])
def test_price_and_cold_start_equal_their_definitions(on_demand: ModuleType, kind: str) -> None:
    """NumPy inside the UDFs: the values their descriptions define, NaN for unknown."""
    rng = np.random.default_rng(11)
    n = 2_000
    price, avg = _numbers(rng, n, kind), _numbers(rng, n, kind)
    got = on_demand.price_vs_user.feature_transformation.udf(
        pd.DataFrame({"price": price, "avg_clicked_price_30d": avg})
    )["price_to_user_avg"].to_numpy()
    p, a = price.astype("float64").to_numpy(), avg.astype("float64").to_numpy()
    want = [pi / ai if ai > 0 else np.nan for pi, ai in zip(p, a, strict=True)]
    np.testing.assert_array_equal(got, np.array(want))
    assert np.isfinite(got).sum() > 100
    impressions, age = _numbers(rng, n, kind), _numbers(rng, n, "float64")
    cold = on_demand.item_cold_start.feature_transformation.udf(
        pd.DataFrame({"item_impressions_7d": impressions, "age_days": age})
    )["is_cold_start"]
    assert cold.dtype == np.int64
    imp = impressions.astype("float64").to_numpy()
    ref = [int(np.isnan(i) or i < 100 or d < 3) for i, d in zip(imp, age, strict=True)]
    assert cold.tolist() == ref
    assert 0 < sum(ref) < n
