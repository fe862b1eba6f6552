"""The web UI's gateway routes against the real PostgreSQL, RabbitMQ and Redis: signed dashboard view links
(valid, expired, tampered, another organisation's, another dashboard's) and re-ingesting a stored upload with
type overrides (ingest played by the test on the real broker)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from dsp_gateway.domain.view_links import issue_view_token
from dsp_gateway.entrypoints.api import DASHBOARD_HEADERS
from fastapi import FastAPI
from mesh_kit.artifacts import open_store
from mesh_kit.settings import MeshSettings

from .gateway_harness import Account, running_gateway
from .test_gateway_upload import SAMPLES, PlayedIngest, gateway_database  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

PASSWORD = "a-views-test-password"


@dataclass
class Views:
    app: FastAPI
    clients: dict[str, httpx.AsyncClient]
    anonymous: httpx.AsyncClient
    settings: MeshSettings
    database_url: str
    ingest: PlayedIngest


@pytest.fixture
async def views(infra, gateway_database: str, tmp_path: Path,  # noqa: F811
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Views]:
    """The gateway; analyst ana and viewer vic of one organisation, analyst eve of another."""
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("DSP_UPLOAD_WAIT_S", "8")
    monkeypatch.setenv("DSP_REDIS_NAMESPACE", f"{infra.redis_namespace}-views-{suffix}")
    accounts = {name: Account(f"{name}-{suffix}@views.example", role, organization) for name, (role, organization)
                in {"ana": ("analyst", f"one-{suffix}"), "vic": ("viewer", f"one-{suffix}"),
                    "eve": ("analyst", f"two-{suffix}")}.items()}
    async with running_gateway(infra, gateway_database, tmp_path, accounts, password=PASSWORD, prefix="v") as gw:
        yield Views(app=gw.app, clients=gw.clients, anonymous=gw.anonymous, settings=gw.settings,
                    database_url=gateway_database, ingest=gw.ingest)


async def _uploaded(client: httpx.AsyncClient, name: str = "penguins-raw.csv") -> dict[str, Any]:
    response = await client.post("/api/v1/upload", files={
        "file": (name, (SAMPLES / "penguins-raw.csv").read_bytes(), "text/csv")})
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def _organization(client: httpx.AsyncClient) -> uuid.UUID:
    return uuid.UUID((await client.get("/api/v1/me")).json()["data"]["organization_id"])


async def _dashboard(views: Views, client: httpx.AsyncClient, html: bytes) -> str:
    """A dashboard of the client's organisation in the read model, its HTML in the store (as the dashboard
    stage leaves them)."""
    dataset = await _uploaded(client)
    me = (await client.get("/api/v1/me")).json()["data"]
    dashboard_id = uuid.uuid4()
    ref = open_store(views.settings.artifact_url).put_bytes(f"dashboards/{dashboard_id}/dashboard.html", html,
                                                            media_type="text/html")
    with psycopg.connect(views.database_url) as conn:
        conn.execute("INSERT INTO gateway.dashboards (dashboard_id, job_id, dataset_id, html, organization_id,"
                     " owner_id) VALUES (%s, %s, %s, %s, %s, %s)",
                     (dashboard_id, dataset["job_id"], dataset["dataset_id"], ref.model_dump_json(),
                      me["organization_id"], me["user_id"]))
    return str(dashboard_id)


async def _link(client: httpx.AsyncClient, dashboard_id: str) -> str:
    response = await client.post(f"/api/v1/dashboard/{dashboard_id}/view-link")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert 0 < data["expires_at"] - time.time() <= 300 and data["expires_in"] == 300
    return data["url"]


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def test_a_view_link_opens_its_dashboard_without_a_bearer_under_the_dashboards_own_headers(views: Views) -> None:
    html = b"<!doctype html><title>d</title><script>document.title='ran'</script>"
    dashboard_id = await _dashboard(views, views.clients["ana"], html)
    url = await _link(views.clients["vic"], dashboard_id)  # a viewer may look at it too
    assert url.startswith(f"/api/v1/views/dashboards/{dashboard_id}?token=")

    opened = await views.anonymous.get(url)

    assert opened.status_code == 200, opened.text
    assert opened.content == html
    assert opened.headers["content-type"].startswith("text/html")
    assert opened.headers["content-security-policy"] == DASHBOARD_HEADERS["Content-Security-Policy"]
    assert opened.headers["referrer-policy"] == "no-referrer"
    assert "x-frame-options" not in opened.headers  # framed by the web UI (frame-ancestors 'self')
    assert opened.headers["cache-control"] == "private, no-store"


async def test_an_expired_tampered_or_missing_token_is_refused(views: Views) -> None:
    ana = views.clients["ana"]
    dashboard_id = await _dashboard(views, ana, b"<html>secret</html>")
    token = _token(await _link(ana, dashboard_id))
    ring = views.app.state.runtime.extras["gateway"].identity.ring
    organization = await _organization(ana)
    expired = issue_view_token(ring, uuid.UUID(dashboard_id), organization, now=time.time() - 301).token
    kid, expires, org, mac = token.rsplit(".", 3)
    later = f"{kid}.{int(expires) + 3600}.{org}.{mac}"  # a longer life without a new MAC
    flipped = f"{kid}.{expires}.{org}.{mac[:-2]}{'A' if mac[-2] != 'A' else 'B'}{mac[-1]}"
    other_kid = f"not-a-key.{expires}.{org}.{mac}"
    base = f"/api/v1/views/dashboards/{dashboard_id}"
    for bad in (expired, later, flipped, other_kid, "", "garbage", token + "x"):
        refused = await views.anonymous.get(base, params={"token": bad})
        assert refused.status_code == 403, (bad, refused.text)
        assert refused.json()["errors"][0]["code"] == "invalid_link"
        assert b"secret" not in refused.content
    assert (await views.anonymous.get(base)).status_code == 403
    assert (await views.anonymous.get(base, params={"token": token})).status_code == 200  # the genuine one works


async def test_a_link_opens_only_its_own_dashboard(views: Views) -> None:
    ana = views.clients["ana"]
    first = await _dashboard(views, ana, b"<html>first</html>")
    second = await _dashboard(views, ana, b"<html>second</html>")
    token = _token(await _link(ana, first))
    refused = await views.anonymous.get(f"/api/v1/views/dashboards/{second}", params={"token": token})
    assert refused.status_code == 403
    assert b"second" not in refused.content


async def test_another_organisation_can_neither_get_nor_use_a_link(views: Views) -> None:
    ana, eve = views.clients["ana"], views.clients["eve"]
    dashboard_id = await _dashboard(views, ana, b"<html>ana's</html>")
    asked = await eve.post(f"/api/v1/dashboard/{dashboard_id}/view-link")
    assert asked.status_code == 404 and asked.json()["errors"][0]["code"] == "not_found"
    # a genuine link of eve's organisation, for ana's dashboard id: signed, but the organisation does not hold it
    ring = views.app.state.runtime.extras["gateway"].identity.ring
    theirs = issue_view_token(ring, uuid.UUID(dashboard_id), await _organization(eve)).token
    opened = await views.anonymous.get(f"/api/v1/views/dashboards/{dashboard_id}", params={"token": theirs})
    assert opened.status_code == 404
    assert b"ana's" not in opened.content
    # and ana's own token with eve's organisation written in breaks the MAC
    kid, expires, _, mac = _token(await _link(ana, dashboard_id)).rsplit(".", 3)
    swapped = f"{kid}.{expires}.{await _organization(eve)}.{mac}"
    assert (await views.anonymous.get(f"/api/v1/views/dashboards/{dashboard_id}",
                                      params={"token": swapped})).status_code == 403


async def _until_status(client: httpx.AsyncClient, dataset_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data = (await client.get(f"/api/v1/datasets/{dataset_id}")).json()["data"]
        if data["status"] != "uploaded" or time.monotonic() > deadline:
            return data
        await asyncio.sleep(0.2)


async def test_reingest_reads_the_stored_file_again_as_a_new_upload_with_the_overrides(views: Views) -> None:
    ana = views.clients["ana"]
    source = await _uploaded(ana, "reingest-me.csv")
    overrides = {"Sample Number": "identifier", "Body Mass (g)": "float"}

    started = await ana.post(f"/api/v1/datasets/{source['dataset_id']}/reingest", json={"type_overrides": overrides})

    assert started.status_code == 202, started.text
    data = started.json()["data"]
    assert data["source_dataset_id"] == source["dataset_id"] and data["dataset_id"] != source["dataset_id"]
    job = (await ana.get(f"/api/v1/jobs/{data['job_id']}")).json()["data"]
    assert job["kind"] == "upload" and job["dataset_id"] == data["dataset_id"]
    assert job["options"]["ingest"]["type_overrides"] == overrides
    fresh = await _until_status(ana, data["dataset_id"])
    assert fresh["status"] == "ingested" and fresh["name"] == "reingest-me.csv"  # ingest read the copied raw file
    assert views.ingest.seen.count("reingest-me.csv") == 2
    with psycopg.connect(views.database_url) as conn:
        raws = dict(conn.execute("SELECT dataset_id::text, raw FROM gateway.datasets WHERE dataset_id = ANY(%s)",
                                 ([uuid.UUID(source["dataset_id"]), uuid.UUID(data["dataset_id"])],)).fetchall())
    assert raws[source["dataset_id"]]["sha256"] == raws[data["dataset_id"]]["sha256"]
    assert raws[source["dataset_id"]]["key"] != raws[data["dataset_id"]]["key"]  # a copy: deleting one keeps the other


async def test_reingest_refuses_unknown_columns_types_viewers_and_other_organisations(views: Views) -> None:
    ana, vic, eve = views.clients["ana"], views.clients["vic"], views.clients["eve"]
    source = await _uploaded(ana)
    url = f"/api/v1/datasets/{source['dataset_id']}/reingest"
    unknown = await ana.post(url, json={"type_overrides": {"No Such Column": "float"}})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["code"] == "unknown_column"
    assert "No Such Column" in unknown.json()["errors"][0]["message"]
    bad_type = await ana.post(url, json={"type_overrides": {"Species": "colour"}})
    assert bad_type.status_code == 422
    assert (await vic.post(url, json={"type_overrides": {}})).status_code == 403
    assert (await eve.post(url, json={"type_overrides": {}})).status_code == 404
    listed = (await ana.get("/api/v1/datasets", params={"limit": 500})).json()["data"]["items"]
    assert [d["dataset_id"] for d in listed].count(source["dataset_id"]) == 1


async def test_a_reingest_and_its_retry_at_once_with_one_key_make_one_dataset(views: Views) -> None:
    ana = views.clients["ana"]
    source = await _uploaded(ana, "reingest-keyed.csv")
    url = f"/api/v1/datasets/{source['dataset_id']}/reingest"
    body, key = {"type_overrides": {"Sample Number": "identifier"}}, {"Idempotency-Key": str(uuid.uuid4())}

    first, twin = await asyncio.gather(*(ana.post(url, json=body, headers=key) for _ in range(2)))

    assert first.status_code == twin.status_code == 202, first.text
    assert first.json() == twin.json()
    with psycopg.connect(views.database_url) as conn:
        copies = conn.execute("SELECT count(*) FROM gateway.datasets WHERE display_name = 'reingest-keyed.csv'"
                              " AND organization_id = %s", (await _organization(ana),)).fetchone()
    assert copies is not None and copies[0] == 2  # the upload and one re-ingested copy
    other = await ana.post(url, json={"type_overrides": {}}, headers=key)
    assert other.status_code == 422 and other.json()["errors"][0]["code"] == "idempotency_key_reused"
