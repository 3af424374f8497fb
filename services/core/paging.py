"""The contract's pagination of lists: `?limit=` (default 50, at most 500) and an opaque `?cursor=`.

A keyset cursor is the sort key of the last row of a page, an (instant, id) pair, as base64url of a JSON pair.
Clients hold it and may forge it: it is decoded strictly (shape, types, an aware instant a database can store, an
id of the characters our ids use) so that a forged one is a 422 naming `cursor`, never a query that fails."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime

from services.core.errors import FieldError, InvalidInput
from services.core.timefmt import rfc3339

DEFAULT_PAGE = 50
MAX_PAGE = 500
MAX_CURSOR = 200  # characters: a real one is about 90
_ID = re.compile(r"[0-9A-Za-z_:.-]{1,64}")
_EARLIEST_KEY = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST_KEY = datetime(9999, 12, 31, tzinfo=UTC)
INVALID_CURSOR = FieldError("cursor", "invalid", "curseur de pagination invalide (reprenez le next_cursor reçu)")


def encode_cursor(instant: datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([rfc3339(instant), row_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (instant, id) a cursor holds; InvalidInput naming `cursor` for anything `encode_cursor` did not make."""
    if not 0 < len(cursor) <= MAX_CURSOR:
        raise InvalidInput([INVALID_CURSOR])
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        pair = json.loads(raw.decode("utf-8"))
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)):
            raise ValueError("forme")
        text, row_id = pair
        instant = datetime.fromisoformat(text)
    except (ValueError, binascii.Error) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidInput([INVALID_CURSOR]) from err
    if instant.tzinfo is None or not _EARLIEST_KEY <= instant <= _LATEST_KEY or not _ID.fullmatch(row_id):
        raise InvalidInput([INVALID_CURSOR])
    return instant, row_id
