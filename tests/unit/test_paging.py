"""Keyset cursors: what `encode_cursor` gives back decodes exactly; anything forged is a 422 naming `cursor`."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.core.errors import InvalidInput
from services.core.paging import decode_cursor, encode_cursor

ID = "5d6c1e6a-0b7e-4d0e-9a55-2f8c1b1f7a10"


def forged(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "instant",
    [datetime(2026, 1, 14, 21, 40, 0, 123456, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=timezone(timedelta(hours=2)))],
)
def test_a_cursor_decodes_to_the_exact_position(instant: datetime) -> None:
    assert decode_cursor(encode_cursor(instant, ID)) == (instant, ID)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "pas du base64 !",
        "é",
        forged(b"\xff\xfe\x00"),
        forged(b"{}"),
        forged(b"[1, 2]"),
        forged(b'["2026-01-14T21:40:00+00:00"]'),
        forged(b'["2026-01-14T21:40:00+00:00", "x", "y"]'),
        forged(b'["2026-01-14T21:40:00", "' + ID.encode() + b'"]'),  # no offset
        forged(b'["0001-01-01T00:00:00+01:00", "' + ID.encode() + b'"]'),
        forged(b'["2026-01-14T21:40:00+00:00", "\\ud800"]'),
        forged(b'["2026-01-14T21:40:00+00:00", "' + ID.encode() + b'\\n"]'),
        forged(b'["2026-01-14T21:40:00+00:00", "a\\u0000b"]'),
    ],
)
def test_a_forged_cursor_is_invalid_input_naming_the_field(cursor: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        decode_cursor(cursor)
    assert [error.field for error in raised.value.errors] == ["cursor"]
