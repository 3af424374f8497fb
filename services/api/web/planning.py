"""`/meteo` (the MUS sets or lifts the weather plan, as `PUT`/`DELETE /v1/weather-plan`) and `/carte/{lead}`
(the lead's open situations on the map of Paris drawn from the project's polygons)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from services.api.deps import SessionDep, TerritoryDep
from services.api.problems import field_errors
from services.api.web.auth import READS_FORM, PageForm, PageRoute, form_value, require_page_roles, require_page_rule
from services.api.web.formats import WEATHER_LABELS, lead_label
from services.api.web.mapping import dots
from services.api.web.render import render
from services.api.web.workspace import queue_rows
from services.core.access import Principal
from services.core.access.policy import check_weather_plan_setter, readable_queue
from services.core.clock import utc_now
from services.core.errors import InvalidInput
from services.core.fiches.vocabulary import WEATHER_LEVELS
from services.core.stats.charts import paris_map
from services.core.weather import WeatherPlanIn, clear_plan, plan_in_force, set_plan

router = APIRouter(route_class=PageRoute, include_in_schema=False)
MAP_LIMIT = 500  # situations placed on the map: a queue page at its largest


WeatherPlanSetter = Annotated[Principal, Depends(require_page_rule(check_weather_plan_setter, "coordinator", "admin"))]


def _weather_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    state = plan_in_force(session)
    return render(
        request,
        "meteo.html",
        principal=principal,
        status=status,
        title="Plan météo",
        state=state,
        kind_label=WEATHER_LABELS.get(state.kind, state.kind) if state else None,
        kinds=[(kind, WEATHER_LABELS[kind], WEATHER_LEVELS[kind]) for kind in WEATHER_LABELS],
        errors=errors or {},
        done={"set": "Plan météo déclenché.", "lifted": "Plan météo levé."}.get(done or ""),
    )


@router.get("/meteo")
def weather_page(
    request: Request, session: SessionDep, principal: WeatherPlanSetter, fait: str | None = None
) -> Response:
    return _weather_page(request, session, principal, done=fait)


@router.post("/meteo")
def set_weather(request: Request, session: SessionDep, principal: WeatherPlanSetter, form: PageForm) -> Response:
    level = form_value(form, "level")
    try:
        body = WeatherPlanIn.model_validate(
            {"kind": form_value(form, "kind", strip=False), "level": int(level) if level.isdigit() else level}
        )
        set_plan(session, kind=body.kind, level=body.level, actor=principal.actor, now=utc_now())
    except ValidationError as err:
        errors = {e.field: e.message for e in field_errors(err.errors())}
        return _weather_page(request, session, principal, errors=errors, status=422)
    except InvalidInput as err:
        session.rollback()
        return _weather_page(request, session, principal, errors={e.field: e.message for e in err.errors}, status=422)
    session.commit()
    return RedirectResponse("/meteo?fait=set", status_code=303)


@router.post("/meteo/lever", dependencies=[READS_FORM])
def lift_weather(session: SessionDep, principal: WeatherPlanSetter) -> Response:
    clear_plan(session, actor=principal.actor, now=utc_now())
    session.commit()
    return RedirectResponse("/meteo?fait=lifted", status_code=303)


@router.get("/carte/{lead}")
def queue_map(
    lead: str,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_page_roles("coordinator", "admin"))],
    territory_map: TerritoryDep,
) -> Response:
    readable_queue(principal, lead, territory_map)
    page = queue_rows(session, lead, status=None, fiche=None, sector=None, cursor=None, limit=MAP_LIMIT)
    items = page["items"]
    drawn = paris_map(territory_map)
    by_sector = Counter(item["sector"] for item in items)
    overdue = Counter(item["sector"] for item in items if item["overdue"])
    in_arrondissement: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in items:  # the queue's order: the most urgent first, nearest the middle of its arrondissement
        in_arrondissement[item["arrondissement"]].append(item)
    pins = []
    for number, placed in in_arrondissement.items():
        radius, positions = dots(number, len(placed), territory_map)
        for item, (x, y) in zip(placed, positions, strict=True):
            kind = " overdue" if item["overdue"] else (" escalated" if item["escalation_level"] else "")
            pins.append({"x": f"{x:.1f}", "y": f"{y:.1f}", "r": f"{radius:.1f}", "kind": kind})
    labels = [
        {"x": f"{label.x:.0f}", "y": f"{label.y:.0f}", "text": label.text, "count": by_sector.get(label.sector, 0)}
        for label in drawn.labels
    ]
    sectors = sorted(by_sector.items(), key=lambda pair: -pair[1])
    return render(
        request,
        "carte.html",
        principal=principal,
        title=f"Carte — {lead_label(lead)}",
        lead=lead,
        width=int(drawn.width),
        height=int(drawn.height),
        areas=[{"path": area.path, "busy": area.arrondissement in in_arrondissement} for area in drawn.areas],
        labels=labels,
        pins=pins,
        sectors=[{"sector": s, "count": n, "overdue": overdue.get(s, 0)} for s, n in sectors],
        total=len(items),
        overdue_total=sum(overdue.values()),
        partial=page["next_cursor"] is not None,
    )
