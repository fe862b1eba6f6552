"""A small OTLP/HTTP receiver on loopback: it decodes what the services export (``ExportTraceServiceRequest`` of
opentelemetry-proto) and keeps the spans while it is armed (the session's mesh exports all along; a test arms
it for the work it follows, so the spans of the rest of the session are dropped on arrival)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class Receiver(ThreadingHTTPServer):
    """OTLP/HTTP (protobuf) on ``/v1/traces``: keeps each span, with its service's name, while recording."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.armed = False
        self.thread = threading.Thread(target=self.serve_forever, name="otlp-receiver", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Keep the spans that arrive in this block; forget them at its end."""
        with self.lock:
            self.spans.clear()
            self.armed = True
        try:
            yield
        finally:
            with self.lock:
                self.armed = False
                self.spans.clear()

    def add(self, body: bytes) -> None:
        if not self.armed:
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        decoded = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    decoded.append({
                        "service": resource.get("service.name"), "scope": scope_spans.scope.name, "name": span.name,
                        "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                        "parent_id": span.parent_span_id.hex(), "kind": span.kind,
                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                    })
        with self.lock:
            self.spans.extend(decoded)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.spans)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces" or self.headers.get("content-type") != "application/x-protobuf":
            self.send_response(404)
            self.end_headers()
            return
        self.server.add(body)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A receiver serving on a thread of its own until the block ends."""
    server = Receiver()
    server.thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
