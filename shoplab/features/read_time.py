"""The time an online read judges ttl at: the wall clock, unless the reader names another.

Feast applies no ttl online (feast #6821): its ``get_online_features`` and ``feast serve``
return whatever was materialized last, however old. shoplab's online store classes null an
expired row at read time instead, judged at the wall clock; an in-process reader asking about
another instant (``ranking_features(as_of=...)``, a replay of a past request, a test) names it
with :func:`reading_as_of`. A context variable, not an argument: Feast's ``online_read`` has no
parameter for it, and the value must not leak across threads or requests.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["expired_before", "reading_as_of"]

_NOW: Final = datetime.min  # sentinel: judge at the wall clock
_READ_TIME: contextvars.ContextVar[datetime | None] = contextvars.ContextVar(
    "shoplab_online_read_time", default=_NOW
)


@contextlib.contextmanager
def reading_as_of(when: datetime | None) -> Iterator[None]:
    """Judge ttl at ``when`` instead of now for the online reads of this block (this context).

    ``None`` applies no ttl: an item's shop and category, read to find the keys of other views,
    are attributes of the item, not values that expire.

    Example:
        >>> t = datetime(2026, 1, 5, tzinfo=UTC)
        >>> with reading_as_of(t):
        ...     expired_before(timedelta(hours=2))
        datetime.datetime(2026, 1, 4, 22, 0, tzinfo=datetime.timezone.utc)
        >>> with reading_as_of(None):
        ...     expired_before(timedelta(hours=2)) is None
        True
    """
    token = _READ_TIME.set(when)
    try:
        yield
    finally:
        _READ_TIME.reset(token)


def expired_before(ttl: timedelta | None) -> datetime | None:
    """The instant before which a row of a view with ``ttl`` is expired now (None: never)."""
    when = _READ_TIME.get()
    if not ttl or when is None:
        return None
    return (datetime.now(UTC) if when is _NOW else when) - ttl
