"""The Redis profile's Feast online store: the wide layout as one packed value per entity and view.

``SHOPLAB_ONLINE_STORE=redis`` (shoplab) or ``feast -c feature_repo -f
feature_repo/feature_store.redis.yaml ...`` (the Feast CLI) selects this store instead of
:class:`~shoplab.features.online_store.WideSqliteOnlineStore`; the feature definitions do not
change. The server is ``$SHOPLAB_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) unless the
yaml names ``url``.

Layout, per view (``<p>`` = project, ``<v>`` = view name):

- ``<p>:<v>:k:<key>``: one string value per entity key, ``<key>`` the decimal id of a single
  integer join key or Feast's v3 serialized entity key bytes otherwise. The value is the SQLite
  wide row packed: event and created time (two little-endian int64, epoch microseconds, created
  ``-2**63`` when absent), the numeric features exactly as the SQLite store's ``__packed`` column
  (:func:`~shoplab.features.wide_table.pack`: null bitmap, one 8-byte slot per feature), then each
  other feature as an int32 length (``-1``: null) and its bytes (UTF-8 text, raw bytes, or a
  serialized ``ValueProto`` for lists and maps).
- ``<p>:<v>:index``: a sorted set of the view's keys scored by event time. Materialization drops
  expired keys with one range query (no ``SCAN`` over 10M users), and the key set is listable.
- ``<p>:<v>:schema``: the view's column list; ``feast apply`` clears a view whose features changed
  (old values cannot be reinterpreted), as the SQLite store recreates its table.

Why one packed value read with ``MGET`` rather than a hash per entity read with pipelined
``HMGET``: the trial on this machine (``shared/DESIGN.md``) measured 500 hashes at 13.9 ms
(redis-py decodes every field) against 1.6 ms for 500 packed values decoded with one
``np.frombuffer``. Values and keys are written with their index entry in one ``MULTI``, so the key
set and the index never disagree.

ttl is enforced at read time exactly as on SQLite (feast #6821): :meth:`online_read` returns a
row older than its view's ttl (judged now, or at
:func:`~shoplab.features.read_time.reading_as_of`) as (its event time, None), which Feast serves as
null with status ``NOT_FOUND``; the serving path :func:`read_view` returns ``__event_ts`` and
``ranking_features`` nulls and flags the stale rows.
"""

from __future__ import annotations

import functools
import json
import os
import struct
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, Literal, ParamSpec, TypeVar
from urllib.parse import urlsplit

import hiredis
import numpy as np
import polars as pl
import pyarrow as pa
import redis
from feast import Entity, FeatureView
from feast.infra.infra_object import InfraObject
from feast.infra.online_stores.online_store import OnlineStore
from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import FeastConfigBaseModel, RepoConfig
from pydantic import StrictStr

from shoplab.core.errors import StateError
from shoplab.core.settings import settings
from shoplab.features._wide_read import decode_packed
from shoplab.features.errors import FeatureStoreError
from shoplab.features.quiet import contain_feast_cli_noise
from shoplab.features.read_time import expired_before
from shoplab.features.wide_table import (
    _US,
    EPOCH,
    TableSpec,
    _cell,
    _key,
    _proto,
    _us,
    pack,
    table_spec,
)

contain_feast_cli_noise()  # Feast imports this module for every command that opens the store

__all__ = [
    "RedisUnavailableError",
    "WideRedisOnlineStore",
    "WideRedisOnlineStoreConfig",
    "client",
    "dump_view",
    "index_key",
    "read_view",
    "redis_url",
    "value_prefix",
]

_HEAD: Final = struct.Struct("<qq")
_LEN: Final = struct.Struct("<i")
_NO_TS: Final = -(2**63)
_CHUNK: Final = 5_000

# drop up to 5,000 expired keys of one view atomically: their values and their index entries
_EXPIRE_LUA: Final = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 5000)
for _, id in ipairs(ids) do
  redis.call('UNLINK', ARGV[2] .. id)
end
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return #ids
"""


_P = ParamSpec("_P")
_R = TypeVar("_R")


class RedisUnavailableError(FeatureStoreError, StateError):
    """The Redis server of the online store does not answer (down, restarting, wrong URL)."""


def _answering(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn redis-py's connection errors into :class:`RedisUnavailableError` (with the fix)."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            at = next((f" at {identity(a)}" for a in args if isinstance(a, RepoConfig)), "")
            raise RedisUnavailableError(
                f"the Redis online store{at} does not answer ({exc}), must be running: start "
                "redis-server or point SHOPLAB_REDIS_URL (or the yaml's `url`) at it. A "
                "materialization cut short is re-run whole by the next `materialize`."
            ) from exc

    return wrapper


class WideRedisOnlineStoreConfig(FeastConfigBaseModel):
    """Config of :class:`WideRedisOnlineStore`: ``url`` empty means ``$SHOPLAB_REDIS_URL``."""

    type: Literal["shoplab.features.redis_store.WideRedisOnlineStore"] = (
        "shoplab.features.redis_store.WideRedisOnlineStore"
    )
    url: StrictStr = ""


def redis_url(config: RepoConfig) -> str:
    """The server URL of a repo config: the yaml's ``url``, else ``$SHOPLAB_REDIS_URL``."""
    url = getattr(config.online_store, "url", "") or ""
    return str(url) or settings().redis_url


def identity(config: RepoConfig) -> str:
    """The store a materialization record describes: host, port and database, no credentials."""
    parts = urlsplit(redis_url(config))
    return f"redis://{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


_clients: dict[tuple[str, int], redis.Redis] = {}
_clients_lock = threading.Lock()


def client(url: str) -> redis.Redis:
    """A shared client of ``url`` (thread-safe connection pool; a new one after a fork)."""
    key = (url, os.getpid())
    got = _clients.get(key)
    if got is None:
        with _clients_lock:
            got = _clients.get(key)
            if got is None:
                got = _clients[key] = redis.Redis.from_url(
                    url, socket_connect_timeout=5, socket_timeout=30
                )
    return got


def value_prefix(project: str, view: str) -> bytes:
    """The prefix of a view's value keys (``<project>:<view>:k:``)."""
    return f"{project}:{view}:k:".encode()


def index_key(project: str, view: str) -> bytes:
    """The view's sorted set of keys scored by event time."""
    return f"{project}:{view}:index".encode()


def _schema_key(project: str, view: str) -> bytes:
    return f"{project}:{view}:schema".encode()


def _mget(r: redis.Redis, keys: list[bytes]) -> list[bytes | None]:
    """MGET as bytes (the clients never decode responses).

    The command is packed by hiredis in one C call and sent on a pooled connection: redis-py's
    ``mget`` runs two Python generator passes over the arguments (~0.5 ms for 500 keys, as
    much as the round trip). A connection error falls back to ``mget``, whose retries reconnect
    after a server restart.
    """
    if not keys:
        return []
    pool = r.connection_pool
    conn = pool.get_connection()
    try:
        command: Any = (b"MGET", *keys)
        conn.send_packed_command(  # type: ignore[no-untyped-call]
            [hiredis.pack_command(command)], check_health=False
        )
        fast: list[Any] = conn.read_response()
        return fast
    except (redis.ConnectionError, redis.TimeoutError):
        conn.disconnect()  # type: ignore[no-untyped-call]
    finally:
        pool.release(conn)
    got: list[Any] = r.mget(keys)
    return got


def _member(key: int | bytes) -> bytes:
    return str(key).encode() if isinstance(key, int) else key


@functools.lru_cache(maxsize=256)
def _width(spec: TableSpec) -> int:
    """Bytes of the fixed part of a value: times, null bitmap, numeric slots."""
    return _HEAD.size + spec.bitmap_bytes + 8 * len(spec.packed)


@functools.lru_cache(maxsize=256)
def _text_fields(spec: TableSpec) -> tuple[tuple[str, str | None], ...]:
    """(feature, ValueProto field) of the non-numeric features, in stored order."""
    packed = set(spec.packed)
    return tuple(
        (f, field)
        for f, field in zip(spec.features, spec.proto_fields, strict=True)
        if f not in packed
    )


@functools.lru_cache(maxsize=256)
def _slots(spec: TableSpec) -> struct.Struct:
    return struct.Struct("<" + "".join("d" if f else "q" for f in spec.packed_floats))


def encode(spec: TableSpec, ts: int, created: int | None, cells: dict[str, Any]) -> bytes:
    """One stored value: times, the packed numeric features, then the others length-prefixed."""
    parts = [_HEAD.pack(ts, _NO_TS if created is None else created), pack(spec, cells)]
    for f, _ in _text_fields(spec):
        v = cells.get(f)
        if v is None:
            parts.append(_LEN.pack(-1))
        else:
            raw = v.encode() if isinstance(v, str) else bytes(v)
            parts.append(_LEN.pack(len(raw)) + raw)
    return b"".join(parts)


def _tail(spec: TableSpec, blob: bytes) -> list[Any]:
    """The non-numeric cells of a stored value, in :func:`_text_fields` order."""
    return _tail_at(blob, _width(spec), _text_fields(spec))


def _tail_at(blob: bytes, at: int, fields: tuple[tuple[str, str | None], ...]) -> list[Any]:
    out: list[Any] = []
    unpack = _LEN.unpack_from
    for _, field in fields:
        (n,) = unpack(blob, at)
        at += 4
        if n < 0:
            out.append(None)
            continue
        raw = blob[at : at + n]
        at += n
        out.append(raw.decode() if field == "string_val" else raw)
    return out


def decode(spec: TableSpec, blob: bytes) -> tuple[int, int | None, dict[str, Any]]:
    """(event time, created time, {feature: cell}) of a stored value (cells as SQLite gives)."""
    ts, created = _HEAD.unpack_from(blob)
    bits = int.from_bytes(blob[_HEAD.size : _HEAD.size + spec.bitmap_bytes], "little")
    slots = _slots(spec).unpack_from(blob, _HEAD.size + spec.bitmap_bytes)
    cells: dict[str, Any] = {
        name: None if bits >> i & 1 else v
        for i, (name, v) in enumerate(zip(spec.packed, slots, strict=True))
    }
    for (f, _), v in zip(_text_fields(spec), _tail(spec, blob), strict=True):
        cells[f] = v
    return ts, None if created == _NO_TS else created, cells


class WideRedisOnlineStore(OnlineStore):
    """Feast online store: Redis, one packed wide value per entity key and view (module doc)."""

    def __init__(self) -> None:
        """No state but the layouts cache: clients are shared per URL (:func:`client`)."""
        self._specs: dict[tuple[str, str, tuple[str, ...]], TableSpec] = {}

    @staticmethod
    def _redis(config: RepoConfig) -> redis.Redis:
        return client(redis_url(config))

    def _spec(self, config: RepoConfig, fv: FeatureView) -> TableSpec:
        key = (config.project, fv.name, tuple(f"{f.name}:{f.dtype}" for f in fv.features))
        spec = self._specs.get(key)
        if spec is None:
            spec = self._specs[key] = table_spec(config.project, fv)
        return spec

    @_answering
    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        """Set one value per entity key (last write wins, as on SQLite); index it by time."""
        if not data:
            return
        spec = self._spec(config, table)
        version = config.entity_key_serialization_version
        prefix = value_prefix(config.project, table.name)
        index = index_key(config.project, table.name)
        r = self._redis(config)
        rows = [(_member(_key(spec, ek, version)), values, ts, cr) for ek, values, ts, cr in data]
        # a write naming some features only (a push) keeps the stored others, as on SQLite
        partial = list(
            dict.fromkeys(
                m for m, values, _, _ in rows if any(f not in values for f in spec.features)
            )
        )
        current: dict[bytes, dict[str, Any]] = {}
        for i in range(0, len(partial), _CHUNK):
            chunk = partial[i : i + _CHUNK]
            for m, blob in zip(chunk, _mget(r, [prefix + m for m in chunk]), strict=True):
                current[m] = decode(spec, blob)[2] if blob is not None else {}
        for i in range(0, len(rows), _CHUNK):
            pipe = r.pipeline(transaction=True)
            scores: dict[bytes, int] = {}
            for m, values, ts, created in rows[i : i + _CHUNK]:
                cells = dict(current[m]) if m in current else {}
                for f, field in zip(spec.features, spec.proto_fields, strict=True):
                    if f in values:
                        cells[f] = _cell(values[f], field)
                if m in current:
                    current[m] = cells
                stamp = _us(ts)
                assert stamp is not None
                pipe.set(prefix + m, encode(spec, stamp, _us(created), cells))
                scores[m] = stamp
            pipe.zadd(index, scores)
            pipe.execute()
        if progress:
            progress(len(data))

    @_answering
    def online_read(
        self,
        config: RepoConfig,
        table: FeatureView,
        entity_keys: list[EntityKeyProto],
        requested_features: list[str] | None = None,
    ) -> list[tuple[datetime | None, dict[str, ValueProto] | None]]:
        """Feast's read contract, ttl enforced: an expired row is (its event time, None)."""
        spec = self._spec(config, table)
        before = expired_before(table.ttl)
        cutoff = None if before is None else _us(before)
        version = config.entity_key_serialization_version
        prefix = value_prefix(config.project, table.name)
        members = [_member(_key(spec, ek, version)) for ek in entity_keys]
        wanted = [f for f in (requested_features or spec.features) if f in spec.features]
        fields = {f: spec.proto_fields[spec.features.index(f)] for f in wanted}
        unique = list(dict.fromkeys(members))
        r = self._redis(config)
        found: dict[bytes, bytes] = {}
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            for m, blob in zip(chunk, _mget(r, [prefix + m for m in chunk]), strict=True):
                if blob is not None:
                    found[m] = blob
        out: list[tuple[datetime | None, dict[str, ValueProto] | None]] = []
        for m in members:
            blob = found.get(m)
            if blob is None:
                out.append((None, None))
                continue
            ts, _, cells = decode(spec, blob)
            stamp = EPOCH + ts * _US
            if cutoff is not None and ts < cutoff:
                out.append((stamp, None))
                continue
            out.append((stamp, {f: _proto(cells[f], fields[f]) for f in wanted}))
        return out

    @_answering
    def delete_older_than(self, config: RepoConfig, table: FeatureView, before: datetime) -> int:
        """Drop the keys of ``table`` whose event time is before ``before``; return how many."""
        r = self._redis(config)
        script = r.register_script(_EXPIRE_LUA)
        cutoff = _us(before)
        total = 0
        while True:
            n = int(
                script(
                    keys=[index_key(config.project, table.name)],
                    args=[f"({cutoff}", value_prefix(config.project, table.name)],
                )
            )
            total += n
            if n == 0:
                return total

    @_answering
    def has_rows(self, config: RepoConfig, table: FeatureView) -> bool:
        """True if the view holds at least one key."""
        return bool(self._redis(config).zcard(index_key(config.project, table.name)))

    def _clear(self, config: RepoConfig, view: str) -> None:
        """Delete every value, the index and the schema of ``view`` (also unindexed values)."""
        r = self._redis(config)
        prefix = value_prefix(config.project, view)
        pattern = b"".join(
            b"\\" + bytes([c]) if c in b"*?[]\\" else bytes([c]) for c in prefix
        ) + b"*"
        batch: list[bytes] = []
        for key in r.scan_iter(match=pattern, count=10_000):
            batch.append(key)
            if len(batch) >= _CHUNK:
                r.unlink(*batch)
                batch = []
        if batch:
            r.unlink(*batch)
        r.unlink(index_key(config.project, view), _schema_key(config.project, view))

    @_answering
    def update(
        self,
        config: RepoConfig,
        tables_to_delete: Sequence[FeatureView],
        tables_to_keep: Sequence[FeatureView],
        entities_to_delete: Sequence[Entity],
        entities_to_keep: Sequence[Entity],
        partial: bool,
    ) -> None:
        """Record each kept view's columns (clearing it if they changed); clear deleted views."""
        r = self._redis(config)
        for fv in tables_to_delete:
            self._clear(config, fv.name)
        for fv in tables_to_keep:
            spec = table_spec(config.project, fv)
            schema = json.dumps(
                {"int_key": spec.int_key, "join_keys": spec.join_keys, "columns": spec.columns()}
            ).encode()
            have = r.get(_schema_key(config.project, fv.name))
            if have is not None and have != schema:
                self._clear(config, fv.name)
            r.set(_schema_key(config.project, fv.name), schema)
        self._specs.clear()

    def plan(self, config: RepoConfig, desired_registry_proto: RegistryProto) -> list[InfraObject]:
        """No infra objects: keys are created by writes, schemas by ``update``."""
        return []

    @_answering
    def teardown(
        self,
        config: RepoConfig,
        tables: Sequence[FeatureView],
        entities: Sequence[Entity],
    ) -> None:
        """Delete the views' keys (``feast teardown``)."""
        for fv in tables:
            self._clear(config, fv.name)


@_answering
def read_view(
    r: redis.Redis,
    project: str,
    view: str,
    spec: TableSpec,
    keys: pl.Series,
    features: Sequence[str],
    dtypes: Sequence[pl.DataType],
) -> pl.DataFrame:
    """Rows of one view for ``keys`` (in order, duplicates kept): features + ``__event_ts``.

    The serving path's read (same contract as :func:`shoplab.features._wide_read.read_view`):
    one ``MGET`` of the distinct keys, the fixed-width part of every value decoded at once with
    NumPy, the text features per row. ``__event_ts`` is epoch microseconds, null without a row.
    """
    feats = tuple(features)
    dtype_of = dict(zip(feats, dtypes, strict=True))
    prefix = value_prefix(project, view)
    if spec.int_key:
        # distinct ids in C: the user's one row is read once, not 500 times (a Polars is_null
        # or fill_null costs ~70 us of dispatch: only when there are nulls)
        null = keys.is_null().to_numpy() if keys.has_nulls() else None
        values = keys.to_numpy() if null is None else keys.fill_null(0).to_numpy()[~null]
        ids, inverse = np.unique(values, return_inverse=True)
        if null is None:
            index = inverse.astype(np.int64, copy=False)
        else:
            index = np.full(len(keys), -1, dtype=np.int64)
            index[~null] = inverse
        names: list[bytes] = [b"%b%d" % (prefix, k) for k in ids.tolist()]
    else:
        distinct: dict[bytes, int] = {}
        index = np.fromiter(
            (-1 if k is None else distinct.setdefault(k, len(distinct)) for k in keys.to_list()),
            dtype=np.int64,
            count=len(keys),
        )
        names = [prefix + k for k in distinct]
    blobs: list[bytes | None] = _mget(r, names) if names else []
    n = len(blobs)
    index[index < 0] = n  # a null key reads row n: no value
    # many distinct values (the items): spread their bytes over the candidates with one NumPy
    # take and decode once; few (the user's one row): decode them and gather the small frame
    spread = n * 8 > len(index)
    # the all-null row n only when a key has no value: a column without nulls skips Arrow
    rows = index if spread else np.arange(n + int(bool((index == n).any())))
    width = _width(spec)
    empty = _HEAD.pack(0, 0) + spec.null_blob()
    fixed = np.frombuffer(
        b"".join([*(b[:width] if b is not None else empty for b in blobs), empty]), dtype=np.uint8
    ).reshape(n + 1, width)[rows]
    has_value = np.fromiter((b is not None for b in blobs), bool, count=n)
    present = np.append(has_value, False)[rows]
    packed = set(spec.packed)
    columns = decode_packed(
        spec, fixed[:, _HEAD.size :], {f: dtype_of[f] for f in feats if f in packed}
    )
    text = [f for f in feats if f not in columns]
    if text and spread:
        wanted = {f: dtype_of[f] for f in text}
        columns |= _text_columns(spec, blobs, has_value, width, wanted, rows)
    elif text:  # a few values: one Python parse each is cheaper than a dozen NumPy calls
        fields = _text_fields(spec)
        nulls: list[Any] = [None] * len(fields)
        tails = [_tail_at(b, width, fields) if b is not None else nulls for b in blobs]
        tails += [nulls] * (len(rows) - n)
        names_at = [f for f, _ in fields]
        for f in text:
            j = names_at.index(f)
            columns[f] = pl.Series(f, [t[j] for t in tails], dtype=dtype_of[f], strict=False)
    stamps = np.ascontiguousarray(fixed[:, :8]).view("<i8")[:, 0]
    ts = pl.Series("__event_ts", pa.array(stamps, mask=~present) if not present.all() else stamps)
    found = pl.DataFrame([*(columns[f] for f in feats), ts])
    return found if spread else found[pl.Series(index.astype(np.uint32))]


def _text_columns(
    spec: TableSpec,
    blobs: list[bytes | None],
    present: np.ndarray,
    width: int,
    wanted: dict[str, pl.DataType],
    index: np.ndarray,
) -> dict[str, pl.Series]:
    """The length-prefixed features of ``blobs`` (``None``: no value), spread by ``index``.

    Vectorized over values: per field, one NumPy gather reads every value's int32 length at its
    running offset, and a text field's bytes are copied into one contiguous buffer that becomes
    an Arrow string array (offsets + data, no Python string per row); row ``len(blobs)`` of
    ``index`` is null. Non-text fields (bytes, serialized protos) are sliced per value.
    ``present``: per value, whether it exists.
    """
    n = len(blobs)
    kept = [b for b in blobs if b is not None]
    lens_all = np.fromiter((len(b) for b in kept), np.int64, count=len(kept))
    buf = np.frombuffer(b"".join(kept), dtype=np.uint8)
    starts = np.concatenate([[0], np.cumsum(lens_all)[:-1]]).astype(np.int64)
    pos = starts + width
    # row of each value among the kept ones; missing values and the null key read as null
    row_of = np.full(n + 1, -1, dtype=np.int64)
    row_of[np.flatnonzero(present)] = np.arange(len(kept))
    take = row_of[index]
    out: dict[str, pl.Series] = {}
    four = np.arange(4, dtype=np.int64)
    for f, field in _text_fields(spec):
        length = (
            buf[pos[:, None] + four].copy().view("<i4")[:, 0].astype(np.int64)
            if len(kept)
            else np.zeros(0, np.int64)
        )
        begin = pos + 4
        size = np.maximum(length, 0)
        pos = begin + size
        if f not in wanted:
            continue
        valid = length >= 0
        if field == "string_val":
            offsets = np.concatenate([[0], np.cumsum(size)]).astype(np.int64)
            data = buf[np.repeat(begin - offsets[:-1], size) + np.arange(offsets[-1])]
            arr = pa.LargeStringArray.from_buffers(
                len(kept),
                pa.py_buffer(offsets),
                pa.py_buffer(data.tobytes()),
                pa.array(valid).buffers()[1] if not valid.all() else None,
            )
            picked = arr.take(pa.array(take, mask=take < 0))
            s = pl.Series(f, picked)
        else:
            cells = [
                bytes(buf[b : b + k]) if ok else None
                for b, k, ok in zip(begin.tolist(), size.tolist(), valid.tolist(), strict=True)
            ]
            spread = [cells[i] if i >= 0 else None for i in take.tolist()]
            out[f] = pl.Series(f, spread, dtype=wanted[f], strict=False)
            continue
        dtype = wanted[f]
        out[f] = s if s.dtype == dtype else s.cast(dtype, strict=False)
    return out


@_answering
def dump_view(config: RepoConfig, fv: FeatureView) -> pl.DataFrame:
    """Every stored key of ``fv`` with its cells: ``__ek`` (as SQLite keys it) + the features.

    The whole key set (from the index, checked against the values), in the shape
    :mod:`shoplab.features.consistency` reads from SQLite: for comparisons and audits.
    """
    spec = table_spec(config.project, fv)
    r = client(redis_url(config))
    prefix = value_prefix(config.project, fv.name)
    got: list[Any] = r.zrange(index_key(config.project, fv.name), 0, -1)
    members = [bytes(m) for m in got]
    rows: list[tuple[Any, ...]] = []
    for i in range(0, len(members), _CHUNK):
        chunk = members[i : i + _CHUNK]
        for m, blob in zip(chunk, _mget(r, [prefix + m for m in chunk]), strict=True):
            if blob is None:
                continue  # cannot happen: values and index are written in one MULTI
            ts, _, cells = decode(spec, blob)
            key: int | bytes = int(m) if spec.int_key else m
            rows.append((key, ts, *(cells[f] for f in spec.features)))
    names = ["__ek", "__event_ts", *spec.features]
    return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
