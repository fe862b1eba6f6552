"""The mesh end to end, driven through the gateway as a user would, with the failure cases the
platform promises to survive: redelivery, a killed worker, a poison event and bad input."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import psycopg
import pytest
from mesh_kit.local_mesh import LocalMesh
from shared_contracts.manifest import SERVICES

from ..auth_helpers import bearer
from .conftest import MAX_UPLOAD_BYTES
from .helpers import follow, upload, wait_for_job, ws_url

pytestmark = pytest.mark.e2e

RESULT_TABLES = {
    "ingest": ("ingested_datasets", "dataset_id"),
    "profile": ("profiles", "job_id"),
    "etl": ("etl_runs", "job_id"),
    "ml": ("analyses", "job_id"),
    "dashboard": ("dashboards", "job_id"),
    "gateway": ("dashboards", "job_id"),
}


def _ws_url(mesh: LocalMesh) -> str:
    return ws_url(mesh)


def _token(api: httpx.Client) -> str:
    return bearer(api)


def _sql(mesh: LocalMesh, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(mesh.admin_database_url) as conn:
        return conn.execute(query, params).fetchall()


def _upload(api: httpx.Client, path: Path, **fields: str) -> httpx.Response:
    return upload(api, path, **fields)


def _assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["data"] is None
    assert set(body["meta"]) >= {"timestamp", "version", "request_id"}
    assert body["errors"][0]["code"] == code, body
    assert body["errors"][0]["message"]
    return body


def test_a_csv_flows_from_upload_to_dashboard(mesh: LocalMesh, api: httpx.Client, finished: dict[str, Any]) -> None:
    messages = finished["messages"]
    types = [m["type"] for m in messages]
    assert types[0] == "job.snapshot"
    assert types[-1] == "dashboard.ready", messages[-3:]
    assert "error.occurred" not in types
    dashboard_id = messages[-1]["dashboard_id"]

    analysis = api.get(f"/api/v1/analysis/{finished['analysis_id']}").json()
    assert analysis["status"] == "success"
    data = analysis["data"]
    assert data["status"] == "completed" and data["dashboard_id"] == dashboard_id
    assert data["results"]["task"]["target"] == "Species"
    assert data["results"]["task"]["task_type"] == "multiclass"

    page = api.get(f"/api/v1/dashboard/{dashboard_id}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert html.count("Plotly") > 0
    assert not re.search(r"<script[^>]+src=", html), "the dashboard must not load scripts from anywhere"
    meta = api.get(f"/api/v1/dashboard/{dashboard_id}", headers={"accept": "application/json"}).json()
    assert meta["data"]["size_bytes"] == len(page.content)

    exported = api.post("/api/v1/export", json={"analysis_id": finished["analysis_id"], "format": "csv"})
    assert exported.status_code == 200
    assert exported.headers["content-disposition"].endswith('cleaned.csv"')
    assert len(exported.text.splitlines()) > 300

    listed = api.get("/api/v1/datasets").json()["data"]
    assert finished["dataset"]["dataset_id"] in [d["dataset_id"] for d in listed["items"]]


def test_each_service_wrote_only_into_its_own_schema(mesh: LocalMesh, finished: dict[str, Any]) -> None:
    schemas = set(SERVICES)
    tables = _sql(mesh, "SELECT schemaname, tablename, tableowner FROM pg_tables "
                        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
    assert tables, "no tables at all"
    for schema, table, owner in tables:
        assert schema in schemas, f"{schema}.{table} is outside every service schema"
        assert owner == f"dsp_{schema}", f"{schema}.{table} is owned by {owner}"
    for service in SERVICES:
        for other in schemas - {service}:
            (usage,) = _sql(mesh, "SELECT has_schema_privilege(%s, %s, 'USAGE')", (f"dsp_{service}", other))[0]
            assert usage is False, f"dsp_{service} can reach schema {other}"
    job = finished["analysis_id"]
    dataset = finished["dataset"]["dataset_id"]
    for service, (table, key) in RESULT_TABLES.items():
        ident = dataset if key == "dataset_id" else job
        (count,) = _sql(mesh, f"SELECT count(*) FROM {service}.{table} WHERE {key} = %s", (ident,))[0]
        assert count == 1, f"{service}.{table} has {count} rows for the job"
        (inbox,) = _sql(mesh, f"SELECT count(*) FROM {service}.inbox")[0]
        assert inbox > 0, f"{service} recorded no handled events"


def _duplicates_seen(mesh: LocalMesh) -> float:
    total = 0.0
    for service in SERVICES:
        text = httpx.get(mesh.metrics_url(service), timeout=10).text
        for line in text.splitlines():
            if line.startswith("dsp_messages_consumed_total{") and 'outcome="duplicate"' in line:
                total += float(line.rsplit(" ", 1)[1])
    return total


def _counts(mesh: LocalMesh, job: str, dataset: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for service, (table, key) in RESULT_TABLES.items():
        ident = dataset if key == "dataset_id" else job
        counts[f"{service}.{table}"] = _sql(mesh, f"SELECT count(*) FROM {service}.{table} WHERE {key} = %s",
                                            (ident,))[0][0]
        counts[f"{service}.outbox"] = _sql(mesh, f"SELECT count(*) FROM {service}.outbox")[0][0]
    counts["ml.models"] = _sql(mesh, "SELECT count(*) FROM ml.models WHERE job_id = %s", (job,))[0][0]
    counts["gateway.job_events"] = _sql(mesh, "SELECT count(*) FROM gateway.job_events WHERE job_id = %s",
                                        (job,))[0][0]
    return counts


async def _republish(amqp_url: str, exchange: str, bodies: list[tuple[str, str, str]], times: int) -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange)
        for _ in range(times):
            for event_id, routing_key, body in bodies:
                await target.publish(aio_pika.Message(body.encode(), message_id=event_id,
                                                      delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                     routing_key=routing_key, mandatory=True)


def test_redelivering_every_event_twice_duplicates_nothing(mesh: LocalMesh, finished: dict[str, Any]) -> None:
    job, dataset = finished["analysis_id"], finished["dataset"]["dataset_id"]
    upload_job = finished["dataset"]["job_id"]
    before = _counts(mesh, job, dataset)
    bodies: list[tuple[str, str, str]] = []
    for service in SERVICES:
        bodies += [(str(r[0]), r[1], r[2]) for r in _sql(
            mesh, f"SELECT event_id, routing_key, body FROM {service}.outbox "
                  "WHERE (body::jsonb ->> 'job_id') IN (%s, %s) ORDER BY id", (job, upload_job))]
    assert len(bodies) >= 7, [b[1] for b in bodies]
    consumers = {key: sum(1 for svc in SERVICES.values() if key in svc.routing_keys or svc.catch_all)
                 for _, key, _ in bodies}
    expected = 2 * sum(consumers[key] for _, key, _ in bodies)
    seen_before = _duplicates_seen(mesh)
    asyncio.run(_republish(mesh.amqp_url, "dsp.events", bodies, times=2))
    deadline = time.monotonic() + 180
    while _duplicates_seen(mesh) - seen_before < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _duplicates_seen(mesh) - seen_before == expected
    assert _counts(mesh, job, dataset) == before


def test_a_worker_killed_mid_job_still_completes_once(mesh: LocalMesh, api: httpx.Client,
                                                    finished: dict[str, Any]) -> None:
    started = api.post("/api/v1/analyze", json={"dataset_id": finished["dataset"]["dataset_id"], "target": "Species",
                                                "options": {"time_budget_s": 25}})
    job = started.json()["data"]["analysis_id"]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        state = api.get(f"/api/v1/jobs/{job}").json()["data"]
        if state["stage"] == "ml" or state["status"] in ("completed", "failed"):
            break
        time.sleep(0.3)
    assert state["stage"] == "ml" and state["status"] == "running", state
    time.sleep(4)  # well inside AutoML's budget
    mesh.kill("ml")
    mesh.start("ml")
    mesh.wait_ready(["ml"])
    final = wait_for_job(api, job, timeout=400)
    assert final["status"] == "completed", final
    for service, (table, key) in RESULT_TABLES.items():
        if key == "job_id":
            (count,) = _sql(mesh, f"SELECT count(*) FROM {service}.{table} WHERE job_id = %s", (job,))[0]
            assert count == 1, f"{service}.{table}: {count} rows"
    (models,) = _sql(mesh, "SELECT count(*) FROM ml.models WHERE job_id = %s", (job,))[0]
    assert models == 1
    (redelivered,) = _sql(mesh, "SELECT count(*) FROM ml.inbox WHERE routing_key = 'dataset.transformed.v1' "
                                "AND event_id IN (SELECT event_id FROM etl.outbox WHERE body::jsonb->>'job_id' = %s)",
                          (job,))[0]
    assert redelivered == 1


async def _dead_letters(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        underlay = await channel.get_underlay_channel()
        return (await underlay.queue_declare(queue, passive=True)).message_count or 0


def test_a_poison_event_is_dead_lettered_and_the_job_fails_with_a_reason(
        mesh: LocalMesh, api: httpx.Client, finished: dict[str, Any]) -> None:
    mesh.stop("profile")  # hold the real pipeline so the poison event is the first thing etl sees of this job
    try:
        started = api.post("/api/v1/analyze", json={"dataset_id": finished["dataset"]["dataset_id"],
                                                    "options": {"time_budget_s": 5}})
        job = started.json()["data"]["analysis_id"]
        poison = json.dumps({"event_id": str(uuid.uuid4()), "type": "dataset.profiled", "version": 1,
                             "occurred_at": "2026-01-01T00:00:00Z", "job_id": job, "producer": "profile",
                             "payload": {"dataset_id": "not-a-uuid", "quality_score": "high"}})

        async def scenario() -> list[dict[str, Any]]:
            listener = asyncio.create_task(follow(_ws_url(mesh), job, token=_token(api), timeout=120))
            await asyncio.sleep(1.0)
            await _republish(mesh.amqp_url, "dsp.events", [(str(uuid.uuid4()), "dataset.profiled.v1", poison)], 1)
            return await listener

        messages = asyncio.run(scenario())
    finally:
        mesh.start("profile")
        mesh.wait_ready(["profile"])
    last = messages[-1]
    assert last["type"] == "error.occurred", messages
    assert last["code"] == "poison_message"
    # etl (its consumer) and the gateway (which reads every event) both refuse it; either may report first
    assert re.match(r"The (etl|gateway) stage received a dataset.profiled.v1 event it could not read: "
                    r".*payload.dataset_id", last["message"]), last["message"]
    assert asyncio.run(_dead_letters(mesh.amqp_url, "dsp.etl.dlq")) >= 1
    job_state = api.get(f"/api/v1/analysis/{job}").json()["data"]
    assert job_state["status"] == "failed" and job_state["error"]["code"] == "poison_message"


def _spooled_and_raw(mesh: LocalMesh) -> tuple[list[Path], list[Path]]:
    spool = list((mesh.artifact_dir / ".spool").glob("*")) if (mesh.artifact_dir / ".spool").exists() else []
    raws = list((mesh.artifact_dir / "datasets").glob("*/raw"))
    return spool, raws


def test_bad_input_gets_a_typed_4xx_and_leaves_nothing_behind(mesh: LocalMesh, api: httpx.Client,
                                                             finished: dict[str, Any], tmp_path: Path) -> None:
    _, raws_before = _spooled_and_raw(mesh)

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    _assert_error(_upload(api, empty), 400, "empty_file")

    binary = tmp_path / "image.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    _assert_error(_upload(api, binary), 415, "unsupported_format")

    huge = tmp_path / "huge.csv"
    row = b"1,2,3,4,5,6,7,8,9,10\n"
    huge.write_bytes(b"a,b,c,d,e,f,g,h,i,j\n" + row * (MAX_UPLOAD_BYTES // len(row) + 10))
    _assert_error(_upload(api, huge), 413, "file_too_large")

    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,name,score\n1,ann,3.5\n2,bob,4.0,extra,fields\n3,cy,2.5\n4,dee\n5,eve,1.0\n")
    body = _assert_error(_upload(api, ragged), 422, "csv_ragged_rows")
    dataset_id = body["errors"][0]["details"]["dataset_id"]
    rejected = api.get(f"/api/v1/datasets/{dataset_id}").json()["data"]
    assert rejected["status"] == "rejected" and rejected["error"]["code"] == "csv_ragged_rows"

    missing = str(uuid.uuid4())
    _assert_error(api.get(f"/api/v1/datasets/{missing}"), 404, "not_found")
    _assert_error(api.get(f"/api/v1/analysis/{missing}"), 404, "not_found")
    _assert_error(api.get(f"/api/v1/dashboard/{missing}"), 404, "not_found")
    _assert_error(api.get("/api/v1/dashboard/not-an-id"), 404, "not_found")
    _assert_error(api.post("/api/v1/analyze", json={"dataset_id": missing}), 404, "not_found")
    _assert_error(api.post("/api/v1/export", json={"analysis_id": missing}), 404, "not_found")
    _assert_error(api.post("/api/v1/analyze", json={"dataset_id": "nope"}), 422, "validation_error")
    accepted = finished["dataset"]["dataset_id"]
    _assert_error(api.post("/api/v1/analyze", json={"dataset_id": accepted, "target": "nope"}),
                  422, "target_not_found")
    _assert_error(api.post("/api/v1/analyze", json={"dataset_id": accepted,
                                                    "options": {"time_budget_s": 86400}}), 422, "invalid_options")

    spool, raws_after = _spooled_and_raw(mesh)
    assert spool == [], f"partial uploads left in the spool: {spool}"
    assert sorted(raws_after) == sorted(raws_before), "a rejected upload left its raw file behind"


def test_every_service_reports_health_and_metrics(mesh: LocalMesh) -> None:
    for service in SERVICES:
        for probe in ("live", "ready", "startup"):
            response = httpx.get(f"{mesh.url(service)}/health/{probe}", timeout=10)
            assert response.status_code == 200, (service, probe, response.text)
        ready = httpx.get(f"{mesh.url(service)}/health/ready", timeout=10).json()
        assert ready["checks"]["postgres"] == "ok" and ready["checks"]["rabbitmq"] == "ok"
        metrics = httpx.get(mesh.metrics_url(service), timeout=10).text  # the internal listener
        assert "dsp_http_requests_total" in metrics
        public = httpx.get(f"{mesh.url(service)}/metrics", timeout=10)
        assert public.status_code == 404, f"{service} serves /metrics on its public port"


def test_logs_are_json_with_job_and_trace_ids(mesh: LocalMesh, finished: dict[str, Any]) -> None:
    job = finished["analysis_id"]
    trace_ids: set[str] = set()
    for service in ("profile", "etl", "ml", "dashboard"):
        lines = [json.loads(line) for line in mesh.log_file(service).read_text().splitlines()
                 if line.startswith("{")]
        handled = [entry for entry in lines if entry.get("job_id") == job and entry["message"].startswith("handled")]
        assert handled, f"{service} logged no handled event for the job"
        trace_ids |= {entry["trace_id"] for entry in handled}
    assert len(trace_ids) == 1 and None not in trace_ids, f"one trace should span the job: {trace_ids}"


def test_a_model_trained_through_the_mesh_predicts_new_rows_through_the_gateway(
        mesh: LocalMesh, api: httpx.Client, finished: dict[str, Any], samples: Path) -> None:
    import polars as pl

    job = api.get(f"/api/v1/analysis/{finished['analysis_id']}").json()["data"]
    model_id = job["model_id"]
    assert model_id, "the analysis registered no model"
    raw = pl.read_csv(samples / "penguins-raw.csv", infer_schema_length=0).tail(12)
    truth = raw.get_column("Species").to_list()
    rows = raw.drop("Species").to_dicts()  # new rows arrive raw: the fitted ETL pipeline runs first
    answer = api.post(f"/api/v1/models/{model_id}/predict", params={"explain": "true"}, json={"rows": rows})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["target"] == "Species"
    predictions = [r["prediction"] for r in data["rows"]]
    assert len(predictions) == len(rows)
    assert set(predictions) <= set(pl.read_csv(samples / "penguins-raw.csv")["Species"].unique().to_list())
    assert sum(p == t for p, t in zip(predictions, truth, strict=True)) >= 9
    assert all(r["contributions"] for r in data["rows"])

    as_csv = raw.drop("Species").write_csv()
    answer = api.post(f"/api/v1/models/{model_id}/predict", content=as_csv, headers={"content-type": "text/csv"})
    assert answer.status_code == 200, answer.text
    assert [r["prediction"] for r in answer.json()["data"]["rows"]] == predictions

    _assert_error(api.post(f"/api/v1/models/{uuid.uuid4()}/predict", json={"rows": rows}), 404, "not_found")
    _assert_error(api.post(f"/api/v1/models/{model_id}/predict", json={"rows": "nope"}), 422, "invalid_rows")
    bad = _assert_error(api.post(f"/api/v1/models/{model_id}/predict",
                                 json={"rows": [{"foo": "bar", "Culmen Length (mm)": "abc"}]}), 422, "unparseable_values")
    assert "Culmen Length (mm)" in bad["errors"][0]["message"]
    assert bad["errors"][0]["details"]["values"] == {"Culmen Length (mm)": [{"row": 0, "value": "abc"}]}
    _assert_error(api.post(f"/api/v1/models/{model_id}/predict", params={"strict": "true"},
                           json={"rows": [{**rows[0], "foo": "bar"}]}), 422, "unknown_columns")
    metrics = httpx.get(mesh.metrics_url("ml"), timeout=10).text
    assert f'dsp_predictions_total{{model_id="{model_id}"}}' in metrics


def _charts(html: str) -> set[str]:
    """The charts a dashboard draws: its chart containers and its model charts."""
    return set(re.findall(r'id="([a-z0-9-]+-chart)"', html)) | set(re.findall(r'data-chart="([a-z0-9-]+)"', html))


_VOLATILE_PROFILE = {"generated_at", "elapsed_seconds"}


def _rounded(value: Any) -> Any:
    """A JSON document with every float rounded to 9 significant digits."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
# the parts of an analysis that AutoML's randomness and the clock do not touch
_STABLE_ANALYSIS = ("task", "sampling", "row_count", "column_count", "descriptive", "feature_tests", "distributions",
                    "associations", "clustering", "anomalies", "time_patterns", "forecasts", "leakage")


def test_dsp_and_the_mesh_produce_the_same_documents(api: httpx.Client, finished: dict[str, Any], samples: Path,
                                                     tmp_path: Path) -> None:
    """One pipeline: the local command and the services run the same use cases on the same file."""
    import subprocess
    import sys

    out = tmp_path / "dsp"
    local = subprocess.run([sys.executable, "-m", "dsp_cli.main", "analyze", str(samples / "penguins-raw.csv"),
                            "--target", "Species", "--time-budget", "15", "--out", str(out), "--quiet"],
                           capture_output=True, text=True, timeout=600)
    assert local.returncode == 0, local.stderr[-3000:]

    def exported(fmt: str) -> httpx.Response:
        response = api.post("/api/v1/export", json={"analysis_id": finished["analysis_id"], "format": fmt})
        assert response.status_code == 200, response.text
        return response

    mesh_profile, dsp_profile = exported("profile").json(), json.loads((out / "profile.json").read_text())
    for document in (mesh_profile, dsp_profile):
        for key in _VOLATILE_PROFILE:
            document.pop(key)
    assert mesh_profile == dsp_profile

    mesh_analysis, dsp_analysis = exported("analysis").json(), json.loads((out / "analysis.json").read_text())
    for part in _STABLE_ANALYSIS:  # equal up to the last bits of floating-point sums
        assert _rounded(mesh_analysis[part]) == _rounded(dsp_analysis[part]), part
    assert mesh_analysis["model"]["features"] == dsp_analysis["model"]["features"]

    mesh_html, dsp_html = exported("html").text, (out / "dashboard.html").read_text()
    assert _charts(mesh_html) == _charts(dsp_html) and len(_charts(dsp_html)) > 10
    assert "<title>penguins-raw.csv: analysis</title>" in mesh_html and "<title>penguins-raw.csv: analysis</title>" in dsp_html
    with zipfile.ZipFile(io.BytesIO(exported("zip").content)) as archive:
        assert {"index.html", "THIRD_PARTY_NOTICES.txt"} <= set(archive.namelist())
