"""The gateway in process for integration tests: its app over the run's PostgreSQL, RabbitMQ and Redis, with
the ingest stage played by ``PlayedIngest`` and one signed-in HTTP client per seeded user."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from dsp_gateway.bootstrap import service_spec
from fastapi import FastAPI
from mesh_kit.db import role_name, with_user
from mesh_kit.service import build_app, topology_of
from mesh_kit.settings import MeshSettings
from mesh_kit.topology import declare_with_url, delete_topology

from ..auth_helpers import login, seed_user
from .test_gateway_upload import PlayedIngest


@dataclass(frozen=True)
class Account:
    email: str
    role: str
    organization: str


@dataclass
class RunningGateway:
    app: FastAPI
    settings: MeshSettings
    ingest: PlayedIngest
    clients: dict[str, httpx.AsyncClient]
    """One client per account, signed in as it."""
    anonymous: httpx.AsyncClient


@asynccontextmanager
async def running_gateway(infra, database_url: str, tmp_path: Path, accounts: dict[str, Account], *,
                          password: str, prefix: str) -> AsyncIterator[RunningGateway]:
    """Seed ``accounts`` (all with ``password``), start the gateway on queues and an exchange named after
    ``prefix``, and sign each account in; everything is removed at the end. Settings the test needs
    (quotas, waits, the Redis namespace) come from the environment, as the gateway reads them."""
    suffix = f"{prefix}{uuid.uuid4().hex[:8]}"
    for account in accounts.values():
        seed_user(database_url, account.email, password, role=account.role, organization=account.organization)
    settings = MeshSettings(
        environment="test", database_url=with_user(database_url, role_name("gateway")),
        amqp_url=infra.amqp_url, redis_url=infra.redis_url, artifact_url=(tmp_path / "artifacts").as_uri(),
        exchange=f"dsp.events.{suffix}", queue_prefix=suffix, retry_delays_ms=(200, 400),
        outbox_poll_s=0.1, prefetch=10, allowed_hosts=["gateway"], metrics_port=0,
    )
    await declare_with_url(infra.amqp_url, topology_of(settings))  # every service's queues, as migrate declares them
    app = build_app(service_spec(), settings)
    try:
        async with app.router.lifespan_context(app):
            played = PlayedIngest(amqp_url=infra.amqp_url, exchange=settings.exchange,
                                  queue=f"{settings.queue_prefix}.ingest", artifact_url=settings.artifact_url)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with played:
                clients = {name: httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=60)
                           for name in accounts}
                anonymous = httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=60)
                try:
                    for name, client in clients.items():
                        client.headers.update(await login(client, accounts[name].email, password))
                    yield RunningGateway(app=app, settings=settings, ingest=played, clients=clients,
                                         anonymous=anonymous)
                finally:
                    await anonymous.aclose()
                    for client in clients.values():
                        await client.aclose()
    finally:
        await delete_topology(infra.amqp_url, topology_of(settings))
