"""The gateway's quotas against the real PostgreSQL, RabbitMQ and Redis: uploads and analyses per minute per
principal, and concurrent analyses per organisation, released when the read model sees the job end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import httpx
import pytest
from mesh_kit.settings import MeshSettings
from shared_contracts import Envelope
from shared_contracts.events import StageFailed

from .gateway_harness import Account, running_gateway
from .test_gateway_upload import SAMPLES, PlayedIngest, gateway_database  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

UPLOADS_PER_MINUTE = 3
PASSWORD = "a-quota-test-password"


@dataclass
class Quotas:
    clients: dict[str, httpx.AsyncClient]
    settings: MeshSettings


@pytest.fixture
async def quotas(infra, gateway_database: str, tmp_path: Path,  # noqa: F811
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Quotas]:
    """The gateway with small quotas; users ana and bob of one organisation, and eve of another."""
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("DSP_UPLOAD_WAIT_S", "8")
    monkeypatch.setenv("DSP_REDIS_NAMESPACE", f"{infra.redis_namespace}-quota-{suffix}")
    monkeypatch.setenv("DSP_UPLOADS_PER_MINUTE", str(UPLOADS_PER_MINUTE))
    monkeypatch.setenv("DSP_ANALYSES_PER_MINUTE", "5")
    monkeypatch.setenv("DSP_MAX_CONCURRENT_ANALYSES_PER_ORG", "1")
    accounts = {name: Account(f"{name}-{suffix}@{organization}.example", "analyst", f"{organization}-{suffix}")
                for name, organization in (("ana", "one"), ("bob", "one"), ("eve", "two"))}
    async with running_gateway(infra, gateway_database, tmp_path, accounts, password=PASSWORD, prefix="q") as gw:
        yield Quotas(clients=gw.clients, settings=gw.settings)


async def _upload(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/api/v1/upload", files={
        "file": (f"p-{uuid.uuid4().hex[:6]}.csv", (SAMPLES / "penguins.csv").read_bytes(), "text/csv")})


async def test_uploads_per_minute_are_counted_per_principal(quotas: Quotas) -> None:
    ana, bob = quotas.clients["ana"], quotas.clients["bob"]
    answers = [await _upload(ana) for _ in range(UPLOADS_PER_MINUTE)]
    assert [a.status_code for a in answers] == [201] * UPLOADS_PER_MINUTE, [a.text for a in answers]
    refused = await _upload(ana)
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["status"] == "error" and body["errors"][0]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 0
    assert (await _upload(bob)).status_code == 201  # another principal has a budget of its own


async def _ended(settings: MeshSettings, job_id: str) -> None:
    """The job fails, as a stage would report it on the broker."""
    envelope = Envelope.wrap(StageFailed(stage="ml", code="test_stop", reason="Stopped by the test."),
                             job_id=uuid.UUID(job_id), producer="ml")
    connection = await aio_pika.connect_robust(settings.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(settings.exchange)
        await exchange.publish(aio_pika.Message(envelope.model_dump_json().encode(), message_id=str(envelope.event_id),
                                                content_type="application/json"), routing_key=envelope.routing_key)


async def test_one_organisation_runs_at_most_its_concurrent_analyses(quotas: Quotas) -> None:
    ana, bob, eve = quotas.clients["ana"], quotas.clients["bob"], quotas.clients["eve"]
    datasets = {}
    for name, client in (("ana", ana), ("eve", eve)):
        uploaded = await _upload(client)
        assert uploaded.status_code == 201, uploaded.text
        datasets[name] = uploaded.json()["data"]["dataset_id"]

    first = await ana.post("/api/v1/analyze", json={"dataset_id": datasets["ana"], "options": {"time_budget_s": 5}})
    assert first.status_code == 202, first.text
    # nobody consumes the analysis here: it stays queued and holds the organisation's only place
    for client in (ana, bob):
        refused = await client.post("/api/v1/analyze", json={"dataset_id": datasets["ana"]})
        assert refused.status_code == 429, refused.text
        assert refused.json()["errors"][0]["code"] == "too_many_analyses"
        assert refused.headers["retry-after"]
    other = await eve.post("/api/v1/analyze", json={"dataset_id": datasets["eve"]})
    assert other.status_code == 202, other.text  # another organisation's quota is its own

    await _ended(quotas.settings, first.json()["data"]["analysis_id"])
    for _ in range(100):
        job = (await ana.get(f"/api/v1/analysis/{first.json()['data']['analysis_id']}")).json()["data"]
        if job["status"] == "failed":
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "failed", job
    again = await bob.post("/api/v1/analyze", json={"dataset_id": datasets["ana"]})
    assert again.status_code == 202, again.text


async def test_two_analyses_at_once_cannot_both_take_the_last_place(quotas: Quotas) -> None:
    ana, bob = quotas.clients["ana"], quotas.clients["bob"]
    uploaded = await _upload(ana)
    dataset = uploaded.json()["data"]["dataset_id"]
    answers = await asyncio.gather(*(c.post("/api/v1/analyze", json={"dataset_id": dataset})
                                     for c in (ana, bob, ana, bob)))
    assert sorted(a.status_code for a in answers) == [202, 429, 429, 429], [a.text for a in answers]
