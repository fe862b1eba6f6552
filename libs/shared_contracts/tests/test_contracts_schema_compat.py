"""Within a version, an event or document may only grow: these tests hold the line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from shared_contracts.schemas import SCHEMA_DIR, all_schemas


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return _resolve(root.get("$defs", {})[name], root)
    return schema


def _types(schema: dict[str, Any], root: dict[str, Any]) -> set[str]:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        out: set[str] = set()
        for option in schema["anyOf"]:
            out |= _types(option, root)
        return out
    if "type" in schema:
        kinds = schema["type"]
        return set(kinds) if isinstance(kinds, list) else {kinds}
    if "enum" in schema or "const" in schema:
        return {"enum"}
    return {"object"} if "properties" in schema else {"any"}


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "",
                     old_root: dict[str, Any] | None = None, new_root: dict[str, Any] | None = None) -> list[str]:
    """What a reader written against ``old`` would trip over in data written against ``new``."""
    old_root = old_root or old
    new_root = new_root or new
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    problems: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_prop in old_props.items():
        where = f"{path}.{name}" if path else name
        if name not in new_props:
            problems.append(f"{where}: removed")
            continue
        old_t, new_t = _types(old_prop, old_root), _types(new_props[name], new_root)
        if "any" not in old_t and not new_t <= old_t | {"null"} and "any" not in new_t:
            problems.append(f"{where}: type {sorted(old_t)} became {sorted(new_t)}")
        if _types(old_prop, old_root) == {"object"}:
            problems += breaking_changes(old_prop, new_props[name], where, old_root, new_root)
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        if name not in old_props:
            problems.append(f"{path}.{name}: new required field" if path else f"{name}: new required field")
    return problems


def test_committed_schemas_are_current() -> None:
    """`make schemas` was run after the last model change."""
    current = all_schemas()
    stale = [name for name, schema in current.items()
             if not (SCHEMA_DIR / f"{name}.json").exists()
             or json.loads((SCHEMA_DIR / f"{name}.json").read_text()) != schema]
    assert not stale, f"regenerate with `make schemas`: {stale}"


@pytest.mark.parametrize("name", sorted(all_schemas()))
def test_no_breaking_change_within_a_version(name: str) -> None:
    path = SCHEMA_DIR / f"{name}.json"
    if not path.exists():
        pytest.fail(f"{name} has no committed schema; run `make schemas`")
    committed = json.loads(path.read_text())
    assert breaking_changes(committed, all_schemas()[name]) == []


def test_the_checker_catches_a_removed_field_and_a_new_required_one() -> None:
    old = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    new = {"type": "object", "properties": {"a": {"type": "integer"}, "c": {"type": "string"}}, "required": ["a", "c"]}
    problems = breaking_changes(old, new)
    assert "b: removed" in problems
    assert any(p.startswith("a: type") for p in problems)
    assert "c: new required field" in problems


def test_every_routing_key_ends_in_its_version() -> None:
    from shared_contracts import EVENT_REGISTRY

    for key, payload in EVENT_REGISTRY.items():
        assert key == f"{payload.event_type}.v{payload.event_version}"
        assert key.rsplit(".", 1)[1].startswith("v")
