"""user_long_term and user_category: 7d/30d engagement of a user, stamped daily.

A row stamped S (00:00 UTC of day D+1) summarises events with ts in [S - 30d, S): nothing at or
after S, so a label at t >= S never sees its own impression's outcome.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from .relations import dim, stamp, ts_literal, window

__all__ = ["user_category_sql", "user_long_term_sql"]


def _common(day: date) -> tuple[str, str]:
    s = stamp(day)
    first = day - timedelta(days=29)
    s_, s7, s30 = (
        ts_literal(s),
        ts_literal(s - timedelta(days=7)),
        ts_literal(s - timedelta(days=30)),
    )
    ctes = f"""
    imp AS (SELECT user_id, ts FROM {window("impressions", first, day)}
            WHERE ts >= {s30} AND ts < {s_}),
    clk AS (SELECT user_id, item_id, ts FROM {window("clicks", first, day)}
            WHERE ts >= {s30} AND ts < {s_}),
    ord AS (SELECT user_id, item_id, ts, quantity, gmv::DECIMAL(18, 2) AS gmv, refunded
            FROM {window("orders", first, day)}
            WHERE ts >= {s30} AND ts < {s_}),
    items AS (SELECT item_id, category, price::DECIMAL(18, 2) AS price FROM {dim("items")})"""
    return ctes, s7


def user_long_term_sql(day: date, created: datetime) -> str:
    """SELECT of the user_long_term partition of ``day``."""
    ctes, s7 = _common(day)
    return f"""
    WITH {ctes},
    acts AS (
        SELECT user_id, 1 AS i30, (ts >= {s7})::INT AS i7, 0 AS c30, 0 AS c7, 0 AS o30, 0 AS o7,
               0::DECIMAL(18, 2) AS g30, 0::DECIMAL(18, 2) AS g7, 0::DECIMAL(18, 2) AS paid,
               0 AS qty, 0::DECIMAL(18, 2) AS cprice, 0 AS cpriced FROM imp
        UNION ALL
        -- clicked prices: a user's usual price from engagement, known for ~10x more users than
        -- the paid price (most users click in 30 days, few buy). LEFT JOIN: an item missing from
        -- the catalog still counts as a click, just not toward the price.
        SELECT clk.user_id, 0, 0, 1, (clk.ts >= {s7})::INT, 0, 0, 0, 0, 0, 0,
               coalesce(items.price, 0), (items.price IS NOT NULL)::INT
        FROM clk LEFT JOIN items USING (item_id)
        UNION ALL
        SELECT user_id, 0, 0, 0, 0, 1, (ts >= {s7})::INT, gmv,
               CASE WHEN ts >= {s7} THEN gmv ELSE 0 END,
               CASE WHEN NOT refunded THEN gmv ELSE 0 END,
               CASE WHEN NOT refunded THEN quantity ELSE 0 END, 0, 0
        FROM ord
    ),
    agg AS (
        SELECT user_id,
               sum(i7)::BIGINT AS impressions_7d, sum(c7)::BIGINT AS clicks_7d,
               sum(o7)::BIGINT AS orders_7d, sum(g7)::DOUBLE AS gmv_7d,
               sum(i30)::BIGINT AS impressions_30d, sum(c30)::BIGINT AS clicks_30d,
               sum(o30)::BIGINT AS orders_30d, sum(g30)::DOUBLE AS gmv_30d,
               sum(paid)::DOUBLE AS paid, sum(qty)::BIGINT AS qty,
               sum(cprice)::DOUBLE AS cprice, sum(cpriced)::BIGINT AS cpriced
        FROM acts GROUP BY user_id
    ),
    cat AS (
        SELECT clk.user_id, items.category, count(*) AS n
        FROM clk JOIN items USING (item_id) GROUP BY ALL
    ),
    ranked AS (
        SELECT user_id, category, n,
               row_number() OVER (PARTITION BY user_id ORDER BY n DESC, category) AS r,
               sum(n) OVER (PARTITION BY user_id) AS tot
        FROM cat
    ),
    top AS (
        SELECT user_id,
               max(category) FILTER (WHERE r = 1) AS top_category_1,
               max(category) FILTER (WHERE r = 2) AS top_category_2,
               max(category) FILTER (WHERE r = 3) AS top_category_3,
               max(n / tot) FILTER (WHERE r = 1)::DOUBLE AS top_category_1_share
        FROM ranked GROUP BY user_id
    )
    SELECT agg.user_id,
           {ts_literal(stamp(day))} AS event_timestamp,
           {ts_literal(created)} AS created_timestamp,
           impressions_7d, clicks_7d, orders_7d, gmv_7d,
           CASE WHEN impressions_7d > 0 THEN clicks_7d / impressions_7d END AS ctr_7d,
           CASE WHEN clicks_7d > 0 THEN orders_7d / clicks_7d END AS cvr_7d,
           impressions_30d, clicks_30d, orders_30d, gmv_30d,
           CASE WHEN impressions_30d > 0 THEN clicks_30d / impressions_30d END AS ctr_30d,
           CASE WHEN clicks_30d > 0 THEN orders_30d / clicks_30d END AS cvr_30d,
           top_category_1, top_category_2, top_category_3, top_category_1_share,
           CASE WHEN qty > 0 THEN (paid / qty)::DOUBLE END AS avg_paid_price_30d,
           CASE WHEN cpriced > 0 THEN (cprice / cpriced)::DOUBLE END AS avg_clicked_price_30d
    FROM agg LEFT JOIN top USING (user_id)
    """


def user_category_sql(day: date, created: datetime) -> str:
    """SELECT of the user_category partition of ``day`` (pairs with a click or order in 30d)."""
    ctes, _ = _common(day)
    return f"""
    WITH {ctes},
    pairs AS (
        SELECT user_id, category, 1 AS c, 0 AS o FROM clk JOIN items USING (item_id)
        UNION ALL
        SELECT user_id, category, 0, 1 FROM ord JOIN items USING (item_id)
    ),
    agg AS (
        SELECT user_id, category, sum(c)::BIGINT AS clicks_30d, sum(o)::BIGINT AS orders_30d
        FROM pairs GROUP BY ALL
    )
    SELECT user_id, category,
           {ts_literal(stamp(day))} AS event_timestamp,
           {ts_literal(created)} AS created_timestamp,
           clicks_30d AS category_clicks_30d, orders_30d AS category_orders_30d,
           CASE WHEN sum(clicks_30d) OVER (PARTITION BY user_id) > 0
                THEN clicks_30d / sum(clicks_30d) OVER (PARTITION BY user_id) END
               ::DOUBLE AS click_share_30d
    FROM agg
    """
