"""Feast registry and online-store classes whose paths are relative to the data root.

``feature_store.yaml`` names these classes so that the registry (``feast/registry.db``) and the
SQLite online store (``feast/online.db``) follow ``$SHOPLAB_DATA`` like every other generated file,
with the same default when it is unset (see :mod:`shoplab.features._root`). Scaling out stays a
config change: swap the class for ``redis`` / a ``sql`` registry.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from feast.infra.online_stores.sqlite import SqliteOnlineStore, SqliteOnlineStoreConfig
from feast.infra.registry.file import FileRegistryStore
from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
from feast.repo_config import RegistryConfig, RepoConfig
from pydantic import StrictStr

from shoplab.features._root import feast_data_root

__all__ = [
    "DataRootRegistryStore",
    "DataRootSqliteOnlineStore",
    "DataRootSqliteOnlineStoreConfig",
]


def _under_root(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else feast_data_root() / p


class DataRootRegistryStore(FileRegistryStore):
    """Feast's file registry with a path relative to the data root, written crash-safely.

    Feast's ``FileRegistryStore`` truncates ``registry.db`` and then writes it in place, so a
    process killed in between (a SIGKILLed ``materialize`` updating its intervals) leaves an
    empty or partial file, and every later command fails with "Wire format was corrupt". This
    store writes a temporary file next to it, fsyncs it and renames it over the registry: a
    reader sees the old registry or the new one, never half of one.
    """

    def __init__(self, registry_config: RegistryConfig, repo_path: Path) -> None:
        super().__init__(registry_config, repo_path)
        self._filepath = _under_root(registry_config.path)
        # FileRegistryStore creates only the last folder (mkdir without parents).
        self._filepath.parent.mkdir(parents=True, exist_ok=True)

    def _write_registry(self, registry_proto: RegistryProto) -> None:
        registry_proto.version_id = str(uuid.uuid4())
        registry_proto.last_updated.FromDatetime(datetime.now(UTC))
        folder = self._filepath.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self._filepath.name}.", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(registry_proto.SerializeToString())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._filepath)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(folder, os.O_RDONLY)
        try:  # make the rename itself durable
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class DataRootSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    """Config of :class:`DataRootSqliteOnlineStore`: ``path`` is relative to the data root."""

    type: Literal["shoplab.features._stores.DataRootSqliteOnlineStore"] = (  # type: ignore[assignment]
        "shoplab.features._stores.DataRootSqliteOnlineStore"
    )
    path: StrictStr = "feast/online.db"


class DataRootSqliteOnlineStore(SqliteOnlineStore):
    """Feast's SQLite online store (one row per entity x feature) with its file under the data root.

    No longer the configured store (that is :mod:`shoplab.features._wide_store`); kept as the
    reference layout the wide store is tested against, and as a config-only fallback.
    """

    @staticmethod
    def _get_db_path(config: RepoConfig) -> str:
        path = _under_root(config.online_store.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)
