"""Who may reach what, over the real mesh: every route of the gateway's OpenAPI document asks for
credentials, another organisation's objects read exactly like missing ones on every route that takes
their id, the WebSocket refuses foreign Origins, bad tokens and other organisations' jobs, and a
viewer cannot start work. The route lists come from the running gateway's /openapi.json, so a new
route is covered the day it is added."""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets
from mesh_kit.local_mesh import LocalMesh
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ..auth_helpers import SignedIn, bearer
from .conftest import ALLOWED_ORIGIN
from .helpers import create_user, upload, ws_url

pytestmark = pytest.mark.e2e

PUBLIC_PREFIXES = ("/api/v1/auth/", "/api/v1/views/", "/health/", "/docs", "/redoc", "/openapi.json")
PASSWORD = "e2e-user-password-long-enough"
# which id of the first user's objects a path parameter or a body field takes
ID_KINDS = {"dataset_id": "dataset", "analysis_id": "analysis", "job_id": "analysis", "dashboard_id": "dashboard",
            "model_id": "model", "user_id": "user", "api_key_id": "api_key", "deletion_id": "deletion",
            "dataset_id_a": "dataset", "dataset_id_b": "dataset"}


def _openapi(mesh: LocalMesh) -> dict[str, Any]:
    response = httpx.get(f"{mesh.url('gateway')}/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every route that must be authenticated."""
    found = []
    for path, item in document["paths"].items():
        if path.startswith(PUBLIC_PREFIXES):
            continue
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method.upper(), path, operation))
    return found


def _create_user(mesh: LocalMesh, email: str, role: str, organization: str) -> dict[str, str]:
    """A user made with the gateway's own command, logged in."""
    return create_user(mesh, email, role, organization, PASSWORD)


@pytest.fixture(scope="module")
def outsider(mesh: LocalMesh) -> Iterator[httpx.Client]:
    """The admin of another organisation (every permission, so only the organisation can stop it)."""
    headers = _create_user(mesh, f"outsider-{uuid.uuid4().hex[:6]}@other.example", "admin",
                           f"other-{uuid.uuid4().hex[:6]}")
    with httpx.Client(base_url=mesh.url("gateway"), timeout=120, headers=headers) as client:
        yield client


@pytest.fixture(scope="module")
def viewer(mesh: LocalMesh) -> Iterator[httpx.Client]:
    """A viewer of the first user's own organisation."""
    headers = _create_user(mesh, f"viewer-{uuid.uuid4().hex[:6]}@e2e.example", "viewer", "default")
    with httpx.Client(base_url=mesh.url("gateway"), timeout=120, headers=headers) as client:
        yield client


@pytest.fixture(scope="module")
def owned(mesh: LocalMesh, api: httpx.Client, finished: dict[str, Any], samples: Path) -> dict[str, str]:
    """The first user's dataset, analysis, dashboard and model ids, their user id, an API key's id and,
    where the gateway has deletions, the id of one."""
    analysis = api.get(f"/api/v1/analysis/{finished['analysis_id']}").json()["data"]
    assert analysis["status"] == "completed", analysis
    assert analysis["dashboard_id"] and analysis["model_id"], analysis
    key = api.post("/api/v1/api-keys", json={"name": "ownership-e2e"})
    assert key.status_code == 201, key.text
    ids = {"dataset": finished["dataset"]["dataset_id"], "analysis": finished["analysis_id"],
           "dashboard": analysis["dashboard_id"], "model": analysis["model_id"],
           "user": api.get("/api/v1/me").json()["data"]["user_id"], "api_key": key.json()["data"]["id"]}
    if any("{deletion_id}" in path for path in _openapi(mesh)["paths"]):
        doomed = upload(api, samples / "penguins.csv")
        assert doomed.status_code == 201, doomed.text
        deleted = api.delete(f"/api/v1/datasets/{doomed.json()['data']['dataset_id']}")
        assert deleted.status_code == 202, deleted.text
        ids["deletion"] = deleted.json()["data"]["deletion_id"]
    return ids


def _assert_envelope_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, response.request.url, response.text[:500])
    body = response.json()
    assert body["status"] == "error" and body["data"] is None, body
    assert body["errors"] and body["errors"][0]["code"] and body["errors"][0]["message"], body
    assert set(body["meta"]) >= {"timestamp", "version", "request_id"}
    return body


def test_every_route_without_credentials_answers_401(mesh: LocalMesh) -> None:
    operations = _operations(_openapi(mesh))
    assert len(operations) >= 12, [f"{m} {p}" for m, p, _ in operations]
    with httpx.Client(base_url=mesh.url("gateway"), timeout=30) as anonymous:
        for method, path, _ in operations:
            url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
            for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"X-API-Key": "dsp_not_a_key"}):
                response = anonymous.request(method, url, headers=headers)
                _assert_envelope_error(response, 401)
                assert response.headers["www-authenticate"].lower().startswith("bearer"), (method, path)


def _body_schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return None
    ref = schema.get("$ref")
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def _calls_with_ids(document: dict[str, Any], ids: dict[str, str]) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(method, url, id field, json body) for every way a route takes an object id: one call per path
    parameter set and per *_id field of the JSON body."""
    calls: list[tuple[str, str, str, dict[str, Any] | None]] = []
    for method, path, operation in _operations(document):
        params = re.findall(r"\{([^}]+)\}", path)
        unknown = [p for p in params if p not in ID_KINDS]
        assert not unknown, f"{method} {path}: add its parameters {unknown} to ID_KINDS"
        url = path
        for param in params:
            url = url.replace(f"{{{param}}}", ids[ID_KINDS[param]])
        schema = _body_schema(document, operation)
        id_fields = [name for name in (schema or {}).get("properties", {}) if name.endswith("_id")
                     or name.startswith("dataset_id_")]
        required = [name for name in (schema or {}).get("required", []) if name in id_fields]
        for name in id_fields:
            assert name in ID_KINDS, f"{method} {path}: add its body field {name} to ID_KINDS"
            # the other ids the body requires are the first user's too (POST /compare takes two datasets)
            calls.append((method, url, name, {**{n: ids[ID_KINDS[n]] for n in required}, name: ids[ID_KINDS[name]]}))
        if params:
            body = {} if schema is not None else None
            if schema is not None and id_fields:
                continue  # the path and the body ids were all covered above
            calls.append((method, url, params[-1], body if method != "GET" else None))
    return calls


def _normalised(body: dict[str, Any], ids: dict[str, str]) -> list[dict[str, Any]]:
    """The errors of a response with the object ids taken out."""
    text = json.dumps(body["errors"])
    for value in ids.values():
        text = text.replace(value, "<id>")
    return json.loads(text)


def test_another_organisation_gets_404_exactly_like_a_missing_id_on_every_route(
        mesh: LocalMesh, api: httpx.Client, outsider: httpx.Client, owned: dict[str, str]) -> None:
    document = _openapi(mesh)
    missing = {kind: str(uuid.uuid4()) for kind in owned}
    calls = _calls_with_ids(document, owned)
    covered = {url.split("/")[3] for _, url, _, _ in calls}
    assert {"datasets", "analyze", "analysis", "jobs", "dashboard", "export", "models", "users", "api-keys"} <= covered, \
        covered
    for method, url, field, body in calls:
        foreign = outsider.request(method, url, json=body)
        foreign_body = _assert_envelope_error(foreign, 404)
        missing_url, missing_body = url, json.loads(json.dumps(body)) if body is not None else None
        for kind, value in owned.items():
            missing_url = missing_url.replace(value, missing[kind])
            if missing_body is not None:
                missing_body = {k: missing[kind] if v == value else v for k, v in missing_body.items()}
        absent = outsider.request(method, missing_url, json=missing_body)
        absent_body = _assert_envelope_error(absent, 404)
        assert _normalised(foreign_body, owned) == _normalised(absent_body, missing), (method, url, field)
        assert foreign.headers.get("content-type") == absent.headers.get("content-type")

    listed = outsider.get("/api/v1/datasets", params={"limit": 500}).json()["data"]
    assert owned["dataset"] not in [d["dataset_id"] for d in listed["items"]]
    assert listed["total"] == len(listed["items"])
    # the first user still has everything (no route acted on the foreign request)
    assert api.get(f"/api/v1/datasets/{owned['dataset']}").status_code == 200
    assert api.get(f"/api/v1/dashboard/{owned['dashboard']}").status_code == 200
    keys = {k["id"]: k for k in api.get("/api/v1/api-keys").json()["data"]["items"]}
    assert keys[owned["api_key"]]["revoked_at"] is None
    mine = api.get("/api/v1/datasets", params={"limit": 500}).json()["data"]
    assert owned["dataset"] in [d["dataset_id"] for d in mine["items"]]


def test_the_outsider_own_export_holds_nothing_of_the_first_user(outsider: httpx.Client,
                                                                 owned: dict[str, str]) -> None:
    response = outsider.get("/api/v1/me/export")
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert set(archive.namelist()) == {"account.json", "manifest.json"}
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["counts"] == {"datasets": 0, "jobs": 0, "dashboards": 0, "models": 0}
    assert not any(owned[kind] in response.content.decode("latin-1") for kind in ("dataset", "analysis", "model"))


def test_my_export_is_a_zip_of_my_account_datasets_jobs_and_documents(api: httpx.Client,
                                                                      owned: dict[str, str]) -> None:
    response = api.get("/api/v1/me/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith("attachment;")
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = set(archive.namelist())
        account = json.loads(archive.read("account.json"))
        dataset = json.loads(archive.read(f"datasets/{owned['dataset']}/dataset.json"))
        analysis = json.loads(archive.read(f"jobs/{owned['analysis']}/analysis.json"))
        manifest = json.loads(archive.read("manifest.json"))
    assert account["role"] == "admin" and account["email"]
    assert dataset["display_name"] == "penguins-raw.csv"
    assert analysis["task"]["target"] == "Species"
    assert {f"datasets/{owned['dataset']}/raw.csv", f"datasets/{owned['dataset']}/profile.json",
            f"jobs/{owned['analysis']}/job.json", f"jobs/{owned['analysis']}/cleaned.csv",
            f"dashboards/{owned['dashboard']}/dashboard.html", f"models/{owned['model']}.json"} <= names
    assert not [m for m in manifest["missing"] if m["file"].startswith(f"datasets/{owned['dataset']}/")], \
        manifest["missing"]
    assert not [m for m in manifest["missing"] if m["file"].endswith("/raw.csv")], "a rejected upload's raw is gone"


def _ws(mesh: LocalMesh, job_id: str, token: str | None = None, **kwargs: Any) -> Any:
    query = f"job_id={job_id}" + (f"&token={quote(token)}" if token else "")
    return websockets.connect(f"{ws_url(mesh)}/api/v1/ws?{query}", open_timeout=30, **kwargs)


async def _closed_with(mesh: LocalMesh, job_id: str, token: str | None, **kwargs: Any) -> tuple[int, list[Any]]:
    messages: list[Any] = []
    async with _ws(mesh, job_id, token, **kwargs) as ws:
        try:
            async with asyncio.timeout(30):
                async for raw in ws:
                    messages.append(json.loads(raw))
        except ConnectionClosed:
            pass
    assert ws.close_code is not None
    return ws.close_code, messages


def _token(client: httpx.Client) -> str:
    if isinstance(client.auth, SignedIn):
        return bearer(client)
    return client.headers["authorization"].removeprefix("Bearer ")


def test_the_websocket_refuses_a_foreign_origin_before_the_handshake(mesh: LocalMesh, api: httpx.Client,
                                                                    owned: dict[str, str]) -> None:
    async def attempt(origin: str) -> int:
        try:
            async with _ws(mesh, owned["analysis"], _token(api), origin=origin):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(attempt("https://evil.example")) == 403
    assert asyncio.run(attempt(ALLOWED_ORIGIN + ".evil.example")) == 403
    code, messages = asyncio.run(_closed_with(mesh, owned["analysis"], _token(api), origin=ALLOWED_ORIGIN))
    assert messages[0]["type"] == "job.snapshot" and messages[0]["id"] == owned["analysis"]


def test_the_websocket_needs_a_valid_token(mesh: LocalMesh, owned: dict[str, str]) -> None:
    for token in (None, "not-a-token", "dsp_not_a_key"):
        code, messages = asyncio.run(_closed_with(mesh, owned["analysis"], token))
        assert code == 4401, (token, code)
        assert all(m.get("type") != "job.snapshot" for m in messages)


def test_the_websocket_takes_the_token_as_a_bearer_subprotocol(mesh: LocalMesh, api: httpx.Client,
                                                               owned: dict[str, str]) -> None:
    code, messages = asyncio.run(_closed_with(mesh, owned["analysis"], None,
                                              subprotocols=["bearer", _token(api)]))  # type: ignore[list-item]
    assert messages[0]["type"] == "job.snapshot", messages
    assert messages[-1]["type"] == "dashboard.ready"


def test_the_websocket_refuses_another_organisation_job_like_a_missing_one(
        mesh: LocalMesh, outsider: httpx.Client, owned: dict[str, str]) -> None:
    foreign_code, foreign = asyncio.run(_closed_with(mesh, owned["analysis"], _token(outsider)))
    missing_code, missing = asyncio.run(_closed_with(mesh, str(uuid.uuid4()), _token(outsider)))
    assert foreign_code == missing_code == 4404
    assert [m["code"] for m in foreign] == [m["code"] for m in missing] == ["not_found"]


def test_no_token_reaches_the_gateway_log(mesh: LocalMesh, api: httpx.Client, outsider: httpx.Client,
                                          owned: dict[str, str]) -> None:
    asyncio.run(_closed_with(mesh, owned["analysis"], _token(api)))
    log = mesh.log_file("gateway").read_text(errors="replace")
    for token in (_token(api), _token(outsider)):
        assert token not in log
        assert token.split(".")[-1] not in log  # not even the signature


def test_a_viewer_reads_but_cannot_start_work(mesh: LocalMesh, viewer: httpx.Client, owned: dict[str, str],
                                              samples: Path) -> None:
    with (samples / "penguins.csv").open("rb") as fh:
        refused = viewer.post("/api/v1/upload", files={"file": ("penguins.csv", fh, "text/csv")})
    assert _assert_envelope_error(refused, 403)["errors"][0]["code"] == "forbidden"
    for url, body in (("/api/v1/analyze", {"dataset_id": owned["dataset"]}),
                      ("/api/v1/dashboard", {"analysis_id": owned["analysis"]}),
                      (f"/api/v1/models/{owned['model']}/predict", {"rows": [{"a": 1}]})):
        _assert_envelope_error(viewer.post(url, json=body), 403)
    if "delete" in _openapi(mesh)["paths"].get("/api/v1/datasets/{dataset_id}", {}):
        _assert_envelope_error(viewer.delete(f"/api/v1/datasets/{owned['dataset']}"), 403)
    # the same organisation: the viewer reads the first user's objects
    assert viewer.get(f"/api/v1/datasets/{owned['dataset']}").status_code == 200
    assert viewer.get(f"/api/v1/analysis/{owned['analysis']}").status_code == 200
    exported = viewer.post("/api/v1/export", json={"analysis_id": owned["analysis"], "format": "csv"})
    assert exported.status_code == 200


def test_a_uuid_request_id_is_reflected_and_anything_else_replaced(api: httpx.Client) -> None:
    given = str(uuid.uuid4())
    assert api.get("/api/v1/datasets", headers={"X-Request-ID": given}).headers["x-request-id"] == given
    answered = api.get("/api/v1/datasets", headers={"X-Request-ID": "<script>alert(1)</script>"})
    rid = answered.headers["x-request-id"]
    assert rid != "<script>alert(1)</script>" and str(uuid.UUID(rid)) == rid
    assert answered.json()["meta"]["request_id"] == rid
