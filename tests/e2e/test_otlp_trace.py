"""Traces leave the processes over OTLP/HTTP, and one job is one trace across the six services.

The session's mesh exports its spans to a receiver on loopback (``otlp``). One upload that asks for its analysis
flows through every stage (ingest, profile, etl, ml, dashboard, and the gateway's read model); its spans must all
carry one trace id, form one tree under the gateway's request, come from every service, and hold the span of each
stage's use case.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from shared_contracts.manifest import SERVICES

from .helpers import wait_for_job
from .otlp import Receiver

pytestmark = pytest.mark.e2e

USE_CASES = {  # the use case of each stage that a job with a target runs
    "dsp-ingest": "when_dataset_uploaded_ingest",
    "dsp-profile": "when_dataset_ingested_profile",
    "dsp-etl": "when_dataset_profiled_clean",
    "dsp-ml": "when_dataset_transformed_analyze",
    "dsp-dashboard": "when_analysis_completed_build_dashboard",
    "dsp-gateway": "when_any_event_update_read_model",
}


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


def test_one_job_is_one_trace_across_the_six_services(api: httpx.Client, otlp: Receiver, samples: Path) -> None:
    with otlp.recording():
        _one_job_is_one_trace(api, otlp, samples / "penguins-raw.csv")


def _one_job_is_one_trace(api: httpx.Client, receiver: Receiver, sample: Path) -> None:
    answer = api.post("/api/v1/upload", files={"file": (sample.name, sample.read_bytes(), "text/csv")},
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
