"""The event-log contract: the tables a marketplace writes and shoplab reads.

Declared once here; the simulator writes these tables, the loader validates them on read, the
feature pipelines and the analysis SQL read them. A real marketplace plugs in its own logs by
writing the same tables: Parquet, one folder per table under ``$SHOPLAB_DATA/events/<table>/``,
fact tables as one file per day (``YYYY-MM-DD.parquet``, so a re-run of a day replaces it),
dimension tables as one or more files. Timestamps are ``timestamp[us, UTC]``.

Ids are 64-bit integers. Hashing for experiment assignment uses the decimal string of the id
(``str(user_id)``), which is what a web or mobile client would hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl
import pyarrow as pa

__all__ = [
    "CATEGORIES",
    "CONTENT_TYPES",
    "COUNTRIES",
    "PLATFORMS",
    "SURFACES",
    "TABLES",
    "TIMESTAMP",
    "Column",
    "Table",
    "arrow_schema",
    "polars_schema",
]

TIMESTAMP: Final = pl.Datetime("us", "UTC")
"""Every timestamp in the event log: microseconds, UTC (Parquet ``timestamp[us, UTC]``)."""

COUNTRIES: Final = ("ID", "TH", "VN", "MY", "PH", "SG", "US", "GB")
PLATFORMS: Final = ("android", "ios", "web")
SURFACES: Final = ("search", "feed")
CONTENT_TYPES: Final = ("product", "video", "live")
CATEGORIES: Final = (
    "womens_fashion", "mens_fashion", "shoes", "bags", "watches", "jewelry", "beauty",
    "personal_care", "health", "mobile_phones", "computers", "electronics", "home_appliances",
    "home_living", "kitchen", "furniture", "baby_kids", "toys", "sports_outdoor", "automotive",
    "groceries", "pets", "books_stationery", "gaming",
)


@dataclass(frozen=True)
class Column:
    """One column of the contract: name, Polars type, and whether nulls are allowed."""

    name: str
    dtype: pl.DataType
    nullable: bool = False


@dataclass(frozen=True)
class Table:
    """One event table: its columns, its key, and whether it is a daily fact table."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    daily: bool
    ts_column: str | None

    @property
    def column_names(self) -> list[str]:
        """Column names in contract order."""
        return [c.name for c in self.columns]


_ID = pl.Int64()
TABLES: Final[dict[str, Table]] = {
    t.name: t
    for t in (
        Table(
            "users",
            (
                Column("user_id", _ID),
                Column("signup_ts", TIMESTAMP),
                Column("country", pl.String()),
                Column("platform", pl.String()),
            ),
            key=("user_id",),
            daily=False,
            ts_column="signup_ts",
        ),
        Table(
            "shops",
            (
                Column("shop_id", _ID),
                Column("created_ts", TIMESTAMP),
                Column("rating", pl.Float64()),
                Column("return_rate", pl.Float64()),
            ),
            key=("shop_id",),
            daily=False,
            ts_column="created_ts",
        ),
        Table(
            "items",
            (
                Column("item_id", _ID),
                Column("shop_id", _ID),
                Column("category", pl.String()),
                Column("content_type", pl.String()),
                Column("price", pl.Float64()),
                Column("created_ts", TIMESTAMP),
            ),
            key=("item_id",),
            daily=False,
            ts_column="created_ts",
        ),
        Table(
            "requests",
            (
                Column("request_id", _ID),
                Column("user_id", _ID),
                Column("ts", TIMESTAMP),
                Column("surface", pl.String()),
                Column("query", pl.String(), nullable=True),  # null on the feed surface
                Column("country", pl.String()),
                Column("platform", pl.String()),
            ),
            key=("request_id",),
            daily=True,
            ts_column="ts",
        ),
        Table(
            "impressions",
            (
                Column("request_id", _ID),
                Column("user_id", _ID),
                Column("item_id", _ID),
                Column("position", pl.Int32()),  # 0-based slot in the final list
                Column("ts", TIMESTAMP),
            ),
            key=("request_id", "item_id"),
            daily=True,
            ts_column="ts",
        ),
        Table(
            "clicks",
            (
                Column("request_id", _ID),
                Column("user_id", _ID),
                Column("item_id", _ID),
                Column("ts", TIMESTAMP),
            ),
            key=("request_id", "item_id"),
            daily=True,
            ts_column="ts",
        ),
        Table(
            "orders",
            (
                Column("order_id", _ID),
                # null only in a log without requests (orders only: a purchase log, CDNOW);
                # with requests a null is quarantined (shoplab.events.rules)
                Column("request_id", _ID, nullable=True),
                Column("user_id", _ID),
                # null only in a log without clicks (the purchase log does not say what was bought)
                Column("item_id", _ID, nullable=True),
                Column("ts", TIMESTAMP),
                Column("quantity", pl.Int32()),
                Column("gmv", pl.Float64()),
                Column("refunded", pl.Boolean()),
            ),
            key=("order_id",),
            daily=True,
            ts_column="ts",
        ),
        Table(
            # the logging policy's probability of showing item_id at its impression's slot:
            # what off-policy evaluation needs (analysis.ope); append-only, like exposures
            "propensities",
            (
                Column("request_id", _ID),
                Column("item_id", _ID),
                Column("ts", TIMESTAMP),
                Column("policy", pl.String()),
                Column("propensity", pl.Float64()),
            ),
            key=(),
            daily=False,
            ts_column="ts",
        ),
        Table(
            # team-draft interleaving (experiments.interleaving): per impression of an
            # interleaving experiment, which ranker (variant key) drafted its slot
            "teams",
            (
                Column("request_id", _ID),
                Column("user_id", _ID),
                Column("item_id", _ID),
                Column("position", pl.Int32()),
                Column("ts", TIMESTAMP),
                Column("experiment", pl.String()),
                Column("team", pl.String()),  # the variant key of the ranker that drafted it
                Column("contested", pl.Boolean()),  # both rankers' best unplaced item
            ),
            key=(),  # keys and the join to impressions: helper A's rules (issue 15)
            daily=True,
            ts_column="ts",
        ),
        Table(
            # counterfactual logging (triggered analysis): per request of a unit in an
            # experiment with a trigger, whether the other arm's list differed in the first k
            "triggers",
            (
                Column("request_id", _ID),
                Column("user_id", _ID),
                Column("ts", TIMESTAMP),
                Column("experiment", pl.String()),
                Column("variant", pl.String()),  # the arm that served the request
                Column("k", pl.Int32()),
                Column("triggered", pl.Boolean()),
            ),
            key=(),
            daily=True,
            ts_column="ts",
        ),
        Table(
            "exposures",
            (
                Column("experiment", pl.String()),
                Column("variant", pl.String()),
                Column("unit_id", _ID),
                Column("ts", TIMESTAMP),
            ),
            key=(),  # append-only: a unit is exposed many times; analysis uses the first
            daily=False,
            ts_column="ts",
        ),
    )
}


def polars_schema(table: str) -> pl.Schema:
    """Return the Polars schema of ``table`` in contract order."""
    return pl.Schema({c.name: c.dtype for c in TABLES[table].columns})


def arrow_schema(table: str) -> pa.Schema:
    """Return the Arrow schema of ``table`` (what the Parquet files carry)."""
    return pl.DataFrame(schema=polars_schema(table)).to_arrow().schema
