"""The Feast repo as the SDK and the demo drive it: build, apply, materialize, open.

Each step is what the Feast CLI does, run in-process so that a notebook, a test or ``make demo``
can call it (``feast -c feature_repo apply`` and ``materialize-incremental`` do the same).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

from feast import FeatureStore

from shoplab.core.paths import using_data_root
from shoplab.features._root import repo_path

__all__ = ["apply_repo", "build_features", "feature_store", "materialize"]

_STORES: dict[tuple[str, str], FeatureStore] = {}


@contextlib.contextmanager
def _feast_env() -> Iterator[Path]:
    """Pin ``$SHOPLAB_DATA`` to this process's data root while Feast runs.

    ``shoplab.core.paths`` resolves an unset ``$SHOPLAB_DATA`` against the cwd; Feast components
    resolve it against the project (see ``_root``). Setting it for the duration of a Feast call
    makes both agree on the root the caller sees.
    """
    with using_data_root() as root:
        yield root


def feature_store() -> FeatureStore:
    """Return the FeatureStore of ``feature_repo`` for the current data root (cached per root)."""
    with _feast_env() as root:
        key = (str(root), str(repo_path()))
        store = _STORES.get(key)
        if store is None:
            store = FeatureStore(repo_path=str(repo_path()))
            _STORES[key] = store
        return store


def build_features(
    start: date | None = None,
    end: date | None = None,
    on_step: Callable[[str, date], None] | None = None,
) -> object:
    """Compute every feature table from the event log (``shoplab features build``).

    Returns the pipelines' ``BuildReport`` (days built, rows per view).
    """
    from shoplab.feature_repo.pipelines import build

    return build(start=start, end=end, on_step=on_step)


def _purge_repo_modules(repo: Path) -> None:
    # `feast apply` imports definition files as top-level modules ("features", "data_sources");
    # a second apply in the same process would reuse the cached ones and their stale paths.
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().parent == repo:
            del sys.modules[name]


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
            config = load_repo_config(repo, repo / "feature_store.yaml")
            with contextlib.redirect_stdout(sys.stderr):  # Feast prints its diff
                # source validation only warns, and cannot stat a glob path (`<view>/*.parquet`)
                apply_total(config, repo, skip_source_validation=True)
        finally:
            os.chdir(cwd)
            if added:
                sys.path.remove(str(repo))
            _purge_repo_modules(repo)
        _STORES.pop((str(root), str(repo)), None)
    from shoplab.features._wide_read import invalidate

    invalidate()  # cached read connections and plans follow the new registry


def _has_rows(store: FeatureStore, fv: object) -> bool:
    """False if the wide online table of ``fv`` is empty (new, or recreated by ``apply`` after a
    schema change): continuing from the registry's last end would then leave it empty."""
    import sqlite3

    from shoplab.features._wide_store import (
        WideSqliteOnlineStoreConfig,
        db_path,
        quote,
        table_spec,
    )

    if not isinstance(store.config.online_store, WideSqliteOnlineStoreConfig):
        return True

    spec = table_spec(store.project, fv)  # type: ignore[arg-type]
    with contextlib.closing(sqlite3.connect(db_path(store.config))) as con:
        try:
            return con.execute(f"SELECT 1 FROM {quote(spec.table)} LIMIT 1").fetchone() is not None
        except sqlite3.OperationalError:  # no table yet: apply creates it, nothing to continue
            return False


def materialize(
    end: datetime | None = None, views: list[str] | None = None
) -> dict[str, tuple[datetime, datetime]]:
    """Load the newest feature row of every key, as of ``end``, into the online store.

    Incremental like ``feast materialize-incremental <end>``: a view continues from its last
    materialized time, unless its online table is empty (a new store, or a table ``apply``
    recreated after a schema change), which is loaded as on a first run. A first run starts at
    ``end - ttl`` rather than Feast's ``now - ttl``, so a log that ended in the past (a
    simulation, a backfill) still loads: with Feast's rule a first run at an ``end`` older than
    ``now - ttl`` loads nothing.

    Args:
        end: timezone-aware end of the interval (default: now).
        views: feature views to load (default: all).

    Returns:
        The (start, end) interval materialized per view.

    Raises:
        FeatureTableMissingError: a view has no Parquet files (build not run).
    """
    import glob
    import warnings

    from shoplab.features.errors import FeatureTableMissingError

    end = end or datetime.now(UTC)
    if end.tzinfo is None:
        raise ValueError(f"end == {end!r}, must be timezone-aware (UTC).")
    store = feature_store()
    done: dict[str, tuple[datetime, datetime]] = {}
    fvs = [fv for fv in store.list_feature_views() if views is None or fv.name in views]
    for fv in fvs:
        path = getattr(fv.batch_source, "path", "")
        if not glob.glob(path):
            raise FeatureTableMissingError(
                f"feature view {fv.name!r}: no Parquet files match {path!r}; "
                "run `shoplab features build` first."
            )
    with _feast_env(), contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        # ibis (Feast's materialization reader) calls a DuckDB API deprecated in duckdb 2.0
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="ibis")
        for fv in fvs:
            last = fv.most_recent_end_time
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            # a view without ttl keeps every row valid: load from the epoch on its first run
            first = end - fv.ttl if fv.ttl else datetime(1970, 1, 1, tzinfo=UTC)
            start = last if last is not None and last <= end and _has_rows(store, fv) else first
            store.materialize(start_date=start, end_date=end, feature_views=[fv.name])
            done[fv.name] = (start, end)
    return done
