"""The simulated world looks like a marketplace (the checks listed in issue 2), measured in SQL.

Every figure is recomputed here from the Parquet files, independently of the simulator's code.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from shoplab.core.contract import CATEGORIES, CONTENT_TYPES, COUNTRIES, PLATFORMS, SURFACES
from shoplab.events import load_events
from tests.simulator.conftest import WORLD, SimWorld


def test_report_counts_match_the_files(sim_world: SimWorld) -> None:
    for table, rows in sim_world.report.rows.items():
        if table == "exposures":
            assert rows == 0  # no policy, no exposures
            continue
        assert sim_world.one(f"SELECT count(*) FROM {table}")[0] == rows, table
    assert sim_world.report.users == WORLD["users"]
    assert sim_world.report.start == date(2026, 3, 2)
    assert sim_world.report.end == date(2026, 3, 22)
    assert sum(sim_world.report.impressions_per_day) == sim_world.report.impressions


def test_overall_ctr_between_1_and_10_percent(sim_world: SimWorld) -> None:
    ctr = sim_world.one("SELECT (SELECT count(*) FROM clicks) / (SELECT count(*) FROM impressions)")
    assert 0.01 <= ctr[0] <= 0.10


def test_orders_per_click_between_1_and_10_percent(sim_world: SimWorld) -> None:
    cvr = sim_world.one("SELECT (SELECT count(*) FROM orders) / (SELECT count(*) FROM clicks)")
    assert 0.01 <= cvr[0] <= 0.10


def test_top_1_percent_of_buyers_hold_at_least_20_percent_of_gmv(sim_world: SimWorld) -> None:
    gmv = np.sort(
        sim_world.con.execute("SELECT sum(gmv) FROM orders GROUP BY user_id").fetchnumpy()[
            "sum(gmv)"
        ]
    )[::-1]
    top = max(1, len(gmv) // 100)
    assert len(gmv) >= 2000  # enough buyers for "top 1 %" to be 20+ users, not a handful
    assert gmv[:top].sum() / gmv.sum() >= 0.20


def test_ctr_falls_with_position(sim_world: SimWorld) -> None:
    rows = sim_world.con.execute(
        """
        SELECT i.position, avg((c.request_id IS NOT NULL)::DOUBLE) AS ctr, count(*) AS n
        FROM impressions i LEFT JOIN clicks c USING (request_id, item_id)
        GROUP BY 1 ORDER BY 1
        """
    ).fetchall()
    positions = np.array([r[0] for r in rows])
    ctr = np.array([r[1] for r in rows])
    assert positions[0] == 0
    rho = stats.spearmanr(positions, ctr).statistic
    assert rho < -0.95
    assert ctr[0] > 2.5 * ctr[9]  # examination (1 + p)^-0.6: position 9 is seen 4× less often


def test_new_items_get_fewer_impressions_per_item(sim_world: SimWorld) -> None:
    rows = dict(
        sim_world.con.execute(
            f"""
            SELECT it.created_ts >= TIMESTAMPTZ '{WORLD["start"]} 00:00:00+00' AS is_new,
                   count(i.item_id) / count(DISTINCT it.item_id) AS per_item
            FROM items it LEFT JOIN impressions i USING (item_id)
            GROUP BY 1
            """
        ).fetchall()
    )
    assert rows[True] > 0  # new items are shown at all (cold start, not invisible)
    assert rows[True] < 0.7 * rows[False]


def test_every_content_type_country_platform_surface_and_category_is_present(
    sim_world: SimWorld,
) -> None:
    def values(sql: str) -> set[str]:
        return {r[0] for r in sim_world.con.execute(sql).fetchall()}

    shown = "FROM impressions i JOIN items it USING (item_id)"
    assert values(f"SELECT DISTINCT it.content_type {shown}") == set(CONTENT_TYPES)
    assert values(f"SELECT DISTINCT it.category {shown}") == set(CATEGORIES)
    assert values("SELECT DISTINCT country FROM requests") == set(COUNTRIES)
    assert values("SELECT DISTINCT platform FROM requests") == set(PLATFORMS)
    assert values("SELECT DISTINCT surface FROM requests") == set(SURFACES)


def test_content_types_have_different_profiles(sim_world: SimWorld) -> None:
    rows = sim_world.con.execute(
        """
        SELECT it.content_type,
               avg((c.request_id IS NOT NULL)::DOUBLE) AS ctr
        FROM impressions i JOIN items it USING (item_id)
        LEFT JOIN clicks c USING (request_id, item_id) GROUP BY 1
        """
    ).fetchall()
    ctr = dict(rows)
    cvr = dict(
        sim_world.con.execute(
            """
            SELECT it.content_type, avg((o.order_id IS NOT NULL)::DOUBLE)
            FROM clicks c JOIN items it USING (item_id)
            LEFT JOIN orders o USING (request_id, item_id) GROUP BY 1
            """
        ).fetchall()
    )
    assert ctr["video"] > ctr["product"] > ctr["live"]  # videos are clicked most
    assert cvr["live"] > cvr["product"] > cvr["video"]  # live streams convert best


def test_some_orders_are_refunded_and_gmv_is_price_times_quantity(sim_world: SimWorld) -> None:
    refund_share, mismatches, min_q = sim_world.one(
        """
        SELECT avg(refunded::DOUBLE),
               count(*) FILTER (WHERE abs(o.gmv - round(it.price * o.quantity, 2)) > 0.005),
               min(o.quantity)
        FROM orders o JOIN items it USING (item_id)
        """
    )
    assert 0.01 <= refund_share <= 0.2
    assert mismatches == 0
    assert min_q >= 1


def test_activity_is_heavy_tailed(sim_world: SimWorld) -> None:
    counts = np.sort(
        sim_world.con.execute("SELECT count(*) AS n FROM requests GROUP BY user_id").fetchnumpy()[
            "n"
        ]
    )[::-1]
    top10 = counts[: len(counts) // 10].sum() / counts.sum()
    assert top10 >= 0.35  # a Poisson world with equal rates would give ≈ 0.15
    assert np.median(counts) <= 3


def test_new_and_returning_users_and_requests_after_signup(sim_world: SimWorld) -> None:
    start = f"TIMESTAMPTZ '{WORLD['start']} 00:00:00+00'"
    returning, new = sim_world.one(
        f"SELECT count(*) FILTER (WHERE signup_ts < {start}), "
        f"count(*) FILTER (WHERE signup_ts >= {start}) FROM users"
    )
    assert returning > 0
    assert new > 0
    assert 0.6 < returning / (returning + new) < 0.9
    early = sim_world.one(
        "SELECT count(*) FROM requests r JOIN users u USING (user_id) WHERE r.ts < u.signup_ts"
    )
    assert early[0] == 0
    active_new = sim_world.one(
        f"SELECT count(DISTINCT r.user_id) FROM requests r JOIN users u USING (user_id) "
        f"WHERE u.signup_ts >= {start}"
    )
    assert active_new[0] > 0


def test_requests_carry_the_users_country_and_platform(sim_world: SimWorld) -> None:
    bad = sim_world.one(
        "SELECT count(*) FROM requests r JOIN users u USING (user_id) "
        "WHERE r.country <> u.country OR r.platform <> u.platform"
    )
    assert bad[0] == 0


def test_search_has_a_query_and_feed_has_none(sim_world: SimWorld) -> None:
    bad = sim_world.one(
        "SELECT count(*) FROM requests WHERE (surface = 'search') <> (query IS NOT NULL)"
    )
    assert bad[0] == 0


def test_recall_only_shows_items_that_exist(sim_world: SimWorld) -> None:
    future = sim_world.one(
        "SELECT count(*) FROM impressions i JOIN items it USING (item_id) "
        "WHERE it.created_ts >= i.ts"
    )
    assert future[0] == 0
    orphan_shop = sim_world.one(
        "SELECT count(*) FROM items it JOIN shops s USING (shop_id) "
        "WHERE s.created_ts > it.created_ts"
    )
    assert orphan_shop[0] == 0


def test_new_shops_and_items_arrive_every_day(sim_world: SimWorld) -> None:
    start = f"TIMESTAMPTZ '{WORLD['start']} 00:00:00+00'"
    item_days, shop_days = sim_world.one(
        f"SELECT (SELECT count(DISTINCT created_ts::DATE) FROM items WHERE created_ts >= {start}),"
        f"       (SELECT count(DISTINCT created_ts::DATE) FROM shops WHERE created_ts >= {start})"
    )
    assert item_days == WORLD["days"]
    assert shop_days >= 1


def test_keys_are_unique_and_facts_are_consistent(sim_world: SimWorld) -> None:
    assert sim_world.one(
        "SELECT count(*) - count(DISTINCT request_id) FROM requests"
    )[0] == 0
    assert sim_world.one(
        "SELECT count(*) - count(DISTINCT (request_id, item_id)) FROM impressions"
    )[0] == 0
    assert sim_world.one("SELECT count(*) - count(DISTINCT order_id) FROM orders")[0] == 0
    # every click has its impression (same user), every order its click, nothing before its cause
    assert sim_world.one(
        "SELECT count(*) FROM clicks c LEFT JOIN impressions i USING (request_id, item_id) "
        "WHERE i.request_id IS NULL OR i.user_id <> c.user_id OR c.ts < i.ts"
    )[0] == 0
    assert sim_world.one(
        "SELECT count(*) FROM orders o LEFT JOIN clicks c USING (request_id, item_id) "
        "WHERE c.request_id IS NULL OR c.user_id <> o.user_id OR o.ts < c.ts"
    )[0] == 0
    # positions are 0..n-1 within each request
    assert sim_world.one(
        "SELECT count(*) FROM (SELECT request_id, max(position) + 1 AS m, count(*) AS n "
        "FROM impressions GROUP BY 1) WHERE m <> n"
    )[0] == 0


@pytest.mark.parametrize("table", ["requests", "impressions", "clicks", "orders"])
def test_daily_files_hold_their_day_only(sim_world: SimWorld, table: str) -> None:
    files = sorted((sim_world.root / "events" / table).glob("*.parquet"))
    assert [f.stem for f in files] == [
        str(np.datetime64(WORLD["start"]) + d) for d in range(WORLD["days"])  # type: ignore[operator]
    ]
    outside = sim_world.one(
        f"SELECT count(*) FROM read_parquet('{sim_world.root}/events/{table}/*.parquet', "
        "filename = true) WHERE ts::DATE::VARCHAR <> regexp_extract(filename, "
        "'(\\d{4}-\\d{2}-\\d{2})\\.parquet$', 1)"
    )
    assert outside[0] == 0


def test_the_simulated_log_passes_validation_untouched(
    sim_world: SimWorld, data_root: Path
) -> None:
    shutil.copytree(sim_world.root / "events", data_root / "events")
    report = load_events()
    assert report.quarantined == 0
    assert {t.table: t.rows_in for t in report.tables if t.files} == {
        k: v for k, v in sim_world.report.rows.items() if v
    }


def test_video_and_live_cards_are_kept_apart_when_the_list_has_room(sim_world: SimWorld) -> None:
    adjacent, lists = sim_world.one(
        """
        WITH s AS (
            SELECT i.request_id, i.position, it.content_type <> 'product' AS card
            FROM impressions i JOIN items it USING (item_id)
        ), roomy AS (
            SELECT request_id FROM s GROUP BY 1
            HAVING 2 * count(*) FILTER (WHERE card) - 1 <= count(*)
        )
        SELECT count(*) FILTER (WHERE a.card AND b.card), count(DISTINCT a.request_id)
        FROM s a JOIN s b ON a.request_id = b.request_id AND b.position = a.position + 1
        SEMI JOIN roomy r ON r.request_id = a.request_id
        """
    )
    assert lists > 1000
    assert adjacent == 0
