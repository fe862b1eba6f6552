"""The HTTP server of a service: uvicorn with the timeouts and connection limits of its settings.

uvicorn bounds idle keep-alive connections (``DSP_HTTP_KEEP_ALIVE_S``), the connections and tasks it serves at
once (``DSP_HTTP_MAX_CONNECTIONS``, past which it answers 503), the accept backlog and the size of the request
line and headers. It has no timeout on a client that sends its headers slowly: ``HeadersTimeoutProtocol``
closes a connection that has not sent a complete request line and headers within ``DSP_HTTP_HEADERS_TIMEOUT_S``
of opening, or of its previous response. Slow bodies are the app's to bound (``mesh_kit.bodylimit``).

Examples
--------
>>> import uvicorn  # doctest: +SKIP
>>> uvicorn.Server(server_config(app, MeshSettings())).run()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import MeshSettings

__all__ = ["HeadersTimeoutProtocol", "server_config"]


class HeadersTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request line and headers take longer than
    ``headers_timeout_s`` to arrive."""

    headers_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._waiting_for = self.cycle
        self._headers_timer: asyncio.TimerHandle | None = self.loop.call_later(self.headers_timeout_s, self._expired)

    def _disarm(self) -> None:
        timer = getattr(self, "_headers_timer", None)
        if timer is not None:
            timer.cancel()
        self._headers_timer = None

    def _expired(self) -> None:
        self._headers_timer = None
        if self.cycle is self._waiting_for and not self.transport.is_closing():  # no new request began
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if getattr(self, "_headers_timer", None) is not None and self.cycle is not self._waiting_for:
            self._disarm()  # the request line and headers are in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def server_config(app: Any, settings: MeshSettings, **overrides: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` with the server limits of ``settings`` (``overrides`` win)."""
    protocol = type("BoundedH11Protocol", (HeadersTimeoutProtocol,),
                    {"headers_timeout_s": settings.http_headers_timeout_s})
    options: dict[str, Any] = {
        "host": settings.http_host, "port": settings.http_port, "log_config": None, "access_log": False,
        "http": protocol, "timeout_keep_alive": settings.http_keep_alive_s,
        "limit_concurrency": settings.http_max_connections, "backlog": settings.http_backlog,
        "h11_max_incomplete_event_size": settings.http_max_header_bytes, "timeout_graceful_shutdown": 10,
    }
    return uvicorn.Config(app, **{**options, **overrides})
