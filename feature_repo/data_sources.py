"""Sources: one Parquet feature table per view, written by ``pipelines/`` under the data root.

Each table is a folder of daily partitions (``<view>/YYYY-MM-DD.parquet``) so that a rebuilt day
replaces its file; the source path is the folder's glob, resolved by the one data-root rule
(``shoplab.core.paths``: ``$SHOPLAB_DATA``, else the ``data`` folder beside this repo when
``feast`` runs inside it). ``created_timestamp`` is when the pipeline computed the row: Feast uses
it only to break ties between rows with equal ``event_timestamp`` (feast #6615).
"""

from feast import FileSource, PushSource, RequestSource
from feast.data_format import ParquetFormat
from feast.field import Field
from feast.types import String

from shoplab.core.paths import feature_tables_dir


def _table(view: str) -> FileSource:
    return FileSource(
        name=f"{view}_source",
        path=str(feature_tables_dir(view) / "*.parquet"),
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
        description=f"Feature table of {view}, computed by feature_repo/pipelines from events.",
        tags={"owner": "ranking-features"},
    )


user_long_term_source = _table("user_long_term")
user_short_term_source = _table("user_short_term")
item_stats_source = _table("item_stats")
shop_stats_source = _table("shop_stats")
user_category_source = _table("user_category")
user_rfm_source = _table("user_rfm")

# Fresh short-term interest: a stream processor pushes recomputed rows here between the hourly
# batch runs; `store.push("user_short_term_push", df)` writes them to the online store.
user_short_term_push = PushSource(
    name="user_short_term_push",
    batch_source=user_short_term_source,
    description="Push path for fresh user short-term rows (same columns as the batch table).",
    tags={"owner": "ranking-features"},
)

# What the ranking request carries besides entity keys: the search query (null on the feed).
ranking_request = RequestSource(
    name="ranking_request",
    schema=[Field(name="query", dtype=String)],
    description="Request-time inputs of the ranker.",
    tags={"owner": "ranking-features"},
)

__all__ = [
    "item_stats_source",
    "ranking_request",
    "shop_stats_source",
    "user_category_source",
    "user_long_term_source",
    "user_rfm_source",
    "user_short_term_push",
    "user_short_term_source",
]
