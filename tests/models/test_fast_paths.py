"""The serving and training fast paths return exactly what the plain ones did.

``Encoder.matrix`` encodes every column in one Polars select with cached vocabularies; the
reference here is the column-by-column encoding it replaced (one ``replace_strict`` per text
column, numbers cast one by one). ``train_model`` joins both windows in one ``training_set``
call; the reference is one call per window. Sampled requests: users known and unknown, the feed
and two queries, candidates with duplicates and ids the store has never seen.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import shoplab.features as sf
from shoplab.models.encoding import Encoder, fit_encoder
from shoplab.models.loaded import load
from shoplab.models.registry import get_version
from shoplab.models.serve import _ordered, rank
from shoplab.models.train import _rows, _train_valid_rows, _window
from tests.models.conftest import TRAIN, VALID, T, World

REQUESTS = [(5, None), (77, "running shoes"), (150, "mens fashion"), (10_000, None)]


def _reference_matrix(enc: Encoder, frame: pl.DataFrame) -> np.ndarray:
    """The encoding as it was before the one-select fast path (column by column)."""
    cols = [
        frame[c].cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64)
        for c in enc.numeric
    ]
    codes = [
        frame[c]
        .cast(pl.String)
        .replace_strict(list(vocab), list(range(len(vocab))), default=None, return_dtype=pl.Float64)
        .fill_null(np.nan)
        .to_numpy()
        for c, vocab in enc.categorical
    ]
    if not enc.one_hot:
        return np.column_stack([*cols, *codes])
    k = len(enc.numeric)
    numbers = np.column_stack(cols) if cols else np.empty((frame.height, 0))
    missing = np.isnan(numbers)
    scaled = np.where(missing, 0.0, (numbers - np.asarray(enc.means)) / np.asarray(enc.scales))
    index = {c: i for i, c in enumerate(enc.numeric)}
    blocks = [scaled, missing[:, [index[c] for c in enc.indicators]].astype(np.float64)]
    for (_, vocab), code in zip(enc.categorical, codes, strict=True):
        onehot = np.zeros((frame.height, len(vocab)))
        rows = np.flatnonzero(~np.isnan(code))
        onehot[rows, code[rows].astype(np.int64)] = 1.0
        blocks.append(onehot)
    assert k == scaled.shape[1]
    return np.column_stack(blocks)


def _frames(service: str) -> list[pl.DataFrame]:
    rng = np.random.default_rng(3)
    out = []
    for user, query in REQUESTS:
        items = [*rng.integers(1, 121, 60).tolist(), 7, 7, 99_999]  # duplicates, an unknown id
        request = {"query": query} if service == "ranker_v2" else {}
        frame = sf.ranking_features(user, items, service, request, as_of=T)
        out.append(frame.with_columns(position=pl.lit(1, dtype=pl.Int32)))
    return out


@pytest.mark.parametrize("algo", ["logreg", "lightgbm"])
def test_the_model_sees_the_matrix_the_plain_encoding_gives(use_world: World, algo: str) -> None:
    model = load(get_version(getattr(use_world, algo).version.ref))
    assert model.ranker is not None
    enc = model.ranker.encoder
    assert enc.categorical  # text columns are part of what is checked
    for frame in _frames(model.spec.service):
        got = enc.matrix(frame)
        want = _reference_matrix(enc, frame)
        assert got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)  # NaN == NaN, bit for bit otherwise
        scores = model.score(frame.drop("position"))
        if algo == "lightgbm":
            expected = model.ranker.estimator.predict(np.ascontiguousarray(want), num_threads=1)
        else:
            expected = model.ranker.estimator.predict_proba(want)[:, 1]
        np.testing.assert_array_equal(scores, expected)


def test_unseen_and_null_text_encode_as_missing() -> None:
    train = pl.DataFrame({"x": [1.0, None, 3.0], "c": ["a", "b", None]})
    serve = pl.DataFrame({"x": [None, 2.0, 5.0], "c": ["b", "zzz", None]})
    for one_hot in (False, True):
        enc = fit_encoder(train, ["x", "c"], one_hot=one_hot)
        np.testing.assert_array_equal(enc.matrix(serve), _reference_matrix(enc, serve))
    assert fit_encoder(train, ["x", "c"], one_hot=False).matrix(serve)[:, 1].tolist()[0] == 1.0


def test_rank_ties_keep_the_incoming_order_and_nulls_without_scores() -> None:
    scores = np.array([0.2, 0.5, 0.2, 0.5, 0.1])
    got = _ordered([10, 11, 12, 13, 14], scores, "exp", "treatment", "m/1", None)
    assert got["item_id"].to_list() == [11, 13, 10, 12, 14]
    assert got["score"].to_list() == [0.5, 0.5, 0.2, 0.2, 0.1]
    assert got["rank"].to_list() == [1, 2, 3, 4, 5]
    assert got.schema == pl.Schema(
        {
            "item_id": pl.Int64(),
            "score": pl.Float64(),
            "rank": pl.Int64(),
            "experiment": pl.String(),
            "variant": pl.String(),
            "model_version": pl.String(),
            "fallback": pl.String(),
            "team": pl.String(),  # interleaving only: null here
            "contested": pl.Boolean(),
            "triggered": pl.Boolean(),  # a triggered experiment only: null here
        }
    )
    plain = _ordered([3, 1, 2], None, None, None, None, "not_found")
    assert plain["item_id"].to_list() == [3, 1, 2]
    assert plain["score"].null_count() == 3
    assert plain["fallback"].to_list() == ["not_found"] * 3
    assert plain["experiment"].null_count() == 3
    assert plain["team"].null_count() == plain["contested"].null_count() == 3
    assert plain["triggered"].null_count() == 3


def test_rank_scores_are_the_models_own_on_sampled_requests(use_world: World) -> None:
    ref = use_world.lightgbm.version.ref
    model = load(get_version(ref))
    for (user, query), frame in zip(REQUESTS, _frames("ranker_v2"), strict=True):
        items = frame["item_id"].to_list()
        got = rank(user, items, {"query": query}, T, model=ref)
        scores = model.score(frame.drop("position"))
        order = np.argsort(-scores, kind="stable")
        assert got["item_id"].to_list() == [items[i] for i in order]
        np.testing.assert_array_equal(got["score"].to_numpy(), scores[order])


def test_one_training_set_call_equals_one_per_window(use_world: World) -> None:
    tr, va = _window(TRAIN, "train"), _window(VALID, "valid")
    train, valid = _train_valid_rows(tr, va, "ranker_v2", "click")
    assert train.height > 0
    assert valid.height > 0
    assert train.equals(_rows(tr, "ranker_v2", "click", "train"))
    assert valid.equals(_rows(va, "ranker_v2", "click", "valid"))
    clicked_train, _ = _train_valid_rows(tr, va, "ranker_v2", "order")
    assert clicked_train.equals(_rows(tr, "ranker_v2", "order", "train"))
    assert bool(clicked_train["clicked"].all())


def test_predict_threads_change_the_speed_not_the_scores(
    use_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request of >= 256 candidates is scored on SHOPLAB_PREDICT_THREADS threads (0: every
    core): the same scores to the bit, and a bad value is a ConfigError naming the variable."""
    from shoplab.core.errors import ConfigError

    model = load(get_version(use_world.lightgbm.version.ref))
    items = [i % 120 + 1 for i in range(600)]  # 600 rows, duplicates kept
    frame = sf.ranking_features(5, items, "ranker_v2", {"query": None}, as_of=T)
    scores = {}
    for threads in ("1", "0", "2"):
        monkeypatch.setenv("SHOPLAB_PREDICT_THREADS", threads)
        scores[threads] = model.score(frame)
    np.testing.assert_array_equal(scores["1"], scores["0"])
    np.testing.assert_array_equal(scores["1"], scores["2"])
    assert len(np.unique(scores["1"])) > 50  # real scores, not a constant
    monkeypatch.setenv("SHOPLAB_PREDICT_THREADS", "-1")
    with pytest.raises(ConfigError, match="SHOPLAB_PREDICT_THREADS == '-1'"):
        model.score(frame)
