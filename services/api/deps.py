"""Dependencies shared by the routers: a session per request, the authenticated caller, role checks.

A caller is a bearer token (`Authorization: Bearer …`) or a signed-in browser (session cookie). Requests that
change something with a cookie must also carry the session's CSRF token (`X-CSRF-Token` header or form field),
so another site cannot act with the browser's cookie."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from functools import cache
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Annotated, Any, NamedTuple

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BeforeValidator
from sqlmodel import Session

from services.api.ratelimit import SharedRateLimiter
from services.core.access import Principal
from services.core.access.tokens import NOT_REMEMBERED, authenticate, remembered_principal
from services.core.access.users import SignedIn, resume_session
from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.errors import Forbidden
from services.core.instants import ClientInstant
from services.core.settings import get_settings
from services.core.territory import TerritoryMap, default_map

SESSION_COOKIE = "urgence_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Failed authentications per address and minute: enough for typos, too few to guess secrets.
FAILED_AUTH_PER_MINUTE = 30
# Failed sign-ins per minute: for one username (a person's typos, or a guess at one name), and from one address,
# much higher (a building's people behind one address, while someone hammers one name).
FAILED_SIGNINS_PER_USERNAME = 10
FAILED_SIGNINS_PER_ADDRESS = 100


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_territory_map() -> TerritoryMap:
    """The territory the routes hand to core (loaded once per process, at the start); async: no thread for it."""
    return default_map()


TerritoryDep = Annotated[TerritoryMap, Depends(get_territory_map)]


class Limiters(NamedTuple):
    callers: SharedRateLimiter  # requests per token or person
    failed_auth: SharedRateLimiter  # refused credentials per address
    signin_username: SharedRateLimiter  # failed sign-ins per username
    signin_address: SharedRateLimiter  # failed sign-ins per address


@cache
def limiters() -> Limiters:
    """One set per process, counted in the broker's Redis: shared by every API process (see `ratelimit`)."""
    settings = get_settings()
    url = settings.broker_url
    return Limiters(
        SharedRateLimiter("callers", settings.rate_limit_per_minute, url),
        SharedRateLimiter("failed_auth", FAILED_AUTH_PER_MINUTE, url),
        SharedRateLimiter("signin_username", FAILED_SIGNINS_PER_USERNAME, url),
        SharedRateLimiter("signin_address", FAILED_SIGNINS_PER_ADDRESS, url),
    )


def client_address(request: Request) -> str | None:
    """The caller's address: the peer's, or, when the peer is a trusted proxy, what `X-Forwarded-For` says."""
    peer = request.client.host if request.client else None
    proxies = get_settings().trusted_proxies
    if peer is None or not proxies:
        return peer
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), proxies)


def forwarded_client(peer: str, forwarded_for: Sequence[str], proxies: Sequence[IPv4Network | IPv6Network]) -> str:
    """The rightmost hop that is not a trusted proxy, walking back from the peer: each trusted proxy appended the
    address it saw, and anything left of the first untrusted hop was written by the client (forgeable). An entry
    that is not an address stops the walk at the last hop known."""
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    client = peer
    for hop in reversed(hops):
        if not _trusted(client, proxies):
            return client
        address = _address(hop)
        if address is None:
            return client
        client = address
    return client


def _address(text: str) -> str | None:
    """An IP address as a proxy writes it (`192.0.2.7`, `2001:db8::1`, `[2001:db8::1]:443`, `192.0.2.7:443`)."""
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return str(ip_address(text))
    except ValueError:
        return None


def _trusted(address: str, proxies: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def _offset_sign(value: Any) -> Any:
    """A `+` left unencoded in a query string arrives as a space: read it back as the offset's sign instead of
    refusing `?opened_from=2026-01-14T00:00:00+01:00`."""
    return value.strip().replace(" ", "+") if isinstance(value, str) else value


# An instant in a query string (a list's filter), bounded like every instant a client sends.
QueryInstant = Annotated[ClientInstant, BeforeValidator(_offset_sign)]


def _too_many(wait: float) -> HTTPException:
    return HTTPException(429, "trop de requêtes, réessayez plus tard", headers={"Retry-After": str(int(wait))})


async def _refuse(request: Request, detail: str) -> HTTPException:
    wait = await limiters().failed_auth.hit(f"fail:{client_address(request)}")
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
            raise await _refuse(request, "en-tête Authorization invalide (attendu : Bearer <jeton>)")
        recalled = remembered_principal(secret, now)
        if recalled is NOT_REMEMBERED:
            principal = await run_in_threadpool(_authenticate, secret, now)
        else:
            principal = recalled
        if principal is None:
            raise await _refuse(request, "jeton d'accès inconnu, révoqué ou expiré")
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
    wait = await limiters().callers.hit(f"{principal.kind}:{principal.id}")
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


def require_roles(*roles: str) -> Callable[[Principal | None], Awaitable[Principal]]:
    # On `optional_principal` directly: one dependency level less on every request.
    async def check(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
        principal = _required(principal)
        if principal.role not in roles:
            raise Forbidden(f"le rôle {principal.role} ne permet pas cette action")
        return principal

    return check


def require_rule(rule: Callable[[Principal], None], *roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A caller of one of `roles` that passes `rule`, a check of `core/access/policy.py` (it raises Forbidden).
    A dependency, so the refusal comes before any validation of the request, as for `require_roles`."""

    # A default, not an `Annotated` hint: postponed annotations cannot see `roles`.
    async def check(principal: Principal = Depends(require_roles(*roles))) -> Principal:
        rule(principal)
        return principal

    return check
