"""The one coded error type of every stage: a failure caused by the input, not by the platform.

Stage cores raise it (or a subclass of their own, such as the ingest core's ``IngestError``); the
mesh turns it into ``stage.failed`` at once, with no retry, and the ``dsp`` command prints it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .envelope import EventPayload

__all__ = ["StageError", "require_target"]


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
