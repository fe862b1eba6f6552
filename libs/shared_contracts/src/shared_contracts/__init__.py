"""Contracts shared by every service: events, their envelope, and result documents."""

from . import events as events
from .artifacts import ArtifactRef
from .envelope import EVENT_REGISTRY, Envelope, EventPayload, TraceContext, UnknownEventError, parse_envelope

__all__ = [
    "EVENT_REGISTRY",
    "ArtifactRef",
    "Envelope",
    "EventPayload",
    "TraceContext",
    "UnknownEventError",
    "events",
    "parse_envelope",
]
