"""The OpenAPI pages (/docs, /redoc) with their scripts served by the service itself.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, so they stay blank on a machine without
internet access, or behind a proxy that blocks it. The same files come from a PyPI package here.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_PATH", "add_docs"]

STATIC_PATH = "/docs/static"
_FILES = Path(fastapi_offline.__file__).parent / "static"


def add_docs(app: FastAPI) -> None:
    """Serve /docs (Swagger UI, whose Authorize button takes the API's security schemes) and /redoc."""
    app.mount(STATIC_PATH, StaticFiles(directory=_FILES), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title}: API",
                                   swagger_js_url=f"{STATIC_PATH}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{STATIC_PATH}/swagger-ui.css",
                                   swagger_favicon_url=f"{STATIC_PATH}/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{app.title}: API",
                              redoc_js_url=f"{STATIC_PATH}/redoc.standalone.js",
                              redoc_favicon_url=f"{STATIC_PATH}/favicon.png", with_google_fonts=False)
