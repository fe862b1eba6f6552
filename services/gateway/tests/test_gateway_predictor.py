"""The HTTP predictor passes ml's JSON answer on, and reads an answer that is not a JSON object as ml unavailable
(the predict route's 503 ml_unavailable), not as an error of its own (a 500)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dsp_gateway.adapters.predictor import HttpPredictor, PredictorUnavailable

ANSWERS = {
    "json": (422, "application/json", b'{"error": {"code": "invalid_rows", "message": "no", "field": "rows"}}'),
    "plain": (500, "text/plain; charset=utf-8", b"Internal Server Error"),
    "list": (200, "application/json", b"[1, 2]"),
}


class _Ml(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        status, media_type, body = ANSWERS[self.headers["x-answer"]]
        self.send_response(status)
        self.send_header("content-type", media_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the signature of http.server)
        pass


@pytest.fixture
def ml_url() -> Iterator[str]:
    """An HTTP server on a loopback port answering as the header x-answer asks."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ml)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def _predict(ml_url: str, answer: str):
    predictor = HttpPredictor(ml_url, headers={"x-answer": answer}, timeout_s=10)
    return await predictor.predict(uuid.uuid4(), content_type="application/json", body=b'{"rows": [{}]}',
                                   explain=False, request_id="r")


async def test_a_json_answer_is_passed_on(ml_url: str) -> None:
    prediction = await _predict(ml_url, "json")
    assert (prediction.status, prediction.body["error"]["code"]) == (422, "invalid_rows")


@pytest.mark.parametrize("answer", ["plain", "list"])
async def test_an_answer_that_is_no_json_object_is_ml_unavailable(ml_url: str, answer: str) -> None:
    with pytest.raises(PredictorUnavailable, match="no usable answer"):
        await _predict(ml_url, answer)
