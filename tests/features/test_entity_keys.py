"""Composite entity keys of the serving path equal Feast's own serialization, row by row."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from shoplab.features.online import _serialized_keys


def _feast(user: int | None, category: str | None) -> bytes | None:
    if user is None or category is None:
        return None  # a null part: no key, no row
    return serialize_entity_key(
        EntityKeyProto(
            join_keys=["user_id", "category"],
            entity_values=[ValueProto(int64_val=user), ValueProto(string_val=category)],
        ),
        entity_key_serialization_version=3,
    )


@pytest.mark.parametrize("seed", range(5))
def test_keys_equal_feasts_with_nulls_anywhere(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    users = [None if rng.random() < 0.05 else int(u) for u in rng.integers(0, 4, n)]
    cats = [None if rng.random() < 0.2 else f"cat_{c}" for c in rng.integers(0, 24, n)]
    users[0], cats[1] = (None, None) if seed % 2 else (users[0], cats[1])  # a null in row 0
    cats[0] = None  # the first candidate has no category (an unknown item)
    got = _serialized_keys(
        ["user_id", "category"],
        [pl.Series(users, dtype=pl.Int64), pl.Series(cats, dtype=pl.String)],
        3,
    )
    assert got.dtype == pl.Binary
    assert got.to_list() == [_feast(u, c) for u, c in zip(users, cats, strict=True)]


def test_all_null_and_single_row() -> None:
    keys = _serialized_keys(
        ["user_id", "category"], [pl.Series([7, 7]), pl.Series([None, None], dtype=pl.String)], 3
    )
    assert keys.to_list() == [None, None]
    one = _serialized_keys(["user_id", "category"], [pl.Series([7]), pl.Series(["a"])], 3)
    assert one.to_list() == [_feast(7, "a")]
