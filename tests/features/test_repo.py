"""The Feast repo itself: CLI apply/plan, data-root resolution, push source, public surface."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import shoplab.features as sf
from shoplab.features._root import feast_data_root, repo_path

PROJECT = repo_path().parent
FEAST = str(Path(sys.executable).parent / "feast")


def test_public_surface() -> None:
    public = {n for n in dir(sf) if not n.startswith("_")} - {
        "errors",
        "online",
        "repo",
        "training",
        "offline_store",
        "cli",
    }
    assert set(sf.__all__) == public
    assert {"training_labels", "training_set", "ranking_features"} <= set(sf.__all__)


def test_data_root_default_is_the_projects_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """`feast` chdirs into feature_repo/; an unset $SHOPLAB_DATA must still mean ./data."""
    monkeypatch.delenv("SHOPLAB_DATA", raising=False)
    assert feast_data_root() == PROJECT / "data"
    monkeypatch.setenv("SHOPLAB_DATA", "/somewhere/else")
    assert feast_data_root() == Path("/somewhere/else")


@pytest.mark.e2e
def test_feast_cli_apply_then_plan_has_no_drift(data_root: Path) -> None:
    env = {**os.environ, "SHOPLAB_DATA": str(data_root)}
    for args in (["apply"], ["plan"]):
        proc = subprocess.run(
            [FEAST, "-c", "feature_repo", *args],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert "No changes to registry" in proc.stdout
    assert (data_root / "feast" / "registry.db").is_file()
    assert (data_root / "feast" / "online.db").is_file()
    assert not (PROJECT / "feature_repo" / "data").exists()


def test_push_source_updates_online_features(use_built: Path) -> None:
    """A pushed short-term row is served at once, fresher than the hourly batch."""
    t = datetime(2026, 1, 4, 12, 30, tzinfo=UTC)
    sf.materialize(t - timedelta(minutes=30))
    before = sf.ranking_features(5, [1], "ranker_v2", as_of=t)["user_short_term__clicks_1h"]
    row = pl.DataFrame(
        {
            "user_id": [5],
            "event_timestamp": [t],
            "created_timestamp": [t],
            "clicks_1h": [41],
            "clicks_1d": [42],
            "impressions_1d": [43],
            "last_clicked_category": ["toys"],
        },
        schema_overrides={
            "event_timestamp": pl.Datetime("us", "UTC"),
            "created_timestamp": pl.Datetime("us", "UTC"),
        },
    )
    from feast.data_source import PushMode

    sf.feature_store().push("user_short_term_push", row.to_pandas(), to=PushMode.ONLINE)
    after = sf.ranking_features(5, [1], "ranker_v2", as_of=t)
    assert after["user_short_term__clicks_1h"].to_list() == [41] != before.to_list()
    assert after["user_short_term__last_clicked_category"].to_list() == ["toys"]


def test_materialize_without_tables_is_named(
    use_oracle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "empty"
    monkeypatch.setenv("SHOPLAB_DATA", str(root))
    sf.apply_repo()
    with pytest.raises(sf.FeatureTableMissingError, match="shoplab features build"):
        sf.materialize(datetime(2026, 1, 2, tzinfo=UTC))
    labels = pl.DataFrame({"user_id": [1], "event_timestamp": [datetime(2026, 1, 2, tzinfo=UTC)]})
    with pytest.raises(sf.FeatureTableMissingError, match="user_long_term"):
        sf.training_set(labels, features=["user_long_term:ctr_7d"])
