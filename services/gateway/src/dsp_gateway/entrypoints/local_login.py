"""The single user's sign-in of ``dsp serve``: the printed address opens the UI signed in, with no password.

``dsp serve`` prints ``http://127.0.0.1:<port>/local-login#<token>``, where the token is random for each
run. The page at ``/local-login`` loads ``/local-login.js`` (the CSP admits only scripts of the origin),
which takes the token from the address's fragment (a fragment is never sent in a request, so it reaches
no log), removes it from the address bar, and exchanges it at ``POST /api/v1/auth/local`` for a token
pair of the local admin, which it keeps where the UI keeps its session; then it opens the UI.

The exchange is refused unless the token matches (compared in constant time), the request's ``Host``
is this server's loopback address and port (no DNS rebinding), and an ``Origin``, when sent, is this
server's own (no other site's page can post it). The routes exist only in the app ``dsp serve`` builds;
the mesh's gateway never has them. They are not part of the API document. Each exchange leaves a row in the
audit log (``POST /api/v1/auth/local``), as a password sign-in does.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ..ports import ports_of
from ..service_layer import identity
from .ui import UI_CSP

__all__ = ["LOGIN_PATH", "add_local_login_routes"]

log = logging.getLogger(__name__)

LOGIN_PATH = "/local-login"
_EXCHANGE_PATH = "/api/v1/auth/local"
_SESSION_KEY = "dsp.session"  # where the UI keeps its tokens (ui/src/api/session.ts)
_HEADERS = {"Content-Security-Policy": UI_CSP, "X-Frame-Options": "DENY", "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer"}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing in - Data Science Platform</title>
<script src="/local-login.js" defer></script></head>
<body><main><h1>Signing in</h1><p id="status" role="status">Signing in as the local admin...</p></main></body></html>
"""

_SCRIPT = """"use strict";
(async () => {
  const status = document.getElementById("status");
  const token = decodeURIComponent(window.location.hash.slice(1));
  history.replaceState(null, "", "LOGIN_PATH");
  try {
    const response = await fetch("EXCHANGE_PATH", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({token}),
      credentials: "omit", cache: "no-store",
    });
    if (!response.ok) throw new Error(String(response.status));
    const body = await response.json();
    sessionStorage.setItem("SESSION_KEY", JSON.stringify({access_token: body.access_token,
                                                        refresh_token: body.refresh_token}));
    window.location.replace("/");
  } catch (error) {
    status.textContent = "This sign-in address is not valid any more (the server was restarted?). " +
      "Open the address that dsp serve printed when it started.";
  }
})();
""".replace("LOGIN_PATH", LOGIN_PATH).replace("EXCHANGE_PATH", _EXCHANGE_PATH).replace("SESSION_KEY", _SESSION_KEY)


def _refusal(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": None}}, status_code=status,
                        headers={"Cache-Control": "no-store"})


def add_local_login_routes(app: FastAPI, *, token: str, email: str, port: int) -> None:
    """Sign-in through ``token`` as the user ``email``, for a server on 127.0.0.1:``port``. Registered ahead of
    the UI's catch-all, which would otherwise answer ``/local-login`` with the UI."""
    if len(token) < 32:
        raise ValueError("the sign-in token must be at least 32 characters")
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
    origins = {f"http://{host}" for host in hosts}
    before = len(app.router.routes)

    @app.get(LOGIN_PATH, include_in_schema=False)
    async def page() -> Response:
        return HTMLResponse(_PAGE, headers=_HEADERS)

    @app.get(LOGIN_PATH + ".js", include_in_schema=False)
    async def script() -> Response:
        return Response(_SCRIPT, media_type="text/javascript", headers=_HEADERS)

    @app.post(_EXCHANGE_PATH, include_in_schema=False)
    async def exchange(request: Request) -> Response:
        if request.headers.get("host", "").lower() not in hosts:
            return _refusal(403, "forbidden_host", "Sign in through the address dsp serve printed.")
        origin = request.headers.get("origin")
        if origin is not None and origin.lower() not in origins:
            return _refusal(403, "forbidden_origin", "Sign-in from another site is refused.")
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        offered = body.get("token") if isinstance(body, dict) else None
        if not isinstance(offered, str) or not hmac.compare_digest(offered.encode(), token.encode()):
            log.warning("refused a local sign-in with a wrong token")
            return _refusal(401, "invalid_token", "This sign-in address is not valid.")
        ports = ports_of(request)
        async with ports.storage.identity() as repo:
            pair = await identity.issue_for(repo, ports.identity, email=email)
        request.state.audit_user = pair.user  # the audit log's row of this sign-in names its user
        return JSONResponse(pair.oauth(), headers={"Cache-Control": "no-store"})

    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added
