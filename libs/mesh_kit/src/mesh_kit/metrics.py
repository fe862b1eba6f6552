"""Prometheus metrics: RED for HTTP and for messages, plus outbox and job outcomes."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "DEAD_LETTERS",
    "HTTP_DURATION",
    "HTTP_REQUESTS",
    "JOBS",
    "MESSAGES_CONSUMED",
    "MESSAGES_PUBLISHED",
    "MESSAGE_DURATION",
    "OUTBOX_OLDEST_AGE",
    "OUTBOX_PENDING",
]

HTTP_REQUESTS = Counter(
    "dsp_http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "dsp_http_request_duration_seconds", "HTTP request duration", ["service", "method", "route"]
)
MESSAGES_CONSUMED = Counter(
    "dsp_messages_consumed_total",
    "Messages consumed, by outcome (handled, duplicate, retried, dead_lettered, failed)",
    ["service", "routing_key", "outcome"],
)
MESSAGE_DURATION = Histogram(
    "dsp_message_handle_duration_seconds",
    "Time spent handling one message",
    ["service", "routing_key"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
MESSAGES_PUBLISHED = Counter(
    "dsp_messages_published_total", "Events published with a broker confirm", ["service", "routing_key"]
)
OUTBOX_PENDING = Gauge("dsp_outbox_pending", "Outbox rows not yet published", ["service"],
                       multiprocess_mode="max")  # each worker's relay counts the same rows
OUTBOX_OLDEST_AGE = Gauge("dsp_outbox_oldest_age_seconds", "Age of the oldest outbox row not yet published (0: none)",
                          ["service"], multiprocess_mode="max")
DEAD_LETTERS = Counter("dsp_dead_letters_total", "Messages moved to a dead-letter queue", ["service", "reason"])
JOBS = Counter("dsp_jobs_total", "Jobs ended, by outcome", ["outcome"])
