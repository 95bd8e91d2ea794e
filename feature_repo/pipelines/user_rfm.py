"""user_rfm: a customer's repeat-purchase summary (frequency, recency, age, spend), stamped daily.

Exactly the summary of the buy-till-you-die models (Fader, Hardie & Lee), as
``lifetimes.utils.summary_data_from_transaction_data(freq="D")`` defines it, so a model fitted
with ``lifetimes`` (BG/NBD, Pareto/NBD, Gamma-Gamma) reads its inputs from the feature store:
orders are first reduced to purchase *days* per customer (two orders on one day are one
purchase, their spend summed), then, with D the last day of the observation period:

- ``frequency``: purchase days after the first one (repeat purchase days);
- ``recency``: days from the first to the last purchase day (0 for a one-time buyer);
- ``customer_age``: days from the first purchase day to D (lifetimes' ``T``);
- ``monetary_value``: mean spend of a repeat purchase day (0 without one; the first day is left
  out, as the Gamma-Gamma model wants).

A row stamped S (00:00 UTC of day D+1, like every daily view) reads every order with ts < S,
from the first day of the log: the summary has no window, a customer's age grows from the first
purchase. Every accepted order counts, refunded or not (a refund does not undo the visit that
made the purchase; lifetimes has no notion of one). Valid on any log with orders: an orders-only
purchase log (CDNOW) as much as the simulator's; a log without orders gives empty partitions.
"""

from __future__ import annotations

from datetime import date, datetime

from .relations import stamp, ts_literal, window

__all__ = ["user_rfm_sql"]

_LOG_START = date(1970, 1, 1)  # every daily orders file up to the day: the summary has no window


def user_rfm_sql(day: date, created: datetime) -> str:
    """SELECT of the user_rfm partition of ``day`` (observation period ending with ``day``)."""
    s = ts_literal(stamp(day))
    return f"""
    WITH days AS (
        -- one row per (customer, purchase day): lifetimes' per-period sum (freq D)
        SELECT user_id, CAST(ts AS DATE) AS day, sum(gmv::DECIMAL(18, 2)) AS spend
        FROM {window("orders", _LOG_START, day)}
        WHERE ts < {s} GROUP BY ALL
    ),
    marked AS (SELECT *, day = min(day) OVER (PARTITION BY user_id) AS first FROM days)
    SELECT user_id,
           {s} AS event_timestamp,
           {ts_literal(created)} AS created_timestamp,
           (count(*) - 1)::BIGINT AS frequency,
           date_diff('day', min(day), max(day))::DOUBLE AS recency,
           date_diff('day', min(day), DATE '{day.isoformat()}')::DOUBLE AS customer_age,
           coalesce(avg(spend) FILTER (WHERE NOT first), 0)::DOUBLE AS monetary_value
    FROM marked GROUP BY user_id
    """
