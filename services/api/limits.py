"""What a request may carry, checked before the application reads it: a body of at most `max_bytes`
(declared and chunked bodies alike) that arrives within `body_seconds`, and no NUL character anywhere (path,
query, JSON or form body). API bodies are UTF-8 JSON (contract 1.1): another media type or charset is a 415; JSON
is at most `MAX_JSON_DEPTH` levels deep and holds no lone surrogate.

The body is read here, up to the limit, and handed on whole: requests are small (64 KiB), and a limit applied
while the framework parses would surface as a parse error instead of a 413. NUL and lone surrogates are refused
at this one place because PostgreSQL cannot store NUL in text (nor bind it as a parameter) and nothing encodes a
lone surrogate: every route and field would otherwise answer them with a 500. The JSON is parsed here only when
it may hold one of them or be deep (a cheap byte search says so): the signals' hot path is not parsed twice.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.problems import is_page, problem, validation_problem
from services.api.web.render import refusal
from services.core.errors import FieldError

NUL = "\x00"
NUL_RULE = "no_nul"
NUL_MESSAGE = "le caractère NUL (U+0000) n'est pas accepté"
SURROGATE_RULE = "string_unicode"
SURROGATE_MESSAGE = "doit être un texte Unicode valide"
DEPTH_RULE = "max_depth"
MAX_JSON_DEPTH = 32  # our bodies are 3 levels deep; CPython's parser overflows near 1000
# A client that declared a body and stops sending it holds a connection and a worker: bounded here.
BODY_SECONDS = 10.0
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_UTF16_OR_32_BOMS = (b"\xff\xfe", b"\xfe\xff")


class RequestLimits:
    def __init__(self, app: ASGIApp, max_bytes: int, body_seconds: float = BODY_SECONDS) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_seconds = body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = _nul_in_address(scope)
        if where is not None:
            await _field_refusal(scope, where, NUL_RULE, NUL_MESSAGE)(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope)(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.body_seconds):
                body = await self._read(receive)
        except TimeoutError:
            await _timed_out(scope)(scope, receive, send)
            return
        except _TooLarge:
            await self._too_large(scope)(scope, receive, send)
            return
        if body is None:  # the client left
            return
        refusal = self._check(scope, headers, body)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _check(self, scope: Scope, headers: dict[bytes, bytes], body: bytes) -> Response | None:
        if not body:
            return None
        if not scope["path"].startswith("/v1/"):
            return _check_form(scope, body)
        if not _json_media_type(headers.get(b"content-type", b"").decode("latin-1")):
            return _unsupported(scope)
        return _check_json(scope, body)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None if the client left; raises `_TooLarge` past the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self, scope: Scope) -> Response:
        return _refusal(scope, 413, f"le corps de la requête dépasse {self.max_bytes} octets")


class _TooLarge(Exception):
    pass


def _wants_page(scope: Scope) -> bool:
    """A browser on a page, or a form posted to one (only pages take forms): answered with a French page."""
    headers = dict(scope["headers"])
    if is_page(scope["path"], headers.get(b"accept", b"").decode("latin-1")):
        return True
    content_type = headers.get(b"content-type", b"").lower()
    form = content_type.startswith((b"application/x-www-form-urlencoded", b"multipart/form-data"))
    return form and not scope["path"].startswith("/v1/")


def _refusal(scope: Scope, status: int, detail: str) -> Response:
    """A problem document, or a French page for people."""
    return refusal(Request(scope), status, None, detail) if _wants_page(scope) else problem(status, detail)


def _field_refusal(scope: Scope, field: str, rule: str, message: str) -> Response:
    if _wants_page(scope):
        return refusal(Request(scope), 422, None, f"{field} : {message}")
    return validation_problem([FieldError(field, rule, message)])


def _unsupported(scope: Scope) -> Response:
    return _refusal(scope, 415, "le corps doit être du JSON encodé en UTF-8 (Content-Type: application/json)")


def _timed_out(scope: Scope) -> Response:
    response = _refusal(scope, 408, "le corps de la requête n'est pas arrivé à temps")
    response.headers["Connection"] = "close"  # what is left of the body will not be read
    return response


def _json_media_type(content_type: str) -> bool:
    """No Content-Type (read as JSON), `application/json` or `application/…+json`, in UTF-8 if a charset is given."""
    if not content_type.strip():
        return True
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    kind, _, subtype = media_type.partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


def _check_json(scope: Scope, body: bytes) -> Response | None:
    # UTF-16 and UTF-32 put NUL bytes beside ASCII characters (UTF-8 JSON never holds a raw one).
    if b"\x00" in body or body.startswith(_UTF16_OR_32_BOMS):
        return _unsupported(scope)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return _unsupported(scope)
    suspicious = b"\\u0000" in body or b"\\ud" in body or b"\\uD" in body
    if not suspicious and body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return None  # the common case: nothing to look for, parsed once by the framework
    try:
        document = json.loads(body)
    except RecursionError:
        return _too_deep(scope)
    except ValueError:
        return None  # the framework says what is wrong with it
    found = _bad_text(document)
    if found is None:
        return None
    field, rule, message = found
    return _too_deep(scope) if rule == DEPTH_RULE else _field_refusal(scope, field, rule, message)


def _too_deep(scope: Scope) -> Response:
    return _field_refusal(scope, "(corps)", DEPTH_RULE, f"au plus {MAX_JSON_DEPTH} niveaux d'imbrication")


def _check_form(scope: Scope, body: bytes) -> Response | None:
    if b"%00" not in body and b"\x00" not in body:
        return None
    for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
        if NUL in name or NUL in value:
            return _field_refusal(scope, name.replace(NUL, "") or "(corps)", NUL_RULE, NUL_MESSAGE)
    return _field_refusal(scope, "(corps)", NUL_RULE, NUL_MESSAGE)


def _nul_in_address(scope: Scope) -> str | None:
    """Where the path or the query string holds a NUL ("(chemin)" or the parameter's name)."""
    if NUL in scope["path"]:
        return "(chemin)"
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if NUL in name or NUL in value:
                return name.replace(NUL, "") or "(paramètre)"
    return None


def _text_problem(text: str) -> tuple[str, str] | None:
    if NUL in text:
        return NUL_RULE, NUL_MESSAGE
    if _LONE_SURROGATE.search(text):
        return SURROGATE_RULE, SURROGATE_MESSAGE
    return None


def _bad_text(document: Any) -> tuple[str, str, str] | None:
    """(dotted path, rule, message) of the first NUL or lone surrogate in a key or a string, or of the first value
    nested deeper than allowed. Walked with a stack, not recursion: depth is what is being checked."""
    stack: list[tuple[Any, list[str]]] = [(document, [])]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_JSON_DEPTH:
            return ".".join(path), DEPTH_RULE, ""
        if isinstance(value, str):
            found = _text_problem(value)
            if found is not None:
                return (".".join(path) or "(corps)", *found)
        elif isinstance(value, dict):
            children = []
            for key, item in value.items():
                found = _text_problem(key)
                if found is not None:
                    clean = _LONE_SURROGATE.sub("", key.replace(NUL, ""))
                    return (".".join([*path, clean]) or "(corps)", *found)
                children.append((item, [*path, key]))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend(reversed([(item, [*path, str(index)]) for index, item in enumerate(value)]))
    return None
