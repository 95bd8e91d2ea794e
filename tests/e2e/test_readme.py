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
