"""The gateway as it is deployed (``python -m dsp_gateway serve`` with two uvicorn worker processes, over the run's
PostgreSQL, RabbitMQ and Redis) under 20 clients uploading small CSVs and 20 reading at the same time, over
loopback: no answer is a 5xx, and every upload made exactly one dataset (a retry-free client, so one 202 is one
upload). The workers share one listening socket, each with its own pool, relay and consumer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from ..auth_helpers import login
from .test_gateway_bounds_process import PASSWORD, _free_port, serve_gateway
from .test_gateway_upload import gateway_database  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

UPLOADERS, READERS, UPLOADS_EACH = 20, 20, 4


@pytest.fixture
def served(infra, gateway_database: str, tmp_path: Path) -> Iterator[tuple[str, str]]:  # noqa: F811
    """The gateway in processes of its own (a supervisor and two workers); its URL and a user's e-mail."""
    metrics_port = _free_port()
    env = {"DSP_HTTP_WORKERS": "2", "DSP_DB_POOL_MAX_SIZE": "5", "DSP_METRICS_PORT": str(metrics_port),
           "DSP_UPLOADS_PER_MINUTE": "10000"}
    gateway = serve_gateway(infra, gateway_database, tmp_path, env, measured=False, ready="/health/ready",
                            start_timeout_s=180)
    _, url, email = next(gateway)
    try:
        yield url, email
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert 'dsp_http_requests_total{method="POST",route="/api/v1/upload",service="gateway",status="202"}' \
            in metrics, "the supervisor's metrics listener does not show the workers' requests"
    finally:
        gateway.close()  # stops the gateway and removes its topology


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
