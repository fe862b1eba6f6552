"""Small conversions of the values the page shows, and the result documents it is given.

The components read the ``Profile``, ``EtlReport`` and ``AnalysisResult`` models by
attribute, so a change of a contract shows up in the type checker rather than as an
empty chart. What is left here: turning a document given as JSON into its model,
coercing a value to a finite float or a string, and the JSON form of the fields a
contract types as ``Any`` (which hold whatever the stage produced).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

__all__ = ["as_model", "jsonable", "number", "text"]

M = TypeVar("M", bound=BaseModel)


def as_model(model: type[M], document: M | Mapping[str, Any] | None) -> M | None:
    """``document`` as a ``model`` instance: validated when given as a mapping, ``None`` stays ``None``."""
    if document is None or isinstance(document, model):
        return document
    return model.model_validate(document)


def jsonable(value: Any) -> Any:
    """The JSON form of an ``Any``-typed field (dates as ISO strings, tuples as lists...)."""
    return to_jsonable_python(value)


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
