"""Deletion over the real mesh: after DELETE, no table of any service holds the dataset id (read as that
service's own role) and the artifact store holds none of its keys; every route of it answers 404."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from mesh_kit.db import role_name, with_user
from mesh_kit.local_mesh import LocalMesh
from psycopg import sql
from shared_contracts.manifest import SERVICES

from ..auth_helpers import SignedIn
from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from .helpers import wait_for_job

pytestmark = pytest.mark.e2e

EXEMPT_TABLE_PREFIXES = {"gateway": ("audit",)}
"""The audit log keeps who deleted what: the one documented exception to the erasure."""


@pytest.fixture(scope="module")
def client(mesh: LocalMesh) -> Iterator[httpx.Client]:
    """The gateway as the bootstrap admin, who owns the dataset it deletes."""
    auth = SignedIn(mesh.url("gateway"), ADMIN_EMAIL, ADMIN_PASSWORD)
    with httpx.Client(base_url=mesh.url("gateway"), timeout=120, auth=auth) as http:
        yield http


def _artifact_keys(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)}


def _rows_naming(mesh: LocalMesh, text: str) -> dict[str, int]:
    """For every table of every service, read as that service's role, the rows with ``text`` in any column."""
    found: dict[str, int] = {}
    for service in SERVICES:
        url = with_user(mesh.admin_database_url, role_name(service))
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role_name(service),)
            tables = [r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
                " AND table_type = 'BASE TABLE' ORDER BY table_name", (service,)).fetchall()]
            assert tables, f"{service} shows no tables to its own role"
            for table in tables:
                if table.startswith(EXEMPT_TABLE_PREFIXES.get(service, ())):
                    continue
                # the whole row as text: every column, jsonb and text included
                query = sql.SQL("SELECT count(*) FROM {}.{} AS t WHERE strpos(t::text, %s) > 0").format(
                    sql.Identifier(service), sql.Identifier(table))
                (count,) = conn.execute(query, (text,)).fetchone() or (0,)
                if count:
                    found[f"{service}.{table}"] = count
    return found


def _wait_for_deletion(client: httpx.Client, deletion_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/v1/deletions/{deletion_id}")
        assert response.status_code == 200, response.text
        deletion = response.json()["data"]
        if deletion["status"] == "completed" or time.monotonic() > deadline:
            return deletion
        time.sleep(0.5)


def test_a_deleted_dataset_leaves_no_row_and_no_artifact_in_any_service(
        mesh: LocalMesh, client: httpx.Client, samples: Path) -> None:
    root = mesh.artifact_dir
    before = _artifact_keys(root)
    with (samples / "penguins.csv").open("rb") as fh:
        uploaded = client.post("/api/v1/upload", files={"file": ("penguins.csv", fh, "text/csv")},
                               data={"target": "species", "options": '{"time_budget_s": 5}'})
    assert uploaded.status_code in (201, 202), uploaded.text
    data = uploaded.json()["data"]
    dataset_id, job_id = data["dataset_id"], data["analysis_id"]
    job = wait_for_job(client, job_id, timeout=300)
    assert job["status"] == "completed", job
    model_id, dashboard_id = job["model_id"], job["dashboard_id"]
    assert model_id and dashboard_id

    keys = _artifact_keys(root) - before
    assert any(k.startswith(f"datasets/{dataset_id}/") for k in keys), keys
    for kind, owner in (("jobs", job_id), ("models", model_id), ("dashboards", dashboard_id)):
        assert any(k.startswith(f"{kind}/{owner}/") for k in keys), (kind, keys)
    named = _rows_naming(mesh, dataset_id)
    # the search finds what there is to find: each service's results and its published events
    assert {"ingest.ingested_datasets", "profile.profiles", "etl.etl_runs", "ml.models", "ml.analyses",
            "dashboard.dashboards", "gateway.datasets", "gateway.jobs", "gateway.job_events"} <= set(named), named
    assert {f"{service}.outbox" for service in SERVICES} <= set(named), named

    deleted = client.delete(f"/api/v1/datasets/{dataset_id}")
    assert deleted.status_code == 202, deleted.text
    deletion = deleted.json()["data"]
    assert deletion["status"] == "pending" and deletion["reason"] == "requested"
    assert client.get(f"/api/v1/datasets/{dataset_id}").status_code == 404  # during the deletion already

    deletion = _wait_for_deletion(client, deletion["deletion_id"])
    assert deletion["status"] == "completed", deletion
    assert all(s["status"] == "purged" for s in deletion["services"].values()), deletion
    assert set(deletion["services"]) == set(SERVICES) - {"gateway"}

    assert _rows_naming(mesh, dataset_id) == {}
    left = _artifact_keys(root)
    assert not keys & left, sorted(keys & left)
    assert not (root / "datasets" / dataset_id).exists()
    assert not [k for k in left if dataset_id in k]

    for method, path, body in (
        ("GET", f"/api/v1/datasets/{dataset_id}", None),
        ("GET", f"/api/v1/datasets/{dataset_id}/profile", None),
        ("GET", f"/api/v1/jobs/{job_id}", None),
        ("GET", f"/api/v1/analysis/{job_id}", None),
        ("GET", f"/api/v1/dashboard/{dashboard_id}", None),
        ("POST", "/api/v1/export", {"analysis_id": job_id, "format": "csv"}),
        ("POST", "/api/v1/export", {"dataset_id": dataset_id, "format": "parquet"}),
        ("POST", f"/api/v1/models/{model_id}/predict", {"rows": [{"island": "Biscoe"}]}),
        ("POST", "/api/v1/analyze", {"dataset_id": dataset_id, "target": "species"}),
        ("DELETE", f"/api/v1/datasets/{dataset_id}", None),
    ):
        response = client.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
    listed = client.get("/api/v1/datasets", params={"limit": 500}).json()["data"]["items"]
    assert dataset_id not in [d["dataset_id"] for d in listed]
    shown = client.get(f"/api/v1/deletions/{deletion['deletion_id']}").text
    assert dataset_id not in shown


def test_an_unknown_deletion_answers_404(client: httpx.Client) -> None:
    assert client.get(f"/api/v1/deletions/{uuid.uuid4()}").status_code == 404
    assert client.delete(f"/api/v1/datasets/{uuid.uuid4()}").status_code == 404
