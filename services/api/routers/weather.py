"""The weather plan (grand froid, canicule), set by admins and the MUS."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from services.api.deps import SessionDep, require_roles, require_rule
from services.api.schemas.weather import WeatherPlanOut
from services.core.access import Principal
from services.core.access.policy import check_weather_plan_setter
from services.core.clock import utc_now
from services.core.timefmt import rfc3339
from services.core.weather import WeatherPlanIn, clear_plan, plan_in_force, set_plan

router = APIRouter(prefix="/v1/weather-plan", tags=["plan météo"])


SETTERS = require_rule(check_weather_plan_setter, "admin", "coordinator")


def _view(session: SessionDep) -> dict[str, Any]:
    state = plan_in_force(session)
    if state is None:
        return {"kind": None, "level": None, "set_at": None, "set_by": None}
    return {"kind": state.kind, "level": state.level, "set_at": rfc3339(state.set_at), "set_by": state.set_by}


# Everyone who works with signals and situations; analysts read statistics only.
READERS = require_roles("outreach", "coordinator", "admin")


@router.get(
    "",
    response_model=WeatherPlanOut,
    summary="Lire le plan météo",
    description="Le plan grand froid ou canicule en vigueur et son niveau. Maraudes, coordinateurs et administrateurs.",
    response_description="Le plan en vigueur (tout à null s'il n'y en a pas)",
)
def read_weather_plan(session: SessionDep, _: Annotated[Principal, Depends(READERS)]) -> dict[str, Any]:
    return _view(session)


@router.put(
    "",
    response_model=WeatherPlanOut,
    summary="Fixer le plan météo",
    description="Met en vigueur un plan et son niveau (grand froid : 1 à 3, canicule : 1 à 4) ; les décisions "
    "de routage suivantes en tiennent compte. Administrateurs et MUS.",
    response_description="Le plan en vigueur",
)
def put_weather_plan(
    body: WeatherPlanIn, session: SessionDep, principal: Annotated[Principal, Depends(SETTERS)]
) -> dict[str, Any]:
    set_plan(session, kind=body.kind, level=body.level, actor=principal.actor, now=utc_now())
    session.commit()
    return _view(session)


@router.delete(
    "",
    status_code=204,
    summary="Lever le plan météo",
    description="Plus aucun plan en vigueur. Administrateurs et MUS.",
    response_description="Plan levé",
)
def delete_weather_plan(session: SessionDep, principal: Annotated[Principal, Depends(SETTERS)]) -> Response:
    clear_plan(session, actor=principal.actor, now=utc_now())
    session.commit()
    return Response(status_code=204)
