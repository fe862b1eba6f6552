"""HTTP hardening every service gets from ``build_app``: a Host allowlist, security headers, CORS from config,
and the internal ``/metrics`` listener that is never part of the public app.

The Host check stops DNS rebinding: a page on ``evil.example`` that resolves its own name to 127.0.0.1 still
sends ``Host: evil.example``. ``/health/*`` answers any Host, because the kubelet probes pods by IP.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Iterable
from typing import Any
from wsgiref.simple_server import WSGIServer

from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .bodylimit import BodyLimitMiddleware
from .settings import MULTIPART_OVERHEAD_BYTES, MeshSettings

__all__ = ["SERVICE_TOKEN_HEADER", "HardeningMiddleware", "MetricsListener", "harden", "host_allowed",
           "service_token_headers", "service_token_refusal"]

log = logging.getLogger(__name__)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# Only on responses that set no CSP of their own: the dashboard route sets one that lets its page be framed
# by the same origin, and a DENY here would contradict it.
FRAME_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
)
CORS_HEADERS = ["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"]


def _host_of(header: str) -> str:
    header = header.strip().lower()
    if header.startswith("["):  # [::1]:8000
        return header[: header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(host_header: str | None, allowed: Iterable[str]) -> bool:
    """Whether the Host header (port ignored) matches the allowlist; ``*.x`` matches subdomains of x."""
    patterns = [pattern.strip().lower() for pattern in allowed]
    if "*" in patterns:
        return True
    if not host_header:
        return False
    host = _host_of(host_header)
    for pattern in patterns:
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and host != pattern[2:]:
            return True
        if host == pattern:
            return True
    return False


class HardeningMiddleware:
    """Refuse requests and WebSockets whose Host is not allowed; add security headers to every response."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: list[str], hsts_max_age: int = 0) -> None:
        self.app = app
        self.allowed_hosts = list(allowed_hosts)
        self.hsts = f"max-age={hsts_max_age}; includeSubDomains".encode() if hsts_max_age > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if not path.startswith("/health/"):
            host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), None)
            if not host_allowed(host, self.allowed_hosts):
                await self._refuse(scope, receive, send)
                return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                for key, value in SECURITY_HEADERS:
                    if key not in present:
                        headers.append((key, value))
                if b"content-security-policy" not in present:
                    headers.extend(pair for pair in FRAME_HEADERS if pair[0] not in present)
                if self.hsts is not None and b"strict-transport-security" not in present:
                    headers.append((b"strict-transport-security", self.hsts))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": "host not allowed"})
            return
        body = json.dumps({"error": {"code": "invalid_host", "message": "The Host header is not allowed.",
                                     "field": None}}).encode()
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": body})


def harden(app: FastAPI, settings: MeshSettings) -> None:
    """Add CORS (only when origins are configured) and the cap on request bodies inside the Host check and the
    security headers."""
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"], allow_headers=CORS_HEADERS,
                           expose_headers=["X-Request-ID", "Retry-After"], max_age=600)
    # every request body is counted while it is read, and times out when it stalls (mesh_kit.bodylimit)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes,
                       max_multipart_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
                       timeout_s=settings.body_timeout_s)
    # added last, so it runs first: a foreign Host never reaches CORS or the routes
    app.add_middleware(HardeningMiddleware, allowed_hosts=settings.allowed_hosts,
                       hsts_max_age=settings.hsts_max_age)


class MetricsListener:
    """Prometheus' own small HTTP server on the internal metrics port, in a thread of the service process."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry = REGISTRY) -> None:
        self.host = host
        self.port = port
        self.registry = registry
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server, self._thread = start_http_server(self.port, addr=self.host, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MetricsListener:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


SERVICE_TOKEN_HEADER = "X-DSP-Service-Token"


def service_token_refusal(settings: MeshSettings, presented: str | None) -> tuple[int, str, str] | None:
    """Why a call to an internal route is refused — (status, code, message) — or None when the caller presented
    the shared service token (compared in constant time). Without a configured token (only possible outside
    production) internal routes stay open, as on a developer's machine."""
    if settings.service_token is None:
        return None
    if not presented:
        return 401, "unauthenticated", f"Internal route: send the service token in {SERVICE_TOKEN_HEADER}."
    expected = settings.service_token.get_secret_value().encode()
    if not hmac.compare_digest(presented.encode(), expected):
        return 403, "forbidden", "The service token is not valid."
    return None


def service_token_headers(settings: MeshSettings) -> dict[str, str]:
    """The header a caller (the gateway) sends to another service's internal routes."""
    token = settings.service_token
    return {} if token is None else {SERVICE_TOKEN_HEADER: token.get_secret_value()}
