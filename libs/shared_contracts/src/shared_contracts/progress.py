"""The progress callback every stage core accepts."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ProgressFn", "no_progress"]

ProgressFn = Callable[[float, str], None]
"""Called with a fraction in [0, 1] of the stage done and a short message."""


def no_progress(fraction: float, message: str) -> None:
    """A progress callback that ignores progress."""
