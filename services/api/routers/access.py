"""Administration of access: tokens, people, and the audit trail (admins only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from services.api.deps import SessionDep, TerritoryDep, require_roles
from services.api.openapi import problems
from services.api.schemas.access import AuditPage, TokenCreated, TokenList, TokenOut, UserList, UserOut
from services.core.access import Principal
from services.core.access.audit import read_audit
from services.core.access.tokens import TokenError, create_token, list_tokens, revoke_token
from services.core.access.users import UserError, create_user, list_users
from services.core.clock import utc_now
from services.core.errors import FieldError, InvalidInput
from services.core.instants import FutureInstant
from services.core.models import ApiToken, User
from services.core.paging import DEFAULT_PAGE, MAX_PAGE
from services.core.timefmt import rfc3339

router = APIRouter(prefix="/v1", tags=["accès"])
ADMIN = require_roles("admin")
AdminDep = Annotated[Principal, Depends(ADMIN)]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(description="Rôle : outreach, coordinator, analyst ou admin")
    leads: Annotated[list[str], Field(max_length=50)] = Field(
        default_factory=list, description="Pilotes d'un coordinateur (au moins un), ex. `eps:paris-13`, `mus`"
    )
    name: Annotated[str, Field(max_length=200)] | None = Field(default=None, description="Nom du jeton")
    expires_at: FutureInstant | None = Field(
        default=None, description="Heure d'expiration, dans 10 ans au plus ; par défaut, selon les réglages"
    )


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")] = Field(
        description="Identifiant de connexion (lettres, chiffres, . _ @ -)"
    )
    password: SecretStr = Field(description="Mot de passe")
    role: str = Field(description="Rôle : outreach, coordinator, analyst ou admin")
    leads: Annotated[list[str], Field(max_length=50)] = Field(
        default_factory=list, description="Pilotes d'un coordinateur (au moins un)"
    )


@contextmanager
def _refused_grant(field: str) -> Iterator[None]:
    """A role or leads the rules of grants refuse (`TokenError`, `UserError`): 422 naming `field`."""
    try:
        yield
    except (TokenError, UserError) as err:
        raise InvalidInput([FieldError(field, "grant", str(err))]) from err


def token_view(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role,
        "leads": token.leads,
        "created_at": rfc3339(token.created_at),
        "expires_at": rfc3339(token.expires_at),
        "revoked_at": rfc3339(token.revoked_at),
    }


def user_view(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "leads": user.leads,
        "created_at": rfc3339(user.created_at),
        "disabled_at": rfc3339(user.disabled_at),
    }


@router.get(
    "/tokens",
    response_model=TokenList,
    summary="Lister les jetons",
    description="Tous les jetons d'accès, actifs et révoqués, sans leurs secrets. Administrateurs.",
    response_description="Les jetons",
)
def get_tokens(session: SessionDep, _: AdminDep) -> dict[str, Any]:
    return {"items": [token_view(token) for token in list_tokens(session)]}


@router.post(
    "/tokens",
    status_code=201,
    response_model=TokenCreated,
    summary="Créer un jeton",
    description="Un nouveau jeton d'accès pour un rôle (un coordinateur a au moins un pilote). Son secret n'est "
    "montré que dans cette réponse. Administrateurs.",
    response_description="Le secret du nouveau jeton",
)
def post_token(body: TokenIn, session: SessionDep, territory_map: TerritoryDep, _: AdminDep) -> dict[str, Any]:
    with _refused_grant("role"):
        secret = create_token(
            session,
            role=body.role,
            leads=body.leads,
            territory_map=territory_map,
            name=body.name,
            expires_at=body.expires_at,
        )
    session.commit()
    return {"token": secret}


@router.delete(
    "/tokens/{token_id}",
    response_model=TokenOut,
    summary="Révoquer un jeton",
    description="Le jeton est refusé dès maintenant (au plus quelques secondes dans chaque processus). "
    "Administrateurs.",
    response_description="Le jeton révoqué",
    responses=problems(404),
)
def delete_token(token_id: str, session: SessionDep, _: AdminDep) -> dict[str, Any]:
    token = revoke_token(session, token_id, utc_now())
    session.commit()
    return token_view(token)


@router.get(
    "/users",
    response_model=UserList,
    summary="Lister les personnes",
    description="Les personnes qui se connectent aux pages, sans leurs mots de passe. Administrateurs.",
    response_description="Les personnes",
)
def get_users(session: SessionDep, _: AdminDep) -> dict[str, Any]:
    return {"items": [user_view(user) for user in list_users(session)]}


@router.post(
    "/users",
    status_code=201,
    response_model=UserOut,
    summary="Créer une personne",
    description="Une personne qui se connecte aux pages avec un identifiant et un mot de passe, pour un rôle. "
    "Administrateurs.",
    response_description="La personne créée",
)
def post_user(body: UserIn, session: SessionDep, territory_map: TerritoryDep, _: AdminDep) -> dict[str, Any]:
    with _refused_grant("user"):
        user = create_user(
            session,
            username=body.username,
            password=body.password.get_secret_value(),
            role=body.role,
            leads=body.leads,
            territory_map=territory_map,
            now=utc_now(),
        )
    session.commit()
    return user_view(user)


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="Lire le journal d'audit",
    description="Qui a lu des données personnelles ou agi, quand et d'où, du plus ancien au plus récent, filtré "
    "par situation, signalement ou appelant. Administrateurs. Paginé par `limit` et `cursor`.",
    response_description="Une page du journal",
)
def get_audit(
    session: SessionDep,
    _: AdminDep,
    situation_id: str | None = None,
    signal_id: str | None = None,
    principal_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> dict[str, Any]:
    return read_audit(
        session,
        situation_id=situation_id,
        signal_id=signal_id,
        principal_id=principal_id,
        after_id=int(cursor or 0),
        limit=limit,
    )
