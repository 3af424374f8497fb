"""Dependencies shared by the routers: a session per request, the authenticated caller, role checks.

A caller is a bearer token (`Authorization: Bearer …`) or a signed-in browser (session cookie). Requests that
change something with a cookie must also carry the session's CSRF token (`X-CSRF-Token` header or form field),
so another site cannot act with the browser's cookie."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from functools import cache
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from services.api.ratelimit import RateLimiter
from services.core.access import Principal
from services.core.access.tokens import NOT_REMEMBERED, authenticate, remembered_principal
from services.core.access.users import SignedIn, resume_session
from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.settings import get_settings

SESSION_COOKIE = "urgence_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Failed authentications per address and minute: enough for typos, too few to guess secrets.
FAILED_AUTH_PER_MINUTE = 30


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@cache
def limiters() -> tuple[RateLimiter, RateLimiter]:
    """(per caller, per address for failed authentications), one pair per process."""
    return RateLimiter(get_settings().rate_limit_per_minute), RateLimiter(FAILED_AUTH_PER_MINUTE)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _too_many(wait: float) -> HTTPException:
    return HTTPException(429, "trop de requêtes, réessayez plus tard", headers={"Retry-After": str(int(wait))})


def _refuse(request: Request, detail: str) -> HTTPException:
    wait = limiters()[1].hit(f"fail:{client_address(request)}")
    return _too_many(wait) if wait is not None else HTTPException(401, detail)


async def optional_principal(request: Request) -> Principal | None:
    """The caller if any credential was presented and is valid; raises 401 on a bad one, 429 when over limit.
    A token seen in the last seconds is answered from memory, in the event loop; the database is asked (from a
    worker thread) only when it is not."""
    now = utc_now()
    header = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    principal: Principal | None = None
    if header is not None:
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise _refuse(request, "en-tête Authorization invalide (attendu : Bearer <jeton>)")
        recalled = remembered_principal(secret, now)
        if recalled is NOT_REMEMBERED:
            principal = await run_in_threadpool(_authenticate, secret, now)
        else:
            principal = recalled
        if principal is None:
            raise _refuse(request, "jeton d'accès inconnu, révoqué ou expiré")
    elif cookie is not None:
        signed_in = await run_in_threadpool(_resume, cookie, now)
        if signed_in is None:
            return None
        if request.method not in SAFE_METHODS:
            presented = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(presented, signed_in.csrf_token):
                raise HTTPException(403, "jeton CSRF manquant ou invalide")
        principal = signed_in.principal
        request.state.csrf_token = signed_in.csrf_token
    if principal is None:
        return None
    wait = limiters()[0].hit(f"{principal.kind}:{principal.id}")
    if wait is not None:
        raise _too_many(wait)
    request.state.principal = principal
    return principal


def _authenticate(secret: str, now: datetime) -> Principal | None:
    with session_scope() as session:
        return authenticate(session, secret, now)


def _resume(cookie: str, now: datetime) -> SignedIn | None:
    with session_scope() as session:
        return resume_session(session, cookie, now)


def _required(principal: Principal | None) -> Principal:
    if principal is None:
        raise HTTPException(401, "authentification requise (jeton Bearer ou connexion)")
    return principal


# `async` where nothing blocks: FastAPI then runs the check in the event loop instead of a worker thread.
async def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    return _required(principal)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[[Principal | None], Awaitable[Principal]]:
    # On `optional_principal` directly: one dependency level less on every request.
    async def check(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
        principal = _required(principal)
        if principal.role not in roles:
            raise HTTPException(403, f"le rôle {principal.role} ne permet pas cette action")
        return principal

    return check
