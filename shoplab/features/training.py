"""Training data: one label row per impression, and its point-in-time features through Feast."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from shoplab.core.duck import quote, shared_connection
from shoplab.core.errors import InputError, StateError
from shoplab.core.files import day_files
from shoplab.core.paths import events_dir
from shoplab.core.timeparse import parse_instant
from shoplab.feature_repo.pipelines.relations import dim, ts_literal, window
from shoplab.features.errors import LabelFrameError
from shoplab.features.offline_store import ROW_ID
from shoplab.features.repo import feature_store
from shoplab.features.services import ServicePlan, plan_features, plan_service

__all__ = ["LABEL_COLUMNS", "training_labels", "training_set"]

LABEL_COLUMNS = (
    "request_id",
    "user_id",
    "item_id",
    "shop_id",
    "category",
    "event_timestamp",
    "position",
    "surface",
    "query",
    "clicked",
    "ordered",
    "gmv",
)
_ROW = ROW_ID  # the offline store returns rows ordered by it


def training_labels(start: date | datetime | str, end: date | datetime | str) -> pl.DataFrame:
    """One row per impression with ``start <= ts < end``, with its click / order outcome.

    Dates mean 00:00 UTC, so ``training_labels("2026-01-06", "2026-01-07")`` is the day of
    2026-01-06. A click or order counts for the impression of the same (request_id, item_id),
    whenever it happened (clicks after ``end`` included: attribution follows the impression).

    Columns: request_id, user_id, item_id, shop_id, category (the item's, from ``items``),
    event_timestamp (the impression's ts), position, surface, query (null on the feed),
    clicked, ordered (Boolean), gmv (sum of the orders' gmv, 0.0 without order).
    ``shop_id``/``category``/``query`` are what ranker_v1/ranker_v2 join or read.

    Raises:
        InputError: a date that is not ISO, a datetime without its zone, or ``end <= start``
            (parsed by :func:`shoplab.core.timeparse.parse_instant`).

    Example:
        >>> labels = training_labels("2026-01-06", "2026-01-07")  # doctest: +SKIP
    """
    # a bare date is its first instant at both ends: [start, end) is whole days
    lo = parse_instant(start, "start", bare_date="start_of_day")
    hi = parse_instant(end, "end", bare_date="start_of_day")
    if hi <= lo:
        raise InputError(f"end == {hi.isoformat()}, must be > start == {lo.isoformat()}.")
    first, last = lo.date(), (hi - timedelta(microseconds=1)).date()
    later = max([*day_files(events_dir("clicks")), *day_files(events_dir("orders")), last])
    sql = f"""
    WITH imp AS (
        SELECT * FROM {window("impressions", first, last)}
        WHERE ts >= {ts_literal(lo)} AND ts < {ts_literal(hi)}
    ),
    clk AS (SELECT DISTINCT request_id, item_id FROM {window("clicks", first, later)}),
    ord AS (
        SELECT request_id, item_id, sum(gmv) AS gmv
        FROM {window("orders", first, later)} GROUP BY ALL
    ),
    req AS (SELECT request_id, surface, query FROM {window("requests", first, last)})
    SELECT imp.request_id, imp.user_id, imp.item_id, items.shop_id, items.category,
           imp.ts AS event_timestamp, imp.position, req.surface, req.query,
           clk.request_id IS NOT NULL AS clicked, ord.request_id IS NOT NULL AS ordered,
           coalesce(ord.gmv, 0.0) AS gmv
    FROM imp
    LEFT JOIN {dim("items")} items USING (item_id)
    LEFT JOIN req USING (request_id)
    LEFT JOIN clk ON clk.request_id = imp.request_id AND clk.item_id = imp.item_id
    LEFT JOIN ord ON ord.request_id = imp.request_id AND ord.item_id = imp.item_id
    ORDER BY event_timestamp, imp.request_id, imp.position
    """
    labels: pl.DataFrame = shared_connection().sql(sql).pl()
    return labels


def _validate(labels: pl.DataFrame, plan: ServicePlan) -> pl.DataFrame:
    if not isinstance(labels, pl.DataFrame):
        raise LabelFrameError(f"labels is a {type(labels).__name__}, must be a polars.DataFrame.")
    needed = ["event_timestamp", *plan.join_keys, *plan.request_fields]
    missing = [c for c in needed if c not in labels.columns]
    if missing:
        raise LabelFrameError(
            f"labels is missing columns {missing}: service {plan.name!r} needs {needed} "
            "(training_labels() provides them)."
        )
    ts = labels.schema["event_timestamp"]
    if not isinstance(ts, pl.Datetime):
        raise LabelFrameError(f"labels.event_timestamp has dtype {ts}, must be Datetime (UTC).")
    if ts.time_zone is None:
        raise LabelFrameError(
            "labels.event_timestamp is timezone-naive, must be timezone-aware (UTC): "
            "use .dt.replace_time_zone('UTC') if the values are UTC."
        )
    clash = [
        c
        for c in labels.columns
        if c == _ROW
        or "__" in c
        and c.split("__")[0] in {v.name for v in plan.views} | {o.name for o in plan.odfvs}
    ]
    if clash:
        raise LabelFrameError(f"labels has columns {clash}, must not reuse feature column names.")
    casts: dict[str, pl.DataType] = {"event_timestamp": pl.Datetime("us", "UTC")}
    for key in plan.join_keys:
        dtype = labels.schema[key]
        if key == "category" or dtype == pl.String:
            if dtype != pl.String:
                raise LabelFrameError(f"labels.{key} has dtype {dtype}, must be String.")
        elif not dtype.is_integer():
            raise LabelFrameError(f"labels.{key} has dtype {dtype}, must be an integer id.")
        else:
            casts[key] = pl.Int64()
    for key in plan.request_fields:
        if labels.schema[key] not in (pl.String, pl.Null):
            raise LabelFrameError(f"labels.{key} has dtype {labels.schema[key]}, must be String.")
        casts[key] = pl.String()
    return labels.with_columns(
        labels["event_timestamp"].dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        *(pl.col(k).cast(t) for k, t in casts.items() if k != "event_timestamp"),
    )


def training_set(
    labels: pl.DataFrame,
    service: str = "ranker_v1",
    *,
    features: list[str] | None = None,
    filter_by_created_timestamp: bool = False,
) -> pl.DataFrame:
    """Add a feature service's point-in-time features to every label row, through Feast.

    For a row at time t each view contributes its newest row with ``t - ttl <= ts <= t`` (ties
    on ts: the newest ``created_timestamp``); none -> nulls. The result has exactly the rows of
    ``labels`` in the same order (duplicates kept), then one column per feature named
    ``view__feature``.

    Args:
        labels: a Polars frame with ``event_timestamp`` (timezone-aware) and the service's
            entity keys (user_id, item_id, shop_id; ranker_v2 also category and query), e.g.
            from :func:`training_labels`.
        service: a feature service in the registry (``ranker_v1``, ``ranker_v2``).
        features: ``view:feature`` references instead of a service.
        filter_by_created_timestamp: also require ``created_timestamp <= t`` (feast #6615: by
            default created_timestamp only breaks ties). Runs Feast's built-in join.

    Raises:
        UnknownServiceError, UnknownFeatureError, LabelFrameError.
    """
    store = feature_store()
    plan = plan_features(store, features) if features is not None else plan_service(store, service)
    frame = _validate(labels, plan)
    # Only what the join reads goes through Feast: the row id, the timestamp, the entity keys and
    # the request fields. The label payload (outcomes, position, ...) is taken from ``frame`` as
    # is, so it is neither carried through the ASOF joins nor gathered back into label order
    # (at 3M rows that gather of the wide frame was 5.5 s of 22.7 s).
    needed = [_ROW, "event_timestamp", *plan.join_keys, *plan.request_fields]
    entity_frame = frame.with_row_index(_ROW).select(list(dict.fromkeys(needed)))
    refs: object = list(plan.refs) if features is not None else store.get_feature_service(service)
    if filter_by_created_timestamp:
        entity: object = entity_frame.to_pandas()
        name = None
    else:
        name = f"__labels_{uuid.uuid4().hex}"
        shared_connection().register(name, entity_frame.to_arrow())
        entity = f"SELECT * FROM {quote(name)}"
    try:
        job = store.get_historical_features(
            entity_df=entity,  # type: ignore[arg-type]
            features=refs,  # type: ignore[arg-type]
            full_feature_names=True,
            filter_by_created_timestamp=filter_by_created_timestamp,
        )
        # rechunk=False: DuckDB hands back ~1M-row batches; the gather below makes one chunk anyway
        out = pl.DataFrame(pl.from_arrow(job.to_arrow(), rechunk=False))
    finally:
        if name is not None:
            shared_connection().unregister(name)
    if out.height != labels.height:  # the contract; a silent row loss would poison training
        raise StateError(
            f"training_set rows == {out.height}, must be {labels.height} (one per label row)."
        )
    wanted = [f"{r.split(':')[0]}__{r.split(':')[1]}" for r in plan.refs]
    feats = out.select(wanted)
    if not out[_ROW].is_sorted():
        # the ASOF path comes back ordered by _ROW; Feast's own join (filter_by_created_timestamp)
        # permutes rows; _ROW is a permutation of 0..n-1, so its inverse puts them back
        # with one O(n) scatter and one gather (a sort would arg_sort first)
        row = out[_ROW].to_numpy()
        inverse = np.empty(row.size, dtype=np.int64)
        inverse[row] = np.arange(row.size)
        feats = feats[pl.Series(inverse)]
    return pl.concat([frame.select(labels.columns), feats], how="horizontal")
