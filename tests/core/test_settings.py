"""Settings: read from SHOPLAB_* once per environment, defaults in one place, errors named."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoplab.core.errors import ConfigError
from shoplab.core.settings import Settings, settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHOPLAB_DATA", "SHOPLAB_DUCKDB_MEMORY", "SHOPLAB_EXPERIMENTS", "SHOPLAB_METRICS"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_models_defaults() -> None:
    got = settings()
    assert got.data is None
    assert got.experiments is None
    assert got.duckdb_memory == Settings.model_fields["duckdb_memory"].default == "8GB"


def test_the_environment_overrides_and_is_reread_when_it_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHOPLAB_DUCKDB_MEMORY", "512MiB")
    monkeypatch.setenv("SHOPLAB_DATA", str(tmp_path))
    first = settings()
    assert first.duckdb_memory == "512MiB"
    assert first.data == tmp_path
    assert settings() is first  # cached while the environment holds still
    monkeypatch.setenv("SHOPLAB_DUCKDB_MEMORY", "2GB")
    assert settings().duckdb_memory == "2GB"
    monkeypatch.delenv("SHOPLAB_DUCKDB_MEMORY")
    assert settings().duckdb_memory == "8GB"


def test_other_variables_do_not_invalidate_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    first = settings()
    monkeypatch.setenv("NOT_SHOPLAB_X", "1")
    assert settings() is first


@pytest.mark.parametrize("bad", ["lots", "8 gigs", "-1GB", "GB"])
def test_a_bad_value_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("SHOPLAB_DUCKDB_MEMORY", bad)
    with pytest.raises(ConfigError, match=r"^SHOPLAB_DUCKDB_MEMORY == ") as info:
        settings()
    assert repr(bad) in str(info.value)
    assert isinstance(info.value, ValueError)
    monkeypatch.setenv("SHOPLAB_DUCKDB_MEMORY", "1GB")
    assert settings().duckdb_memory == "1GB"  # a fixed value is read again, nothing stuck


@pytest.mark.parametrize("name", ["SHOPLAB_DATA", "SHOPLAB_EXPERIMENTS"])
def test_an_empty_path_variable_means_unset(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """``SHOPLAB_DATA=`` must not turn into ``Path('.')``: the default rule applies instead."""
    monkeypatch.setenv(name, "  ")
    s = settings()
    assert s.data is None if name == "SHOPLAB_DATA" else s.experiments is None
