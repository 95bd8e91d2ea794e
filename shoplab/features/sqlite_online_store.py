"""Feast's own SQLite online store layout, with its file under the data root.

Not the configured store (that is :mod:`shoplab.features.online_store`); kept as the reference
layout the wide store is tested against, and as a config-only fallback in ``feature_store.yaml``::

    online_store:
      type: shoplab.features.sqlite_online_store.DataRootSqliteOnlineStore
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from feast import FeatureView
from feast.infra.online_stores.sqlite import SqliteOnlineStore, SqliteOnlineStoreConfig
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from pydantic import StrictStr

from shoplab.core.paths import under_data_root
from shoplab.features.read_time import expired_before

__all__ = ["DataRootSqliteOnlineStore", "DataRootSqliteOnlineStoreConfig"]


class DataRootSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    """Config of :class:`DataRootSqliteOnlineStore`: ``path`` is relative to the data root."""

    # feast's config narrows ``type`` to its own names: a Literal of ours cannot be a subtype
    type: Literal["shoplab.features.sqlite_online_store.DataRootSqliteOnlineStore"] = (
        "shoplab.features.sqlite_online_store.DataRootSqliteOnlineStore"  # type: ignore[assignment]
    )
    path: StrictStr = "feast/online.db"


class DataRootSqliteOnlineStore(SqliteOnlineStore):
    """Feast's SQLite online store (a row per entity x feature), its file under the data root.

    Reads enforce ttl as the wide store's do (:mod:`shoplab.features.read_time`).
    """

    def online_read(
        self,
        config: RepoConfig,
        table: FeatureView,
        entity_keys: list[EntityKeyProto],
        requested_features: list[str] | None = None,
    ) -> list[tuple[datetime | None, dict[str, ValueProto] | None]]:
        """Feast's read, an expired row as (its event time, None): null, status NOT_FOUND."""
        rows: list[tuple[datetime | None, dict[str, ValueProto] | None]] = super().online_read(
            config, table, entity_keys, requested_features
        )
        before = expired_before(table.ttl)
        if before is None:
            return rows
        return [
            (ts, None) if ts is not None and _aware(ts) < before else (ts, values)
            for ts, values in rows
        ]

    @staticmethod
    def _get_db_path(config: RepoConfig) -> str:
        path = under_data_root(config.online_store.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)  # Feast's naive means UTC
