"""Deleting a dataset on the in-process mesh: every service erases its rows and artifacts and acknowledges,
the gateway finishes the deletion, and nothing comes back afterwards. No broker, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dsp_dashboard.bootstrap import service_spec as dashboard
from dsp_etl.bootstrap import service_spec as etl
from dsp_gateway.bootstrap import service_spec as gateway
from dsp_gateway.service_layer.deletion import request_deletion
from dsp_ingest.bootstrap import service_spec as ingest
from dsp_ml.bootstrap import service_spec as ml
from dsp_profile.bootstrap import service_spec as profile
from mesh_kit.deletion import dataset_sha256
from mesh_kit.memory import InMemoryArtifactStore, InMemoryMesh
from mesh_kit.testing import payloads_of, upload
from shared_contracts import ArtifactRef
from shared_contracts.events import (
    AnalysisCompleted,
    AnalysisOptions,
    DashboardReady,
    DatasetDeleted,
    DatasetPurged,
    DatasetTransformed,
    StageFailed,
)
from shared_contracts.manifest import purging_services

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "penguins.csv"


def _mesh(store: InMemoryArtifactStore) -> InMemoryMesh:
    return InMemoryMesh([ingest(), profile(), etl(), ml(), dashboard(), gateway()], store)


async def _analysed(mesh: InMemoryMesh, store: InMemoryArtifactStore,
                    options: AnalysisOptions) -> tuple[uuid.UUID, uuid.UUID]:
    """An upload with analysis, recorded as the gateway's upload route does, run to its dashboard."""
    read_model = mesh.repositories["gateway"]
    uploaded = upload(store, SAMPLE, analysis=options, name="penguins.csv")
    job = uuid.uuid4()
    read_model.add_job(job_id=job, kind="analysis", dataset_id=uploaded.dataset_id)
    read_model.add_dataset(dataset_id=uploaded.dataset_id, upload_job_id=job, raw=uploaded.raw.model_dump(mode="json"))
    mesh.publish(uploaded, job_id=job)
    events = await mesh.drain()
    assert payloads_of(events, DashboardReady), [e.routing_key for e in events]
    assert read_model.jobs[job]["status"] == "completed"
    return uploaded.dataset_id, job


async def _delete(mesh: InMemoryMesh, dataset_id: uuid.UUID, reason: Any = "requested") -> Any:
    deletion_id = uuid.uuid4()
    async with mesh.unit_of_work("gateway", job_id=deletion_id) as uow:
        started = await request_deletion(uow, mesh.store, deletion_id=deletion_id, dataset_id=dataset_id,
                                         reason=reason, requested_at=datetime.now(UTC))
    return started


def _rows_of(mesh: InMemoryMesh) -> dict[str, int]:
    repos = mesh.repositories
    return {"ingest": len(repos["ingest"].ingested) + len(repos["ingest"].rejected),
            "profile": len(repos["profile"].profiles), "etl": len(repos["etl"].runs),
            "ml": len(repos["ml"].analyses) + len(repos["ml"].models),
            "dashboard": len(repos["dashboard"].dashboards),
            "gateway": sum(len(getattr(repos["gateway"], t)) for t in ("datasets", "jobs", "events", "dashboards"))}


@pytest.fixture
async def deleted() -> dict[str, Any]:
    """A dataset analysed with a target (so ml registers a model), then deleted, with the mesh drained."""
    store = InMemoryArtifactStore()
    mesh = _mesh(store)
    dataset_id, job = await _analysed(mesh, store, AnalysisOptions(target="species", time_budget_s=3))
    (completed,) = payloads_of(mesh.delivered, AnalysisCompleted)
    assert completed.model_id is not None
    keys = set(store.objects)
    assert any(k.startswith(f"models/{completed.model_id}/") for k in keys)
    started = await _delete(mesh, dataset_id)
    gateway_rows_at_once = _rows_of(mesh)["gateway"]
    assert completed.model_id not in mesh.repositories["gateway"].models  # predict: 404 at once
    events = await mesh.drain()
    return {"mesh": mesh, "store": store, "dataset_id": dataset_id, "job": job, "keys": keys, "started": started,
            "events": events, "model_id": completed.model_id, "gateway_rows_at_once": gateway_rows_at_once}


@pytest.mark.slow
async def test_every_service_erases_the_dataset_and_the_gateway_completes_the_deletion(
        deleted: dict[str, Any]) -> None:
    mesh, store, dataset_id = deleted["mesh"], deleted["store"], deleted["dataset_id"]
    assert deleted["started"].created and deleted["gateway_rows_at_once"] == 0  # 404 from the first moment
    (request,) = payloads_of(deleted["events"], DatasetDeleted)
    assert request.dataset_id == dataset_id and deleted["job"] in request.job_ids
    acks = payloads_of(deleted["events"], DatasetPurged)
    assert sorted(a.service for a in acks) == sorted(purging_services())
    assert all(a.dataset_sha256 == dataset_sha256(dataset_id) for a in acks)
    assert all(a.rows_deleted >= 1 for a in acks), acks
    assert _rows_of(mesh) == dict.fromkeys(_rows_of(mesh), 0)
    assert store.objects == {}, sorted(store.objects)  # every key was this dataset's
    record = mesh.repositories["gateway"].deletions[deleted["started"].record.deletion_id]
    assert record.status == "completed" and record.dataset_id is None and record.artifact_prefixes == ()
    assert str(dataset_id) not in repr(record.view())
    assert mesh.repositories["ml"].models == {}
    assert not payloads_of(deleted["events"], StageFailed)


@pytest.mark.slow
async def test_a_late_event_of_a_deleted_dataset_recreates_nothing(deleted: dict[str, Any]) -> None:
    mesh, store = deleted["mesh"], deleted["store"]
    (transformed,) = payloads_of(mesh.delivered, DatasetTransformed)
    mesh.publish(transformed, job_id=deleted["job"], producer="etl")  # a stage that was still running
    events = await mesh.drain()
    assert [e.routing_key for e in events] == ["dataset.transformed.v1"]
    assert _rows_of(mesh)["ml"] == 0 and store.objects == {}


@pytest.mark.slow
async def test_a_second_deletion_finds_nothing(deleted: dict[str, Any]) -> None:
    mesh = deleted["mesh"]
    assert await _delete(mesh, deleted["dataset_id"]) is None  # the dataset is gone: the route answers 404
    # a repeated dataset.deleted (a retry by hand, retention after a request) still gets every acknowledgement
    again = uuid.uuid4()
    mesh.repositories["gateway"].deletions.clear()
    mesh.publish(DatasetDeleted(dataset_id=deleted["dataset_id"], reason="retention",
                                requested_at=datetime.now(UTC)), job_id=again)
    acks = payloads_of(await mesh.drain(), DatasetPurged)
    assert sorted(a.service for a in acks) == sorted(purging_services())
    assert all(a.rows_deleted == 0 and a.artifacts_deleted == 0 for a in acks)


class _DeletesDuringAnalysis(InMemoryArtifactStore):
    """A store that, when ml writes its analysis, lets the deletion of the dataset land in ml."""

    def __init__(self) -> None:
        super().__init__()
        self.mesh: InMemoryMesh | None = None
        self.dataset_id: uuid.UUID | None = None

    def put_file(self, key: str, path: Path, *, media_type: str) -> ArtifactRef:
        ref = super().put_file(key, path, media_type=media_type)
        if key.endswith("/analysis.json") and self.mesh is not None and self.dataset_id is not None:
            self.mesh.tombstones["ml"].add(dataset_sha256(self.dataset_id))
        return ref


async def test_a_deletion_landing_while_a_stage_works_leaves_nothing_of_its_work() -> None:
    store = _DeletesDuringAnalysis()
    mesh = InMemoryMesh([ingest(), profile(), etl(), ml()], store)
    uploaded = upload(store, SAMPLE, analysis=AnalysisOptions(), name="penguins.csv")
    store.mesh, store.dataset_id = mesh, uploaded.dataset_id
    job = uuid.uuid4()
    mesh.publish(uploaded, job_id=job)
    events = await mesh.drain()
    assert payloads_of(events, DatasetTransformed) and not payloads_of(events, AnalysisCompleted)
    assert not payloads_of(events, StageFailed)
    assert mesh.repositories["ml"].analyses == {} and mesh.repositories["ml"].models == {}
    assert not [k for k in store.objects if k.endswith("/analysis.json") or k.startswith("models/")]


async def test_an_unsupervised_analysis_is_erased_too() -> None:
    store = InMemoryArtifactStore()
    mesh = _mesh(store)
    dataset_id, _ = await _analysed(mesh, store, AnalysisOptions())
    started = await _delete(mesh, dataset_id)
    assert started is not None and started.raw_key and not store.exists(started.raw_key)
    await mesh.drain()
    assert store.objects == {} and _rows_of(mesh) == dict.fromkeys(_rows_of(mesh), 0)
    assert mesh.repositories["gateway"].deletions[started.record.deletion_id].status == "completed"


async def test_retention_lists_only_datasets_older_than_the_period() -> None:
    read_model = gateway().memory_repository()
    now = datetime.now(UTC)
    old, new = uuid.uuid4(), uuid.uuid4()
    for dataset_id, age in ((old, 40), (new, 1)):
        read_model.add_dataset(dataset_id=dataset_id, upload_job_id=uuid.uuid4(), raw={})
        read_model.datasets[dataset_id]["created_at"] = now - timedelta(days=age)
    assert await read_model.expired_datasets(now - timedelta(days=30), limit=10) == [old]
