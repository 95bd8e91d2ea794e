"""What a feature service needs: its views, their join keys, ttl and request fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl
from feast import FeatureStore
from feast.errors import FeatureServiceNotFoundException
from feast.feature_view_projection import FeatureViewProjection
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.types import Bool, Float32, Float64, Int32, Int64, String

from shoplab.features.errors import UnknownFeatureError, UnknownServiceError

__all__ = ["ServicePlan", "ViewPlan", "plan_features", "plan_service", "view_name"]

_POLARS: dict[object, pl.DataType] = {
    Int64: pl.Int64(),
    Int32: pl.Int32(),
    Float64: pl.Float64(),
    Float32: pl.Float32(),
    String: pl.String(),
    Bool: pl.Boolean(),
}


def view_name(projection: FeatureViewProjection) -> str:
    """The name a projection's features are referenced by (``view:feature``, ``view__feature``).

    Feast's ``name_to_use``: the alias if any, else the view's name (with ``@v<n>`` when pinned).
    """
    # feast 0.67 leaves name_to_use unannotated
    return str(projection.name_to_use())  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class ViewPlan:
    """One batch feature view as a service uses it."""

    name: str
    join_keys: tuple[str, ...]
    ttl: timedelta | None
    features: tuple[str, ...]
    dtypes: tuple[pl.DataType, ...]

    @property
    def columns(self) -> list[str]:
        """Output column names (``view__feature``)."""
        return [f"{self.name}__{f}" for f in self.features]


@dataclass(frozen=True)
class ServicePlan:
    """A feature service (or a list of refs) resolved against the registry."""

    name: str
    views: tuple[ViewPlan, ...]
    odfvs: tuple[OnDemandFeatureView, ...]
    odfv_features: tuple[tuple[str, ...], ...]
    request_fields: tuple[str, ...]
    refs: tuple[str, ...]  # view:feature of every requested feature (batch and on-demand)

    @property
    def join_keys(self) -> list[str]:
        """Every entity column a label row or candidate must carry."""
        keys: list[str] = []
        for v in self.views:
            keys += [k for k in v.join_keys if k not in keys]
        return keys


def _plan(store: FeatureStore, name: str, wanted: dict[str, list[str] | None]) -> ServicePlan:
    fvs = {fv.name: fv for fv in store.list_feature_views()}
    odfvs = {o.name: o for o in store.list_on_demand_feature_views()}
    views: list[ViewPlan] = []
    extra: dict[str, set[str]] = {}  # batch features the on-demand views read
    plans_odfv: list[tuple[OnDemandFeatureView, tuple[str, ...]]] = []
    for view, feats in wanted.items():
        if view in odfvs:
            o = odfvs[view]
            names = tuple(f.name for f in o.features) if feats is None else tuple(feats)
            plans_odfv.append((o, names))
            for proj in o.source_feature_view_projections.values():
                extra.setdefault(proj.name, set()).update(f.name for f in proj.features)
    request: list[str] = []
    for o, _ in plans_odfv:
        for req in o.source_request_sources.values():
            request += [f.name for f in req.schema if f.name not in request]
    order = [v for v in wanted if v in fvs] + [v for v in extra if v not in wanted]
    for view in order:
        fv = fvs[view]
        chosen = wanted.get(view)
        feat_names = [f.name for f in fv.features] if chosen is None else list(chosen)
        feat_names += sorted(extra.get(view, set()) - set(feat_names))
        dtype = {f.name: f.dtype for f in fv.features}
        views.append(
            ViewPlan(
                name=view,
                join_keys=tuple(c.name for c in fv.entity_columns),
                ttl=fv.ttl or None,
                features=tuple(feat_names),
                dtypes=tuple(_POLARS.get(dtype[n], pl.Float64()) for n in feat_names),
            )
        )
    refs = tuple(
        f"{v}:{f}"
        for v, feats in wanted.items()
        for f in (
            feats
            if feats is not None
            else [x.name for x in (fvs[v].features if v in fvs else odfvs[v].features)]
        )
    )
    return ServicePlan(
        name,
        tuple(views),
        tuple(o for o, _ in plans_odfv),
        tuple(n for _, n in plans_odfv),
        tuple(request),
        refs,
    )


def plan_service(store: FeatureStore, service: str) -> ServicePlan:
    """Resolve a feature service name; unknown names raise :class:`UnknownServiceError`."""
    if not isinstance(service, str):
        raise UnknownServiceError(f"service == {service!r}, must be a feature service name.")
    try:
        fs = store.get_feature_service(service, allow_cache=True)
    except FeatureServiceNotFoundException:
        known = sorted(s.name for s in store.list_feature_services())
        raise UnknownServiceError(
            f"service == {service!r}, must be one of {known} (feature services in the registry)."
        ) from None
    wanted: dict[str, list[str] | None] = {
        view_name(p): [f.name for f in p.features] for p in fs.feature_view_projections
    }
    return _plan(store, service, wanted)


def plan_features(store: FeatureStore, refs: list[str]) -> ServicePlan:
    """Resolve ``view:feature`` references; unknown ones raise :class:`UnknownFeatureError`."""
    fvs = {fv.name: {f.name for f in fv.features} for fv in store.list_feature_views()}
    fvs |= {o.name: {f.name for f in o.features} for o in store.list_on_demand_feature_views()}
    wanted: dict[str, list[str] | None] = {}
    for ref in refs:
        view, sep, feat = ref.partition(":")
        if not sep or view not in fvs or feat not in fvs[view]:
            raise UnknownFeatureError(
                f"feature == {ref!r}, must be 'view:feature' with a view among {sorted(fvs)}"
                + (f" and a feature among {sorted(fvs[view])}." if view in fvs else ".")
            )
        feats = wanted.setdefault(view, [])
        if feats is not None and feat not in feats:
            feats.append(feat)
    return _plan(store, "custom", wanted)
