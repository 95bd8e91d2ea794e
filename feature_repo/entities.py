"""Entities: who or what a feature row describes. Join keys are the event log's 64-bit ids."""

from feast import Entity, ValueType

user = Entity(
    name="user",
    join_keys=["user_id"],
    value_type=ValueType.INT64,
    description="A marketplace buyer (events: users.user_id).",
    tags={"owner": "ranking-features"},
)

item = Entity(
    name="item",
    join_keys=["item_id"],
    value_type=ValueType.INT64,
    description="A product, short video or live stream (events: items.item_id).",
    tags={"owner": "ranking-features"},
)

shop = Entity(
    name="shop",
    join_keys=["shop_id"],
    value_type=ValueType.INT64,
    description="A seller's shop (events: shops.shop_id).",
    tags={"owner": "ranking-features"},
)

category = Entity(
    name="category",
    join_keys=["category"],
    value_type=ValueType.STRING,
    description="An item category (shoplab.core.contract.CATEGORIES), joined with user.",
    tags={"owner": "ranking-features"},
)
