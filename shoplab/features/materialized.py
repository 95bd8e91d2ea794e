"""What the online store holds: per view, the table version it loaded and up to when.

Feast's registry remembers materialized intervals but not *which* offline rows they came from,
so after a rebuild from another world ``materialize-incremental`` resumed from the last end, the
same ``--end`` loaded nothing and the old world's keys stayed online (634 orphan users of 893 in
issue 12). This record pairs each view's loaded interval end with the content version of the
tables it was loaded from (``shoplab.feature_repo.pipelines.manifest``); a different version
means a full reload. Kept as ``<root>/feast/materialized.json``, written atomically after each
view, and keyed by the online store it describes (a state of another store file is not resumed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from shoplab.core.atomic import atomic_write_text
from shoplab.core.paths import feast_dir

__all__ = ["MaterializedState", "ViewState", "load", "save", "state_path"]


@dataclass(frozen=True)
class ViewState:
    """One view's last load: the tables' version, the interval end, the log they came from.

    ``event_log`` is the event log version the tables were built from (``features/manifest.json``;
    "" when unknown).
    """

    version: str
    end: datetime
    event_log: str = ""


@dataclass(frozen=True)
class MaterializedState:
    """Every view's last load into the online store ``online``."""

    online: str = ""
    views: dict[str, ViewState] = field(default_factory=dict)

    def resume_from(self, view: str, version: str, end: datetime, online: str) -> datetime | None:
        """Where an incremental load of ``view`` may start, or None when it must start over.

        Example:
            >>> from datetime import UTC
            >>> t = datetime(2026, 1, 5, tzinfo=UTC)
            >>> s = MaterializedState().loaded("v", "abc", t, "o.db")
            >>> s.resume_from("v", "abc", t, "o.db") == t, s.resume_from("v", "new", t, "o.db")
            (True, None)
        """
        got = self.views.get(view)
        if online != self.online or got is None or got.version != version or got.end > end:
            return None
        return got.end

    def loaded(
        self, view: str, version: str, end: datetime, online: str, event_log: str = ""
    ) -> MaterializedState:
        """This state after a load of ``view`` (another store's record starts afresh)."""
        views = dict(self.views) if online == self.online else {}
        views[view] = ViewState(version, end, event_log)
        return replace(self, online=online, views=views)


def state_path() -> Path:
    """``<root>/feast/materialized.json``."""
    return feast_dir() / "materialized.json"


def load() -> MaterializedState:
    """The recorded state (empty if none or unreadable: the next load is a full one)."""
    try:
        raw = json.loads(state_path().read_text(encoding="utf-8"))
        return MaterializedState(
            online=str(raw["online"]),
            views={
                k: ViewState(
                    str(v["version"]), datetime.fromisoformat(v["end"]), str(v.get("event_log", ""))
                )
                for k, v in raw["views"].items()
            },
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return MaterializedState()


def save(state: MaterializedState) -> None:
    """Write the state atomically (a crash leaves the previous one: a full reload at worst)."""
    raw = {
        "online": state.online,
        "views": {
            k: {"version": v.version, "end": v.end.isoformat(), "event_log": v.event_log}
            for k, v in state.views.items()
        },
    }
    atomic_write_text(state_path(), json.dumps(raw, indent=1, sort_keys=True) + "\n")
