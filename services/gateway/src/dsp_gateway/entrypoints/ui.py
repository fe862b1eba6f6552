"""The web UI at ``/``: the built files of ``ui/`` (``make ui``), public, under a strict CSP.

The directory comes from ``DSP_UI_DIR`` (default: the repository's ``ui/dist`` when present). ``/`` and any
unknown path outside the API answer ``index.html`` (the UI routes itself); ``/assets/*`` are the hashed
bundles. A missing build answers a page saying how to build it, never a blank page. None of these routes is
in the OpenAPI document: they are not part of the API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["UI_CSP", "add_ui_routes", "ui_dir"]

UI_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self' ws: wss:; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
          "form-action 'self'")
_HEADERS = {"Content-Security-Policy": UI_CSP, "X-Frame-Options": "DENY"}


class UiPath(Convertor[str]):
    """Any path but the API's, the OpenAPI pages' and the probes': those keep their own 404 and 405."""

    regex = r"(?!(?:api|health|docs|redoc|openapi\.json|metrics)(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("uipath", UiPath())

_MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Data Science Platform</title></head>
<body><main><h1>The web UI is not built</h1>
<p>The web UI is not built: run <code>make ui</code> (or <code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</code>),
then reload this page. The API is at <a href="/docs">/docs</a>.</p></main></body></html>
"""


def _repo_dist() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        if (parent / "ui" / "package.json").is_file():
            return parent / "ui" / "dist"
    return None


class UiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DSP_", extra="ignore")

    ui_dir: Path | None = None
    """DSP_UI_DIR: the built web UI (``ui/dist`` after ``make ui``)."""


def ui_dir() -> Path | None:
    """Where the built UI is: ``DSP_UI_DIR``, else the repository's ``ui/dist`` (None outside a checkout)."""
    configured = UiSettings().ui_dir
    return configured if configured is not None and str(configured) not in ("", ".") else _repo_dist()


def add_ui_routes(app: FastAPI) -> None:
    """``/``, ``/assets/*`` and the UI's own paths, from the directory the settings name when the app is built."""
    root_dir = ui_dir()

    def index(root: Path | None) -> Response:
        page = root / "index.html" if root is not None else None
        if page is None or not page.is_file():
            return HTMLResponse(_MISSING, status_code=503, headers={**_HEADERS, "Cache-Control": "no-store"})
        return FileResponse(page, media_type="text/html", headers={**_HEADERS, "Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return index(root_dir)

    @app.get("/assets/{name:path}", include_in_schema=False)
    async def asset(name: str) -> Response:
        root = root_dir
        if root is not None:
            assets = (root / "assets").resolve()
            path = (assets / name).resolve()
            if path.is_file() and path.is_relative_to(assets):
                return FileResponse(path, headers={**_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"})
        raise StarletteHTTPException(404, "No such file.")

    @app.get("/{path:uipath}", include_in_schema=False)
    async def fallback(path: str) -> Response:
        root = root_dir
        if root is not None and "/" not in path and path:  # favicon.svg and other top-level files of the build
            file = (root / path).resolve()
            if file.is_file() and file.parent == root.resolve():
                return FileResponse(file, headers=_HEADERS)
        return index(root)
