"""The gateway's app over in-process ports, as ``dsp serve`` builds it: SQLite storage, a local artifact store,
the in-memory notifier and limiter, and ml's predictions as a callable. No Postgres, broker, Redis or HTTP to ml:
the routes, the audit log and the events in the SQLite outbox behave as in the mesh."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from dsp_gateway.adapters.limits import InMemoryLimiter
from dsp_gateway.adapters.notifier import InMemoryJobNotifier
from dsp_gateway.adapters.predictor import CallablePredictor
from dsp_gateway.adapters.sqlite import SqliteGatewayStorage
from dsp_gateway.app import build_gateway_app, running_gateway
from dsp_gateway.bootstrap import identity_config
from dsp_gateway.ports import GatewayPorts
from dsp_gateway.settings import GatewaySettings
from fastapi import FastAPI
from mesh_kit.artifacts import LocalArtifactStore
from mesh_kit.settings import MeshSettings
from mesh_kit.sqlite import SqliteDatabase

ADMIN, PASSWORD = "admin@example.com", "a long local admin passphrase"
CSV = b"species,bill_length_mm\nAdelie,39.1\nGentoo,47.3\n"


@dataclass
class Ml:
    """ml's predict use case as the app sees it: what it was asked, and its answer."""

    calls: list[tuple[uuid.UUID, bytes, str, bool]] = field(default_factory=list)
    strict: list[bool] = field(default_factory=list)

    async def predict(self, model_id: uuid.UUID, body: bytes, content_type: str, *,
                      explain: bool, strict: bool = False) -> tuple[int, dict[str, Any]]:
        self.calls.append((model_id, body, content_type, explain))
        self.strict.append(strict)
        if body == b"{}":
            return 422, {"error": {"code": "no_rows", "message": "Send rows.", "field": "rows"}}
        if body == b'{"rows": "boom"}':  # ml failed on its side, with an error text of its own
            return 500, {"error": {"code": "internal", "message": "Traceback: /srv/ml/secret.py"}}
        if b"bill_length_mm\": \"abc" in body:
            return 422, {"error": {"code": "unparseable_values", "message": "'bill_length_mm' (Float64): row 0 'abc'.",
                                   "field": "bill_length_mm",
                                   "details": {"columns": ["bill_length_mm"],
                                               "values": {"bill_length_mm": [{"row": 0, "value": "abc"}]}}}}
        return 200, {"model_id": str(model_id), "predictions": [{"prediction": "Adelie"}]}


@dataclass
class Local:
    client: httpx.AsyncClient
    database: SqliteDatabase
    ports: GatewayPorts
    ml: Ml

    async def outbox(self) -> list[tuple[str, str]]:
        rows = await self.database.fetchall("SELECT routing_key, job_id FROM outbox ORDER BY id")
        return [(row[0], row[1]) for row in rows]


@pytest.fixture
async def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Local]:
    for name in ("DSP_JWT_SECRET", "DSP_JWT_KEYS", "DSP_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    database = SqliteDatabase(tmp_path / "db" / "gateway.sqlite3")
    await database.open()
    await database.migrate("dsp_gateway")
    options = GatewaySettings(bootstrap_admin_email=ADMIN, bootstrap_admin_password=PASSWORD)
    ml = Ml()
    ports = GatewayPorts(storage=SqliteGatewayStorage(database), store=LocalArtifactStore(tmp_path / "artifacts"),
                         notifier=InMemoryJobNotifier(), limiter=InMemoryLimiter(), predictor=CallablePredictor(ml.predict),
                         identity=identity_config(options, "test"), options=options, max_upload_bytes=1_000_000)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_gateway(ports, "test"):
            yield

    app = build_gateway_app(ports, MeshSettings(environment="test", allowed_hosts=["gateway"]), lifespan=lifespan)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://gateway") as client:
            token = await client.post("/api/v1/auth/token", data={"username": ADMIN, "password": PASSWORD})
            assert token.status_code == 200, token.text
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            yield Local(client=client, database=database, ports=ports, ml=ml)
    finally:
        await database.close()


async def _upload(local: Local, name: str = "Penguins.csv") -> dict[str, Any]:
    response = await local.client.post("/api/v1/upload", data={"wait": "false"}, files={"file": (name, CSV, "text/csv")})
    assert response.status_code == 202, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_the_app_answers_health_and_refuses_a_foreign_host(local: Local) -> None:
    ready = await local.client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"storage": "ok", "notifier": "ok", "limiter": "ok"}
    assert (await local.client.get("/health/live")).json() == {"status": "ok"}
    foreign = await local.client.get("/api/v1/datasets", headers={"Host": "evil.example"})
    assert foreign.status_code == 400
    anonymous = await local.client.get("/api/v1/datasets", headers={"Authorization": ""})
    assert anonymous.status_code == 401


async def test_an_upload_is_stored_with_its_event_in_the_sqlite_outbox_and_listed(local: Local) -> None:
    uploaded = await _upload(local)
    assert await local.outbox() == [("dataset.uploaded.v1", uploaded["job_id"])]
    assert local.ports.store.exists(f"datasets/{uploaded['dataset_id']}/raw")
    listed = (await local.client.get("/api/v1/datasets", params={"q": "PENGUIN"})).json()["data"]
    assert listed["total"] == 1 and listed["items"][0]["dataset_id"] == uploaded["dataset_id"]
    assert (await local.client.get("/api/v1/datasets", params={"q": "_"})).json()["data"]["total"] == 0
    dataset = await local.client.get(f"/api/v1/datasets/{uploaded['dataset_id']}")
    assert dataset.status_code == 200 and dataset.json()["data"]["status"] == "uploaded"
    job = await local.client.get(f"/api/v1/jobs/{uploaded['job_id']}")
    assert job.status_code == 200 and job.json()["data"]["kind"] == "upload"


async def test_predict_reaches_ml_in_process_only_for_the_organisations_model(local: Local) -> None:
    uploaded = await _upload(local)
    model_id = uuid.uuid4()
    async with local.ports.storage.write(uuid.UUID(uploaded["job_id"])) as uow:
        await uow.repo.insert_model(model_id=model_id, job_id=uuid.UUID(uploaded["job_id"]),
                                    dataset_id=uuid.UUID(uploaded["dataset_id"]))
    rows = json.dumps({"rows": [{"bill_length_mm": 39.1}]}).encode()
    answer = await local.client.post(f"/api/v1/models/{model_id}/predict", params={"explain": "true"}, content=rows,
                                     headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["predictions"] == [{"prediction": "Adelie"}]
    assert local.ml.calls == [(model_id, rows, "application/json", True)]
    refused = await local.client.post(f"/api/v1/models/{model_id}/predict", content=b"{}",
                                      headers={"content-type": "application/json"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "no_rows"
    missing = await local.client.post(f"/api/v1/models/{uuid.uuid4()}/predict", content=rows,
                                      headers={"content-type": "application/json"})
    assert missing.status_code == 404 and len(local.ml.calls) == 2  # never reached ml
    assert local.ml.strict == [False, False]
    bad = json.dumps({"rows": [{"foo": "bar", "bill_length_mm": "abc"}]}).encode()
    unparseable = await local.client.post(f"/api/v1/models/{model_id}/predict", params={"strict": "true"},
                                          content=bad, headers={"content-type": "application/json"})
    assert unparseable.status_code == 422 and local.ml.strict[-1] is True
    [error] = unparseable.json()["errors"]
    assert error["code"] == "unparseable_values" and error["field"] == "bill_length_mm"
    assert "bill_length_mm" in error["message"]
    assert error["details"]["values"]["bill_length_mm"] == [{"row": 0, "value": "abc"}]
    failed = await local.client.post(f"/api/v1/models/{model_id}/predict", content=b'{"rows": "boom"}',
                                     headers={"content-type": "application/json"})
    assert failed.status_code == 503 and failed.json()["errors"][0]["code"] == "ml_unavailable", failed.text
    assert "secret" not in failed.text  # ml's own error text stays in its log


async def test_a_deletion_answers_404_at_once_and_queues_its_event(local: Local) -> None:
    uploaded = await _upload(local)
    deleted = await local.client.delete(f"/api/v1/datasets/{uploaded['dataset_id']}")
    assert deleted.status_code == 202, deleted.text
    deletion = deleted.json()["data"]
    assert deletion["status"] == "pending" and set(deletion["services"]) >= {"ingest", "ml"}
    assert (await local.client.get(f"/api/v1/datasets/{uploaded['dataset_id']}")).status_code == 404
    assert not local.ports.store.exists(f"datasets/{uploaded['dataset_id']}/raw")
    assert [key for key, _ in await local.outbox()] == ["dataset.uploaded.v1", "dataset.deleted.v1"]
    followed = await local.client.get(f"/api/v1/deletions/{deletion['deletion_id']}")
    assert followed.status_code == 200 and followed.json()["data"]["status"] == "pending"


async def test_state_changes_leave_audit_rows_and_refresh_tokens_rotate(local: Local) -> None:
    await _upload(local)
    pair = (await local.client.post("/api/v1/auth/token", data={"username": ADMIN, "password": PASSWORD})).json()
    rotated = await local.client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    replay = await local.client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert replay.status_code == 401
    after = await local.client.post("/api/v1/auth/refresh",
                                    json={"refresh_token": rotated.json()["data"]["refresh_token"]})
    assert after.status_code == 401  # the replay ended the whole session
    audit = (await local.client.get("/api/v1/audit", params={"limit": 500})).json()["data"]
    actions = [(row["action"], row["status"]) for row in audit["items"]]
    assert actions[:3] == [("POST /api/v1/auth/refresh", 200), ("POST /api/v1/auth/token", 200),
                           ("POST /api/v1/upload", 202)]  # newest first; a refused refresh names nobody here
    key = await local.client.post("/api/v1/api-keys", json={"name": "ci"})
    assert key.status_code == 201
    me = await local.client.get("/api/v1/me", headers={"Authorization": "", "X-API-Key": key.json()["data"]["key"]})
    assert me.status_code == 200 and me.json()["data"]["email"] == ADMIN


def test_the_progress_stream_runs_over_the_in_process_notifier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The WebSocket of a job: its snapshot from SQLite, then what the bus' use cases publish, until the end."""
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    monkeypatch.delenv("DSP_JWT_SECRET", raising=False)
    database = SqliteDatabase(tmp_path / "gateway.sqlite3")
    options = GatewaySettings(bootstrap_admin_email=ADMIN, bootstrap_admin_password=PASSWORD)
    ports = GatewayPorts(storage=SqliteGatewayStorage(database), store=LocalArtifactStore(tmp_path / "artifacts"),
                         notifier=InMemoryJobNotifier(), limiter=InMemoryLimiter(), predictor=CallablePredictor(Ml().predict),
                         identity=identity_config(options, "test"), options=options, max_upload_bytes=1_000_000)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await database.open()  # in the loop that serves the app
        await database.migrate("dsp_gateway")
        try:
            async with running_gateway(ports, "test"):
                yield
        finally:
            await database.close()

    app = build_gateway_app(ports, MeshSettings(environment="test", allowed_hosts=["testserver"]), lifespan=lifespan)
    with TestClient(app) as client:
        token = client.post("/api/v1/auth/token", data={"username": ADMIN, "password": PASSWORD}).json()["access_token"]
        uploaded = client.post("/api/v1/upload", data={"wait": "false"}, files={"file": ("p.csv", CSV, "text/csv")},
                               headers={"Authorization": f"Bearer {token}"}).json()["data"]
        job_id = uploaded["job_id"]
        with client.websocket_connect(f"/api/v1/ws?job_id={job_id}&token={token}") as socket:
            snapshot = socket.receive_json()
            assert (snapshot["type"], snapshot["id"], snapshot["status"]) == ("job.snapshot", job_id, "queued")
            assert client.portal is not None
            client.portal.call(ports.notifier.publish, job_id, {"type": "upload.progress", "status": "running"})
            assert socket.receive_json() == {"type": "upload.progress", "status": "running"}
            client.portal.call(ports.notifier.publish, job_id, {"type": "dataset.ingested", "status": "completed"})
            assert socket.receive_json()["status"] == "completed"
            with pytest.raises(WebSocketDisconnect) as closed:  # the server ends the stream after the terminal message
                socket.receive_json()
            assert closed.value.code == 1000
        with client.websocket_connect(f"/api/v1/ws?job_id={uuid.uuid4()}&token={token}") as missing:
            assert missing.receive_json()["code"] == "not_found"


async def test_the_stages_events_fold_into_the_sqlite_read_model_the_routes_read(local: Local) -> None:
    """What the local bus does for the gateway: its read-model use case in a unit of work over the gateway's
    SQLite database with the repository its service spec names, then the listeners are told."""
    from dsp_gateway.bootstrap import service_spec
    from mesh_kit.artifacts import AsyncArtifactStore
    from mesh_kit.ports import StageDeps
    from mesh_kit.sqlite import SqliteUnitOfWork
    from shared_contracts import ArtifactRef
    from shared_contracts.events import ColumnSummary, DatasetIngested, DatasetProfiled

    uploaded = await _upload(local)
    dataset_id, job_id = uuid.UUID(uploaded["dataset_id"]), uuid.UUID(uploaded["job_id"])
    spec = service_spec()

    @asynccontextmanager
    async def unit_of_work() -> AsyncIterator[SqliteUnitOfWork]:
        async with local.database.transaction() as conn:
            yield SqliteUnitOfWork(conn=conn, job_id=job_id, producer="gateway", repo=spec.sqlite_repository(conn))

    async def notify(job: uuid.UUID, message: dict[str, Any]) -> None:
        await local.ports.notifier.publish(str(job), message)

    ref = ArtifactRef(key=f"datasets/{dataset_id}/data.parquet", sha256="0" * 64, size_bytes=1,
                      media_type="application/vnd.apache.parquet")
    events = [("ingest", DatasetIngested(dataset_id=dataset_id, parquet=ref, ingest_report=ref, row_count=2, columns=[
        ColumnSummary(name="species", semantic_type="categorical", physical_type="String")])),
        ("profile", DatasetProfiled(dataset_id=dataset_id, parquet=ref, profile=ref, quality_score=88.0,
                                    alert_count=0))]
    async with local.ports.notifier.subscribe(str(job_id)) as listening:
        for producer, event in events:
            deps: StageDeps[Any] = StageDeps(
                job_id=job_id, event_id=uuid.uuid4(), producer=producer, occurred_at=datetime.now(UTC),
                store=AsyncArtifactStore(local.ports.store), unit_of_work=unit_of_work,
                progress=lambda fraction, message="": None, notify=notify)
            for handler in spec.handlers_for(event):
                await handler(event, deps)
        told = [await listening.get(timeout=1) for _ in events]
    assert [m["status"] if m else None for m in told] == ["running", "completed"]
    dataset = (await local.client.get(f"/api/v1/datasets/{dataset_id}")).json()["data"]
    assert (dataset["status"], dataset["row_count"], dataset["quality_score"]) == ("profiled", 2, 88.0)
    assert dataset["columns"] == [{"name": "species", "semantic_type": "categorical", "physical_type": "String"}]
    job = (await local.client.get(f"/api/v1/jobs/{job_id}")).json()["data"]
    assert (job["status"], job["progress"], job["quality_score"]) == ("completed", 1.0, 88.0)
    listed = (await local.client.get("/api/v1/datasets")).json()["data"]["items"]
    assert listed[0]["column_count"] == 1
    # the list and the detail name the dataset alike (the detail's older `name` says the same)
    assert listed[0]["display_name"] == dataset["display_name"] == dataset["name"] == "Penguins.csv"


async def _fold(local: Local, job_id: uuid.UUID, events: list[tuple[str, Any]]) -> None:
    """Run the gateway's read-model use case on each (producer, event), as the local bus does."""
    from dsp_gateway.bootstrap import service_spec
    from mesh_kit.artifacts import AsyncArtifactStore
    from mesh_kit.ports import StageDeps
    from mesh_kit.sqlite import SqliteUnitOfWork

    spec = service_spec()

    @asynccontextmanager
    async def unit_of_work() -> AsyncIterator[SqliteUnitOfWork]:
        async with local.database.transaction() as conn:
            yield SqliteUnitOfWork(conn=conn, job_id=job_id, producer="gateway", repo=spec.sqlite_repository(conn))

    async def notify(job: uuid.UUID, message: dict[str, Any]) -> None:
        await local.ports.notifier.publish(str(job), message)

    for producer, event in events:
        deps: StageDeps[Any] = StageDeps(
            job_id=job_id, event_id=uuid.uuid4(), producer=producer, occurred_at=datetime.now(UTC),
            store=AsyncArtifactStore(local.ports.store), unit_of_work=unit_of_work,
            progress=lambda fraction, message="": None, notify=notify)
        for handler in spec.handlers_for(event):
            await handler(event, deps)


async def test_a_dataset_that_fails_validation_says_so_and_is_still_profiled(local: Local, tmp_path: Path) -> None:
    """The penguins sample with a not-null rule of severity error that 14 rows break: ingest's verdict reaches
    the dataset's response and the list, and the dataset goes on to its profile."""
    from dsp_ingest.domain import ingest_csv
    from shared_contracts import ArtifactRef
    from shared_contracts.events import ColumnSummary, DatasetIngested, DatasetProfiled, IngestOptions
    from shared_contracts.profile import ValidationSummary

    sample = Path(__file__).resolve().parents[3] / "samples" / "penguins-raw.csv"
    rules = [{"type": "not_null", "column": "Delta 15 N (o/oo)"},
             {"type": "not_null", "column": "Sex", "severity": "warning"}]
    response = await local.client.post(
        "/api/v1/upload", files={"file": ("penguins-raw.csv", sample.read_bytes(), "text/csv")},
        data={"wait": "false", "ingest_options": json.dumps({"validation_rules": rules,
                                                             "block_on_validation_error": False})})
    assert response.status_code == 202, response.text
    uploaded = response.json()["data"]
    dataset_id, job_id = uuid.UUID(uploaded["dataset_id"]), uuid.UUID(uploaded["job_id"])
    report = ingest_csv(sample, tmp_path / "data.parquet", options=IngestOptions(validation_rules=rules))
    ref = ArtifactRef(key=f"datasets/{dataset_id}/data.parquet", sha256="0" * 64, size_bytes=1,
                      media_type="application/vnd.apache.parquet")
    await _fold(local, job_id, [
        ("ingest", DatasetIngested(dataset_id=dataset_id, parquet=ref, ingest_report=ref, row_count=report.row_count,
                                   columns=[ColumnSummary(name=c.name, semantic_type=c.semantic_type,
                                                          physical_type=c.physical_type) for c in report.columns],
                                   validation=ValidationSummary.of(report.validation, rows=report.row_count))),
        ("profile", DatasetProfiled(dataset_id=dataset_id, parquet=ref, profile=ref, quality_score=71.2,
                                    alert_count=0))])
    dataset = (await local.client.get(f"/api/v1/datasets/{dataset_id}")).json()["data"]
    assert (dataset["status"], dataset["validation_status"]) == ("profiled", "failed")
    validation = dataset["validation"]
    assert (validation["rules_checked"], validation["errors_failed"], validation["warnings_failed"]) == (2, 1, 1)
    delta, sex = validation["rules"]
    assert (delta["name"], delta["severity"], delta["failed_count"]) == ("Delta 15 N (o/oo) is not null", "error", 14)
    assert delta["sample_lines"][:3] == [2, 5, 10]
    assert (sex["severity"], sex["failed_count"]) == ("warning", 11)
    listed = (await local.client.get("/api/v1/datasets")).json()["data"]["items"]
    assert [(i["dataset_id"], i["validation_status"]) for i in listed] == [(str(dataset_id), "failed")]


async def test_an_upload_asking_to_block_on_validation_errors_carries_the_option(local: Local) -> None:
    rules = [{"type": "not_null", "column": "species"}]
    response = await local.client.post(
        "/api/v1/upload", files={"file": ("p.csv", CSV, "text/csv")},
        data={"wait": "false", "ingest_options": json.dumps({"validation_rules": rules,
                                                             "block_on_validation_error": True})})
    assert response.status_code == 202, response.text
    body = (await local.database.fetchall("SELECT body FROM outbox"))[0][0]
    ingest = json.loads(body)["payload"]["ingest"]
    assert ingest["block_on_validation_error"] is True and ingest["validation_rules"] == rules
    bad = await local.client.post("/api/v1/upload", files={"file": ("p.csv", CSV, "text/csv")},
                                  data={"wait": "false", "ingest_options": '{"block_on_validation_error": "often"}'})
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "invalid_options"


async def _uploaded_analysis(local: Local, data: dict[str, str]) -> dict[str, Any] | None:
    """The analysis options the upload's dataset.uploaded event carries."""
    response = await local.client.post("/api/v1/upload", data={"wait": "false", **data},
                                       files={"file": ("penguins.csv", CSV, "text/csv")})
    assert response.status_code == 202, response.text
    rows = await local.database.fetchall("SELECT body FROM outbox WHERE job_id = ?", (response.json()["data"]["job_id"],))
    (body,) = [json.loads(row[0]) for row in rows]
    analysis: dict[str, Any] | None = body["payload"]["analysis"]
    return analysis


async def test_the_task_excluded_and_id_columns_go_with_the_upload(local: Local) -> None:
    carried = await _uploaded_analysis(local, {"target": "bill_length_mm", "task": "regression", "options": json.dumps(
        {"exclude_columns": ["island"], "id_columns": ["sample"], "time_budget_s": 15})})
    assert carried is not None
    assert (carried["target"], carried["task"], carried["exclude_columns"], carried["id_columns"]) == (
        "bill_length_mm", "regression", ["island"], ["sample"])
    # a task alone asks for the analysis, as analyze=true does
    unsupervised = await _uploaded_analysis(local, {"task": "unsupervised"})
    assert unsupervised is not None and (unsupervised["task"], unsupervised["target"]) == ("unsupervised", None)
    assert await _uploaded_analysis(local, {}) is None

    for data, words in (({"task": "clustering"}, "Invalid option task"),
                        ({"target": "species", "task": "unsupervised"}, "predicts nothing")):
        refused = await local.client.post("/api/v1/upload", data={"wait": "false", **data},
                                          files={"file": ("penguins.csv", CSV, "text/csv")})
        assert refused.status_code == 422, refused.text
        (error,) = refused.json()["errors"]
        assert error["code"] == "invalid_options" and words in error["message"], error


async def test_the_analyze_request_carries_the_chosen_task(local: Local) -> None:
    from shared_contracts import ArtifactRef
    from shared_contracts.events import ColumnSummary, DatasetIngested

    uploaded = await _upload(local)
    dataset_id, job_id = uuid.UUID(uploaded["dataset_id"]), uuid.UUID(uploaded["job_id"])
    ref = ArtifactRef(key=f"datasets/{dataset_id}/data.parquet", sha256="0" * 64, size_bytes=1,
                      media_type="application/vnd.apache.parquet")
    await _fold(local, job_id, [("ingest", DatasetIngested(
        dataset_id=dataset_id, parquet=ref, ingest_report=ref, row_count=2, columns=[
            ColumnSummary(name=name, semantic_type="categorical", physical_type="String")
            for name in ("species", "island")]))])

    started = await local.client.post("/api/v1/analyze", json={
        "dataset_id": str(dataset_id), "target": "species", "task": "multiclass",
        "options": {"exclude_columns": ["island"], "time_budget_s": 15}})
    assert started.status_code == 202, started.text
    rows = await local.database.fetchall("SELECT body FROM outbox WHERE routing_key = 'analysis.requested.v1'")
    (requested,) = [json.loads(row[0])["payload"]["analysis"] for row in rows]
    assert (requested["target"], requested["task"], requested["exclude_columns"]) == ("species", "multiclass", ["island"])
    refused = await local.client.post("/api/v1/analyze", json={
        "dataset_id": str(dataset_id), "target": "species", "task": "unsupervised"})
    assert refused.status_code == 422 and "predicts nothing" in refused.json()["errors"][0]["message"]


async def test_an_upload_and_an_analysis_retried_with_their_idempotency_key_create_nothing_new_in_sqlite(
        local: Local) -> None:
    import asyncio

    key = {"Idempotency-Key": str(uuid.uuid4())}

    async def send(body: bytes = CSV) -> httpx.Response:
        return await local.client.post("/api/v1/upload", data={"wait": "false"}, headers=key,
                                       files={"file": ("Keyed.csv", body, "text/csv")})

    first, twin = await asyncio.gather(send(), send())  # at once, as a client's timeout and its retry may be
    later = await send()

    assert first.status_code == twin.status_code == later.status_code == 202, first.text
    assert first.json() == twin.json() == later.json()
    uploads = [row for row in await local.outbox() if row[0].startswith("dataset.uploaded")]
    assert len(uploads) == 1
    datasets = await local.database.fetchall("SELECT count(*) FROM datasets WHERE display_name = 'Keyed.csv'")
    assert datasets[0][0] == 1
    reused = await send(CSV + b"Chinstrap,46.5\n")
    assert reused.status_code == 422 and reused.json()["errors"][0]["code"] == "idempotency_key_reused"
    expiry = await local.database.fetchall("SELECT created_at, expires_at FROM idempotency_keys")
    created, expires = (datetime.fromisoformat(v) for v in expiry[0])
    assert abs((expires - created).total_seconds() - 24 * 3600) < 5  # DSP_IDEMPOTENCY_TTL_S's default


async def _profiled(local: Local, name: str, *, analysed: bool = False) -> tuple[str, str]:
    """A dataset folded to profiled from its stages' events (with ``analysed``, its analysis completed with its
    dashboard); its id and its upload job's id."""
    from shared_contracts import ArtifactRef
    from shared_contracts.events import (
        AnalysisCompleted,
        AnalysisOptions,
        ColumnSummary,
        DashboardReady,
        DatasetIngested,
        DatasetProfiled,
    )

    data = {"wait": "false", **({"target": "species"} if analysed else {})}
    response = await local.client.post("/api/v1/upload", data=data, files={"file": (name, CSV, "text/csv")})
    assert response.status_code == 202, response.text
    dataset_id, job_id = (uuid.UUID(response.json()["data"][k]) for k in ("dataset_id", "job_id"))
    ref = ArtifactRef(key=f"datasets/{dataset_id}/data.parquet", sha256="0" * 64, size_bytes=1,
                      media_type="application/vnd.apache.parquet")
    events: list[tuple[str, Any]] = [
        ("ingest", DatasetIngested(dataset_id=dataset_id, parquet=ref, ingest_report=ref, row_count=2, columns=[
            ColumnSummary(name="species", semantic_type="categorical", physical_type="String")])),
        ("profile", DatasetProfiled(dataset_id=dataset_id, parquet=ref, profile=ref, quality_score=88.0,
                                    alert_count=0))]
    if analysed:
        events += [("ml", AnalysisCompleted(dataset_id=dataset_id, analysis_result=ref, profile=ref, etl_report=ref,
                                            cleaned_parquet=ref, options=AnalysisOptions(target="species"))),
                   ("dashboard", DashboardReady(dataset_id=dataset_id, dashboard_id=uuid.uuid4(), html=ref))]
    await _fold(local, job_id, events)
    return str(dataset_id), str(job_id)


async def _count_jobs(local: Local, kind: str) -> int:
    return int((await local.database.fetchall("SELECT count(*) FROM jobs WHERE kind = ?", (kind,)))[0][0])


async def test_a_comparison_a_dashboard_and_a_cancel_retried_with_their_key_happen_once(local: Local) -> None:
    import asyncio

    a, _ = await _profiled(local, "A.csv")
    b, _ = await _profiled(local, "B.csv")
    _, analysis = await _profiled(local, "C.csv", analysed=True)
    assert (await local.client.get(f"/api/v1/jobs/{analysis}")).json()["data"]["status"] == "completed"

    for path, body, kind, changed in (
            ("/api/v1/compare", {"dataset_id_a": a, "dataset_id_b": b}, "comparison", {"dataset_id_a": b, "dataset_id_b": a}),
            ("/api/v1/dashboard", {"analysis_id": analysis}, "dashboard", {"analysis_id": analysis, "theme": "dark"})):
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first, twin = await asyncio.gather(*(local.client.post(path, json=body, headers=key) for _ in range(2)))
        later = await local.client.post(path, json=body, headers=key)
        assert first.status_code == twin.status_code == later.status_code == 202, first.text
        assert first.json() == twin.json() == later.json()
        assert sorted(r.headers.get("idempotent-replayed", "") for r in (first, twin, later)) == ["", "true", "true"]
        assert await _count_jobs(local, kind) == 1, path
        reused = await local.client.post(path, json=changed, headers=key)
        assert reused.status_code == 422 and reused.json()["errors"][0]["code"] == "idempotency_key_reused", reused.text
        fresh = await local.client.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert fresh.status_code == 202 and await _count_jobs(local, kind) == 2, path

    # cancel: the retry of the cancel that ended the job gets its 202 again, not 409 job_not_running
    jobs = [row[0] for row in await local.database.fetchall("SELECT job_id FROM jobs WHERE kind = 'comparison'")]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first, twin = await asyncio.gather(*(local.client.post(f"/api/v1/jobs/{jobs[0]}/cancel", headers=key)
                                         for _ in range(2)))
    assert first.status_code == twin.status_code == 202, first.text
    assert first.json() == twin.json() and first.json()["data"]["status"] == "cancelled"
    again = await local.client.post(f"/api/v1/jobs/{jobs[0]}/cancel", headers=key)
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (202, first.json(), "true")
    unkeyed = await local.client.post(f"/api/v1/jobs/{jobs[0]}/cancel")
    assert unkeyed.status_code == 409 and unkeyed.json()["errors"][0]["code"] == "job_not_running"
    other_job = await local.client.post(f"/api/v1/jobs/{jobs[1]}/cancel", headers=key)
    assert other_job.status_code == 422 and other_job.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert (await local.client.get(f"/api/v1/jobs/{jobs[1]}")).json()["data"]["status"] == "queued"
    cancel_events = [row for row in await local.outbox() if row[0].startswith("job.cancel_requested")]
    assert cancel_events == [("job.cancel_requested.v1", jobs[0])]
    # a refused cancel (the job had ended) keeps no key: it may be sent again, and judged afresh
    ended = {"Idempotency-Key": str(uuid.uuid4())}
    assert (await local.client.post(f"/api/v1/jobs/{jobs[0]}/cancel", headers=ended)).status_code == 409
    assert (await local.client.post(f"/api/v1/jobs/{jobs[1]}/cancel", headers=ended)).status_code == 202


async def test_a_reingest_retried_with_its_key_makes_one_dataset_and_job(local: Local) -> None:
    import asyncio

    source, _ = await _profiled(local, "Reread.csv")
    other, _ = await _profiled(local, "Other.csv")
    url = f"/api/v1/datasets/{source}/reingest"
    body = {"type_overrides": {"species": "categorical"}}
    key = {"Idempotency-Key": str(uuid.uuid4())}

    async def datasets() -> int:
        rows = await local.database.fetchall("SELECT count(*) FROM datasets WHERE display_name = 'Reread.csv'")
        return int(rows[0][0])

    first, twin = await asyncio.gather(*(local.client.post(url, json=body, headers=key) for _ in range(2)))
    later = await local.client.post(url, json=body, headers=key)

    assert first.status_code == twin.status_code == later.status_code == 202, first.text
    assert first.json() == twin.json() == later.json()
    assert first.json()["data"]["source_dataset_id"] == source
    assert sorted(r.headers.get("idempotent-replayed", "") for r in (first, twin, later)) == ["", "true", "true"]
    assert await datasets() == 2  # the source and one re-ingested copy
    reads = [row for row in await local.outbox() if row[0].startswith("dataset.uploaded")]
    assert reads.count(("dataset.uploaded.v1", first.json()["data"]["job_id"])) == 1
    raws = list((local.ports.store.root / "datasets").glob("*/raw"))  # type: ignore[attr-defined]
    assert len(raws) == 3  # the two uploads' files and one copy: the twin's copy was deleted

    for changed_url, changed in ((url, {"type_overrides": {"species": "text"}}),
                                 (f"/api/v1/datasets/{other}/reingest", body)):
        reused = await local.client.post(changed_url, json=changed, headers=key)
        assert reused.status_code == 422, reused.text
        error = reused.json()["errors"][0]
        assert (error["code"], error["field"]) == ("idempotency_key_reused", "Idempotency-Key")
    assert await datasets() == 2
    fresh = await local.client.post(url, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert fresh.status_code == 202 and fresh.json()["data"]["job_id"] != first.json()["data"]["job_id"]
    assert await datasets() == 3
    assert (await local.client.post(url, json=body, headers={"Idempotency-Key": ""})).status_code == 422


async def test_a_request_that_fails_validation_is_told_in_plain_words_per_field(local: Local) -> None:
    page = await local.client.get("/api/v1/datasets", params={"limit": "5000"})
    assert page.status_code == 422, page.text
    [problem] = page.json()["errors"]
    assert problem["code"] == "validation_error" and problem["field"] == "query.limit"
    assert problem["message"].startswith("query.limit must be at most ") and problem["message"].endswith("; got '5000'")
    analysis = await local.client.post("/api/v1/analyze", json={"dataset_id": "nope", "options": {"time_budget_s": -1}})
    assert analysis.status_code == 422, analysis.text
    messages = {error["field"]: error["message"] for error in analysis.json()["errors"]}
    assert "Input should" not in str(messages) and "pydantic" not in str(messages)
    assert messages["dataset_id"].startswith("dataset_id must be ") and messages["dataset_id"].endswith("; got 'nope'")
