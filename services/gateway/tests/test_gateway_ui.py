"""The gateway serves the built web UI at / under a strict CSP, and says how to build it when it is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from dsp_gateway.bootstrap import service_spec
from dsp_gateway.entrypoints.ui import UI_CSP, ui_dir
from fastapi.testclient import TestClient
from mesh_kit.service import build_app
from mesh_kit.settings import MeshSettings


def _client() -> TestClient:  # no lifespan: the UI routes need no adapter
    return TestClient(build_app(service_spec(), MeshSettings(environment="test")), raise_server_exceptions=False,
                      base_url="http://127.0.0.1:8000")


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text('<!doctype html><div id="root"></div><script src="/assets/app.js"></script>')
    (tmp_path / "assets" / "app.js").write_text("console.log('ui')")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    monkeypatch.setenv("DSP_UI_DIR", str(tmp_path))
    return tmp_path


def test_root_and_unknown_ui_paths_serve_index_html_with_the_csp(built: Path) -> None:
    client = _client()
    for path in ("/", "/datasets", "/upload/again"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert '<div id="root">' in page.text
        assert page.headers["content-security-policy"] == UI_CSP
        assert "frame-ancestors 'none'" in UI_CSP and "script-src 'self';" in UI_CSP
    asset = client.get("/assets/app.js")
    assert asset.status_code == 200 and "console.log" in asset.text
    assert "immutable" in asset.headers["cache-control"]
    assert client.get("/favicon.svg").text == "<svg/>"


def test_api_paths_and_escapes_are_never_the_ui(built: Path) -> None:
    client = _client()
    missing = client.get("/api/v1/nowhere")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"
    assert client.get("/assets/missing.js").status_code == 404
    assert client.get("/assets/..%2findex.html").status_code == 404
    assert client.get("/health/nothing").status_code == 404
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower(), "the OpenAPI page stays the gateway's"
    assert client.get("/openapi.json").json()["paths"]


def test_ui_routes_stay_out_of_the_openapi_document(built: Path) -> None:
    paths = _client().get("/openapi.json").json()["paths"]
    assert all(path.startswith("/api/v1/") for path in paths), sorted(paths)


def test_an_empty_setting_falls_back_to_the_repositorys_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSP_UI_DIR", "")
    assert ui_dir() == Path(__file__).resolve().parents[3] / "ui" / "dist"


def test_a_missing_build_says_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSP_UI_DIR", str(tmp_path / "nothing-here"))
    page = _client().get("/")
    assert page.status_code == 503
    assert "The web UI is not built: run <code>make ui</code>" in page.text
    assert page.headers["content-security-policy"] == UI_CSP
