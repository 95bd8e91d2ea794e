"""Every page through ``streamlit.testing`` AppTest: what a page shows equals the SDK's objects.

The oracle is the Scorecard ``analysis.analyze`` returned when the session dataset was built (and
``experiments.load_experiments`` / ``experiments.allocation.place`` / ``analysis.power``), never
the dashboard's own helpers: a wrong column, a swapped interval or a stale cache fails here.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from shoplab.sdk import interactions
from tests.dashboards.conftest import APP
from tests.dashboards.dataset import Dataset

# First run of a page imports DuckDB/Altair and may analyze: generous for a busy 2-core machine.
TIMEOUT = 120


def _open(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    for k, v in params.items():
        at.query_params[k] = v
    return at.switch_page(f"app_pages/{page}.py").run()


def _no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _same(shown: Any, expected: float | None) -> bool:
    if expected is None:
        return shown is None or (isinstance(shown, float) and math.isnan(shown))
    return bool(np.isclose(float(shown), expected, rtol=1e-12, atol=0.0))


def _frame(at: AppTest, has: str) -> pd.DataFrame:
    """The first rendered dataframe with column ``has``."""
    frames = [d.value for d in at.dataframe if has in d.value.columns]
    assert frames, f"no dataframe with a {has!r} column on the page"
    return frames[0]


def _analyzed(data: Dataset) -> list[str]:
    """Experiments whose scorecard has a computed row (the others have nothing to compare)."""
    keys = [k for k, c in data.scorecards.items() if any(r.status == "ok" for r in c.rows)]
    if not keys:
        pytest.fail("the session dataset produced no scorecard with a computed row")
    return keys


def test_experiments_page_lists_every_experiment_and_its_bucket_ranges(
    on_dashboard_data: Dataset,
) -> None:
    from shoplab.analysis.metrics import get_metric
    from shoplab.experiments import load_layers
    from shoplab.experiments.allocation import place

    at = _open("experiments")
    _no_exceptions(at)
    table = _frame(at, "primary_metric").set_index("experiment")
    exps = on_dashboard_data.experiments
    assert sorted(table.index) == sorted(exps)
    for key, exp in exps.items():
        row = table.loc[key]
        assert (row["layer"], row["status"], row["primary_metric"], row["owner"]) == (
            exp.layer,
            exp.status,
            exp.metrics.primary,
            exp.owner,
        )
        lo, hi = exp.buckets or (0, round(exp.traffic * 10_000))
        assert row["traffic"] == pytest.approx((hi - lo) / 10_000 if exp.buckets else exp.traffic)
        card = on_dashboard_data.scorecards[key]
        primary = card.row(card.primary_metric)
        p = primary.adjusted_pvalue if primary.adjusted_pvalue is not None else primary.pvalue
        if card.srm.mismatch:
            expected = "SRM: untrustworthy"
        elif p is None:
            expected = "not computed"
        elif p >= card.alpha:
            expected = "not significant"
        else:
            better = (primary.abs_effect > 0) == get_metric(primary.metric).higher_is_better
            expected = "improvement" if better else "regression"
        assert row["verdict"] == expected
    ranges = _frame(at, "kind")
    layer_set = load_layers()
    layers = {layer.name for layer in layer_set.layers}
    for key, placement in place(exps).items():
        if (
            placement.layer in layers
            and placement.error is None
            and (exps[key].status != "stopped")
        ):
            mine = ranges[ranges["owner"] == key]
            assert mine[["layer", "start", "end"]].values.tolist() == [
                [placement.layer, placement.start, placement.end]
            ]
    if layer_set.holdout is not None:
        held = ranges[ranges["kind"] == "holdout"]
        assert held[["owner", "start", "end"]].values.tolist() == [
            [layer_set.holdout.key, 0, round(layer_set.holdout.share * 10_000)]
        ]
    assert set(ranges["layer"]) - {"global holdout"} <= layers
    # every layer's ranges tile [0, 10000) exactly: experiments + free space, no gap
    for layer, part in ranges.groupby("layer"):
        if not (part["kind"] == "experiment").any():
            continue
        assert (part["end"] - part["start"]).sum() == 10_000, layer


def test_scorecard_page_shows_the_scorecard_numbers(on_dashboard_data: Dataset) -> None:
    fields = [
        "control_value",
        "treatment_value",
        "abs_effect",
        "abs_ci_lower",
        "abs_ci_upper",
        "rel_effect",
        "rel_ci_lower",
        "rel_ci_upper",
        "pvalue",
        "adjusted_pvalue",
        "variance_reduction",
        "n_control",
        "n_treatment",
    ]
    for key in _analyzed(on_dashboard_data):
        card = on_dashboard_data.scorecards[key]
        at = _open("scorecard", experiment=key)
        _no_exceptions(at)
        table = _frame(at, "adjusted_pvalue")
        assert len(table) == len(card.rows)
        for (_, shown), row in zip(table.iterrows(), card.rows, strict=True):
            assert (shown["metric"], shown["variant"], shown["status"], bool(shown["cuped"])) == (
                row.metric,
                row.variant,
                row.status,
                row.cuped,
            )
            for f in fields:
                assert _same(shown[f], getattr(row, f)), (key, row.metric, f, shown[f])
        srm_text = " ".join(e.value for e in [*at.error, *at.success])
        assert ("Sample ratio mismatch" in srm_text) == card.srm.mismatch
        # the event log version the scorecard read, as validation recorded it
        assert card.event_log is not None
        assert card.event_log.status == "validated"
        manifest = json.loads((on_dashboard_data.root / "events/manifest.json").read_text())
        assert card.event_log.version == manifest["version"]
        assert card.event_log.describe() in [c.value for c in at.caption]
        # the decision, in the CLI's words
        assert card.decision is not None
        shown = [x.value for x in [*at.success, *at.error, *at.info] if "Decision:" in x.value]
        assert len(shown) == 1
        assert shown[0].startswith(f"Decision: **{card.decision.decision}** ")
        assert all(r in shown[0] for r in card.decision.reasons)
        assert f"{card.srm.pvalue:.3f}" in srm_text or f"{card.srm.pvalue:.2e}" in srm_text
        seq = _frame(at, "cs_lower")
        for (_, shown), row in zip(seq.iterrows(), card.rows, strict=True):
            assert _same(shown["cs_lower"], row.cs_lower)
            assert _same(shown["cs_upper"], row.cs_upper)
            if row.cs_lower is not None and row.cs_upper is not None:
                excludes_zero = row.cs_lower > 0 or row.cs_upper < 0
                assert shown["evidence"] == ("conclusive" if excludes_zero else "keep running")


def _with_daily_intervals(data: Dataset) -> list[str]:
    """Experiments whose primary metric has a daily interval (an unbalanced arm's heavy-tailed
    metric is withheld: status too_few_units, no interval; the 5 % holdout's gmv_per_user is)."""
    return [
        k for k in _analyzed(data)
        if any(p.metric == data.scorecards[k].primary_metric and p.abs_ci_lower is not None
               for p in data.scorecards[k].daily)
    ]


def test_trends_page_shows_the_daily_series_with_both_intervals(on_dashboard_data: Dataset) -> None:
    key = _with_daily_intervals(on_dashboard_data)[0]
    card = on_dashboard_data.scorecards[key]
    at = _open("trends", experiment=key)
    _no_exceptions(at)
    metric, variant = at.selectbox[0].value, at.selectbox[1].value
    assert metric == card.primary_metric
    points = sorted(
        (p for p in card.daily if p.metric == metric and p.variant == variant), key=lambda p: p.day
    )
    assert points, "the scorecard has no daily series for its primary metric"
    for interval, lo, hi in [
        ("always-valid", "cs_lower", "cs_upper"),
        ("fixed-horizon", "abs_ci_lower", "abs_ci_upper"),
    ]:
        at.radio[0].set_value(interval).run()
        _no_exceptions(at)
        shown = _frame(at, "effect")
        assert [d.date() for d in pd.to_datetime(shown["day"])] == [p.day for p in points]
        for (_, s), p in zip(shown.iterrows(), points, strict=True):
            assert _same(s["effect"], p.abs_effect)
            assert _same(s["ci_lower"], getattr(p, lo))
            assert _same(s["ci_upper"], getattr(p, hi))
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"), "no trend chart drawn"


def test_trends_page_says_why_a_withheld_series_has_no_chart(on_dashboard_data: Dataset) -> None:
    withheld = [k for k in _analyzed(on_dashboard_data)
                if k not in _with_daily_intervals(on_dashboard_data)]
    if not withheld:
        pytest.skip("every analyzed experiment has daily intervals in this dataset")
    at = _open("trends", experiment=withheld[0])
    _no_exceptions(at)
    assert any("has an effect with an interval yet" in i.value for i in at.info)
    assert not (at.get("arrow_vega_lite_chart"))
    assert not (at.get("vega_lite_chart"))


def test_segments_page_shows_bh_adjusted_pvalues_of_the_breakdown(
    on_dashboard_data: Dataset,
) -> None:
    from shoplab import sdk

    key = _analyzed(on_dashboard_data)[0]
    at = _open("segments", experiment=key, segment="platform")
    _no_exceptions(at)
    oracle = sdk.analyze(key, segment="platform", daily=False)
    shown = _frame(at, "segment")
    assert len(shown) == len(oracle.segments) > 0
    assert set(shown["dimension"]) == {"platform"}
    for (_, s), row in zip(shown.iterrows(), oracle.segments, strict=True):
        assert (s["segment"], s["metric"], s["variant"]) == (row.segment, row.metric, row.variant)
        for f in ("pvalue", "adjusted_pvalue", "rel_effect", "control_value", "treatment_value"):
            assert _same(s[f], getattr(row, f)), (row.segment, row.metric, f)
    assert any("Benjamini" in c.value for c in at.caption)


def test_interactions_page_shows_the_sdk_checks_or_says_not_computed(
    on_dashboard_data: Dataset,
) -> None:
    key = _analyzed(on_dashboard_data)[0]
    at = _open("interactions", experiment=key)
    _no_exceptions(at)
    oracle = interactions(key)
    if not oracle:
        assert any("nothing to check" in s.value for s in at.success)
        pytest.skip(f"{key} has no concurrent experiment in another layer in this dataset")
    independence = _frame(at, "dependent")
    assert independence["other"].tolist() == [r.other for r in oracle]
    for (_, shown), r in zip(independence.iterrows(), oracle, strict=True):
        assert shown["units_both"] == r.units_both
        assert _same(shown["pvalue"], r.independence.pvalue)
        assert bool(shown["dependent"]) == r.independence.dependent
    effects = _frame(at, "interaction")
    expected = [(r.other, e) for r in oracle for e in r.effects]
    assert len(effects) == len(expected)
    for (_, shown), (other, e) in zip(effects.iterrows(), expected, strict=True):
        assert (shown["other"], shown["variant"], shown["other_variant"]) == (
            other,
            e.variant,
            e.other_variant,
        )
        for f in ("interaction", "ci_lower", "ci_upper", "pvalue", "adjusted_pvalue"):
            assert _same(shown[f], getattr(e, f)), (other, f)
    flagged = any(r.flagged for r in oracle)
    assert bool([e for e in at.error if "independent" in e.value or "Interaction" in e.value]) == (
        flagged
    )


def test_power_page_shows_analysis_power_for_every_cell(on_dashboard_data: Dataset) -> None:
    from shoplab import analysis

    key = _analyzed(on_dashboard_data)[0]
    exp = on_dashboard_data.experiments[key]
    at = _open("power", experiment=key)
    _no_exceptions(at)
    grid = _frame(at, "mde_cuped")
    metric = exp.metrics.primary
    assert at.selectbox[0].value == metric
    ok = grid[grid["status"] == "ok"]
    assert len(ok) > 0
    for _, cell in ok.sample(n=min(4, len(ok)), random_state=0).iterrows():
        res = analysis.power(
            metric,
            float(cell["traffic_share"]),
            int(cell["days"]),
            alpha=0.05,
            power=0.8,
            variants=len(exp.variants),
        )
        assert _same(cell["mde"], res.mde_rel)
        assert _same(cell["mde_cuped"], res.mde_rel_cuped)
    # more traffic never needs a larger effect: MDE falls with the share at a fixed duration
    for _, by_days in ok.groupby("days"):
        mdes = by_days.sort_values("traffic_share")["mde"].to_numpy()
        assert (np.diff(mdes) <= 1e-12).all()


def test_features_page_lists_the_registry(on_dashboard_data: Dataset) -> None:
    from feast import FeatureStore

    from shoplab.dashboards.feature_registry import REPO_PATH
    from shoplab.features.consistency import last_materialized

    store = FeatureStore(repo_path=str(REPO_PATH))
    at = _open("features")
    _no_exceptions(at)
    assert sorted(_frame(at, "entity")["entity"]) == sorted(e.name for e in store.list_entities())
    assert sorted(_frame(at, "feature_view")["feature_view"]) == sorted(
        v.name for v in store.list_feature_views()
    )
    assert sorted(_frame(at, "feature_service")["feature_service"]) == sorted(
        s.name for s in store.list_feature_services()
    )
    views = {v.name: v for v in store.list_feature_views()}
    fresh = _frame(at, "online_behind_hours").set_index("feature_view")
    manifest = json.loads((on_dashboard_data.root / "events/manifest.json").read_text())
    for name, view in views.items():
        last = max((end for _, end in view.materialization_intervals), default=None)
        assert fresh.loc[name, "last_materialized"] == last
        assert fresh.loc[name, "event_log"] == manifest["version"]  # built from the validated log
    # null rates of the first view, recomputed from its offline Parquet with DuckDB
    import duckdb

    first = at.selectbox[0].value
    view = views[first]
    stats = _frame(at, "null_rate").set_index("feature")
    ts = view.batch_source.timestamp_field
    path = view.batch_source.path
    src = f"{path}/**/*.parquet" if not path.endswith(".parquet") else path
    cols = list(stats.index)
    keys = ", ".join(c.name for c in view.entity_columns)
    sql = ", ".join(f'avg(("{c}" is null)::double) as "{c}"' for c in cols)
    oracle = (
        duckdb.connect()
        .execute(
            f"with t as (select * from read_parquet($src)) "
            f"select {sql} from (select * from t where {ts} = (select max({ts}) from t) "
            f"order by {keys} limit 50000)",
            {"src": src},
        )
        .fetchone()
    )
    for c, expected in zip(cols, oracle, strict=True):
        assert stats.loc[c, "null_rate"] == pytest.approx(expected, abs=1e-12), c
    # online = offline is the feature store's contract, over the whole key set (the panel once
    # sampled 50 keys and said "all agree" over 3,906 orphans)
    from shoplab.features.consistency import compare_view

    check = compare_view(store, view, last_materialized(view))
    assert check.consistent
    assert check.online_keys > 50
    said = [s.value for s in at.success if "equals the offline tables" in s.value]
    assert said == [
        f"`{first}`: the online store equals the offline tables as of "
        f"{check.as_of:%Y-%m-%d %H:%M} UTC: the same {check.online_keys:,} keys, all "
        f"{check.compared:,} values."
    ], [e.value for e in at.error]


@pytest.mark.parametrize("page", ["scorecard", "trends", "segments", "interactions", "power"])
def test_unknown_experiment_in_url_gets_a_message_not_a_traceback(
    on_dashboard_data: Dataset, page: str
) -> None:
    at = _open(page, experiment="no_such_experiment")
    _no_exceptions(at)
    assert len(at.error) == 1
    msg = at.error[0].value
    assert "no_such_experiment" in msg
    assert all(k in msg for k in on_dashboard_data.experiments)


def test_unknown_segment_in_url_gets_a_message(on_dashboard_data: Dataset) -> None:
    key = sorted(on_dashboard_data.experiments)[0]
    at = _open("segments", experiment=key, segment="zodiac_sign")
    _no_exceptions(at)
    assert "zodiac_sign" in at.error[0].value


def test_broken_exposure_logging_raises_the_red_srm_banner(
    dashboard_data: Dataset, data_root: Path
) -> None:
    """Drop a seventh of one treatment arm's exposures (a logging bug), re-analyze: red banner."""
    from shoplab import analysis, sdk
    from shoplab.events import load_events

    shutil.copytree(dashboard_data.root / "events", data_root / "events")
    key = max(
        _analyzed(dashboard_data),
        key=lambda k: dashboard_data.scorecards[k].srm.observed.get(
            dashboard_data.scorecards[k].control, 0
        ),
    )
    treatment = next(v.key for v in dashboard_data.experiments[key].variants[1:])
    for f in sorted((data_root / "events" / "exposures").glob("*.parquet")):
        exposures = pl.read_parquet(f)
        lost = (
            (pl.col("experiment") == key)
            & (pl.col("variant") == treatment)
            & (pl.col("unit_id") % 7 == 0)
        )
        exposures.filter(~lost).write_parquet(f)
    load_events()  # the broken logger's output, validated like any log (it breaks no row rule)
    card = sdk.analyze(key)
    analysis.save_scorecard(card)
    assert card.srm.mismatch, "dropping 1/7 of one arm must be a sample ratio mismatch"

    at = _open("scorecard", experiment=key)
    _no_exceptions(at)
    banner = [e.value for e in at.error if "Sample ratio mismatch" in e.value]
    assert len(banner) == 1
    assert f"{card.srm.pvalue:.2e}" in banner[0]
    assert f"{treatment}: {card.srm.observed[treatment]:,}" in banner[0]
    assert not at.success  # no "Sample ratio OK" next to it

    at = _open("experiments")
    _no_exceptions(at)
    table = _frame(at, "primary_metric").set_index("experiment")
    assert table.loc[key, "verdict"] == "SRM: untrustworthy"


@pytest.mark.parametrize(
    "page", ["experiments", "scorecard", "trends", "segments", "interactions", "power", "features"]
)
def test_empty_data_root_explains_itself(data_root: Path, page: str) -> None:
    """A fresh checkout (no `shoplab demo` yet): every page says so, none shows a traceback."""
    at = _open(page)
    _no_exceptions(at)
    assert at.title[0].value == page.capitalize()
    if page != "experiments":  # configs ship with the package; everything else needs data
        assert [*at.warning, *at.info], "an empty data root must be explained on the page"
