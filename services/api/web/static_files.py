"""`/static/`: the pages' own CSS, JavaScript and images, vendored in the package (nothing from elsewhere).
They change only with a release, so browsers may keep them for an hour."""

from __future__ import annotations

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from services.api.web.render import STATIC_DIR

CACHE_CONTROL = "public, max-age=3600"


class CachedStaticFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = CACHE_CONTROL
        return response


def static_files() -> CachedStaticFiles:
    return CachedStaticFiles(directory=STATIC_DIR)
