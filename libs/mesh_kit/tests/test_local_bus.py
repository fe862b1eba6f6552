"""The local bus over real SQLite files: the delivery contract, bounded attempts, and delivery after a restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from mesh_kit.local_bus import LocalBus
from mesh_kit.memory import InMemoryArtifactStore
from mesh_kit.ports import ServiceSpec, StageDeps, Subscription
from mesh_kit.sqlite import SqliteConnection, SqliteDatabase, database_path
from shared_contracts import ArtifactRef, Envelope
from shared_contracts.errors import StageError
from shared_contracts.events import (
    DatasetIngested,
    DatasetRejected,
    DatasetUploaded,
    JobProgress,
    StageFailed,
)
from shared_contracts.manifest import SERVICES

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "penguins-raw.csv"


class Seen:
    """A repository that writes one row per handled event in the unit of work's transaction."""

    def __init__(self, conn: SqliteConnection) -> None:
        self.conn = conn

    async def add(self, event_id: uuid.UUID) -> None:
        await self.conn.execute("CREATE TABLE IF NOT EXISTS seen (event_id TEXT)")
        await self.conn.execute("INSERT INTO seen (event_id) VALUES (?)", (event_id,))


def _uploaded(name: str = "data.csv") -> DatasetUploaded:
    ref = ArtifactRef(key="datasets/x/raw", sha256="0" * 64, size_bytes=1, media_type="text/csv")
    return DatasetUploaded(dataset_id=uuid.uuid4(), raw=ref, display_name=name)


def _spec(name: str, *subscriptions: Subscription[Any]) -> ServiceSpec:
    return ServiceSpec(manifest=SERVICES[name], subscriptions=list(subscriptions), sqlite_repository=Seen)


async def _databases(root: Path, names: Sequence[str], packages: dict[str, str] | None = None) -> dict[str, SqliteDatabase]:
    out = {}
    for name in names:
        db = SqliteDatabase(database_path(root, name))
        await db.open()
        await db.migrate((packages or {}).get(name))
        out[name] = db
    return out


class Harness:
    def __init__(self, root: Path, specs: list[ServiceSpec], **options: Any) -> None:
        self.root, self.specs, self.options = root, specs, options
        self.events: list[Envelope[Any]] = []
        self.bus: LocalBus | None = None
        self.databases: dict[str, SqliteDatabase] = {}

    async def start(self, packages: dict[str, str] | None = None) -> LocalBus:
        names = sorted({"gateway", *(s.name for s in self.specs)})
        self.databases = await _databases(self.root, names, packages)
        self.bus = LocalBus(self.specs, self.databases, InMemoryArtifactStore(), on_event=self.events.append,
                            **self.options)
        await self.bus.start()
        return self.bus

    async def stop(self) -> None:
        if self.bus is not None:
            await self.bus.stop()
        for db in self.databases.values():
            await db.close()

    def payloads(self, kind: type) -> list[Any]:
        return [e.payload for e in self.events if isinstance(e.payload, kind)]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[Harness] = []

    def make(specs: list[ServiceSpec], **options: Any) -> Harness:
        made.append(Harness(tmp_path, specs, **options))
        return made[-1]

    yield make
    for h in made:
        await h.stop()


async def test_an_event_reaches_its_use_case_once_and_its_outputs_follow(harness: Any) -> None:
    progress_seen: list[tuple[uuid.UUID, float]] = []

    async def ingest(event: DatasetUploaded, deps: StageDeps[Seen]) -> None:
        deps.progress(1.0, "done")
        async with deps.unit_of_work() as uow:
            await uow.repo.add(deps.event_id)
            await uow.emit(DatasetRejected(dataset_id=event.dataset_id, code="c", message=event.display_name))

    async def listen(event: JobProgress, deps: StageDeps[Seen]) -> None:
        progress_seen.append((deps.job_id, event.fraction))

    h = harness([_spec("ingest", Subscription(DatasetUploaded, ingest)),
                 _spec("profile", Subscription(JobProgress, listen))])
    bus = await h.start()
    job = uuid.uuid4()
    sent = await bus.publish(_uploaded("a.csv"), job_id=job)
    await bus.idle()
    await asyncio.sleep(0.1)  # the progress report is handed over in its own task
    assert [type(e.payload) for e in h.events if not isinstance(e.payload, JobProgress)] == \
        [DatasetUploaded, DatasetRejected]
    (rejected,) = h.payloads(DatasetRejected)
    assert rejected.message == "a.csv"
    assert progress_seen == [(job, 1.0)]
    ingest_db = h.databases["ingest"]
    assert [r[0] for r in await ingest_db.fetchall("SELECT event_id FROM seen")] == [str(sent.event_id)]

    # a redelivery (the row marked undelivered again, as after a crash before the mark) changes nothing
    async with h.databases["gateway"].transaction() as conn:
        await conn.execute("UPDATE outbox SET delivered_at = NULL")
    await bus.stop()
    bus2 = LocalBus(h.specs, h.databases, InMemoryArtifactStore(), on_event=h.events.append)
    h.bus = bus2
    await bus2.start()
    await bus2.idle()
    assert len(await ingest_db.fetchall("SELECT event_id FROM seen")) == 1
    assert len(h.payloads(DatasetRejected)) == 1


async def test_a_stage_error_ends_the_job_with_its_failure_event(harness: Any) -> None:
    async def ingest(event: DatasetUploaded, deps: StageDeps[Seen]) -> None:
        raise StageError("bad_csv", "The file is not a CSV.",
                         failure_event=DatasetRejected(dataset_id=event.dataset_id, code="bad_csv", message="no"))

    h = harness([_spec("ingest", Subscription(DatasetUploaded, ingest))])
    bus = await h.start()
    sent = await bus.publish(_uploaded(), job_id=uuid.uuid4())
    await bus.idle()
    (failed,) = h.payloads(StageFailed)
    assert failed.stage == "ingest" and failed.code == "bad_csv" and failed.failed_event_id == sent.event_id
    assert len(h.payloads(DatasetRejected)) == 1


async def test_an_event_that_keeps_raising_is_given_up_with_a_plain_reason(harness: Any) -> None:
    calls: list[int] = []

    async def ingest(event: DatasetUploaded, deps: StageDeps[Seen]) -> None:
        calls.append(1)
        raise RuntimeError("disk on fire")

    h = harness([_spec("ingest", Subscription(DatasetUploaded, ingest))], max_attempts=3, retry_delay_s=0.01)
    bus = await h.start()
    await bus.publish(_uploaded(), job_id=uuid.uuid4())
    await bus.idle()
    assert len(calls) == 3
    (failed,) = h.payloads(StageFailed)
    assert failed.code == "retries_exhausted" and failed.attempts == 3
    assert "failed 3 times" in failed.reason and "(RuntimeError)" in failed.reason
    assert "disk on fire" not in failed.reason  # the message is the log's, not the user's


async def test_after_a_restart_undelivered_events_are_delivered_and_an_interrupted_one_resumes(harness: Any) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def ingest(event: DatasetUploaded, deps: StageDeps[Seen]) -> None:
        started.set()
        await release.wait()
        async with deps.unit_of_work() as uow:
            await uow.emit(DatasetRejected(dataset_id=event.dataset_id, code="c", message="m"))

    h = harness([_spec("ingest", Subscription(DatasetUploaded, ingest))])
    bus = await h.start()
    await bus.publish(_uploaded(), job_id=uuid.uuid4())
    await asyncio.wait_for(started.wait(), 10)
    await bus.stop()  # stopped while the stage worked: nothing of it committed
    assert h.payloads(DatasetRejected) == []
    row = await h.databases["ingest"].fetchone("SELECT attempts FROM bus_attempts")
    assert row is not None and row[0] == 0  # a stop on purpose does not count against the event

    release.set()
    h.bus = LocalBus(h.specs, h.databases, InMemoryArtifactStore(), on_event=h.events.append)
    await h.bus.start()
    await h.bus.idle()
    assert len(h.payloads(DatasetRejected)) == 1 and h.payloads(StageFailed) == []


async def test_an_event_that_stopped_the_server_too_often_fails_its_job_with_a_reason(harness: Any) -> None:
    async def ingest(event: DatasetUploaded, deps: StageDeps[Seen]) -> None:
        raise AssertionError("not run again")

    h = harness([_spec("ingest", Subscription(DatasetUploaded, ingest))], max_attempts=2)
    bus = await h.start()
    await bus.stop()
    sent = await bus.publish(_uploaded(), job_id=uuid.uuid4())
    async with h.databases["ingest"].transaction() as conn:  # as two starts the process did not survive leave it
        await conn.execute("INSERT INTO bus_attempts (consumer, event_id, attempts) VALUES ('ingest', ?, 2)",
                           (sent.event_id,))
    h.bus = LocalBus(h.specs, h.databases, InMemoryArtifactStore(), on_event=h.events.append, max_attempts=2)
    await h.bus.start()
    await h.bus.idle()
    (failed,) = h.payloads(StageFailed)
    assert failed.code == "interrupted" and failed.stage == "ingest"
    assert failed.reason == ("The server stopped during ingest 2 times while it worked on this job; "
                             "start the analysis again.")


async def test_the_stages_run_on_their_sqlite_repositories(harness: Any) -> None:
    from dsp_etl.bootstrap import service_spec as etl
    from dsp_ingest.bootstrap import service_spec as ingest
    from dsp_profile.bootstrap import service_spec as profile
    from mesh_kit.testing import upload
    from shared_contracts.events import AnalysisOptions, DatasetTransformed

    specs = [ingest(), profile(), etl()]
    h = harness(specs)
    bus = await h.start({spec.name: spec.package for spec in specs})
    store = bus.store.sync
    uploaded = upload(store, SAMPLE, analysis=AnalysisOptions(target="Species"))
    await bus.publish(uploaded, job_id=uuid.uuid4())
    await bus.idle(timeout_s=120)
    assert h.payloads(StageFailed) == []
    assert len(h.payloads(DatasetIngested)) == 1 and len(h.payloads(DatasetTransformed)) == 1
    for name, table in [("ingest", "ingested_datasets"), ("profile", "profiles"), ("etl", "etl_runs")]:
        row = await h.databases[name].fetchone(f"SELECT count(*) FROM {table} WHERE dataset_id = ?",
                                               (uploaded.dataset_id,))
        assert row is not None and row[0] == 1, name
