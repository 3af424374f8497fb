"""The directory of alerted structures (admins), and the dead letters of work that kept failing (admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from services.api.deps import SessionDep, TerritoryDep, client_address, require_roles
from services.api.openapi import problems
from services.api.schemas.directory import DeadLetterOut, DeadLetterPage, StructureList, StructureOut
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
from services.core.paging import DEFAULT_PAGE, MAX_PAGE

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
def write_structure(
    code: str, body: StructureIn, session: SessionDep, territory_map: TerritoryDep, principal: Admin
) -> dict[str, Any]:
    structure = put_structure(session, code, body, territory_map, actor=principal.actor, now=utc_now())
    session.commit()
    return structure_view(structure)


@router.get(
    "/dead-letters",
    response_model=DeadLetterPage,
    summary="Lire les lettres mortes",
    description="Les travaux qui ont échoué à chaque essai, du plus récent au plus ancien (jamais de données "
    "personnelles). Administrateurs. Paginé par `limit` et `cursor` ; `replayed` filtre les rejouées ou les autres.",
    response_description="Une page de lettres mortes",
)
def read_dead_letters(
    session: SessionDep,
    _: Admin,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"au plus {MAX_PAGE}")] = DEFAULT_PAGE,
    cursor: Annotated[
        str | None, Query(pattern=r"^\d{1,18}$", description="Le `next_cursor` de la page précédente")
    ] = None,
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
    response_description="La lettre, marquée rejouée",
    responses=problems(404, 409),
)
def replay_dead_letter(
    letter_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="Numéro de la lettre morte")],
    request: Request,
    session: SessionDep,
    principal: Admin,
) -> DeadLetterOut:
    letter = replay(session, letter_id, principal=principal, now=utc_now(), client=client_address(request))
    session.commit()
    return DeadLetterOut.of(letter)
