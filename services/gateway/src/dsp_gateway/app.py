"""The gateway's HTTP app over ports that another composition root built (``dsp serve``: one process, an
embedded database, an in-process bus).

The app has the mesh service's routes (the API, identity, the web UI), its audit log and hardening, and
health endpoints over the ports; it has no lifespan of the mesh (no Postgres pool, broker or relay).
The caller opens what the ports need before the first request and closes it afterwards, and may run
``running_gateway`` in its lifespan for what the gateway does at start (the bootstrap admin, retention).

Examples
--------
>>> from dsp_gateway.app import build_gateway_app  # doctest: +SKIP
>>> app = build_gateway_app(ports, settings, lifespan=serve_lifespan)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from mesh_kit.access import AccessMiddleware
from mesh_kit.docs import add_docs
from mesh_kit.hardening import harden
from mesh_kit.service import readiness
from mesh_kit.settings import MeshSettings
from mesh_kit.tracing import FASTAPI_TELEMETRY
from shared_contracts.manifest import SERVICES

from .adapters.repository import NOBODY
from .bootstrap import bootstrap_admin, routes, start_retention, stop_retention
from .ports import GatewayPorts

__all__ = ["ReadyCheck", "build_gateway_app", "running_gateway"]

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[None]]
"""Raises when a dependency does not answer (a check of /health/ready)."""


@asynccontextmanager
async def running_gateway(ports: GatewayPorts, environment: str) -> AsyncIterator[None]:
    """What the gateway does while it runs: create the bootstrap admin at start, sweep by retention, and close
    the notifier and limiter at the end (the storage and the store are the caller's)."""
    await bootstrap_admin(ports, environment)
    retention = start_retention(ports)
    try:
        yield
    finally:
        await stop_retention(retention)
        await ports.notifier.close()
        await ports.limiter.close()


def build_gateway_app(ports: GatewayPorts, settings: MeshSettings, *,
                      lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]] | None = None,
                      ready_checks: Mapping[str, ReadyCheck] | None = None) -> FastAPI:
    """The gateway's FastAPI app over ``ports``: the routes of the mesh service (``bootstrap.routes``), the
    hardening of ``settings`` (allowed hosts, CORS, security headers), /health/live and /health/ready (the
    storage, notifier and limiter, and ``ready_checks`` by name)."""
    app = FastAPI(title="dsp-gateway", description=SERVICES["gateway"].description, lifespan=lifespan,
                  docs_url=None, redoc_url=None, telemetry=FASTAPI_TELEMETRY)
    add_docs(app)
    harden(app, settings)
    app.state.gateway = ports

    async def check_storage() -> None:
        async with ports.storage.read() as repo:
            await repo.count_active_analyses(organization_id=NOBODY)

    checks: dict[str, ReadyCheck] = {"storage": check_storage, "notifier": ports.notifier.ping,
                                     "limiter": ports.limiter.ping, **(ready_checks or {})}

    @app.get("/health/live", include_in_schema=False)
    async def live() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        """Ready when the storage, the notifier, the limiter and the caller's own checks answer; without the
        notifier or the limiter the gateway serves on, ``degraded`` (mesh_kit.service.readiness)."""
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"error: {exc!r}"
        return readiness(results, frozenset({"notifier", "limiter"}))

    routes(app)
    app.add_middleware(AccessMiddleware, service="gateway")  # outermost, as in the mesh service (build_app)
    return app
