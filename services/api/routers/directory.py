"""The directory of alerted structures (admins), and the dead letters of work that kept failing (admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select

from services.api.deps import SessionDep, require_roles
from services.api.openapi import problems
from services.api.schemas.directory import DeadLetterPage, StructureList, StructureOut
from services.core.access import Principal
from services.core.alerts.directory import (
    StructureIn,
    get_structure,
    list_structures,
    put_structure,
    structure_view,
)
from services.core.clock import utc_now
from services.core.models import DeadLetter
from services.core.timefmt import rfc3339

router = APIRouter(prefix="/v1", tags=["annuaire"])
Admin = Annotated[Principal, Depends(require_roles("admin"))]


@router.get(
    "/directory",
    response_model=StructureList,
    summary="Lire l'annuaire",
    description="Les structures alertées (pilotes et partenaires) et leurs canaux, jamais les secrets de "
    "signature. Administrateurs.",
    response_description="L'annuaire",
)
def read_directory(session: SessionDep, _: Admin) -> dict[str, Any]:
    return {"items": [structure_view(s) for s in list_structures(session)]}


@router.get(
    "/directory/{code}",
    response_model=StructureOut,
    summary="Lire une structure",
    description="Une structure de l'annuaire et ses canaux. Administrateurs.",
    response_description="La structure",
    responses=problems(404),
)
def read_structure(code: str, session: SessionDep, _: Admin) -> dict[str, Any]:
    return structure_view(get_structure(session, code))


@router.put(
    "/directory/{code}",
    response_model=StructureOut,
    summary="Modifier une structure",
    description="Remplace le nom, l'état et les canaux d'une structure connue ; `webhook_secret` omis garde "
    "celui enregistré. Administrateurs.",
    response_description="La structure modifiée",
    responses=problems(404),
)
def write_structure(code: str, body: StructureIn, session: SessionDep, principal: Admin) -> dict[str, Any]:
    structure = put_structure(session, code, body, actor=principal.actor, now=utc_now())
    session.commit()
    return structure_view(structure)


@router.get(
    "/dead-letters",
    response_model=DeadLetterPage,
    summary="Lire les lettres mortes",
    description="Les travaux qui ont échoué à chaque essai, du plus récent au plus ancien (jamais de données "
    "personnelles). Administrateurs. Paginé par `limit` et `before`.",
    response_description="Une page de lettres mortes",
)
def read_dead_letters(
    session: SessionDep,
    _: Admin,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(ge=1, description="id : les lettres plus anciennes que celle-ci")] = None,
) -> dict[str, Any]:
    """Newest first; `next_before` pages back. Payloads hold ids and codes only, never personal data."""
    statement = select(DeadLetter).order_by(col(DeadLetter.id).desc()).limit(limit + 1)
    if before is not None:
        statement = statement.where(col(DeadLetter.id) < before)
    rows = session.exec(statement).all()
    page = rows[:limit]
    return {
        "items": [
            {
                "id": letter.id,
                "task": letter.task,
                "payload": letter.payload,
                "error": letter.error,
                "created_at": rfc3339(letter.created_at),
                "outbox_id": letter.outbox_id,
            }
            for letter in page
        ],
        "next_before": page[-1].id if len(rows) > limit else None,
    }
