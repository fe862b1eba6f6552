"""The in-process mesh keeps the delivery contract: inbox, one unit of work, stage.failed on bad input."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mesh_kit.memory import InMemoryArtifactStore, InMemoryMesh
from mesh_kit.ports import ServiceSpec, StageDeps, Subscription
from shared_contracts import ArtifactRef, EventPayload
from shared_contracts.errors import StageError
from shared_contracts.events import DatasetRejected, DatasetUploaded, JobProgress, StageFailed
from shared_contracts.manifest import SERVICES


@dataclass
class Seen:
    events: list[uuid.UUID] = field(default_factory=list)


def _uploaded(name: str = "data.csv") -> DatasetUploaded:
    ref = ArtifactRef(key="datasets/x/raw", sha256="0" * 64, size_bytes=1, media_type="text/csv")
    return DatasetUploaded(dataset_id=uuid.uuid4(), raw=ref, display_name=name)


def _spec(handler) -> ServiceSpec:
    return ServiceSpec(manifest=SERVICES["ingest"], subscriptions=[Subscription(DatasetUploaded, handler)],
                       memory_repository=Seen)


async def test_an_event_reaches_its_use_case_once_and_its_outputs_follow() -> None:
    async def ingest(event: DatasetUploaded, deps: StageDeps[Seen]) -> None:
        deps.progress(0.5, "half")
        async with deps.unit_of_work() as uow:
            uow.repo.events.append(deps.event_id)
            await uow.emit(DatasetRejected(dataset_id=event.dataset_id, code="c", message=event.display_name))

    progress: list[tuple[str, float, str]] = []
    mesh = InMemoryMesh([_spec(ingest)], InMemoryArtifactStore(), on_progress=lambda *a: progress.append(a))
    job = uuid.uuid4()
    sent = mesh.publish(_uploaded("a.csv"), job_id=job)
    delivered = await mesh.drain()
    assert [type(e.payload) for e in delivered] == [DatasetUploaded, DatasetRejected]
    assert delivered[1].job_id == job and delivered[1].producer == "ingest"
    assert mesh.repositories["ingest"].events == [sent.event_id]
    assert progress == [("ingest", 0.5, "half")]

    mesh.redeliver(sent)  # a repeated event changes nothing
    assert [type(e.payload) for e in await mesh.drain()] == [DatasetUploaded]
    assert mesh.repositories["ingest"].events == [sent.event_id]


async def test_a_stage_error_ends_the_job_with_its_failure_event_and_nothing_half_done() -> None:
    async def ingest(event: DatasetUploaded, deps: StageDeps[Seen]) -> None:
        async with deps.unit_of_work() as uow:
            await uow.emit(JobProgress(stage="ingest", fraction=1.0))
            raise StageError("csv_ragged_rows", "Row 3 has 5 fields", {"lines": [3]},
                             failure_event=DatasetRejected(dataset_id=event.dataset_id, code="csv_ragged_rows",
                                                           message="Row 3 has 5 fields"))

    mesh = InMemoryMesh([_spec(ingest)], InMemoryArtifactStore())
    mesh.publish(_uploaded(), job_id=uuid.uuid4())
    payloads = [e.payload for e in await mesh.drain()]
    assert [type(p) for p in payloads] == [DatasetUploaded, DatasetRejected, StageFailed]
    failed = payloads[2]
    assert isinstance(failed, StageFailed)
    assert (failed.stage, failed.code, failed.reason) == ("ingest", "csv_ragged_rows", "Row 3 has 5 fields")
    assert failed.dataset_id == payloads[0].dataset_id


async def test_a_platform_error_is_not_swallowed() -> None:
    async def ingest(event: DatasetUploaded, deps: StageDeps[Seen]) -> None:
        raise OSError("disk full")

    mesh = InMemoryMesh([_spec(ingest)], InMemoryArtifactStore())
    mesh.publish(_uploaded(), job_id=uuid.uuid4())
    with pytest.raises(OSError, match="disk full"):
        await mesh.drain()


async def test_a_catch_all_subscription_sees_every_event() -> None:
    seen: list[str] = []

    async def listen(event: EventPayload, deps: StageDeps[None]) -> None:
        seen.append(event.routing_key())

    async def ingest(event: DatasetUploaded, deps: StageDeps[Seen]) -> None:
        async with deps.unit_of_work() as uow:
            await uow.emit(DatasetRejected(dataset_id=event.dataset_id, code="c", message="m"))

    gateway = ServiceSpec(manifest=SERVICES["gateway"], subscriptions=[Subscription(EventPayload, listen)])
    mesh = InMemoryMesh([_spec(ingest), gateway], InMemoryArtifactStore())
    mesh.publish(_uploaded(), job_id=uuid.uuid4())
    await mesh.drain()
    assert seen == ["dataset.uploaded.v1", "dataset.rejected.v1"]


def test_the_in_memory_store_checks_keys_and_hashes(tmp_path: Path) -> None:
    store = InMemoryArtifactStore()
    source = tmp_path / "a.bin"
    source.write_bytes(b"abc")
    ref = store.put_file("jobs/1/a.bin", source, media_type="application/octet-stream")
    assert store.read_bytes(ref) == b"abc" and store.exists("jobs/1/a.bin")
    with pytest.raises(ValueError):
        store.put_file("../escape", source, media_type="x")
    store.objects["jobs/1/a.bin"] = b"tampered"
    with pytest.raises(ValueError, match="hash"):
        store.read_bytes(ref)
