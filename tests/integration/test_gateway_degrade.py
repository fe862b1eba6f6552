"""The gateway through outages of Redis and RabbitMQ: it degrades, it does not fail.

The gateway runs under uvicorn in this process, on the run's PostgreSQL, and reaches Redis and RabbitMQ
through TCP proxies on loopback (``tests/loopback_proxy.py``) that a test makes refuse (the server is down:
connections cut, then refused), hang (the server accepts and never answers) and resume. The machine's Redis
and RabbitMQ are never touched. Ingest is played by the test on the real broker, directly (``PlayedIngest``).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import psycopg
import pytest
import uvicorn
import websockets
from dsp_gateway.bootstrap import service_spec
from mesh_kit.db import role_name, with_user
from mesh_kit.publisher import AmqpPublisher, PublishError
from mesh_kit.server import server_config
from mesh_kit.service import build_app, topology_of
from mesh_kit.settings import MeshSettings
from mesh_kit.topology import Topology, declare_with_url, delete_topology

from ..auth_helpers import login, seed_user
from ..conftest import migrated_database
from ..loopback_proxy import TcpProxy
from .test_gateway_upload import Answer, PlayedIngest, _datasets_named

pytestmark = pytest.mark.integration

UPLOAD_WAIT_S = 4.0
PUBLISH_TIMEOUT_S = 2.0
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PENGUINS = (SAMPLES / "penguins.csv").read_bytes()


@pytest.fixture(scope="module")
def gateway_database(infra) -> Iterator[str]:
    with migrated_database(infra, "degrade") as url:
        yield url


@pytest.fixture(scope="module")
def analyst(gateway_database: str) -> tuple[str, str]:
    email, password = f"degrade-{uuid.uuid4().hex[:6]}@example.com", "an-analyst-password"
    seed_user(gateway_database, email, password, role="analyst")
    return email, password


@dataclass
class Gateway:
    url: str
    client: httpx.AsyncClient
    token: str
    ingest: PlayedIngest
    redis: TcpProxy
    amqp: TcpProxy
    database_url: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _endpoint(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or {"redis": 6379, "amqp": 5672}[parts.scheme]


@pytest.fixture
async def gateway(infra, gateway_database: str, analyst: tuple[str, str], tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    """The gateway served by uvicorn on a free port, with Redis and RabbitMQ behind proxies of the test's own."""
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("DSP_UPLOAD_WAIT_S", str(UPLOAD_WAIT_S))
    monkeypatch.setenv("DSP_REDIS_NAMESPACE", f"{infra.redis_namespace}-degrade-{suffix}")
    monkeypatch.setenv("DSP_UPLOADS_PER_MINUTE", "1000")
    port = _free_port()
    with TcpProxy(*_endpoint(infra.redis_url)) as redis, TcpProxy(*_endpoint(infra.amqp_url)) as amqp:
        settings = MeshSettings(
            environment="test", database_url=with_user(gateway_database, role_name("gateway")),
            amqp_url=amqp.url(infra.amqp_url), redis_url=redis.url(infra.redis_url),
            artifact_url=(tmp_path / "artifacts").as_uri(), exchange=f"dsp.events.dg{suffix}",
            queue_prefix=f"dg{suffix}", retry_delays_ms=(200, 400), outbox_poll_s=0.1, prefetch=10,
            publish_timeout_s=PUBLISH_TIMEOUT_S, http_port=port, metrics_port=0,
        )
        await declare_with_url(infra.amqp_url, topology_of(settings))
        server = uvicorn.Server(server_config(build_app(service_spec(), settings), settings))
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                assert not serving.done(), "the gateway did not start"
                await asyncio.sleep(0.05)
            played = PlayedIngest(amqp_url=infra.amqp_url, exchange=settings.exchange,
                                  queue=f"{settings.queue_prefix}.ingest", artifact_url=settings.artifact_url)
            url = f"http://127.0.0.1:{port}"
            async with played, httpx.AsyncClient(base_url=url, timeout=60) as client:
                headers = await login(client, *analyst)
                client.headers.update(headers)
                yield Gateway(url=url, client=client, token=headers["Authorization"].removeprefix("Bearer "),
                              ingest=played, redis=redis, amqp=amqp, database_url=gateway_database)
        finally:
            redis.resume()  # the gateway closes its connections on the way out
            amqp.resume()
            server.should_exit = True
            await asyncio.wait_for(serving, 60)
            await delete_topology(infra.amqp_url, topology_of(settings))


async def _upload(gateway: Gateway, name: str, answer: Answer | None = None, *, wait: bool = True,
                  headers: dict[str, str] | None = None, body: bytes = PENGUINS) -> httpx.Response:
    if answer is not None:
        gateway.ingest.plan[name] = answer
    return await gateway.client.post("/api/v1/upload", files={"file": (name, body, "text/csv")},
                                     data={} if wait else {"wait": "false"}, headers=headers)


def _pending_outbox(database_url: str) -> list[tuple[str, int, str | None]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT routing_key, attempts, last_error FROM gateway.outbox"
                            " WHERE published_at IS NULL ORDER BY id").fetchall()


async def _until(what: Callable[[], Any], timeout_s: float, step_s: float = 0.1) -> Any:
    """``what()`` (awaited when it is a coroutine) once it is truthy; fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = what()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout_s} s"
        await asyncio.sleep(step_s)


async def _stream(gateway: Gateway, job_id: str, *, after_first: Callable[[], object] | None = None,
                  timeout_s: float = 20) -> tuple[list[dict[str, Any]], int | None, str | None]:
    """The messages of the job's progress stream and the close frame's code and reason (None: no close frame)."""
    import json

    messages: list[dict[str, Any]] = []
    url = gateway.url.replace("http://", "ws://") + f"/api/v1/ws?job_id={job_id}&token={quote(gateway.token)}"
    async with asyncio.timeout(timeout_s), websockets.connect(url, open_timeout=10) as ws:
        try:
            async for raw in ws:
                messages.append(json.loads(raw))
                if len(messages) == 1 and after_first is not None:
                    after_first()
        except websockets.ConnectionClosed:
            pass
        close = ws.protocol.close_rcvd
    return messages, (close.code if close else None), (close.reason if close else None)


# --- Redis ---------------------------------------------------------------------------------------------------


async def test_with_redis_down_upload_and_analyze_answer_and_readiness_names_it(gateway: Gateway) -> None:
    gateway.redis.refuse()

    ready = await gateway.client.get("/health/ready")
    assert ready.status_code == 200, ready.text  # still serving: the load balancer keeps it
    health = ready.json()
    assert (health["status"], health["degraded"], health["unavailable"]) == ("degraded", ["redis"], []), health
    assert health["checks"]["redis"].startswith("error") and health["checks"]["postgres"] == "ok"

    # ingest answers within the wait: the upload reads the verdict from the read model, without notifications
    fast = f"fast-{uuid.uuid4().hex[:6]}.csv"
    started = time.monotonic()
    response = await _upload(gateway, fast, Answer(1.5))
    elapsed = time.monotonic() - started
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["status"] == "ingested" and data["dataset"]["row_count"] == 344
    assert 1.5 <= elapsed < UPLOAD_WAIT_S, elapsed

    # no verdict by the deadline: 202 with the job to poll
    slow = f"slow-{uuid.uuid4().hex[:6]}.csv"
    started = time.monotonic()
    pending = await _upload(gateway, slow, Answer(None))
    elapsed = time.monotonic() - started
    assert pending.status_code == 202, pending.text
    assert pending.json()["data"]["status"] == "uploaded"
    assert UPLOAD_WAIT_S <= elapsed < UPLOAD_WAIT_S + 2, elapsed
    job = await gateway.client.get(f"/api/v1/jobs/{pending.json()['data']['job_id']}")
    assert job.status_code == 200 and job.json()["data"]["status"] in ("queued", "running")

    analysis = await gateway.client.post("/api/v1/analyze", json={"dataset_id": data["dataset_id"],
                                                                   "target": "species"})
    assert analysis.status_code == 202, analysis.text
    assert analysis.json()["data"]["status"] == "queued"
    assert _datasets_named(gateway.database_url, [fast, slow]) == {fast: 1, slow: 1}

    # a login cannot count its failures: refused for the moment, in OAuth2's terms, not a 500
    login = await gateway.client.post("/api/v1/auth/token", data={"username": "x@example.com", "password": "y"})
    assert login.status_code == 503, login.text
    assert login.json()["error"] == "temporarily_unavailable" and login.headers["retry-after"] == "5"


async def test_a_redis_that_accepts_and_never_answers_costs_an_upload_seconds_not_a_hang(gateway: Gateway) -> None:
    gateway.redis.hang()
    name = f"hung-{uuid.uuid4().hex[:6]}.csv"

    started = time.monotonic()
    response = await _upload(gateway, name, Answer(0.5))
    elapsed = time.monotonic() - started

    assert response.status_code == 201, response.text
    assert response.json()["data"]["status"] == "ingested"
    # the rate limit and the subscription each give up after two attempts of one second
    assert elapsed < UPLOAD_WAIT_S + 1, elapsed
    print(f"upload with Redis hung: 201 in {elapsed:.1f} s")
    ready = await gateway.client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["degraded"] == ["redis"], ready.text


async def test_the_progress_stream_without_redis_sends_the_snapshot_and_closes_1011_with_a_reason(
        gateway: Gateway) -> None:
    response = await _upload(gateway, f"ws-{uuid.uuid4().hex[:6]}.csv", Answer(None), wait=False)
    assert response.status_code == 202, response.text
    job_id = response.json()["data"]["job_id"]
    gateway.redis.refuse()

    messages, code, reason = await _stream(gateway, job_id)

    assert [m["type"] for m in messages] == ["job.snapshot", "error.occurred"], messages
    assert messages[0]["id"] == job_id and messages[0]["status"] == "queued"
    assert messages[1]["code"] == "progress_unavailable"
    assert code == 1011
    assert reason == "Progress updates are unavailable; poll GET /api/v1/jobs/{job_id}."


async def test_the_progress_stream_that_loses_redis_while_open_closes_1011(gateway: Gateway) -> None:
    response = await _upload(gateway, f"ws-lost-{uuid.uuid4().hex[:6]}.csv", Answer(None), wait=False)
    job_id = response.json()["data"]["job_id"]

    started = time.monotonic()
    messages, code, reason = await _stream(gateway, job_id, after_first=gateway.redis.refuse)

    assert [m["type"] for m in messages] == ["job.snapshot", "error.occurred"], messages
    assert messages[1]["code"] == "progress_unavailable"
    assert (code, reason) == (1011, "Progress updates are unavailable; poll GET /api/v1/jobs/{job_id}.")
    assert time.monotonic() - started < 10


# --- RabbitMQ ------------------------------------------------------------------------------------------------


async def test_with_the_broker_down_requests_commit_and_the_relay_catches_up_when_it_returns(
        gateway: Gateway) -> None:
    first = f"before-{uuid.uuid4().hex[:6]}.csv"
    ingested = await _upload(gateway, first, Answer(0.1))
    assert ingested.status_code == 201, ingested.text
    dataset_id = ingested.json()["data"]["dataset_id"]
    assert _pending_outbox(gateway.database_url) == []

    gateway.amqp.refuse()
    ready = await _until(lambda: _degraded(gateway, "rabbitmq"), 5)
    assert ready["checks"]["postgres"] == "ok" and ready["unavailable"] == []

    during = f"during-{uuid.uuid4().hex[:6]}.csv"
    started = time.monotonic()
    upload = await _upload(gateway, during, Answer(0.1), wait=False)
    analysis = await gateway.client.post("/api/v1/analyze", json={"dataset_id": dataset_id, "target": "species"})
    elapsed = time.monotonic() - started
    assert upload.status_code == 202, upload.text
    assert analysis.status_code == 202, analysis.text
    assert elapsed < 2, elapsed  # no request waits on the broker
    assert _datasets_named(gateway.database_url, [during]) == {during: 1}

    # the relay tried, failed at once, and keeps both events
    tried = await _until(lambda: [row for row in _pending_outbox(gateway.database_url) if row[1] >= 1], 3)
    assert "not connected to the broker" in (tried[0][2] or "")
    keys = [row[0] for row in _pending_outbox(gateway.database_url)]
    assert any(k.startswith("dataset.uploaded") for k in keys) and any(k.startswith("analysis.requested")
                                                                        for k in keys), keys
    assert during not in gateway.ingest.seen

    gateway.amqp.resume()
    started = time.monotonic()
    await _until(lambda: not _pending_outbox(gateway.database_url), 20)
    await _until(lambda: during in gateway.ingest.seen, 10)
    dataset = await _until(lambda: _dataset_ingested(gateway, upload.json()["data"]["dataset_id"]), 15)
    caught_up = time.monotonic() - started
    assert dataset["row_count"] == 344  # the verdict came back through the gateway's reconnected consumer
    print(f"broker back: outbox drained and the upload ingested {caught_up:.1f} s later")
    await _until(lambda: _ready_ok(gateway), 10)


async def _degraded(gateway: Gateway, name: str) -> dict[str, Any] | None:
    response = await gateway.client.get("/health/ready")
    body: dict[str, Any] = response.json()
    return body if response.status_code == 200 and name in body["degraded"] else None


async def _ready_ok(gateway: Gateway) -> bool:
    response = await gateway.client.get("/health/ready")
    return response.status_code == 200 and response.json()["status"] == "ok"


async def _dataset_ingested(gateway: Gateway, dataset_id: str) -> dict[str, Any] | None:
    response = await gateway.client.get(f"/api/v1/datasets/{dataset_id}")
    data: dict[str, Any] = response.json()["data"]
    return data if data["status"] == "ingested" else None


async def test_a_publish_to_a_broker_that_never_confirms_fails_within_its_timeout(infra) -> None:
    """Three publishes at once: the two queued behind the first fail by the same deadline, not one after another."""
    topology = Topology(exchange=f"dsp.events.hang{uuid.uuid4().hex[:8]}", prefix=f"hang{uuid.uuid4().hex[:8]}")
    await declare_with_url(infra.amqp_url, topology)
    try:
        with TcpProxy(*_endpoint(infra.amqp_url)) as proxy:
            publisher = AmqpPublisher(proxy.url(infra.amqp_url), topology, service="gateway", timeout_s=1.0)
            await publisher.connect()
            try:
                await publisher.publish("dataset.uploaded.v1", b"{}", message_id=str(uuid.uuid4()))
                proxy.hang()
                started = time.monotonic()
                outcomes = await asyncio.gather(*(publisher.publish("dataset.uploaded.v1", b"{}",
                                                                    message_id=str(uuid.uuid4()))
                                                  for _ in range(3)), return_exceptions=True)
                elapsed = time.monotonic() - started
                assert all(isinstance(o, PublishError) for o in outcomes), outcomes
                assert "TimeoutError" in str(outcomes[0])
                assert 1.0 <= elapsed < 2.0, elapsed
                proxy.refuse()  # the link is cut: the next publish fails at once
                await _until(lambda: not publisher.is_connected, 5)
                started = time.monotonic()
                with pytest.raises(PublishError, match="not connected"):
                    await publisher.publish("dataset.uploaded.v1", b"{}", message_id=str(uuid.uuid4()))
                assert time.monotonic() - started < 0.1
            finally:
                proxy.resume()
                await asyncio.wait_for(publisher.close(), 15)
    finally:
        await delete_topology(infra.amqp_url, topology)


# --- Idempotency-Key -----------------------------------------------------------------------------------------


def _jobs_of(database_url: str, dataset_id: str, kind: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM gateway.jobs WHERE dataset_id = %s AND kind = %s",
                           (dataset_id, kind)).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_retried_upload_with_its_key_gets_the_first_answer_and_creates_nothing(
        gateway: Gateway, gateway_database: str) -> None:
    name, key = f"idem-{uuid.uuid4().hex[:6]}.csv", str(uuid.uuid4())

    first = await _upload(gateway, name, Answer(0.3), headers={"Idempotency-Key": key})
    again = await _upload(gateway, name, headers={"Idempotency-Key": key})

    assert first.status_code == 201, first.text
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert _datasets_named(gateway.database_url, [name]) == {name: 1}
    assert gateway.ingest.seen.count(name) == 1

    other = await _upload(gateway, name, headers={"Idempotency-Key": key}, body=PENGUINS + b"Adelie,x,1,1,1,1,,2009\n")
    assert other.status_code == 422, other.text
    assert other.json()["status"] == "error"
    assert other.json()["errors"][0] | {"message": ""} == {"code": "idempotency_key_reused", "message": "",
                                                          "field": "Idempotency-Key"}
    assert _datasets_named(gateway.database_url, [name]) == {name: 1}

    # a key is the user's own: another user's request with it is another request
    email, password = f"idem-other-{uuid.uuid4().hex[:6]}@example.com", "another-analyst-password"
    seed_user(gateway_database, email, password, role="analyst")
    theirs = await gateway.client.post("/api/v1/upload", files={"file": (name, PENGUINS, "text/csv")},
                                       headers={"Idempotency-Key": key, **await login(gateway.client, email, password)})
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["data"]["dataset_id"] != first.json()["data"]["dataset_id"]
    assert _datasets_named(gateway.database_url, [name]) == {name: 2}

    # past its expiry (DSP_IDEMPOTENCY_TTL_S) the key is free again
    with psycopg.connect(gateway.database_url) as conn:
        conn.execute("UPDATE gateway.idempotency_keys SET expires_at = now() - interval '1 second'"
                     " WHERE idempotency_key = %s", (key,))
    later = await _upload(gateway, name, headers={"Idempotency-Key": key})
    assert later.status_code == 201 and later.json()["data"]["dataset_id"] != first.json()["data"]["dataset_id"]
    with psycopg.connect(gateway.database_url) as conn:  # the claim swept the other user's expired key
        assert conn.execute("SELECT count(*) FROM gateway.idempotency_keys WHERE idempotency_key = %s",
                            (key,)).fetchone() == (1,)


async def test_two_uploads_at_once_with_one_key_make_one_dataset_and_the_same_answer(gateway: Gateway) -> None:
    name, key = f"twins-{uuid.uuid4().hex[:6]}.csv", str(uuid.uuid4())
    gateway.ingest.plan[name] = Answer(1.0)

    responses = await asyncio.gather(*(_upload(gateway, name, headers={"Idempotency-Key": key}) for _ in range(3)))

    assert [r.status_code for r in responses] == [201, 201, 201], [r.text for r in responses]
    assert responses[0].json() == responses[1].json() == responses[2].json()
    assert sorted(r.headers.get("idempotent-replayed", "") for r in responses) == ["", "true", "true"]
    assert _datasets_named(gateway.database_url, [name]) == {name: 1}
    assert gateway.ingest.seen.count(name) == 1


async def test_an_upload_whose_verdict_is_pending_replays_its_202_and_a_refused_one_keeps_no_key(
        gateway: Gateway) -> None:
    name, key = f"idem-late-{uuid.uuid4().hex[:6]}.csv", str(uuid.uuid4())
    first = await _upload(gateway, name, Answer(None), headers={"Idempotency-Key": key})
    again = await _upload(gateway, name, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert _datasets_named(gateway.database_url, [name]) == {name: 1}

    refused_key = str(uuid.uuid4())
    bad = await gateway.client.post("/api/v1/upload", files={"file": ("x.csv", PENGUINS, "text/csv")},
                                    data={"options": "{not json"}, headers={"Idempotency-Key": refused_key})
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "invalid_field"
    with psycopg.connect(gateway.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM gateway.idempotency_keys WHERE idempotency_key = %s",
                            (refused_key,)).fetchone() == (0,)
    invalid = await _upload(gateway, name, headers={"Idempotency-Key": "x" * 256})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["code"] == "invalid_idempotency_key"


async def test_a_retried_analysis_with_its_key_is_the_same_analysis(gateway: Gateway) -> None:
    name = f"idem-an-{uuid.uuid4().hex[:6]}.csv"
    uploaded = await _upload(gateway, name, Answer(0.1))
    assert uploaded.status_code == 201, uploaded.text
    dataset_id = uploaded.json()["data"]["dataset_id"]
    key = str(uuid.uuid4())
    body = {"dataset_id": dataset_id, "target": "species", "options": {"time_budget_s": 30}}

    together = await asyncio.gather(*(gateway.client.post("/api/v1/analyze", json=body,
                                                          headers={"Idempotency-Key": key}) for _ in range(2)))
    later = await gateway.client.post("/api/v1/analyze", json=body, headers={"Idempotency-Key": key})

    assert [r.status_code for r in together] == [202, 202] and later.status_code == 202, later.text
    assert together[0].json() == together[1].json() == later.json()
    assert _jobs_of(gateway.database_url, dataset_id, "analysis") == 1
    other = await gateway.client.post("/api/v1/analyze", json={**body, "target": "island"},
                                      headers={"Idempotency-Key": key})
    assert other.status_code == 422 and other.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert _jobs_of(gateway.database_url, dataset_id, "analysis") == 1


async def test_a_cancel_retried_with_its_key_gets_its_first_answer_in_postgres(gateway: Gateway) -> None:
    name = f"idem-cancel-{uuid.uuid4().hex[:6]}.csv"
    uploaded = await _upload(gateway, name, Answer(None), wait=False)
    assert uploaded.status_code == 202, uploaded.text
    job_id = uploaded.json()["data"]["job_id"]
    key = {"Idempotency-Key": str(uuid.uuid4())}

    together = await asyncio.gather(*(gateway.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=key)
                                      for _ in range(2)))
    later = await gateway.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=key)

    assert [r.status_code for r in together] == [202, 202] and later.status_code == 202, later.text
    assert together[0].json() == together[1].json() == later.json()
    assert later.json()["data"]["status"] == "cancelled" and later.headers["idempotent-replayed"] == "true"
    with psycopg.connect(gateway.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM gateway.outbox WHERE routing_key = 'job.cancel_requested.v1'"
                            " AND body::jsonb ->> 'job_id' = %s", (job_id,)).fetchone() == (1,)
    unkeyed = await gateway.client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert unkeyed.status_code == 409 and unkeyed.json()["errors"][0]["code"] == "job_not_running"
