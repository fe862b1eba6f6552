"""Prometheus metrics: RED for HTTP and for messages, plus outbox, job outcomes and open WebSockets.

Every label takes a bounded set of values: services, routes (templates, never paths), routing keys, outcomes.
A label that would take the values of data (a model id, a column name) goes through ``BoundedLabel``, which
keeps the first values it sees and folds the rest into ``other``. The ``_created`` series of counters and
histograms are not exported (``disable_created_metrics``): nothing reads them, and they double the series.
"""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()

__all__ = [
    "DEAD_LETTERS",
    "HTTP_DURATION",
    "HTTP_REQUESTS",
    "JOBS",
    "JOB_BUDGET_USED",
    "MESSAGES_CONSUMED",
    "MESSAGES_PUBLISHED",
    "MESSAGE_DURATION",
    "OUTBOX_OLDEST_AGE",
    "OUTBOX_PENDING",
    "WEBSOCKETS_OPEN",
]
"""The collectors (the deployment tests read the series names from them); ``BoundedLabel`` and ``OTHER`` are
importable too."""

OTHER = "other"
"""The value a ``BoundedLabel`` gives every value past its limit."""


class BoundedLabel:
    """The values of one label, at most ``limit`` of them: the first ``limit`` distinct values seen in this
    process keep their own series; every later one is ``OTHER``.

    >>> models = BoundedLabel(2)
    >>> [models.value(v) for v in ("a", "b", "a", "c")]
    ['a', 'b', 'a', 'other']
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: set[str] = set()
        self._lock = threading.Lock()

    def value(self, value: str) -> str:
        if value in self._kept:
            return value
        with self._lock:
            if len(self._kept) < self.limit:
                self._kept.add(value)
                return value
        return OTHER


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
JOBS = Counter("dsp_jobs_total", "Jobs ended, by the service that recorded the end and outcome",
               ["service", "outcome"])
JOB_BUDGET_USED = Histogram(
    "dsp_job_budget_used_ratio",
    "A job's time from its request to the end of its analysis over its time budget (1: all of it, on time)",
    ["service"],
    buckets=(0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2, 3, 5),
)
WEBSOCKETS_OPEN = Gauge("dsp_websockets_open", "WebSockets accepted and not yet closed", ["service", "route"],
                        multiprocess_mode="livesum")  # the sum over the live worker processes
