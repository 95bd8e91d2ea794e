"""Properties of the bucket model (Hypothesis + χ² tests on many units).

Hashes are deterministic, so each χ² test is a fixed outcome for a given salt; Hypothesis draws the
salts, and the threshold (p > 1e-6) keeps the chance of a false alarm over all examples < 1e-4.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from shoplab.experiments import Layout, assign, assign_frame
from shoplab.experiments.hashing import bucket_v2, gb_hash_ids
from shoplab.experiments.models import Experiment, LayerSet
from tests.experiments.conftest import LAYERS, experiment_doc

AT = datetime(2026, 1, 10, tzinfo=UTC)
UNITS = np.arange(1, 200_001, dtype=np.int64)  # sequential ids: the hard case for FNV v1
salts = st.text(min_size=1, max_size=16)


@settings(max_examples=30, deadline=None)
@given(salt=salts, unit=st.integers(-(2**63), 2**63 - 1))
def test_same_unit_same_bucket(salt: str, unit: int) -> None:
    b = bucket_v2(salt, str(unit))
    assert b == bucket_v2(salt, str(unit))
    assert 0 <= b < 10_000
    assert gb_hash_ids(salt, np.array([unit] * 3, dtype=np.int64)).tolist() == [b] * 3


@settings(max_examples=8, deadline=None)
@given(salt=salts)
def test_buckets_are_uniform(salt: str) -> None:
    """χ² goodness of fit of 200,000 sequential ids over 100 groups of 100 buckets."""
    buckets = gb_hash_ids(salt, UNITS)
    counts = np.bincount(buckets // 100, minlength=100)
    assert stats.chisquare(counts).pvalue > 1e-6


@settings(max_examples=8, deadline=None)
@given(a=salts, b=salts)
def test_layers_are_independent(a: str, b: str) -> None:
    """χ² contingency of the two layers' bucket deciles (10 x 10) over 200,000 units."""
    assume(a != b)  # one salt is one layer; LayerSet rejects two layers sharing a salt
    da = gb_hash_ids(a, UNITS) // 1_000
    db = gb_hash_ids(b, UNITS) // 1_000
    table = np.zeros((10, 10), dtype=np.int64)
    np.add.at(table, (da, db), 1)
    assert stats.chi2_contingency(table).pvalue > 1e-6


def _layout(docs: list[dict[str, object]], holdout: bool = False) -> Layout:
    layers = dict(LAYERS)
    if not holdout:
        layers = {"layers": LAYERS["layers"]}
    exps = {d["key"]: Experiment.model_validate(d, strict=False) for d in docs}  # type: ignore[misc]
    return Layout.build(LayerSet.model_validate(layers), exps)


weights3 = st.lists(st.integers(1, 20), min_size=2, max_size=4).map(
    lambda xs: [x / sum(xs) for x in xs]
)


@settings(max_examples=25, deadline=None)
@given(
    start=st.integers(0, 4_000),
    sizes=st.tuples(st.integers(1, 3_000), st.integers(0, 3_000)),
    weights=weights3,
    salt=salts,
    version=st.sampled_from([1, 2]),
)
def test_ramp_up_only_adds_units(
    start: int, sizes: tuple[int, int], weights: list[float], salt: str, version: int
) -> None:
    """Widening an experiment's range keeps every assigned unit in its variant."""
    variants = [{"key": f"v{i}", "weight": w} for i, w in enumerate(weights)]
    total = sum(weights)
    variants[-1]["weight"] = weights[-1] + (1.0 - total)  # exact sum 1 after float division
    small_end = start + sizes[0]
    big_end = small_end + sizes[1]

    def run(end: int) -> pl.DataFrame:
        doc = experiment_doc("ramp", buckets=[start, end], variants=variants, salt=salt,
                             hash_version=version)
        out = assign_frame(pl.DataFrame({"user_id": UNITS[:20_000]}),
                           experiments=_layout([doc]), at=AT)
        return out.select("user_id", pl.col("rank_variant").cast(pl.String))

    before, after = run(small_end), run(big_end)
    was_in = before["rank_variant"].is_not_null()
    assert (after["rank_variant"].filter(was_in) == before["rank_variant"].filter(was_in)).all()
    assert after["rank_variant"].is_not_null().sum() >= was_in.sum()


def test_traffic_ramp_of_the_last_placed_experiment_keeps_others_fixed() -> None:
    docs = [
        experiment_doc("a_first", buckets=None, traffic=0.3),
        experiment_doc("b_last", buckets=None, traffic=0.2, start="2026-01-09T00:00:00Z"),
    ]
    before = _layout(docs)
    docs[1]["traffic"] = 0.5
    after = _layout(docs)
    assert (before.placements["a_first"].start, before.placements["a_first"].end) == (0, 3000)
    assert (after.placements["a_first"].start, after.placements["a_first"].end) == (0, 3000)
    assert (before.placements["b_last"].start, before.placements["b_last"].end) == (3000, 5000)
    assert (after.placements["b_last"].start, after.placements["b_last"].end) == (3000, 8000)
    for unit in range(2_000):
        b, a = assign(unit, experiments=before, at=AT)["rank"], assign(
            unit, experiments=after, at=AT
        )["rank"]
        if b.experiment is not None:
            assert (a.experiment, a.variant) == (b.experiment, b.variant)


def test_variant_shares_match_weights() -> None:
    """χ² of variant counts against the weights (0.2 / 0.3 / 0.5) over 200,000 units."""
    doc = experiment_doc(
        "shares", buckets=[0, 10_000],
        variants=[{"key": "a", "weight": 0.2}, {"key": "b", "weight": 0.3},
                  {"key": "c", "weight": 0.5}],
    )
    out = assign_frame(pl.DataFrame({"user_id": UNITS}), experiments=_layout([doc]), at=AT)
    counts = out["rank_variant"].value_counts().sort("rank_variant")["count"].to_numpy()
    assert counts.sum() == UNITS.size
    assert stats.chisquare(counts, UNITS.size * np.array([0.2, 0.3, 0.5])).pvalue > 1e-6
