"""Ownership in the gateway without the mesh: every API route asks for credentials, the request id,
the WebSocket Origin rule, token redaction, the settings, the model read model and the export archive."""

from __future__ import annotations

import io
import json
import logging
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dsp_gateway.adapters.repository import InMemoryReadModel
from dsp_gateway.bootstrap import GatewaySettings, service_spec
from dsp_gateway.domain.identity import Principal
from dsp_gateway.entrypoints.access import (
    install_token_redaction,
    origin_allowed,
    redact_tokens,
    request_id_from,
)
from dsp_gateway.entrypoints.security import current_principal
from dsp_gateway.service_layer.export import OwnedData, export_archive
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from mesh_kit.artifacts import LocalArtifactStore
from mesh_kit.memory import InMemoryArtifactStore, InMemoryMesh
from mesh_kit.service import build_app
from mesh_kit.settings import MeshSettings
from shared_contracts import ArtifactRef
from shared_contracts.events import AnalysisCompleted, AnalysisOptions

PUBLIC = ("/api/v1/auth/", "/api/v1/views/", "/health/", "/docs", "/redoc", "/openapi.json")


def _app_without_lifespan() -> TestClient:
    app = build_app(service_spec(), MeshSettings(environment="test"))
    return TestClient(app, raise_server_exceptions=False)


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI keeps included routers as one entry
        if included is not None:
            yield from _api_routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def _calls(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def test_every_api_route_depends_on_the_caller() -> None:
    """Static check (the e2e test calls every route of the running gateway): each route of the API,
    the WebSocket aside, resolves current_principal before its handler runs."""
    app = build_app(service_spec(), MeshSettings(environment="test"))
    checked = []
    for route in _api_routes(app.routes):
        if not route.path.startswith("/api/v1/") or route.path.startswith(PUBLIC):
            continue
        assert current_principal in set(_calls(route.dependant)), f"{route.methods} {route.path} is not authenticated"
        checked.append(route.path)
    assert {"/api/v1/upload", "/api/v1/datasets", "/api/v1/me/export", "/api/v1/models/{model_id}/predict"} <= set(
        checked)


@pytest.mark.parametrize("header", [None, "", "abc", "not-a-uuid\r\nX-Evil: 1", "<script>", "1" * 200])
def test_a_request_id_that_is_no_uuid_is_replaced(header: str | None) -> None:
    rid = request_id_from(header)
    assert str(uuid.UUID(rid)) == rid and rid != header


def test_a_uuid_request_id_is_kept_in_canonical_form() -> None:
    given = uuid.uuid4()
    assert request_id_from(str(given).upper()) == str(given)
    client = _app_without_lifespan()
    assert client.get("/health/live", headers={"X-Request-ID": str(given)}).headers["x-request-id"] == str(given)
    replaced = client.get("/health/live", headers={"X-Request-ID": "evil"}).headers["x-request-id"]
    assert replaced != "evil" and uuid.UUID(replaced)


def test_origins_are_matched_exactly_and_an_absent_origin_passes() -> None:
    allowed = frozenset({"https://app.example", "http://localhost:3000"})
    assert origin_allowed(None, allowed)
    assert origin_allowed("https://app.example", allowed)
    assert origin_allowed("HTTPS://APP.EXAMPLE/", allowed)
    for foreign in ("https://evil.example", "https://app.example.evil.com", "http://app.example", "null", ""):
        assert not origin_allowed(foreign, allowed), foreign
    assert not origin_allowed("https://app.example", frozenset())


def test_the_gateways_own_origin_passes_for_its_web_ui() -> None:
    assert origin_allowed("http://127.0.0.1:8000", frozenset(), host="127.0.0.1:8000")
    assert origin_allowed("https://dsp.example", frozenset(), host="DSP.example")
    for foreign in ("http://127.0.0.1:8001", "https://evil.example", "null", "file://127.0.0.1:8000", ""):
        assert not origin_allowed(foreign, frozenset(), host="127.0.0.1:8000"), foreign


def test_allowed_origins_read_a_comma_list_or_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSP_ALLOWED_ORIGINS", "https://a.example, http://localhost:3000/")
    assert GatewaySettings().allowed_origins == ("https://a.example", "http://localhost:3000")
    monkeypatch.setenv("DSP_ALLOWED_ORIGINS", '["https://B.example"]')
    assert GatewaySettings().allowed_origins == ("https://b.example",)
    monkeypatch.delenv("DSP_ALLOWED_ORIGINS")
    assert GatewaySettings().allowed_origins == ()


def test_tokens_are_cut_out_of_uvicorn_websocket_lines(caplog: pytest.LogCaptureFixture) -> None:
    assert redact_tokens("/api/v1/ws?job_id=1&token=eyJ.abc.def") == "/api/v1/ws?job_id=1&token=[redacted]"
    assert redact_tokens("/api/v1/ws?token=dsp_secret&job_id=2") == "/api/v1/ws?token=[redacted]&job_id=2"
    install_token_redaction()
    install_token_redaction()  # idempotent
    logger = logging.getLogger("uvicorn.error")
    assert sum(type(f).__name__ == "_RedactTokens" for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        logger.info('%s - "WebSocket %s" [accepted]', ("127.0.0.1", 5), "/api/v1/ws?job_id=1&token=eyJsecret")
    assert "eyJsecret" not in caplog.text and "token=[redacted]" in caplog.text


async def test_a_model_belongs_to_the_organisation_of_its_analysis() -> None:
    store = InMemoryArtifactStore()
    mesh = InMemoryMesh([service_spec()], store)
    read_model: InMemoryReadModel = mesh.repositories["gateway"]
    org, owner, job, dataset, model = (uuid.uuid4() for _ in range(5))
    read_model.add_job(job_id=job, kind="analysis", dataset_id=dataset, organization_id=org, owner_id=owner)
    ref = store.put_bytes(f"datasets/{dataset}/a.json", b"{}", media_type="application/json")
    mesh.publish(AnalysisCompleted(dataset_id=dataset, analysis_result=ref, profile=ref, etl_report=ref,
                                   cleaned_parquet=ref, model_id=model, options=AnalysisOptions()),
                 job_id=job, producer="ml")
    await mesh.drain()
    row = dict(read_model.models[model])
    assert row.pop("created_at").tzinfo is not None  # the models list orders by it, newest first
    assert row == {"job_id": job, "dataset_id": dataset, "organization_id": str(org), "owner_id": str(owner)}


def test_the_export_archive_holds_the_account_and_every_owned_document(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    dataset, job, dashboard, model = (str(uuid.uuid4()) for _ in range(4))

    def put(name: str, data: bytes) -> dict[str, object]:
        return store.put_bytes(f"datasets/{dataset}/{name}", data, media_type="application/octet-stream").model_dump(
            mode="json")

    raw, profile, analysis, html = put("raw", b"a,b\n1,2\n"), put("profile.json", b'{"p": 1}'), \
        put("analysis.json", b'{"a": 1}'), put("dashboard.html", b"<html></html>")
    gone = ArtifactRef(key=f"datasets/{dataset}/gone", sha256="0" * 64, size_bytes=1,
                       media_type="text/csv").model_dump(mode="json")
    principal = Principal(user_id=uuid.uuid4(), organization_id=uuid.uuid4(), role="analyst", email="a@example.com")
    owned = OwnedData(
        datasets=[{"dataset_id": dataset, "display_name": "x.csv", "status": "profiled", "raw": raw,
                   "profile": profile, "parquet": gone}],
        jobs=[{"job_id": job, "kind": "analysis", "results": {"profile": profile, "analysis_result": analysis}}],
        dashboards=[{"dashboard_id": dashboard, "job_id": job, "html": html, "pdf": None}],
        models=[{"model_id": model, "job_id": job}],
    )
    out = tmp_path / "out"
    out.mkdir()
    path = export_archive(store, principal, owned, out)
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        names = set(archive.namelist())
        assert names == {"account.json", "manifest.json", f"datasets/{dataset}/dataset.json",
                         f"datasets/{dataset}/raw.csv", f"datasets/{dataset}/profile.json", f"jobs/{job}/job.json",
                         f"jobs/{job}/analysis.json", f"dashboards/{dashboard}/dashboard.json",
                         f"dashboards/{dashboard}/dashboard.html", f"models/{model}.json"}
        assert json.loads(archive.read("account.json"))["email"] == "a@example.com"
        assert archive.read(f"datasets/{dataset}/raw.csv") == b"a,b\n1,2\n"
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["counts"] == {"datasets": 1, "jobs": 1, "dashboards": 1, "models": 1}
        assert manifest["files"][f"jobs/{job}/profile.json"]["same_as"] == f"datasets/{dataset}/profile.json"
        assert manifest["missing"] == [{"file": f"datasets/{dataset}/data.parquet", "key": gone["key"],
                                        "reason": "ArtifactNotFound"}]
        assert "raw" not in json.loads(archive.read(f"datasets/{dataset}/dataset.json"))
    assert [p.name for p in out.iterdir()] == ["export.zip"]  # the scratch directory is gone
