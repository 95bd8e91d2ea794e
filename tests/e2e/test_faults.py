"""Faults mid-pipeline: killed feature builds and materializations, broken files and configs.

- ``shoplab features build`` and ``shoplab features materialize`` run as real subprocesses and
  are SIGKILLed once they have written part of their output; running the same command again must
  give the same tables as an uninterrupted run (content hashes of every feature partition and of
  every online-store table).
- A broken event file or experiment config between two pipeline steps stops the next step with
  an error naming the file and the field; restoring it lets the same step complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.e2e

SHOPLAB = str(Path(sys.executable).with_name("shoplab"))
WORLD = {"users": 8_000, "items": 1_500, "days": 10, "seed": 3, "start": "2026-01-01"}
END = datetime(2026, 1, 11, tzinfo=UTC)  # 00:00 after the last simulated day


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated event log (8k users × 10 days, ≈ 2 s) that each test copies."""
    from shoplab.audit.world import data_root_at
    from shoplab.simulator import simulate

    root = tmp_path_factory.mktemp("faults-sim")
    with data_root_at(root):
        simulate(**WORLD)  # type: ignore[arg-type]
    return root


def _copy_events(src: Path, dst: Path) -> None:
    shutil.copytree(src / "events", dst / "events", dirs_exist_ok=True)


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "SHOPLAB_DATA": str(root), "COLUMNS": "200"}


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHOPLAB, *args], env=_env(root), capture_output=True, text=True, timeout=600, check=False
    )


def _kill_when(root: Path, args: list[str], ready: Callable[[], bool]) -> int:
    """Start ``shoplab *args``, SIGKILL it (by its pid) as soon as ``ready()``; return its code."""
    proc = subprocess.Popen(
        [SHOPLAB, *args], env=_env(root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 600
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if ready():
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None and time.monotonic() >= deadline:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode


def _partitions(root: Path) -> list[Path]:
    folder = root / "features"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*/*.parquet") if not p.name.startswith("."))


def _table_hash(df: pl.DataFrame) -> str:
    """Content hash independent of row order (sorted on every column, written as CSV).

    Exact, floats included: the pipelines sum money as DECIMAL, so a rebuild is bit-identical
    (DOUBLE sums used to differ in the last bit between two builds: 154.87 vs 154.86999999999998).
    """
    canonical = df.select(sorted(df.columns)).sort(sorted(df.columns), nulls_last=True)
    return hashlib.sha256(canonical.write_csv().encode()).hexdigest()


def feature_hashes(root: Path) -> dict[str, str]:
    """``view/day`` → content hash of the partition, without ``created_timestamp`` (the build's
    wall-clock time, which differs between any two builds by design)."""
    return {
        f"{p.parent.name}/{p.stem}": _table_hash(pl.read_parquet(p).drop("created_timestamp"))
        for p in _partitions(root)
    }


def online_rows(root: Path) -> dict[str, int]:
    """Rows per online-store table; raises sqlite3.OperationalError while a writer holds a lock."""
    db = root / "feast" / "online.db"
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: int(con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}
    finally:
        con.close()


def online_hash(root: Path) -> dict[str, str]:
    """Content hash of every online-store table (every column, rows sorted by every column).

    Sorting by all columns keeps the hash independent of the store's layout (Feast's one row per
    entity x feature, or the wide one row per entity) and of the order rows were written in.
    """
    con = sqlite3.connect(root / "feast" / "online.db")
    try:
        names = sorted(
            r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        )
        out = {}
        for n in names:
            h = hashlib.sha256()
            for row in sorted(map(repr, con.execute(f'SELECT * FROM "{n}"'))):
                h.update(row.encode())
            out[n] = h.hexdigest()
        return out
    finally:
        con.close()


# --- killed mid-way -------------------------------------------------------------------------


@pytest.mark.slow
def test_killed_feature_build_then_rerun_gives_identical_tables(
    sim_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoplab.feature_repo.pipelines import VIEWS
    from shoplab.features import build_features

    reference, victim = tmp_path / "reference", tmp_path / "victim"
    for root in (reference, victim):
        _copy_events(sim_root, root)
    monkeypatch.setenv("SHOPLAB_DATA", str(reference))
    build_features()  # uninterrupted, in-process
    expected = feature_hashes(reference)
    total = len(VIEWS) * WORLD["days"]
    assert len(expected) == total

    code = _kill_when(victim, ["features", "build"], lambda: len(_partitions(victim)) >= 3)
    assert code == -signal.SIGKILL, "the build finished before it could be killed"
    partial = feature_hashes(victim)
    assert 3 <= len(partial) < total  # killed halfway: some partitions written, not all

    rerun = _run(victim, "features", "build")
    assert rerun.returncode == 0, rerun.stderr
    assert feature_hashes(victim) == expected
    assert not list((victim / "features").glob("*/.*.tmp"))  # no half-written file left
    stamps = {
        pl.read_parquet(p).get_column("created_timestamp").unique().to_list()[0]
        for p in _partitions(victim)
    }
    assert len(stamps) == 1  # every partition is from the re-run: none survived from the kill


@pytest.mark.slow
def test_killed_materialize_then_rerun_gives_identical_online_store(
    sim_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoplab.features import apply_repo, build_features, materialize

    reference, victim = tmp_path / "reference", tmp_path / "victim"
    _copy_events(sim_root, reference)
    monkeypatch.setenv("SHOPLAB_DATA", str(reference))
    build_features()
    shutil.copytree(reference, victim)  # same events, same feature tables (same bytes)
    apply_repo()
    materialize(END)
    expected = online_hash(reference)
    expected_rows = online_rows(reference)
    assert sum(expected_rows.values()) > 0

    monkeypatch.setenv("SHOPLAB_DATA", str(victim))
    apply_repo()
    assert sum(online_rows(victim).values()) == 0

    def writing() -> bool:
        try:
            return sum(online_rows(victim).values()) > 0
        except sqlite3.OperationalError:  # a writer holds the lock: rows are landing now
            return True

    code = _kill_when(victim, ["features", "materialize", "--end", END.isoformat()], writing)
    assert code == -signal.SIGKILL, "materialize finished before it could be killed"
    # a SIGKILLed SQLite writer leaves a hot journal: read a copy (opening it rolls the journal
    # back there), so the re-run below meets the store exactly as the kill left it
    snapshot = tmp_path / "snapshot"
    shutil.copytree(victim / "feast", snapshot / "feast")
    con = sqlite3.connect(snapshot / "feast" / "online.db")
    con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    con.close()
    assert sum(online_rows(snapshot).values()) < sum(expected_rows.values())  # interrupted

    rerun = _run(victim, "features", "materialize", "--end", END.isoformat())
    assert rerun.returncode == 0, rerun.stderr
    assert online_rows(victim) == expected_rows
    assert online_hash(victim) == expected


# --- broken inputs between steps ------------------------------------------------------------


def test_broken_event_file_names_file_and_column_and_rerun_after_fix_completes(
    sim_root: Path, data_root: Path
) -> None:
    from shoplab.events import EventLogError, load_events
    from shoplab.features import build_features

    _copy_events(sim_root, data_root)
    target = data_root / "events" / "impressions" / "2026-01-05.parquet"
    original = target.read_bytes()
    pl.read_parquet(target).with_columns(pl.col("position").cast(pl.String)).write_parquet(target)
    before = {p: p.read_bytes() for p in (data_root / "events").rglob("*.parquet")}

    with pytest.raises(EventLogError) as info:
        load_events()
    err = info.value
    assert err.path == target
    assert err.column == "position"
    assert str(target) in str(err)
    assert "'position'" in str(err)
    assert "int32" in str(err)
    after = {p: p.read_bytes() for p in (data_root / "events").rglob("*.parquet")}
    assert after == before  # a bad file stops the run before anything moves

    cli = _run(data_root, "events", "validate")
    assert cli.returncode == 1
    assert "2026-01-05.parquet" in cli.stdout
    assert "position" in cli.stdout

    target.write_bytes(original)  # the fix
    report = load_events()
    for t in report.tables:
        assert t.rows_in == t.accepted + t.quarantined
    built = build_features()
    assert all(n > 0 for n in built.rows.values())  # type: ignore[attr-defined]


def test_broken_experiment_config_names_file_and_field_and_rerun_after_fix_completes(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoplab import experiments
    from shoplab.events import load_events
    from shoplab.experiments.loader import DEFAULT_DIR
    from shoplab.sdk import analyze
    from shoplab.simulator import ExperimentPolicy, simulate

    configs = tmp_path / "configs"
    shutil.copytree(DEFAULT_DIR, configs)  # the shipped configs, whatever the environment says
    monkeypatch.setenv("SHOPLAB_EXPERIMENTS", str(configs))
    experiments.clear_cache()
    policy = ExperimentPolicy(experiments.load_layout(configs))
    simulate(users=3_000, items=600, days=21, seed=5, start="2026-01-01", policy=policy)
    load_events()

    target = configs / "rank_ranker_v2.yaml"
    original = target.read_text()
    assert "traffic: 0.6" in original
    target.write_text(original.replace("traffic: 0.6", "traffic: 1.7"))
    experiments.clear_cache()
    with pytest.raises(experiments.ConfigError) as info:
        analyze("rank_ranker_v2", daily=False)
    (problem,) = info.value.problems
    assert (problem.file, problem.field, problem.value) == ("rank_ranker_v2.yaml", "traffic", 1.7)
    assert "rank_ranker_v2.yaml: traffic == 1.7" in str(info.value)

    target.write_text(original)  # the fix
    experiments.clear_cache()
    card = analyze("rank_ranker_v2", daily=False)
    assert card.experiment == "rank_ranker_v2"
    assert sum(v.units for v in card.variants) > 0
    assert {r.metric for r in card.rows} >= {"cvr", "ctr"}


@pytest.mark.slow
def test_demo_stops_on_a_broken_event_file_and_completes_after_the_fix(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shoplab.simulator
    from shoplab.demo import DemoSettings, run_demo

    real = shoplab.simulator.simulate
    target = data_root / "events" / "orders" / "2026-01-12.parquet"

    def simulate_then_break(*args: object, **kwargs: object) -> object:
        report = real(*args, **kwargs)  # type: ignore[arg-type]
        df = pl.read_parquet(target)
        df.drop("gmv").write_parquet(target)  # a logger that forgot a column on one day
        return report

    monkeypatch.setattr(shoplab.simulator, "simulate", simulate_then_break)
    settings = DemoSettings(users=4_000, items=800)
    with pytest.raises(Exception, match=r"Validate the event log") as info:
        run_demo(settings)
    assert str(target) in str(info.value)
    assert "'gmv'" in str(info.value)

    monkeypatch.setattr(shoplab.simulator, "simulate", real)  # the fix: an intact log
    summary = run_demo(settings)
    assert summary["scorecards"], summary
