"""The one parser of instants and days: the caller says what a bare date means."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from shoplab.core.errors import InputError
from shoplab.core.timeparse import parse_day, parse_instant


@pytest.mark.parametrize(
    ("value", "bare_date", "expected"),
    [
        ("2026-01-10", "start_of_day", datetime(2026, 1, 10, tzinfo=UTC)),
        ("2026-01-10", "end_of_day", datetime(2026, 1, 11, tzinfo=UTC)),  # through that day
        (date(2026, 1, 10), "start_of_day", datetime(2026, 1, 10, tzinfo=UTC)),
        (date(2026, 12, 31), "end_of_day", datetime(2027, 1, 1, tzinfo=UTC)),
        (" 2026-01-10 ", "start_of_day", datetime(2026, 1, 10, tzinfo=UTC)),
    ],
)
def test_both_meanings_of_a_bare_date(value: object, bare_date: str, expected: datetime) -> None:
    assert parse_instant(value, "at", bare_date=bare_date) == expected  # type: ignore[arg-type]


def test_the_default_bare_date_is_its_first_instant() -> None:
    assert parse_instant("2026-01-10", "at") == datetime(2026, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-10T08:00:00+07:00", datetime(2026, 1, 10, 1, tzinfo=UTC)),
        ("2026-01-10T00:30:00-05:30", datetime(2026, 1, 10, 6, tzinfo=UTC)),
        ("2026-01-10T00:00:00Z", datetime(2026, 1, 10, tzinfo=UTC)),
        (datetime(2026, 1, 10, 8, tzinfo=timezone(timedelta(hours=7))),
         datetime(2026, 1, 10, 1, tzinfo=UTC)),
    ],
)
def test_offsets_come_back_in_utc(value: object, expected: datetime) -> None:
    got = parse_instant(value, "at", bare_date="end_of_day")  # type: ignore[arg-type]
    assert got == expected
    assert got.utcoffset() == timedelta(0)
    assert got.tzinfo is UTC


@pytest.mark.parametrize("value", ["2026-01-10T08:00:00", datetime(2026, 1, 10, 8)])
def test_a_naive_time_is_refused_never_guessed(value: object) -> None:
    with pytest.raises(InputError, match=r"^--as-of == '2026-01-10T08:00:00', must carry a time"):
        parse_instant(value, "--as-of")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["2026-13-01", "yesterday", "2026-01-10T25:00:00Z", 20260110])
def test_garbage_is_an_input_error_naming_field_and_value(value: object) -> None:
    with pytest.raises(InputError, match=r"^start == ") as info:
        parse_instant(value, "start")  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_parse_day() -> None:
    assert parse_day("2026-01-10", "start") == date(2026, 1, 10)
    assert parse_day(date(2026, 1, 10), "start") == date(2026, 1, 10)
    with pytest.raises(InputError, match=r"^start == '2026-1-10', must be an ISO date"):
        parse_day("2026-1-10", "start")
    with pytest.raises(InputError, match="must be a date"):
        parse_day(datetime(2026, 1, 10, tzinfo=UTC), "start")  # an instant is not a day
