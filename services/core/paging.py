"""The contract's pagination of lists: `?limit=` (default 50, at most 500) and an opaque `?cursor=`."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime

from services.core.errors import FieldError, InvalidInput

DEFAULT_PAGE = 50
MAX_PAGE = 500


# Ids are UUIDs (`models._types.new_id`).
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_OLDEST, _NEWEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
_INVALID = "curseur de pagination invalide : reprendre tel quel le next_cursor d'une réponse"


def encode_cursor(instant: datetime, row_id: str) -> str:
    """A keyset position (an instant and an id) as an opaque cursor."""
    key = json.dumps([instant.isoformat(), row_id])
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Back from `encode_cursor`; anything else a client may forge (not base64, another shape, a foreign id, an
    instant out of range) is a 422 naming `cursor`, never a query that fails."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4))
        value = json.loads(raw.decode("utf-8"))
        instant_text, row_id = value
        instant = datetime.fromisoformat(instant_text)
    except (ValueError, TypeError, UnicodeError):
        raise InvalidInput([FieldError("cursor", "invalid", _INVALID)]) from None
    valid_id = isinstance(row_id, str) and _ID.fullmatch(row_id) is not None
    if not valid_id or instant.tzinfo is None or not _OLDEST <= instant <= _NEWEST:
        raise InvalidInput([FieldError("cursor", "invalid", _INVALID)])
    return instant, row_id
