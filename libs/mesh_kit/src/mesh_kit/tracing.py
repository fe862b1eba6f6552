"""OpenTelemetry set-up and W3C trace context in message headers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from shared_contracts import TraceContext

__all__ = ["FASTAPI_TELEMETRY", "configure_tracing", "context_from", "current_trace_context", "current_trace_id", "tracer"]


FASTAPI_TELEMETRY: Any = {"tracing": True, "metrics": False, "logs": False, "operation_spans": False}
"""FastAPI's own OpenTelemetry for every app: one span per request, whose context the events it publishes carry.
Not its spans around each dependency, endpoint and serialisation, its OTel metrics (Prometheus counts requests,
``mesh_kit.metrics``) or its OTel log records (the logs are ``mesh_kit.logs``'): together they cost more CPU per
request than the API's own work."""


def configure_tracing(service: str) -> None:
    """Install a tracer provider; export over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"dsp-{service}"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:  # exporter package is optional
            pass
        else:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def tracer() -> trace.Tracer:
    return trace.get_tracer("dsp")


def current_trace_context() -> TraceContext:
    """The active span's context as a TraceContext for an event envelope."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return TraceContext(traceparent=carrier.get("traceparent"), tracestate=carrier.get("tracestate"))


def context_from(headers: Mapping[str, Any] | None, fallback: TraceContext | None = None) -> otel_context.Context:
    """Extract the trace context from AMQP headers, or from the envelope when headers lack it."""
    carrier = {k: str(v) for k, v in (headers or {}).items() if k in ("traceparent", "tracestate")}
    if "traceparent" not in carrier and fallback is not None and fallback.traceparent:
        carrier["traceparent"] = fallback.traceparent
        if fallback.tracestate:
            carrier["tracestate"] = fallback.tracestate
    return extract(carrier)


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x")
