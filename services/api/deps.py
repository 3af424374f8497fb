"""Dependencies shared by the routers: a session per request, the authenticated caller, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlmodel import Session

from services.core.access import Principal
from services.core.access.tokens import authenticate
from services.core.clock import utc_now
from services.core.db import session_scope


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def current_principal(request: Request, session: SessionDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise HTTPException(401, "jeton d'accès manquant (en-tête Authorization: Bearer <jeton>)")
    principal = authenticate(session, secret.strip(), utc_now())
    if principal is None:
        raise HTTPException(401, "jeton d'accès inconnu, révoqué ou expiré")
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Principal]:
    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise HTTPException(403, f"le rôle {principal.role} ne permet pas cette action")
        return principal

    return check
