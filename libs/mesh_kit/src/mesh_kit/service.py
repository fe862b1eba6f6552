"""One service process: HTTP health, the internal metrics listener, the queue consumer, the outbox relay.

A service describes itself with a ``ServiceSpec`` (its entry in the service manifest, the
handler of each event it subscribes to, extra HTTP routes) and ``build_app`` wires the adapters
around it. This is the one place where FastAPI, psycopg and aio-pika meet; handlers
never see them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool
from shared_contracts import Envelope
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .amqp_consumer import AmqpConsumer, CancelListener
from .artifacts import ArtifactStore, AsyncArtifactStore, open_store
from .cancellation import CancelRegistry, subscribes_to_cancel
from .consumer import Delivery, DeliveryHandler, StageRunner
from .db import open_pool
from .docs import add_docs
from .hardening import MetricsListener, harden
from .logs import configure_logging
from .metrics import HTTP_DURATION, HTTP_REQUESTS
from .outbox import OutboxRelay
from .ports import ServiceSpec, StageDeps, StageError, Subscription
from .publisher import AmqpPublisher
from .settings import MeshSettings
from .topology import Topology
from .tracing import FASTAPI_TELEMETRY, configure_tracing

__all__ = ["ResponseStatus", "Runtime", "ServiceSpec", "Subscription", "build_app", "build_consumer", "dispatcher", "readiness"]  # the specs are re-exported

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The adapters a running service holds; handlers receive it to reach their ports."""

    settings: MeshSettings
    service: str
    pool: AsyncConnectionPool
    publisher: AmqpPublisher
    store: ArtifactStore
    topology: Topology
    relay: OutboxRelay
    runner: StageRunner
    extras: dict[str, Any] = field(default_factory=dict)
    cancels: CancelRegistry | None = None
    """A stage's cancelled jobs and running tokens (``mesh_kit.cancellation``); None in the gateway."""


def readiness(checks: dict[str, str], degradable: frozenset[str] = frozenset()) -> JSONResponse:
    """The answer of /health/ready from each check's result ("ok" or "error: ..."): 200 ``ok`` when all pass;
    200 ``degraded`` when only ``degradable`` ones fail (the service still serves, without them); 503
    ``unavailable`` when any other fails. ``degraded`` and ``unavailable`` list the failed checks by name."""
    failed = sorted(name for name, result in checks.items() if result != "ok")
    unavailable = [name for name in failed if name not in degradable]
    degraded = [name for name in failed if name in degradable]
    status = "unavailable" if unavailable else "degraded" if degraded else "ok"
    return JSONResponse({"status": status, "checks": checks, "degraded": degraded, "unavailable": unavailable},
                        status_code=503 if unavailable else 200)


def topology_of(settings: MeshSettings) -> Topology:
    return Topology(exchange=settings.exchange, prefix=settings.queue_prefix,
                    retry_delays_ms=tuple(settings.retry_delays_ms), delivery_limit=settings.delivery_limit)


def dispatcher(spec: ServiceSpec) -> DeliveryHandler:
    """The delivery handler of a service: run the use cases subscribed to the envelope's event."""

    async def dispatch(envelope: Envelope[Any], deps: StageDeps[Any]) -> None:
        matched = spec.handlers_for(envelope.payload)
        if not matched:
            if spec.manifest.catch_all:
                return
            raise StageError("unexpected_event", f"{spec.name} does not handle {envelope.routing_key}")
        for handler in matched:
            await handler(envelope.payload, deps)

    return dispatch


def build_consumer(spec: ServiceSpec, settings: MeshSettings, runtime_ref: dict[str, Runtime]) -> AmqpConsumer | None:
    """The consumer of the service's quorum queue, or None for a service that subscribes to nothing."""
    if not spec.subscriptions:
        return None
    dispatch = dispatcher(spec)

    async def handle(delivery: Delivery) -> None:
        await runtime_ref["runtime"].runner.process(delivery, dispatch)

    return AmqpConsumer(settings.amqp_url, topology_of(settings).queue(spec.name), handle,
                        prefetch=settings.prefetch, graceful_timeout_s=settings.shutdown_grace_s,
                        connect_timeout_s=settings.publish_timeout_s)


class ResponseStatus:
    """The status of the answer that goes through ``send``: 500 until one starts (an exception escaped)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


class RedMetricsMiddleware:
    """The rate, errors and duration of every HTTP request, by route (a plain ASGI middleware: one that runs the
    request in a task of its own, as ``@app.middleware("http")`` does, costs about a millisecond of CPU)."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer = ResponseStatus(send)
        try:
            await self.app(scope, receive, answer.send)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], path, str(answer.status)).inc()
            HTTP_DURATION.labels(self.service, scope["method"], path).observe(time.perf_counter() - started)


def build_app(spec: ServiceSpec, settings: MeshSettings | None = None) -> FastAPI:
    """The service's ASGI app: lifespan starts the adapters, the relay and the consumers."""
    settings = settings or MeshSettings()
    runtime_ref: dict[str, Runtime] = {}
    consumer = build_consumer(spec, settings, runtime_ref)
    state: dict[str, Any] = {"startup_complete": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(spec.name, settings.log_level)
        configure_tracing(spec.name)
        address = settings.metrics_address
        # /metrics is served apart from the app, on a port the ingress never routes; a taken port fails the start
        with MetricsListener(*address) if address is not None else nullcontext():
            async with running(app):
                yield

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[None]:
        topology = topology_of(settings)
        pool = await open_pool(settings.database_url, schema=spec.name, min_size=settings.db_pool_min_size,
                               max_size=settings.db_pool_max_size)
        publisher = AmqpPublisher(settings.amqp_url, topology, service=spec.name, timeout_s=settings.publish_timeout_s)
        await publisher.connect()
        relay = OutboxRelay(pool, publisher, service=spec.name, poll_s=settings.outbox_poll_s)
        store = open_store(settings.artifact_url, s3_endpoint_url=settings.s3_endpoint_url)
        cancels = CancelRegistry() if subscribes_to_cancel(spec) else None
        runner = StageRunner(service=spec.name, pool=pool, publisher=publisher, topology=topology, relay=relay,
                             store=AsyncArtifactStore(store), repository=spec.repository, cancels=cancels)
        runtime = Runtime(settings=settings, service=spec.name, pool=pool, publisher=publisher, store=store,
                          topology=topology, relay=relay, runner=runner, cancels=cancels)
        listener = None if cancels is None else CancelListener(settings.amqp_url, topology, spec.name, cancels,
                                                               connect_timeout_s=settings.publish_timeout_s)
        runtime_ref["runtime"] = runtime
        app.state.runtime = runtime
        if spec.on_startup is not None:
            await spec.on_startup(runtime)
        relay_task = asyncio.create_task(relay.run(), name=f"{spec.name}-outbox-relay")
        if listener is not None:
            await listener.start()
        if consumer is not None:
            await consumer.start()
        state["startup_complete"] = True
        log.info("%s started", spec.name)
        try:
            yield
        finally:
            if consumer is not None:
                await consumer.stop()
            if listener is not None:
                await listener.stop()
            relay.stop()
            await asyncio.gather(relay_task, return_exceptions=True)
            if spec.on_shutdown is not None:
                await spec.on_shutdown(runtime)
            await publisher.close()
            await pool.close()

    app = FastAPI(title=f"dsp-{spec.name}", description=spec.description, lifespan=lifespan, docs_url=None,
                  redoc_url=None, telemetry=FASTAPI_TELEMETRY)
    add_docs(app)
    app.state.consumer = consumer
    harden(app, settings)

    app.add_middleware(RedMetricsMiddleware, service=spec.name)

    @app.get("/health/live", include_in_schema=False)
    async def live() -> JSONResponse:
        """The process answers. Broken dependencies show in readiness, not here, so that an outage of
        the database or broker does not make Kubernetes restart every pod."""
        return JSONResponse({"status": "ok"})

    @app.get("/health/startup", include_in_schema=False)
    async def startup() -> JSONResponse:
        ok = state["startup_complete"]
        return JSONResponse({"status": "ok" if ok else "starting"}, status_code=200 if ok else 503)

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        """Ready when the database, the broker and the service's own dependencies answer (``readiness``); a
        failed check the service declared degradable answers 200 ``degraded``, another 503 ``unavailable``."""
        runtime = runtime_ref.get("runtime")
        checks: dict[str, str] = {}
        if runtime is None:
            return JSONResponse({"status": "starting", "checks": checks}, status_code=503)
        try:
            async with runtime.pool.connection(timeout=2) as conn:
                await conn.execute("SELECT 1")
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = f"error: {exc!r}"
        checks["rabbitmq"] = "ok" if runtime.publisher.is_connected else "error: not connected"
        for check in spec.ready_checks:
            name = check.__name__.removeprefix("check_")
            try:
                await check(runtime)
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"error: {exc!r}"
        return readiness(checks, spec.degradable)

    if spec.routes is not None:
        spec.routes(app)
    return app
