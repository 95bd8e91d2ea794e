"""Broken inputs through the real ``shoplab`` console script: one message, never a traceback.

Each case breaks one thing in a copy of a small simulated world (a truncated Parquet file, a file
that is not Parquet, a missing column, an experiment config with a syntax error or a misspelt
key, a step run out of order, a bad date) and runs a command on it in a subprocess. It must exit
non-zero, print no ``Traceback``, name the file (or the field and the value) it refused, and leave
the data root and the config directory byte for byte as they were.

Cases whose raise site belongs to an area still being refactored are ``xfail`` with the site in
the reason; they turn into passes (reported as XPASS) as those land.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.e2e

SHOPLAB = str(Path(sys.executable).with_name("shoplab"))
CONFIGS = Path(__file__).parents[2] / "experiments" / "configs"
# 3 days inside the packaged experiments' window (rank_ranker_v2 runs 2026-01-08..2026-01-22)
WORLD = {"users": 2_000, "items": 400, "days": 3, "seed": 5, "start": "2026-01-08"}
ORDERS = "events/orders/2026-01-09.parquet"


@dataclass(frozen=True)
class Case:
    """A breakage, the command run on it, and what its one message must name."""

    name: str
    args: tuple[str, ...]
    expect: tuple[str, ...]  # regular expressions, each must match the output
    breakage: Callable[[Path, Path], None] = field(default=lambda root, configs: None)
    xfail: str | None = None  # the raise site that still lets a traceback through


def _truncate(rel: str) -> Callable[[Path, Path], None]:
    def breakage(root: Path, configs: Path) -> None:
        path = root / rel
        path.write_bytes(path.read_bytes()[:100])

    return breakage


def _not_parquet(rel: str) -> Callable[[Path, Path], None]:
    def breakage(root: Path, configs: Path) -> None:
        (root / rel).write_text("order_id,gmv\n1,20.0\n")

    return breakage


def _drop_column(rel: str, column: str) -> Callable[[Path, Path], None]:
    def breakage(root: Path, configs: Path) -> None:
        path = root / rel
        pl.read_parquet(path).drop(column).write_parquet(path)

    return breakage


def _edit_config(old: str, new: str) -> Callable[[Path, Path], None]:
    def breakage(root: Path, configs: Path) -> None:
        path = configs / "rank_ranker_v2.yaml"
        text = path.read_text()
        assert old in text, f"{old!r} is no longer in {path.name}: update the case"
        path.write_text(text.replace(old, new, 1))

    return breakage


def _features_built_not_applied(root: Path, configs: Path) -> None:
    _run(root, configs, "features", "build", check=True)


_yaml_syntax = _edit_config("owner: ", "owner: [unclosed ")
_trafic = _edit_config("traffic:", "trafic:")
_YAML_AT = (r"rank_ranker_v2\.yaml", r"line \d+, column \d+")
_TRAFIC = (r"rank_ranker_v2\.yaml", "trafic", "did you mean 'traffic'")
_ANALYZE = ("analyze", "rank_ranker_v2", "--as-of", "2026-01-10")

CASES = [
    Case("truncated parquet: validate", ("events", "validate"), (ORDERS.split("/")[-1],),
         _truncate(ORDERS)),
    Case("truncated parquet: build", ("features", "build"), (ORDERS.split("/")[-1],),
         _truncate(ORDERS)),
    Case("truncated parquet: analyze", _ANALYZE, (ORDERS.split("/")[-1],), _truncate(ORDERS)),
    Case("not parquet: validate", ("events", "validate"), ("notes.csv", "not a Parquet file"),
         _not_parquet("events/orders/notes.csv")),
    Case("parquet name, csv bytes: validate", ("events", "validate"),
         ("2026-01-11.parquet", "not a Parquet file"),
         _not_parquet("events/orders/2026-01-11.parquet")),
    Case("missing column: validate", ("events", "validate"), (ORDERS.split("/")[-1], "'gmv'"),
         _drop_column(ORDERS, "gmv")),
    Case("missing column: build", ("features", "build"), (ORDERS.split("/")[-1], "gmv"),
         _drop_column(ORDERS, "gmv")),
    Case("missing column: analyze", _ANALYZE, (ORDERS.split("/")[-1], "gmv"),
         _drop_column(ORDERS, "gmv")),
    Case("no event log: validate", ("events", "validate"), (r"no event files under \S+events",),
         lambda root, configs: shutil.rmtree(root / "events")),
    Case("no event log: analyze", _ANALYZE, ("events",),
         lambda root, configs: shutil.rmtree(root / "events")),
    Case("yaml syntax: validate", ("experiments", "validate"), _YAML_AT, _yaml_syntax),
    Case("yaml syntax: list", ("experiments", "list"), _YAML_AT, _yaml_syntax),
    Case("yaml syntax: assign", ("experiments", "assign", "5"), _YAML_AT, _yaml_syntax),
    Case("yaml syntax: simulate", ("simulate", "--users", "500", "--items", "100", "--days", "1",
                                   "--quiet"), _YAML_AT, _yaml_syntax),
    Case("misspelt key: validate", ("experiments", "validate"), _TRAFIC, _trafic),
    Case("misspelt key: assign", ("experiments", "assign", "5"), _TRAFIC, _trafic),
    Case("misspelt key: analyze", _ANALYZE, _TRAFIC, _trafic),
    Case("materialize before apply",
         ("features", "materialize", "--end", "2026-01-11T00:00:00Z"), ("apply",),
         _features_built_not_applied),
    Case("bad --at", ("experiments", "assign", "5", "--at", "2026-13-01"), ("2026-13-01",)),
    Case("bad --start: simulate", ("simulate", "--start", "2026-13-01"), ("2026-13-01",)),
    Case("bad --start: build", ("features", "build", "--start", "2026-13-01"), ("2026-13-01",)),
    Case("bad --end: materialize", ("features", "materialize", "--end", "2026-13-01"),
         ("2026-13-01",)),
    Case("bad --as-of: analyze", ("analyze", "rank_ranker_v2", "--as-of", "2026-13-01"),
         ("2026-13-01",)),
    Case("empty unit id", ("experiments", "assign", ""), ("unit_id == ''",)),
    Case("unit id beyond 64 bits", ("experiments", "assign", "99999999999999999999"),
         ("99999999999999999999", "64-bit")),
]


def _env(root: Path, configs: Path) -> dict[str, str]:
    return {**os.environ, "SHOPLAB_DATA": str(root), "SHOPLAB_EXPERIMENTS": str(configs),
            "COLUMNS": "200", "NO_COLOR": "1"}


def _run(
    root: Path, configs: Path, *args: str, check: bool = False
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [SHOPLAB, *args], env=_env(root, configs), capture_output=True, text=True,
        timeout=300, check=False, stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"shoplab {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _snapshot(*roots: Path) -> dict[str, str]:
    """Every file under ``roots`` by path, with its content hash (empty folders do not count)."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for root in roots for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small validated event log with the packaged experiments' exposures, copied per case."""
    from shoplab.audit.world import data_root_at
    from shoplab.events import load_events
    from shoplab.simulator import ExperimentPolicy, simulate

    root = tmp_path_factory.mktemp("cli-errors-world")
    with data_root_at(root):
        simulate(**WORLD, policy=ExperimentPolicy(CONFIGS))  # type: ignore[arg-type]
        load_events()  # a validated log: each case breaks it after validation
    return root


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=c.name, marks=[pytest.mark.xfail(reason=c.xfail, strict=False)]
                     if c.xfail else [])
        for c in CASES
    ],
)
def test_broken_input_gives_one_message(case: Case, world: Path, tmp_path: Path) -> None:
    root, configs = tmp_path / "data", tmp_path / "configs"
    shutil.copytree(world, root)
    shutil.copytree(CONFIGS, configs)
    case.breakage(root, configs)
    before = _snapshot(root, configs)

    proc = _run(root, configs, *case.args)

    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out[-3000:]
    assert proc.returncode != 0, out[-3000:]
    flat = " ".join(out.split())  # Rich wraps long lines even at 200 columns
    for pattern in case.expect:
        assert re.search(pattern, flat), f"{pattern!r} not in:\n{out[-3000:]}"
    assert _snapshot(root, configs) == before  # nothing written, moved or removed


def test_a_shoplab_error_is_one_line_on_stderr_with_exit_code_2(
    world: Path, tmp_path: Path
) -> None:
    """The entry point's handler: ``error: <message>``, stderr, code 2; stdout stays clean."""
    proc = _run(world, CONFIGS, "experiments", "assign", "")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: unit_id == ''")
    assert proc.stderr.count("\n") == 1


def test_a_bug_keeps_its_traceback() -> None:
    """Only failures on purpose are shortened: anything else is a bug and its report needs it."""
    from shoplab.cli import error_message
    from shoplab.core.errors import StateError

    assert error_message(StateError("x == 1, must be 2")) == "x == 1, must be 2"
    assert error_message(ZeroDivisionError("division by zero")) is None
    assert error_message(KeyError("user_id")) is None


def test_a_pydantic_error_at_a_boundary_names_field_and_value() -> None:
    from pydantic import BaseModel, ValidationError

    from shoplab.cli import error_message

    class Options(BaseModel):
        users: int

    with pytest.raises(ValidationError) as info:
        Options.model_validate({"users": "many"})
    message = error_message(info.value)
    assert message is not None
    assert "users == 'many'" in message
    assert "\n" not in message


def test_two_builds_at_once_the_second_names_the_first(world: Path, tmp_path: Path) -> None:
    """Issue 12: two writers on one data root would mix their partitions; the second refuses."""
    root, configs = tmp_path / "data", tmp_path / "configs"
    shutil.copytree(world, root)
    shutil.copytree(CONFIGS, configs)
    hold = (
        "import sys, time\n"
        "from shoplab.core.lock import writing\n"
        "with writing('features build'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold], env=_env(root, configs), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        before = _snapshot(root, configs)
        end = ("--end", "2026-01-10T00:00:00Z")
        for args in (("features", "build"), ("events", "validate"),
                     ("features", "materialize", *end)):
            proc = _run(root, configs, *args)
            out = proc.stdout + proc.stderr
            assert "Traceback" not in out, out[-3000:]
            assert proc.returncode == 2, out[-3000:]
            flat = " ".join(out.split())
            assert "is being written by `features build`" in flat, flat
            assert f"pid {holder.pid}" in flat
        assert _snapshot(root, configs) == before
    finally:
        holder.kill()
        holder.wait()
