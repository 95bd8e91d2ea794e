"""The Feast online store of ``feature_store.yaml``: SQLite, one wide row per entity key and view.

Feast's ``sqlite`` store keeps one row per (entity key, feature): serving one user x 500
candidates with ``ranker_v1`` fetches ~9,500 rows, parses one ``ValueProto`` per value and pivots
them back (p99 120-170 ms on a loaded 2-core box). This store keeps the same Feast contract
(``online_write_batch`` for ``feast materialize`` and push sources, ``online_read`` for
``get_online_features`` and ``feast serve``, ``update`` / ``teardown`` for ``feast apply``) but
stores a view as one table ``<project>_<view>__wide``:

- ``__ek``: the entity key. A single integer join key (user, item, shop) is the ``INTEGER PRIMARY
  KEY`` itself (the rowid b-tree: one seek per key); any other key is Feast's v3 serialized entity
  key as a ``BLOB PRIMARY KEY`` of a ``WITHOUT ROWID`` table.
- ``__event_ts`` / ``__created_ts``: epoch microseconds (UTC), what the ttl check reads.
- one typed column per feature (INTEGER / REAL / TEXT / BLOB); a non-scalar feature (lists,
  maps) is its serialized ``ValueProto`` in a BLOB, so any Feast type round-trips.
- ``__packed``: the numeric features again, as one BLOB per row (a null bitmap, then one 8-byte
  little-endian int64 / float64 slot per numeric feature, see :func:`pack`). The serving path
  reads this column and decodes 500 rows with one ``np.frombuffer``: fetching 12 numeric columns
  as Python objects cost ~1 ms of a 10 ms budget. The typed columns stay the source of truth
  for Feast's ``online_read``, for partial writes and for anyone inspecting the file.

A request is then one indexed read of <= 500 rows per view (``shoplab.features._wide_read``).
Writes are upserts on ``__ek`` (last write wins, as in Feast's store), so re-running a
materialization is idempotent. ``feast apply`` recreates a table whose feature columns changed
(its rows must be re-materialized, as after any schema change).
SQLite cannot store NaN (it binds as NULL), so a NaN double reads back as null.

ttl is enforced at read time (feast #6821: Feast applies none online): ``online_read`` returns a
row older than its view's ttl as (its event time, None), which Feast serves as null with status
``NOT_FOUND`` (``shoplab.features.read_time`` says at which instant). ``delete_older_than`` lets
materialization drop keys that expired, so the online key set stays the offline point-in-time
set. The layout itself (:class:`TableSpec`, :func:`pack`) lives in
:mod:`shoplab.features.wide_table`, shared with the serving path.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from feast import Entity, FeatureView
from feast.infra.infra_object import InfraObject
from feast.infra.online_stores.online_store import OnlineStore
from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import FeastConfigBaseModel, RepoConfig
from pydantic import StrictStr

from shoplab.features.quiet import contain_feast_cli_noise
from shoplab.features.read_time import expired_before, reading_as_of
from shoplab.features.wide_table import (
    _US,
    EPOCH,
    TableSpec,
    _cell,
    _key,
    _proto,
    _us,
    connect,
    db_path,
    pack,
    quote,
    table_spec,
)

contain_feast_cli_noise()  # Feast imports this module for every command that opens the store

__all__ = [
    "EPOCH",
    "TableSpec",
    "pack",
    "WideSqliteOnlineStore",
    "WideSqliteOnlineStoreConfig",
    "connect",
    "db_path",
    "quote",
    "reading_as_of",
    "table_spec",
]


def _cutoff(ttl: timedelta | None) -> int | None:
    """Epoch microseconds before which a row of a view with ``ttl`` is expired (None: never)."""
    before = expired_before(ttl)
    return None if before is None else _us(before)


class WideSqliteOnlineStoreConfig(FeastConfigBaseModel):
    """Config of :class:`WideSqliteOnlineStore`: ``path`` is relative to the data root."""

    type: Literal["shoplab.features.online_store.WideSqliteOnlineStore"] = (
        "shoplab.features.online_store.WideSqliteOnlineStore"
    )
    path: StrictStr = "feast/online.db"


class WideSqliteOnlineStore(OnlineStore):
    """Feast online store: SQLite, one wide row per entity key and view (see the module doc)."""

    def __init__(self) -> None:
        """Start with no connection: each thread opens its own on first use."""
        self._local = threading.local()  # one connection per thread (`feast serve` threads)
        self._specs: dict[tuple[str, str, tuple[str, ...]], TableSpec] = {}

    def _conn(self, config: RepoConfig) -> sqlite3.Connection:
        path = db_path(config)
        conns: dict[str, sqlite3.Connection] = getattr(self._local, "conns", None) or {}
        self._local.conns = conns
        con = conns.get(path)
        if con is None:
            con = conns[path] = connect(path)
        return con

    def _spec(self, config: RepoConfig, fv: FeatureView) -> TableSpec:
        key = (config.project, fv.name, tuple(f"{f.name}:{f.dtype}" for f in fv.features))
        spec = self._specs.get(key)
        if spec is None:
            spec = self._specs[key] = table_spec(config.project, fv)
        return spec

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        """Upsert one row per entity key (materialization and push sources)."""
        if not data:
            return
        spec = self._spec(config, table)
        version = config.entity_key_serialization_version
        # a write that names a subset of the features updates only those (as Feast's store does)
        groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for ek, values, ts, created in data:
            names = tuple(f for f in spec.features if f in values)
            cells = {f: _cell(values[f], spec.proto_fields[spec.features.index(f)]) for f in names}
            groups.setdefault(names, []).append(
                (_key(spec, ek, version), _us(ts), _us(created), *cells.values(), pack(spec, cells))
            )
        con = self._conn(config)
        with con:
            for names, rows in groups.items():
                full = len(names) == len(spec.features)
                cols = ["__ek", "__event_ts", "__created_ts", *names]
                if full:
                    cols.append("__packed")
                else:
                    rows = [r[:-1] for r in rows]
                sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in cols[1:])
                con.executemany(
                    f"INSERT INTO {quote(spec.table)} ({', '.join(map(quote, cols))}) "
                    f"VALUES ({', '.join('?' * len(cols))}) "
                    f"ON CONFLICT(__ek) DO UPDATE SET {sets}",
                    rows,
                )
                if not full:
                    self._repack(con, spec, [r[0] for r in rows])
        if progress:
            progress(len(data))

    @staticmethod
    def _repack(con: sqlite3.Connection, spec: TableSpec, keys: list[Any]) -> None:
        """Rebuild ``__packed`` from the typed columns after a write of some features only."""
        cols = ", ".join(["__ek", *map(quote, spec.packed)])
        for i in range(0, len(keys), 10_000):
            chunk = keys[i : i + 10_000]
            rows = con.execute(
                f"SELECT {cols} FROM {quote(spec.table)} "
                f"WHERE __ek IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            con.executemany(
                f"UPDATE {quote(spec.table)} SET __packed = ? WHERE __ek = ?",
                [(pack(spec, dict(zip(spec.packed, r[1:], strict=True))), r[0]) for r in rows],
            )

    def online_read(
        self,
        config: RepoConfig,
        table: FeatureView,
        entity_keys: list[EntityKeyProto],
        requested_features: list[str] | None = None,
    ) -> list[tuple[datetime | None, dict[str, ValueProto] | None]]:
        """Feast's read contract: (event time, {feature: value}) per key; (None, None) if absent.

        A row older than the view's ttl (judged now, or at :func:`reading_as_of`) comes back as
        (its event time, None): Feast then serves null values with status ``NOT_FOUND``, never
        the expired value as ``PRESENT`` (feast #6821: Feast itself applies no ttl online), so
        ``feast serve`` and every other reader see what ``ranking_features`` sees.
        """
        spec = self._spec(config, table)
        cutoff = _cutoff(table.ttl)
        version = config.entity_key_serialization_version
        keys = [_key(spec, ek, version) for ek in entity_keys]
        wanted = [f for f in (requested_features or spec.features) if f in spec.features]
        fields = [spec.proto_fields[spec.features.index(f)] for f in wanted]
        select = ", ".join(["__ek", "__event_ts", *map(quote, wanted)])
        con = self._conn(config)
        found: dict[Any, tuple[Any, ...]] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 10_000):  # under SQLITE_MAX_VARIABLE_NUMBER (32766)
            chunk = unique[i : i + 10_000]
            for row in con.execute(
                f"SELECT {select} FROM {quote(spec.table)} "
                f"WHERE __ek IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                found[row[0]] = row
        out: list[tuple[datetime | None, dict[str, ValueProto] | None]] = []
        for k in keys:
            row = found.get(k)
            if row is None:
                out.append((None, None))
                continue
            stamp = EPOCH + row[1] * _US
            if cutoff is not None and row[1] < cutoff:
                out.append((stamp, None))
                continue
            values = {f: _proto(c, p) for f, c, p in zip(wanted, row[2:], fields, strict=True)}
            out.append((stamp, values))
        return out

    def delete_older_than(self, config: RepoConfig, table: FeatureView, before: datetime) -> int:
        """Delete the rows of ``table`` whose event time is before ``before``; return how many.

        Materialization calls it with ``end - ttl``: those keys have no valid row as of ``end``
        (point in time), so the online key set stays the offline one.
        """
        spec = self._spec(config, table)
        con = self._conn(config)
        with con:
            try:
                cur = con.execute(
                    f"DELETE FROM {quote(spec.table)} WHERE __event_ts < ?", (_us(before),)
                )
            except sqlite3.OperationalError:  # no table yet (apply not run): nothing to expire
                return 0
        return cur.rowcount

    def update(
        self,
        config: RepoConfig,
        tables_to_delete: Sequence[FeatureView],
        tables_to_keep: Sequence[FeatureView],
        entities_to_delete: Sequence[Entity],
        entities_to_keep: Sequence[Entity],
        partial: bool,
    ) -> None:
        """Create each kept view's table; recreate it if its columns changed; drop deleted ones."""
        con = self._conn(config)
        with con:
            for fv in tables_to_keep:
                spec = table_spec(config.project, fv)
                have = [
                    (r[1], r[2])
                    for r in con.execute(f"PRAGMA table_info({quote(spec.table)})").fetchall()
                ]
                if have and have != spec.columns():
                    # a changed feature list or type: old rows cannot be reinterpreted
                    con.execute(f"DROP TABLE {quote(spec.table)}")
                con.execute(spec.ddl())
            for fv in tables_to_delete:
                con.execute(f"DROP TABLE IF EXISTS {quote(table_spec(config.project, fv).table)}")
        self._specs.clear()

    def plan(self, config: RepoConfig, desired_registry_proto: RegistryProto) -> list[InfraObject]:
        """No infra objects: ``update`` creates the wide tables on ``feast apply``.

        Feast's ``SqliteTable`` infra object would create the long layout instead.
        """
        return []

    def teardown(
        self,
        config: RepoConfig,
        tables: Sequence[FeatureView],
        entities: Sequence[Entity],
    ) -> None:
        """Drop the views' tables (``feast teardown``)."""
        con = self._conn(config)
        with con:
            for fv in tables:
                con.execute(f"DROP TABLE IF EXISTS {quote(table_spec(config.project, fv).table)}")
