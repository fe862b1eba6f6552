"""Every event and document round-trips, generated from its own JSON Schema with Hypothesis.

For each registered event, documents are drawn from the envelope's validation schema (``from_schema`` below:
hypothesis-jsonschema does not run on the Hypothesis in use),
parsed by ``parse_envelope``, written back as JSON and parsed again: the same envelope comes back, and the
JSON written matches the published serialization schema. Envelopes of an unknown type or version, and
bodies that are not JSON objects at all, end as ``UnknownEventError`` or ``ValidationError``, never as
another exception.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import jsonschema
import pytest
from check_jsonschema.formats.implementations import validate_rfc3339
from hypothesis import HealthCheck, assume, given, seed, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from shared_contracts import EVENT_REGISTRY, Envelope, UnknownEventError, parse_envelope
from shared_contracts.schemas import document_models

SETTINGS = settings(max_examples=15, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
KEYS = sorted(EVENT_REGISTRY)
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # lone surrogates are not text
_UUID = st.uuids().map(str)
_DATETIME = st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())
_LOCAL_DATETIME = st.datetimes().map(lambda d: d.isoformat())  # no offset: a wall-clock date-time
FORMATS = {"uuid": _UUID, "date-time": _DATETIME, "date-time-local": _LOCAL_DATETIME, "date": st.dates().map(str)}
FORMATS_CHECKED = jsonschema.FormatChecker()
"""What the models write is held to the formats their schemas state: jsonschema's own checks (uuid, date,
...), and RFC 3339 for date-time (jsonschema skips it without an optional package)."""
FORMATS_CHECKED.checks("date-time")(validate_rfc3339)


def from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None, depth: int = 0) -> st.SearchStrategy[Any]:
    """Documents valid by ``schema``: the subset of JSON Schema that pydantic writes for these models."""
    root = root if root is not None else schema
    if "$ref" in schema:
        return from_schema(root["$defs"][schema["$ref"].rsplit("/", 1)[-1]], root, depth + 1)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([from_schema(option, root, depth) for option in schema["anyOf"]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}, root, depth) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low = schema.get("minimum", -(10**12))
        low = max(low, schema["exclusiveMinimum"] + 1) if "exclusiveMinimum" in schema else low
        return st.integers(int(low), int(schema.get("maximum", 10**12)))
    if kind == "number":
        return st.floats(schema.get("minimum", schema.get("exclusiveMinimum")), schema.get("maximum"),
                         exclude_min="exclusiveMinimum" in schema, allow_nan=False, allow_infinity=False)
    if kind == "string":
        if "format" in schema and schema["format"] in FORMATS:
            return FORMATS[schema["format"]]
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return _TEXT
    if kind == "array":
        if "prefixItems" in schema:
            return st.tuples(*[from_schema(item, root, depth + 1) for item in schema["prefixItems"]]).map(list)
        items = from_schema(schema.get("items", {}), root, depth + 1)
        most = min(schema.get("maxItems", 3), 0 if depth > 6 else 3)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=max(most, schema.get("minItems", 0)))
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        fixed = st.fixed_dictionaries(
            {k: from_schema(v, root, depth + 1) for k, v in properties.items() if k in required},
            optional={k: from_schema(v, root, depth + 1) for k, v in properties.items() if k not in required})
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not properties:
            most = min(schema.get("maxProperties", 3), 0 if depth > 6 else 3)
            return st.dictionaries(_TEXT, from_schema(extra, root, depth + 1), max_size=most)
        return fixed
    return st.none() | st.booleans() | st.integers() | _TEXT  # {}: any JSON value


def _envelope_schema(key: str) -> dict[str, Any]:
    payload = EVENT_REGISTRY[key]
    schema = Envelope[payload].model_json_schema(mode="validation")  # type: ignore[valid-type]
    schema["properties"]["type"] = {"const": payload.event_type}
    schema["properties"]["version"] = {"const": payload.event_version}
    return schema


def _refused_by_a_rule_only(exc: ValidationError) -> bool:
    """Whether every error comes from a validator's cross-field rule (``the target cannot also be excluded``),
    which JSON Schema cannot state; any other refusal of a schema-valid document is a schema that lies."""
    return all(e["type"] == "value_error" for e in exc.errors())


def _same_json(a: BaseModel, b: BaseModel) -> None:
    assert json.loads(a.model_dump_json()) == json.loads(b.model_dump_json())


@pytest.mark.parametrize("key", KEYS)
def test_every_event_round_trips_through_json_and_matches_its_schema(key):
    published = Envelope[EVENT_REGISTRY[key]].model_json_schema(mode="serialization")  # type: ignore[valid-type]
    checker = jsonschema.Draft202012Validator(published, format_checker=FORMATS_CHECKED)

    @seed(15)
    @SETTINGS
    @given(from_schema(_envelope_schema(key)))
    def check(doc: dict[str, Any]) -> None:
        try:
            envelope = parse_envelope(json.dumps(doc))
        except ValidationError as exc:  # the schema let through what the model refuses: the schema is wrong
            assume(not _refused_by_a_rule_only(exc))
            raise AssertionError(f"{key}: a document valid by its schema is refused: {exc}") from exc
        assert type(envelope.payload) is EVENT_REGISTRY[key]
        assert envelope.routing_key == key
        wire = envelope.model_dump_json()
        again = parse_envelope(wire.encode())
        assert again == envelope
        _same_json(again, envelope)
        checker.validate(json.loads(wire))

    check()


@pytest.mark.parametrize("name", sorted(document_models()))
def test_every_document_round_trips_through_json(name):
    model = document_models()[name]
    published = jsonschema.Draft202012Validator(model.model_json_schema(mode="serialization"),
                                                format_checker=FORMATS_CHECKED)

    @seed(15)
    @settings(SETTINGS, max_examples=10)
    @given(from_schema(model.model_json_schema(mode="validation")))
    def check(doc: dict[str, Any]) -> None:
        try:
            value = model.model_validate_json(json.dumps(doc))
        except ValidationError as exc:
            assume(not _refused_by_a_rule_only(exc))
            raise AssertionError(f"{name}: a document valid by its schema is refused: {exc}") from exc
        wire = value.model_dump_json()
        again = model.model_validate_json(wire)
        _same_json(again, value)
        published.validate(json.loads(wire))

    check()


@seed(15)
@settings(SETTINGS, max_examples=200)
@given(st.sampled_from(KEYS), st.one_of(st.integers(), st.none(), st.text(max_size=5), st.floats(), st.booleans()))
def test_an_unknown_version_is_refused_as_an_unknown_event(key, version):
    payload = EVENT_REGISTRY[key]
    if f"{payload.event_type}.v{version}" in EVENT_REGISTRY:
        return  # a registered version (1, or "1", which pydantic reads as 1)
    body = {"type": payload.event_type, "version": version, "job_id": "00000000-0000-0000-0000-000000000001",
            "producer": "test", "payload": {}}
    with pytest.raises(UnknownEventError):
        parse_envelope(json.dumps(body))


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                       max_leaves=20)


@seed(15)
@settings(SETTINGS, max_examples=300)
@given(st.one_of(
    st.binary(max_size=200),
    JSONISH.map(json.dumps).map(str.encode),
    st.sampled_from(KEYS).flatmap(lambda k: st.fixed_dictionaries(
        {"type": st.just(EVENT_REGISTRY[k].event_type), "version": st.just(1)}, optional={
            "job_id": JSONISH | _UUID, "producer": JSONISH, "payload": JSONISH, "event_id": JSONISH | _UUID,
            "occurred_at": JSONISH | _DATETIME, "trace": JSONISH})).map(json.dumps).map(str.encode),
    st.integers(1, 5_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 5_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
))
def test_any_body_parses_or_is_refused_with_one_of_the_two_documented_errors(body):
    try:
        parse_envelope(body)
    except (UnknownEventError, ValidationError):
        pass
