"""The layout of a wide online table: one row per entity key and view, typed feature columns.

Shared by the Feast online store class (:mod:`shoplab.features.online_store`, which writes and
reads it through Feast's contract) and the vectorized serving path
(:mod:`shoplab.features._wide_read`). See the store's module doc for the layout and why.
"""

from __future__ import annotations

import functools
import sqlite3
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from feast import FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.value_type import ValueType

from shoplab.core.paths import under_data_root

__all__ = ["EPOCH", "TableSpec", "connect", "db_path", "pack", "quote", "table_spec"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

# ValueType -> (SQLite column type, ValueProto field). Anything else: serialized proto in a BLOB.
_SCALAR: dict[ValueType, tuple[str, str]] = {
    ValueType.INT64: ("INTEGER", "int64_val"),
    ValueType.INT32: ("INTEGER", "int32_val"),
    ValueType.UNIX_TIMESTAMP: ("INTEGER", "unix_timestamp_val"),
    ValueType.BOOL: ("INTEGER", "bool_val"),
    ValueType.DOUBLE: ("REAL", "double_val"),
    ValueType.FLOAT: ("REAL", "float_val"),
    ValueType.STRING: ("TEXT", "string_val"),
    ValueType.BYTES: ("BLOB", "bytes_val"),
}
_INT_KEYS = (ValueType.INT64, ValueType.INT32)
_NUMERIC = ("INTEGER", "REAL")


@dataclass(frozen=True)
class TableSpec:
    """The SQLite layout of one feature view."""

    table: str
    int_key: bool  # True: a single integer join key is the INTEGER PRIMARY KEY
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    sql_types: tuple[str, ...]
    proto_fields: tuple[str | None, ...]  # None: BLOB holding a serialized ValueProto

    @functools.cached_property
    def packed(self) -> tuple[str, ...]:
        """The numeric features, in ``__packed`` slot order."""
        return tuple(f for f, t in zip(self.features, self.sql_types, strict=True) if t in _NUMERIC)

    @functools.cached_property
    def packed_floats(self) -> tuple[bool, ...]:
        """Per packed slot: float64 (REAL) or int64 (INTEGER)."""
        return tuple(t == "REAL" for t in self.sql_types if t in _NUMERIC)

    @functools.cached_property
    def bitmap_bytes(self) -> int:
        """Bytes of the null bitmap, padded to 8 so the slots stay 8-byte aligned."""
        return -(-len(self.packed) // 64) * 8

    def null_blob(self) -> bytes:
        """A ``__packed`` value with every feature null (what a missing row decodes as)."""
        return b"\xff" * self.bitmap_bytes + b"\x00" * (8 * len(self.packed))

    def ddl(self) -> str:
        """CREATE TABLE statement of this layout."""
        key = "INTEGER PRIMARY KEY" if self.int_key else "BLOB PRIMARY KEY"
        cols = ", ".join(
            f"{quote(f)} {t}" for f, t in zip(self.features, self.sql_types, strict=True)
        )
        tail = "" if self.int_key else " WITHOUT ROWID"
        return (
            f"CREATE TABLE IF NOT EXISTS {quote(self.table)} (__ek {key}, "
            f"__event_ts INTEGER NOT NULL, __created_ts INTEGER, __packed BLOB"
            + (f", {cols}" if cols else "")
            + f"){tail}"
        )

    def columns(self) -> list[tuple[str, str]]:
        """(name, declared type) of every column, as PRAGMA table_info reports them."""
        key = "INTEGER" if self.int_key else "BLOB"
        internal = [("__event_ts", "INTEGER"), ("__created_ts", "INTEGER"), ("__packed", "BLOB")]
        return [("__ek", key), *internal] + list(zip(self.features, self.sql_types, strict=True))


def quote(identifier: str) -> str:
    """Quote an SQLite identifier (feature names are user text)."""
    return '"' + identifier.replace('"', '""') + '"'


def table_spec(project: str, fv: FeatureView) -> TableSpec:
    """The table layout of a feature view (its name, key kind and typed feature columns)."""
    keys = tuple(c.name for c in fv.entity_columns)
    key_types = [c.dtype.to_value_type() for c in fv.entity_columns]
    int_key = len(keys) == 1 and key_types[0] in _INT_KEYS
    types, fields = [], []
    for f in fv.features:
        sql, field = _SCALAR.get(f.dtype.to_value_type(), ("BLOB", None))
        types.append(sql)
        fields.append(field)
    return TableSpec(
        table=f"{project}_{fv.name}__wide",
        int_key=int_key,
        join_keys=keys,
        features=tuple(f.name for f in fv.features),
        sql_types=tuple(types),
        proto_fields=tuple(fields),
    )


def db_path(config: RepoConfig) -> str:
    """Absolute path of the SQLite file (relative paths resolve against the data root)."""
    path = under_data_root(config.online_store.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def connect(path: str, readonly: bool = False) -> sqlite3.Connection:
    """Open the store's file: WAL (readers never wait for a materialization or a push)."""
    if readonly:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        con = sqlite3.connect(path, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a power loss may lose the last commits, never corrupts; the online store is a
        # cache that materialization rebuilds
        con.execute("PRAGMA synchronous=NORMAL")
    return con


def _us(ts: datetime | None) -> int | None:
    if ts is None:
        return None
    if ts.tzinfo is None:  # Feast hands naive datetimes meaning UTC
        ts = ts.replace(tzinfo=UTC)
    return (ts - EPOCH) // _US


def _key(spec: TableSpec, ek: EntityKeyProto, version: int) -> int | bytes:
    if spec.int_key:
        v = ek.entity_values[0]
        return int(v.int64_val if v.WhichOneof("val") == "int64_val" else v.int32_val)
    return bytes(serialize_entity_key(ek, entity_key_serialization_version=version))


def _cell(value: ValueProto | None, field: str | None) -> Any:
    if value is None:
        return None
    kind = value.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    if field is None:
        return value.SerializeToString()
    return getattr(value, kind)


def pack(spec: TableSpec, cells: dict[str, Any]) -> bytes:
    """The ``__packed`` BLOB of one row from its numeric cells (absent or None or NaN: null)."""
    names = spec.packed
    bits = 0
    slots: list[int | float] = []
    for i, (name, is_float) in enumerate(zip(names, spec.packed_floats, strict=True)):
        v = cells.get(name)
        if v is None or v != v:  # NaN: SQLite's REAL column stores it as NULL too
            bits |= 1 << i
            slots.append(0)
        else:
            slots.append(float(v) if is_float else int(v))
    fmt = "<" + "".join("d" if f else "q" for f in spec.packed_floats)
    return bits.to_bytes(spec.bitmap_bytes, "little") + struct.pack(fmt, *slots)


def _proto(cell: Any, field: str | None) -> ValueProto:
    if cell is None:
        return ValueProto()
    if field is None:
        value: ValueProto = ValueProto.FromString(cell)
        return value
    if field == "bool_val":
        return ValueProto(bool_val=bool(cell))
    return ValueProto(**{field: cell})
