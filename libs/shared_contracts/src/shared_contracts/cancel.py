"""The cancellation token every stage core accepts, as it accepts a progress callback.

A runtime (a service, the in-process mesh, the local bus) makes one token per job it works on
and cancels it when the job's cancellation reaches it, from any thread. A core calls
``token.check(step)`` between its steps, which raises ``Cancelled`` once the job is cancelled.
Work that runs long inside a library (an AutoML fit, a big join) runs inside
``with token.interruptible():``; a cancellation then raises ``Cancelled`` in that thread at its
next Python instruction, and again every ``retry_s`` until it leaves the block, so that a library
which swallows one exception still stops.

Examples
--------
>>> token = CancelToken()
>>> token.check("read")
>>> token.cancel("asked by the user")
>>> token.cancelled
True
>>> try:
...     token.check("profile")
... except Cancelled as exc:
...     print(exc.step)
profile
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["CancelToken", "Cancelled", "never_cancelled"]


class Cancelled(Exception):  # noqa: N818 - the job is cancelled; not an error
    """The job was cancelled; the stage stops and records nothing."""

    def __init__(self, step: str = "", reason: str = "") -> None:
        super().__init__(f"cancelled{f' during {step}' if step else ''}{f': {reason}' if reason else ''}")
        self.step, self.reason = step, reason


class CancelToken:
    """Set once, from any thread; read by the core between its steps."""

    def __init__(self, *, retry_s: float = 0.5) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._inside: dict[int, int] = {}  # thread id -> depth of interruptible blocks
        self._retry_s = retry_s
        self.reason = ""

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self, step: str = "") -> None:
        """Raise ``Cancelled`` if the job is cancelled."""
        if self._event.is_set():
            raise Cancelled(step, self.reason)

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s``, waking at once on cancellation; whether the job is cancelled."""
        return self._event.wait(timeout_s)

    def cancel(self, reason: str = "") -> None:
        """Cancel the job: ``check`` raises from now on, and threads inside ``interruptible`` are interrupted."""
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            threads = list(self._inside)
        for thread_id in threads:
            threading.Thread(target=self._interrupt, args=(thread_id,), daemon=True,
                             name="dsp-cancel").start()

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """Let a cancellation interrupt this thread while inside the block (raising ``Cancelled`` in it)."""
        ident = threading.get_ident()
        with self._lock:
            self._inside[ident] = self._inside.get(ident, 0) + 1
            already = self._event.is_set()
        try:
            if already:
                raise Cancelled("", self.reason)
            yield
        finally:
            with self._lock:
                depth = self._inside.pop(ident) - 1
                if depth:
                    self._inside[ident] = depth
                elif self._event.is_set():
                    # an interruption set just as the block ended must not fire outside it
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)

    def _interrupt(self, thread_id: int) -> None:
        # raise in the thread until it has left its interruptible block (a library may swallow one raise)
        while True:
            with self._lock:
                if thread_id not in self._inside:
                    return
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(Cancelled))
            time.sleep(self._retry_s)


_NEVER = CancelToken()


def never_cancelled() -> CancelToken:
    """A token nothing cancels, for callers without a job (tests, one-off calls)."""
    return _NEVER
