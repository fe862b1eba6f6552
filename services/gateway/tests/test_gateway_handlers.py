"""The gateway's read-model use case on the in-process mesh, with the in-memory read model."""

from __future__ import annotations

import uuid
from typing import Any

from dsp_gateway.bootstrap import service_spec
from mesh_kit.artifacts import artifact_key
from mesh_kit.memory import InMemoryArtifactStore, InMemoryMesh
from shared_contracts import ArtifactRef
from shared_contracts.events import (
    ColumnSummary,
    DatasetIngested,
    DatasetProfiled,
    DatasetRejected,
    StageFailed,
)


def _ref(store: InMemoryArtifactStore, key: str) -> ArtifactRef:
    return store.put_bytes(key, b"x", media_type="application/octet-stream")


def _uploaded(read_model: Any, store: InMemoryArtifactStore) -> tuple[uuid.UUID, uuid.UUID, ArtifactRef]:
    """An upload job and its dataset, as the gateway's upload route records them."""
    job, dataset = uuid.uuid4(), uuid.uuid4()
    raw = _ref(store, artifact_key("datasets", dataset, "raw"))
    read_model.add_job(job_id=job, kind="upload", dataset_id=dataset)
    read_model.add_dataset(dataset_id=dataset, upload_job_id=job, raw=raw.model_dump(mode="json"))
    return job, dataset, raw


def _mesh() -> tuple[InMemoryMesh, InMemoryArtifactStore, list[tuple[uuid.UUID, dict[str, Any]]]]:
    told: list[tuple[uuid.UUID, dict[str, Any]]] = []

    async def notify(job_id: uuid.UUID, message: dict[str, Any]) -> None:
        told.append((job_id, message))

    store = InMemoryArtifactStore()
    return InMemoryMesh([service_spec()], store, notify=notify), store, told


async def test_an_upload_job_completes_at_its_profile_and_the_listeners_are_told() -> None:
    mesh, store, told = _mesh()
    read_model = mesh.repositories["gateway"]
    job, dataset, raw = _uploaded(read_model, store)
    parquet, report, profile = (_ref(store, f"datasets/{dataset}/{n}") for n in ("p", "r", "profile"))
    mesh.publish(DatasetIngested(dataset_id=dataset, parquet=parquet, ingest_report=report, row_count=3,
                                 columns=[ColumnSummary(name="a", semantic_type="numeric", physical_type="Int64")]),
                 job_id=job, producer="ingest")
    mesh.publish(DatasetProfiled(dataset_id=dataset, parquet=parquet, profile=profile, quality_score=90.0,
                                 alert_count=1), job_id=job, producer="profile")
    await mesh.drain()
    state = read_model.jobs[job]
    assert state["status"] == "completed" and state["progress"] == 1.0
    assert read_model.datasets[dataset]["status"] == "profiled"
    assert read_model.datasets[dataset]["row_count"] == 3
    assert all(j == job for j, _ in told) and told[-1][1]["status"] == "completed"
    assert len(read_model.events) == 2


async def test_a_rejected_upload_removes_its_raw_file_and_keeps_the_rejection() -> None:
    mesh, store, told = _mesh()
    read_model = mesh.repositories["gateway"]
    job, dataset, raw = _uploaded(read_model, store)
    mesh.publish(DatasetRejected(dataset_id=dataset, code="csv_ragged_rows", message="Row 3 has 5 fields"),
                 job_id=job, producer="ingest")
    mesh.publish(StageFailed(stage="ingest", code="csv_ragged_rows", reason="Row 3 has 5 fields",
                             dataset_id=dataset), job_id=job, producer="ingest")
    await mesh.drain()
    assert read_model.datasets[dataset]["status"] == "rejected"
    assert not store.exists(raw.key)
    state = read_model.jobs[job]
    assert (state["status"], state["error_code"]) == ("failed", "csv_ragged_rows")
    assert told and told[-1][1]["type"] == "error.occurred"


async def test_events_of_an_unknown_job_change_nothing() -> None:
    mesh, store, told = _mesh()
    dataset = uuid.uuid4()
    mesh.publish(DatasetRejected(dataset_id=dataset, code="c", message="m"), job_id=uuid.uuid4(), producer="ingest")
    await mesh.drain()
    assert mesh.repositories["gateway"].jobs == {} and told == []


async def test_a_cancelled_job_takes_no_late_results_and_records_the_stages_acknowledgements() -> None:
    from datetime import UTC, datetime

    from dsp_gateway.domain.jobs import cancellation_record
    from shared_contracts.events import AnalysisCompleted, AnalysisOptions, JobCancelled

    mesh, store, told = _mesh()
    read_model = mesh.repositories["gateway"]
    job, dataset, raw = _uploaded(read_model, store)
    read_model.jobs[job]["kind"] = "analysis"
    assert await read_model.mark_cancelled(job, cancellation_record(
        requested_at=datetime.now(UTC), reason="asked", requested_by=uuid.uuid4())) is not None
    assert await read_model.mark_cancelled(job, {"stages": []}) is None  # it has ended: once only
    refs = {n: _ref(store, f"datasets/{dataset}/{n}") for n in ("analysis", "profile", "etl", "clean")}
    mesh.publish(AnalysisCompleted(dataset_id=dataset, analysis_result=refs["analysis"], profile=refs["profile"],
                                   etl_report=refs["etl"], cleaned_parquet=refs["clean"], model_id=uuid.uuid4(),
                                   options=AnalysisOptions(target="a")), job_id=job, producer="ml")
    mesh.publish(JobCancelled(stage="ml", step="fitting", stopped_after_s=0.25, dataset_id=dataset),
                 job_id=job, producer="ml")
    await mesh.drain()
    state = read_model.jobs[job]
    assert state["status"] == "cancelled" and state["results"] == {}
    assert read_model.models == {} and told == []  # no model recorded, nobody told of a completion
    assert [(a["stage"], a["step"], a["stopped_after_s"]) for a in state["cancellation"]["stages"]] == [
        ("ml", "fitting", 0.25)]
    assert len(read_model.events) == 2  # kept in the job's history all the same
