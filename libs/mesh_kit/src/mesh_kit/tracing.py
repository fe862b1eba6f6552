"""OpenTelemetry: the tracer provider of a service, its instrumentations, and W3C trace context in events.

One job is one trace across the services. The request that starts it is the server span of the gateway
(``instrument_app``: OpenTelemetry's FastAPI instrumentation); each event carries the context of the span that
emitted it, in its envelope and in the ``traceparent`` header of its outbox row; the outbox relay publishes it
under that context (aio-pika's instrumentation: a producer span, whose context the message then carries); the
consumer's span (aio-pika's again) is its child, and the use case runs in a span named after it
(``use_case_span``), under which its queries, its events and its HTTP calls are made.

Spans leave the process only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (OTLP over HTTP/protobuf, with the
standard ``OTEL_EXPORTER_OTLP_*`` and ``OTEL_BSP_*`` variables). Without it the provider still makes the
server, consumer and use-case spans, whose ids the events and the log lines carry, but the client spans of
psycopg and httpx are not made at all: they would cost CPU on every query for nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from shared_contracts import TraceContext

__all__ = ["FASTAPI_TELEMETRY", "NOT_TRACED_URLS", "configure_tracing", "context_from", "current_trace_context",
           "current_trace_id", "exporting", "instrument_app", "tracer", "untraced", "use_case_span"]


FASTAPI_TELEMETRY: Any = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
"""FastAPI's native OpenTelemetry, off for every app: the server span of a request is the OpenTelemetry FastAPI
instrumentation's (``instrument_app``), its HTTP metrics are Prometheus' (``mesh_kit.metrics``) and its logs
``mesh_kit.logs``'."""

NOT_TRACED_URLS = "/health/(live|ready|startup)$"
"""The probes: a server span every few seconds per pod that no job is part of."""


def exporting() -> bool:
    """Whether spans leave the process (``OTEL_EXPORTER_OTLP_ENDPOINT`` or its traces-only variant is set)."""
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure_tracing(service: str) -> None:
    """Install the service's tracer provider (resource ``service.name`` ``dsp-<service>``) and instrument aio-pika;
    when exporting, add the OTLP/HTTP exporter and instrument psycopg and httpx too. Call it before the pools and
    clients are opened: the instrumentations wrap the connections made after."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"dsp-{service}"}))
    if exporting():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor

    instrumentors: list[Any] = [AioPikaInstrumentor()]
    if exporting():
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

        instrumentors += [PsycopgInstrumentor(), HTTPXClientInstrumentor()]
    for instrumentor in instrumentors:
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


def instrument_app(app: Any) -> None:
    """One server span per HTTP request or WebSocket of ``app`` (not the probes), without the internal spans
    around each ASGI message the instrumentation makes by default."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls=NOT_TRACED_URLS, exclude_spans=["receive", "send"])


def tracer() -> trace.Tracer:
    return trace.get_tracer("dsp")


@contextmanager
def use_case_span(service: str, use_case: str, *, job_id: object, routing_key: str) -> Iterator[trace.Span]:
    """The span of one use case handling one event, named after the use case (``when_dataset_uploaded_ingest``);
    an exception escaping it marks it failed."""
    with tracer().start_as_current_span(use_case, attributes={
        "dsp.service": service, "dsp.use_case": use_case, "dsp.job_id": str(job_id), "dsp.event": routing_key,
    }) as span:
        yield span


@contextmanager
def untraced() -> Iterator[None]:
    """No spans of the instrumentations in this block: for the periodic work of a process (the outbox relay's
    polling, the readiness checks), which belongs to no job and would make a trace of its own every time."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        yield


def current_trace_context() -> TraceContext:
    """The active span's context as a TraceContext for an event envelope."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return TraceContext(traceparent=carrier.get("traceparent"), tracestate=carrier.get("tracestate"))


def context_from(headers: Mapping[str, Any] | None, fallback: TraceContext | None = None, *,
                 fresh: bool = False) -> otel_context.Context:
    """Extract the trace context from AMQP headers, or from the envelope when headers lack it; ``fresh`` on
    an empty context rather than the current one (which may suppress the instrumentations, see ``untraced``)."""
    carrier = {k: str(v) for k, v in (headers or {}).items() if k in ("traceparent", "tracestate")}
    if "traceparent" not in carrier and fallback is not None and fallback.traceparent:
        carrier["traceparent"] = fallback.traceparent
        if fallback.tracestate:
            carrier["tracestate"] = fallback.tracestate
    return extract(carrier, context=otel_context.Context() if fresh else None)


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x")
