"""The error the analysis raises for a request it cannot serve."""

from __future__ import annotations

from typing import Literal

from shared_contracts.errors import StageError

__all__ = ["AnalysisError", "AnalysisErrorCode"]

AnalysisErrorCode = Literal[
    "target_not_found",
    "single_class_target",
    "too_few_rows",
    "too_many_classes",
    "unsupported_target",
    "no_usable_columns",
    "unreadable_data",
    "model_tampered",
    "model_not_found",
    "bad_prediction_input",
    "split_mismatch",
    "task_not_supported",
    "target_required",
]


class AnalysisError(StageError):
    """A request the analysis cannot serve, with a stable code and a plain-language message.

    Parameters
    ----------
    code
        Stable machine-readable code, for example ``"target_not_found"``.
    message
        Explanation shown to the user.
    """

    def __init__(self, code: AnalysisErrorCode, message: str) -> None:
        super().__init__(code, message)
        self.code: AnalysisErrorCode = code
