"""item_stats and shop_stats: item popularity with cold-start smoothing, shop authority; daily.

CTR and CVR are Beta-smoothed toward the item's category (empirical Bayes):
``ctr = (clicks_7d + m * p_cat) / (impressions_7d + m)`` with m = 200 pseudo-impressions, so an
item needs a few hundred impressions before its own data outweighs the prior (at a ~3% CTR, 200
impressions are ~6 clicks: a single lucky click moves a new item from 3% to 3.5%, not to 100%).
CVR uses m = 20 pseudo-clicks. A category without impressions in 7d falls back to the global rate;
with no impressions at all the smoothed rates are null.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from .relations import dim, stamp, ts_literal, window

__all__ = ["CTR_PRIOR_IMPRESSIONS", "CVR_PRIOR_CLICKS", "item_stats_sql", "shop_stats_sql"]

CTR_PRIOR_IMPRESSIONS = 200
CVR_PRIOR_CLICKS = 20


def item_stats_sql(day: date, created: datetime) -> str:
    """SELECT of the item_stats partition of ``day``: one row per item created before the stamp."""
    s = stamp(day)
    first = day - timedelta(days=6)
    s_, s1, s7 = ts_literal(s), ts_literal(s - timedelta(days=1)), ts_literal(s - timedelta(days=7))
    m, k = CTR_PRIOR_IMPRESSIONS, CVR_PRIOR_CLICKS
    return f"""
    WITH items AS (SELECT * FROM {dim("items")} WHERE created_ts < {s_}),
    acts AS (
        SELECT item_id, (ts >= {s1})::INT AS i1, 1 AS i7, 0 AS c1, 0 AS c7, 0 AS o1, 0 AS o7,
               0::DECIMAL(18, 2) AS g1, 0::DECIMAL(18, 2) AS g7
        FROM {window("impressions", first, day)} WHERE ts >= {s7} AND ts < {s_}
        UNION ALL
        SELECT item_id, 0, 0, (ts >= {s1})::INT, 1, 0, 0, 0, 0
        FROM {window("clicks", first, day)} WHERE ts >= {s7} AND ts < {s_}
        UNION ALL
        SELECT item_id, 0, 0, 0, 0, (ts >= {s1})::INT, 1,
               CASE WHEN ts >= {s1} THEN gmv::DECIMAL(18, 2) ELSE 0 END, gmv::DECIMAL(18, 2)
        FROM {window("orders", first, day)} WHERE ts >= {s7} AND ts < {s_}
    ),
    agg AS (
        SELECT item_id, sum(i1) AS i1, sum(i7) AS i7, sum(c1) AS c1, sum(c7) AS c7,
               sum(o1) AS o1, sum(o7) AS o7, sum(g1) AS g1, sum(g7) AS g7
        FROM acts GROUP BY item_id
    ),
    base AS (
        SELECT i.item_id, i.shop_id, i.category, i.content_type, i.price, i.created_ts,
               coalesce(a.i1, 0)::BIGINT AS impressions_1d, coalesce(a.c1, 0)::BIGINT AS clicks_1d,
               coalesce(a.o1, 0)::BIGINT AS orders_1d, coalesce(a.g1, 0)::DOUBLE AS gmv_1d,
               coalesce(a.i7, 0)::BIGINT AS impressions_7d, coalesce(a.c7, 0)::BIGINT AS clicks_7d,
               coalesce(a.o7, 0)::BIGINT AS orders_7d, coalesce(a.g7, 0)::DOUBLE AS gmv_7d
        FROM items i LEFT JOIN agg a USING (item_id)
    ),
    prior AS (
        SELECT category,
               sum(clicks_7d) / nullif(sum(impressions_7d), 0) AS ctr_p,
               sum(orders_7d) / nullif(sum(clicks_7d), 0) AS cvr_p
        FROM base GROUP BY category
    ),
    overall AS (
        SELECT sum(clicks_7d) / nullif(sum(impressions_7d), 0) AS ctr_g,
               sum(orders_7d) / nullif(sum(clicks_7d), 0) AS cvr_g
        FROM base
    )
    SELECT b.item_id,
           {s_} AS event_timestamp,
           {ts_literal(created)} AS created_timestamp,
           impressions_1d AS item_impressions_1d, clicks_1d AS item_clicks_1d,
           orders_1d AS item_orders_1d, gmv_1d AS item_gmv_1d,
           impressions_7d AS item_impressions_7d, clicks_7d AS item_clicks_7d,
           orders_7d AS item_orders_7d, gmv_7d AS item_gmv_7d,
           ((clicks_7d + {m} * coalesce(ctr_p, ctr_g)) / (impressions_7d + {m}))::DOUBLE
               AS ctr_7d_smoothed,
           ((orders_7d + {k} * coalesce(cvr_p, cvr_g)) / (clicks_7d + {k}))::DOUBLE
               AS cvr_7d_smoothed,
           (epoch_us({s_}) - epoch_us(created_ts))::DOUBLE / 86400000000.0 AS age_days,
           price, content_type, b.category AS item_category, shop_id AS item_shop_id
    FROM base b LEFT JOIN prior USING (category) CROSS JOIN overall
    """


def shop_stats_sql(day: date, created: datetime) -> str:
    """SELECT of the shop_stats partition of ``day``: one row per shop created before the stamp."""
    s = stamp(day)
    first = day - timedelta(days=29)
    s_, s30 = ts_literal(s), ts_literal(s - timedelta(days=30))
    return f"""
    WITH shops AS (SELECT * FROM {dim("shops")} WHERE created_ts < {s_}),
    ord AS (
        SELECT i.shop_id, o.gmv::DECIMAL(18, 2) AS gmv
        FROM {window("orders", first, day)} o JOIN {dim("items")} i USING (item_id)
        WHERE o.ts >= {s30} AND o.ts < {s_}
    ),
    agg AS (SELECT shop_id, sum(gmv)::DOUBLE AS gmv, count(*)::BIGINT AS n FROM ord GROUP BY ALL)
    SELECT s.shop_id,
           {s_} AS event_timestamp,
           {ts_literal(created)} AS created_timestamp,
           s.rating, s.return_rate,
           coalesce(agg.gmv, 0.0) AS shop_gmv_30d, coalesce(agg.n, 0)::BIGINT AS shop_orders_30d
    FROM shops s LEFT JOIN agg USING (shop_id)
    """
