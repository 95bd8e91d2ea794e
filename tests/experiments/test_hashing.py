"""Hashing: every GrowthBook interop vector, the non-ASCII convention, vectorized == scalar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoplab.experiments.hashing import (
    FNV_OFFSET,
    FNV_PRIME,
    IdDigits,
    bucket_ranges,
    bucket_v2,
    choose_variation,
    choose_variation_array,
    fnv1a32,
    gb_hash,
    gb_hash_ids,
    in_namespace,
)

CASES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "growthbook_cases.json").read_text(encoding="utf-8")
)


@pytest.mark.parametrize(("seed", "value", "version", "expected"), CASES["hash"])
def test_hash_vectors(seed: str, value: str, version: int, expected: float | None) -> None:
    assert gb_hash(seed, value, version) == expected


@pytest.mark.parametrize(("name", "unit", "namespace", "expected"), CASES["inNamespace"])
def test_in_namespace_vectors(name: str, unit: str, namespace: list[Any], expected: bool) -> None:
    assert in_namespace(unit, (namespace[0], namespace[1], namespace[2])) is expected


@pytest.mark.parametrize(("name", "args", "expected"), CASES["getBucketRange"])
def test_bucket_range_vectors(name: str, args: list[Any], expected: list[list[float]]) -> None:
    got = bucket_ranges(args[0], args[1], args[2])
    assert len(got) == len(expected)
    for (lo, hi), (elo, ehi) in zip(got, expected, strict=True):
        # the JS file stores the rounded decimal; float sums such as 0.2 + 0.06 differ by 1 ulp
        assert lo == pytest.approx(elo, abs=1e-12)
        assert hi == pytest.approx(ehi, abs=1e-12)


@pytest.mark.parametrize(("name", "n", "ranges", "expected"), CASES["chooseVariation"])
def test_choose_variation_vectors(
    name: str, n: float, ranges: list[list[float]], expected: int
) -> None:
    as_tuples = [(r[0], r[1]) for r in ranges]
    assert choose_variation(n, as_tuples) == expected
    assert choose_variation_array(np.array([n]), as_tuples).tolist() == [expected]


def _fnv_over_units(units: list[int]) -> int:
    """Textbook FNV-1a 32 over a list of integers (the oracle for the encoding convention)."""
    h = 0x811C9DC5
    for u in units:
        h ^= u
        h = (h * 0x01000193) % 2**32
    return h


@pytest.mark.parametrize(
    ("text", "utf16_units"),
    [
        ("a", [0x61]),
        ("é", [0xE9]),  # BMP: one UTF-16 unit, not the UTF-8 bytes C3 A9
        ("用户42", [0x7528, 0x6237, 0x34, 0x32]),
        ("😀", [0xD83D, 0xDE00]),  # astral: the surrogate pair, not the code point 0x1F600
        ("x😀é", [0x78, 0xD83D, 0xDE00, 0xE9]),
    ],
)
def test_non_ascii_hashes_utf16_code_units(text: str, utf16_units: list[int]) -> None:
    """shoplab follows the JS SDK: UTF-16 code units (documented in experiments.hashing)."""
    assert fnv1a32(text) == _fnv_over_units(utf16_units)
    if len(text) != len(utf16_units):  # astral: differs from the code-point convention
        assert fnv1a32(text) != _fnv_over_units([ord(c) for c in text])
    if not text.isascii():  # and always differs from hashing UTF-8 bytes
        assert fnv1a32(text) != _fnv_over_units(list(text.encode("utf-8")))


def test_fnv_constants_and_known_value() -> None:
    # FNV-1a 32 of "a" is 0xE40C292C (the published FNV test vector)
    assert (FNV_OFFSET, FNV_PRIME) == (2166136261, 16777619)
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("") == FNV_OFFSET


def test_bucket_v2_is_hash_times_10000() -> None:
    for seed, value in [("seed", "a"), ("layer_rank", "123456"), ("", "0")]:
        h = gb_hash(seed, value, 2)
        assert h is not None
        assert bucket_v2(seed, value) == round(h * 10_000)


def test_unknown_version_is_rejected_by_the_vectorized_path() -> None:
    assert gb_hash("a", "b", 3) is None
    with pytest.raises(ValueError, match="hash_version == 3, must be 1 or 2"):
        gb_hash_ids("a", np.array([1], dtype=np.int64), 3)  # type: ignore[arg-type]


int64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)
seeds = st.text(max_size=12)  # includes non-ASCII and astral characters


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(int64s, min_size=1, max_size=300), seed=seeds, version=st.sampled_from([1, 2]))
def test_vectorized_equals_scalar(ids: list[int], seed: str, version: int) -> None:
    arr = np.array(ids, dtype=np.int64)
    got = gb_hash_ids(seed, arr, version)  # type: ignore[arg-type]
    scale = 10_000 if version == 2 else 1_000
    expected = [round(gb_hash(seed, str(i), version) * scale) for i in ids]  # type: ignore[operator]
    assert got.tolist() == expected


@settings(max_examples=20, deadline=None)
@given(
    small=st.lists(st.integers(0, 10**6), min_size=1, max_size=50),
    seed=seeds,
)
def test_digits_are_reused_across_salts(small: list[int], seed: str) -> None:
    """One IdDigits serves every salt: same answer as hashing from the raw ids."""
    arr = np.array(small, dtype=np.int64)
    d = IdDigits.from_ids(arr)
    for s in (seed, seed + "x", "layer_rank"):
        assert gb_hash_ids(s, d).tolist() == gb_hash_ids(s, arr).tolist()


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.integers(0, 10), min_size=1, max_size=5).filter(lambda w: sum(w) > 0),
    coverage=st.floats(0.0, 1.0),
    ns=st.lists(st.integers(0, 9_999), min_size=1, max_size=50),
)
def test_choose_variation_array_equals_scalar(
    weights: list[int], coverage: float, ns: list[int]
) -> None:
    ranges = bucket_ranges(len(weights), coverage, [w / sum(weights) for w in weights])
    n = np.array(ns, dtype=np.float64) / 10_000  # v2 hashes: multiples of 1/10000
    assert choose_variation_array(n, ranges).tolist() == [choose_variation(x, ranges) for x in n]


EDGES = [0, 1, 9, 10, 9_999, 10_000, 10_001, 99_999, 100_000, 100_001, 1_000_000, 4_294_899_999,
         4_294_967_295]


@settings(max_examples=40, deadline=None)
@given(hs=st.lists(st.integers(0, 2**32 - 1), max_size=40))
def test_second_pass_tables_equal_plain_fnv(hs: list[int]) -> None:
    """The table-driven second v2 pass (scalar and vectorized) == FNV of the decimal string,
    including numbers below 10**4 / 10**5 (no head) and at the uint32 limits."""
    from shoplab.experiments.hashing import _fnv_of_decimal
    from shoplab.experiments.request_plan import second_pass

    values = EDGES + hs
    expected = [fnv1a32(str(h)) for h in values]
    assert [second_pass(h) for h in values] == expected
    assert _fnv_of_decimal(np.array(values, dtype=np.uint32)).tolist() == expected


@pytest.mark.parametrize(
    ("seed", "value", "version", "expected"),
    [c for c in CASES["hash"] if c[2] in (1, 2)],
)
def test_string_ids_reproduce_the_growthbook_vectors(
    seed: str, value: str, version: int, expected: float
) -> None:
    """The vectorized string path (assign_frame on a String column) meets the cross-SDK vectors."""
    d = IdDigits.from_strings(pl.Series([value, value + "x", value]))
    got = gb_hash_ids(seed, d, version)  # type: ignore[arg-type]
    scale = 10_000 if version == 2 else 1_000
    assert got[0] / scale == pytest.approx(expected, abs=1e-12)
    assert got[2] == got[0]
    assert got[1] == round(gb_hash(seed, value + "x", version) * scale)  # type: ignore[operator]


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=200),
    seed=seeds,
    version=st.sampled_from([1, 2]),
)
def test_vectorized_string_ids_equal_scalar(ids: list[str], seed: str, version: int) -> None:
    """Any text, ASCII or not (UTF-16 code units, surrogate pairs), hashes as the scalar path."""
    got = gb_hash_ids(seed, IdDigits.from_strings(pl.Series(ids, dtype=pl.String)), version)  # type: ignore[arg-type]
    scale = 10_000 if version == 2 else 1_000
    expected = [round(gb_hash(seed, i, version) * scale) for i in ids]  # type: ignore[operator]
    assert got.tolist() == expected
