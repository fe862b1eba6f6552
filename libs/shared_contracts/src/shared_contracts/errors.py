"""The one coded error type of every stage: a failure caused by the input, not by the platform.

Stage cores raise it (or a subclass of their own, such as the ingest core's ``IngestError``); the
mesh turns it into ``stage.failed`` at once, with no retry, and the ``dsp`` command prints it.

``validation_problems`` words pydantic's errors for the person who wrote the options: which option is
wrong and what it allows, without pydantic's URLs, error types or the repr of what was sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence, Sized
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic_core import ErrorDetails

    from .envelope import EventPayload

__all__ = ["StageError", "located_problems", "require_target", "validation_problems"]


class StageError(Exception):
    """Bad input for a stage, with a stable code and a plain-language message; retrying will not help.

    Parameters
    ----------
    code
        Stable snake_case identifier, for example ``"target_not_found"``.
    message
        Explanation meant for the person who sent the input.
    details
        JSON-serialisable facts backing the message (counts, line numbers, column names).
    failure_event
        A stage-specific event to publish with ``stage.failed`` (ingest's ``dataset.rejected``).
    """

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None, *,
                 failure_event: EventPayload | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.failure_event = failure_event


def require_target(target: str | None, columns: Sequence[str]) -> None:
    """Raise ``target_not_found`` unless ``target`` is None or one of ``columns``.

    >>> require_target("y", ["x", "y"])
    >>> require_target("z", ["x"])
    Traceback (most recent call last):
    ...
    shared_contracts.errors.StageError: target_not_found: The target column 'z' is not in the dataset; its columns are: x
    """
    if target is not None and target not in columns:
        raise StageError("target_not_found",
                         f"The target column {target!r} is not in the dataset; its columns are: {', '.join(columns)}",
                         {"target": target, "columns": list(columns)})


_MISSING = object()
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNION_TAG = re.compile(r"[\[\]]|^(bool|int|float|str|bytes|dict|list|tuple|set|none)$")
_BOUNDS = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "at least"),
           "less_than": ("lt", "less than"), "less_than_equal": ("le", "at most"),
           "multiple_of": ("multiple_of", "a multiple of")}
_KINDS = {"int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
          "int_parsing_size": "a smaller whole number",
          "float_type": "a number", "float_parsing": "a number", "decimal_type": "a number",
          "decimal_parsing": "a number", "finite_number": "a finite number",
          "bool_type": "true or false", "bool_parsing": "true or false", "string_type": "text",
          "dict_type": "a mapping", "model_type": "a mapping of options",
          "model_attributes_type": "a mapping of options", "list_type": "a list", "tuple_type": "a list",
          "set_type": "a list", "none_required": "null"}


def validation_problems(exc: ValidationError, sent: Any = _MISSING, *, prefix: str = "", limit: int = 10) -> list[str]:
    """One plain line per problem in ``exc``: where (``prefix`` first), what is allowed, and the value sent.

    ``sent`` is what was validated: with it, the union member names pydantic adds to a location are told
    from the keys of the data (without it, the usual ones are recognised by their shape). The value sent
    is quoted only as a short scalar (a long text or key is cut); a list or a mapping is described by its
    size. Past ``limit`` problems, a last line counts the others.

    >>> from pydantic import BaseModel, Field, ValidationError
    >>> class Features(BaseModel):
    ...     bins: int = Field(default=10, ge=2, le=1000)
    >>> try:
    ...     Features.model_validate({"bins": 100_000_000})
    ... except ValidationError as exc:
    ...     validation_problems(exc, prefix="features")
    ['features.bins must be at most 1000; got 100000000']
    """
    located = located_problems(exc.errors(include_url=False), sent, prefix=prefix)
    problems = [problem for _, problem in located[:limit]]
    if len(located) > limit:
        problems.append(f"and {len(located) - limit} more problem(s)")
    return problems


def located_problems(errors: Iterable[ErrorDetails], sent: Any = _MISSING, *,
                     prefix: str = "") -> list[tuple[str, str]]:
    """``validation_problems``' lines with where each one is, for an answer that names the field apart: one
    ``(where, line)`` per location, in the order of the errors, from the error dictionaries of a
    ``ValidationError`` (or of FastAPI's ``RequestValidationError``).

    >>> located_problems([{"type": "less_than_equal", "loc": ("limit",), "msg": "", "input": 500,
    ...                    "ctx": {"le": 200}}])
    [('limit', 'limit must be at most 200; got 500')]
    """
    merged: dict[str, list[ErrorDetails]] = {}
    for error in errors:
        merged.setdefault(_where(prefix, _location(error, sent)), []).append(error)
    return [(where, _problem(where, grouped)) for where, grouped in merged.items()]


def _location(error: ErrorDetails, sent: Any) -> list[str | int]:
    """The error's location without the union member names pydantic inserts (``literal['auto']``, ``bool``)."""
    loc = list(error["loc"])
    if sent is _MISSING:
        return [part for part in loc if isinstance(part, int) or not _UNION_TAG.search(part)]
    kept: list[str | int] = []
    current = sent
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        keyed = isinstance(current, Mapping) and part in current
        indexed = isinstance(current, list | tuple) and isinstance(part, int) and 0 <= part < len(current)
        if keyed or indexed:
            current = current[part]
        elif not (last and error["type"] in ("missing", "extra_forbidden")):
            continue  # not in the data: a union member's name
        kept.append(part)
    return kept


def _where(prefix: str, loc: Sequence[str | int]) -> str:
    where = prefix
    for part in loc:
        if isinstance(part, int):
            where += f"[{part}]"
        elif _NAME.match(part) and len(part) <= 40:
            where += f".{part}" if where else part
        else:
            where += f"[{_cut(part)!r}]"
    return where or "the options"


def _cut(text: str, most: int = 40) -> str:
    return text if len(text) <= most else text[:most] + "..."


def _problem(where: str, errors: list[ErrorDetails]) -> str:
    first = errors[0]
    kind, ctx = first["type"], first.get("ctx") or {}
    if kind == "missing":
        return f"{where} is required"
    if kind == "extra_forbidden":
        return f"{where} is not a known option"
    if kind in ("value_error", "assertion_error"):  # a validator's own sentence
        message = str(first["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return f"{where}: {message}"
    got = first.get("input")
    if kind in ("too_short", "too_long"):
        size = "at least" if kind == "too_short" else "at most"
        bound = ctx.get("min_length" if kind == "too_short" else "max_length")
        return f"{where} must have {size} {bound} item(s); got {ctx.get('actual_length', _size(got))}"
    if kind in ("string_too_short", "string_too_long"):
        size = "at least" if kind == "string_too_short" else "at most"
        bound = ctx.get("min_length" if kind == "string_too_short" else "max_length")
        length = len(got) if isinstance(got, str) else "?"
        return f"{where} must be {size} {bound} character(s) long; got {length}"
    return f"{where} must be {_allowed(errors)}; got {_shown(got)}"


def _allowed(errors: list[ErrorDetails]) -> str:
    """What the location allows, the members of a union joined."""
    expected = [str((e.get("ctx") or {}).get("expected", "")) for e in errors if e["type"] in ("literal_error", "enum")]
    if expected and len(expected) == len(errors):
        values = ", ".join(part.replace(" or ", ", ") for part in expected).rsplit(", ", 1)
        return ("one of " + " or ".join(values)) if len(values) > 1 else values[0]
    rules: list[str] = []
    for error in errors:
        rule = _rule(error)
        if rule not in rules:
            rules.append(rule)
    return " or ".join(rules)


def _rule(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"{words} {_number(ctx.get(key))}"
    if kind in ("literal_error", "enum"):
        return f"one of {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        return f"text matching {ctx.get('pattern')}"
    if kind in _KINDS:
        return _KINDS[kind]
    message = str(error["msg"])
    return message.removeprefix("Input should be ") if message.startswith("Input should be ") else f"valid ({message})"


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _size(value: Any) -> str:
    return str(len(value)) if isinstance(value, Sized) else "?"


def _shown(value: Any) -> str:
    """The value sent, as the user wrote it when it is a short scalar; a container by its kind and size."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | float):
        return _number(value) if abs(value) < 1e18 else f"{value:.3g}"
    if isinstance(value, str):
        return repr(_cut(value))
    if isinstance(value, Mapping):
        return f"a mapping of {len(value)} key(s)"
    if isinstance(value, list | tuple | set):
        return f"a list of {len(value)} item(s)"
    return f"a value of type {type(value).__name__}"
