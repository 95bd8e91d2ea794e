"""The registry file survives a writer that dies mid-write (Feast's own store truncates first)."""

from __future__ import annotations

from pathlib import Path

import pytest
from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
from feast.repo_config import RegistryConfig

from shoplab.features.registry_store import DataRootRegistryStore


def _store(root: Path) -> DataRootRegistryStore:
    return DataRootRegistryStore(RegistryConfig(path="feast/registry.db"), root)


def _proto(project: str) -> RegistryProto:
    proto = RegistryProto()
    proto.project_metadata.add().project = project
    return proto


def test_registry_written_under_the_data_root_and_read_back(data_root: Path) -> None:
    store = _store(data_root)
    store.update_registry_proto(_proto("shoplab"))
    assert (data_root / "feast" / "registry.db").is_file()
    assert store.get_registry_proto().project_metadata[0].project == "shoplab"


def test_a_writer_dying_mid_write_leaves_the_previous_registry_intact(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(data_root)
    store.update_registry_proto(_proto("before"))
    before = (data_root / "feast" / "registry.db").read_bytes()

    def dies(*_: object) -> None:  # what SIGKILL does between open and write, as an exception
        raise KeyboardInterrupt

    monkeypatch.setattr("shoplab.core.atomic.os.fsync", dies)
    with pytest.raises(KeyboardInterrupt):
        store.update_registry_proto(_proto("after"))
    monkeypatch.undo()

    assert (data_root / "feast" / "registry.db").read_bytes() == before
    assert store.get_registry_proto().project_metadata[0].project == "before"
    assert [p.name for p in (data_root / "feast").iterdir()] == ["registry.db"]  # no temp left
