"""The envelope every event travels in, and the registry of event payloads.

An event on the broker is ``Envelope`` serialized as JSON. Its routing key is
``<type>.v<version>`` (for example ``dataset.ingested.v1``), so consumers bind to
one version of one event and a breaking change ships as a new version beside
the old one.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EVENT_REGISTRY",
    "Envelope",
    "EventPayload",
    "TraceContext",
    "UnknownEventError",
    "event",
    "parse_envelope",
]


class TraceContext(BaseModel):
    """W3C trace context, so that one trace spans every service of a job."""

    model_config = ConfigDict(extra="allow")

    traceparent: str | None = Field(
        default=None,
        description="W3C traceparent header value",
        examples=["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    )
    tracestate: str | None = Field(default=None, description="W3C tracestate header value")


class EventPayload(BaseModel):
    """Base class of every event payload. Subclasses set ``event_type`` and ``event_version``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event_type: ClassVar[str]
    event_version: ClassVar[int]

    @classmethod
    def routing_key(cls) -> str:
        """The routing key of this event, ending in its version."""
        return f"{cls.event_type}.v{cls.event_version}"


P = TypeVar("P", bound=EventPayload)

EVENT_REGISTRY: dict[str, type[EventPayload]] = {}


def event(cls: type[P]) -> type[P]:
    """Register an event payload class under its routing key."""
    key = cls.routing_key()
    if key in EVENT_REGISTRY:
        raise ValueError(f"event {key} registered twice")
    EVENT_REGISTRY[key] = cls
    return cls


def _now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel, Generic[P]):
    """Metadata shared by every event, wrapped around its payload."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="Unique id; consumers dedupe on it")
    type: str = Field(description="Event type without version", examples=["dataset.ingested"])
    version: int = Field(ge=1, description="Major version of the payload schema")
    occurred_at: datetime = Field(default_factory=_now, description="When the producer emitted it (UTC)")
    job_id: uuid.UUID = Field(description="The job this event belongs to")
    producer: str = Field(description="Service that produced the event", examples=["ingest"])
    trace: TraceContext = Field(default_factory=TraceContext)
    payload: P

    @property
    def routing_key(self) -> str:
        return f"{self.type}.v{self.version}"

    @classmethod
    def wrap(
        cls,
        payload: EventPayload,
        *,
        job_id: uuid.UUID,
        producer: str,
        trace: TraceContext | None = None,
    ) -> Envelope[Any]:
        """Wrap a payload in a fresh envelope."""
        typed = cast("type[Envelope[Any]]", Envelope.__class_getitem__(type(payload)))  # Envelope[<payload class>]
        return typed(
            type=payload.event_type,
            version=payload.event_version,
            job_id=job_id,
            producer=producer,
            trace=trace or TraceContext(),
            payload=payload,
        )


class UnknownEventError(ValueError):
    """The message is no registered event: its body is not a JSON object (not UTF-8, not JSON, nested too
    deeply), or its ``type`` and ``version`` name no registered event."""


def parse_envelope(raw: bytes | str | dict[str, Any]) -> Envelope[Any]:
    """Parse a raw message into an envelope with its typed payload.

    Raises ``UnknownEventError`` for a body that is not a JSON object or names an unregistered
    type or version, and pydantic's ``ValidationError`` for a registered event with a malformed body;
    nothing else, whatever the bytes.
    """
    try:
        data = json.loads(raw) if isinstance(raw, bytes | str) else raw
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested past the decoder's depth
        raise UnknownEventError("message body is not JSON (or not UTF-8, or nested too deeply)") from exc
    if not isinstance(data, dict):
        raise UnknownEventError("message body is not a JSON object")
    key = f"{data.get('type')}.v{data.get('version')}"
    payload_cls = EVENT_REGISTRY.get(key)
    if payload_cls is None:
        raise UnknownEventError(f"unknown event {key[:120]!r}")
    return Envelope[payload_cls].model_validate(data)  # type: ignore[valid-type]
