"""Online ranking features: one user x N candidate items from the online store, ttl enforced.

Feast alone returns whatever was materialized last, however old (feast #6821: ttl is not applied
online). A ranker fed a week-old CTR as if it were fresh is silently wrong, so here every view's
value older than its ttl (as of ``as_of``) comes back null and the row is flagged in
``<view>__stale``; the online store classes null it too for Feast's own readers (``feast serve``),
judged at the wall clock or at :func:`~shoplab.features.read_time.reading_as_of`. On-demand
views then run on the cleaned values (same UDFs as offline), so online rows equal the offline
training rows at the same timestamp.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from feast import FeatureStore
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from shoplab.features._wide_read import read_view
from shoplab.features.errors import FeatureStoreError, RankingRequestError
from shoplab.features.online_store import (
    EPOCH,
    TableSpec,
    WideSqliteOnlineStoreConfig,
    db_path,
    reading_as_of,
    table_spec,
)
from shoplab.features.redis_store import WideRedisOnlineStoreConfig
from shoplab.features.repo import feature_store
from shoplab.features.services import ServicePlan, ViewPlan, plan_service, view_name

__all__ = ["cached_plan", "odfv_columns", "ranking_features"]

# Feast cannot look up a null entity key; an id no entity has stands in and yields null features.
_NO_ID = -1
_NO_CATEGORY = ""
# join key of another view -> the item_stats feature holding it (an attribute of the item)
_ITEM_KEYS: dict[str, tuple[str, pl.DataType]] = {
    "shop_id": ("item_shop_id", pl.Int64()),
    "category": ("item_category", pl.String()),
}


def _ids(item_ids: Sequence[int] | np.ndarray | pl.Series) -> list[int]:
    arr = np.asarray(item_ids.to_numpy() if isinstance(item_ids, pl.Series) else item_ids)
    if arr.ndim != 1 or arr.size == 0:
        raise RankingRequestError(f"item_ids has shape {arr.shape}, must be a non-empty 1-d list.")
    if not np.issubdtype(arr.dtype, np.integer):
        raise RankingRequestError(f"item_ids has dtype {arr.dtype}, must hold integer item ids.")
    ids: list[int] = arr.astype(np.int64).tolist()
    return ids


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
        raise RankingRequestError(f"as_of == {now!r}, must be timezone-aware (UTC).")
    if isinstance(user_id, bool) or not isinstance(user_id, int | np.integer):
        raise RankingRequestError(f"user_id == {user_id!r}, must be an integer user id.")
    store = feature_store()
    plan = cached_plan(store, service)
    items = _ids(item_ids)
    wide = WideSqliteOnlineStoreConfig | WideRedisOnlineStoreConfig
    if isinstance(store.config.online_store, wide):
        frame = _read_wide(store, plan, int(user_id), items, now)
    else:
        frame = _read_feast(store, plan, int(user_id), items, now)
    return _apply_odfvs(frame, plan, request or {})


_PLANS: dict[tuple[int, str, int], ServicePlan] = {}


def cached_plan(store: FeatureStore, service: str) -> ServicePlan:
    """The service's plan, rebuilt only when the registry changes.

    Resolving a service rebuilds Python objects from the registry proto (~5 ms, half the
    budget). The key holds the registry's ``last_updated`` stamp: ``apply_repo`` in this process
    makes a new store (new id), and a ``feast apply`` elsewhere is seen on the next call (the
    file registry in ``sync`` cache mode compares registry.db's mtime) or once
    ``cache_ttl_seconds`` expires.
    """
    registry = store.registry
    get_proto = getattr(registry, "_get_registry_proto", None)
    # the file registry's cached read: a stat of registry.db and a ttl check, reloads if changed
    proto = (
        get_proto(store.project, allow_cache=True)
        if get_proto is not None
        else getattr(registry, "cached_registry_proto")  # noqa: B009 (not on BaseRegistry)
    )
    stamp = proto.last_updated.ToNanoseconds()
    key = (id(store), service, stamp)
    plan = _PLANS.get(key)
    if plan is None:
        plan = plan_service(store, service)
        if len(_PLANS) > 64:  # stale stamps of long-lived processes
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


def _key_columns(plan: ServicePlan, user_id: int, items: list[int]) -> dict[str, pl.Series]:
    n = len(items)
    return {
        "user_id": pl.Series("user_id", [user_id] * n, pl.Int64()),
        "item_id": pl.Series("item_id", items, pl.Int64()),
    }


def _read_wide(
    store: FeatureStore, plan: ServicePlan, user_id: int, items: list[int], now: datetime
) -> pl.DataFrame:
    """Fast path: one read per view of the wide tables (SQLite or Redis), assembled in Polars."""
    read, specs = _wide_tables(store, plan)
    n = len(items)
    cols: dict[str, pl.Series] = {
        "user_id": pl.Series("user_id", [user_id] * n, pl.Int64()),
        "item_id": pl.Series("item_id", items, pl.Int64()),
    }
    views = sorted(plan.views, key=lambda v: v.name != "item_stats")  # item first: shop, category
    if any(k not in cols for v in views for k in v.join_keys) and views[0].name != "item_stats":
        raise FeatureStoreError(f"service {plan.name!r} needs item_stats to find shop/category.")
    parts: dict[str, pl.DataFrame] = {}
    for view in views:
        feats, dtypes = list(view.features), list(view.dtypes)
        if view.name == "item_stats":
            for extra, dtype in _ITEM_KEYS.values():
                if extra not in feats:
                    feats.append(extra)
                    dtypes.append(dtype)
        spec = specs[view.name]
        if spec.int_key:
            keys = cols[view.join_keys[0]]
        else:
            keys = _serialized_keys(
                view.join_keys,
                [cols[k] for k in view.join_keys],
                store.config.entity_key_serialization_version,
            )
        frame = read(view.name, spec, keys, feats, dtypes)
        if view.name == "item_stats":
            for k, (feature, _) in _ITEM_KEYS.items():
                if k in plan.join_keys:
                    cols[k] = frame[feature].alias(k)
        parts[view.name] = frame
    masked = [_mask_stale(parts[view.name], view, now) for view in plan.views]
    return pl.DataFrame([*cols.values(), *(s for m in masked for s in m)])


def _serialized_keys(names: Sequence[str], columns: list[pl.Series], version: int) -> pl.Series:
    """Feast's v3 key bytes of a composite key (user x category), one per row.

    Serialized once per distinct key (~24 categories per request; memoized across requests),
    then spread back with a NumPy inverse index; a null part -> null key. NumPy, not a Polars
    unique + join: on 500 rows those are ~0.6 ms of thread dispatch, this is ~0.2 ms.
    """
    n = len(columns[0])
    null = np.zeros(n, dtype=bool)
    combined = np.zeros(n, dtype=np.int64)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for col in columns:
        if col.dtype == pl.String:
            # hash factorization: np.unique sorts Python strings (~0.3 ms for 500), and a Polars
            # is_null / fill_null costs ~0.1 ms each; a null is code -1
            codes, uniq = pd.factorize(col.to_numpy())
            inverse = codes.astype(np.int64)
            missing = inverse < 0
            if missing.any():
                null |= missing
                inverse[missing] = 0
                uniq = uniq if len(uniq) else np.array([""], dtype=object)
        else:
            if col.null_count():
                null |= col.is_null().to_numpy()
                col = col.fill_null(0)
            uniq, inverse = np.unique(col.to_numpy(), return_inverse=True)
        # re-factorized each step, so the mixed-radix code stays < n whatever the key count
        combined = pd.factorize(combined * len(uniq) + inverse)[0].astype(np.int64)
        parts.append((np.asarray(uniq), inverse))
    row_key = combined
    first = np.empty(int(row_key.max()) + 1 if n else 0, dtype=np.int64)
    first[row_key[::-1]] = np.arange(n - 1, -1, -1)  # each key's first row
    encoded = np.array(
        [
            _entity_key(tuple(names), tuple(u[inv[i]] for u, inv in parts), version)
            for i in first.tolist()  # a loop over distinct keys, not rows
        ],
        dtype=object,
    )
    out = encoded[row_key]
    out[null] = None
    # from a list: a NumPy object array whose first element is None fails Polars' Binary cast
    return pl.Series("__key", out.tolist(), dtype=pl.Binary())


@functools.lru_cache(maxsize=1 << 16)
def _entity_key(names: tuple[str, ...], values: tuple[Any, ...], version: int) -> bytes:
    """One composite key's bytes, memoized.

    A request's (user, category) pairs repeat across requests, and the protobuf round trip is
    ~30 us each (24 per ``ranker_v2`` request).
    """
    return serialize_entity_key(
        EntityKeyProto(join_keys=list(names), entity_values=[_value(v) for v in values]),
        entity_key_serialization_version=version,
    )


def _value(v: Any) -> ValueProto:
    return ValueProto(string_val=str(v)) if isinstance(v, str) else ValueProto(int64_val=int(v))


# (view name, layout, keys, features, dtypes) -> the view's rows for the keys + __event_ts
_Reader = Callable[[str, TableSpec, pl.Series, list[str], list[pl.DataType]], pl.DataFrame]
_TABLES: dict[tuple[int, str, int], tuple[_Reader, dict[str, TableSpec]]] = {}


def _reader(store: FeatureStore) -> _Reader:
    """The wide store's vectorized read: SQLite's file or Redis's server of the store's config."""
    if isinstance(store.config.online_store, WideRedisOnlineStoreConfig):
        from shoplab.features import redis_store

        config, project = store.config, store.project
        # the client is looked up per call: $SHOPLAB_REDIS_URL may change under a cached store
        return lambda name, spec, keys, feats, dtypes: redis_store.read_view(
            redis_store.client(redis_store.redis_url(config)),
            project,
            name,
            spec,
            keys,
            feats,
            dtypes,
        )
    path = db_path(store.config)
    return lambda name, spec, keys, feats, dtypes: read_view(path, spec, keys, feats, dtypes)


def _wide_tables(store: FeatureStore, plan: ServicePlan) -> tuple[_Reader, dict[str, TableSpec]]:
    """The wide store's reader and the table layouts of a plan's views (cached per plan)."""
    key = (id(store), plan.name, id(plan))
    got = _TABLES.get(key)
    if got is None:
        fvs = {
            v.name: store.get_feature_view(v.name, allow_registry_cache=True) for v in plan.views
        }
        got = (
            _reader(store),
            {name: table_spec(store.project, fv) for name, fv in fvs.items()},
        )
        if len(_TABLES) > 64:  # plans of older registry stamps are dead
            _TABLES.clear()
        _TABLES[key] = got
    return got


def _mask_stale(frame: pl.DataFrame, view: ViewPlan, now: datetime) -> list[pl.Series]:
    """The view's columns with the values of rows older than its ttl nulled, and their flag.

    The common case (nothing stale) is a rename: one vectorized compare decides it, and the
    per-column masking (~40 Polars expressions, ~1 ms per request) runs only when needed.
    Series, not a frame: the caller assembles one frame of every view's columns.
    """
    if view.ttl:
        cutoff = (now - view.ttl - EPOCH) // timedelta(microseconds=1)
        # epoch us < 2**53: exact as float64; a missing row is NaN (compares False: not stale)
        stamps = frame["__event_ts"]
        # the wide stores give Int64 already: a no-op to_physical costs ~70 us of dispatch
        ts = (stamps if stamps.dtype == pl.Int64 else stamps.to_physical()).to_numpy()
        flags = ts < cutoff
    else:
        flags = np.zeros(frame.height, dtype=bool)
    stale = pl.Series(f"{view.name}__stale", flags)
    if not flags.any():
        renamed = (frame[f].alias(c) for f, c in zip(view.features, view.columns, strict=True))
        return [*renamed, stale]
    return frame.select(
        *(
            pl.when(stale).then(None).otherwise(pl.col(f)).alias(c)
            for f, c in zip(view.features, view.columns, strict=True)
        ),
        stale,
    ).get_columns()


def _read_feast(
    store: FeatureStore, plan: ServicePlan, user_id: int, items: list[int], now: datetime
) -> pl.DataFrame:
    """Generic path for any online store: Feast's get_online_features, then the ttl check."""
    n = len(items)
    keys: dict[str, list[Any]] = {"user_id": [user_id] * n, "item_id": items}
    extra = [k for k in plan.join_keys if k not in keys]
    if extra:
        # an item's shop and category are attributes of the item: read them from item_stats
        with reading_as_of(None):  # attributes of the item, whatever the age of its stats
            got = store.get_online_features(
                [f"item_stats:{_ITEM_KEYS[k][0]}" for k in extra], {"item_id": items}
            ).to_dict()
        for k in extra:
            keys[k] = got[_ITEM_KEYS[k][0]]
    entity_rows = {k: keys[k] for k in plan.join_keys}
    for k in extra:
        fill = _NO_CATEGORY if k == "category" else _NO_ID
        entity_rows[k] = [fill if v is None else v for v in keys[k]]
    refs = [f"{v.name}:{f}" for v in plan.views for f in v.features]
    with reading_as_of(now):  # the wide store judges ttl at the request's time, not the clock
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
        ).with_columns(  # FieldStatus.PRESENT == 1; an expired row keeps its stamp (not 0)
            __event_ts=pl.Series(ts * 1_000_000, dtype=pl.Int64)
            .cast(pl.Datetime("us", "UTC"))
            .set(pl.Series((status != 1) & (ts == 0)), None)
        )
        out = out.hstack(_mask_stale(frame, view, now))
    return out


def _apply_odfvs(
    frame: pl.DataFrame, plan: ServicePlan, request: Mapping[str, Any]
) -> pl.DataFrame:
    """Run the service's on-demand views on the ttl-checked values (same UDFs as offline)."""
    unknown = [k for k in request if k not in plan.request_fields]
    if unknown:
        raise RankingRequestError(
            f"request has fields {unknown}, service {plan.name!r} reads "
            f"{list(plan.request_fields)}."
        )
    if not plan.odfvs:
        return frame
    n = frame.height
    req = {f: pl.Series(f, [request.get(f)] * n, dtype=pl.String()) for f in plan.request_fields}
    added: list[pl.Series] = []
    for odfv, feats in zip(plan.odfvs, plan.odfv_features, strict=True):
        inputs = [
            frame[f"{view_name(p)}__{f.name}"].alias(f.name)
            for p in odfv.source_feature_view_projections.values()
            for f in p.features
        ]
        inputs += [req[f.name] for r in odfv.source_request_sources.values() for f in r.schema]
        added += odfv_columns(odfv, feats, inputs)
    return frame.hstack(added)


def odfv_columns(
    odfv: Any, features: Sequence[str], inputs: Sequence[pl.Series]
) -> list[pl.Series]:
    """One on-demand view's ``features`` on ``inputs`` (its sources' columns, by feature name).

    The one way serving runs an on-demand view (``ranking_features``, and the simulator's batch
    serving of model-ranked requests): the pandas UDF itself on a pandas frame built straight
    from NumPy (the dtypes pyarrow's to_pandas gives: nullable ints -> float64 NaN, strings ->
    object) — Feast's ``transform_arrow`` adds ~2 ms of column aliasing, to_pandas ~0.4 ms per
    view — and ``transform_arrow`` for other modes. Columns come back as ``<view>__<feature>``,
    NaN as null (pandas UDFs return NaN for missing; offline, pyarrow's from_pandas makes it
    null).
    """
    transformation = odfv.feature_transformation
    if odfv.mode == "pandas" and transformation is not None:
        pdf = pd.DataFrame({s.name: s.to_numpy() for s in inputs}, copy=False)
        result = transformation.udf(pdf)
        # NaN -> null in the constructor: a Series.fill_nan costs ~0.1 ms per column
        return [
            pl.Series(f"{odfv.name}__{f}", result[f].to_numpy(), nan_to_null=True) for f in features
        ]
    table = odfv.transform_arrow(pl.DataFrame(list(inputs)).to_arrow(), False)
    outs = [pl.Series(f, table[f]) for f in features]
    return [
        c.alias(f"{odfv.name}__{c.name}").fill_nan(None)
        if c.dtype.is_float()
        else c.alias(f"{odfv.name}__{c.name}")
        for c in outs
    ]
