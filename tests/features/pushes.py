"""One push row of ``user_short_term`` and one read of it through ``feast serve``.

Shared by the tests that push to the online store (SQLite and Redis) and read it back through
Feast's HTTP server: ttl at read time, partial writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import polars as pl

__all__ = ["push_short_term", "served_clicks_1h", "short_term_row"]


class _Posts(Protocol):
    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]: ...


def short_term_row(user: int, at: datetime) -> pl.DataFrame:
    """A ``user_short_term`` row of ``user`` stamped ``at`` (clicks_1h = 41)."""
    return pl.DataFrame(
        {
            "user_id": [user],
            "event_timestamp": [at],
            "created_timestamp": [at],
            "clicks_1h": [41],
            "clicks_1d": [42],
            "impressions_1d": [43],
            "last_clicked_category": ["toys"],
        },
        schema_overrides={
            "event_timestamp": pl.Datetime("us", "UTC"),
            "created_timestamp": pl.Datetime("us", "UTC"),
        },
    )


def push_short_term(row: pl.DataFrame) -> None:
    """Push ``row`` to the online store through the repo's push source."""
    from feast.data_source import PushMode

    import shoplab.features as sf

    sf.feature_store().push("user_short_term_push", row.to_pandas(), to=PushMode.ONLINE)


def served_clicks_1h(server: _Posts, entities: dict[str, list[Any]]) -> dict[str, Any]:
    """``user_short_term:clicks_1h`` as ``feast serve`` answers it (values and statuses)."""
    status, body = server.post(
        "/get-online-features",
        {"features": ["user_short_term:clicks_1h"], "entities": entities},
    )
    assert status == 200, body
    names = body["metadata"]["feature_names"]
    result: dict[str, Any] = body["results"][names.index("clicks_1h")]
    return result
