"""/health/ready's answer from its checks: a dependency the service can serve without degrades it, any other
makes it unavailable (503, out of the load balancer)."""

from __future__ import annotations

import json

from mesh_kit.service import readiness


def _answer(checks: dict[str, str], degradable: frozenset[str]) -> tuple[int, dict[str, object]]:
    response = readiness(checks, degradable)
    return response.status_code, json.loads(bytes(response.body))


def test_all_checks_passing_is_ok() -> None:
    status, body = _answer({"postgres": "ok", "rabbitmq": "ok", "redis": "ok"}, frozenset({"redis"}))
    assert status == 200
    assert body == {"status": "ok", "checks": {"postgres": "ok", "rabbitmq": "ok", "redis": "ok"},
                    "degraded": [], "unavailable": []}


def test_a_degradable_check_failing_still_answers_200_and_names_it() -> None:
    status, body = _answer({"postgres": "ok", "rabbitmq": "error: not connected", "redis": "error: refused"},
                           frozenset({"redis", "rabbitmq"}))
    assert status == 200
    assert (body["status"], body["degraded"], body["unavailable"]) == ("degraded", ["rabbitmq", "redis"], [])


def test_any_other_check_failing_is_unavailable_with_503() -> None:
    status, body = _answer({"postgres": "error: timeout", "rabbitmq": "ok", "redis": "error: refused"},
                           frozenset({"redis"}))
    assert status == 503
    assert (body["status"], body["degraded"], body["unavailable"]) == ("unavailable", ["redis"], ["postgres"])
