"""The whole mesh as processes, in a database, vhost, Redis namespace and artifact directory of its own."""

from __future__ import annotations

import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mesh_kit.broker import apply_with_rabbitmqctl
from mesh_kit.local_mesh import LocalMesh
from mesh_kit.topology import Topology
from shared_contracts.manifest import SERVICES

MAX_UPLOAD_BYTES = 2 * 1024 * 1024


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
def mesh(infra, broker_users: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    state = tmp_path_factory.mktemp("mesh")
    ports = _free_ports(2 * len(SERVICES))
    local = LocalMesh(
        state_dir=state, admin_database_url=infra.admin_database_url, amqp_url=infra.amqp_url,
        redis_url=infra.redis_url, redis_namespace=infra.redis_namespace, amqp_urls=broker_users,
        ports=dict(zip(SERVICES, ports[: len(SERVICES)], strict=True)),
        metrics_ports=dict(zip(SERVICES, ports[len(SERVICES):], strict=True)),  # the internal /metrics listeners
        extra_env={"DSP_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES), "DSP_RETRY_DELAYS_MS": "[300, 600]",
                   "DSP_UPLOAD_WAIT_S": "120", "DSP_ENVIRONMENT": "test"},
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
