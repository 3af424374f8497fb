"""The fiches' checklists on a situation: what the lead has done, item by item. Ticking or unticking an item is
an event (`checklist_ticked`), so the timeline says who did what when; the state is read back from the events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from services.core.errors import Conflict, FieldError, InvalidInput
from services.core.fiches import FicheBook
from services.core.models import Event, Situation
from services.core.situations.status import OPEN_STATUSES
from services.core.situations.timeline import record

EVENT_TYPE = "checklist_ticked"


@dataclass(frozen=True)
class ChecklistItem:
    fiche: str  # a fiche code, or "" for the items the modifiers add
    text: str
    done: bool
    by: str | None
    at: datetime | None


def _items_of(situation: Situation, book: FicheBook) -> list[tuple[str, str]]:
    """(fiche, item) for the situation's fiches in decision order, then the decision's other items (modifiers)."""
    items: list[tuple[str, str]] = []
    seen: set[str] = set()
    for entry in situation.decision.get("fiches", []):
        code = entry.get("code")
        if code in book:
            for text in book.fiche(code).checklist:
                if text not in seen:
                    seen.add(text)
                    items.append((code, text))
    items.extend(("", text) for text in situation.decision.get("checklist", []) if text not in seen)
    return items


def checklist(situation: Situation, events: Sequence[Event], book: FicheBook) -> list[ChecklistItem]:
    """Every item of the situation's fiches with its last tick (events oldest first)."""
    last: dict[str, Event] = {}
    for event in events:
        if event.type == EVENT_TYPE:
            last[str(event.data.get("item"))] = event
    result = []
    for fiche, text in _items_of(situation, book):
        tick = last.get(text)
        done = tick is not None and bool(tick.data.get("done"))
        result.append(ChecklistItem(fiche, text, done, tick.actor if tick else None, tick.at if tick else None))
    return result


def tick(
    session: Session, situation: Situation, *, item: str, done: bool, actor: str, now: datetime, book: FicheBook
) -> Event:
    """Tick (or untick) one item of the situation's checklist; the caller has locked and authorized."""
    if situation.status not in OPEN_STATUSES:
        raise Conflict(f"la situation est au statut « {situation.status} » : sa liste n'est plus modifiable")
    known = {text: fiche for fiche, text in _items_of(situation, book)}
    if item not in known:
        raise InvalidInput([FieldError("item", "unknown", "ce point ne figure pas dans les fiches de la situation")])
    return record(
        session,
        situation,
        type=EVENT_TYPE,
        actor=actor,
        now=now,
        data={"item": item, "fiche": known[item], "done": done},
    )
