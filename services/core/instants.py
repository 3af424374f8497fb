"""Instants a client sends, bounded where they enter (contract 1.1, "Dates").

Every instant of a request (a signal's `observed_at`, a contact's `at`, a query filter…) lies between
2000-01-01 and 10 minutes after reception. Outside that range it is a mistake or an attack: a date before year 1
is stored by PostgreSQL but cannot be read back by Python, and one such row stopped the routing of a whole city.
The rule lives here once: `ClientInstant` for the schemas (checked against the real clock while the request is
validated, no database involved) and `instant_errors` for core functions that take an injected `now`.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError

from services.core.clock import utc_now
from services.core.errors import FieldError

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(minutes=10)  # clocks of phones and partners' systems drift a little
# A token's expiry is the one instant meant to lie ahead; ten years is far beyond any grant.
MAX_EXPIRY = timedelta(days=3653)

TOO_EARLY_RULE = "too_early"
NOT_FUTURE_RULE = "not_future"
NOT_PAST_RULE = "not_past"
TOO_LATE_RULE = "too_late"
TOO_EARLY_MESSAGE = "ne peut être antérieure au 2000-01-01T00:00:00Z"
NOT_FUTURE_MESSAGE = "ne peut dépasser de plus de 10 minutes l'heure de réception"
NOT_PAST_MESSAGE = "doit être dans le futur"
TOO_LATE_MESSAGE = "au plus 10 ans après l'heure de réception"
# Rules whose message is already French (the problem documents show it as is).
RULES = frozenset({TOO_EARLY_RULE, NOT_FUTURE_RULE, NOT_PAST_RULE, TOO_LATE_RULE})

# RFC 3339 only: pydantic would also read a number (or a string of digits) as seconds since 1970.
_RFC3339_START = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


_EARLIEST_STAMP = EARLIEST.timestamp()
_MAX_AHEAD_SECONDS = MAX_AHEAD.total_seconds()


def instant_problem(value: datetime, now: datetime) -> tuple[str, str] | None:
    """(rule, French message) when `value` is outside [2000-01-01, now + 10 min], else None."""
    return _problem(value.timestamp(), now.timestamp())


def _problem(stamp: float, now_stamp: float) -> tuple[str, str] | None:
    # On timestamps: comparing datetimes of different offsets converts them at each comparison; this runs on
    # every signal.
    if stamp < _EARLIEST_STAMP:
        return TOO_EARLY_RULE, TOO_EARLY_MESSAGE
    if stamp > now_stamp + _MAX_AHEAD_SECONDS:
        return NOT_FUTURE_RULE, NOT_FUTURE_MESSAGE
    return None


def instant_errors(field: str, value: datetime | None, now: datetime) -> list[FieldError]:
    """The same rule for core functions, which take `now` rather than read the clock."""
    found = instant_problem(value, now) if value is not None else None
    return [FieldError(field, *found)] if found else []


def _rfc3339_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("datetime_type", "doit être une date RFC 3339")
    if not _RFC3339_START.match(value):
        raise PydanticCustomError("datetime_parsing", "doit être une date RFC 3339")
    return value


def _in_range(value: datetime) -> datetime:
    found = _problem(value.timestamp(), time.time())  # the real clock (what `utc_now` reads), as a timestamp
    if found is not None:
        raise PydanticCustomError(*found)
    return value


def _ahead(value: datetime) -> datetime:
    now = utc_now()
    if value <= now:
        raise PydanticCustomError(NOT_PAST_RULE, NOT_PAST_MESSAGE)
    if value > now + MAX_EXPIRY:
        raise PydanticCustomError(TOO_LATE_RULE, TOO_LATE_MESSAGE)
    return value


# An instant that happened (or is happening): the type of every such field and query parameter.
ClientInstant = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_in_range)]
# An instant ahead (a token's expiry): after reception, at most ten years later.
FutureInstant = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_ahead)]
