"""A small real dataset for the dashboard tests, built through the real pipeline.

simulate (with the configured experiments assigning users through ``simulator.ExperimentPolicy``)
→ ``analysis.analyze`` + ``save_scorecard`` for every experiment (what ``shoplab analyze`` does),
which writes the scorecard JSON the dashboard reads → the feature store (build, apply,
materialize), as the demo does.
Used by the AppTest suite (session fixture in ``conftest.py``) and the browser test. Every module
is imported plainly: a broken in-repo import must fail the suite, never skip it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from shoplab import analysis, experiments, features, sdk
from shoplab.analysis.interleaving import save_interleaving_scorecard
from shoplab.events import load_events
from shoplab.simulator import ExperimentPolicy, simulate

# The default configs start 2026-01-08 after a 7-day pre-period (CUPED, power); 14 days give
# 7 experiment days, enough for a daily series. At ≈ 0.06 requests per user-day, 30,000 users give
# every arm of every experiment a few hundred active users (finite intervals on every metric).
USERS = 30_000
ITEMS = 3_000
DAYS = 14
SEED = 11
START = date(2026, 1, 1)


@dataclass(frozen=True)
class Dataset:
    """Where the data lives and what the SDK computed on it (the oracle for the page tests)."""

    root: Path
    experiments: dict[str, Any]
    scorecards: dict[str, Any]
    interleaving: dict[str, Any] = field(default_factory=dict)
    """Interleaving scorecards (``analysis.interleaving``) of ``type: interleaving`` configs."""


_SHARED: dict[str, Dataset] = {}


def shared(factory: pytest.TempPathFactory) -> Dataset:
    """One dataset per test session for the AppTest suite and the browser test.

    Built once because it is the bulk of the suite's time (≈ 20 s on 2 busy cores: simulate,
    analyze, feature tables, feast apply + materialize).
    """
    if "dataset" not in _SHARED:
        _SHARED["dataset"] = build(factory.mktemp("dashboard") / "data")
    return _SHARED["dataset"]


def build(root: Path) -> Dataset:
    """Simulate, analyze and return the dataset under ``root`` (``$SHOPLAB_DATA`` set meanwhile)."""
    old = os.environ.get("SHOPLAB_DATA")
    os.environ["SHOPLAB_DATA"] = str(root)
    try:
        simulate(
            users=USERS,
            items=ITEMS,
            days=DAYS,
            seed=SEED,
            start=START,
            policy=ExperimentPolicy(),
        )
        load_events()  # analysis reads only a validated log
        exps = dict(experiments.load_experiments())
        interleaved = {k for k, e in exps.items() if getattr(e, "type", "ab") == "interleaving"}
        cards = {key: sdk.analyze(key) for key in sorted(set(exps) - interleaved)}
        for card in cards.values():  # what `shoplab analyze KEY` does: the dashboard reads these
            analysis.save_scorecard(card)
        il_cards = {key: sdk.analyze_interleaving(key) for key in sorted(interleaved)}
        for il in il_cards.values():
            save_interleaving_scorecard(il)
        _build_features()
    finally:
        if old is None:
            os.environ.pop("SHOPLAB_DATA", None)
        else:
            os.environ["SHOPLAB_DATA"] = old
    return Dataset(root=root, experiments=exps, scorecards=cards, interleaving=il_cards)


def _build_features() -> None:
    """Build feature tables, ``feast apply`` and materialize, as the demo does."""
    features.build_features()
    features.apply_repo()
    features.materialize(datetime.combine(START + timedelta(days=DAYS), time.min, tzinfo=UTC))
