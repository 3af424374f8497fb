"""Security headers on every answer; nothing personal is cached anywhere on the way."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages load nothing from elsewhere: inline styles and SVG, no script. Routes may set a stricter policy.
DEFAULT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# /docs and /redoc: their scripts and styles from this site only (Swagger UI and ReDoc set inline styles, ReDoc
# runs its search in a worker it makes from a blob), the document fetched from here, nothing from elsewhere.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
DOCS_PAGES = ("/docs", "/redoc")


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]


class SecurityHeaders:
    """Adds each header the route did not set itself. Works on the raw header list: this runs on every answer."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        common = {
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Cache-Control": "no-store",
        }
        if https:
            common["Strict-Transport-Security"] = "max-age=31536000"
        self.for_docs = _raw({**common, "Content-Security-Policy": DOCS_POLICY})
        self.for_others = _raw({**common, "Content-Security-Policy": DEFAULT_POLICY})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = self.for_docs if scope["path"] in DOCS_PAGES else self.for_others

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in defaults if header[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
