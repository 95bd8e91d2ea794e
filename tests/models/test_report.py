"""The Models page's reads (``shoplab.models.report``) and the page itself (AppTest).

Oracles: the TrainedModel each version came from (its offline metrics and calibration bins), the
fitted estimators' own importances, and the registry's aliases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from shoplab.experiments import load_experiments
from shoplab.models.fallbacks import count_fallback
from shoplab.models.loaded import load
from shoplab.models.registry import get_version, mlflow_client
from shoplab.models.report import calibration, deployments, feature_importance, metrics_table
from tests.dashboards.conftest import APP
from tests.experiments.conftest import WriteConfigs, experiment_doc
from tests.models.conftest import World


def test_calibration_is_the_trained_models_own_bins(use_world: World) -> None:
    for trained in (use_world.logreg, use_world.lightgbm):
        got = calibration(get_version(trained.version.ref))
        want = trained.metrics.calibration
        assert got.height == len(want) > 0
        assert got["n"].to_list() == [b.n for b in want]
        np.testing.assert_allclose(got["predicted"].to_numpy(), [b.predicted for b in want])
        np.testing.assert_allclose(got["observed"].to_numpy(), [b.observed for b in want])
        assert int(got["n"].sum()) == trained.metrics.rows


def test_importance_is_the_estimators_own(use_world: World) -> None:
    info = get_version(use_world.lightgbm.version.ref)
    ranker = load(info).ranker
    assert ranker is not None
    got = feature_importance(info)
    gain = dict(zip(ranker.encoder.columns, ranker.estimator.feature_importance("gain"),
                    strict=True))
    assert dict(zip(got["feature"], got["importance"], strict=True)) == pytest.approx(gain)
    assert got["importance"].to_list() == sorted(got["importance"].to_list(), reverse=True)

    info = get_version(use_world.logreg.version.ref)
    ranker = load(info).ranker
    assert ranker is not None
    got = feature_importance(info)
    coef = np.abs(ranker.estimator.coef_).sum()
    assert float(got["importance"].sum()) == pytest.approx(float(coef))  # every column counted
    assert set(got["feature"]) == set(ranker.encoder.columns)


def test_deployments_resolve_aliases_and_name_what_is_missing(
    use_world: World, write_configs: WriteConfigs
) -> None:
    with mlflow_client() as client:
        client.set_registered_model_alias("ctr_lgbm", "challenger", "1")
    configs = write_configs(experiment_doc(
        "rank_models",
        buckets=[0, 5_000],
        variants=[
            {"key": "control", "weight": 0.5, "params": {"model": use_world.logreg.version.ref}},
            {"key": "challenger", "weight": 0.5, "params": {"model": "ctr_lgbm@challenger"}},
        ],
    ), experiment_doc("rank_gone", buckets=[5_000, 10_000], status="draft", variants=[
        {"key": "control", "weight": 0.5, "params": {"model": "ctr_nothing/9"}},
        {"key": "treatment", "weight": 0.5, "params": {"rank_w_quality": 1.5}},
    ]))
    got = {(d.experiment, d.variant): d for d in deployments(load_experiments(configs))}
    assert got[("rank_models", "control")].version == use_world.logreg.version.ref
    assert got[("rank_models", "challenger")].version == use_world.lightgbm.version.ref
    gone = got[("rank_gone", "control")]
    assert gone.version is None
    assert gone.problem is not None
    assert "ctr_nothing" in gone.problem
    assert ("rank_gone", "treatment") not in got  # names no model


def test_the_models_page_shows_the_registry(
    use_world: World, write_configs: WriteConfigs, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = write_configs(experiment_doc("rank_models", buckets=[0, 10_000], variants=[
        {"key": "control", "weight": 0.5, "params": {"model": use_world.logreg.version.ref}},
        {"key": "challenger", "weight": 0.5, "params": {"model": "ctr_lgbm/1"}},
    ]))
    monkeypatch.setenv("SHOPLAB_EXPERIMENTS", str(configs))
    count_fallback("rank_models", "challenger", "ctr_lgbm/1", "load_error", "a test's fallback")
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at = at.switch_page("app_pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]

    versions = next(d.value for d in at.dataframe if "gauc" in d.value.columns)
    table = metrics_table([get_version(t.version.ref)
                           for t in (use_world.logreg, use_world.lightgbm)]).to_pandas()
    shown = versions.set_index("model")
    for ref, want in table.set_index("model").iterrows():
        for col in ("auc", "gauc", "log_loss", "ndcg_at_10"):
            assert shown.loc[ref, col] == pytest.approx(want[col], rel=1e-12), (ref, col)
        assert shown.loc[ref, "service"] == "ranker_v2"

    deployed = next(d.value for d in at.dataframe if "reference" in d.value.columns)
    served = dict(zip(deployed["variant"], deployed["version"], strict=True))
    assert served == {"control": use_world.logreg.version.ref,
                      "challenger": use_world.lightgbm.version.ref}
    fallbacks = next(d.value for d in at.dataframe if "last_message" in d.value.columns)
    assert "a test's fallback" in set(fallbacks["last_message"])
    assert any("served by the control ranker" in e.value for e in at.error)

    # one version picked (other tests of the package register versions of their own, some
    # without a calibration): its calibration chart and importance table
    chosen = use_world.lightgbm.version.ref
    at = at.selectbox[0].set_value(chosen).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    importance = next(d.value for d in at.dataframe if "importance" in d.value.columns)
    want_top = feature_importance(get_version(chosen))["feature"][0]
    assert importance["feature"].iloc[0] == want_top


def test_a_page_without_a_registry_says_so(data_root: Path) -> None:
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at = at.switch_page("app_pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("No model registered yet" in i.value for i in at.info)


def test_offline_online_joins_the_registry_and_the_scorecard(
    use_world: World, write_configs: WriteConfigs
) -> None:
    """The offline gains are the registered metrics' differences; the online lifts the rows'."""
    from shoplab.analysis.scorecard import MetricRow
    from shoplab.models.report import offline_online

    configs = write_configs(experiment_doc("rank_models", buckets=[0, 10_000], variants=[
        {"key": "control", "weight": 0.5, "params": {"model": use_world.logreg.version.ref}},
        {"key": "challenger", "weight": 0.5, "params": {"model": use_world.lightgbm.version.ref}},
    ]))
    exp = load_experiments(configs)["rank_models"]

    def row(metric: str, rel: float) -> MetricRow:
        return MetricRow(metric=metric, role="business", kind="ratio", variant="challenger",
                         status="ok", n_control=100, n_treatment=100, rel_effect=rel,
                         rel_ci_lower=rel - 0.01, rel_ci_upper=rel + 0.01)

    class Card:  # the two rows the comparison reads (a Scorecard has them among others)
        rows = [row("ctr", -0.02), row("gmv_per_user", 0.03)]

    got = offline_online(exp, Card()).to_dicts()
    assert len(got) == 1
    (r,) = got
    lg, lr = use_world.lightgbm.metrics, use_world.logreg.metrics
    assert r["model"] == use_world.lightgbm.version.ref
    assert r["control_model"] == use_world.logreg.version.ref
    assert r["gauc_gain"] == pytest.approx(lg.gauc - lr.gauc)
    assert r["ndcg_at_10_gain"] == pytest.approx(lg.ndcg_at_10 - lr.ndcg_at_10)
    assert (r["ctr_lift"], r["gmv_lift"]) == (-0.02, 0.03)
    assert r["agree"] == ((lg.gauc - lr.gauc) < 0)  # the CTR lift is negative here


def test_the_demo_table_shows_the_true_ctr_ceiling_as_its_last_row(use_world: World) -> None:
    """The ceiling row: the oracle's own metrics and its gains over the control's model."""
    import dataclasses

    from shoplab.demo import offline_online_text

    lr, lg = use_world.logreg, use_world.lightgbm
    ceiling = dataclasses.replace(lr.metrics, auc=0.81, gauc=0.7777, ndcg_at_10=0.6543)

    class Card:  # no online rows: every lift is "—"
        control = "control"
        rows: list[object] = []

    text = offline_online_text({"control": lr, "ranker_v2": lg}, Card(), ceiling)
    last = [line for line in text.splitlines() if "true P(click)" in line]
    assert len(last) == 1
    cells = [c.strip() for c in last[0].split("│") if c.strip()] or last[0].split()
    joined = " ".join(cells)
    assert "(ceiling)" in joined
    assert "0.7777" in joined
    assert "0.6543" in joined
    assert f"{0.7777 - lr.metrics.gauc:+.4f}" in joined
    assert f"{0.6543 - lr.metrics.ndcg_at_10:+.4f}" in joined
    assert text.index(lg.version.ref) < text.index("true P(click)")  # after the models
    assert "true P(click)" not in offline_online_text({"control": lr}, Card())
