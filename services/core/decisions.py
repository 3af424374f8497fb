"""What a decision reads besides the rows it decides on, handed in by the adapter that asks for it: the instant,
the fiches réflexes, the territory and, where the decision needs it, the weather plan.

Core never reaches for a process-wide book, map or clock itself: the adapter builds the context in the decision's
own transaction (`in_force`), so a publication of the fiches reaches the very next decision, and tests and the
demo hand in their own instant and book. (Ids come the same way, from `models._types.ids_from`.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from services.core.facts import WeatherPlan
from services.core.fiches import FicheBook
from services.core.procedures import expected_fiches, fiches_in_force
from services.core.territory import TerritoryMap, default_map
from services.core.weather import plan_for_routing


@dataclass(frozen=True)
class DecisionContext:
    now: datetime
    fiches: FicheBook
    territory_map: TerritoryMap
    weather: WeatherPlan | None = None  # read by the caller where the decision routes again (requalify)


def in_force(session: Session, now: datetime, *, with_weather: bool = False) -> DecisionContext:
    """The context as the session's transaction sees it: the book in force, the territory, and, if asked, the
    weather plan in force."""
    weather = plan_for_routing(session) if with_weather else None
    return DecisionContext(now, fiches_in_force(session), default_map(), weather)


def expected(now: datetime) -> DecisionContext:
    """The context this process decided with last, read from nothing: for a decision that reads the fingerprint
    of the book in force in a statement it makes anyway (intake, orienting), and takes that book when it is
    another (`book_in_force`)."""
    return DecisionContext(now, expected_fiches(), default_map())
