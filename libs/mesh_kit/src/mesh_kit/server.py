"""The HTTP server of a service: uvicorn with the timeouts and connection limits of its settings.

uvicorn bounds idle keep-alive connections (``DSP_HTTP_KEEP_ALIVE_S``), the connections and tasks it serves at
once (``DSP_HTTP_MAX_CONNECTIONS``, past which it answers 503), the accept backlog and the size of the request
line and headers. It has no timeout on a client that sends its headers slowly: ``HeadersTimeoutProtocol``
closes a connection that has not sent a complete request line and headers within ``DSP_HTTP_HEADERS_TIMEOUT_S``
of opening, or of its previous response. Slow bodies are the app's to bound (``mesh_kit.bodylimit``). A
connection answered before its body was read (a 404, a 413 at the body cap) is not reset under the client: the
server shuts its side, drops what still comes for up to ``body_timeout_s``, and then closes.

Examples
--------
>>> import uvicorn  # doctest: +SKIP
>>> uvicorn.Server(server_config(app, MeshSettings())).run()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import MeshSettings

__all__ = ["HeadersTimeoutProtocol", "serve_workers", "server_config"]

WORKER_HEALTHCHECK_S = 60
"""How long uvicorn's supervisor waits for a worker process to answer its health check before it kills it."""


class _LingeringTransport:
    """The connection's transport, whose ``close`` lingers while the client is still sending a body the app did
    not read: the answer is sent and the sending side shut (FIN), the rest of the body is discarded unparsed for
    at most ``linger_s``, then the connection closes. Closed at once, the client would get a reset before it
    read the answer (a 404, a 413)."""

    def __init__(self, transport: asyncio.Transport, protocol: HeadersTimeoutProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self.lingering = False
        self._timer: asyncio.TimerHandle | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        protocol = self._protocol
        unread = protocol.conn.their_state is h11.SEND_BODY
        if self.lingering or not unread or not self._transport.can_write_eof() or self._transport.is_closing():
            self.really_close()
            return
        self.lingering = True
        self._transport.write_eof()
        self._transport.resume_reading()
        self._timer = protocol.loop.call_later(protocol.linger_s, self.really_close)

    def really_close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.close()


class HeadersTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request line and headers take longer than
    ``headers_timeout_s`` to arrive, and lingering (``linger_s``) before it closes a connection whose client is
    still sending a body, so that the client reads the answer."""

    headers_timeout_s: float = 10.0
    linger_s: float = 30.0

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        # the limits travel on the config, which uvicorn hands to each worker process it spawns
        self.headers_timeout_s, self.linger_s = getattr(config, "dsp_limits", (self.headers_timeout_s, self.linger_s))

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._lingering = _LingeringTransport(transport, self)
        super().connection_made(self._lingering)  # type: ignore[arg-type]
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._lingering.lingering:  # the rest of a body nobody reads: dropped as it comes, never parsed
            return
        super().data_received(data)

    def eof_received(self) -> None:
        if self._lingering.lingering:
            self._lingering.really_close()

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

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()  # the headers are in, and the connection is the WebSocket's from here on
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._lingering.really_close()
        super().connection_lost(exc)


def server_config(app: Any, settings: MeshSettings, **overrides: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` with the server limits of ``settings`` (``overrides`` win).

    ``app`` is the ASGI app, or with ``factory=True`` in ``overrides`` a picklable callable that builds it (what
    ``workers`` > 1 needs: each worker process builds its own app)."""
    options: dict[str, Any] = {
        "host": settings.http_host, "port": settings.http_port, "log_config": None, "access_log": False,
        "http": HeadersTimeoutProtocol, "timeout_keep_alive": settings.http_keep_alive_s,
        "limit_concurrency": settings.http_max_connections, "backlog": settings.http_backlog,
        "h11_max_incomplete_event_size": settings.http_max_header_bytes, "timeout_graceful_shutdown": 10,
    }
    config = uvicorn.Config(app, **{**options, **overrides})
    config.dsp_limits = (settings.http_headers_timeout_s, settings.body_timeout_s)  # type: ignore[attr-defined]
    return config


def serve_workers(app_factory: Callable[[], Any], settings: MeshSettings) -> None:
    """Serve ``settings.http_workers`` uvicorn worker processes on one listening socket, each building its app
    with ``app_factory`` (picklable: it is sent to each spawned worker), until SIGTERM or SIGINT.

    uvicorn's supervisor restarts a worker that dies. Prometheus runs in its multiprocess mode: each worker writes
    its samples to a directory of this run, and the internal metrics listener, here in the supervisor, serves their
    sum (a gauge, the largest value); the directory is removed at the end. ``DSP_HTTP_MAX_CONNECTIONS`` holds per
    worker."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector
    from uvicorn.supervisors import Multiprocess

    from .hardening import MetricsListener

    directory = tempfile.mkdtemp(prefix="dsp-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory  # the spawned workers inherit it before they import prometheus
    try:
        # a worker answers the supervisor's health check once its imports are done: on a busy machine that takes
        # longer than uvicorn's 5 s, and a worker killed for it is started again, and again
        config = server_config(app_factory, settings, factory=True, workers=settings.http_workers,
                               timeout_worker_healthcheck=WORKER_HEALTHCHECK_S)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        address = settings.metrics_address
        with MetricsListener(*address, registry=registry) if address is not None else contextlib.nullcontext():
            Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(directory, ignore_errors=True)
