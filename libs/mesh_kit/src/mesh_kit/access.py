"""Each request of a service: its id, its RED metrics, its JSON access log line, and the open WebSockets.

``AccessMiddleware`` is the outermost middleware of every service's app (``build_app``, and the gateway of
``dsp serve``), a plain ASGI one: no task of its own per request, one pass over the answer's start.

- The request id is the client's ``X-Request-ID`` when it is a UUID (canonical form), a fresh one otherwise, so
  nothing a client sends is reflected into answers or logs. It is ``request.state.request_id`` for the routes,
  ``X-Request-ID`` on every answer, and ``request_id`` on every log line written while the request runs
  (``mesh_kit.logs``).
- ``dsp_http_requests_total`` and ``dsp_http_request_duration_seconds`` count it by route template.
- One log line per request, logger ``dsp.access``, at INFO: ``request_id``, ``principal`` (the caller's user id
  once the route authenticated one, ``request.state.principal``; ``api_key_id`` when a key acted for it),
  ``method``, ``route`` (the template, ``/api/v1/jobs/{job_id}``; ``unmatched`` when none matched), ``status``,
  ``duration_ms``, and ``job_id`` when the route names a job.
- A WebSocket counts in ``dsp_websockets_open`` from its accept to its end, and leaves one line when it ends
  (``method`` ``WS``, status 101 once accepted, 403 when refused before).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import bind_request, unbind_request
from .metrics import HTTP_DURATION, HTTP_REQUESTS, WEBSOCKETS_OPEN

__all__ = ["AccessMiddleware", "ResponseStatus", "request_id_from", "request_id_of"]

access_log = logging.getLogger("dsp.access")

_JOB_PARAMS = ("job_id", "analysis_id", "comparison_id")
"""Path parameters that name a job: the access line carries it as ``job_id``."""


def request_id_from(header: str | None) -> str:
    """The client's X-Request-ID when it is a UUID (canonical form); a fresh one otherwise, so nothing
    a client sends is reflected into responses or logs."""
    if header:
        try:
            return str(uuid.UUID(header.strip()))
        except ValueError:
            pass
    return str(uuid.uuid4())


def request_id_of(scope: Scope) -> str:
    """The id ``AccessMiddleware`` gave the request; for a scope it did not see, one from its header."""
    given = scope.get("state", {}).get("request_id")
    if given:
        return str(given)
    return request_id_from(next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"),
                                None))


class ResponseStatus:
    """The status of the answer that goes through ``send``: 500 until one starts (an exception escaped)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


def _route(scope: Scope) -> str:
    return getattr(scope.get("route"), "path", "unmatched")


def _fields(scope: Scope, request_id: str, method: str, route: str, status: int, started: float) -> dict[str, Any]:
    state = scope.get("state") or {}
    principal = state.get("principal")
    fields: dict[str, Any] = {"request_id": request_id, "method": method, "route": route, "status": status,
                              "duration_ms": round((time.perf_counter() - started) * 1000, 3)}
    if principal is not None:
        fields["principal"] = str(getattr(principal, "user_id", principal))
        key = getattr(principal, "api_key_id", None)
        if key is not None:
            fields["api_key_id"] = str(key)
    params = scope.get("path_params") or {}
    job = next((params[name] for name in _JOB_PARAMS if name in params), None)
    if job is not None:
        try:
            fields["job_id"] = str(uuid.UUID(str(job)))
        except ValueError:
            pass  # not an id: the route answers 404, and nothing the client sent goes into the log
    return fields


class AccessMiddleware:
    """The request id, RED metrics and access log of every HTTP request, and the gauge of open WebSockets."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._websocket(scope, receive, send)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        token = bind_request(request_id)
        echoed = (b"x-request-id", request_id.encode("latin-1"))
        status = 500  # until an answer starts: an exception escaped

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, echoed]}
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            method, route = scope["method"], _route(scope)
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
            HTTP_DURATION.labels(self.service, method, route).observe(time.perf_counter() - started)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %s", method, route, status,
                                extra={"fields": _fields(scope, request_id, method, route, status, started)})
            unbind_request(token)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        token = bind_request(request_id)
        accepted = False
        gauge = None

        async def answer(message: Message) -> None:
            nonlocal accepted, gauge
            await send(message)
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                gauge = WEBSOCKETS_OPEN.labels(self.service, _route(scope))
                gauge.inc()

        try:
            await self.app(scope, receive, answer)
        finally:
            if gauge is not None:
                gauge.dec()
            if access_log.isEnabledFor(logging.INFO):
                route, status = _route(scope), 101 if accepted else 403
                access_log.info("WS %s %s", route, status,
                                extra={"fields": _fields(scope, request_id, "WS", route, status, started)})
            unbind_request(token)
