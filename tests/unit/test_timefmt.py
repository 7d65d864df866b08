"""The one time format of the contract: ISO 8601 UTC with milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib.domain.timefmt import iso, iso_or_none, parse_iso, parse_iso_or_none

JST = timezone(timedelta(hours=9))


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "2024-01-02T03:04:05.678Z"),
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05.000Z"),
        (datetime(2024, 1, 2, 9, 0, 0, 1000, tzinfo=JST), "2024-01-02T00:00:00.001Z"),
        (datetime(2024, 1, 1, 8, 59, 59, 999999, tzinfo=JST), "2023-12-31T23:59:59.999Z"),
    ],
    ids=[
        "time-iso-milliseconds-truncated",
        "time-iso-zero-milliseconds",
        "time-iso-jst-converted-to-utc",
        "time-iso-jst-crosses-year",
    ],
)
def test_iso(moment: datetime, expected: str) -> None:
    assert iso(moment) == expected


def test_parse_iso_round_trip_is_aware_and_equal_to_the_millisecond() -> None:
    moment = datetime(2024, 6, 1, 12, 30, 15, 123000, tzinfo=UTC)
    parsed = parse_iso(iso(moment))
    assert parsed == moment
    assert parsed.utcoffset() == timedelta(0)


def test_iso_strings_sort_like_their_moments() -> None:
    moments = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(milliseconds=n * 997) for n in range(50)]
    assert sorted(iso(m) for m in reversed(moments)) == [iso(m) for m in moments]


def test_none_helpers() -> None:
    assert iso_or_none(None) is None
    assert parse_iso_or_none(None) is None
    assert iso_or_none(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00.000Z"
    assert parse_iso_or_none("2024-01-01T00:00:00.000Z") == datetime(2024, 1, 1, tzinfo=UTC)
