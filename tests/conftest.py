"""Fixtures for the integration and end-to-end tiers: a database, a vhost and a Redis namespace of
their own for each test run, on the real PostgreSQL, RabbitMQ and Redis of this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

PG_ADMIN = os.environ.get("DSP_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("DSP_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672")
REDIS_URL = os.environ.get("DSP_TEST_REDIS", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Infra:
    run_id: str
    admin_database_url: str
    amqp_url: str
    vhost: str
    redis_url: str
    redis_namespace: str


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@contextmanager
def migrated_database(infra: Infra, suffix: str, service: str = "gateway") -> Iterator[str]:
    """A database of the run's own, with one service's schema migrated into it; dropped afterwards."""
    from mesh_kit.db import migrate_service

    name = f"dsp_test_{infra.run_id}_{suffix}"
    maintenance = _with_database(infra.admin_database_url, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(infra.admin_database_url, name)
    try:
        migrate_service(service, admin_url=url, package=f"dsp_{service}")
        yield url
    finally:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """A fresh database and vhost for this run; both are removed afterwards."""
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is not on PATH: the integration tiers need the local RabbitMQ")
    run_id = uuid.uuid4().hex[:10]
    database = f"dsp_test_{run_id}"
    vhost = f"dsp-test-{run_id}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield Infra(run_id=run_id, admin_database_url=_with_database(PG_ADMIN, database),
                    amqp_url=f"{AMQP_BASE}/{vhost}", vhost=vhost, redis_url=REDIS_URL,
                    redis_namespace=f"dsp-test-{run_id}")
    finally:
        _rabbitmqctl("delete_vhost", vhost)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        _delete_redis_keys(f"dsp-test-{run_id}*")


def _delete_redis_keys(pattern: str) -> None:
    """Remove what this run left in Redis (its namespaces all start with the run's name)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=pattern, count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
