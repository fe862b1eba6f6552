"""Traces leave the processes over OTLP/HTTP, and one job is one trace across the six services.

A small OTLP/HTTP receiver listens on loopback and decodes what the services export (``ExportTraceServiceRequest``
of opentelemetry-proto); the mesh runs as processes with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at it. One
upload that asks for its analysis flows through every stage (ingest, profile, etl, ml, dashboard, and the
gateway's read model); its spans must all carry one trace id, form one tree under the gateway's request, come
from every service, and hold the span of each stage's use case.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from mesh_kit.local_mesh import LocalMesh
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from shared_contracts.manifest import SERVICES

from ..e2e.conftest import _free_ports
from ..e2e.helpers import login, wait_for_job

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "penguins-raw.csv"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@otlp.example", "otlp-admin-password-long-enough"
USE_CASES = {  # the use case of each stage that a job with a target runs
    "dsp-ingest": "when_dataset_uploaded_ingest",
    "dsp-profile": "when_dataset_ingested_profile",
    "dsp-etl": "when_dataset_profiled_clean",
    "dsp-ml": "when_dataset_transformed_analyze",
    "dsp-dashboard": "when_analysis_completed_build_dashboard",
    "dsp-gateway": "when_any_event_update_read_model",
}


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class Receiver(ThreadingHTTPServer):
    """OTLP/HTTP (protobuf) on ``/v1/traces``: keeps every span with its service's name."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add(self, request: ExportTraceServiceRequest) -> None:
        decoded = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    decoded.append({
                        "service": resource.get("service.name"), "scope": scope_spans.scope.name, "name": span.name,
                        "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                        "parent_id": span.parent_span_id.hex(), "kind": span.kind,
                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                    })
        with self.lock:
            self.spans.extend(decoded)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.spans)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces" or self.headers.get("content-type") != "application/x-protobuf":
            self.send_response(404)
            self.end_headers()
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.add(request)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def traced_mesh(infra, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    ports = _free_ports(2 * len(SERVICES))
    mesh = LocalMesh(
        state_dir=tmp_path_factory.mktemp("otlp-mesh"), admin_database_url=infra.admin_database_url,
        amqp_url=infra.amqp_url, redis_url=infra.redis_url, redis_namespace=infra.redis_namespace,
        ports=dict(zip(SERVICES, ports[: len(SERVICES)], strict=True)),
        metrics_ports=dict(zip(SERVICES, ports[len(SERVICES):], strict=True)),
        extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200",
                   "DSP_ENVIRONMENT": "test", "DSP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
                   "DSP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD, "DSP_JWT_SECRET": "otlp-jwt-secret-" + "x" * 40},
    )
    try:
        mesh.up()
    except Exception:
        for service in SERVICES:
            log = mesh.log_file(service)
            if log.exists():
                print(f"--- {service} log ---\n{log.read_text(errors='replace')[-4000:]}")
        mesh.down()
        raise
    yield mesh
    mesh.down()


def _job_spans(receiver: Receiver, job_id: str, timeout_s: float = 60) -> tuple[set[str], list[dict[str, Any]]]:
    """The trace ids of the job's use-case spans, and every span of those traces, once each stage's use case is
    in (the exporters send in batches)."""
    deadline = time.monotonic() + timeout_s
    while True:
        spans = receiver.snapshot()
        traces = {s["trace_id"] for s in spans if s["attributes"].get("dsp.job_id") == job_id}
        of_job = [s for s in spans if s["trace_id"] in traces]
        seen = {(s["service"], s["name"]) for s in of_job}
        if set(USE_CASES.items()) <= seen or time.monotonic() > deadline:
            time.sleep(1)  # the spans that end after the last use case (its events' publishes) are in by then
            spans = receiver.snapshot()
            return traces, [s for s in spans if s["trace_id"] in traces]
        time.sleep(0.3)


def test_one_job_is_one_trace_across_the_six_services(traced_mesh: LocalMesh, receiver: Receiver) -> None:
    headers = login(traced_mesh.url("gateway"), ADMIN_EMAIL, ADMIN_PASSWORD)
    with httpx.Client(base_url=traced_mesh.url("gateway"), headers=headers, timeout=120) as api:
        answer = api.post("/api/v1/upload", files={"file": (SAMPLE.name, SAMPLE.read_bytes(), "text/csv")},
                          data={"target": "Species", "wait": "false", "options": json.dumps({"time_budget_s": 10})})
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["data"]["job_id"]
        job = wait_for_job(api, job_id, timeout=300)
    assert job["status"] == "completed", job

    traces, spans = _job_spans(receiver, job_id)
    assert len(traces) == 1, f"the job's spans are in {len(traces)} traces"
    services = {s["service"] for s in spans}
    assert services == {f"dsp-{name}" for name in SERVICES}, services
    names = {(s["service"], s["name"]) for s in spans}
    for service, use_case in USE_CASES.items():
        assert (service, use_case) in names, f"no span of {use_case} in {service}"

    # one tree: every span's parent is in the trace, under one root, the gateway's request that started the job
    by_id = {s["span_id"]: s for s in spans}
    roots = [s for s in spans if not s["parent_id"]]
    assert [(r["service"], r["attributes"].get("http.route")) for r in roots] == [("dsp-gateway", "/api/v1/upload")]
    orphans = [(s["service"], s["name"]) for s in spans if s["parent_id"] and s["parent_id"] not in by_id]
    assert not orphans, f"spans whose parent is not in the trace: {orphans[:10]}"

    # the spans are the instrumentation packages': the request's, the queries', the messages'
    scopes = {s["scope"] for s in spans}
    assert {"opentelemetry.instrumentation.fastapi", "opentelemetry.instrumentation.psycopg",
            "opentelemetry.instrumentation.aio_pika"} <= scopes, scopes
    ingest = next(s for s in spans if s["name"] == USE_CASES["dsp-ingest"])
    assert by_id[ingest["parent_id"]]["scope"] == "opentelemetry.instrumentation.aio_pika"  # the consumer's span
    assert ingest["attributes"]["dsp.event"].startswith("dataset.uploaded")
    requests = [s for s in spans if s["scope"] == "opentelemetry.instrumentation.fastapi"]
    assert len(requests) == 1, [r["name"] for r in requests]  # one server span per request, no per-message spans
    assert not any(s["attributes"].get("http.route", "").startswith("/health") for s in receiver.snapshot())
