"""The gateway's storage port on the real PostgreSQL and on SQLite: one test body, both adapters.

Every method of the read model, the deletions, the identity repository and the write transaction's unit of
work is exercised through ``GatewayStorage`` (``read``, ``write``, ``identity``), so the embedded database
of ``dsp serve`` keeps the rules the mesh's Postgres keeps: organisation scoping, the quota lock, shallow
result merges, deletions, refresh-token rotation, API key lookup, the append-only audit log.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dsp_gateway.adapters.identity import EmailTaken
from dsp_gateway.adapters.sqlite import SqliteGatewayStorage
from dsp_gateway.adapters.storage import PostgresGatewayStorage
from dsp_gateway.bootstrap import identity_config
from dsp_gateway.domain.accounts import AuditEntry, UserRecord
from dsp_gateway.domain.datasets import dataset_update_for
from dsp_gateway.domain.identity import Role
from dsp_gateway.domain.jobs import JobResults, JobUpdate
from dsp_gateway.domain.passwords import hash_password
from dsp_gateway.domain.tokens import digest
from dsp_gateway.ports import GatewayStorage
from dsp_gateway.service_layer import identity
from dsp_gateway.settings import GatewaySettings
from mesh_kit.db import open_pool, role_name, with_user
from mesh_kit.deletion import dataset_sha256
from mesh_kit.sqlite import SqliteDatabase
from psycopg import sql
from shared_contracts import ArtifactRef
from shared_contracts.events import DatasetIngested, DatasetProfiled, DatasetUploaded, IngestOptions
from shared_contracts.ingest import RuleResult
from shared_contracts.profile import ValidationSummary

from ..conftest import migrated_database

pytestmark = pytest.mark.integration

SERVICES = ("ingest", "profile", "ml")


@dataclass
class Backend:
    """A storage adapter, and what a test needs to look past the port: counting rows, running a raw
    statement (as the schema's owner), and back-dating a dataset."""

    name: str
    storage: GatewayStorage
    count: Callable[[str, str, Any], Awaitable[int]]
    outbox_naming: Callable[[uuid.UUID], Awaitable[int]]
    execute: Callable[[str], Awaitable[None]]
    age: Callable[[uuid.UUID, float], Awaitable[None]]


@pytest.fixture(scope="module")
def gateway_database(infra: Any) -> Iterator[str]:
    with migrated_database(infra, "gwrepo") as url:
        yield url


async def _postgres(url: str) -> AsyncIterator[Backend]:
    pool = await open_pool(with_user(url, role_name("gateway")), schema="gateway")
    owner = await open_pool(url, schema="gateway")

    async def count(table: str, column: str, value: Any) -> int:
        async with owner.connection() as conn:
            row = await (await conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}::text = %s").format(
                sql.Identifier(table), sql.Identifier(column)), (str(value),))).fetchone()
        return int(row[0]) if row else 0

    async def outbox_naming(value: uuid.UUID) -> int:
        async with owner.connection() as conn:
            row = await (await conn.execute("SELECT count(*) FROM outbox WHERE strpos(body, %s) > 0",
                                            (str(value),))).fetchone()
        return int(row[0]) if row else 0

    async def execute(statement: str) -> None:
        async with owner.connection() as conn:
            await conn.execute(statement)  # type: ignore[arg-type]

    async def age(dataset_id: uuid.UUID, days: float) -> None:
        async with owner.connection() as conn:
            await conn.execute("UPDATE datasets SET created_at = now() - make_interval(secs => %s)"
                               " WHERE dataset_id = %s", (days * 86400, dataset_id))

    try:
        yield Backend("postgres", PostgresGatewayStorage(pool), count, outbox_naming, execute, age)
    finally:
        await owner.close()
        await pool.close()


async def _sqlite(path: Path) -> AsyncIterator[Backend]:
    database = SqliteDatabase(path)
    await database.open()
    await database.migrate("dsp_gateway")

    async def count(table: str, column: str, value: Any) -> int:
        row = await database.fetchone(f"SELECT count(*) FROM {table} WHERE {column} = ?", (str(value),))
        return int(row[0]) if row else 0

    async def outbox_naming(value: uuid.UUID) -> int:
        row = await database.fetchone("SELECT count(*) FROM outbox WHERE instr(body, ?) > 0", (str(value),))
        return int(row[0]) if row else 0

    async def execute(statement: str) -> None:
        async with database.transaction() as conn:
            await conn.execute(statement)

    async def age(dataset_id: uuid.UUID, days: float) -> None:
        async with database.transaction() as conn:
            moment = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="microseconds")
            await conn.execute("UPDATE datasets SET created_at = ? WHERE dataset_id = ?", (moment, dataset_id))

    try:
        yield Backend("sqlite", SqliteGatewayStorage(database), count, outbox_naming, execute, age)
    finally:
        await database.close()


@pytest.fixture(params=["postgres", "sqlite"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "postgres":
        source = _postgres(request.getfixturevalue("gateway_database"))
    else:
        source = _sqlite(tmp_path / "gateway.sqlite3")
    async for made in source:
        yield made


def _ref(key: str) -> dict[str, Any]:
    return ArtifactRef(key=key, sha256="0" * 64, size_bytes=8, media_type="text/csv").model_dump(mode="json")


async def _dataset(storage: GatewayStorage, org: uuid.UUID, owner: uuid.UUID, *, name: str = "d.csv",
                   kind: str = "upload") -> tuple[uuid.UUID, uuid.UUID]:
    dataset_id, job_id = uuid.uuid4(), uuid.uuid4()
    async with storage.write(job_id) as uow:
        await uow.repo.insert_dataset(dataset_id=dataset_id, display_name=name, size_bytes=8,
                                      raw=_ref(f"datasets/{dataset_id}/raw"), upload_job_id=job_id,
                                      organization_id=org, owner_id=owner)
        await uow.repo.insert_job(job_id=job_id, kind=kind, dataset_id=dataset_id, options={"ingest": {"a": 1}},
                                  organization_id=org, owner_id=owner)
    return dataset_id, job_id


# -- the read model ----------------------------------------------------------------------------
async def test_rows_are_found_only_in_their_organisation(backend: Backend) -> None:
    org, owner, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    dataset_id, job_id = await _dataset(backend.storage, org, owner, name="Penguins.csv")
    async with backend.storage.read() as repo:
        dataset = await repo.find_dataset(dataset_id, organization_id=org)
        job = await repo.find_job(job_id, organization_id=org)
        assert await repo.find_dataset(dataset_id, organization_id=other) is None
        assert await repo.find_job(job_id, organization_id=other) is None
        unscoped = await repo.get_dataset(dataset_id)
        assert await repo.get_job(job_id) == job
    assert dataset is not None and job is not None and unscoped == dataset
    assert (dataset["dataset_id"], dataset["display_name"], dataset["status"], dataset["size_bytes"]) == (
        str(dataset_id), "Penguins.csv", "uploaded", 8)
    assert dataset["raw"] == _ref(f"datasets/{dataset_id}/raw") and dataset["upload_job_id"] == str(job_id)
    assert (dataset["organization_id"], dataset["owner_id"]) == (str(org), str(owner))
    assert dataset["columns"] is None and dataset["profile"] is None
    assert datetime.fromisoformat(dataset["created_at"]) <= datetime.now(UTC)
    assert (job["job_id"], job["kind"], job["status"], job["progress"], job["options"], job["results"]) == (
        str(job_id), "upload", "queued", 0, {"ingest": {"a": 1}}, {})
    assert job["parent_job_id"] is None and job["dataset_id"] == str(dataset_id)


async def test_a_job_update_merges_results_shallowly_keeps_progress_rising_and_stops_at_the_end(
        backend: Backend) -> None:
    org, owner = uuid.uuid4(), uuid.uuid4()
    dataset_id, job_id = await _dataset(backend.storage, org, owner, kind="analysis")
    profile = ArtifactRef.model_validate(_ref(f"jobs/{job_id}/profile.json"))
    async with backend.storage.write(job_id) as uow:
        after = await uow.repo.apply_job_update(job_id, JobUpdate(status="running", stage="profile", progress=0.5,
                                                                  results=JobResults(profile=profile)))
        assert after is not None and (after["status"], after["stage"], after["progress"]) == ("running", "profile", 0.5)
        after = await uow.repo.apply_job_update(job_id, JobUpdate(progress=0.2, results=JobResults(quality_score=80)))
        assert after is not None and after["progress"] == 0.5 and after["stage"] == "profile"
        assert after["results"] == {"profile": profile.model_dump(mode="json"), "quality_score": 80}
        done = await uow.repo.apply_job_update(job_id, JobUpdate(status="failed", error_code="boom",
                                                                 error_message="It broke."))
        late = await uow.repo.apply_job_update(job_id, JobUpdate(status="completed", progress=1.0))
    assert done is not None and late == done
    assert (late["status"], late["error_code"], late["error_message"], late["progress"]) == (
        "failed", "boom", "It broke.", 0.5)
    async with backend.storage.read() as repo:
        assert await repo.apply_job_update(uuid.uuid4(), JobUpdate(status="running")) is None


async def test_dataset_updates_events_dashboards_and_models(backend: Backend) -> None:
    org, owner = uuid.uuid4(), uuid.uuid4()
    dataset_id, job_id = await _dataset(backend.storage, org, owner)
    dashboard_id, model_id, event_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    columns = [{"name": "a", "dtype": "int"}, {"name": "b", "dtype": "str"}]
    async with backend.storage.write(job_id) as uow:
        await uow.repo.update_dataset(dataset_id, status="ingested", row_count=3, columns=columns,
                                      parquet=_ref("p"), quality_score=91.5)
        await uow.repo.update_dataset(dataset_id)  # nothing to change
        for _ in range(2):  # a redelivery changes nothing
            await uow.repo.record_event(event_id=event_id, job_id=job_id, routing_key="dataset.ingested.v1",
                                        producer="ingest", payload={"n": 1}, occurred_at=datetime.now(UTC))
            await uow.repo.insert_dashboard(dashboard_id=dashboard_id, job_id=job_id, dataset_id=dataset_id,
                                            html=_ref("h"), pdf=None)
            await uow.repo.insert_model(model_id=model_id, job_id=job_id, dataset_id=dataset_id)
        await uow.repo.insert_model(model_id=uuid.uuid4(), job_id=uuid.uuid4(), dataset_id=dataset_id)  # no job
    assert await backend.count("job_events", "job_id", job_id) == 1
    assert await backend.count("models", "dataset_id", dataset_id) == 1
    async with backend.storage.read() as repo:
        dataset = await repo.find_dataset(dataset_id, organization_id=org)
        dashboard = await repo.find_dashboard(dashboard_id, organization_id=org)
        model = await repo.find_model(model_id, organization_id=org)
        assert await repo.find_dashboard(dashboard_id, organization_id=uuid.uuid4()) is None
        assert await repo.find_model(model_id, organization_id=uuid.uuid4()) is None
        (listed,), _ = await repo.list_datasets(organization_id=org, limit=10, offset=0)
    assert dataset is not None and dashboard is not None and model is not None
    assert (dataset["status"], dataset["row_count"], dataset["columns"], dataset["quality_score"]) == (
        "ingested", 3, columns, 91.5)
    assert dataset["parquet"] == _ref("p") and dataset["updated_at"] >= dataset["created_at"]
    assert (dashboard["job_id"], dashboard["dataset_id"], dashboard["html"], dashboard["pdf"]) == (
        str(job_id), str(dataset_id), _ref("h"), None)
    assert (dashboard["organization_id"], dashboard["owner_id"]) == (str(org), str(owner))  # the job's
    assert (model["model_id"], model["job_id"], model["organization_id"], model["owner_id"]) == (
        str(model_id), str(job_id), str(org), str(owner))
    assert listed["column_count"] == 2 and listed["quality_score"] == 91.5 and listed["row_count"] == 3


async def test_the_list_pages_newest_first_and_searches_names_as_plain_text(backend: Backend) -> None:
    org, owner = uuid.uuid4(), uuid.uuid4()
    names = ["Sales_2024.csv", "salesX2024.csv", "100%_cost.csv", "other.csv"]
    ids = [(await _dataset(backend.storage, org, owner, name=name))[0] for name in names]
    await _dataset(backend.storage, uuid.uuid4(), owner, name="Sales_2024.csv")  # another organisation's
    async with backend.storage.read() as repo:
        page, total = await repo.list_datasets(organization_id=org, limit=2, offset=1)
        assert total == 4 and [row["dataset_id"] for row in page] == [str(ids[2]), str(ids[1])]
        assert set(page[0]) == {"dataset_id", "display_name", "status", "size_bytes", "row_count", "column_count",
                                "quality_score", "validation_status", "owner_id", "created_at", "updated_at"}
        assert page[0]["column_count"] is None

        async def names_for(q: str) -> tuple[list[str], int]:
            rows, count = await repo.list_datasets(organization_id=org, limit=10, offset=0, q=q)
            return [row["display_name"] for row in rows], count

        assert await names_for("SALES") == (["salesX2024.csv", "Sales_2024.csv"], 2)
        assert await names_for("sales_") == (["Sales_2024.csv"], 1)  # "_" is an underscore
        assert await names_for("%") == (["100%_cost.csv"], 1)  # "%" is a percent sign
        assert await names_for("\\") == ([], 0)
        assert await names_for("") == (names[::-1], 4)
        rows, count = await repo.list_datasets(organization_id=org, limit=1, offset=1, q="sales")
        assert [row["display_name"] for row in rows] == ["Sales_2024.csv"] and count == 2


async def test_the_list_as_json_text_is_the_list_as_rows(backend: Backend) -> None:
    """The page the database writes as JSON (what GET /datasets sends as it is) is, byte for byte, the JSON of the
    rows ``list_datasets`` reads: keys in order, ids, timestamps with and without microseconds, numbers, names."""
    org, owner = uuid.uuid4(), uuid.uuid4()
    names = ['Ventes "été" 2024.csv', "back\\slash\ttab.csv", "数据.csv", "plain.csv"]
    ids = [(await _dataset(backend.storage, org, owner, name=name))[0] for name in names]
    async with backend.storage.write(uuid.uuid4()) as uow:
        await uow.repo.update_dataset(ids[0], status="ingested", row_count=3, quality_score=0.1 + 0.2,
                                      columns=[{"name": "a", "dtype": "int"}])
    await backend.age(ids[2], 1.5)
    if backend.name == "postgres":  # a moment of whole seconds: isoformat writes no fraction
        await backend.execute(f"UPDATE datasets SET created_at = '2024-01-02 03:04:05+00' WHERE dataset_id = '{ids[1]}'")
    async with backend.storage.read() as repo:
        for limit, offset, q in [(10, 0, None), (2, 1, None), (10, 0, "été"), (5, 9, None), (10, 0, "none")]:
            rows, total = await repo.list_datasets(organization_id=org, limit=limit, offset=offset, q=q)
            text, counted = await repo.list_datasets_json(organization_id=org, limit=limit, offset=offset, q=q)
            assert (text, counted) == (json.dumps(rows, ensure_ascii=False, separators=(",", ":")), total)
        if backend.name == "postgres":
            text, _ = await repo.list_datasets_json(organization_id=org, limit=10, offset=0)
            assert json.loads(text)[-1]["created_at"] == "2024-01-02T03:04:05+00:00"


async def test_the_validation_verdict_of_dataset_ingested_is_kept_and_listed(backend: Backend) -> None:
    """A broken error rule marks the dataset (validation failed) and leaves it ingested, then profiled."""
    org, owner = uuid.uuid4(), uuid.uuid4()
    dataset_id, job_id = await _dataset(backend.storage, org, owner)
    plain_id, _ = await _dataset(backend.storage, org, owner, name="plain.csv")
    summary = ValidationSummary.of([
        RuleResult(name="id is not null", kind="not_null", columns=["id"], passed=False, failing_count=22,
                   sample_rows=[0, 7], sample_lines=[2, 9], sample_values=[None, None], severity="error"),
        RuleResult(name="age <= 120", kind="range", columns=["age"], passed=True, failing_count=0, severity="warning"),
    ], rows=200)
    ref = ArtifactRef.model_validate(_ref("p"))
    ingested = DatasetIngested(dataset_id=dataset_id, parquet=ref, ingest_report=ref, row_count=200, columns=[],
                               validation=summary)
    profiled = DatasetProfiled(dataset_id=dataset_id, parquet=ref, profile=ref, quality_score=80.0, alert_count=0)
    async with backend.storage.write(job_id) as uow:
        status = "uploaded"
        for event in (ingested, profiled):
            update = dataset_update_for(event, upload_job=True, current=status)  # type: ignore[arg-type]
            assert update is not None
            await uow.repo.update_dataset(dataset_id, **update.stored())
            status = update.status
    async with backend.storage.read() as repo:
        dataset = await repo.find_dataset(dataset_id, organization_id=org)
        rows, _ = await repo.list_datasets(organization_id=org, limit=10, offset=0)
    assert dataset is not None and dataset["status"] == "profiled"
    assert dataset["validation"] == summary.model_dump(mode="json")
    assert ValidationSummary.model_validate(dataset["validation"]).rules[0].sample_lines == [2, 9]
    assert {row["dataset_id"]: row["validation_status"] for row in rows} == {str(dataset_id): "failed",
                                                                             str(plain_id): None}


async def test_the_quota_lock_lets_one_of_two_concurrent_starts_take_the_last_place(backend: Backend) -> None:
    org, owner = uuid.uuid4(), uuid.uuid4()
    dataset_id, _ = await _dataset(backend.storage, org, owner)
    started: list[bool] = []

    async def start() -> None:
        job_id = uuid.uuid4()
        async with backend.storage.write(job_id) as uow:
            await uow.repo.lock_analysis_quota(org)
            running = await uow.repo.count_active_analyses(organization_id=org)
            await asyncio.sleep(0.2)  # the other start runs meanwhile, unless the lock holds it
            if running < 1:
                await uow.repo.insert_job(job_id=job_id, kind="analysis", dataset_id=dataset_id, options={},
                                          organization_id=org, owner_id=owner)
            started.append(running < 1)

    await asyncio.gather(start(), start())
    assert sorted(started) == [False, True]
    async with backend.storage.read() as repo:
        assert await repo.count_active_analyses(organization_id=org) == 1
        assert await repo.count_active_analyses(organization_id=uuid.uuid4()) == 0
    analysis = await backend.count("jobs", "organization_id", org)
    assert analysis == 2  # the upload job and the one analysis


async def test_owned_rows_are_the_owners_in_their_organisation(backend: Backend) -> None:
    org, owner, colleague = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    mine = [await _dataset(backend.storage, org, owner, name=f"{i}.csv") for i in range(2)]
    await _dataset(backend.storage, org, colleague)
    async with backend.storage.write(mine[0][1]) as uow:
        await uow.repo.insert_dashboard(dashboard_id=uuid.uuid4(), job_id=mine[0][1], dataset_id=mine[0][0],
                                        html=_ref("h"), pdf=_ref("p"))
        await uow.repo.insert_model(model_id=uuid.uuid4(), job_id=mine[1][1], dataset_id=mine[1][0])
    async with backend.storage.read() as repo:
        datasets = await repo.owned_rows("datasets", owner_id=owner, organization_id=org)
        jobs = await repo.owned_rows("jobs", owner_id=owner, organization_id=org)
        dashboards = await repo.owned_rows("dashboards", owner_id=owner, organization_id=org)
        models = await repo.owned_rows("models", owner_id=owner, organization_id=org)
        assert await repo.owned_rows("datasets", owner_id=owner, organization_id=uuid.uuid4()) == []
    assert [row["dataset_id"] for row in datasets] == [str(d) for d, _ in mine]  # oldest first
    assert [row["job_id"] for row in jobs] == [str(j) for _, j in mine]
    assert [row["pdf"] for row in dashboards] == [_ref("p")]
    assert [row["dataset_id"] for row in models] == [str(mine[1][0])]


async def test_models_are_listed_newest_first_with_what_their_analysis_made(backend: Backend) -> None:
    org, owner = uuid.uuid4(), uuid.uuid4()
    dataset_id, _ = await _dataset(backend.storage, org, owner, name="penguins.csv")
    made = {name: ArtifactRef.model_validate(_ref(f"jobs/x/{name}")) for name in ("analysis", "pipeline", "profile")}
    models = []
    for with_profile in (True, False):  # the second analysis has no profile of its own: the dataset's shows
        job_id, model_id = uuid.uuid4(), uuid.uuid4()
        async with backend.storage.write(job_id) as uow:
            await uow.repo.insert_job(job_id=job_id, kind="analysis", dataset_id=dataset_id,
                                      options={"analysis": {"target": "species"}}, organization_id=org,
                                      owner_id=owner)
            await uow.repo.apply_job_update(job_id, JobUpdate(results=JobResults(
                analysis_result=made["analysis"], pipeline=made["pipeline"],
                profile=made["profile"] if with_profile else None)))
            await uow.repo.update_dataset(dataset_id, profile=_ref("datasets/profile.json"))
            await uow.repo.insert_model(model_id=model_id, job_id=job_id, dataset_id=dataset_id)
        models.append((model_id, job_id))
    async with backend.storage.read() as repo:
        rows, total = await repo.list_models(organization_id=org, limit=10, offset=0)
        page, _ = await repo.list_models(organization_id=org, limit=1, offset=1)
        one = await repo.find_model_summary(models[0][0], organization_id=org)
        assert await repo.find_model_summary(models[0][0], organization_id=uuid.uuid4()) is None
        assert await repo.list_models(organization_id=uuid.uuid4(), limit=10, offset=0) == ([], 0)
    assert total == 2 and [row["model_id"] for row in rows] == [str(models[1][0]), str(models[0][0])]
    assert page == [rows[1]] and one == rows[1]
    assert (one["job_id"], one["dataset_id"], one["dataset_name"], one["target"]) == (
        str(models[0][1]), str(dataset_id), "penguins.csv", "species")
    assert (one["analysis_result"], one["pipeline"], one["profile"]) == (
        made["analysis"].model_dump(mode="json"), made["pipeline"].model_dump(mode="json"),
        made["profile"].model_dump(mode="json"))
    assert rows[0]["profile"] == _ref("datasets/profile.json")
    assert datetime.fromisoformat(one["created_at"]) <= datetime.fromisoformat(rows[0]["created_at"])


# -- the write transaction ---------------------------------------------------------------------
async def test_events_are_emitted_in_the_write_transaction_and_vanish_with_it(backend: Backend) -> None:
    org, owner = uuid.uuid4(), uuid.uuid4()
    dataset_id, job_id = uuid.uuid4(), uuid.uuid4()
    raw = ArtifactRef.model_validate(_ref(f"datasets/{dataset_id}/raw"))
    event = DatasetUploaded(dataset_id=dataset_id, raw=raw, display_name="x.csv", ingest=IngestOptions())
    with pytest.raises(RuntimeError, match="after the emit"):
        async with backend.storage.write(job_id) as uow:
            await uow.repo.insert_dataset(dataset_id=dataset_id, display_name="x.csv", size_bytes=8,
                                          raw=raw.model_dump(mode="json"), upload_job_id=job_id,
                                          organization_id=org, owner_id=owner)
            await uow.emit(event)
            raise RuntimeError("after the emit")
    assert await backend.outbox_naming(dataset_id) == 0
    async with backend.storage.read() as repo:
        assert await repo.get_dataset(dataset_id) is None

    async with backend.storage.write(job_id) as uow:
        await uow.repo.insert_dataset(dataset_id=dataset_id, display_name="x.csv", size_bytes=8,
                                      raw=raw.model_dump(mode="json"), upload_job_id=job_id,
                                      organization_id=org, owner_id=owner)
        envelope = await uow.emit(event)
    assert envelope.job_id == job_id and envelope.producer == "gateway"
    assert await backend.count("outbox", "event_id", envelope.event_id) == 1
    assert await backend.outbox_naming(dataset_id) == 1

    async with backend.storage.write(job_id) as uow:
        assert not await uow.is_deleted(dataset_id)
        assert await uow.tombstone(dataset_id) and not await uow.tombstone(dataset_id)
        assert await uow.is_deleted(dataset_id)
        assert await uow.purge_outbox(dataset_id) == 1
    assert await backend.count("outbox", "event_id", envelope.event_id) == 0
    assert await backend.count("deleted_datasets", "dataset_sha256", dataset_sha256(dataset_id)) == 1


# -- deletions ---------------------------------------------------------------------------------
async def test_a_deletion_removes_the_rows_and_keeps_only_the_hash_once_every_service_answered(
        backend: Backend) -> None:
    org, owner = uuid.uuid4(), uuid.uuid4()
    dataset_id, job_id = await _dataset(backend.storage, org, owner)
    dashboard_id, model_id = uuid.uuid4(), uuid.uuid4()
    async with backend.storage.write(job_id) as uow:
        await uow.repo.apply_job_update(job_id, JobUpdate(results=JobResults(model_id=model_id)))
        await uow.repo.insert_dashboard(dashboard_id=dashboard_id, job_id=job_id, dataset_id=dataset_id,
                                        html=_ref("h"), pdf=None)
        await uow.repo.insert_model(model_id=model_id, job_id=job_id, dataset_id=dataset_id)
        await uow.repo.record_event(event_id=uuid.uuid4(), job_id=job_id, routing_key="dataset.ingested.v1",
                                    producer="ingest", payload={}, occurred_at=datetime.now(UTC))
    deletion_id, now = uuid.uuid4(), datetime.now(UTC).replace(microsecond=0)
    async with backend.storage.write(deletion_id) as uow:
        assert await uow.repo.start_deletion(deletion_id=deletion_id, dataset_id=dataset_id, reason="requested",
                                             requested_at=now, services=SERVICES,
                                             organization_id=uuid.uuid4()) is None  # another organisation's
        assert await uow.repo.start_deletion(deletion_id=deletion_id, dataset_id=uuid.uuid4(), reason="requested",
                                             requested_at=now, services=SERVICES) is None  # no such dataset
        started = await uow.repo.start_deletion(deletion_id=deletion_id, dataset_id=dataset_id, reason="requested",
                                                requested_at=now, services=SERVICES, organization_id=org)
    assert started is not None and started.created and started.job_ids == (job_id,)
    assert started.raw_key == f"datasets/{dataset_id}/raw"
    record = started.record
    assert (record.deletion_id, record.dataset_sha256, record.dataset_id, record.status, record.services,
            record.organization_id, record.requested_at) == (
        deletion_id, dataset_sha256(dataset_id), dataset_id, "pending", SERVICES, org, now)
    assert record.artifact_prefixes == tuple(sorted((f"dashboards/{dashboard_id}/", f"datasets/{dataset_id}/",
                                                     f"jobs/{job_id}/", f"models/{model_id}/")))
    for table, column, value in (("datasets", "dataset_id", dataset_id), ("jobs", "dataset_id", dataset_id),
                                 ("job_events", "job_id", job_id), ("dashboards", "dataset_id", dataset_id),
                                 ("models", "dataset_id", dataset_id)):
        assert await backend.count(table, column, value) == 0, table
    async with backend.storage.write(uuid.uuid4()) as uow:
        again = await uow.repo.start_deletion(deletion_id=uuid.uuid4(), dataset_id=dataset_id, reason="retention",
                                              requested_at=now, services=SERVICES)
        assert again is not None and not again.created and again.record == record
        assert await uow.repo.start_deletion(deletion_id=uuid.uuid4(), dataset_id=dataset_id, reason="requested",
                                             requested_at=now, services=SERVICES,
                                             organization_id=uuid.uuid4()) is None
    async with backend.storage.read() as repo:
        assert await repo.get_deletion(deletion_id, organization_id=org) == record
        assert await repo.get_deletion(deletion_id, organization_id=uuid.uuid4()) is None
        assert await repo.get_deletion(uuid.uuid4()) is None
    for number, service in enumerate(SERVICES, start=1):
        async with backend.storage.write(deletion_id) as uow:
            acked = await uow.repo.record_purge(deletion_id, service=service, rows=number, artifacts=2 * number)
        assert acked is not None and acked.all_acknowledged == (number == len(SERVICES))
        assert acked.acks[service] == {"rows_deleted": number, "artifacts_deleted": 2 * number}
    async with backend.storage.write(deletion_id) as uow:
        await uow.repo.complete_deletion(deletion_id)
        after = await uow.repo.record_purge(deletion_id, service="ingest", rows=99, artifacts=99)
        assert await uow.repo.record_purge(uuid.uuid4(), service="ingest", rows=1, artifacts=1) is None
    assert after is not None and after.status == "completed" and after.dataset_id is None
    assert after.artifact_prefixes == () and after.acks["ingest"] == {"rows_deleted": 1, "artifacts_deleted": 2}
    assert after.completed_at is not None and after.completed_at >= now
    assert after.view()["dataset_sha256"] == dataset_sha256(dataset_id)


async def test_a_comparison_job_goes_with_either_of_its_datasets(backend: Backend) -> None:
    """A comparison names dataset A in dataset_id and B in dataset_id_b: deleting B erases it (its job, events and
    dashboard), lists its id in the deletion's job ids and its artifacts in the prefixes, and leaves A whole."""
    org, owner = uuid.uuid4(), uuid.uuid4()
    a, a_job = await _dataset(backend.storage, org, owner, name="may.csv")
    b, b_job = await _dataset(backend.storage, org, owner, name="june.csv")
    job, dashboard_id = uuid.uuid4(), uuid.uuid4()
    async with backend.storage.write(job) as uow:
        await uow.repo.insert_job(job_id=job, kind="comparison", dataset_id=a, dataset_id_b=b,
                                  options={"comparison": {"target": None}}, organization_id=org, owner_id=owner)
        await uow.repo.apply_job_update(job, JobUpdate(status="completed", results=JobResults(
            dashboard_id=dashboard_id, comparison=ArtifactRef.model_validate(_ref(f"jobs/{job}/comparison.json")))))
        await uow.repo.insert_dashboard(dashboard_id=dashboard_id, job_id=job, dataset_id=a, html=_ref("h"), pdf=None)
        await uow.repo.record_event(event_id=uuid.uuid4(), job_id=job, routing_key="dashboard.ready.v1",
                                    producer="dashboard", payload={}, occurred_at=datetime.now(UTC))
    async with backend.storage.read() as repo:
        found = await repo.find_job(job, organization_id=org)
    assert found is not None and (found["kind"], found["dataset_id_b"]) == ("comparison", str(b))
    assert JobResults.model_validate(found["results"]).comparison is not None
    deletion_id = uuid.uuid4()
    async with backend.storage.write(deletion_id) as uow:
        started = await uow.repo.start_deletion(deletion_id=deletion_id, dataset_id=b, reason="requested",
                                                requested_at=datetime.now(UTC), services=SERVICES, organization_id=org)
    assert started is not None and set(started.job_ids) == {b_job, job}
    assert {f"jobs/{job}/", f"dashboards/{dashboard_id}/"} <= set(started.record.artifact_prefixes)
    for table, column, value in (("jobs", "job_id", job), ("job_events", "job_id", job),
                                 ("dashboards", "dashboard_id", dashboard_id), ("datasets", "dataset_id", b)):
        assert await backend.count(table, column, value) == 0, table
    for table, column, value in (("datasets", "dataset_id", a), ("jobs", "job_id", a_job)):
        assert await backend.count(table, column, value) == 1, table


async def test_expired_datasets_are_those_created_before_the_time_oldest_first(backend: Backend) -> None:
    org, owner = uuid.uuid4(), uuid.uuid4()
    old, _ = await _dataset(backend.storage, org, owner)
    older, _ = await _dataset(backend.storage, org, owner)
    new, _ = await _dataset(backend.storage, org, owner)
    await backend.age(old, 40)
    await backend.age(older, 50)
    await backend.age(new, 1)
    async with backend.storage.read() as repo:
        expired = await repo.expired_datasets(datetime.now(UTC) - timedelta(days=30), limit=1000)
        assert await repo.expired_datasets(datetime.now(UTC) - timedelta(days=30), limit=1) == [expired[0]]
    assert [d for d in expired if d in (old, older, new)] == [older, old]


# -- identity ----------------------------------------------------------------------------------
async def test_organisations_and_users_with_case_insensitive_unique_addresses(backend: Backend) -> None:
    mark = uuid.uuid4().hex[:8]
    async with backend.storage.identity() as repo:
        org = await repo.ensure_organization(f" Acme {mark} ")
        assert org.name == f"Acme {mark}" and await repo.ensure_organization(f"ACME {mark}") == org
        assert await repo.organization_named(f"acme {mark}") == org
        assert await repo.organization_named(f"other {mark}") is None
        first = await repo.add_user(organization_id=org.organization_id, email=f"Ann.{mark}@Example.com",
                                    password_hash="h1", role="analyst")
    async with backend.storage.identity() as repo:  # a later transaction: a later created_at (the list's order)
        second = await repo.add_user(organization_id=org.organization_id, email=f"bob.{mark}@example.com",
                                     password_hash="h2", role="viewer")
    with pytest.raises(EmailTaken):
        async with backend.storage.identity() as repo:
            await repo.add_user(organization_id=org.organization_id, email=f"ann.{mark}@EXAMPLE.com",
                                password_hash="h3", role="admin")
    assert (first.email, first.organization_name, first.role, first.disabled, first.password_hash) == (
        f"Ann.{mark}@Example.com", org.name, "analyst", False, "h1")
    assert isinstance(first.user_id, uuid.UUID) and isinstance(first.created_at, datetime)
    async with backend.storage.identity() as repo:
        assert await repo.user_by_email(f"ann.{mark}@example.com") == first
        assert await repo.user(second.user_id) == second
        users, total = await repo.users_of(org.organization_id, limit=1, offset=1)
        assert total == 2 and users == [second]
        changed = await repo.change_user(second.user_id, role="admin", disabled=True)
        assert changed is not None and (changed.role, changed.disabled, changed.password_hash) == ("admin", True, "h2")
        changed = await repo.change_user(second.user_id, disabled=False, password_hash="h4")
        assert changed is not None and (changed.role, changed.disabled, changed.password_hash) == ("admin", False, "h4")
        assert changed.updated_at >= second.updated_at
        await repo.delete_user(first.user_id, now=datetime.now(UTC))
        assert await repo.user(first.user_id) is None and await repo.user_by_email(first.email) is None
        assert await repo.change_user(first.user_id, role="admin") is None
        assert (await repo.users_of(org.organization_id, limit=10, offset=0))[1] == 1
        again = await repo.add_user(organization_id=org.organization_id, email=first.email.upper(),
                                    password_hash="h5", role="viewer")  # a deleted account frees its address
        assert again.user_id != first.user_id


async def _user(backend: Backend, role: Role = "analyst", password_hash: str = "h") -> UserRecord:
    async with backend.storage.identity() as repo:
        org = await repo.ensure_organization(f"org {uuid.uuid4().hex[:8]}")
        return await repo.add_user(organization_id=org.organization_id, email=f"{uuid.uuid4().hex[:8]}@example.com",
                                   password_hash=password_hash, role=role)


async def test_refresh_tokens_rotate_and_a_replay_ends_the_whole_family(backend: Backend) -> None:
    password = "correct horse battery staple"
    user = await _user(backend, password_hash=hash_password(password))
    config = identity_config(GatewaySettings(jwt_secret="a-test-secret-" + "x" * 40), "test")
    first = await identity.login(backend.storage.identity, config, email=user.email.upper(), password=password)
    with pytest.raises(identity.InvalidCredentials):
        await identity.login(backend.storage.identity, config, email=user.email, password="wrong")
    now = datetime.now(UTC)
    async with backend.storage.identity() as repo:
        record = await repo.refresh_token_for_update(digest(first.refresh_token))
        assert record is not None and (record.user_id, record.used_at, record.revoked_at) == (user.user_id, None, None)
        assert timedelta(0) < record.expires_at - now <= timedelta(seconds=config.policy.refresh_ttl_s)
        assert await repo.refresh_token_for_update(digest("missing")) is None
        other_family = uuid.uuid4()  # another session of the same user
        await repo.add_refresh_token(family_id=other_family, user_id=user.user_id, token_hash="other",
                                     expires_at=now + timedelta(hours=1))
    async with backend.storage.identity() as repo:
        second = await identity.refresh(repo, config, refresh_token=first.refresh_token)
    assert second.user.user_id == user.user_id and second.refresh_token != first.refresh_token
    async with backend.storage.identity() as repo:  # as the route does: the revocation commits, then 401
        with pytest.raises(identity.InvalidGrant, match="already used") as replay:
            await identity.refresh(repo, config, refresh_token=first.refresh_token)
        assert replay.value.keep_changes
    async with backend.storage.identity() as repo:
        used = await repo.refresh_token_for_update(digest(first.refresh_token))
        rotated = await repo.refresh_token_for_update(digest(second.refresh_token))
        untouched = await repo.refresh_token_for_update("other")
        assert used is not None and used.used_at is not None
        assert rotated is not None and rotated.family_id == used.family_id
        assert rotated.revoked_at is not None  # the whole family ends with the replay
        assert untouched is not None and untouched.revoked_at is None
        with pytest.raises(identity.InvalidGrant, match="revoked"):
            await identity.refresh(repo, config, refresh_token=second.refresh_token)
        await repo.revoke_user_sessions(user.user_id, now=datetime.now(UTC))
        untouched = await repo.refresh_token_for_update("other")
        assert untouched is not None and untouched.revoked_at is not None
        await repo.mark_refresh_used(untouched.token_id, now=now)
        marked = await repo.refresh_token_for_update("other")
        assert marked is not None and marked.used_at is not None and abs(marked.used_at - now) < timedelta(seconds=1)


async def test_api_keys_are_looked_up_by_hash_until_revoked(backend: Backend) -> None:
    user = await _user(backend)
    now = datetime.now(UTC)
    async with backend.storage.identity() as repo:
        first = await repo.add_api_key(user_id=user.user_id, organization_id=user.organization_id, name="ci",
                                       role="viewer", key_hash=f"hash-1-{user.user_id}")
    async with backend.storage.identity() as repo:  # a later transaction: a later created_at
        second = await repo.add_api_key(user_id=user.user_id, organization_id=user.organization_id, name="cd",
                                        role="analyst", key_hash=f"hash-2-{user.user_id}")
    async with backend.storage.identity() as repo:
        assert (first.name, first.role, first.user_id, first.last_used_at, first.revoked_at) == (
            "ci", "viewer", user.user_id, None, None)
        live = await repo.live_api_key(f"hash-1-{user.user_id}", now=now)
        assert live is not None and live.api_key_id == first.api_key_id and live.last_used_at is not None
        soon = await repo.live_api_key(f"hash-1-{user.user_id}", now=now + timedelta(seconds=1))
        assert soon is not None and soon.last_used_at == live.last_used_at  # at most every few seconds
        later = await repo.live_api_key(f"hash-1-{user.user_id}", now=now + timedelta(seconds=10))
        assert later is not None and later.last_used_at is not None and later.last_used_at > live.last_used_at
        assert await repo.live_api_key("hash-unknown", now=now) is None
        assert await repo.api_key(first.api_key_id) == later
        assert [k.api_key_id for k in await repo.api_keys_of(user.user_id)] == [second.api_key_id, first.api_key_id]
        assert await repo.api_keys_of(uuid.uuid4()) == []
        await repo.revoke_api_key(first.api_key_id, now=now)
        assert await repo.live_api_key(f"hash-1-{user.user_id}", now=now + timedelta(seconds=20)) is None
        revoked = await repo.api_key(first.api_key_id)
        assert revoked is not None and revoked.revoked_at is not None
        await repo.delete_user(user.user_id, now=now)
        assert await repo.live_api_key(f"hash-2-{user.user_id}", now=now) is None  # a deleted user's keys end with them


async def test_an_api_key_with_an_expiry_fails_from_then_on(backend: Backend) -> None:
    user = await _user(backend)
    now = datetime.now(UTC)
    async with backend.storage.identity() as repo:
        key = await repo.add_api_key(user_id=user.user_id, organization_id=user.organization_id, name="temp",
                                     role="viewer", key_hash=f"expiring-{user.user_id}",
                                     expires_at=now + timedelta(hours=1))
        assert key.expires_at is not None and abs(key.expires_at - (now + timedelta(hours=1))) < timedelta(seconds=1)
        assert await repo.live_api_key(f"expiring-{user.user_id}", now=now) is not None
        assert await repo.live_api_key(f"expiring-{user.user_id}", now=now + timedelta(hours=2)) is None
        assert await repo.live_api_key(f"expiring-{user.user_id}", now=now + timedelta(minutes=59)) is not None


async def test_the_audit_log_is_appended_read_newest_first_and_never_changed(backend: Backend) -> None:
    user = await _user(backend, "admin")
    async with backend.storage.identity() as repo:
        for status in (201, 403):
            await repo.append_audit(AuditEntry(action="POST /api/v1/upload", status=status, request_id="r",
                                               user_id=user.user_id, organization_id=user.organization_id,
                                               subject=user.email, target_id="t", client_ip="127.0.0.1"))
        await repo.append_audit(AuditEntry(action="POST /api/v1/auth/token", status=401, subject="x@example.com"))
    async with backend.storage.identity() as repo:
        rows, total = await repo.audit_of(user.organization_id, limit=1, offset=0)
        assert await repo.audit_of(uuid.uuid4(), limit=10, offset=0) == ([], 0)
    assert total == 2 and len(rows) == 1
    row = rows[0]
    assert (row["action"], row["status"], row["user_id"], row["organization_id"], row["api_key_id"]) == (
        "POST /api/v1/upload", 403, str(user.user_id), str(user.organization_id), None)
    assert (row["subject"], row["target_id"], row["client_ip"], row["request_id"]) == (
        user.email, "t", "127.0.0.1", "r")
    assert datetime.fromisoformat(row["at"]) <= datetime.now(UTC) and isinstance(row["audit_id"], int)
    for statement in ("UPDATE audit_log SET status = 200", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            await backend.execute(statement)
    async with backend.storage.identity() as repo:
        assert (await repo.audit_of(user.organization_id, limit=10, offset=0))[1] == 2
