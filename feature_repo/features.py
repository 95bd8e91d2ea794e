"""Feature views: entity -> source -> view. Every view has an explicit schema, a ttl and an owner.

ttl is how long a row stays valid after its ``event_timestamp`` (the end of its window): daily
snapshots get 2 days so one late pipeline run does not blank a feature, the hourly short-term view
2 hours. Offline, Feast applies it in the point-in-time join; online Feast does not (feast #6821),
so the online store class (``shoplab.features.online_store``) serves an expired row as null with a
non-PRESENT status, and ``shoplab.ranking_features`` also flags it in ``<view>__stale``.

Feature names are unique across views and differ from every join key (``item_impressions_7d``
beside the user's ``impressions_7d``, ``item_shop_id`` beside the key ``shop_id``): ``feast serve``
and ``get_online_features`` without ``full_feature_names`` name a value by its feature alone and
refuse a service whose names collide.
"""

from datetime import timedelta

from data_sources import (
    item_stats_source,
    shop_stats_source,
    user_category_source,
    user_long_term_source,
    user_rfm_source,
    user_short_term_push,
)
from entities import category, item, shop, user
from feast import Field
from feast.types import Float64, Int64, String
from view_class import DefinedFeatureView as FeatureView

OWNER = "ranking-features@shoplab"
DAILY_TTL = timedelta(days=2)
HOURLY_TTL = timedelta(hours=2)

user_long_term_fv = FeatureView(
    name="user_long_term",
    entities=[user],
    ttl=DAILY_TTL,
    schema=[
        Field(name="impressions_7d", dtype=Int64),
        Field(name="clicks_7d", dtype=Int64),
        Field(name="orders_7d", dtype=Int64),
        Field(name="gmv_7d", dtype=Float64),
        Field(
            name="ctr_7d", dtype=Float64, description="clicks/impressions; null without impressions"
        ),
        Field(name="cvr_7d", dtype=Float64, description="orders/clicks; null without clicks"),
        Field(name="impressions_30d", dtype=Int64),
        Field(name="clicks_30d", dtype=Int64),
        Field(name="orders_30d", dtype=Int64),
        Field(name="gmv_30d", dtype=Float64),
        Field(name="ctr_30d", dtype=Float64),
        Field(name="cvr_30d", dtype=Float64),
        Field(name="top_category_1", dtype=String, description="most clicked category, 30d"),
        Field(name="top_category_2", dtype=String),
        Field(name="top_category_3", dtype=String),
        Field(name="top_category_1_share", dtype=Float64, description="share of 30d clicks"),
        Field(name="avg_paid_price_30d", dtype=Float64, description="gmv/quantity, unrefunded"),
        Field(name="avg_clicked_price_30d", dtype=Float64, description="mean price of 30d clicks"),
    ],
    source=user_long_term_source,
    online=True,
    owner=OWNER,
    description="Long-term interest: 7d/30d engagement and spend, stamped daily at 00:00 UTC.",
    tags={"owner": OWNER, "cadence": "daily"},
)

user_short_term_fv = FeatureView(
    name="user_short_term",
    entities=[user],
    ttl=HOURLY_TTL,
    schema=[
        Field(name="clicks_1h", dtype=Int64),
        Field(name="clicks_1d", dtype=Int64),
        Field(name="impressions_1d", dtype=Int64),
        Field(name="last_clicked_category", dtype=String, description="within the last 24h"),
    ],
    source=user_short_term_push,
    online=True,
    owner=OWNER,
    description="Short-term interest, stamped hourly; fresher rows arrive through the push source.",
    tags={"owner": OWNER, "cadence": "hourly"},
)

item_stats_fv = FeatureView(
    name="item_stats",
    entities=[item],
    ttl=DAILY_TTL,
    schema=[
        Field(name="item_impressions_1d", dtype=Int64),
        Field(name="item_clicks_1d", dtype=Int64),
        Field(name="item_orders_1d", dtype=Int64),
        Field(name="item_gmv_1d", dtype=Float64),
        Field(name="item_impressions_7d", dtype=Int64),
        Field(name="item_clicks_7d", dtype=Int64),
        Field(name="item_orders_7d", dtype=Int64),
        Field(name="item_gmv_7d", dtype=Float64),
        Field(name="ctr_7d_smoothed", dtype=Float64, description="Beta prior: category 7d CTR"),
        Field(name="cvr_7d_smoothed", dtype=Float64, description="Beta prior: category 7d CVR"),
        Field(name="age_days", dtype=Float64),
        Field(name="price", dtype=Float64),
        Field(name="content_type", dtype=String),
        Field(name="item_category", dtype=String, description="key of user_category"),
        Field(name="item_shop_id", dtype=Int64, description="key of shop_stats"),
    ],
    source=item_stats_source,
    online=True,
    owner=OWNER,
    description="Item popularity and quality with cold-start smoothing, stamped daily.",
    tags={"owner": OWNER, "cadence": "daily"},
)

shop_stats_fv = FeatureView(
    name="shop_stats",
    entities=[shop],
    ttl=DAILY_TTL,
    schema=[
        Field(name="rating", dtype=Float64),
        Field(name="return_rate", dtype=Float64),
        Field(name="shop_gmv_30d", dtype=Float64),
        Field(name="shop_orders_30d", dtype=Int64),
    ],
    source=shop_stats_source,
    online=True,
    owner=OWNER,
    description="Shop authority: rating, return rate, 30d GMV, stamped daily.",
    tags={"owner": OWNER, "cadence": "daily"},
)

user_category_fv = FeatureView(
    name="user_category",
    entities=[user, category],
    ttl=DAILY_TTL,
    schema=[
        Field(name="category_clicks_30d", dtype=Int64),
        Field(name="category_orders_30d", dtype=Int64),
        Field(name="click_share_30d", dtype=Float64, description="of the user's 30d clicks"),
    ],
    source=user_category_source,
    online=True,
    owner=OWNER,
    description="User x category affinity over 30 days, stamped daily.",
    tags={"owner": OWNER, "cadence": "daily"},
)

user_rfm_fv = FeatureView(
    name="user_rfm",
    entities=[user],
    ttl=DAILY_TTL,
    schema=[
        Field(name="frequency", dtype=Int64, description="repeat purchase days (lifetimes)"),
        Field(name="recency", dtype=Float64, description="days, first to last purchase day"),
        Field(name="customer_age", dtype=Float64, description="days, first purchase to the "
              "day the row closes (lifetimes' T)"),
        Field(name="monetary_value", dtype=Float64, description="mean spend of a repeat "
              "purchase day; 0 without one"),
    ],
    source=user_rfm_source,
    online=True,
    owner=OWNER,
    description="Repeat-purchase summary of lifetimes' summary_data_from_transaction_data "
    "(freq D) over every order before the stamp; valid on orders-only logs. Stamped daily.",
    tags={"owner": OWNER, "cadence": "daily"},
)
