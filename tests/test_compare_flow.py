"""A comparison on the in-process mesh, with the gateway's read model: the job through profile, ml and dashboard,
and deleting either dataset erases it in every service. No broker, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dsp_dashboard.bootstrap import service_spec as dashboard
from dsp_gateway.bootstrap import service_spec as gateway
from dsp_gateway.service_layer.deletion import request_deletion
from dsp_ingest.bootstrap import service_spec as ingest
from dsp_ml.bootstrap import service_spec as ml
from dsp_profile.bootstrap import service_spec as profile
from mesh_kit.deletion import dataset_sha256
from mesh_kit.memory import InMemoryArtifactStore, InMemoryMesh
from mesh_kit.testing import payloads_of, upload
from shared_contracts.events import (
    ComparisonCompleted,
    ComparisonRequested,
    DashboardReady,
    DatasetProfiled,
    DatasetsCompared,
    StageFailed,
)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A and B: 400 rows each of one shape; B's amount doubled."""
    folder = tmp_path_factory.mktemp("tables")
    a = pl.DataFrame({"amount": [float(i % 97) for i in range(400)], "shop": ["north", "south", "east", "west"] * 100,
                      "units": [i % 7 for i in range(400)]})
    paths = {"a": folder / "may.csv", "b": folder / "june.csv"}
    a.write_csv(paths["a"])
    a.with_columns(pl.col("amount") * 2 + 0.5).write_csv(paths["b"])
    return paths


async def _compared(store: InMemoryArtifactStore, paths: dict[str, Path], *,
                    delete_b_first: bool = False) -> dict[str, Any]:
    """Both tables uploaded and profiled as the gateway records them, then compared as POST /compare asks."""
    mesh = InMemoryMesh([ingest(), profile(), ml(), dashboard(), gateway()], store)
    read_model = mesh.repositories["gateway"]
    profiled: dict[str, DatasetProfiled] = {}
    for side in ("a", "b"):
        uploaded = upload(store, paths[side], name=paths[side].name)
        job = uuid.uuid4()
        read_model.add_job(job_id=job, kind="upload", dataset_id=uploaded.dataset_id)
        read_model.add_dataset(dataset_id=uploaded.dataset_id, upload_job_id=job,
                               raw=uploaded.raw.model_dump(mode="json"))
        mesh.publish(uploaded, job_id=job)
        (profiled[side],) = payloads_of(await mesh.drain(), DatasetProfiled)
    a, b = profiled["a"], profiled["b"]
    job = uuid.uuid4()
    await read_model.insert_job(job_id=job, kind="comparison", dataset_id=a.dataset_id, dataset_id_b=b.dataset_id,
                                options={}, organization_id=uuid.UUID(int=0), owner_id=uuid.UUID(int=0))
    if delete_b_first:  # the deletion reaches every stage before the comparison does
        await _delete(mesh, b.dataset_id)
    mesh.publish(ComparisonRequested(dataset_id=a.dataset_id, dataset_id_b=b.dataset_id, comparison_id=job,
                                     parquet_a=a.parquet, parquet_b=b.parquet, profile_a=a.profile,
                                     profile_b=b.profile, name_a="may.csv", name_b="june.csv", target="units"),
                 job_id=job)
    return {"mesh": mesh, "job": job, "a": a.dataset_id, "b": b.dataset_id, "events": await mesh.drain()}


async def _delete(mesh: InMemoryMesh, dataset_id: uuid.UUID) -> Any:
    deletion_id = uuid.uuid4()
    async with mesh.unit_of_work("gateway", job_id=deletion_id) as uow:
        return await request_deletion(uow, mesh.store, deletion_id=deletion_id, dataset_id=dataset_id,
                                      reason="requested", requested_at=datetime.now(UTC))


async def test_a_comparison_ends_completed_and_goes_with_its_second_dataset(tables: dict[str, Path]) -> None:
    store = InMemoryArtifactStore()
    run = await _compared(store, tables)
    mesh, job, events = run["mesh"], run["job"], run["events"]
    assert not payloads_of(events, StageFailed), payloads_of(events, StageFailed)
    assert [e.routing_key for e in events if e.job_id == job and e.routing_key != "job.progress.v1"] == [
        "comparison.requested.v1", "datasets.compared.v1", "comparison.completed.v1", "dashboard.ready.v1"]
    row = mesh.repositories["gateway"].jobs[job]
    assert (row["status"], row["stage"], row["progress"]) == ("completed", "dashboard", 1.0)
    (completed,) = payloads_of(events, ComparisonCompleted)
    (partial,) = payloads_of(events, DatasetsCompared)
    assert row["results"]["comparison"]["key"] == completed.comparison.key != partial.comparison.key
    assert completed.comparison.key.startswith(f"jobs/{job}/")
    (ready,) = payloads_of(events, DashboardReady)
    assert ready.dataset_id == run["a"] and ready.dashboard_id in mesh.repositories["dashboard"].dashboards

    started = await _delete(mesh, run["b"])
    assert started is not None and job in started.job_ids
    await mesh.drain()
    left = [k for k in store.objects if k.startswith((f"jobs/{job}/", f"dashboards/{ready.dashboard_id}/"))]
    assert left == [] and mesh.repositories["dashboard"].dashboards == {}
    assert job not in mesh.repositories["gateway"].jobs
    assert run["a"] in mesh.repositories["gateway"].datasets  # A stays, with its own profile
    assert any(k.startswith(f"datasets/{run['a']}/") for k in store.objects)


async def test_a_comparison_whose_second_dataset_was_deleted_records_nothing(tables: dict[str, Path]) -> None:
    store = InMemoryArtifactStore()
    run = await _compared(store, tables, delete_b_first=True)
    mesh, job = run["mesh"], run["job"]
    assert dataset_sha256(run["b"]) in mesh.tombstones["profile"]
    assert not payloads_of(run["events"], DatasetsCompared) and not payloads_of(run["events"], StageFailed)
    assert not [k for k in store.objects if k.startswith(f"jobs/{job}/")]
    assert mesh.repositories["dashboard"].dashboards == {}
