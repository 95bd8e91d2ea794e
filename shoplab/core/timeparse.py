"""The one parser of instants and days from user input (CLI flags, SDK arguments, YAML).

A bare date is ambiguous as an instant: "analyze as of 2026-01-10" means through the end of that
day, "labels from 2026-01-10" means from its first instant. Two parsers once named ``_as_utc``
answered differently; here the caller says which bound a bare date is (``bare_date``), and both
share every other rule: an instant must carry its zone (a naive time is refused, never guessed),
and comes back in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from shoplab.core.errors import InputError

__all__ = ["BareDate", "parse_day", "parse_instant"]

BareDate = Literal["start_of_day", "end_of_day"]


def parse_day(value: date | str, field: str) -> date:
    """Parse a calendar day (``2026-01-10``).

    Raises:
        InputError: not an ISO date (the message names ``field`` and the value).

    Example:
        >>> parse_day("2026-01-10", "start")
        datetime.date(2026, 1, 10)
    """
    if isinstance(value, datetime):
        raise InputError(f"{field} == {value.isoformat()!r}, must be a date (YYYY-MM-DD).")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{field} == {value!r}, must be an ISO date (YYYY-MM-DD).") from None


def parse_instant(
    value: datetime | date | str, field: str, *, bare_date: BareDate = "start_of_day"
) -> datetime:
    """Parse an instant: an aware datetime, an ISO 8601 string with its zone, or a bare date.

    Args:
        value: the input.
        field: its name in messages (``--as-of``, ``start``).
        bare_date: what a bare date means: its first instant (``start_of_day``) or the first
            instant of the next day (``end_of_day``: "through that day").

    Raises:
        InputError: unparseable, or a naive time (no zone); the message names field and value.

    Example:
        >>> parse_instant("2026-01-10", "as_of", bare_date="end_of_day").isoformat()
        '2026-01-11T00:00:00+00:00'
        >>> parse_instant("2026-01-10T08:00:00+07:00", "at").isoformat()
        '2026-01-10T01:00:00+00:00'
    """
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            value = parse_day(text, field)
        else:
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise InputError(
                    f"{field} == {text!r}, must be an ISO date (2026-01-10) or an ISO 8601 "
                    "datetime with a zone (2026-01-10T00:00:00Z)."
                ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InputError(
                f"{field} == {value.isoformat()!r}, must carry a time zone (end in Z or +00:00)."
            )
        return value.astimezone(UTC)
    if isinstance(value, date):
        start = datetime.combine(value, time(0), tzinfo=UTC)
        return start + timedelta(days=1) if bare_date == "end_of_day" else start
    raise InputError(f"{field} == {value!r}, must be a date, a datetime or an ISO string.")
