"""Structured JSON logs that carry the request id, the job id and the trace id.

Every line is one JSON object: ``ts``, ``level``, ``service``, ``logger``, ``message``, ``request_id`` (the HTTP
request being served, ``mesh_kit.access``), ``job_id`` (the job whose event is being handled, or that the route
names), ``trace_id``, and the record's own ``fields``. Either id is null where none applies.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

__all__ = ["bind_job", "bind_request", "configure_logging", "current_job_id", "current_request_id", "unbind_job",
           "unbind_request"]

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("dsp_job_id", default=None)
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("dsp_request_id", default=None)


def current_job_id() -> str | None:
    return _job_id.get()


def bind_job(job_id: str | None) -> contextvars.Token[str | None]:
    """Attach a job id to every log line written in this context."""
    return _job_id.set(job_id)


def unbind_job(token: contextvars.Token[str | None]) -> None:
    """Restore the job id that was bound before ``bind_job`` returned ``token``."""
    _job_id.reset(token)


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request(request_id: str | None) -> contextvars.Token[str | None]:
    """Attach a request id to every log line written in this context."""
    return _request_id.set(request_id)


def unbind_request(token: contextvars.Token[str | None]) -> None:
    """Restore the request id that was bound before ``bind_request`` returned ``token``."""
    _request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, request_id, job_id, trace_id, fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        from .tracing import current_trace_id

        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id.get(),
            "job_id": _job_id.get(),
            "trace_id": current_trace_id(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record to stdout as JSON."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiormq", "aio_pika", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
