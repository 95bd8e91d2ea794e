"""analyze() end to end on event logs written by hand (hand-checkable) and synthesized (agreement).

The hand-written log (START = 2026-01-08, 14-day window, 7-day pre-period):

- user 1, control, exposed day 1 12:00: 1 impression on day 0 (before exposure: not counted),
  3 impressions + 1 click on day 1 at 13:00 (counted), 1 impression on day 20 (after end: not
  counted); pre-period day −3: 2 impressions, 1 click.
- user 2, control, exposed day 0: 2 impressions, no click.
- user 3, treatment, exposed day 2: 4 impressions, 2 clicks, 2 orders: 50 (kept) + 20 (refunded).
- user 4, treatment, exposed day 0: 1 impression, 1 click, 1 order of 10.
- user 5: exposed to control and treatment → excluded and counted.
- user 6: exposed only before the start → not a unit. user 7: another experiment → ignored.

So ctr: control 1/5 = 0.2, treatment 3/5 = 0.6; gmv_per_user (net of refunds): 0 vs 30;
orders_per_user 0 vs 1.5; refund_rate: no control orders → zero_denominator.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from shoplab.analysis import (
    STATUSES,
    Scorecard,
    UnknownExperimentError,
    UnknownMetricError,
    analyze,
    analyze_assignments,
    load_scorecard,
    save_scorecard,
    scorecard_schema,
    unit_aggregates,
)
from shoplab.analysis.render import render_markdown
from shoplab.analysis.unit_query import EventTableMissingError
from shoplab.benchmarks.analysis import synthesize_event_log
from tests.analysis.builders import make_experiment, mark_validated, ts, write_table

ALL = ["ctr", "cvr", "gmv_per_user", "orders_per_user", "aov", "buyer_rate", "refund_rate"]


def _hand_log(root: Path) -> None:
    write_table(
        root,
        "users",
        {
            "user_id": [1, 2, 3, 4, 5, 6, 7],
            "signup_ts": [ts(-30)] * 4 + [ts(-1)] * 3,
            "country": ["ID", "ID", "TH", "TH", "ID", "ID", "ID"],
            "platform": ["ios", "web", "ios", "web", "ios", "ios", "ios"],
        },
        "users",
    )
    write_table(
        root,
        "items",
        {
            "item_id": [100, 101],
            "shop_id": [1, 1],
            "category": ["shoes", "bags"],
            "content_type": ["product", "video"],
            "price": [10.0, 50.0],
            "created_ts": [ts(-60), ts(-60)],
        },
        "items",
    )
    write_table(
        root,
        "exposures",
        {
            "experiment": ["bench_rank"] * 7 + ["other"],
            "variant": [
                "control",
                "control",
                "treatment",
                "treatment",
                "control",
                "treatment",
                "control",
                "control",
            ],
            "unit_id": [1, 2, 3, 4, 5, 5, 6, 7],
            "ts": [ts(1), ts(0), ts(2), ts(0), ts(0), ts(1), ts(-2), ts(0)],
        },
        "exposures",
    )
    imp: dict[str, list[object]] = {
        "request_id": [],
        "user_id": [],
        "item_id": [],
        "position": [],
        "ts": [],
    }

    def add_imp(user: int, when: object, k: int, item: int = 100) -> None:
        for i in range(k):
            imp["request_id"].append(len(imp["ts"]) + 1)
            imp["user_id"].append(user)
            imp["item_id"].append(item)
            imp["position"].append(i)
            imp["ts"].append(when)

    add_imp(1, ts(-3), 2)  # pre-period
    add_imp(1, ts(0), 1)  # before user 1's exposure
    add_imp(1, ts(1, 13), 3)
    add_imp(1, ts(20), 1)  # after the end
    add_imp(2, ts(0, 13), 2)
    add_imp(3, ts(2, 13), 4)
    add_imp(4, ts(0, 13), 1)
    add_imp(5, ts(1, 13), 5)
    for day in sorted({t.date() for t in imp["ts"]}):  # type: ignore[union-attr]
        sel = [i for i, t in enumerate(imp["ts"]) if t.date() == day]  # type: ignore[union-attr]
        write_table(
            root, "impressions", {k: [v[i] for i in sel] for k, v in imp.items()}, day.isoformat()
        )
    write_table(
        root,
        "clicks",
        {
            "request_id": [1, 4, 12, 13, 16],
            "user_id": [1, 1, 3, 3, 4],
            "item_id": [100] * 5,
            "ts": [ts(-3, 13), ts(1, 13.5), ts(2, 13.5), ts(2, 13.5), ts(0, 13.5)],
        },
        "clicks-all",
    )
    write_table(
        root,
        "orders",
        {
            "order_id": [1, 2, 3],
            "request_id": [12, 13, 16],
            "user_id": [3, 3, 4],
            "item_id": [101, 100, 100],
            "ts": [ts(2, 14), ts(2, 14), ts(0, 14)],
            "quantity": [1, 2, 1],
            "gmv": [50.0, 20.0, 10.0],
            "refunded": [False, True, False],
        },
        "orders-all",
    )
    mark_validated(root)  # order 1 (item 101, never clicked) would be quarantined: pinned here


@pytest.fixture
def hand_log(data_root: Path) -> Path:
    _hand_log(data_root)
    return data_root


def test_hand_log_attribution_and_values(hand_log: Path) -> None:
    exp = make_experiment(primary="ctr", secondary=ALL[1:6], guardrails=["refund_rate"])
    card = analyze(exp, cuped=False, daily=False)
    assert card.srm.multi_variant_units == 1
    assert {v.key: v.units for v in card.variants} == {"control": 2, "treatment": 2}
    ctr = card.row("ctr")
    assert (ctr.n_control, ctr.n_treatment) == (2, 2)
    assert ctr.control_value == pytest.approx(0.2)
    assert ctr.treatment_value == pytest.approx(0.6)
    assert ctr.abs_effect == pytest.approx(0.4)
    gmv = card.row("gmv_per_user")
    assert (gmv.control_value, gmv.treatment_value) == (0.0, 30.0)
    assert gmv.winsorize_cap is None  # no pre-period GMV → nothing to cap from
    assert card.row("orders_per_user").treatment_value == pytest.approx(1.5)
    assert card.row("refund_rate").status == "zero_denominator"
    assert card.row("aov").status == "zero_denominator"  # control has no orders
    # control GMV is 0 for both users; treatment 50 and 10: absolute effect and test, no lift
    assert gmv.status == "zero_baseline"
    assert gmv.rel_effect is None
    assert gmv.abs_effect == pytest.approx(30.0)
    assert gmv.pvalue is not None
    # cvr: control 0 orders on 1 click; treatment users 3 and 4 both convert every click (2/2,
    # 1/1), so every linearized unit value is 0 and the standard error is exactly 0
    assert card.row("cvr").status == "zero_variance"
    assert card.row("buyer_rate").status == "zero_variance"  # 0/2 vs 2/2 buyers
    assert all(r.status in STATUSES for r in card.rows)


def test_hand_log_unit_table(hand_log: Path) -> None:
    units = unit_aggregates(make_experiment(), metrics=["ctr", "gmv_per_user"]).table
    got = {r["unit_id"]: r for r in units.to_dicts()}
    assert sorted(got) == [1, 2, 3, 4]
    assert (got[1]["impressions"], got[1]["clicks"]) == (3.0, 1.0)
    assert (got[1]["pre_impressions"], got[1]["pre_clicks"]) == (2.0, 1.0)
    assert got[3]["gmv"] == 50.0
    assert (got[1]["country"], got[3]["platform"]) == ("ID", "ios")


def test_as_of_cuts_the_window(hand_log: Path) -> None:
    exp = make_experiment()
    # as of the end of day 1 (2026-01-09): user 3 (exposed day 2) is not yet in
    card = analyze(exp, as_of="2026-01-09", metrics=["ctr"], cuped=False, daily=False)
    assert {v.key: v.units for v in card.variants} == {"control": 2, "treatment": 1}
    row = card.row("ctr")
    assert row.status == "too_few_units"
    assert row.pvalue is None
    assert row.treatment_value == pytest.approx(1.0)  # user 4: 1 click / 1 impression


def test_no_event_log_is_refused(data_root: Path) -> None:
    """An empty data root has nothing to analyze: one error, and no scorecard of nothing."""
    with pytest.raises(EventTableMissingError, match="no event log under .*events"):
        analyze(make_experiment(), metrics=["ctr"], daily=False)


def test_no_exposures_gives_no_data_rows_and_is_not_trustworthy(hand_log: Path) -> None:
    """0 units is no SRM mismatch, but nothing was measured: the scorecard says so (status,
    warning) instead of passing as trustworthy."""
    import shutil

    shutil.rmtree(hand_log / "events" / "exposures")
    mark_validated(hand_log)
    card = analyze(make_experiment(), metrics=["ctr", "gmv_per_user"], daily=False)
    assert [r.status for r in card.rows] == ["no_data", "no_data"]
    assert card.status == "no_exposures"
    assert not card.trustworthy
    assert card.warnings[0].startswith("UNTRUSTWORTHY: no exposures of ")


def test_a_draft_experiment_is_not_trustworthy(hand_log: Path) -> None:
    card = analyze(make_experiment(status="draft"), metrics=["ctr"], daily=False)
    assert card.status == "draft"
    assert not card.trustworthy
    assert "is a draft" in card.warnings[0]


def test_unknown_metric_and_experiment_and_bad_options(hand_log: Path) -> None:
    with pytest.raises(UnknownMetricError, match=r"metric == 'ctrr', must be one of: .*ctr"):
        analyze(make_experiment(), metrics=["ctrr"])
    with pytest.raises(UnknownExperimentError, match="experiment == 'no_such_experiment_xyz'"):
        analyze("no_such_experiment_xyz")
    with pytest.raises(ValueError, match=r"segment == 'city', must be one of"):
        analyze(make_experiment(), segment="city")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"as_of == .*, must be after the experiment start"):
        analyze(make_experiment(), as_of="2025-01-01")


def test_sql_statistics_equal_numpy_on_unit_table(use_log: Path) -> None:
    exp = make_experiment(primary="ctr", secondary=ALL[1:], guardrails=[])
    card = analyze(exp, daily=False)
    units = unit_aggregates(exp)
    assignment = np.where(units.table["variant"].to_numpy() == "treatment", 1, 0)
    effects = analyze_assignments(units, assignment)
    for m in ALL:
        row, e = card.row(m), effects[m]
        assert row.status == "ok", m
        assert row.abs_effect == pytest.approx(float(e.abs_effect), rel=1e-9), m
        assert row.pvalue == pytest.approx(float(e.pvalue), rel=1e-7), m
        assert row.rel_ci_upper == pytest.approx(float(e.rel_ci_upper), rel=1e-9), m


def test_injected_ctr_effect_is_found_and_cuped_reduces_variance(use_log: Path) -> None:
    card = analyze(make_experiment(), daily=False)
    ctr = card.row("ctr")
    # synthetic log: click probability × 1.10 in treatment after exposure
    assert ctr.rel_ci_lower is not None
    assert ctr.rel_ci_upper is not None
    assert ctr.rel_ci_lower < 0.10 < ctr.rel_ci_upper
    assert ctr.pvalue is not None
    assert ctr.pvalue < 0.01
    assert ctr.cuped
    assert ctr.variance_reduction is not None
    assert ctr.variance_reduction > 0.05
    assert card.row("gmv_per_user").winsorize_cap is not None


def test_holm_and_bh_equal_statsmodels(use_log: Path) -> None:
    card = analyze(make_experiment(), segment="country", daily=False)
    tested = [r for r in card.rows if r.metric in ("ctr", "cvr", "gmv_per_user", "buyer_rate")]
    holm = multipletests([r.pvalue for r in tested], method="holm")[1]
    assert [r.adjusted_pvalue for r in tested] == pytest.approx(list(holm), rel=1e-12)
    assert card.row("refund_rate").adjusted_pvalue is None  # guardrails are not Holm-adjusted
    seg = [s for s in card.segments if s.metric == "ctr"]
    assert len(seg) == 8  # the synthetic log's countries
    bh = multipletests([s.pvalue for s in seg], method="fdr_bh")[1]
    assert [s.adjusted_pvalue for s in seg] == pytest.approx(list(bh), rel=1e-12)
    assert sum(s.n_control for s in seg) == card.row("ctr").n_control


def test_content_type_segments_partition_impressions(use_log: Path) -> None:
    card = analyze(
        make_experiment(), segment="content_type", metrics=["ctr"], daily=False, cuped=False
    )
    seg = {s.segment: s for s in card.segments}
    assert set(seg) == {"product", "video", "live"}
    # every unit is in every content-type segment (its events of that type, possibly none)
    assert all(s.n_control == card.row("ctr").n_control for s in seg.values())
    units = unit_aggregates(make_experiment(), metrics=["ctr"]).table
    ctl = units.filter(units["variant"] == "control")
    overall = ctl["clicks"].sum() / ctl["impressions"].sum()
    assert card.row("ctr").control_value == pytest.approx(overall, rel=1e-12)


def test_daily_series_ends_at_the_final_row(use_log: Path) -> None:
    card = analyze(make_experiment(), metrics=["ctr", "gmv_per_user", "buyer_rate"])
    for m in ("ctr", "gmv_per_user", "buyer_rate"):
        pts = [p for p in card.daily if p.metric == m]
        assert len(pts) == 14
        assert [p.n_control for p in pts] == sorted(p.n_control for p in pts)
        row = card.row(m)
        assert pts[-1].n_control == row.n_control
        assert pts[-1].abs_effect == pytest.approx(row.abs_effect, rel=1e-9)
        assert pts[-1].cs_upper == pytest.approx(row.cs_upper, rel=1e-9)
        # the always-valid interval contains the fixed-horizon one
        assert all(
            p.cs_lower <= p.abs_ci_lower and p.abs_ci_upper <= p.cs_upper
            for p in pts
            if p.status == "ok"
        )


def test_daily_point_equals_analysis_as_of_that_day(use_log: Path) -> None:
    exp = make_experiment()
    # gmv_per_user is left out: its winsorization cap is a quantile over the units of the run,
    # and an earlier as_of has fewer units (the series uses the final run's cap throughout)
    names = ["ctr", "orders_per_user", "buyer_rate"]
    card = analyze(exp, metrics=names)
    day5 = analyze(exp, metrics=names, as_of="2026-01-12", daily=False)
    for m in names:
        p = next(p for p in card.daily if p.metric == m and p.day.isoformat() == "2026-01-12")
        assert p.n_treatment == day5.row(m).n_treatment
        # same units, same events, same pre-period covariates: CUPED estimates agree exactly
        assert p.abs_effect == pytest.approx(day5.row(m).abs_effect, rel=1e-9)


def test_srm_broken_exposure_logging_is_flagged_loudly(data_root: Path) -> None:
    synthesize_event_log(data_root, users=20_000, drop_treatment_exposures=0.10, seed=3)
    card = analyze(make_experiment(), metrics=["ctr"], daily=False)
    assert card.srm.mismatch
    assert not card.trustworthy
    assert card.srm.pvalue < 0.001
    assert card.warnings[0].startswith("UNTRUSTWORTHY: sample-ratio mismatch")
    assert "UNTRUSTWORTHY" in render_markdown(card).splitlines()[0]


def test_scorecard_cache_roundtrip_and_json(
    use_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = analyze(make_experiment(), segment="platform")
    monkeypatch.setenv("SHOPLAB_DATA", str(tmp_path))  # write the cache outside the shared log
    path = save_scorecard(card)
    assert path.parent == tmp_path / "scorecards"
    loaded = load_scorecard("bench_rank")
    assert loaded == card
    raw = json.loads(path.read_text())
    assert "rows" in raw
    assert "srm" in raw
    assert "daily" in raw

    def floats(x: object) -> list[float]:
        if isinstance(x, float):
            return [x]
        if isinstance(x, dict):
            return [f for v in x.values() for f in floats(v)]
        if isinstance(x, list):
            return [f for v in x for f in floats(v)]
        return []

    assert all(math.isfinite(f) for f in floats(raw))
    schema = scorecard_schema()
    assert set(schema["properties"]) == set(Scorecard.model_fields)
    assert all(k == k.lower() for k in schema["properties"])


def test_daily_series_is_skipped_loudly_above_the_unit_threshold(
    use_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoplab.analysis import engine

    monkeypatch.setattr(engine, "DAILY_AUTO_MAX_UNITS", 1_000)
    card = analyze(make_experiment(), metrics=["ctr"])
    assert card.daily == []
    assert any(w.startswith("daily series skipped") for w in card.warnings)
    forced = analyze(make_experiment(), metrics=["ctr"], daily=True)
    assert len(forced.daily) == 14
