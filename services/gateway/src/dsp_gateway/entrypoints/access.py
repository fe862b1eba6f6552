"""Who may reach what, beyond the route's role: the WebSocket's token and Origin, the request id, the
per-principal rate limits, the per-organisation AutoML quota, and the lookups of a dataset, job or
dashboard by id that answer another organisation's exactly like a missing one (404)."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Annotated, Any

from fastapi import Query, WebSocket
from mesh_kit.access import (
    request_id_from,  # the request ids are mesh_kit's: every service's answers carry one
)

from ..adapters.repository import ReadModel
from ..domain.identity import Principal
from ..ports import GatewayPorts
from .errors import ApiError
from .security import authenticate_token, too_many

__all__ = [
    "WS_BAD_ORIGIN",
    "WS_NOT_AUTHENTICATED",
    "WS_NOT_FOUND",
    "Offset",
    "check_analysis_quota",
    "check_rate",
    "dashboard_or_404",
    "dataset_or_404",
    "install_token_redaction",
    "job_or_404",
    "origin_allowed",
    "parse_id",
    "redact_tokens",
    "request_id_from",
    "websocket_principal",
]

log = logging.getLogger(__name__)

MAX_OFFSET = 2**31 - 1
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="How many items to skip")]
"""The ``offset`` of a listing: bounded, as the database's OFFSET is (a larger one answers 422, not 500)."""

WS_NOT_AUTHENTICATED = 4401  # missing, expired or bad token
WS_BAD_ORIGIN = 4403         # sent before the handshake: the client sees HTTP 403
WS_NOT_FOUND = 4404          # no such job in the caller's organisation


def origin_allowed(origin: str | None, allowed: frozenset[str], host: str | None = None) -> bool:
    """No Origin (a non-browser client) passes; a browser's Origin must be listed exactly (scheme://host[:port]),
    or be the gateway's own: the web UI it serves, whose Origin names the Host the request came to (that Host
    passed the allowlist already)."""
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if origin in allowed:
        return True
    if host:
        scheme, _, netloc = origin.partition("://")
        return scheme in ("http", "https") and netloc == host.strip().lower()
    return False


def _offered_token(websocket: WebSocket) -> tuple[str | None, str | None]:
    """The token, and the subprotocol to answer with: ``?token=`` first, else ``Sec-WebSocket-Protocol: bearer, <t>``."""
    protocols = [p.strip() for p in websocket.scope.get("subprotocols", []) if p.strip()]
    subprotocol = "bearer" if protocols and protocols[0].lower() == "bearer" else None
    token = websocket.query_params.get("token")
    if not token and subprotocol is not None and len(protocols) > 1:
        token = protocols[1]
    return token or None, subprotocol


async def websocket_principal(websocket: WebSocket, ports: GatewayPorts) -> tuple[Principal | None, str | None]:
    """The caller of a WebSocket, and the subprotocol to accept with; None once the socket was refused.

    A foreign Origin is refused before the handshake (cross-site WebSocket hijacking, DNS rebinding);
    a missing or bad token is accepted and closed with 4401 so that the client can tell why.
    """
    if not origin_allowed(websocket.headers.get("origin"), frozenset(ports.options.allowed_origins),
                          host=websocket.headers.get("host")):
        log.warning("WebSocket from a foreign Origin refused")
        await websocket.close(code=WS_BAD_ORIGIN)
        return None, None
    token, subprotocol = _offered_token(websocket)
    principal: Principal | None = None
    if token is not None:
        try:
            principal = await authenticate_token(ports, token)
        except ApiError:
            principal = None
    if principal is None:
        await websocket.accept(subprotocol=subprotocol)
        await websocket.send_json({"type": "error.occurred", "code": "not_authenticated",
                                   "message": "Connect with ?token=<access token>."})
        await websocket.close(code=WS_NOT_AUTHENTICATED)
        return None, None
    return principal, subprotocol


_TOKEN_IN_TEXT = re.compile(r"((?:^|[?&])(?:token|access_token|api_key)=)[^&\s\"']+", re.IGNORECASE)


def redact_tokens(text: str) -> str:
    return _TOKEN_IN_TEXT.sub(r"\1[redacted]", text)


class _RedactTokens(logging.Filter):
    """uvicorn logs each WebSocket's path with its query string ('"WebSocket /api/v1/ws?token=…" [accepted]'):
    the token is cut out of the record before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        return True


def install_token_redaction() -> None:
    for name in ("uvicorn.error", "uvicorn", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactTokens) for f in logger.filters):
            logger.addFilter(_RedactTokens())


async def check_rate(ports: GatewayPorts, action: str, principal: Principal, per_minute: int) -> None:
    """Count one ``action`` (uploads, analyses) of the principal; 429 with Retry-After over ``per_minute``.

    A limiter that cannot answer (Redis down) lets the request through uncounted: an upload or an analysis
    degrades to no rate limit rather than failing (the per-organisation analysis quota, in the database,
    still holds).
    """
    try:
        retry = await ports.limiter.hit(f"{action}:{principal.user_id}", f"{per_minute}/minute")
    except Exception as exc:
        log.warning("rate limit of %s not checked (limiter unreachable): %r", action, exc)
        return
    if retry is not None:
        raise too_many(retry, f"Too many {action}: at most {per_minute} a minute; try again in {retry.seconds} s.")


async def check_analysis_quota(repo: ReadModel, principal: Principal, max_running: int) -> None:
    """429 when the organisation already has ``max_running`` analyses queued or running. Call it in the
    transaction that inserts the analysis: it holds the organisation's quota lock until that ends, so two
    requests cannot both take the last free place.

    Counted in the read model, whose handler sees every terminal event: nothing to release, and the
    count survives restarts of any replica.
    """
    await repo.lock_analysis_quota(principal.organization_id)
    running = await repo.count_active_analyses(organization_id=principal.organization_id)
    if running >= max_running:
        raise ApiError(429, "too_many_analyses",
                       f"Your organisation already has {running} analyses running (the limit is {max_running}); "
                       "start another once one has finished.",
                       details={"running": running, "limit": max_running, "retry_after": 30},
                       headers={"Retry-After": "30"})


def parse_id(value: str, field: str) -> uuid.UUID:
    """The id in a path or body as a UUID; one that is no UUID names nothing, so it answers 404."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, "not_found", f"No {field.removesuffix('_id')} has the id {value!r}.", field=field) from None


async def dataset_or_404(ports: GatewayPorts, dataset_id: str, principal: Principal) -> dict[str, Any]:
    """The dataset, if the caller's organisation holds it: another organisation's reads as missing."""
    async with ports.storage.read() as repo:
        row = await repo.find_dataset(parse_id(dataset_id, "dataset_id"), organization_id=principal.organization_id)
    if row is None:
        raise ApiError(404, "not_found", f"No dataset has the id {dataset_id}.", field="dataset_id")
    return row


async def job_or_404(ports: GatewayPorts, job_id: str, principal: Principal,
                     field: str = "analysis_id") -> dict[str, Any]:
    """The job, if the caller's organisation holds it: another organisation's reads as missing."""
    async with ports.storage.read() as repo:
        row = await repo.find_job(parse_id(job_id, field), organization_id=principal.organization_id)
    if row is None:
        raise ApiError(404, "not_found", f"No analysis has the id {job_id}.", field=field)
    return row


async def dashboard_or_404(ports: GatewayPorts, dashboard_id: str, organization_id: uuid.UUID) -> dict[str, Any]:
    """The dashboard, if this organisation holds it (the caller's, or the one a view link was signed for)."""
    async with ports.storage.read() as repo:
        row = await repo.find_dashboard(parse_id(dashboard_id, "dashboard_id"), organization_id=organization_id)
    if row is None:
        raise ApiError(404, "not_found", f"No dashboard has the id {dashboard_id}.", field="dashboard_id")
    return row
