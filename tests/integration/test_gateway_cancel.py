"""POST /api/v1/jobs/{id}/cancel against the gateway on the real PostgreSQL, RabbitMQ and Redis: only the job's
owner may cancel it (404 for everyone else), an ended job answers 409 in the error envelope, a cancel ends the
job at once as ``cancelled``, fails its upload's dataset with the code ``cancelled``, tells the progress stream,
publishes ``job.cancel_requested``, and later events of the job change nothing but its acknowledgements."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from shared_contracts import ArtifactRef, Envelope, parse_envelope
from shared_contracts.events import ColumnSummary, DatasetIngested, JobCancelled, JobCancelRequested

from .gateway_harness import Account, RunningGateway, running_gateway
from .test_gateway_upload import SAMPLES, Answer, gateway_database  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

PASSWORD = "a-cancel-test-password"


@dataclass
class Cancelling:
    gw: RunningGateway
    requests: aio_pika.abc.AbstractQueue
    """A probe queue bound to job.cancel_requested on the gateway's exchange."""


@pytest.fixture
async def cancelling(infra, gateway_database: str, tmp_path: Path,  # noqa: F811
                     monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Cancelling]:
    """The gateway; analysts ana and bob of one organisation, analyst eve of another."""
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("DSP_REDIS_NAMESPACE", f"{infra.redis_namespace}-cancel-{suffix}")
    accounts = {name: Account(f"{name}-{suffix}@cancel.example", "analyst", organization) for name, organization
                in {"ana": f"one-{suffix}", "bob": f"one-{suffix}", "eve": f"two-{suffix}"}.items()}
    async with running_gateway(infra, gateway_database, tmp_path, accounts, password=PASSWORD, prefix="c") as gw:
        connection = await aio_pika.connect_robust(infra.amqp_url)
        channel = await connection.channel()
        exchange = await channel.get_exchange(gw.settings.exchange)
        probe = await channel.declare_queue(exclusive=True, auto_delete=True)
        await probe.bind(exchange, routing_key=JobCancelRequested.routing_key())
        try:
            yield Cancelling(gw=gw, requests=probe)
        finally:
            await connection.close()


async def _upload_never_ingested(c: Cancelling, name: str = "slow.csv") -> dict[str, Any]:
    c.gw.ingest.plan[name] = Answer(None)  # ingest never answers: the job waits in its stage
    response = await c.gw.clients["ana"].post("/api/v1/upload", data={"wait": "false"}, files={
        "file": (name, (SAMPLES / "penguins-raw.csv").read_bytes(), "text/csv")})
    assert response.status_code == 202, response.text
    return response.json()["data"]


async def _publish(c: Cancelling, payload: Any, job_id: str, producer: str) -> None:
    envelope = Envelope.wrap(payload, job_id=uuid.UUID(job_id), producer=producer)
    await c.gw.ingest._exchange.publish(
        aio_pika.Message(envelope.model_dump_json().encode(), message_id=str(envelope.event_id),
                         content_type="application/json"), routing_key=envelope.routing_key)


async def _job(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_only_the_owner_cancels_and_an_ended_job_answers_409(cancelling: Cancelling) -> None:
    c = cancelling
    upload = await _upload_never_ingested(c)
    job_id = upload["job_id"]
    for other in ("bob", "eve"):  # a colleague, another organisation: as if there were no such job
        response = await c.gw.clients[other].post(f"/api/v1/jobs/{job_id}/cancel")
        assert response.status_code == 404, response.text
        assert response.json()["errors"][0]["code"] == "not_found"
    missing = await c.gw.clients["ana"].post(f"/api/v1/jobs/{uuid.uuid4()}/cancel")
    assert missing.status_code == 404
    assert (await _job(c.gw.clients["ana"], job_id))["status"] in ("queued", "running")

    ports = c.gw.app.state.runtime.extras["gateway"]
    async with ports.notifier.subscribe(job_id) as stream:
        response = await c.gw.clients["ana"].post(f"/api/v1/jobs/{job_id}/cancel")
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status"] == "success" and body["data"]["status"] == "cancelled"
        message = await stream.get(timeout=5)
        while message is not None and message["type"] == "upload.progress":  # the upload's own, published late
            message = await stream.get(timeout=5)
    assert message is not None and (message["type"], message["status"]) == ("job.cancelled", "cancelled")

    job = await _job(c.gw.clients["ana"], job_id)
    assert job["status"] == "cancelled" and job["cancellation"]["stages"] == []
    assert job["cancellation"]["reason"] and job["cancellation"]["requested_at"]
    dataset = (await c.gw.clients["ana"].get(f"/api/v1/datasets/{upload['dataset_id']}")).json()["data"]
    assert dataset["status"] == "failed" and dataset["error"]["code"] == "cancelled"

    published = await c.requests.get(timeout=10, fail=True)  # from the outbox, after the commit
    envelope = parse_envelope(published.body)
    assert isinstance(envelope.payload, JobCancelRequested) and str(envelope.job_id) == job_id

    again = await c.gw.clients["ana"].post(f"/api/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert again.json()["status"] == "error" and again.json()["data"] is None
    assert again.json()["errors"][0]["code"] == "job_not_running"


async def test_late_events_of_a_cancelled_job_change_nothing_but_its_acknowledgements(cancelling: Cancelling) -> None:
    c = cancelling
    upload = await _upload_never_ingested(c, "late.csv")
    job_id, dataset_id = upload["job_id"], uuid.UUID(upload["dataset_id"])
    assert (await c.gw.clients["ana"].post(f"/api/v1/jobs/{job_id}/cancel")).status_code == 202
    fake = ArtifactRef(key=f"datasets/{dataset_id}/data.parquet", sha256="0" * 64, size_bytes=1,
                       media_type="application/vnd.apache.parquet")
    await _publish(c, DatasetIngested(dataset_id=dataset_id, parquet=fake, ingest_report=fake, row_count=3,
                                      columns=[ColumnSummary(name="a", semantic_type="text", physical_type="String")]),
                   job_id, "ingest")
    await _publish(c, JobCancelled(stage="ingest", step="reading", stopped_after_s=0.3, dataset_id=dataset_id),
                   job_id, "ingest")
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        job = await _job(c.gw.clients["ana"], job_id)
        if job["cancellation"]["stages"] or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    assert [(a["stage"], a["step"], a["stopped_after_s"]) for a in job["cancellation"]["stages"]] == [
        ("ingest", "reading", 0.3)]
    assert job["status"] == "cancelled" and job["stage"] != "profile"
    dataset = (await c.gw.clients["ana"].get(f"/api/v1/datasets/{dataset_id}")).json()["data"]
    assert dataset["status"] == "failed" and dataset["row_count"] is None  # the late ingest was not recorded
