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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool
from shared_contracts import Envelope

from .access import AccessMiddleware, ResponseStatus
from .amqp_consumer import AmqpConsumer, CancelListener
from .artifacts import ArtifactStore, AsyncArtifactStore, open_store
from .cancellation import CancelRegistry, subscribes_to_cancel
from .consumer import Delivery, DeliveryHandler, StageRunner
from .db import open_pool
from .docs import add_docs
from .hardening import MetricsListener, harden
from .logs import configure_logging
from .outbox import OutboxRelay
from .ports import ServiceSpec, StageDeps, StageError, Subscription
from .publisher import AmqpPublisher
from .settings import MeshSettings
from .topology import Topology
from .tracing import FASTAPI_TELEMETRY, configure_tracing, instrument_app, untraced, use_case_span

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
            with use_case_span(spec.name, handler.__name__, job_id=envelope.job_id, routing_key=envelope.routing_key):
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


class BrokerAttachment:
    """The start-up steps that need the broker (the publisher's connection and topology, the cancel listener, the
    consumer), retried in order until all succeed, with a pause doubling from 0.5 s to ``max_pause_s``; then the
    service's ``warm_up`` in a worker thread.

    The robust connections reconnect by themselves once made; this covers the start, when the broker is away and
    aio-pika's first connect raises. A step that failed is tried again from where it stopped (each step closes
    what it left half-open). Logs are bounded: the first failure, then one line every ``LOG_EVERY`` attempts.
    """

    LOG_EVERY = 10

    def __init__(self, service: str, steps: list[Callable[[], Awaitable[None]]], *, max_pause_s: float = 10.0,
                 first_pause_s: float = 0.5, warm_up: Callable[[], None] | None = None) -> None:
        self.service, self.steps = service, steps
        self.max_pause_s, self.first_pause_s = max_pause_s, first_pause_s
        self.warm_up = warm_up
        self.attempts = 0
        self.attached = False
        self.status = "connecting to the broker"
        self._warm: asyncio.Task[None] | None = None
        self.tried = asyncio.Event()
        """Set once the first attempt has attached every step or failed."""

    async def run(self) -> None:
        quiet = _QuietFailedConnects()  # aiormq logs an error per failed connect: this logs one per LOG_EVERY
        logging.getLogger("aiormq.connection").addFilter(quiet)
        try:
            await self._attach()
        finally:
            logging.getLogger("aiormq.connection").removeFilter(quiet)
        if self.attempts > len(self.steps):
            log.info("%s: attached to the broker after %d attempts", self.service, self.attempts)
        if self.warm_up is not None:
            self._warm = asyncio.create_task(self._warm_up(self.warm_up), name=f"{self.service}-warm-up")

    async def _attach(self) -> None:
        done, pause = 0, self.first_pause_s
        while done < len(self.steps):
            self.attempts += 1
            try:
                await self.steps[done]()
                done += 1
                continue
            except Exception as exc:  # refused, reset, timed out, access refused: the broker is not there yet
                self.status = (f"broker not reached after {self.attempts} attempt(s), retrying in {pause:g} s: "
                               f"{exc!r}"[:500])
                if self.attempts == 1 or self.attempts % self.LOG_EVERY == 0:
                    log.warning("%s: %s", self.service, self.status)
            self.tried.set()
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.max_pause_s)
        self.attached, self.status = True, "ok"
        self.tried.set()

    async def _warm_up(self, warm_up: Callable[[], None]) -> None:
        started = time.perf_counter()
        try:
            await asyncio.to_thread(warm_up)
        except Exception:
            log.warning("%s: warming up failed; the use cases load what they need themselves", self.service,
                        exc_info=True)
            return
        log.info("%s: warmed up in %.1f s", self.service, time.perf_counter() - started)

    async def stop_warm_up(self) -> None:
        """Wait for a warm-up in progress (a thread cannot be cancelled; an import left half-done would be worse)."""
        if self._warm is not None:
            await asyncio.gather(self._warm, return_exceptions=True)


class _QuietFailedConnects(logging.Filter):
    """Drops aiormq's "error when creating transport" lines but one in ``BrokerAttachment.LOG_EVERY`` (the
    attachment logs each failure's reason itself, bounded)."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("error when creating transport"):
            return True
        self.dropped += 1
        return self.dropped % BrokerAttachment.LOG_EVERY == 1


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
        pool = await open_pool(settings.database_url, schema=spec.name,
                               min_size=settings.pool_min_size(serves_api=spec.http_workers),
                               max_size=settings.db_pool_max_size)
        publisher = AmqpPublisher(settings.amqp_url, topology, service=spec.name, timeout_s=settings.publish_timeout_s)
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
        attach = BrokerAttachment(spec.name, [publisher.connect, *([listener.start] if listener else []),
                                              *([consumer.start] if consumer else [])],
                                  max_pause_s=settings.broker_retry_max_s, warm_up=spec.warm_up)
        runtime.extras["broker"] = attach
        attach_task = asyncio.create_task(attach.run(), name=f"{spec.name}-broker-attach")
        # a broker that is away does not stop the start: the service serves (readiness 503 naming the broker)
        # and attaches when the broker answers; a broker that answers is waited for, as before
        tried = asyncio.create_task(attach.tried.wait())
        await asyncio.wait([attach_task, tried], timeout=settings.publish_timeout_s,
                           return_when=asyncio.FIRST_COMPLETED)
        tried.cancel()
        state["startup_complete"] = True
        log.info("%s started%s", spec.name, "" if attach.attached else "; the broker is not reached yet")
        try:
            yield
        finally:
            attach_task.cancel()
            await asyncio.gather(attach_task, return_exceptions=True)
            # first stop taking messages (the broker gives the rest to another replica), then wait for what runs
            if consumer is not None:
                await consumer.stop()
            if listener is not None:
                await listener.stop()
            await attach.stop_warm_up()
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
        with untraced():  # a probe is no part of any job
            try:
                async with runtime.pool.connection(timeout=2) as conn:
                    await conn.execute("SELECT 1")
                checks["postgres"] = "ok"
            except Exception as exc:
                checks["postgres"] = f"error: {exc!r}"
            attach = runtime.extras.get("broker")
            if isinstance(attach, BrokerAttachment) and not attach.attached:
                checks["rabbitmq"] = f"error: {attach.status}"
            else:
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
    # outermost: the request id and the access log cover the service's own middlewares, and its refusals
    app.add_middleware(AccessMiddleware, service=spec.name)
    instrument_app(app)
    return app
