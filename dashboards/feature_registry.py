"""What the Features page reads: the Feast registry, the offline tables behind it, the online store.

All reads go through Feast (``FeatureStore`` on ``feature_repo/``): the registry lists entities,
views and services; each view's batch source names the Parquet its offline rows live in; the
online store is read with ``get_online_features``. Names a user picks on the page are compared
against names the registry returned; no path or query is built from typed text.

Cached with ``st.cache_data`` keyed on the data root and the registry file's mtime, so a new
``feast apply`` / ``materialize`` shows up on the next rerun.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pandas as pd
import polars as pl
import streamlit as st

from shoplab.core import paths
from shoplab.dashboards.data import MissingDependency, UnknownName, fingerprint
from shoplab.features import repo_path
from shoplab.features.consistency import last_materialized

__all__ = [
    "REPO_PATH",
    "Consistency",
    "Registry",
    "consistency",
    "feature_sample",
    "registry",
]

REPO_PATH: Final = repo_path()
"""The Feast repo the dashboard describes (``feature_store.yaml`` lives here)."""

# Rows of the newest snapshot read per view for distributions and null rates: 50k rows give a
# null rate to ±0.5 pp (95 %) and keep the page under a second even when a view holds 100M rows.
SAMPLE_ROWS: Final = 50_000


@dataclass(frozen=True)
class Registry:
    """The registry as tables, one row per object."""

    entities: pd.DataFrame
    feature_views: pd.DataFrame
    on_demand_views: pd.DataFrame
    feature_services: pd.DataFrame


@dataclass(frozen=True)
class Consistency:
    """Online vs offline values of one view: every key, every value.

    Attributes:
        view: feature view name.
        compared: entity × feature values compared (every key on both sides).
        mismatches: how many differ (numbers beyond 1e-9 relative, or null on one side only).
        rows: the differences (entity key, feature or ``<orphan>``/``<missing>``, offline,
            online), capped at 100.
        as_of: the materialization end the offline side was cut at.
        offline_keys, online_keys: keys on each side.
        orphans: online keys without an offline row as of ``as_of`` (an older world's).
        missing: offline keys absent online.
    """

    view: str
    compared: int
    mismatches: int
    rows: pd.DataFrame
    as_of: datetime | None
    offline_keys: int = 0
    online_keys: int = 0
    orphans: int = 0
    missing: int = 0

    @property
    def consistent(self) -> bool:
        """The same key set on both sides and every compared value equal."""
        return self.orphans == 0 and self.missing == 0 and self.mismatches == 0


def _store() -> Any:
    if not (REPO_PATH / "feature_store.yaml").exists():
        raise MissingDependency(f"no Feast repo at {REPO_PATH} (feature_store.yaml is missing).")
    try:
        from feast import FeatureStore
    except ImportError as exc:  # pragma: no cover - feast is a hard dependency
        raise MissingDependency(f"feast cannot be imported ({exc}).") from exc
    return FeatureStore(repo_path=str(REPO_PATH))


def _version() -> tuple[str, tuple[tuple[str, int, int], ...]]:
    feast_dir = paths.feast_dir()
    files = list(feast_dir.rglob("*")) if feast_dir.exists() else []
    return str(paths.data_root()), fingerprint(f for f in files if f.is_file())


def _ttl(view: Any) -> str:
    ttl = getattr(view, "ttl", None)
    return str(ttl) if ttl else "none"


def _source_path(view: Any) -> str | None:
    source = getattr(view, "batch_source", None)
    path = getattr(source, "path", None)
    return str(path) if path else None


@st.cache_data(show_spinner="Reading the Feast registry…")
def _registry(root: str, version: tuple[tuple[str, int, int], ...]) -> Registry:
    del root, version  # cache key only
    store = _store()
    entities = pd.DataFrame(
        [
            {
                "entity": e.name,
                "join_key": e.join_key,
                "value_type": str(getattr(e.value_type, "name", e.value_type)),
                "owner": e.owner or e.tags.get("owner", ""),
                "description": e.description,
            }
            for e in store.list_entities()
        ]
    )
    from shoplab.features import materialized

    loaded = materialized.load().views  # which event log version each view's online rows are of
    now = datetime.now(UTC)
    views = []
    for v in store.list_feature_views():
        last = last_materialized(v)
        newest = _newest_offline(v)
        views.append(
            {
                "feature_view": v.name,
                "entities": ", ".join(v.entities),
                "features": len(v.features),
                "feature_names": ", ".join(f.name for f in v.features),
                "ttl": _ttl(v),
                "online": bool(v.online),
                "owner": v.owner or v.tags.get("owner", ""),
                "source": _source_path(v) or type(v.batch_source).__name__,
                "last_materialized": last,
                "newest_offline_row": newest,
                # > 0: the offline table has rows the online store has not been given yet
                "online_behind_hours": None
                if last is None or newest is None
                else max(0.0, (newest - last).total_seconds() / 3600),
                "online_age_hours": None if last is None else (now - last).total_seconds() / 3600,
                "event_log": loaded[v.name].event_log if v.name in loaded else "",
            }
        )
    odfvs = [
        {
            "on_demand_view": o.name,
            "features": ", ".join(f.name for f in o.features),
            "sources": ", ".join(
                sorted(
                    set(getattr(o, "source_feature_view_projections", {}) or {})
                    | set(getattr(o, "source_request_sources", {}) or {})
                )
            ),
            "owner": o.owner or o.tags.get("owner", ""),
        }
        for o in store.list_on_demand_feature_views()
    ]
    services = [
        {
            "feature_service": s.name,
            "views": ", ".join(p.name for p in s.feature_view_projections),
            "features": sum(len(p.features) for p in s.feature_view_projections),
            "owner": s.owner or s.tags.get("owner", ""),
            "description": s.description,
        }
        for s in store.list_feature_services()
    ]
    return Registry(
        entities=entities,
        feature_views=pd.DataFrame(views),
        on_demand_views=pd.DataFrame(odfvs),
        feature_services=pd.DataFrame(services),
    )


def registry() -> Registry:
    """Entities, views, on-demand views and services of the applied repo."""
    return _registry(*_version())


def _view(store: Any, name: str) -> Any:
    names = [v.name for v in store.list_feature_views()]
    if name not in names:
        raise UnknownName(f"feature_view == {name!r}, must be one of: {', '.join(sorted(names))}.")
    return store.get_feature_view(name)


def _newest_offline(view: Any) -> datetime | None:
    path = _source_path(view)
    if path is None:
        return None
    ts = view.batch_source.timestamp_field
    lf = pl.scan_parquet(path if not Path(path).is_dir() else f"{path}/**/*.parquet")
    try:
        value = lf.select(pl.col(ts).max()).collect().item()
    except (pl.exceptions.PolarsError, FileNotFoundError, OSError):
        return None  # the registry names a table not built yet: shown as unknown, not an error
    return value if isinstance(value, datetime) else None


def _latest_snapshot(view: Any, limit: int) -> pl.DataFrame:
    """Rows stamped with the newest timestamp (what serving reads now), by entity key, capped.

    Deterministic (a tie-free order), so the null rates shown can be recomputed exactly.
    """
    path = _source_path(view)
    if path is None:
        raise MissingDependency(f"feature view {view.name} has no file batch source to read.")
    ts = view.batch_source.timestamp_field
    keys = [c.name for c in view.entity_columns]
    lf = pl.scan_parquet(path if not Path(path).is_dir() else f"{path}/**/*.parquet")
    return lf.filter(pl.col(ts) == pl.col(ts).max()).sort(keys).head(limit).collect()


def _offline_rows(view: Any, limit: int, until: datetime | None = None) -> pl.DataFrame:
    path = _source_path(view)
    if path is None:
        raise MissingDependency(f"feature view {view.name} has no file batch source to read.")
    ts = view.batch_source.timestamp_field
    lf = pl.scan_parquet(path if not Path(path).is_dir() else f"{path}/**/*.parquet")
    if until is not None:
        lf = lf.filter(pl.col(ts) <= until)
    # newest rows first: the page describes what serving sees now, not the first backfill day
    return lf.sort(ts, descending=True).head(limit).collect()


@st.cache_data(show_spinner="Sampling feature rows…")
def _feature_sample(
    name: str, root: str, version: tuple[tuple[str, int, int], ...]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    del root, version
    view = _view(_store(), name)
    sample = _latest_snapshot(view, SAMPLE_ROWS)
    features = [f.name for f in view.features if f.name in sample.columns]
    n = sample.height
    stats = pd.DataFrame(
        [
            {
                "feature": f,
                "dtype": str(sample[f].dtype),
                "rows": n,
                "null_rate": sample[f].null_count() / n if n else float("nan"),
                "mean": sample[f].cast(pl.Float64, strict=False).mean(),
                "p50": sample[f].cast(pl.Float64, strict=False).median(),
                "min": sample[f].cast(pl.Float64, strict=False).min(),
                "max": sample[f].cast(pl.Float64, strict=False).max(),
            }
            for f in features
        ]
    )
    return sample.select(features).to_pandas(), stats


def feature_sample(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The view's newest snapshot (≤ ``SAMPLE_ROWS`` rows) and per-feature null rate and summary."""
    return _feature_sample(name, *_version())


@st.cache_data(show_spinner="Comparing online and offline values…")
def _consistency(name: str, root: str, version: tuple[tuple[str, int, int], ...]) -> Consistency:
    """Every key and value of the view (``shoplab.features.consistency``), not a sample."""
    del root, version
    from shoplab.features.consistency import compare_view  # Polars + SQLite: on this page only

    store = _store()
    view = _view(store, name)
    as_of = last_materialized(view)
    if as_of is None:
        return Consistency(name, 0, 0, pd.DataFrame(), None)
    check = compare_view(store, view, as_of)
    return Consistency(
        view=name,
        compared=check.compared,
        mismatches=check.mismatches,
        rows=check.rows.to_pandas(),
        as_of=as_of,
        offline_keys=check.offline_keys,
        online_keys=check.online_keys,
        orphans=check.orphans,
        missing=check.missing,
    )


def consistency(name: str) -> Consistency:
    """Compare the online store against the newest offline row per entity for one view."""
    return _consistency(name, *_version())
