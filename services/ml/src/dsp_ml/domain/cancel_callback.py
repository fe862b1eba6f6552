"""The AutoGluon callback that ends a fit before its next model once the job is cancelled.

A module of its own, imported only where AutoGluon is: the trainer pickles its callbacks with itself
while it fits, so the class must be importable by name (and is, wherever ``dsp_ml`` is installed).
"""

from __future__ import annotations

from typing import Any

from autogluon.core.callbacks import AbstractCallback
from shared_contracts.cancel import CancelToken

__all__ = ["CancelCallback"]


class CancelCallback(AbstractCallback):
    """Early-stops the trainer once ``token`` is cancelled; pickled without its token (a callback that never stops).

    A model already fitting is stopped by ``token.interruptible()`` around the fit; this callback keeps
    the trainer from starting the next one.
    """

    def __init__(self, token: CancelToken | None) -> None:
        super().__init__()
        self.token = token

    def _before_model_fit(self, trainer: Any, model: Any, time_limit: float | None = None, stack_name: str = "core",
                          level: int = 1) -> tuple[bool, bool]:
        stop = self.token is not None and self.token.cancelled
        return stop, stop

    def _after_model_fit(self, trainer: Any, model_names: list[str], stack_name: str = "core",
                         level: int = 1) -> bool:
        return self.token is not None and self.token.cancelled

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "token": None}
