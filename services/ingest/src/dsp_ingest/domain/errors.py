"""The one exception the ingest core raises for inputs it cannot accept."""

from __future__ import annotations

import re
from typing import Any

from shared_contracts.errors import StageError

__all__ = ["IngestError", "numbers_named"]


class IngestError(StageError):
    """An upload that cannot be ingested, with a stable code and a plain-language message.

    Parameters
    ----------
    code
        Stable snake_case identifier, for example ``"csv_ragged_rows"`` or ``"binary_file"``.
    message
        Plain-language explanation meant for the person who uploaded the file.
    details
        JSON-serialisable facts backing the message (counts, line numbers, ...).
    """

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(code, message, details)


_NAMED_NUMBER = re.compile(r"\b(line|row|column|position|offset)\s*(?:number\s*)?[:=]?\s*(\d+)", re.IGNORECASE)


def numbers_named(reason: BaseException) -> dict[str, int]:
    """The line, row, column, position or offset numbers a library's error names (each the first one named), as
    precise details safe to show: the error's own text is not (it can hold paths, internals, other data), so it
    is logged by the service, never sent."""
    found: dict[str, int] = {}
    for name, number in _NAMED_NUMBER.findall(str(reason)):
        found.setdefault(name.lower(), int(number))
    return found
