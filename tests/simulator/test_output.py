"""What ``simulate`` writes: exact schemas, file layout, determinism, re-runs, argument errors."""

from __future__ import annotations

import hashlib
import os
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shoplab.core.contract import TABLES, arrow_schema
from shoplab.simulator import SimulationReport, simulate

SMALL = {"users": 3_000, "items": 400, "days": 3, "seed": 11}


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "events").rglob("*.parquet"))
    }


def _simulate_into(root: Path, **kwargs: object) -> SimulationReport:
    old = os.environ.get("SHOPLAB_DATA")
    os.environ["SHOPLAB_DATA"] = str(root)
    try:
        return simulate(**{**SMALL, **kwargs})  # type: ignore[arg-type]
    finally:
        if old is None:
            os.environ.pop("SHOPLAB_DATA", None)
        else:
            os.environ["SHOPLAB_DATA"] = old


def test_every_file_has_exactly_the_contract_schema(data_root: Path) -> None:
    simulate(**SMALL)  # type: ignore[arg-type]
    for table in ("users", "shops", "items", "requests", "impressions", "clicks", "orders"):
        files = sorted((data_root / "events" / table).glob("*.parquet"))
        assert files, table
        if TABLES[table].daily:
            assert [f.name for f in files] == [
                "2026-01-01.parquet", "2026-01-02.parquet", "2026-01-03.parquet"
            ]
        for f in files:
            assert pq.read_schema(f).remove_metadata() == arrow_schema(table), f
    assert not (data_root / "events" / "exposures").exists()  # no policy, no exposure log


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    _simulate_into(tmp_path / "a")
    _simulate_into(tmp_path / "b")
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert a == b
    assert len(a) == 3 + 4 * SMALL["days"]


def test_the_number_of_threads_does_not_change_the_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shoplab.simulator.run as run

    monkeypatch.setattr(run, "_CANDIDATES_PER_CHUNK", 20_000)  # many chunks per day
    monkeypatch.setattr(run, "_WORKERS", 1)
    _simulate_into(tmp_path / "one")
    monkeypatch.setattr(run, "_WORKERS", 3)
    _simulate_into(tmp_path / "three")
    assert _digests(tmp_path / "one") == _digests(tmp_path / "three")


def test_another_seed_writes_other_data(tmp_path: Path) -> None:
    _simulate_into(tmp_path / "a")
    _simulate_into(tmp_path / "b", seed=12)
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in a)


def test_resimulating_replaces_the_previous_log(data_root: Path) -> None:
    simulate(**{**SMALL, "days": 4, "seed": 1})  # type: ignore[arg-type]
    (data_root / "quarantine" / "clicks").mkdir(parents=True)
    (data_root / "quarantine" / "clicks" / "batch-0001.parquet").write_bytes(b"stale")
    foreign = data_root / "events" / "exposures" / "assignment-2026-01-01.parquet"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"written by someone else")
    first = _digests(data_root)
    report = simulate(**SMALL)  # type: ignore[arg-type]
    again = _digests(data_root)
    daily = sorted(p.name for p in (data_root / "events" / "impressions").iterdir())
    assert daily == ["2026-01-01.parquet", "2026-01-02.parquet", "2026-01-03.parquet"]
    assert not (data_root / "quarantine").exists()  # the quarantine described the old log
    assert foreign.read_bytes() == b"written by someone else"  # not ours to delete
    assert again != first
    n = pq.read_table(data_root / "events" / "impressions").num_rows
    assert n == report.impressions  # nothing duplicated from the first run


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": 0}, "users == 0, must be >= 1."),
        ({"items": -5}, "items == -5, must be >= 1."),
        ({"days": 0}, "days == 0, must be >= 1."),
        ({"shops": 0}, "shops == 0, must be >= 1."),
        ({"seed": -1}, "seed == -1, must be an integer >= 0."),
        ({"start": "01/02/2026"}, "start == '01/02/2026', must be an ISO date (YYYY-MM-DD)."),
    ],
)
def test_bad_arguments_name_the_field_value_and_rule(
    data_root: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        simulate(**{**SMALL, **kwargs})  # type: ignore[arg-type]


def test_start_accepts_a_date(data_root: Path) -> None:
    report = simulate(**{**SMALL, "days": 1, "start": date(2025, 12, 31)})  # type: ignore[arg-type]
    assert (report.start, report.end) == (date(2025, 12, 31), date(2025, 12, 31))
    assert (data_root / "events" / "requests" / "2025-12-31.parquet").exists()


def test_package_surface_is_exactly_all() -> None:
    import shoplab.simulator as sim

    assert sorted(sim.__all__) == [
        "BASELINE", "ExperimentPolicy", "Policy", "PolicyDecision", "SimulationReport",
        "WorldConfig", "simulate", "world_of",
    ]
    for name in sim.__all__:
        assert getattr(sim, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = sim.nope  # type: ignore[attr-defined]


def test_importing_the_policy_contract_does_not_load_the_generator() -> None:
    import subprocess
    import sys

    code = ("import sys, shoplab.simulator.policy; "
            "print(sorted(m for m in ('pyarrow', 'shoplab.simulator.run') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_world_config_rejects_unknown_and_out_of_range_knobs() -> None:
    from pydantic import ValidationError

    from shoplab.simulator import WorldConfig

    with pytest.raises(ValidationError, match="extra_forbidden"):
        WorldConfig(request_rate=0.1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        WorldConfig(search_share=1.5)
