"""The Feast registry store of ``feature_store.yaml``: a file under the data root, written safely.

``feature_store.yaml`` names :class:`DataRootRegistryStore` so that the registry
(``feast/registry.db``) follows ``$SHOPLAB_DATA`` like every other generated file, by the one
data-root rule (:func:`shoplab.core.paths.data_root`, which also holds when ``feast`` has changed
into the repo folder). Scaling out stays a config change: a ``sql`` registry.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from feast.infra.registry.file import FileRegistryStore
from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
from feast.repo_config import RegistryConfig

from shoplab.core.atomic import atomic_write_bytes, remove_orphans
from shoplab.core.paths import under_data_root

__all__ = ["DataRootRegistryStore"]


class DataRootRegistryStore(FileRegistryStore):
    """Feast's file registry with a path relative to the data root, written crash-safely.

    Feast's ``FileRegistryStore`` truncates ``registry.db`` and then writes it in place, so a
    process killed in between (a SIGKILLed ``materialize`` updating its intervals) leaves an
    empty or partial file, and every later command fails with "Wire format was corrupt". This
    store writes a temporary file next to it, fsyncs it and renames it over the registry
    (:func:`shoplab.core.atomic.atomic_write_bytes`, durable): a reader sees the old registry or
    the new one, never half of one.
    """

    def __init__(self, registry_config: RegistryConfig, repo_path: Path) -> None:
        """Resolve the configured path under the data root and create its folder."""
        super().__init__(registry_config, repo_path)
        self._filepath = under_data_root(registry_config.path)
        # FileRegistryStore creates only the last folder (mkdir without parents).
        self._filepath.parent.mkdir(parents=True, exist_ok=True)

    def _write_registry(self, registry_proto: RegistryProto) -> None:
        registry_proto.version_id = str(uuid.uuid4())
        registry_proto.last_updated.FromDatetime(datetime.now(UTC))
        remove_orphans(self._filepath.parent)  # left by a writer that was killed mid-write
        atomic_write_bytes(self._filepath, registry_proto.SerializeToString(), durable=True)
