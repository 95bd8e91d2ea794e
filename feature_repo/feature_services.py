"""Feature services: one per ranker version, so a model is trained and served on one frozen set.

ranker_v1 needs only keys every candidate row has (user_id, item_id, shop_id); ranker_v2 adds
short-term interest, user x category affinity (key: the item's category) and the query match
(request field ``query``).
"""

from feast import FeatureService
from features import (
    OWNER,
    item_stats_fv,
    shop_stats_fv,
    user_category_fv,
    user_long_term_fv,
    user_short_term_fv,
)
from on_demand import item_cold_start, price_vs_user, query_category_match

ranker_v1 = FeatureService(
    name="ranker_v1",
    features=[user_long_term_fv, item_stats_fv, shop_stats_fv, price_vs_user, item_cold_start],
    owner=OWNER,
    description="Rank-stage CTR/CVR model v1: long-term user, item, shop, price and cold start.",
    tags={"owner": OWNER, "stage": "rank"},
)

ranker_v2 = FeatureService(
    name="ranker_v2",
    features=[
        user_long_term_fv,
        user_short_term_fv,
        item_stats_fv,
        shop_stats_fv,
        user_category_fv,
        price_vs_user,
        item_cold_start,
        query_category_match,
    ],
    owner=OWNER,
    description="Rank-stage model v2: v1 plus short-term interest, category affinity, query match.",
    tags={"owner": OWNER, "stage": "rank"},
)
