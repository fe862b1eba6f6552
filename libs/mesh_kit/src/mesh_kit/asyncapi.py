"""The AsyncAPI 3.0 document of one service, built from the contracts and the service manifest.

Everything in it is read from code that the mesh runs on: the service's name, description and
events from ``shared_contracts.manifest``, its queue and the exchange from ``mesh_kit.topology``,
the message payloads from the pydantic models of ``Envelope[Event]``, and the description of
each receive operation from the docstring of the use case the service's bootstrap subscribes
to that event. Nothing is inferred from a messaging framework.

Ids follow AsyncAPI's key pattern (letters, digits, ``.``, ``-``, ``_``): a channel is named by
its queue (``dsp.etl``) or by the routing key it carries (``dataset.transformed.v1``); a
message by its event class (``DatasetTransformed``); an operation by its action and routing key
(``receive.dataset.profiled.v1``, ``send.dataset.transformed.v1``).
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema
from shared_contracts import Envelope, EventPayload
from shared_contracts.manifest import ServiceManifest

from .ports import ServiceSpec
from .topology import Topology

__all__ = ["ASYNCAPI_VERSION", "asyncapi_document"]

ASYNCAPI_VERSION = "3.0.0"
_AMQP_BINDING = "0.3.0"
_SCHEMAS = "#/components/schemas/"

_HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "AMQP headers the outbox relay sets on every event.",
    "properties": {
        "dsp-event-type": {"type": "string", "description": "The routing key of the event"},
        "dsp-job-id": {"type": "string", "format": "uuid", "description": "The job the event belongs to"},
        "traceparent": {"type": "string", "description": "W3C trace context of the producer"},
        "tracestate": {"type": "string", "description": "W3C trace state of the producer"},
    },
    "required": ["dsp-event-type", "dsp-job-id"],
}


def _doc(obj: object) -> str:
    return " ".join((getattr(obj, "__doc__", None) or "").split())


def _events_of(manifest: ServiceManifest) -> list[type[EventPayload]]:
    """The events a service consumes or publishes, each once, consumed first."""
    seen: dict[str, type[EventPayload]] = {}
    for event in (*manifest.subscribes, *manifest.publishes):
        seen.setdefault(event.routing_key(), event)
    return list(seen.values())


def _schemas(events: list[type[EventPayload]]) -> tuple[dict[str, Any], dict[str, str]]:
    """The JSON Schemas of the envelopes of ``events``, and each event's envelope schema name."""
    models = [(Envelope[event], "serialization") for event in events]  # type: ignore[valid-type]
    refs, top = models_json_schema(models, ref_template=_SCHEMAS + "{model}")  # type: ignore[arg-type]
    names = {event.routing_key(): refs[(Envelope[event], "serialization")]["$ref"].removeprefix(_SCHEMAS)  # type: ignore[valid-type]
             for event in events}
    return dict(sorted(top.get("$defs", {}).items())), names


def _message(event: type[EventPayload], schema_name: str) -> dict[str, Any]:
    return {
        "name": event.__name__,
        "title": event.routing_key(),
        "summary": _doc(event),
        "contentType": "application/json",
        "headers": {"$ref": _SCHEMAS + "EventHeaders"},
        "payload": {"$ref": _SCHEMAS + schema_name},
        "correlationId": {"description": "The job the event belongs to", "location": "$message.payload#/job_id"},
        "bindings": {"amqp": {"bindingVersion": _AMQP_BINDING, "messageType": event.routing_key()}},
    }


def _exchange(topology: Topology) -> dict[str, Any]:
    return {"name": topology.exchange, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"}


def asyncapi_document(spec: ServiceSpec, topology: Topology, *, server_host: str = "rabbitmq:5672",
                      version: str = "1.0.0") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of a service: its queue and what it receives, and what it sends."""
    manifest = spec.manifest
    events = _events_of(manifest)
    schemas, schema_names = _schemas(events)
    messages = {event.__name__: _message(event, schema_names[event.routing_key()]) for event in events}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    if manifest.subscribes:
        queue = topology.queue(spec.name)
        bound = ", ".join(manifest.binding_keys)
        channels[queue] = {
            "address": queue,
            "title": f"{spec.name} queue",
            "description": (f"Quorum queue of {spec.name}, bound to the {topology.exchange} exchange with {bound}. "
                            f"Failed deliveries wait in {topology.prefix}.{spec.name}.retry.<delay>ms queues and "
                            f"end in {topology.dead_letter_queue(spec.name)}."),
            "messages": {event.__name__: {"$ref": f"#/components/messages/{event.__name__}"}
                         for event in manifest.subscribes},
            "bindings": {"amqp": {"bindingVersion": _AMQP_BINDING, "is": "queue", "queue": {
                "name": queue, "durable": True, "exclusive": False, "autoDelete": False, "vhost": "/"}}},
        }
        for event in manifest.subscribes:
            handlers = [sub.handler for sub in spec.subscriptions if issubclass(event, sub.event)]
            if not handlers:
                raise ValueError(f"{spec.name} subscribes to {event.routing_key()} but its bootstrap has no handler")
            operations[f"receive.{event.routing_key()}"] = {
                "action": "receive",
                "title": ", ".join(handler.__name__ for handler in handlers),
                "summary": f"{event.routing_key()} on {queue}",
                "description": " ".join(_doc(handler) for handler in handlers),
                "channel": {"$ref": f"#/channels/{queue}"},
                "messages": [{"$ref": f"#/channels/{queue}/messages/{event.__name__}"}],
                "bindings": {"amqp": {"bindingVersion": _AMQP_BINDING, "ack": True}},
            }

    for event in manifest.publishes:
        key = event.routing_key()
        channels[key] = {
            "address": key,
            "title": key,
            "description": _doc(event),
            "messages": {event.__name__: {"$ref": f"#/components/messages/{event.__name__}"}},
            "bindings": {"amqp": {"bindingVersion": _AMQP_BINDING, "is": "routingKey",
                                  "exchange": _exchange(topology)}},
        }
        operations[f"send.{key}"] = {
            "action": "send",
            "title": f"publish {key}",
            "description": (f"{_doc(event)} Published by the outbox relay after the transaction that recorded "
                            "it commits, persistent and mandatory, with publisher confirms."),
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{event.__name__}"}],
            "bindings": {"amqp": {"bindingVersion": _AMQP_BINDING, "deliveryMode": 2, "mandatory": True}},
        }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": f"dsp-{spec.name}", "version": version, "description": manifest.description},
        "defaultContentType": "application/json",
        "servers": {"development": {"host": server_host, "protocol": "amqp", "protocolVersion": "0.9.1",
                                    "pathname": "/", "description": "The RabbitMQ of docker-compose"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": {**schemas, "EventHeaders": _HEADERS_SCHEMA}},
    }
