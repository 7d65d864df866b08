"""Inputs that once answered 5xx or non-JSON: refused at the boundary with 400 now."""

from __future__ import annotations

import pytest

from chalicelib.api import schemas as s
from chalicelib.domain.errors import InvalidRequest


@pytest.mark.parametrize("raw", ["²", "١٠", "9" * 5000, "", "-1", "0", "1001", "1e3", " 10"])
def test_a_limit_is_1_to_1000_in_ascii_digits(raw: str) -> None:
    with pytest.raises(InvalidRequest):
        s.limit_of({"limit": raw})


@pytest.mark.parametrize(("raw", "limit"), [("1", 1), ("010", 10), ("1000", 1000)])
def test_good_limits(raw: str, limit: int) -> None:
    assert s.limit_of({"limit": raw}) == limit


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": NaN}',  # answered 201 with `NaN` in the body: not JSON
        b'{"a": -Infinity}',
        b'{"a": 1e400}',  # a float out of range became Infinity
        b'{"a": "\\ud800"}',  # a lone surrogate: 503 after the store's retries
        b'{"\\udfff": 1}',
        b'{"a": [{"b": "x\\udc00"}]}',
        b'{"a": ' + b"1" * 5000 + b"}",
    ],
)
def test_json_bodies_are_rfc_8259(raw: bytes) -> None:
    with pytest.raises(InvalidRequest):
        s.json_object(raw)


def test_escaped_pairs_and_big_integers_are_fine() -> None:
    assert s.json_object(b'{"a": "\\ud83d\\ude00", "n": 100000000000000000000000000000000000000001}') == {
        "a": "😀",
        "n": 100000000000000000000000000000000000000001,
    }


@pytest.mark.parametrize(
    "charset",
    ["rot13", "base64", "hex", "zlib", "undefined", "unicode_escape", "raw-unicode-escape"],
)
def test_a_charset_is_a_charset_not_a_python_codec(charset: str) -> None:
    """500 (LookupError, UnicodeError) or 503 (a CSV cell `\\ud800` read as a lone surrogate) before."""
    with pytest.raises(InvalidRequest):
        s.content_type({"Content-Type": f"text/csv; charset={charset}"})


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("text/csv", ("text/csv", None)),
        ('Text/CSV; charset="Shift_JIS"', ("text/csv", "Shift_JIS")),
        ('text/csv; charset=""', ("text/csv", None)),
        ("text/csv; charset=windows-31j", ("text/csv", "windows-31j")),  # the import knows it
        ("text/csv; charset=utf-16", ("text/csv", "utf-16")),
    ],
)
def test_content_types(header: str, parsed: tuple[str, str | None]) -> None:
    assert s.content_type({"content-type": header}) == parsed
