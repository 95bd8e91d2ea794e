"""Online ranking features: one user x N candidate items from the online store, ttl enforced.

Feast's online read returns whatever was materialized last, however old (feast #6821: ttl is not
applied online). A ranker fed a week-old CTR as if it were fresh is silently wrong, so here every
view's value older than its ttl (as of ``as_of``) comes back null and the row is flagged in
``<view>__stale``. On-demand views then run on the cleaned values (same UDFs as offline), so
online rows equal the offline training rows at the same timestamp.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
from feast import FeatureStore

from shoplab.features._online_read import encode_keys, read_view
from shoplab.features._services import ServicePlan, ViewPlan, plan_service
from shoplab.features._stores import DataRootSqliteOnlineStore, DataRootSqliteOnlineStoreConfig
from shoplab.features.errors import FeatureStoreError
from shoplab.features.repo import feature_store

__all__ = ["ranking_features"]

# Feast cannot look up a null entity key; an id no entity has stands in and yields null features.
_NO_ID = -1
_NO_CATEGORY = ""


def _ids(item_ids: Sequence[int] | np.ndarray | pl.Series) -> list[int]:
    arr = np.asarray(item_ids.to_numpy() if isinstance(item_ids, pl.Series) else item_ids)
    if arr.ndim != 1 or arr.size == 0:
        raise FeatureStoreError(f"item_ids has shape {arr.shape}, must be a non-empty 1-d list.")
    if not np.issubdtype(arr.dtype, np.integer):
        raise FeatureStoreError(f"item_ids has dtype {arr.dtype}, must hold integer item ids.")
    return arr.astype(np.int64).tolist()


def ranking_features(
    user_id: int,
    item_ids: Sequence[int] | np.ndarray | pl.Series,
    service: str = "ranker_v1",
    request: Mapping[str, Any] | None = None,
    *,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """Features of one user x N candidates from the online store, one row per candidate.

    Args:
        user_id: the requesting user.
        item_ids: candidate items, in ranking order (duplicates kept).
        service: feature service (``ranker_v1``, ``ranker_v2``).
        request: request-time fields the service's on-demand views read (ranker_v2: ``query``;
            absent -> null, e.g. on the feed).
        as_of: the time staleness is judged at (default: now, UTC).

    Returns:
        user_id, item_id, the entity keys looked up on the way (shop_id, category), one column
        per feature (``view__feature``), and ``<view>__stale`` (True where the stored row is
        older than the view's ttl, whose values are then null). Items or users the store has
        never seen get null features and ``__stale`` False.
    """
    now = as_of or datetime.now(UTC)
    if now.tzinfo is None:
        raise FeatureStoreError(f"as_of == {now!r}, must be timezone-aware (UTC).")
    if isinstance(user_id, bool) or not isinstance(user_id, int | np.integer):
        raise FeatureStoreError(f"user_id == {user_id!r}, must be an integer user id.")
    store = feature_store()
    plan = _cached_plan(store, service)
    items = _ids(item_ids)
    if isinstance(store.config.online_store, DataRootSqliteOnlineStoreConfig):
        frame = _read_sqlite(store, plan, int(user_id), items, now)
    else:
        frame = _read_feast(store, plan, int(user_id), items, now)
    return _apply_odfvs(frame, plan, request or {})


_PLANS: dict[tuple[int, str, int], ServicePlan] = {}


def _cached_plan(store: FeatureStore, service: str) -> ServicePlan:
    # Resolving a service rebuilds Python objects from the registry proto (~5 ms); the plan
    # changes only when the registry does.
    stamp = store.registry.cached_registry_proto.last_updated.ToNanoseconds()
    key = (id(store), service, stamp)
    plan = _PLANS.get(key)
    if plan is None:
        plan = plan_service(store, service)
        _PLANS[key] = plan
    return plan


def _key_columns(plan: ServicePlan, user_id: int, items: list[int]) -> dict[str, pl.Series]:
    n = len(items)
    return {
        "user_id": pl.Series("user_id", [user_id] * n, pl.Int64()),
        "item_id": pl.Series("item_id", items, pl.Int64()),
    }


def _read_sqlite(
    store: FeatureStore, plan: ServicePlan, user_id: int, items: list[int], now: datetime
) -> pl.DataFrame:
    """Fast path: one SQL read per view from the SQLite tables Feast materialized."""
    db = DataRootSqliteOnlineStore._get_db_path(store.config)
    keys = _key_columns(plan, user_id, items)
    cols: dict[str, pl.Series] = dict(keys)
    views = sorted(plan.views, key=lambda v: v.name != "item_stats")  # item first: shop, category
    if any(k not in keys for v in views for k in v.join_keys) and views[0].name != "item_stats":
        raise FeatureStoreError(f"service {plan.name!r} needs item_stats to find shop/category.")
    parts: dict[str, pl.DataFrame] = {}
    item_attrs: pl.DataFrame | None = None
    for view in views:
        feats = list(view.features)
        dtypes = list(view.dtypes)
        if view.name == "item_stats":
            for extra, dtype in (("shop_id", pl.Int64()), ("category", pl.String())):
                if extra not in feats:
                    feats.append(extra)
                    dtypes.append(dtype)
        values = [
            keys[k].to_list() if k in keys else item_attrs[k].to_list()  # type: ignore[index]
            for k in view.join_keys
        ]
        # Feast cannot store a null key; a sentinel no entity has reads back as "no row"
        filled = [
            [(_NO_CATEGORY if k == "category" else _NO_ID) if x is None else x for x in v]
            for k, v in zip(view.join_keys, values, strict=True)
        ]
        frame = read_view(
            db, f"{store.project}_{view.name}", encode_keys(view.join_keys, filled), feats, dtypes
        )
        if view.name == "item_stats":
            item_attrs = frame.select("shop_id", "category")
            for k in ("shop_id", "category"):
                if k in plan.join_keys:
                    cols[k] = item_attrs[k]
        parts[view.name] = frame
    out = pl.DataFrame(list(cols.values()))
    for view in plan.views:
        out = out.hstack(_mask_stale(parts[view.name], view, now))
    return out


def _mask_stale(frame: pl.DataFrame, view: ViewPlan, now: datetime) -> pl.DataFrame:
    """Null the values of rows older than the view's ttl and flag them (one Polars select)."""
    ts = pl.col("__event_ts")
    if view.ttl:
        stale = ts.is_not_null() & (ts < pl.lit(now - view.ttl, pl.Datetime("us", "UTC")))
    else:
        stale = pl.lit(False)
    return frame.select(
        *(
            pl.when(stale).then(None).otherwise(pl.col(f)).alias(c)
            for f, c in zip(view.features, view.columns, strict=True)
        ),
        stale.alias(f"{view.name}__stale"),
    )


def _read_feast(
    store: FeatureStore, plan: ServicePlan, user_id: int, items: list[int], now: datetime
) -> pl.DataFrame:
    """Generic path for any online store: Feast's get_online_features, then the ttl check."""
    n = len(items)
    keys: dict[str, list[Any]] = {"user_id": [user_id] * n, "item_id": items}
    extra = [k for k in plan.join_keys if k not in keys]
    if extra:
        # an item's shop and category are attributes of the item: read them from item_stats
        got = store.get_online_features(
            [f"item_stats:{k}" for k in extra], {"item_id": items}
        ).to_dict()
        for k in extra:
            keys[k] = got[k]
    entity_rows = {k: keys[k] for k in plan.join_keys}
    for k in extra:
        fill = _NO_CATEGORY if k == "category" else _NO_ID
        entity_rows[k] = [fill if v is None else v for v in keys[k]]
    refs = [f"{v.name}:{f}" for v in plan.views for f in v.features]
    resp = store.get_online_features(refs, entity_rows, full_feature_names=True)
    index = {name: i for i, name in enumerate(resp.proto.metadata.feature_names.val)}
    got = resp.to_dict()
    cols: dict[str, pl.Series] = _key_columns(plan, user_id, items)
    for k in extra:
        cols[k] = pl.Series(k, keys[k], pl.String() if k == "category" else pl.Int64())
    out = pl.DataFrame(list(cols.values()))
    for view in plan.views:
        result = resp.proto.results[index[view.columns[0]]]
        ts = np.fromiter((t.seconds for t in result.event_timestamps), dtype=np.int64, count=n)
        status = np.fromiter(result.statuses, dtype=np.int64, count=n)
        frame = pl.DataFrame(
            [
                pl.Series(f, got[c], dtype=d, strict=False)
                for f, c, d in zip(view.features, view.columns, view.dtypes, strict=True)
            ]
        ).with_columns(  # FieldStatus.PRESENT == 1
            __event_ts=pl.Series(ts * 1_000_000, dtype=pl.Int64)
            .cast(pl.Datetime("us", "UTC"))
            .set(pl.Series(status != 1), None)
        )
        out = out.hstack(_mask_stale(frame, view, now))
    return out


def _apply_odfvs(
    frame: pl.DataFrame, plan: ServicePlan, request: Mapping[str, Any]
) -> pl.DataFrame:
    """Run the service's on-demand views on the ttl-checked values (same UDFs as offline)."""
    unknown = [k for k in request if k not in plan.request_fields]
    if unknown:
        raise FeatureStoreError(
            f"request has fields {unknown}, service {plan.name!r} reads "
            f"{list(plan.request_fields)}."
        )
    if not plan.odfvs:
        return frame
    n = frame.height
    req = {f: pl.Series(f, [request.get(f)] * n, dtype=pl.String()) for f in plan.request_fields}
    for odfv, feats in zip(plan.odfvs, plan.odfv_features, strict=True):
        inputs = [
            frame[f"{p.name_to_use()}__{f.name}"].alias(f.name)
            for p in odfv.source_feature_view_projections.values()
            for f in p.features
        ]
        inputs += [req[f.name] for r in odfv.source_request_sources.values() for f in r.schema]
        transformation = odfv.feature_transformation
        if odfv.mode == "pandas":
            # the UDF itself on a 500-row pandas frame; Feast's transform_arrow adds ~2 ms of
            # column aliasing around it
            out = pl.from_pandas(transformation.udf(pl.DataFrame(inputs).to_pandas()))
        else:
            out = pl.DataFrame(odfv.transform_arrow(pl.DataFrame(inputs).to_arrow(), False))
        for f in feats:
            col = out[f].alias(f"{odfv.name}__{f}")
            # pandas UDFs return NaN for missing; offline, pyarrow's from_pandas makes it null
            frame = frame.with_columns(col.fill_nan(None) if col.dtype.is_float() else col)
    return frame
