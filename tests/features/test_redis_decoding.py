"""The Redis store's vectorized decoding against its per-value reference ``decode``.

``_text_columns`` parses every value's length-prefixed fields with NumPy gathers and builds Arrow
string arrays from offsets; ``decode_packed`` converts the numeric slots in NumPy. Both must give
exactly what decoding one value at a time gives, for nulls, empty and non-ASCII text, values
that are missing (no key in Redis) and candidates spread over distinct keys (duplicates).
No server needed: the values are built with the store's own ``encode``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from shoplab.features._wide_read import decode_packed
from shoplab.features.redis_store import _HEAD, _text_columns, _width, decode, encode
from shoplab.features.wide_table import TableSpec

SPEC = TableSpec(
    table="t",
    int_key=True,
    join_keys=("item_id",),
    features=("clicks", "category", "ctr", "blob", "flag", "brand", "rank32"),
    sql_types=("INTEGER", "TEXT", "REAL", "BLOB", "INTEGER", "TEXT", "INTEGER"),
    proto_fields=("int64_val", "string_val", "double_val", "bytes_val", "bool_val",
                  "string_val", "int32_val"),
)
DTYPES = {"clicks": pl.Int64(), "category": pl.String(), "ctr": pl.Float32(),
          "blob": pl.Binary(), "flag": pl.Boolean(), "brand": pl.String(), "rank32": pl.Int32()}
WORDS = ["shoes", "", "Kleid für Damen", "靴", None]


def _values(n: int, rng: np.random.Generator) -> list[bytes | None]:
    out: list[bytes | None] = []
    for i in range(n):
        if rng.random() < 0.15:
            out.append(None)  # a key with no value
            continue
        cells = {
            "clicks": None if rng.random() < 0.2 else int(rng.integers(-5, 10**12)),
            "category": WORDS[int(rng.integers(len(WORDS)))],
            "ctr": None if rng.random() < 0.2 else float(rng.random()),
            "blob": None if rng.random() < 0.3 else bytes(rng.integers(0, 256, 3, np.uint8)),
            "flag": None if rng.random() < 0.2 else bool(rng.random() < 0.5),
            "brand": WORDS[int(rng.integers(len(WORDS)))],
            "rank32": None if rng.random() < 0.2 else int(rng.integers(-(2**31), 2**31)),
        }
        out.append(encode(SPEC, 1_000 + i, None, cells))
    return out


def _reference(blobs: list[bytes | None], index: np.ndarray) -> dict[str, list[object]]:
    """One value at a time: ``decode`` and a Python cast per cell."""
    cells = [None if b is None else decode(SPEC, b)[2] for b in blobs]
    out: dict[str, list[object]] = {}
    for f, dtype in DTYPES.items():
        col = [None if i >= len(blobs) or cells[i] is None else cells[i][f] for i in index]
        out[f] = pl.Series(f, col, dtype=pl.Float64() if dtype == pl.Float32() else None,
                           strict=False).cast(dtype).to_list()
    return out


def test_vectorized_decoding_equals_decoding_one_value_at_a_time() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 7, 300):
        blobs = _values(n, rng)
        index = rng.integers(0, n + 1, size=500)  # duplicates; row n: a null key
        want = _reference(blobs, index)
        width = _width(SPEC)
        text = {f: DTYPES[f] for f in ("category", "blob", "brand")}
        present = np.array([b is not None for b in blobs])
        got = _text_columns(SPEC, blobs, present, width, text, index)
        empty = _HEAD.pack(0, 0) + SPEC.null_blob()
        fixed = np.frombuffer(
            b"".join([*(b[:width] if b is not None else empty for b in blobs), empty]), np.uint8
        ).reshape(n + 1, width)[index]
        numeric = {f: DTYPES[f] for f in SPEC.packed}
        got |= decode_packed(SPEC, fixed[:, _HEAD.size :], numeric)
        for f, dtype in DTYPES.items():
            assert got[f].dtype == dtype, f
            assert got[f].to_list() == want[f], f
        assert sum(v is None for v in got["category"].to_list()) > 0


def test_no_value_at_all_reads_as_nulls() -> None:
    index = np.array([0, 1, 2, 0])
    got = _text_columns(
        SPEC, [None, None], np.zeros(2, bool), _width(SPEC), {"category": pl.String()}, index
    )
    assert got["category"].to_list() == [None] * 4
    assert got["category"].dtype == pl.String()
