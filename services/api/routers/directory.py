"""The directory of alerted structures (admins), and the dead letters of work that kept failing (admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from services.api.deps import SessionDep, client_address, require_roles
from services.core.access import Principal
from services.core.alerts.directory import (
    StructureIn,
    get_structure,
    list_structures,
    put_structure,
    structure_view,
)
from services.core.clock import utc_now
from services.core.deadletters import list_dead_letters, replay
from services.core.models import DeadLetter
from services.core.paging import DEFAULT_PAGE, MAX_PAGE
from services.core.timefmt import rfc3339

router = APIRouter(prefix="/v1", tags=["annuaire"])
Admin = Annotated[Principal, Depends(require_roles("admin"))]


@router.get("/directory")
def read_directory(session: SessionDep, _: Admin) -> dict[str, Any]:
    return {"items": [structure_view(s) for s in list_structures(session)]}


@router.get("/directory/{code}")
def read_structure(code: str, session: SessionDep, _: Admin) -> dict[str, Any]:
    return structure_view(get_structure(session, code))


@router.put("/directory/{code}")
def write_structure(code: str, body: StructureIn, session: SessionDep, principal: Admin) -> dict[str, Any]:
    structure = put_structure(session, code, body, actor=principal.actor, now=utc_now())
    session.commit()
    return structure_view(structure)


class DeadLetterOut(BaseModel):
    """A task that kept failing, kept for people (ids and codes only, never personal data)."""

    id: int
    task: str = Field(description="la tâche abandonnée, par ex. urgence.route_signal")
    payload: dict[str, Any] = Field(description="ce qui désigne l'objet : identifiants et codes")
    error: str = Field(description="la dernière erreur")
    created_at: str
    outbox_id: int | None = Field(description="la ligne d'outbox abandonnée (aucune pour le balayage des échéances)")
    replayed_at: str | None = Field(description="rejouée à cet instant ; null si elle ne l'a pas été")
    replayed_by: str | None
    replay_outbox_id: int | None = Field(description="la ligne d'outbox écrite par la reprise")

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterOut:
        assert letter.id is not None
        return cls(
            id=letter.id,
            task=letter.task,
            payload=letter.payload,
            error=letter.error,
            created_at=rfc3339(letter.created_at) or "",
            outbox_id=letter.outbox_id,
            replayed_at=rfc3339(letter.replayed_at),
            replayed_by=letter.replayed_by,
            replay_outbox_id=letter.replay_outbox_id,
        )


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None


@router.get(
    "/dead-letters",
    response_model=DeadLetterPage,
    summary="Lettres mortes",
    description="Les tâches abandonnées après leurs essais, les plus récentes d'abord (admins), paginées.",
)
def read_dead_letters(
    session: SessionDep,
    _: Admin,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"au plus {MAX_PAGE}")] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    replayed: Annotated[bool | None, Query(description="true : les rejouées ; false : les autres")] = None,
) -> DeadLetterPage:
    page = list_dead_letters(session, limit=limit, cursor=cursor, replayed=replayed)
    return DeadLetterPage(items=[DeadLetterOut.of(letter) for letter in page.items], next_cursor=page.next_cursor)


@router.post(
    "/dead-letters/{letter_id}/replay",
    response_model=DeadLetterOut,
    summary="Rejouer une lettre morte",
    description=(
        "Remet le travail dans l'outbox après avoir levé la marque d'échec de son objet (signalement, alerte ou "
        "situation), et garde la lettre, marquée rejouée (qui, quand). Une lettre déjà rejouée : 409, rien "
        "n'est refait. Auditée."
    ),
    responses={404: {"description": "lettre inconnue"}, 409: {"description": "déjà rejouée, ou sans objet"}},
)
def replay_dead_letter(
    letter_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request, session: SessionDep, principal: Admin
) -> DeadLetterOut:
    letter = replay(session, letter_id, principal=principal, now=utc_now(), client=client_address(request))
    session.commit()
    return DeadLetterOut.of(letter)
