"""What a request may carry, checked before the application reads it: a body of at most `max_bytes`
(declared and chunked bodies alike), and no NUL character anywhere (path, query, JSON or form body).

The body is read here, up to the limit, and handed on whole: requests are small (64 KiB), and a limit applied
while the framework parses would surface as a parse error instead of a 413. NUL is refused at this one place
because PostgreSQL cannot store it in text (nor bind it as a parameter): every route and field would otherwise
answer it with a 500.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.problems import PROBLEM_JSON, TYPE_BASE, validation_problem
from services.core.errors import FieldError

NUL = "\x00"
NUL_RULE = "no_nul"
NUL_MESSAGE = "le caractère NUL (U+0000) n'est pas accepté"


class RequestLimits:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = _nul_in_address(scope)
        if where is not None:
            await _refuse_nul(where, scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        where = _nul_in_body(body)
        if where is not None:
            await _refuse_nul(where, scope, receive, send)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            {
                "type": TYPE_BASE + "trop-volumineux",
                "title": "Requête trop volumineuse",
                "status": 413,
                "detail": f"le corps de la requête dépasse {self.max_bytes} octets",
            },
            ensure_ascii=False,
        ).encode()
        headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _refuse_nul(field: str, scope: Scope, receive: Receive, send: Send) -> None:
    await validation_problem([FieldError(field, NUL_RULE, NUL_MESSAGE)])(scope, receive, send)


def _nul_in_address(scope: Scope) -> str | None:
    """Where the path or the query string holds a NUL ("(chemin)" or the parameter's name)."""
    if NUL in scope["path"]:
        return "(chemin)"
    query = scope.get("query_string", b"")
    if b"%00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if NUL in name or NUL in value:
                return name.replace(NUL, "") or "(paramètre)"
    return None


def _nul_in_body(body: bytes) -> str | None:
    """The dotted path of the first NUL in a JSON body (written `\\u0000`) or a form body (`%00`). A body that
    does not parse is left to the framework, which says so."""
    if b"\\u0000" in body:
        try:
            return _nul_in_json(json.loads(body), [])
        except ValueError:
            return None
    if b"%00" in body:
        for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            if NUL in name or NUL in value:
                return name.replace(NUL, "") or "(corps)"
    return None


def _nul_in_json(value: Any, path: list[str]) -> str | None:
    if isinstance(value, str):
        return (".".join(path) or "(corps)") if NUL in value else None
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                return ".".join([*path, key.replace(NUL, "")]) or "(corps)"
            items.append((key, item))
    elif isinstance(value, list):
        items = [(str(index), item) for index, item in enumerate(value)]
    for key, item in items:
        found = _nul_in_json(item, [*path, key])
        if found is not None:
            return found
    return None
