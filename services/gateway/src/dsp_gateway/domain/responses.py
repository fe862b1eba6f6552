"""The one JSON envelope every gateway response uses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

__all__ = ["API_VERSION", "error_body", "success_body", "success_json"]

API_VERSION = "1.0"


def _meta(request_id: str) -> dict[str, Any]:
    return {"timestamp": datetime.now(UTC).isoformat(), "version": API_VERSION, "request_id": request_id}


def success_body(data: Any, *, request_id: str) -> dict[str, Any]:
    return {"status": "success", "data": data, "meta": _meta(request_id), "errors": []}


def success_json(data_json: str, *, request_id: str) -> str:
    """``success_body`` as compact JSON text, around ``data_json``, the JSON text of its data (sent as it is)."""
    meta = json.dumps(_meta(request_id), ensure_ascii=False, separators=(",", ":"))
    return f'{{"status":"success","data":{data_json},"meta":{meta},"errors":[]}}'


def error_body(errors: list[dict[str, Any]], *, request_id: str) -> dict[str, Any]:
    """errors: a list of {code, message, field}."""
    return {
        "status": "error",
        "data": None,
        "meta": _meta(request_id),
        "errors": [{"code": e["code"], "message": e["message"], "field": e.get("field"),
                    **({"details": e["details"]} if e.get("details") else {})} for e in errors],
    }
