"""Fixtures for the experiment layer: config directories written from dicts, the metric names."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from shoplab.experiments.loader import DEFAULT_DIR, clear_cache

# The analysis catalog's names the brief lists; tests that need the real catalog import it.
CATALOG = frozenset(
    {"ctr", "cvr", "gmv_per_user", "orders_per_user", "aov", "buyer_rate", "refund_rate",
     "new_item_exposure_share"}
)

LAYERS: dict[str, Any] = {
    "holdout": {"key": "global_holdout", "share": 0.05, "salt": "ho"},
    "layers": [{"name": n, "salt": f"layer_{n}"} for n in ("recall", "prerank", "rank", "mix")],
}


def experiment_doc(key: str, **over: Any) -> dict[str, Any]:
    """A valid running experiment document; keyword arguments override fields."""
    doc: dict[str, Any] = {
        "key": key,
        "layer": "rank",
        "buckets": [0, 5000],
        "variants": [
            {"key": "control", "weight": 0.5, "params": {"rank_w_quality": 1.0}},
            {"key": "treatment", "weight": 0.5, "params": {"rank_w_quality": 1.5}},
        ],
        "status": "running",
        "start": "2026-01-08T00:00:00Z",
        "end": "2026-01-22T00:00:00Z",
        "metrics": {"primary": "ctr", "secondary": ["cvr"], "guardrails": ["refund_rate"]},
        "owner": "tests",
    }
    doc.update(over)
    return doc


WriteConfigs = Callable[..., Path]


@pytest.fixture
def write_configs(tmp_path: Path) -> WriteConfigs:
    """Write ``layers.yaml`` plus one YAML file per experiment doc into a fresh directory."""
    counter = iter(range(1_000_000))

    def write(*docs: dict[str, Any], layers: dict[str, Any] | None = None,
              raw: dict[str, str] | None = None) -> Path:
        root = tmp_path / f"configs{next(counter)}"
        root.mkdir()
        (root / "layers.yaml").write_text(yaml.safe_dump(layers or LAYERS, sort_keys=False))
        for doc in docs:
            (root / f"{doc['key']}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        for name, text in (raw or {}).items():
            (root / name).write_text(text)
        clear_cache()
        return root

    return write


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    """A copy of the shipped demo configs (safe to edit)."""
    root = tmp_path / "demo_configs"
    shutil.copytree(DEFAULT_DIR, root)
    clear_cache()
    return root
