"""Cancelling an analysis in the running mesh (every service a process, each with its own broker user): the
gateway ends the job at once as ``cancelled``; ml, busy with the job, is told through its control queue and
records nothing of it (at the latest its unit of work refuses to commit), acknowledging with ``job.cancelled``;
the job's later events change nothing; no ``stage.failed``, no dead letter, no model."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psycopg
import pytest
from mesh_kit.local_mesh import LocalMesh

from .helpers import upload

pytestmark = pytest.mark.e2e


def _wait(api: httpx.Client, path: str, until, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        data = api.get(path).json()["data"]
        if until(data) or time.monotonic() > deadline:
            return data
        time.sleep(0.3)


def test_an_analysis_cancelled_during_ml_ends_cancelled_and_ml_records_nothing(
        mesh: LocalMesh, api: httpx.Client, samples: Path) -> None:
    uploaded = upload(api, samples / "penguins-raw.csv")
    assert uploaded.status_code == 201, uploaded.text
    started = api.post("/api/v1/analyze", json={"dataset_id": uploaded.json()["data"]["dataset_id"],
                                                "target": "Species", "options": {"time_budget_s": 10}})
    assert started.status_code == 202, started.text
    job = started.json()["data"]["analysis_id"]
    state = _wait(api, f"/api/v1/jobs/{job}",
                  lambda j: j["stage"] == "ml" or j["status"] in ("completed", "failed", "cancelled"), 180)
    assert (state["stage"], state["status"]) == ("ml", "running"), state
    asked = time.monotonic()
    cancelled = api.post(f"/api/v1/jobs/{job}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["data"]["status"] == "cancelled", cancelled.text
    print(f"\nthe gateway answered the cancel in {(time.monotonic() - asked) * 1000:.0f} ms")

    acked = _wait(api, f"/api/v1/jobs/{job}",
                  lambda j: any(a["stage"] == "ml" for a in j["cancellation"]["stages"]), 120)
    ack = next(a for a in acked["cancellation"]["stages"] if a["stage"] == "ml")
    print(f"ml acknowledged at {ack['step']!r}, {ack['stopped_after_s']} s after the request")
    assert acked["status"] == "cancelled" and acked["model_id"] is None and acked["dashboard_id"] is None

    with psycopg.connect(mesh.admin_database_url) as conn:
        failed = conn.execute("SELECT count(*) FROM gateway.job_events WHERE job_id = %s"
                              " AND routing_key = 'stage.failed.v1'", (job,)).fetchone()
        models = conn.execute("SELECT count(*) FROM gateway.models WHERE job_id = %s", (job,)).fetchone()
        recorded = {service: conn.execute(f"SELECT count(*) FROM {service}.cancelled_jobs WHERE job_id = %s",
                                          (job,)).fetchone() for service in ("ingest", "profile", "etl", "ml")}
    assert failed == (0,) and models == (0,)
    deadline = time.monotonic() + 30  # each stage's own queue delivers job.cancel_requested once, durably
    while any(count != (1,) for count in recorded.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        with psycopg.connect(mesh.admin_database_url) as conn:
            recorded = {service: conn.execute(f"SELECT count(*) FROM {service}.cancelled_jobs WHERE job_id = %s",
                                              (job,)).fetchone() for service in ("ingest", "profile", "etl", "ml")}
    assert all(count == (1,) for count in recorded.values()), recorded
