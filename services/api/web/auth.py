"""Who is calling a page, and the refusals of page routes as French pages.

Same credentials as the API (`services.api.deps.optional_principal`: bearer token or signed-in session, same
rate limits). A page form carries the session's CSRF token in a hidden field `csrf_token`; it is checked by the
API's own check, as if it came in the `X-CSRF-Token` header. Not signed in → 303 to `/connexion?next=…`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api.deps import CSRF_HEADER, SAFE_METHODS, optional_principal
from services.api.web.render import refusal
from services.core.access import Principal
from services.core.errors import Conflict, DomainError, Forbidden, NotFound

MAX_FORM_FIELDS = 200
CSRF_FIELD = "csrf_token"
Form = dict[str, list[str]]  # every value of each field, as sent


class PageRefusal(Exception):
    """Raised in a page route: answered with the French refusal page of `status`."""

    def __init__(self, status: int, detail: str | None = None) -> None:
        super().__init__(detail or str(status))
        self.status = status
        self.detail = detail


def parse_form(body: bytes, *, max_fields: int = MAX_FORM_FIELDS) -> Form:
    """An `application/x-www-form-urlencoded` body, every value of each field (checkboxes repeat names); more
    than `max_fields` fields: ValueError."""
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=max_fields)


def form_value(form: Form, name: str, *, limit: int | None = None, strip: bool = True) -> str:
    """The first value sent for `name` ("" when none), without its outer spaces unless `strip` is off (a password,
    a document), cut to `limit` characters."""
    value = form.get(name, [""])[0]
    return (value.strip() if strip else value)[:limit]


async def page_form(request: Request) -> Form:
    if request.method in SAFE_METHODS:
        return {}
    try:
        return parse_form(await request.body())
    except ValueError as err:  # too many fields
        raise PageRefusal(400, "formulaire trop long") from err


# A page route's form, read on the event loop (for a signed-in person, its CSRF token checked already by
# `page_principal`): the route itself is then a plain `def`, run off the loop. A route that uses no field still
# reads its form (`dependencies=[READS_FORM]`): a form too long is refused the same way everywhere.
PageForm = Annotated[Form, Depends(page_form)]
READS_FORM = Depends(page_form)


async def page_principal(request: Request) -> Principal:
    """The caller of a page, or a refusal (401 → the sign-in page)."""
    checked = request
    if request.method not in SAFE_METHODS and "authorization" not in request.headers:
        # A form post: its hidden field stands for the header the API expects from scripts.
        token = form_value(await page_form(request), CSRF_FIELD, strip=False)
        headers = [(k, v) for k, v in request.scope["headers"] if k != CSRF_HEADER.encode()]
        checked = Request({**request.scope, "headers": [*headers, (CSRF_HEADER.encode(), token.encode())]})
    try:
        principal = await optional_principal(checked)
    except StarletteHTTPException as err:
        raise PageRefusal(err.status_code, str(err.detail)) from err
    if principal is None:
        raise PageRefusal(401)
    if checked is not request:
        request.state.csrf_token = checked.state.csrf_token if hasattr(checked.state, "csrf_token") else ""
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def require_page_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: PagePrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden("votre rôle ne donne pas accès à cette page")
        return principal

    return check


def require_page_rule(rule: Callable[[Principal], None], *roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """As `services.api.deps.require_rule`, for a page: a person of one of `roles` that passes `rule`."""

    # A default, not an `Annotated` hint: postponed annotations cannot see `roles`.
    async def check(principal: Principal = Depends(require_page_roles(*roles))) -> Principal:
        rule(principal)
        return principal

    return check


def _status_of(exc: Exception) -> tuple[int, str | None] | None:
    if isinstance(exc, PageRefusal):
        return exc.status, exc.detail
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, str(exc.detail)
    if isinstance(exc, NotFound):
        return 404, exc.detail
    if isinstance(exc, Forbidden):
        return 403, exc.detail
    if isinstance(exc, Conflict):
        return 409, exc.detail
    if isinstance(exc, DomainError):
        return 400, exc.detail
    if isinstance(exc, RequestValidationError):
        return 404 if any(e.get("loc", ("",))[0] == "path" for e in exc.errors()) else 400, None
    return None


class PageRoute(APIRoute):
    """Routes of the pages: every refusal raised inside (dependencies included) becomes a French page, never
    a JSON problem document. Other errors go on to the app's handlers (logged 500, 503 when the database is out)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                known = _status_of(exc)
                if known is None:
                    raise
                principal = getattr(request.state, "principal", None)
                return refusal(request, known[0], principal, known[1])

        return answer
