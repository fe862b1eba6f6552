"""The five stages' repositories: the same test bodies against the Postgres, SQLite and in-memory adapters.

Each test gets ``repo``: a function opening a transaction of the adapter under test (a real Postgres
schema migrated as the service's, a real SQLite file migrated in a temporary directory, or the
in-memory repository kept for the test), so what one transaction recorded is seen by the next.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mesh_kit.artifacts import owner_prefix
from mesh_kit.sqlite import SqliteDatabase
from psycopg import sql
from shared_contracts import ArtifactRef

from ..conftest import Infra, migrated_database

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
OpenRepo = Callable[[], AbstractAsyncContextManager[Any]]


def _spec(service: str) -> Any:
    import importlib

    return importlib.import_module(f"dsp_{service}.bootstrap").service_spec()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, backend: str) -> Iterator[Callable[[str], Any]]:
    """Makes a migrated database for a service when the backend is Postgres."""
    if backend != "postgres":
        yield lambda service: None
        return
    infra: Infra = request.getfixturevalue("infra")
    stack: list[Any] = []

    def make(service: str) -> str:
        context = migrated_database(infra, f"repo_{service}_{uuid.uuid4().hex[:6]}", service)
        stack.append(context)
        return context.__enter__()

    yield make
    for context in reversed(stack):
        context.__exit__(None, None, None)


@asynccontextmanager
async def _open(backend: str, service: str, tmp_path: Path, make_url: Callable[[str], Any]) -> AsyncIterator[OpenRepo]:
    spec = _spec(service)
    if backend == "memory":
        repo = spec.memory_repository()

        @asynccontextmanager
        async def memory() -> AsyncIterator[Any]:
            yield repo

        yield memory
    elif backend == "sqlite":
        db = SqliteDatabase(tmp_path / f"{service}.sqlite3")
        await db.open()
        await db.migrate(spec.package)

        @asynccontextmanager
        async def sqlite() -> AsyncIterator[Any]:
            async with db.transaction() as conn:
                yield spec.sqlite_repository(conn)

        try:
            yield sqlite
        finally:
            await db.close()
    else:
        url = make_url(service)
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        await conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(service)))

        @asynccontextmanager
        async def postgres() -> AsyncIterator[Any]:
            async with conn.transaction():
                yield spec.repository(conn)

        try:
            yield postgres
        finally:
            await conn.close()


@pytest.fixture
async def repos(backend: str, tmp_path: Path, postgres_url: Callable[[str], Any]) -> AsyncIterator[Callable[[str], Any]]:
    opened: dict[str, OpenRepo] = {}
    contexts: list[AbstractAsyncContextManager[OpenRepo]] = []

    async def get(service: str) -> OpenRepo:
        if service not in opened:
            context = _open(backend, service, tmp_path, postgres_url)
            contexts.append(context)
            opened[service] = await context.__aenter__()
        return opened[service]

    yield get
    for context in reversed(contexts):
        await context.__aexit__(None, None, None)


pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


async def test_ingest_keeps_the_first_verdict_and_purges_the_dataset(repos: Any) -> None:
    from dsp_ingest.adapters.repository import IngestedDataset, RejectedDataset

    repo, dataset, other, job = await repos("ingest"), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with repo() as r:
        await r.record_ingested(IngestedDataset(dataset_id=dataset, job_id=job, row_count=3, column_count=2,
                                                parquet_key="datasets/x/data.parquet", report_key="datasets/x/r.json"))
        await r.record_rejected(RejectedDataset(dataset_id=other, job_id=job, code="empty", message="no rows"))
    async with repo() as r:  # a repeat of a rejection keeps the first verdict
        await r.record_rejected(RejectedDataset(dataset_id=other, job_id=job, code="other", message="again"))
    async with repo() as r:
        purged = await r.purge_dataset(dataset, (job,))
    assert purged.rows == 1 and purged.prefixes == {owner_prefix("datasets", dataset)}
    async with repo() as r:
        assert (await r.purge_dataset(other, ())).rows == 1
        assert (await r.purge_dataset(other, ())).rows == 0


async def test_profile_replaces_a_repeat_and_purges_the_dataset_with_its_jobs(repos: Any) -> None:
    from dsp_profile.adapters.repository import ProfileRecord

    repo, dataset, jobs = await repos("profile"), uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
    for job in [*jobs, jobs[0]]:
        async with repo() as r:
            await r.record(ProfileRecord(job_id=job, dataset_id=dataset, profile_key=f"jobs/{job}/profile.json",
                                         quality_score=0.9, alert_count=1, row_count=10, column_count=3, target=None))
    async with repo() as r:
        purged = await r.purge_dataset(dataset, tuple(jobs))
    assert purged.rows == 2 and purged.prefixes == {owner_prefix("jobs", job) for job in jobs}


async def test_etl_records_runs_and_purges_the_dataset(repos: Any) -> None:
    from dsp_etl.adapters.repository import EtlRun

    repo, dataset, job = await repos("etl"), uuid.uuid4(), uuid.uuid4()
    async with repo() as r:
        await r.record(EtlRun(job_id=job, dataset_id=dataset, cleaned_key="c", report_key="r", pipeline_key="p",
                              rows_in=10, rows_out=9, step_count=2))
    async with repo() as r:
        assert (await r.purge_dataset(uuid.uuid4(), ())).rows == 0
        purged = await r.purge_dataset(dataset, (job,))
    assert purged.rows == 1 and purged.prefixes == {owner_prefix("jobs", job)}


async def test_dashboard_records_and_purges_by_dashboard(repos: Any) -> None:
    from dsp_dashboard.adapters.repository import DashboardRecord

    repo, dataset, board = await repos("dashboard"), uuid.uuid4(), uuid.uuid4()
    async with repo() as r:
        await r.record(DashboardRecord(dashboard_id=board, job_id=uuid.uuid4(), dataset_id=dataset,
                                       html_key="dashboards/x/index.html", html_bytes=100, pdf_key=None))
    async with repo() as r:
        purged = await r.purge_dataset(dataset, ())
    assert purged.rows == 1 and purged.prefixes == {owner_prefix("dashboards", board)}


async def test_dashboard_purges_the_dashboards_of_the_listed_jobs_too(repos: Any) -> None:
    """A comparison's dashboard is recorded under dataset A; deleting B lists the comparison's job, which takes it."""
    from dsp_dashboard.adapters.repository import DashboardRecord

    repo, a, b, job, board, other = await repos("dashboard"), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), \
        uuid.uuid4(), uuid.uuid4()
    async with repo() as r:
        await r.record(DashboardRecord(dashboard_id=board, job_id=job, dataset_id=a, html_key="dashboards/c/d.html",
                                       html_bytes=100, pdf_key=None))
        await r.record(DashboardRecord(dashboard_id=other, job_id=uuid.uuid4(), dataset_id=a,
                                       html_key="dashboards/o/d.html", html_bytes=100, pdf_key=None))
    async with repo() as r:
        purged = await r.purge_dataset(b, (job, uuid.uuid4()))
    assert purged.rows == 1 and purged.prefixes == {owner_prefix("dashboards", board)}
    async with repo() as r:
        assert (await r.purge_dataset(a, ())).prefixes == {owner_prefix("dashboards", other)}


def _model(dataset: uuid.UUID, *, reference: bool) -> Any:
    from dsp_ml.adapters.repository import ModelVersion

    model_id = uuid.uuid4()
    ref = ArtifactRef(key=f"models/{model_id}/reference.parquet", sha256="c" * 64, size_bytes=7,
                      media_type="application/vnd.apache.parquet") if reference else None
    return ModelVersion(
        model_id=model_id, job_id=uuid.uuid4(), dataset_id=dataset, task="classification", target="species",
        features=["bill_length_mm", "island"], metrics={"accuracy": 0.97}, training_data_hash="d" * 64,
        config={"estimator": "lgbm"},
        artifact=ArtifactRef(key=f"models/{model_id}/model.tar.gz", sha256="a" * 64, size_bytes=1234,
                             media_type="application/gzip"),
        pipeline=ArtifactRef(key=f"jobs/{model_id}/pipeline.json", sha256="b" * 64, size_bytes=56,
                             media_type="application/json"),
        reference=ref, manifest_sha256="e" * 64 if reference else None,
    )


async def test_ml_registers_versions_finds_models_and_purges_them(repos: Any) -> None:
    from dsp_ml.adapters.repository import AnalysisRecord

    repo, dataset = await repos("ml"), uuid.uuid4()
    first, second = _model(dataset, reference=True), _model(dataset, reference=False)
    async with repo() as r:
        assert await r.register_model(first) == 1
        await r.record_analysis(AnalysisRecord(job_id=first.job_id, dataset_id=dataset, analysis_key="k",
                                               task="classification", target="species", model_id=first.model_id))
    async with repo() as r:
        assert await r.register_model(second) == 2
    async with repo() as r:
        assert await r.find_model(first.model_id) == first
        assert await r.find_model(second.model_id) == second
        assert await r.find_model(uuid.uuid4()) is None
    async with repo() as r:
        purged = await r.purge_dataset(dataset, (first.job_id,))
    assert purged.rows == 3
    assert {owner_prefix("models", first.model_id), owner_prefix("models", second.model_id),
            owner_prefix("jobs", first.job_id)} <= purged.prefixes
    async with repo() as r:
        assert await r.find_model(first.model_id) is None
