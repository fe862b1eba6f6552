"""Safe exposure by default: settings refused in production, the Host allowlist, security headers, CORS from
config, no /metrics on the public app, the service token of internal routes, and the broker permissions."""

from __future__ import annotations

import re
import socket
import urllib.request
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from mesh_kit.broker import definitions, password_hash, permissions
from mesh_kit.hardening import (
    SERVICE_TOKEN_HEADER,
    MetricsListener,
    harden,
    host_allowed,
    service_token_headers,
    service_token_refusal,
)
from mesh_kit.local_mesh import LocalMesh
from mesh_kit.ports import ServiceSpec
from mesh_kit.service import build_app
from mesh_kit.settings import MeshSettings
from mesh_kit.topology import Topology
from pydantic import ValidationError
from shared_contracts.manifest import SERVICES

TOKEN = "k3Jx9-Qm2vT8wLz4Rb7nYp1sHd6Fg0Ce"
GOOD = {
    "environment": "production",
    "amqp_url": "amqp://dsp_ml:Rb7nYp1sHd6Fg0Ce@rabbitmq:5672/",
    "database_url": "postgresql://dsp_ml:Qm2vT8wLz4Rb@postgres:5432/dsp",
    "redis_url": "redis://:Yp1sHd6Fg0Ce@redis:6379/0",
    "service_token": TOKEN,
}


@pytest.fixture(autouse=True)
def _no_dsp_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("DSP_"):
            monkeypatch.delenv(name)


# --------------------------------------------------------------------------- production refuses defaults


def test_production_accepts_real_secrets() -> None:
    settings = MeshSettings(**GOOD)
    assert settings.service_token is not None and settings.service_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings), "the token never shows in a repr or a log line"


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("database_url", "postgresql://dsp_ml@postgres:5432/dsp", "DSP_DATABASE_URL"),
        ("database_url", "postgresql://postgres:postgres@postgres:5432/dsp", "DSP_DATABASE_URL"),
        ("database_url", "postgresql://dsp_ml:ml-db-dev@postgres:5432/dsp", "DSP_DATABASE_URL"),
        ("database_url", "postgresql://dsp_ml:changeme@postgres:5432/dsp", "DSP_DATABASE_URL"),
        ("admin_database_url", "postgresql://postgres@postgres:5432/dsp", "DSP_ADMIN_DATABASE_URL"),
        ("db_password", "password", "DSP_DB_PASSWORD"),
        ("amqp_url", "amqp://guest:guest@rabbitmq:5672/", "DSP_AMQP_URL"),
        ("amqp_url", "amqp://guest:S3cure-enough-pw@rabbitmq:5672/", "DSP_AMQP_URL"),
        ("amqp_url", "amqp://dsp@rabbitmq:5672/", "DSP_AMQP_URL"),
        ("amqp_url", "amqp://rabbitmq:5672/", "DSP_AMQP_URL"),
        ("amqp_url", "amqp://dsp:dsp-rabbitmq-dev@rabbitmq:5672/", "DSP_AMQP_URL"),
        ("amqp_url", "amqp://dsp:secret@rabbitmq:5672/", "DSP_AMQP_URL"),
        ("redis_url", "redis://redis:6379/0", "DSP_REDIS_URL"),
        ("redis_url", "redis://:changeme@redis:6379/0", "DSP_REDIS_URL"),
        ("service_token", None, "DSP_SERVICE_TOKEN"),
        ("service_token", "short-token", "DSP_SERVICE_TOKEN"),
        ("service_token", "changeme-changeme-changeme-changeme", "DSP_SERVICE_TOKEN"),
        ("allowed_hosts", ["*"], "DSP_ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_missing_or_default_secrets(field: str, value: object, named: str) -> None:
    values = {**GOOD, field: value}
    if value is None:
        values.pop(field)
    with pytest.raises(ValidationError, match=re.escape(named)) as refused:
        MeshSettings(**values)
    assert "refused in production" in str(refused.value)
    # development keeps its defaults
    MeshSettings(**{**values, "environment": "development"})


def test_production_refusal_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSP_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="DSP_AMQP_URL.*DSP_DATABASE_URL.*DSP_REDIS_URL.*DSP_SERVICE_TOKEN"):
        MeshSettings()


def test_the_service_cli_fails_fast_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from mesh_kit.cli import run_service_cli

    monkeypatch.setenv("DSP_ENVIRONMENT", "production")
    code = run_service_cli(lambda: ServiceSpec(manifest=SERVICES["etl"]), ["serve"])
    assert code == 2
    assert "refused in production" in capsys.readouterr().err


def test_lists_come_comma_separated_or_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSP_ALLOWED_HOSTS", "dsp.example.com, gateway ,*.svc.cluster.local")
    monkeypatch.setenv("DSP_ALLOWED_ORIGINS", '["https://dsp.example.com", "http://localhost:8000"]')
    monkeypatch.setenv("DSP_CORS_ORIGINS", "")
    settings = MeshSettings()
    assert settings.allowed_hosts == ["dsp.example.com", "gateway", "*.svc.cluster.local"]
    assert settings.allowed_origins == ["https://dsp.example.com", "http://localhost:8000"]
    assert settings.cors_origins == []
    monkeypatch.delenv("DSP_ALLOWED_HOSTS")
    assert MeshSettings().allowed_hosts == ["localhost", "127.0.0.1"]
    assert MeshSettings().cors_origins == [] and MeshSettings(allowed_origins=[]).allowed_origins == []


def test_metrics_listen_on_their_own_port() -> None:
    assert MeshSettings(http_port=8004).metrics_address == ("127.0.0.1", 9004)
    assert MeshSettings(http_host="0.0.0.0", metrics_port=9100).metrics_address == ("0.0.0.0", 9100)
    assert MeshSettings(metrics_host="10.0.0.1", metrics_port=9100).metrics_address == ("10.0.0.1", 9100)
    assert MeshSettings(metrics_port=0).metrics_address is None


# --------------------------------------------------------------------------- Host allowlist and headers


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("localhost:8000", True), ("127.0.0.1", True), ("LOCALHOST", True), ("[::1]:8000", False),
     ("evil.example", False), ("localhost.evil.example", False), ("", False), (None, False),
     ("api.dsp.example.com", True), ("dsp.example.com", False), ("xdsp.example.com", False)],
)
def test_host_allowlist(host: str | None, allowed: bool) -> None:
    assert host_allowed(host, ["localhost", "127.0.0.1", "*.dsp.example.com"]) is allowed
    assert host_allowed(host, ["*"]) is True


def _app(settings: MeshSettings) -> FastAPI:
    app = FastAPI()
    harden(app, settings)

    @app.get("/api/v1/thing")
    async def thing() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/dashboard")
    async def dashboard() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>", headers={"Content-Security-Policy": "frame-ancestors 'self'"})

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _client(app: FastAPI, host: str = "localhost") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


async def test_a_foreign_host_is_refused_but_health_answers_any_host() -> None:
    app = _app(MeshSettings())
    async with _client(app, "evil.example") as client:
        refused = await client.get("/api/v1/thing")
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "invalid_host"
        assert (await client.get("/health/live")).status_code == 200
    async with _client(app, "127.0.0.1:8000") as client:
        assert (await client.get("/api/v1/thing")).status_code == 200


async def test_every_response_carries_the_security_headers() -> None:
    async with _client(_app(MeshSettings())) as client:
        response = await client.get("/api/v1/thing")
        missing = await client.get("/nope")
    for answer in (response, missing):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert "strict-transport-security" not in answer.headers


async def test_a_route_with_its_own_csp_keeps_it_and_hsts_follows_config() -> None:
    async with _client(_app(MeshSettings(hsts_max_age=31536000))) as client:
        page = await client.get("/dashboard")
    assert page.headers.get_list("content-security-policy") == ["frame-ancestors 'self'"]
    assert "x-frame-options" not in page.headers, "DENY would contradict the page's frame-ancestors 'self'"
    assert page.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


async def test_cors_is_off_by_default_and_follows_config() -> None:
    preflight = {"Origin": "https://ui.example.com", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization"}
    async with _client(_app(MeshSettings())) as client:
        answer = await client.options("/api/v1/thing", headers=preflight)
        assert "access-control-allow-origin" not in answer.headers
        simple = await client.get("/api/v1/thing", headers={"Origin": "https://ui.example.com"})
        assert "access-control-allow-origin" not in simple.headers
    async with _client(_app(MeshSettings(cors_origins=["https://ui.example.com"]))) as client:
        answer = await client.options("/api/v1/thing", headers=preflight)
        assert answer.headers["access-control-allow-origin"] == "https://ui.example.com"
        other = await client.options("/api/v1/thing", headers={**preflight, "Origin": "https://evil.example"})
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"


async def test_the_service_app_has_no_public_metrics_route() -> None:
    app = build_app(ServiceSpec(manifest=SERVICES["etl"]), MeshSettings(metrics_port=0))
    async with _client(app) as client:
        assert (await client.get("/metrics")).status_code == 404
        live = await client.get("/health/live")
        assert live.status_code == 200 and live.headers["x-content-type-options"] == "nosniff"
        assert (await client.get("/docs")).status_code == 200, "the OpenAPI page stays on the app"
    async with _client(app, "attacker.example") as client:
        assert (await client.get("/docs")).status_code == 400


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_metrics_listener_serves_prometheus_text_and_stops() -> None:
    port = _free_port()
    with MetricsListener("127.0.0.1", port), \
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200 and b"dsp_http_requests_total" in response.read()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


# --------------------------------------------------------------------------- service token


def test_internal_routes_take_only_the_service_token() -> None:
    settings = MeshSettings(service_token=TOKEN)
    assert service_token_refusal(settings, TOKEN) is None
    assert service_token_refusal(settings, None)[0] == 401  # type: ignore[index]
    assert service_token_refusal(settings, "")[0] == 401  # type: ignore[index]
    assert service_token_refusal(settings, TOKEN[:-1] + "x")[0] == 403  # type: ignore[index]
    assert service_token_refusal(settings, "ünïcode")[0] == 403  # type: ignore[index]
    assert service_token_headers(settings) == {SERVICE_TOKEN_HEADER: TOKEN}
    assert service_token_headers(MeshSettings()) == {}
    assert service_token_refusal(MeshSettings(), None) is None, "development without a token stays open"


# --------------------------------------------------------------------------- LocalMesh


def test_local_mesh_gives_ports_token_and_passes_bootstrap_through(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSP_BOOTSTRAP_ADMIN_EMAIL", "admin@example.com")
    monkeypatch.setenv("DSP_BOOTSTRAP_ADMIN_PASSWORD", "a-long-admin-password")
    monkeypatch.setenv("DSP_BOOTSTRAP_ORGANIZATION", "Acme")
    monkeypatch.setenv("DSP_ALLOWED_ORIGINS", "http://localhost:8000")
    mesh = LocalMesh(state_dir=tmp_path, amqp_urls={"ml": "amqp://dsp_ml:pw@127.0.0.1:5672/"})
    gateway, ml = mesh.env_for("gateway"), mesh.env_for("ml")
    assert gateway["DSP_BOOTSTRAP_ADMIN_EMAIL"] == "admin@example.com"
    assert gateway["DSP_BOOTSTRAP_ADMIN_PASSWORD"] == "a-long-admin-password"
    assert gateway["DSP_BOOTSTRAP_ORGANIZATION"] == "Acme"
    assert "DSP_BOOTSTRAP_ADMIN_PASSWORD" not in ml, "only the gateway sees the bootstrap password"
    assert ml["DSP_ALLOWED_ORIGINS"] == gateway["DSP_ALLOWED_ORIGINS"] == "http://localhost:8000"
    assert gateway["DSP_SERVICE_TOKEN"] == ml["DSP_SERVICE_TOKEN"] and len(ml["DSP_SERVICE_TOKEN"]) >= 32
    assert gateway["DSP_METRICS_PORT"] == str(SERVICES["gateway"].port + 1000)
    assert mesh.metrics_url("ml") == f"http://127.0.0.1:{SERVICES['ml'].port + 1000}/metrics"
    assert ml["DSP_AMQP_URL"] == "amqp://dsp_ml:pw@127.0.0.1:5672/"
    assert gateway["DSP_AMQP_URL"] == mesh.amqp_url
    assert (tmp_path / "service-token").stat().st_mode & 0o077 == 0
    again = LocalMesh(state_dir=tmp_path)
    assert again.env_for("ml")["DSP_SERVICE_TOKEN"] == ml["DSP_SERVICE_TOKEN"], "a restarted service keeps it"
    other = LocalMesh(state_dir=tmp_path / "other")
    assert other.env_for("ml")["DSP_SERVICE_TOKEN"] != ml["DSP_SERVICE_TOKEN"], "one token per mesh"


def test_local_mesh_replicas_get_ports_and_files_of_their_own(tmp_path: Path) -> None:
    mesh = LocalMesh(state_dir=tmp_path, replicas={"ml": 3})
    base, metrics = SERVICES["ml"].port, SERVICES["ml"].port + 1000
    envs = [mesh.env_for("ml", replica) for replica in range(mesh.count("ml"))]
    assert [e["DSP_HTTP_PORT"] for e in envs] == [str(base), str(base + 100), str(base + 200)]
    assert [e["DSP_METRICS_PORT"] for e in envs] == [str(metrics), str(metrics + 100), str(metrics + 200)]
    assert len({e["DSP_SERVICE_TOKEN"] for e in envs}) == 1
    assert mesh.url("ml", 2) == f"http://127.0.0.1:{base + 200}"
    assert mesh.log_file("ml", 1).name == "ml-1.log" and mesh.log_file("ml").name == "ml.log"
    assert mesh.count("gateway") == 1
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "ml-5.pid").write_text("999999999")  # left by an earlier scale: down and status see it
    status = mesh.status()
    assert [name for name in status if name.startswith("ml")] == ["ml", "ml-1", "ml-2", "ml-5"]
    assert set(status.values()) == {"stopped"} and mesh.pids() == {}
    with pytest.raises(ValueError):
        mesh.scale("ml", 0)


# --------------------------------------------------------------------------- broker permissions


def test_each_service_may_touch_only_its_own_broker_resources() -> None:
    topology = Topology(exchange="dsp.events", prefix="dsp", retry_delays_ms=(1000,))
    for service in SERVICES:
        p = permissions(service, topology)
        mine = [topology.exchange, *topology.own_queues(service), topology.requeue_exchange(service)]
        for regex in (p.configure, p.write, p.read):
            for name in mine:
                assert re.fullmatch(regex, name), (service, regex, name)
            assert not re.fullmatch(regex, "amq.default") and not re.fullmatch(regex, "")
            for other in SERVICES:
                if other != service:
                    for name in [*topology.own_queues(other), topology.requeue_exchange(other)]:
                        assert not re.fullmatch(regex, name), (service, regex, name)
        for event in SERVICES[service].publishes:
            assert re.fullmatch(p.topic_write, event.routing_key())
        for event in {e for s in SERVICES.values() for e in s.publishes} - set(SERVICES[service].publishes):
            assert not re.fullmatch(p.topic_write, event.routing_key()), (service, event.routing_key())
    assert re.fullmatch(permissions("gateway", topology).topic_read, "#")
    assert not re.fullmatch(permissions("ml", topology).topic_read, "#")


def test_broker_definitions_carry_rabbitmq_password_hashes() -> None:
    import base64
    import hashlib

    salt = b"\x01\x02\x03\x04"
    encoded = base64.b64decode(password_hash("pw", salt))
    assert encoded == salt + hashlib.sha256(salt + b"pw").digest()
    document = definitions(Topology(), {"ml": "pw", "gateway": "pw2"}, vhost="/")
    assert [u["name"] for u in document["users"]] == ["dsp_ml", "dsp_gateway"]  # type: ignore[index]
    assert all("password" not in u and u["password_hash"] for u in document["users"])  # type: ignore[attr-defined]
    assert {p["user"] for p in document["permissions"]} == {"dsp_ml", "dsp_gateway"}  # type: ignore[attr-defined]
