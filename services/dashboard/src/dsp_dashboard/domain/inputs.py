"""Reading the result documents of the other stages without depending on their every field.

The builder takes ``Profile``, ``EtlReport`` and ``AnalysisResult`` models, but
each section of the page only needs a few values from them. Reading those
values through plain dictionaries (``model_dump``) keeps the page working when
a document gains fields or leaves optional ones out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["as_mapping", "first", "number", "records", "text"]


def as_mapping(document: Any) -> dict[str, Any]:
    """A result document as a plain dictionary (pydantic model, mapping or ``None``)."""
    if document is None:
        return {}
    if hasattr(document, "model_dump"):
        return document.model_dump(mode="json")
    if isinstance(document, Mapping):
        return dict(document)
    return {}


def first(mapping: Mapping[str, Any] | None, *keys: str, default: Any = None) -> Any:
    """The value of the first of ``keys`` present and not ``None`` in ``mapping``.

    A key may be a dotted path (``"quality.score"``).
    """
    if not mapping:
        return default
    for key in keys:
        node: Any = mapping
        for part in key.split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                node = None
                break
        if node is not None:
            return node
    return default


def number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def text(value: Any, default: str = "") -> str:
    """``value`` as a string, ``default`` for ``None``."""
    return default if value is None else str(value)


def records(value: Any, *, key_name: str = "name", value_name: str = "value") -> list[dict[str, Any]]:
    """A list of records from a list of mappings, or from a ``{key: value}`` mapping.

    A mapping whose values are mappings becomes records with ``key_name`` set to the key.
    """
    if value is None:
        return []
    if isinstance(value, Mapping):
        out = []
        for k, v in value.items():
            if isinstance(v, Mapping):
                out.append({key_name: k, **v})
            else:
                out.append({key_name: k, value_name: v})
        return out
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return [dict(item) for item in value if isinstance(item, Mapping)]
    return []
