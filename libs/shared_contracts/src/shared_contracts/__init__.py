"""Contracts shared by every service: events, their envelope, and result documents.

The names below are imported on first use (PEP 562), so that importing one submodule
(``shared_contracts.profile``, ``shared_contracts.cancel``) does not build the pydantic models
of every event.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import events as events
    from .artifacts import ArtifactRef
    from .envelope import (
        EVENT_REGISTRY,
        Envelope,
        EventPayload,
        TraceContext,
        UnknownEventError,
        parse_envelope,
    )

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

_SOURCES = {
    "ArtifactRef": ".artifacts",
    "EVENT_REGISTRY": ".envelope",
    "Envelope": ".envelope",
    "EventPayload": ".envelope",
    "TraceContext": ".envelope",
    "UnknownEventError": ".envelope",
    "parse_envelope": ".envelope",
}

_NEEDS_EVENTS = frozenset({"EVENT_REGISTRY", "parse_envelope"})
"""Names that read the registry: every event payload is registered before they are handed out."""


def __getattr__(name: str) -> Any:
    if name == "events":
        # importing the events registers every payload in EVENT_REGISTRY
        return importlib.import_module(".events", __name__)
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in _NEEDS_EVENTS:
        importlib.import_module(".events", __name__)
    value = getattr(importlib.import_module(source, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
