"""The access middleware: request ids on answers and log lines, one JSON access line per request, RED metrics by
route template, the gauge of open WebSockets; and the bounds of the metrics' labels."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from mesh_kit.access import AccessMiddleware
from mesh_kit.logs import JsonFormatter
from mesh_kit.metrics import JOBS, OTHER, WEBSOCKETS_OPEN, BoundedLabel
from prometheus_client import REGISTRY, generate_latest

SERVICE = "access-test"


@dataclass(frozen=True)
class Caller:
    user_id: uuid.UUID
    api_key_id: uuid.UUID | None = None


CALLER = Caller(uuid.uuid4(), uuid.uuid4())


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the service logs, as its JSON lines."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter(SERVICE))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _records(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def _app() -> FastAPI:
    app = FastAPI()
    seen: dict[str, object] = {}

    @app.get("/jobs/{job_id}")
    async def job(request: Request, job_id: str) -> dict[str, str]:
        request.state.principal = CALLER
        logging.getLogger("dsp.test").info("reading the job")
        return {"request_id": request.state.request_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        seen["open"] = WEBSOCKETS_OPEN.labels(SERVICE, "/ws")._value.get()
        await websocket.send_text("bye")
        await websocket.close()

    app.state.seen = seen
    app.add_middleware(AccessMiddleware, service=SERVICE)
    return app


def test_one_access_line_per_request_with_the_request_id_on_every_line(lines: io.StringIO) -> None:
    given, job = uuid.uuid4(), uuid.uuid4()
    with TestClient(_app()) as client:
        answer = client.get(f"/jobs/{job}", headers={"X-Request-ID": str(given).upper()})
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == str(given) == answer.json()["request_id"]
    records = _records(lines)
    inner = next(r for r in records if r["logger"] == "dsp.test")
    assert inner["request_id"] == str(given)
    access = [r for r in records if r["logger"] == "dsp.access"]
    assert len(access) == 1
    (line,) = access
    assert line["request_id"] == str(given) and line["service"] == SERVICE
    assert (line["method"], line["route"], line["status"]) == ("GET", "/jobs/{job_id}", 200)
    assert line["principal"] == str(CALLER.user_id) and line["api_key_id"] == str(CALLER.api_key_id)
    assert line["job_id"] == str(job)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_a_request_id_that_is_no_uuid_is_replaced_and_a_failure_is_logged_as_500(lines: io.StringIO) -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        answer = client.get("/boom", headers={"X-Request-ID": "<script>"})
        missing = client.get("/jobs/not-an-id/more", headers={"X-Request-ID": "<script>"})
    assert answer.status_code == 500 and missing.status_code == 404
    rid = missing.headers["x-request-id"]
    assert rid != "<script>" and str(uuid.UUID(rid)) == rid
    access = [r for r in _records(lines) if r["logger"] == "dsp.access"]
    assert [(r["route"], r["status"]) for r in access] == [("/boom", 500), ("unmatched", 404)]
    assert access[1]["request_id"] == rid and uuid.UUID(str(access[0]["request_id"]))
    assert "principal" not in access[0] and "<script>" not in lines.getvalue()
    metrics = generate_latest(REGISTRY).decode()
    assert f'dsp_http_requests_total{{method="GET",route="/boom",service="{SERVICE}",status="500"}}' in metrics


def test_open_websockets_are_counted_from_accept_to_close(lines: io.StringIO) -> None:
    app = _app()
    gauge = WEBSOCKETS_OPEN.labels(SERVICE, "/ws")
    before = gauge._value.get()
    with TestClient(app) as client, client.websocket_connect("/ws") as socket:
        socket.send_text("hello")
        assert socket.receive_text() == "bye"
    assert app.state.seen["open"] == before + 1
    assert gauge._value.get() == before
    (line,) = [r for r in _records(lines) if r["logger"] == "dsp.access"]
    assert (line["method"], line["route"], line["status"]) == ("WS", "/ws", 101)


def test_a_bounded_label_folds_the_values_past_its_limit_into_other() -> None:
    models = BoundedLabel(3)
    ids = [str(uuid.uuid4()) for _ in range(10)]
    assert [models.value(i) for i in ids] == [*ids[:3], *[OTHER] * 7]
    assert models.value(ids[1]) == ids[1]  # the kept ones keep their series


def test_no_created_series_and_jobs_counted_by_service() -> None:
    JOBS.labels("gateway", "completed").inc()
    exposed = generate_latest(REGISTRY).decode()
    assert 'dsp_jobs_total{outcome="completed",service="gateway"}' in exposed
    assert "_created" not in exposed
