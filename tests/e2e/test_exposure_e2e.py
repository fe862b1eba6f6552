"""Safe exposure over the real mesh: ml's internal route takes only the gateway's token, a foreign Host is
refused, every answer carries the security headers, and /metrics lives only on the internal listeners."""

from __future__ import annotations

import uuid

import httpx
import pytest
from mesh_kit.hardening import SERVICE_TOKEN_HEADER
from mesh_kit.local_mesh import LocalMesh
from shared_contracts.manifest import SERVICES

pytestmark = pytest.mark.e2e


def test_ml_internal_predict_takes_only_the_service_token(mesh: LocalMesh) -> None:
    url = f"{mesh.url('ml')}/internal/v1/models/{uuid.uuid4()}/predict"
    rows = {"rows": [{"x": 1}]}
    missing = httpx.post(url, json=rows, timeout=30)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthenticated"
    wrong = httpx.post(url, json=rows, headers={SERVICE_TOKEN_HEADER: mesh.token() + "x"}, timeout=30)
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
    right = httpx.post(url, json=rows, headers={SERVICE_TOKEN_HEADER: mesh.token()}, timeout=30)
    assert right.status_code == 404, "with the token the request reaches the route (an unknown model)"


@pytest.mark.parametrize("service", list(SERVICES))
def test_a_foreign_host_is_refused_and_health_answers_any_host(mesh: LocalMesh, service: str) -> None:
    base = mesh.url(service)
    refused = httpx.get(f"{base}/docs", headers={"Host": "attacker.example"}, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_host"
    assert httpx.get(f"{base}/health/live", headers={"Host": "10.1.2.3:8000"}, timeout=10).status_code == 200
    page = httpx.get(f"{base}/docs", timeout=10)
    assert page.status_code == 200, "the OpenAPI page stays on the app (the ingress does not route it)"
    for answer in (refused, page):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("service", list(SERVICES))
def test_metrics_are_served_only_on_the_internal_listener(mesh: LocalMesh, service: str) -> None:
    assert httpx.get(f"{mesh.url(service)}/metrics", timeout=10).status_code == 404
    metrics = httpx.get(mesh.metrics_url(service), timeout=10)
    assert metrics.status_code == 200 and "dsp_http_requests_total" in metrics.text
    assert mesh.metrics_ports[service] != mesh.ports[service]
