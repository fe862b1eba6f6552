"""The one JSON envelope every gateway response uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["API_VERSION", "error_body", "success_body"]

API_VERSION = "1.0"


def _meta(request_id: str) -> dict[str, Any]:
    return {"timestamp": datetime.now(UTC).isoformat(), "version": API_VERSION, "request_id": request_id}


def success_body(data: Any, *, request_id: str) -> dict[str, Any]:
    return {"status": "success", "data": data, "meta": _meta(request_id), "errors": []}


def error_body(errors: list[dict[str, Any]], *, request_id: str) -> dict[str, Any]:
    """errors: a list of {code, message, field}."""
    return {
        "status": "error",
        "data": None,
        "meta": _meta(request_id),
        "errors": [{"code": e["code"], "message": e["message"], "field": e.get("field"),
                    **({"details": e["details"]} if e.get("details") else {})} for e in errors],
    }
