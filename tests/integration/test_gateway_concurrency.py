"""The gateway as it is deployed (``python -m dsp_gateway serve`` with two uvicorn worker processes, over the run's
PostgreSQL, RabbitMQ and Redis) under 20 clients uploading small CSVs and 20 reading at the same time, over
loopback: no answer is a 5xx, and every upload made exactly one dataset (a retry-free client, so one 202 is one
upload). The workers share one listening socket, each with its own pool, relay and consumer.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from mesh_kit.db import role_name, with_user
from mesh_kit.service import topology_of
from mesh_kit.settings import MeshSettings
from mesh_kit.topology import declare_with_url, delete_topology

from ..auth_helpers import login, seed_user
from .test_gateway_upload import gateway_database  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

PASSWORD = "a-concurrency-password"
UPLOADERS, READERS, UPLOADS_EACH = 20, 20, 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(infra, gateway_database: str, tmp_path: Path) -> Iterator[tuple[str, str]]:  # noqa: F811
    """The gateway in processes of its own (a supervisor and two workers); its URL and a user's e-mail."""
    suffix = uuid.uuid4().hex[:8]
    email = f"ana-{suffix}@concurrency.example"
    seed_user(gateway_database, email, PASSWORD, role="analyst", organization=f"concurrency-{suffix}")
    port = _free_port()
    env = {**os.environ, "DSP_ENVIRONMENT": "test", "DSP_DATABASE_URL": with_user(gateway_database, role_name("gateway")),
           "DSP_AMQP_URL": infra.amqp_url, "DSP_REDIS_URL": infra.redis_url,
           "DSP_REDIS_NAMESPACE": f"{infra.redis_namespace}-cc-{suffix}",
           "DSP_ARTIFACT_URL": (tmp_path / "artifacts").as_uri(), "DSP_EXCHANGE": f"dsp.events.cc{suffix}",
           "DSP_QUEUE_PREFIX": f"cc{suffix}", "DSP_HTTP_HOST": "127.0.0.1", "DSP_HTTP_PORT": str(port),
           "DSP_METRICS_PORT": str(_free_port()), "DSP_ALLOWED_HOSTS": "127.0.0.1",
           "DSP_JWT_SECRET": secrets.token_urlsafe(48), "DSP_UPLOADS_PER_MINUTE": "10000",
           "DSP_HTTP_WORKERS": "2", "DSP_DB_POOL_MAX_SIZE": "5", "DSP_LOG_LEVEL": "WARNING"}
    settings = MeshSettings(amqp_url=infra.amqp_url, exchange=env["DSP_EXCHANGE"], queue_prefix=env["DSP_QUEUE_PREFIX"])
    asyncio.run(declare_with_url(infra.amqp_url, topology_of(settings)))
    log = (tmp_path / "gateway.log").open("w+b")
    process = subprocess.Popen([sys.executable, "-m", "dsp_gateway", "serve"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, last = time.monotonic() + 180, ""
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise AssertionError(f"the gateway ended: {log.read().decode()[-2000:]}")
            try:
                ready = httpx.get(f"{url}/health/ready", timeout=2)
                if ready.status_code == 200:
                    break
                last = ready.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                log.seek(0)
                raise AssertionError(f"the gateway was not ready within 180 s ({last}): {log.read().decode()[-2000:]}")
            time.sleep(0.3)
        yield url, email
        metrics = httpx.get(f"http://127.0.0.1:{env['DSP_METRICS_PORT']}/metrics", timeout=5).text
        assert 'dsp_http_requests_total{method="POST",route="/api/v1/upload",service="gateway",status="202"}' \
            in metrics, "the supervisor's metrics listener does not show the workers' requests"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        asyncio.run(delete_topology(infra.amqp_url, topology_of(settings)))


async def test_20_uploading_and_20_reading_get_no_5xx_and_each_upload_is_one_dataset(
        served: tuple[str, str], gateway_database: str) -> None:  # noqa: F811
    url, email = served
    limits = httpx.Limits(max_connections=UPLOADERS + READERS + 5)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        client.headers.update(await login(client, email, PASSWORD))
        statuses: Counter[tuple[str, int]] = Counter()
        uploaded: list[tuple[str, str, str]] = []  # dataset id, job id, file name
        uploading = True

        async def uploader(number: int) -> None:
            for upload in range(UPLOADS_EACH):
                name = f"u{number:02d}-{upload}.csv"
                rows = "".join(f"{i},{random.random():.6f},{name}\n" for i in range(50))
                answer = await client.post("/api/v1/upload", data={"wait": "false"},
                                           files={"file": (name, f"id,value,label\n{rows}".encode(), "text/csv")})
                statuses[("upload", answer.status_code)] += 1
                if answer.status_code == 202:
                    data = answer.json()["data"]
                    uploaded.append((data["dataset_id"], data["job_id"], name))

        async def reader(number: int) -> None:
            while uploading:
                answer = await client.get("/api/v1/datasets", params={"limit": 50})
                statuses[("list", answer.status_code)] += 1
                if uploaded:
                    dataset_id, job_id, _ = random.choice(uploaded)
                    path = f"/api/v1/datasets/{dataset_id}" if number % 2 else f"/api/v1/jobs/{job_id}"
                    answer = await client.get(path)
                    statuses[("get", answer.status_code)] += 1

        readers = [asyncio.create_task(reader(n)) for n in range(READERS)]
        started = time.monotonic()
        await asyncio.gather(*(uploader(n) for n in range(UPLOADERS)))
        uploading = False
        await asyncio.gather(*readers)
        took = time.monotonic() - started

    print(f"\n{UPLOADERS * UPLOADS_EACH} uploads by {UPLOADERS} clients with {READERS} reading, in {took:.1f} s: "
          f"{dict(statuses)}")
    assert not [key for key in statuses if key[1] >= 500], statuses
    assert statuses[("upload", 202)] == UPLOADERS * UPLOADS_EACH, statuses
    assert sum(n for (kind, _), n in statuses.items() if kind == "list") >= READERS
    assert {status for (kind, status) in statuses if kind in ("list", "get")} == {200}, statuses
    with psycopg.connect(gateway_database) as conn:
        conn.execute("SET search_path = gateway")
        rows = conn.execute("SELECT dataset_id::text, upload_job_id::text, display_name FROM datasets"
                            " WHERE display_name LIKE 'u__-_.csv'").fetchall()
    assert len(rows) == UPLOADERS * UPLOADS_EACH  # nothing more than the uploads answered
    assert sorted(rows) == sorted(uploaded)  # each upload is exactly its one dataset, with its own job
