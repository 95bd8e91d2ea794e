"""A two-sided cap shows both bounds: in the row, its JSON and both renderers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from shoplab.analysis import analyze
from shoplab.analysis.metrics import get_metric
from shoplab.analysis.reduce import NO_LOWER_CAP, Caps
from shoplab.analysis.render import render_markdown, render_rich
from shoplab.analysis.rows import metric_rows
from shoplab.analysis.stats import SufficientStatistic
from tests.analysis.builders import make_experiment


def _stats() -> dict[tuple[str, str | None], dict[str, SufficientStatistic]]:
    rng = np.random.default_rng(3)
    one = np.ones(200)
    out = {}
    for v in ("control", "treatment"):
        x = np.c_[rng.normal(5, 20, 200), one, rng.normal(5, 20, 200), one]
        out[(v, None)] = {"gmv_per_user": SufficientStatistic.from_units(x)}
    return out


@pytest.mark.parametrize(
    ("cap", "lower", "upper"),
    [
        ((-40.0, 90.0), -40.0, 90.0),  # refund-heavy pre-period: two-sided
        ((NO_LOWER_CAP, 90.0), None, 90.0),  # the usual one-sided cap
        (None, None, None),  # not winsorized
    ],
)
def test_row_carries_both_bounds(
    cap: tuple[float, float] | None, lower: float | None, upper: float | None
) -> None:
    caps: Caps = {"gmv_per_user": cap}
    (row,) = metric_rows(
        _stats(),
        [get_metric("gmv_per_user")],
        ["control", "treatment"],
        caps,
        cuped=True,
        alpha=0.05,
        tuning_n=1_000,
    )
    assert (row.winsorize_lower, row.winsorize_cap) == (lower, upper)
    raw = json.loads(row.model_dump_json())
    assert (raw["winsorize_lower"], raw["winsorize_cap"]) == (lower, upper)


def test_renderers_show_both_bounds_of_a_two_sided_cap(use_log: Path) -> None:
    card = analyze(make_experiment(), metrics=["ctr", "gmv_per_user"], daily=False)
    upper = card.row("gmv_per_user").winsorize_cap
    assert upper is not None
    assert card.row("gmv_per_user").winsorize_lower is None
    one_sided = render_markdown(card)
    assert f"gmv_per_user at ≤ {upper:.4g}" in one_sided
    rows = [
        r.model_copy(update={"winsorize_lower": -12.5}) if r.metric == "gmv_per_user" else r
        for r in card.rows
    ]
    two_sided = card.model_copy(update={"rows": rows})
    note = f"gmv_per_user within [-12.5, {upper:.4g}]"
    assert note in render_markdown(two_sided)
    out = io.StringIO()
    console = Console(file=out, width=400)
    for part in render_rich(two_sided):
        console.print(part)
    assert note in out.getvalue()
    assert json.loads(two_sided.model_dump_json())["rows"][1]["winsorize_lower"] == -12.5
