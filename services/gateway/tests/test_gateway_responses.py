"""The one JSON envelope of every gateway response."""

from __future__ import annotations

import json
from datetime import datetime

from dsp_gateway.domain.responses import API_VERSION, error_body, success_body


def test_a_success_carries_its_data_and_no_errors() -> None:
    body = success_body({"dataset_id": "d1", "row_count": 344}, request_id="req-1")
    assert body["status"] == "success"
    assert body["data"] == {"dataset_id": "d1", "row_count": 344}
    assert body["errors"] == []
    assert body["meta"]["request_id"] == "req-1" and body["meta"]["version"] == API_VERSION
    assert datetime.fromisoformat(body["meta"]["timestamp"]).utcoffset() is not None
    json.dumps(body)


def test_an_error_has_no_data_and_keeps_details_only_when_there_are_some() -> None:
    body = error_body([
        {"code": "csv_ragged_rows", "message": "Row 17 has 9 fields.", "field": "file", "details": {"row": 17}},
        {"code": "file_too_large", "message": "Too large.", "details": {}},
    ], request_id="req-2")
    assert body["status"] == "error" and body["data"] is None
    assert body["errors"] == [
        {"code": "csv_ragged_rows", "message": "Row 17 has 9 fields.", "field": "file", "details": {"row": 17}},
        {"code": "file_too_large", "message": "Too large.", "field": None},
    ]
    assert body["meta"]["request_id"] == "req-2"


def test_every_response_has_the_same_top_level_keys() -> None:
    keys = {"status", "data", "meta", "errors"}
    assert set(success_body(None, request_id="r")) == keys
    assert set(error_body([{"code": "x", "message": "y"}], request_id="r")) == keys
