"""The whole mesh as processes, in a database, vhost, Redis namespace and artifact directory of its own."""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mesh_kit.broker import apply_with_rabbitmqctl
from mesh_kit.local_mesh import LocalMesh
from mesh_kit.topology import Topology
from shared_contracts.manifest import SERVICES

from ..auth_helpers import SignedIn, bearer
from .helpers import follow, login, upload, ws_url
from .otlp import Receiver, receiver

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
ADMIN_EMAIL = "admin@e2e.example"
ADMIN_PASSWORD = "e2e-admin-password-long-enough"
ALLOWED_ORIGIN = "http://app.e2e.example"
UI_DIR = Path(__file__).resolve().parents[2] / "ui" / "dist"  # `make ui` builds it; the browser test skips without


def _free_ports(count: int) -> list[int]:
    """Distinct free ports: the sockets stay bound until all are picked."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="session")
def broker_users(infra) -> Iterator[dict[str, str]]:
    """An AMQP URL per service, each with a broker user of this run allowed only that service's queues and
    events (mesh_kit.broker): the whole mesh runs with least privilege. Removed afterwards."""
    passwords = {service: secrets.token_urlsafe(18) for service in SERVICES}
    names = apply_with_rabbitmqctl(Topology(), passwords, infra.vhost, user_prefix=f"e2e{infra.run_id}_")
    base = infra.amqp_url.split("@", 1)[1]
    try:
        yield {service: f"amqp://{names[service]}:{passwords[service]}@{base}" for service in SERVICES}
    finally:
        for name in names.values():
            subprocess.run(["rabbitmqctl", "-q", "delete_user", name], capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def otlp() -> Iterator[Receiver]:
    """Where the mesh's services export their spans (OTLP/HTTP); it keeps them only while a test records."""
    with receiver() as server:
        yield server


@pytest.fixture(scope="session")
def mesh(infra, broker_users: dict[str, str], otlp: Receiver,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    state = tmp_path_factory.mktemp("mesh")
    ports = _free_ports(2 * len(SERVICES))
    local = LocalMesh(
        state_dir=state, admin_database_url=infra.admin_database_url, amqp_url=infra.amqp_url,
        redis_url=infra.redis_url, redis_namespace=infra.redis_namespace, amqp_urls=broker_users,
        ports=dict(zip(SERVICES, ports[: len(SERVICES)], strict=True)),
        metrics_ports=dict(zip(SERVICES, ports[len(SERVICES):], strict=True)),  # the internal /metrics listeners
        extra_env={"DSP_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES), "DSP_RETRY_DELAYS_MS": "[300, 600]",
                   "DSP_UPLOAD_WAIT_S": "120", "DSP_ENVIRONMENT": "test",
                   "DSP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL, "DSP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
                   # one key for the session: a restarted gateway still accepts the tokens it signed
                   "DSP_JWT_SECRET": "e2e-jwt-secret-" + "x" * 40,
                   "DSP_ALLOWED_ORIGINS": ALLOWED_ORIGIN, "DSP_UI_DIR": str(UI_DIR),
                   # the spans leave the processes as in production, with the queries' and HTTP calls' own
                   "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"},
    )
    try:
        local.up()
    except Exception:
        for service in SERVICES:
            log = local.log_file(service)
            if log.exists():
                print(f"--- {service} log ---\n{log.read_text(errors='replace')[-4000:]}")
        local.down()
        raise
    yield local
    local.down()


@pytest.fixture(scope="session")
def samples() -> Path:
    return Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def admin_headers(mesh: LocalMesh) -> dict[str, str]:
    """The bootstrap admin's Authorization header, from a sign-in of the test's own (it lives 15 minutes)."""
    return login(mesh.url("gateway"), ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture(scope="session")
def api(mesh: LocalMesh) -> Iterator[httpx.Client]:
    """The gateway as the bootstrap admin sees it, signed in again whenever the token expires."""
    auth = SignedIn(mesh.url("gateway"), ADMIN_EMAIL, ADMIN_PASSWORD)
    with httpx.Client(base_url=mesh.url("gateway"), timeout=180, auth=auth) as client:
        yield client


@pytest.fixture(scope="session")
def finished(mesh: LocalMesh, api: httpx.Client, samples: Path) -> dict[str, Any]:
    """A real CSV uploaded, analysed with a target, and followed over the WebSocket to dashboard.ready."""
    uploaded = upload(api, samples / "penguins-raw.csv")
    assert uploaded.status_code == 201, uploaded.text
    dataset = uploaded.json()["data"]
    assert dataset["status"] in ("ingested", "profiled")
    started = api.post("/api/v1/analyze", json={"dataset_id": dataset["dataset_id"], "target": "Species",
                                                "options": {"time_budget_s": 15}})
    assert started.status_code == 202, started.text
    analysis_id = started.json()["data"]["analysis_id"]
    token = bearer(api)
    messages = asyncio.run(follow(ws_url(mesh), analysis_id, token=token, timeout=400))
    return {"dataset": dataset, "analysis_id": analysis_id, "messages": messages}
