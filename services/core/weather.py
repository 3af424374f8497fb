"""The weather plan in force (grand froid 1–3, canicule 1–4), set by the MUS; changes go to the event log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection
from sqlmodel import Session, col, select

from services.core.errors import FieldError, InvalidInput
from services.core.facts import WeatherPlan
from services.core.fiches.vocabulary import WEATHER_LEVELS
from services.core.models import Event, WeatherPlanState


class WeatherPlanIn(BaseModel):
    """A plan to set, as the API and the `/meteo` page receive it (the levels per kind are checked by `set_plan`)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["grand_froid", "canicule"] = Field(description="Plan : grand_froid ou canicule")
    level: Annotated[int, Field(ge=1, le=4, strict=True)] = Field(
        description="Niveau : 1 à 3 (grand froid), 1 à 4 (canicule)"
    )


def plan_for_routing(db: Session | Connection) -> WeatherPlan | None:
    """The plan in force as routing reads it (kind and level), or None; one light query, no ORM object."""
    state = db.execute(
        select(col(WeatherPlanState.kind), col(WeatherPlanState.level)).where(col(WeatherPlanState.id) == 1)
    ).first()
    if state is None:
        return None
    return WeatherPlan(kind=state.kind, level=state.level)


def plan_in_force(session: Session) -> WeatherPlanState | None:
    """The plan in force as people see it (who set it, when), or None."""
    return session.get(WeatherPlanState, 1)


def set_plan(session: Session, *, kind: str, level: int, actor: str, now: datetime) -> WeatherPlanState:
    if kind not in WEATHER_LEVELS:
        raise InvalidInput([FieldError("kind", "enum", "attendu grand_froid ou canicule")])
    if not 1 <= level <= WEATHER_LEVELS[kind]:
        raise InvalidInput([FieldError("level", "range", f"niveau de 1 à {WEATHER_LEVELS[kind]} pour {kind}")])
    state = session.get(WeatherPlanState, 1, with_for_update=True)
    if state is None:
        state = WeatherPlanState(id=1, kind=kind, level=level, set_at=now, set_by=actor)
        session.add(state)
    else:
        state.kind, state.level, state.set_at, state.set_by = kind, level, now, actor
    session.add(Event(type="weather_plan_set", actor=actor, at=now, data={"kind": kind, "level": level}))
    return state


def clear_plan(session: Session, *, actor: str, now: datetime) -> bool:
    state = session.get(WeatherPlanState, 1, with_for_update=True)
    if state is None:
        return False
    session.delete(state)
    session.add(
        Event(type="weather_plan_cleared", actor=actor, at=now, data={"kind": state.kind, "level": state.level})
    )
    return True
