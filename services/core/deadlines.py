"""The three deadlines of a situation (acknowledge, first contact, resolve): as durations from a reception
(fiches, decisions) or as instants (a situation's dues); one type for both, and the one way to tighten them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Generic, NamedTuple, TypeVar

When = TypeVar("When", timedelta, datetime)

DEADLINE_KINDS: tuple[str, ...] = ("ack", "contact", "resolve")
DEADLINE_LABELS = {"ack": "Prise en compte", "contact": "Premier contact", "resolve": "Résolution"}


class Deadlines(NamedTuple, Generic[When]):
    # A named tuple: `ack, contact, resolve = deadlines` reads them all.
    ack: When
    contact: When
    resolve: When


def tightest(first: Deadlines[When], second: Deadlines[When]) -> Deadlines[When]:
    """Each deadline the earlier of the two (a second fiche, a join: never looser)."""
    return Deadlines(min(first.ack, second.ack), min(first.contact, second.contact), min(first.resolve, second.resolve))


def after(durations: Deadlines[timedelta], start: datetime) -> Deadlines[datetime]:
    """Durations made instants from `start` (the signal's reception)."""
    return Deadlines(start + durations.ack, start + durations.contact, start + durations.resolve)
