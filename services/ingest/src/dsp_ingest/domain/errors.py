"""The one exception the ingest core raises for inputs it cannot accept."""

from __future__ import annotations

from typing import Any

from shared_contracts.errors import StageError

__all__ = ["IngestError"]


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
