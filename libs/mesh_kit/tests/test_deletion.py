"""Erasing artifacts by owner prefix, and the in-process mesh discarding the events of an erased dataset."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mesh_kit.artifacts import ArtifactStore, LocalArtifactStore, owner_prefix
from mesh_kit.deletion import dataset_sha256
from mesh_kit.memory import InMemoryArtifactStore, InMemoryMesh
from mesh_kit.ports import ServiceSpec, StageDeps, Subscription
from shared_contracts.events import DatasetDeleted, DatasetRejected
from shared_contracts.manifest import SERVICES


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    return LocalArtifactStore(tmp_path / "store") if request.param == "local" else InMemoryArtifactStore()


def test_a_prefix_delete_removes_one_owner_and_nothing_else(store: ArtifactStore) -> None:
    gone, kept = uuid.uuid4(), uuid.uuid4()
    for owner in (gone, kept):
        for name in ("raw", "data.parquet", "ingest-report.json"):
            store.put_bytes(f"datasets/{owner}/{name}", b"x", media_type="text/plain")
    assert store.delete_prefix(owner_prefix("datasets", gone)) == 3
    assert store.delete_prefix(owner_prefix("datasets", gone)) == 0  # again: nothing, no error
    assert not store.exists(f"datasets/{gone}/raw") and store.exists(f"datasets/{kept}/raw")
    if isinstance(store, LocalArtifactStore):
        assert not (store.root / "datasets" / str(gone)).exists()


@pytest.mark.parametrize("prefix", ["", "/", "datasets/", "datasets", "../x/", "datasets//", "Datasets/a/"])
def test_a_prefix_that_would_reach_more_than_one_owner_is_refused(store: ArtifactStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        store.delete_prefix(prefix)


async def test_the_mesh_discards_events_of_an_erased_dataset_but_not_the_deletion() -> None:
    seen: list[str] = []

    async def on_rejected(event: DatasetRejected, deps: StageDeps[None]) -> None:
        seen.append("rejected")

    async def on_deleted(event: DatasetDeleted, deps: StageDeps[None]) -> None:
        async with deps.unit_of_work() as uow:
            await uow.tombstone(event.dataset_id)
        seen.append("deleted")

    spec = ServiceSpec(manifest=SERVICES["ingest"], subscriptions=[Subscription(DatasetRejected, on_rejected),
                                                                 Subscription(DatasetDeleted, on_deleted)])
    mesh = InMemoryMesh([spec], InMemoryArtifactStore())
    dataset_id = uuid.uuid4()
    erase = DatasetDeleted(dataset_id=dataset_id, reason="requested", requested_at=datetime.now(UTC))
    mesh.publish(erase, job_id=uuid.uuid4())
    mesh.publish(DatasetRejected(dataset_id=dataset_id, code="c", message="m"), job_id=uuid.uuid4())
    mesh.publish(erase, job_id=uuid.uuid4())
    await mesh.drain()
    assert seen == ["deleted", "deleted"]
    assert mesh.tombstones["ingest"] == {dataset_sha256(dataset_id)}
