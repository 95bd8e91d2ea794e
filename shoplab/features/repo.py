"""The Feast repo as the SDK and the demo drive it: find, build, apply, materialize, open.

Each step is what the Feast CLI does, run in-process so that a notebook, a test or ``make demo``
can call it (``feast -c feature_repo apply`` and ``materialize-incremental`` do the same). Feast
is imported inside the steps: :func:`repo_path` serves the dashboard and the CLI without it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shoplab.core.errors import InputError, StateError
from shoplab.core.lock import writes_data_root
from shoplab.core.paths import under_data_root, using_data_root
from shoplab.core.timeparse import parse_instant
from shoplab.features.quiet import feast_quiet

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore, FeatureView
    from feast.infra.online_stores.online_store import OnlineStore

    from shoplab.feature_repo.pipelines import BuildReport

__all__ = [
    "apply_repo",
    "build_features",
    "feature_store",
    "feature_store_yaml",
    "materialize",
    "repo_path",
]

_STORES: dict[tuple[str, str], FeatureStore] = {}


def repo_path() -> Path:
    """Return the absolute path of the ``feature_repo`` folder (the Feast repo).

    Raises:
        StateError: ``shoplab.feature_repo`` is not importable (shoplab not installed).

    Example:
        >>> (repo_path() / "feature_store.yaml").is_file()
        True
    """
    spec = importlib.util.find_spec("shoplab.feature_repo")
    if spec is None or not spec.submodule_search_locations:
        raise StateError(
            "shoplab.feature_repo is not importable, must be installed: `pip install -e .`"
        )
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def feature_store_yaml() -> Path:
    """The ``feature_store.yaml`` of the store profile the settings select.

    ``$SHOPLAB_ONLINE_STORE``: ``sqlite`` (default) ``feature_repo/feature_store.yaml``,
    ``redis`` ``feature_repo/feature_store.redis.yaml`` (the online store on Redis).
    ``$SHOPLAB_OFFLINE_STORE``: ``duckdb`` (default) or ``spark``
    ``feature_repo/feature_store.spark.yaml`` (the offline store on Spark). Both ``spark`` and
    ``redis``: ``feature_repo/feature_store.spark_redis.yaml``. The definitions are the same in
    every profile; the Feast CLI takes the file with ``-f``.

    Example:
        >>> feature_store_yaml().name.startswith("feature_store.")
        True
    """
    from shoplab.core.settings import settings

    redis = settings().online_store == "redis"
    spark = settings().offline_store == "spark"
    name = {
        (False, False): "feature_store.yaml",
        (True, False): "feature_store.redis.yaml",
        (False, True): "feature_store.spark.yaml",
        (True, True): "feature_store.spark_redis.yaml",
    }[(redis, spark)]
    return repo_path() / name


@contextlib.contextmanager
def _feast_env() -> Iterator[Path]:
    """Pin ``$SHOPLAB_DATA`` to this process's data root while Feast runs.

    :func:`shoplab.core.paths.data_root` resolves an unset ``$SHOPLAB_DATA`` against the cwd,
    and ``feast apply`` changes into ``feature_repo/`` (where the rule means the project's
    ``./data``). Pinning the variable for the duration of a Feast call keeps the root the caller
    sees, wherever the caller's cwd is.
    """
    with using_data_root() as root:
        yield root


# the variables that choose the store (with the working directory, which a relative or unset
# $SHOPLAB_DATA resolves against) -> the store: a request's lookup is three dict reads instead of
# a settings snapshot of the whole environment (~1.2 ms of a 1 x 500 ``ranking_features``)
_FAST: dict[tuple[str | None, ...], FeatureStore] = {}
_CHOOSERS = ("SHOPLAB_DATA", "SHOPLAB_ONLINE_STORE", "SHOPLAB_OFFLINE_STORE")


_GENERATION = [0]  # bumped by apply_repo: a store read before an apply is never cached after it


def _fast_key() -> tuple[str | None, ...] | None:
    """The fast path's key; None (take the slow path) when the working directory is gone."""
    chosen = tuple(os.environ.get(k) for k in _CHOOSERS)
    root = chosen[0]
    if root and os.path.isabs(os.path.expanduser(root)):
        return chosen  # an absolute data root does not depend on the working directory
    try:
        return (*chosen, os.getcwd())
    except OSError:
        return None


def feature_store() -> FeatureStore:
    """Return the FeatureStore of ``feature_repo`` for the current data root (cached per root)."""
    fast = _fast_key()
    hit = _FAST.get(fast) if fast is not None else None
    if hit is not None:
        return hit
    from feast import FeatureStore

    generation = _GENERATION[0]
    with _feast_env() as root:
        key = (str(root), str(feature_store_yaml()))
        store = _STORES.get(key)
        if store is None:
            store = FeatureStore(repo_path=str(repo_path()), fs_yaml_file=feature_store_yaml())
            _STORES[key] = store
        if fast is not None and generation == _GENERATION[0]:
            if len(_FAST) > 64:  # many short-lived environments (tests): keep the cache bounded
                _FAST.clear()
            _FAST[fast] = store
        return store


@writes_data_root("features build")
def build_features(
    start: date | None = None,
    end: date | None = None,
    on_step: Callable[[str, date], None] | None = None,
    engine: str | None = None,
) -> BuildReport:
    """Compute every feature table from the event log (``shoplab features build``).

    ``engine``: ``duckdb`` or ``spark`` (:mod:`shoplab.features.spark_pipelines`); default the
    offline store's (``SHOPLAB_OFFLINE_STORE``), so the Spark profile moves the pipelines too.
    Returns the pipelines' ``BuildReport`` (days built, rows per view).
    """
    from shoplab.core.settings import settings
    from shoplab.feature_repo.pipelines import build

    name = engine or settings().offline_store
    if name not in ("duckdb", "spark"):
        raise InputError(f"engine == {name!r}, must be 'duckdb' or 'spark'.")
    if name == "spark":
        from shoplab.features.spark_pipelines import SparkEngine

        return build(start=start, end=end, on_step=on_step, engine=SparkEngine())
    return build(start=start, end=end, on_step=on_step)


def _purge_repo_modules(repo: Path) -> None:
    # `feast apply` imports definition files as top-level modules ("features", "data_sources");
    # a second apply in the same process would reuse the cached ones and their stale paths.
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().parent == repo:
            del sys.modules[name]


@writes_data_root("features apply")
def apply_repo() -> None:
    """Register the repo's definitions in the data root's registry (``feast apply``).

    Runs Feast's own ``apply_total`` (the CLI's code path); restores the cwd it changes.
    """
    from feast.repo_config import load_repo_config
    from feast.repo_operations import apply_total

    repo = repo_path()
    cwd = os.getcwd()
    added = str(repo) not in sys.path
    with _feast_env() as root:
        _purge_repo_modules(repo)
        if added:
            sys.path.append(str(repo))
        try:
            config = load_repo_config(repo, feature_store_yaml())
            with feast_quiet():  # Feast prints its diff: to stderr, plain off a terminal
                # source validation only warns, and cannot stat a glob path (`<view>/*.parquet`)
                apply_total(config, repo, skip_source_validation=True)
        finally:
            os.chdir(cwd)
            if added:
                sys.path.remove(str(repo))
            _purge_repo_modules(repo)
        _STORES.pop((str(root), str(feature_store_yaml())), None)
        _GENERATION[0] += 1
        _FAST.clear()
    from shoplab.features._wide_read import invalidate

    invalidate()  # cached read connections and plans follow the new registry


def _has_rows(store: FeatureStore, fv: object) -> bool:
    """False if the wide online table of ``fv`` is empty.

    A new table, or one ``apply`` recreated after a schema change, or a Redis restarted empty:
    continuing from the registry's last end would then leave it empty.
    """
    import sqlite3

    from shoplab.features.online_store import (
        WideSqliteOnlineStoreConfig,
        db_path,
        quote,
        table_spec,
    )
    from shoplab.features.redis_store import WideRedisOnlineStore

    online = _online_store(store)
    if isinstance(online, WideRedisOnlineStore):
        return online.has_rows(store.config, fv)  # type: ignore[arg-type]
    if not isinstance(store.config.online_store, WideSqliteOnlineStoreConfig):
        return True

    spec = table_spec(store.project, fv)  # type: ignore[arg-type]
    with contextlib.closing(sqlite3.connect(db_path(store.config))) as con:
        try:
            return con.execute(f"SELECT 1 FROM {quote(spec.table)} LIMIT 1").fetchone() is not None
        except sqlite3.OperationalError:  # no table yet: apply creates it, nothing to continue
            return False


@writes_data_root("features materialize")
def materialize(
    end: datetime | None = None, views: list[str] | None = None
) -> dict[str, tuple[datetime, datetime]]:
    """Make the online store equal the offline tables as of ``end``, view by view.

    A view is reloaded from scratch (its online rows dropped through the online store's
    ``update`` path, then the newest row per key in ``[end - ttl, end]`` loaded) when its
    tables' content version (:func:`~shoplab.feature_repo.pipelines.manifest.view_version`)
    differs from the version it last loaded, when its online table is empty (a new store, or a
    table ``apply`` recreated after a schema change), or when ``end`` goes back before the last
    end. Otherwise it continues from the last end, like ``feast materialize-incremental``, and
    then drops the keys whose newest row expired by ``end``. Either way the online key set is the
    point-in-time set as of ``end``: a rebuild from another world leaves no orphan key (a
    resumed load would have kept the old world's users and loaded nothing at the same ``end``).

    A first run starts at ``end - ttl`` rather than Feast's ``now - ttl``, so a log that ended in
    the past (a simulation, a backfill) still loads. The loaded versions and ends are kept in
    ``<root>/feast/materialized.json`` (:mod:`shoplab.features.materialized`).

    Args:
        end: timezone-aware end of the interval (default: now).
        views: feature views to load (default: all).

    Returns:
        The (start, end) interval materialized per view.

    Raises:
        InputError: ``end`` is naive (no time zone).
        FeatureTableMissingError: a view has no Parquet files (build not run).
    """
    import glob
    import warnings

    from shoplab.feature_repo.pipelines.manifest import read_manifest, view_version
    from shoplab.features import materialized
    from shoplab.features.errors import FeatureTableMissingError

    end = parse_instant(end or datetime.now(UTC), "end")
    _require_applied()
    store = feature_store()
    fvs = [fv for fv in store.list_feature_views() if views is None or fv.name in views]
    if not fvs:
        known = sorted(fv.name for fv in store.list_feature_views())
        raise StateError(
            f"views == {views!r}, must name registered feature views: {known or 'none'}"
            + ("" if known else "; run `shoplab features apply` first.")
        )
    for fv in fvs:
        path = getattr(fv.batch_source, "path", "")
        if not glob.glob(path):
            raise FeatureTableMissingError(
                f"feature view {fv.name!r}: no Parquet files match {path!r}; "
                "run `shoplab features build` first."
            )
    done: dict[str, tuple[datetime, datetime]] = {}
    state = materialized.load()
    online = _online_identity(store)
    built = read_manifest().get("views", {})
    with _feast_env(), feast_quiet(), warnings.catch_warnings():
        # ibis (Feast's materialization reader) calls a DuckDB API deprecated in duckdb 2.0
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="ibis")
        for fv in fvs:
            version = view_version(fv.name)
            # a view without ttl keeps every row valid: load from the epoch on a full load
            first = end - fv.ttl if fv.ttl else datetime(1970, 1, 1, tzinfo=UTC)
            last = state.resume_from(fv.name, version, end, online)
            if last is None or not _has_rows(store, fv):
                _truncate(store, fv)
                start = first
            else:
                start = last
            store.materialize(start_date=start, end_date=end, feature_views=[fv.name])
            if fv.ttl:
                _expire(store, fv, first)
            from_log = str(built.get(fv.name, {}).get("event_log", ""))
            state = state.loaded(fv.name, version, end, online, from_log)
            materialized.save(state)
            done[fv.name] = (start, end)
    return done


def _require_applied() -> None:
    """Refuse to run before ``apply``, without creating anything (Feast would create the file).

    Raises:
        StateError: the registry file of ``feature_store.yaml`` does not exist.
    """
    from feast.repo_config import load_repo_config

    repo = repo_path()
    with _feast_env():
        config = load_repo_config(repo, feature_store_yaml())
        path = getattr(config.registry, "path", None)
        if getattr(config.registry, "registry_type", "file") != "file" or not isinstance(path, str):
            return  # a SQL registry: Feast reports its own connection errors
        registry = under_data_root(path)
    if not registry.is_file():
        raise StateError(
            f"feature registry == '{registry}' does not exist, must be created first: "
            "run `shoplab features apply` (or `feast -c feature_repo apply`) before materialize."
        )


def _online_identity(store: FeatureStore) -> str:
    """The online store a state record describes: its type and, for a file, its path."""
    from shoplab.features.redis_store import WideRedisOnlineStoreConfig, identity

    cfg = store.config.online_store
    if isinstance(cfg, WideRedisOnlineStoreConfig):
        return f"{cfg.type}:{identity(store.config)}"
    path = getattr(cfg, "path", None)
    return f"{cfg.type}:{under_data_root(path)}" if isinstance(path, str) else str(cfg.type)


def _online_store(store: FeatureStore) -> OnlineStore:
    provider = store._get_provider()  # noqa: SLF001 (Feast exposes no public accessor)
    online: OnlineStore = provider.online_store  # the passthrough provider's (every local repo)
    return online


def _truncate(store: FeatureStore, fv: FeatureView) -> None:
    """Drop a view's online rows through the store's own ``update`` path (any online store).

    Deleting then keeping the table is what ``feast apply`` does when a view is removed and
    added back: Feast's SQLite drops and recreates it, Redis deletes the view's keys.
    """
    online = _online_store(store)
    online.update(store.config, [fv], [], [], [], partial=True)
    online.update(store.config, [], [fv], [], [], partial=True)


def _expire(store: FeatureStore, fv: FeatureView, before: datetime) -> None:
    """Drop the online rows older than ``before`` where the store can (the wide stores)."""
    from shoplab.features.online_store import WideSqliteOnlineStore
    from shoplab.features.redis_store import WideRedisOnlineStore

    online = _online_store(store)
    if isinstance(online, WideSqliteOnlineStore | WideRedisOnlineStore):
        online.delete_older_than(store.config, fv, before)
