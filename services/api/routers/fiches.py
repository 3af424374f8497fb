"""The fiches réflexes as published versions: read, draft, see the impact, publish, roll back (admins and the
MUS). Each change is made and audited by `services.api.fiche_changes`, as the page `/admin/fiches` makes it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from services.api import fiche_changes
from services.api.deps import SessionDep, TerritoryDep, client_address, require_rule
from services.api.openapi import problems
from services.api.schemas.fiches import (
    DraftOut,
    FichesInForce,
    FicheVersionsOut,
    ImpactOut,
    PublicationOut,
    PublishIn,
    RollbackIn,
)
from services.core.access import Principal
from services.core.access.policy import check_fiches_editor, may_see_impact_examples
from services.core.clock import utc_now
from services.core.fiches.impact import MAX_DAYS, draft_impact
from services.core.fiches.versions import draft_books, get_draft
from services.core.fiches.views import draft_view, in_force_view, publication_view, versions_view

router = APIRouter(prefix="/v1/fiches", tags=["fiches réflexes"])


Editor = Annotated[Principal, Depends(require_rule(check_fiches_editor, "admin", "coordinator"))]
FicheCode = Annotated[str, Path(description="Code de la fiche (ex. FR01)")]
DraftId = Annotated[str, Path(description="Identifiant du brouillon")]


@router.get(
    "",
    response_model=FichesInForce,
    summary="Lire les fiches en vigueur",
    description="La version en vigueur de chaque fiche, avec son contenu. Administrateurs et MUS.",
    response_description="Le recueil en vigueur",
)
def read_fiches_in_force(session: SessionDep, _: Editor) -> dict[str, Any]:
    view = in_force_view(session, now=utc_now())
    session.commit()  # the seed, if this was the first read of a new database
    return view


@router.get(
    "/{code}/versions",
    response_model=FicheVersionsOut,
    summary="Lire l'historique d'une fiche",
    description="Chaque version publiée de la fiche (graine, publications, retours arrière), la plus récente "
    "d'abord, avec qui, quand, pourquoi et le contenu. Administrateurs et MUS.",
    response_description="L'historique",
    responses=problems(404),
)
def read_fiche_versions(code: FicheCode, session: SessionDep, _: Editor) -> dict[str, Any]:
    view = versions_view(session, code[:20], now=utc_now())
    session.commit()  # the seed, if this was the first read of a new database
    return view


@router.post(
    "/drafts",
    status_code=201,
    response_model=DraftOut,
    summary="Proposer un brouillon de fiche",
    description="Une fiche de la même forme qu'un fichier de fiches_reflexes/ (en JSON), vérifiée avec le reste "
    "du recueil en vigueur par les mêmes règles que `urgence fiches check` : 422 nomme chaque problème et son "
    "champ. Rien n'entre en vigueur avant la publication. Administrateurs et MUS.",
    response_description="Le brouillon",
)
def post_draft(
    document: Annotated[dict[str, Any], Body(description="La fiche proposée")],
    request: Request,
    session: SessionDep,
    principal: Editor,
) -> dict[str, Any]:
    return draft_view(fiche_changes.draft(session, principal, document, client=client_address(request)))


@router.get(
    "/drafts/{draft_id}/impact",
    response_model=ImpactOut,
    summary="Voir l'impact d'un brouillon",
    description="Les signalements des `days` derniers jours routés de nouveau avec le brouillon à la place de la "
    "version en vigueur, chacun avec le plan météo de sa réception : combien changeraient de fiche principale, "
    "de pilote, de consignes, de délais. Les exemples sont réservés aux lecteurs de données personnelles (MUS). "
    "Rien n'est écrit. Administrateurs et MUS.",
    response_description="L'impact",
    responses=problems(404),
)
def read_draft_impact(
    draft_id: DraftId,
    session: SessionDep,
    territory_map: TerritoryDep,
    principal: Editor,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="Nombre de jours à rejouer (90 par défaut)")] = 90,
) -> dict[str, Any]:
    now = utc_now()
    before, after = draft_books(session, get_draft(session, draft_id), now=now)
    impact = draft_impact(session, before, after, territory_map, days=days, now=now)
    return impact.to_json(with_examples=may_see_impact_examples(principal))


@router.post(
    "/drafts/{draft_id}/publish",
    response_model=PublicationOut,
    summary="Publier un brouillon",
    description="Met en vigueur le recueil en vigueur avec la fiche du brouillon, en une fois : chaque processus "
    "l'applique aux décisions suivantes, sans redémarrage ; les décisions déjà prises gardent leur version. "
    "409 si la fiche a été publiée depuis le brouillon ou si le brouillon l'est déjà. Administrateurs et MUS.",
    response_description="La publication",
    responses=problems(404, 409),
)
def post_publish(
    draft_id: DraftId,
    request: Request,
    session: SessionDep,
    principal: Editor,
    body: Annotated[PublishIn | None, Body()] = None,
) -> dict[str, Any]:
    reason = body.reason if body is not None else ""
    publication = fiche_changes.publish(session, principal, draft_id, reason=reason, client=client_address(request))
    return publication_view(publication)


@router.post(
    "/{code}/rollback",
    response_model=PublicationOut,
    summary="Revenir à une version antérieure",
    description="Publie de nouveau une version antérieure de la fiche (`to`), le reste du recueil restant tel "
    "qu'en vigueur. 409 si cette version est déjà en vigueur. Administrateurs et MUS.",
    response_description="La publication",
    responses=problems(404, 409),
)
def post_rollback(
    code: FicheCode, body: RollbackIn, request: Request, session: SessionDep, principal: Editor
) -> dict[str, Any]:
    client = client_address(request)
    publication = fiche_changes.roll_back(session, principal, code[:20], body.to, reason=body.reason, client=client)
    return publication_view(publication)
