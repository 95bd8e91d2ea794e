"""The validated event log's manifest, and analysis reading exactly what validation saw.

Issue 12's cases: a hidden ``.extra.parquet``, a never-validated order of −250,000, a file
rewritten after validation. Each is reproduced on a synthetic log (``synthesize_event_log``,
contract-valid, quarantines nothing) and must be refused by ``analyze`` until re-validated, or
reported loudly with ``allow_unvalidated``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from shoplab.analysis import analyze
from shoplab.benchmarks.analysis import synthesize_event_log
from shoplab.core.contract import polars_schema
from shoplab.events import load_events
from shoplab.events.manifest import UnvalidatedLogError, check_event_log, read_manifest
from tests.analysis.builders import make_experiment

ORDERS_DAY = "2026-01-10.parquet"


@pytest.fixture(scope="module")
def raw_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3,000-user log with exposures, never validated (as a marketplace's export arrives)."""
    root = tmp_path_factory.mktemp("manifest-log")
    synthesize_event_log(root, users=3_000, days=7, pre_days=3, seed=5, validate=False)
    return root


@pytest.fixture
def log(raw_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "data"
    shutil.copytree(raw_log, root)
    monkeypatch.setenv("SHOPLAB_DATA", str(root))
    return root


def _gmv() -> float:
    card = analyze(make_experiment(days=7), metrics=["gmv_per_user"], daily=False)
    value = card.row("gmv_per_user").control_value
    assert value is not None
    return value


def _bad_order(root: Path, name: str, gmv: float = -250_000.0) -> Path:
    """One order of a real user in the window, written after validation."""
    ref = pl.read_parquet(root / "events" / "orders" / ORDERS_DAY).head(1)
    row = ref.with_columns(order_id=pl.lit(10**9, pl.Int64), gmv=pl.lit(gmv))
    path = root / "events" / "orders" / name
    row.cast(polars_schema("orders")).write_parquet(path)  # type: ignore[arg-type]
    return path


def test_validation_writes_a_manifest_of_every_accepted_file(log: Path) -> None:
    report = load_events()
    manifest = read_manifest()
    assert manifest is not None
    assert manifest.version == report.version
    on_disk = sorted(
        p.relative_to(log).as_posix() for p in (log / "events").rglob("*.parquet")
    )
    assert sorted(f.path for t in manifest.tables.values() for f in t.files) == on_disk
    for t in report.tables:
        entry = manifest.tables[t.table]
        assert entry.rows_in == entry.accepted + entry.quarantined == t.rows_in
        assert sum(f.rows for f in entry.files) == entry.accepted
    assert manifest.rows_in == report.rows_in
    # idempotent: a second run names the same version and keeps the first run's counts
    assert load_events().version == manifest.version
    on_file = json.loads((log / "events" / "manifest.json").read_text())
    assert on_file["version"] == manifest.version
    assert on_file["rows_in"] == on_file["accepted"] + on_file["quarantined"]


def test_analysis_refuses_a_log_never_validated_and_names_the_fix(log: Path) -> None:
    with pytest.raises(UnvalidatedLogError, match="shoplab events validate"):
        _gmv()
    card = analyze(make_experiment(days=7), metrics=["ctr"], daily=False, allow_unvalidated=True)
    assert card.status == "unvalidated_log"
    assert not card.trustworthy
    assert card.warnings[0].startswith("UNTRUSTWORTHY: event log NOT VALIDATED")
    assert card.event_log is not None
    assert card.event_log.status == "unvalidated"


def test_a_never_validated_negative_order_is_refused_then_quarantined(log: Path) -> None:
    """Issue 12: one order of gmv −250,000 written after validation moved gmv_per_user."""
    load_events()
    before = _gmv()
    bad = _bad_order(log, "late-export.parquet")
    with pytest.raises(UnvalidatedLogError, match=r"events/orders/late-export.parquet is new"):
        _gmv()
    forced = analyze(
        make_experiment(days=7), metrics=["gmv_per_user"], daily=False, allow_unvalidated=True
    )
    assert forced.status == "unvalidated_log"
    assert forced.event_log is not None
    assert forced.event_log.status == "changed"
    assert "late-export.parquet is new" in forced.warnings[0]
    assert forced.row("gmv_per_user").control_value != pytest.approx(before)  # it did move

    report = load_events()  # re-validation quarantines the order: the number comes back
    assert report["orders"].reasons == {"negative or NaN gmv": 1}
    assert report["orders"].rows_in == report["orders"].accepted + 1
    assert _gmv() == pytest.approx(before, rel=1e-12)
    assert not bad.exists() or pl.read_parquet(bad).height == 0


def test_hidden_files_are_neither_validated_nor_read(log: Path) -> None:
    load_events()
    before = _gmv()
    _bad_order(log, ".extra.parquet")
    assert check_event_log().status == "validated"
    assert _gmv() == pytest.approx(before, rel=1e-12)


def test_a_rewritten_file_is_a_change_and_a_touched_one_is_not(log: Path) -> None:
    load_events()
    target = log / "events" / "orders" / ORDERS_DAY
    os.utime(target, ns=(1, 1))  # same bytes, another mtime: hashed again, still the same
    assert check_event_log().status == "validated"
    df = pl.read_parquet(target)
    df.with_columns(gmv=pl.col("gmv") * 2).write_parquet(target)
    with pytest.raises(UnvalidatedLogError, match=f"events/orders/{ORDERS_DAY} was rewritten"):
        _gmv()
    (target.parent / "2026-01-09.parquet").unlink()
    check = check_event_log(allow_unvalidated=True)
    assert check.status == "changed"
    assert "events/orders/2026-01-09.parquet is missing" in check.problems


def test_every_scorecard_names_the_log_version_it_read(log: Path) -> None:
    version = load_events().version
    card = analyze(make_experiment(days=7), metrics=["ctr"], daily=False)
    assert card.event_log is not None
    assert (card.event_log.status, card.event_log.version) == ("validated", version)
    manifest = read_manifest()
    assert manifest is not None
    assert card.event_log.rows_in == manifest.rows_in
    assert card.event_log.files == manifest.files
    assert json.loads(card.model_dump_json())["event_log"]["version"] == version
    assert card.event_log.describe().startswith(f"event log {version} validated ")
