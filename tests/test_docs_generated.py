"""The generated AsyncAPI documents in the repo match the code and hold together as AsyncAPI 3.0.

No JSON Schema of AsyncAPI 3.0 ships in an installed package, so the structure is checked here:
the required keys, ids in AsyncAPI's key pattern, every ``$ref`` resolving inside the document,
every operation pointing at a channel and at a message of that channel, and every event of the
manifest documented on the right side, with the subscribed use case's docstring.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from shared_contracts import ArtifactRef, Envelope
from shared_contracts.events import DatasetUploaded, JobProgress, StageFailed
from shared_contracts.manifest import SERVICES

ROOT = Path(__file__).resolve().parents[1]
KEY = re.compile(r"^[\w\d.\-_]+$")  # AsyncAPI 3.0's pattern for component, channel and operation ids


def _document(service: str) -> dict[str, Any]:
    return json.loads((ROOT / "docs" / "asyncapi" / f"{service}.json").read_text())


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


class Dangling(LookupError):
    """A reference that names nothing in the document."""


def _resolve(document: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise Dangling(f"{ref} points outside the document")
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise Dangling(f"{ref} does not resolve")
        node = node[part]
    return node


def structural_errors(document: dict[str, Any]) -> list[str]:
    """What keeps a document from being a well-formed AsyncAPI 3.0 document, as far as we use it."""
    errors = [f"missing {key}" for key in ("asyncapi", "info", "channels", "operations", "components")
              if key not in document]
    if errors:
        return errors
    if document["asyncapi"] != "3.0.0":
        errors.append(f"asyncapi is {document['asyncapi']!r}, not 3.0.0")
    errors += [f"info has no {key}" for key in ("title", "version") if not document["info"].get(key)]
    for section, ids in (("channels", document["channels"]), ("operations", document["operations"]),
                         *((f"components.{k}", v) for k, v in document["components"].items())):
        errors += [f"{section} id {name!r} is not a valid key" for name in ids if not KEY.match(name)]
    for ref in _refs(document):
        try:
            _resolve(document, ref)
        except Dangling as exc:
            errors.append(str(exc))
    for name, channel in document["channels"].items():
        if not channel.get("address"):
            errors.append(f"channel {name} has no address")
        for message_name, message in channel.get("messages", {}).items():
            if not message.get("$ref", "").startswith("#/components/messages/"):
                errors.append(f"channel {name} message {message_name} is not a component message")
    for name, operation in document["operations"].items():
        if operation.get("action") not in ("send", "receive"):
            errors.append(f"operation {name} has action {operation.get('action')!r}")
        channel_ref = operation.get("channel", {}).get("$ref", "")
        if not channel_ref.startswith("#/channels/") or channel_ref.count("/") != 2:
            errors.append(f"operation {name} does not reference a channel")
            continue
        if not operation.get("messages"):
            errors.append(f"operation {name} has no message")
        for message in operation.get("messages", []):
            if not message.get("$ref", "").startswith(channel_ref + "/messages/"):
                errors.append(f"operation {name} sends a message that is not in its channel {channel_ref}")
    for name, message in document["components"].get("messages", {}).items():
        if "payload" not in message:
            errors.append(f"message {name} has no payload")
    return errors


def _operations(document: dict[str, Any], action: str) -> dict[str, dict[str, Any]]:
    """The operations of one action, by the name of the event class of their message."""
    found = {}
    for operation in document["operations"].values():
        if operation["action"] == action:
            for ref in operation["messages"]:
                found[_resolve(document, _resolve(document, ref["$ref"])["$ref"])["name"]] = operation
    return found


def test_asyncapi_documents_are_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "asyncapi.py"), "--check"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("service", list(SERVICES))
def test_asyncapi_document_is_well_formed(service: str) -> None:
    assert structural_errors(_document(service)) == []


def test_the_structural_check_catches_dangling_and_misplaced_references() -> None:
    document = _document("etl")
    operation = document["operations"]["send.job.progress.v1"]
    operation["messages"] = [{"$ref": "#/channels/stage.failed.v1/messages/StageFailed"}]
    document["operations"]["receive.dataset.profiled.v1"]["channel"] = {"$ref": "#/channels/dsp.nowhere"}
    del document["components"]["schemas"]["TraceContext"]
    document["asyncapi"] = "2.6.0"
    errors = structural_errors(document)
    assert "asyncapi is '2.6.0', not 3.0.0" in errors
    assert any("not in its channel #/channels/job.progress.v1" in e for e in errors)
    assert "#/channels/dsp.nowhere does not resolve" in errors
    assert "#/components/schemas/TraceContext does not resolve" in errors


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_manifest_event_is_documented_with_its_queue_exchange_and_handler(service: str) -> None:
    manifest = SERVICES[service]
    document = _document(service)
    assert document["info"]["description"] == manifest.description
    received = _operations(document, "receive")
    sent = _operations(document, "send")
    assert set(received) == {event.__name__ for event in manifest.subscribes}
    assert set(sent) == {event.__name__ for event in manifest.publishes}
    spec = importlib.import_module(f"{manifest.package}.bootstrap").service_spec()
    queue = f"dsp.{service}"
    for event in manifest.subscribes:
        operation = received[event.__name__]
        assert operation["channel"]["$ref"] == f"#/channels/{queue}"
        handler = next(sub.handler for sub in spec.subscriptions if issubclass(event, sub.event))
        assert operation["description"] == " ".join((handler.__doc__ or "").split())
        assert operation["title"] == handler.__name__
    if manifest.subscribes:
        channel = document["channels"][queue]
        assert channel["bindings"]["amqp"]["queue"]["name"] == queue
        assert all(key in channel["description"] for key in manifest.binding_keys)
    for event in manifest.publishes:
        channel = _resolve(document, sent[event.__name__]["channel"]["$ref"])
        assert channel["address"] == event.routing_key()
        assert channel["bindings"]["amqp"]["exchange"]["name"] == "dsp.events"


def _payload_validator(document: dict[str, Any], event_name: str) -> jsonschema.Draft202012Validator:
    payload_ref = document["components"]["messages"][event_name]["payload"]["$ref"]
    return jsonschema.Draft202012Validator({**document, "$ref": payload_ref},
                                           format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_documented_payloads_accept_real_envelopes_and_reject_broken_ones() -> None:
    document = _document("gateway")
    job = uuid.uuid4()
    uploaded = DatasetUploaded(dataset_id=uuid.uuid4(), display_name="sales.csv", raw=ArtifactRef(
        key="datasets/a/raw", sha256="a" * 64, size_bytes=1234, media_type="text/csv"))
    envelopes = {
        "DatasetUploaded": Envelope.wrap(uploaded, job_id=job, producer="gateway"),
        "StageFailed": Envelope.wrap(StageFailed(stage="etl", code="target_not_found", reason="no column y"),
                                     job_id=job, producer="etl"),
        "JobProgress": Envelope.wrap(JobProgress(stage="ml", fraction=0.5, message="training"),
                                     job_id=job, producer="ml"),
    }
    for name, envelope in envelopes.items():
        body = json.loads(envelope.model_dump_json())
        validator = _payload_validator(document, name)
        assert list(validator.iter_errors(body)) == [], name
        broken = {key: value for key, value in body.items() if key != "job_id"}
        assert not validator.is_valid(broken), f"{name} without job_id passed"
    progress = json.loads(envelopes["JobProgress"].model_dump_json())
    progress["payload"]["fraction"] = 1.5
    assert not _payload_validator(document, "JobProgress").is_valid(progress)
