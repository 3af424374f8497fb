"""`/docs` (Swagger UI) and `/redoc` (ReDoc), working offline: their scripts and styles come from the
`fastapi-offline` package, served here, and the pages hold no inline script, so the documentation pages'
policy (`headers.DOCS_POLICY`) allows scripts from this site only."""

from __future__ import annotations

from html import escape
from importlib.resources import files

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

ASSETS = "/docs/assets"
ASSETS_DIR = files("fastapi_offline") / "static"
# The package's files, by name: nothing else is served from its folder.
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
router = APIRouter(include_in_schema=False)

# Swagger UI started by a script of this site (no inline script); no online validator, no stored token.
SWAGGER_INIT = """\
window.addEventListener("load", function () {
  var page = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: page.dataset.openapi,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    validatorUrl: null,
    persistAuthorization: false,
  });
});
"""


def _openapi_url(request: Request) -> str:
    return escape(request.scope.get("root_path", "") + str(request.app.openapi_url))


def _page(request: Request, title: str, head: str, body: str) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return HTMLResponse(
        f"""<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — {escape(request.app.title)}</title>
<link rel="icon" type="image/png" href="{root}{ASSETS}/favicon.png">
{head}
</head>
<body>
{body}
</body>
</html>
"""
    )


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return _page(
        request,
        "Documentation interactive",
        f'<link rel="stylesheet" href="{root}{ASSETS}/swagger-ui.css">',
        f'<div id="swagger-ui" data-openapi="{_openapi_url(request)}"></div>\n'
        f'<script src="{root}{ASSETS}/swagger-ui-bundle.js"></script>\n'
        f'<script src="{root}/docs/swagger-init.js"></script>',
    )


@router.get(ASSETS + "/{name}")
def asset(name: str) -> FileResponse:
    if name not in ASSET_TYPES:
        raise HTTPException(404, "fichier inconnu")
    return FileResponse(str(ASSETS_DIR / name), media_type=ASSET_TYPES[name])


@router.get("/docs/swagger-init.js")
def swagger_init() -> Response:
    return Response(SWAGGER_INIT, media_type="text/javascript")


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    # ReDoc starts by itself on its <redoc> element.
    return _page(
        request,
        "Référence de l'API",
        "",
        f'<redoc spec-url="{_openapi_url(request)}"></redoc>\n'
        f'<script src="{root}{ASSETS}/redoc.standalone.js"></script>',
    )


def install(app: FastAPI) -> None:
    """For an app made with `docs_url=None, redoc_url=None` (FastAPI's pages load their scripts from a CDN)."""
    app.include_router(router)
