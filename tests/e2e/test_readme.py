"""The README's SDK example runs as written (on a fresh data root)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _sdk_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## SDK", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    if match is None:
        pytest.fail("README.md has no python block under '## SDK'")
    return match.group(1)


@pytest.mark.e2e
def test_readme_sdk_example_runs(data_root: Path) -> None:
    namespace: dict[str, object] = {}
    exec(compile(_sdk_example(), str(README), "exec"), namespace)  # noqa: S102
    card = namespace["card"]
    train, labels, online, items = (namespace[k] for k in ("train", "labels", "online", "items"))
    assert card.experiment == "rank_ranker_v2"  # type: ignore[attr-defined]
    assert train.height == labels.height > 0  # type: ignore[attr-defined]
    assert online["item_id"].to_list() == items  # type: ignore[index]
    assert (data_root / "feast").is_dir()


def _blocks(body: dict[str, str]) -> str:
    return "".join(
        f"## {name}\n<!-- BEGIN generated: {name} (shoplab readme) -->\n{text}"
        f"<!-- END generated: {name} -->\n\n"
        for name, text in body.items()
    )


def test_readme_blocks_are_copied_from_the_last_runs_and_checked(
    data_root: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from shoplab.benchmarks.harness import Result
    from shoplab.benchmarks.report import save_rows
    from shoplab.cli import app
    from shoplab.readme import block_text

    readme = tmp_path / "README.md"
    readme.write_text(_blocks({"demo-summary": "old\n", "audit": "old\n", "bench": "old\n"}))
    (data_root / "demo").mkdir()
    (data_root / "demo" / "summary.txt").write_text("┃ experiment ┃\n│ rank_x     │\n")
    save_rows([Result("features", "ranking_features", 0.0123, 80.0, "feast", 0.14, "n=300")],
              data_root / "benchmarks", full=False)

    run = CliRunner().invoke(app, ["readme", "--readme", str(readme), "--check"])
    assert run.exit_code == 1
    assert "demo-summary: stale" in run.output
    assert "audit: no source" in run.output

    run = CliRunner().invoke(app, ["readme", "--readme", str(readme)])
    assert run.exit_code == 0, run.output
    text = readme.read_text()
    assert block_text(text, "demo-summary") == "```\n┃ experiment ┃\n│ rank_x     │\n```\n"
    assert block_text(text, "audit") == "old\n"  # no audit run: left as it was
    bench = block_text(text, "bench")
    assert "| features | ranking_features | 12.300 ms | 80 | feast | 0.14× | n=300 |" in bench
    assert "quick sizes" in bench

    run = CliRunner().invoke(app, ["readme", "--readme", str(readme), "--check"])
    assert run.exit_code == 0, run.output
    assert "demo-summary: unchanged" in run.output


def test_the_project_readme_has_every_generated_block() -> None:
    from shoplab.readme import BLOCKS, block_text

    text = README.read_text(encoding="utf-8")
    for block in BLOCKS:
        assert block_text(text, block.name).strip(), block.name


@pytest.mark.slow
def test_readme_demo_block_equals_a_fresh_demo_run(data_root: Path) -> None:
    """The demo summary in the README is what `make demo` prints on a fresh data root today."""
    from rich.console import Console

    from shoplab.demo import run_demo, summary_path, summary_text
    from shoplab.readme import block_text

    summary = run_demo(console=Console(quiet=True))
    fresh = summary_text(summary["scorecards"])
    assert summary_path().read_text(encoding="utf-8") == fresh
    shown = block_text(README.read_text(encoding="utf-8"), "demo-summary")
    assert shown == "```\n" + fresh + "```\n", "README is stale: run make demo && shoplab readme"
