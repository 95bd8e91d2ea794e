"""user_short_term: clicks in the last hour and day, stamped hourly.

The 24 rows of day D are stamped D 01:00 .. D+1 00:00; a row stamped S summarises events in
[S - 24h, S) (clicks_1h: [S - 1h, S)). Events are first reduced to (user, hour) so the 24 stamps
join ~24 small rows per user instead of every event.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from .relations import dim, stamp, ts_literal, window

__all__ = ["user_short_term_sql"]


def user_short_term_sql(day: date, created: datetime) -> str:
    """SELECT of the user_short_term partition of ``day``."""
    last = stamp(day)
    first = last - timedelta(hours=23)
    lo, hi = ts_literal(first - timedelta(hours=24)), ts_literal(last)
    return f"""
    WITH stamps AS (
        SELECT unnest(generate_series({ts_literal(first)}, {ts_literal(last)},
                                      INTERVAL 1 HOUR)) AS s
    ),
    items AS (SELECT item_id, category FROM {dim("items")}),
    imp_h AS (
        SELECT user_id, date_trunc('hour', ts) AS h, count(*) AS n
        FROM {window("impressions", day - timedelta(days=1), day)}
        WHERE ts >= {lo} AND ts < {hi} GROUP BY ALL
    ),
    clk_h AS (
        SELECT c.user_id, date_trunc('hour', c.ts) AS h, count(*) AS n,
               arg_max(items.category, c.ts) AS last_cat, max(c.ts) AS last_ts
        FROM {window("clicks", day - timedelta(days=1), day)} c LEFT JOIN items USING (item_id)
        WHERE c.ts >= {lo} AND c.ts < {hi} GROUP BY ALL
    ),
    imp_s AS (
        SELECT s, user_id, sum(n)::BIGINT AS impressions_1d
        FROM stamps JOIN imp_h ON h >= s - INTERVAL 24 HOUR AND h < s GROUP BY ALL
    ),
    clk_s AS (
        SELECT s, user_id, sum(n)::BIGINT AS clicks_1d,
               coalesce(sum(n) FILTER (WHERE h = s - INTERVAL 1 HOUR), 0)::BIGINT AS clicks_1h,
               arg_max(last_cat, last_ts) AS last_clicked_category
        FROM stamps JOIN clk_h ON h >= s - INTERVAL 24 HOUR AND h < s GROUP BY ALL
    )
    SELECT coalesce(i.user_id, c.user_id) AS user_id,
           coalesce(i.s, c.s) AS event_timestamp,
           {ts_literal(created)} AS created_timestamp,
           coalesce(c.clicks_1h, 0)::BIGINT AS clicks_1h,
           coalesce(c.clicks_1d, 0)::BIGINT AS clicks_1d,
           coalesce(i.impressions_1d, 0)::BIGINT AS impressions_1d,
           c.last_clicked_category
    FROM imp_s i FULL JOIN clk_s c ON i.s = c.s AND i.user_id = c.user_id
    """
