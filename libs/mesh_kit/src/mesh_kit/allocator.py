"""Freed memory goes back to the system soon after it is freed: a process' peak is what it holds, not what it held.

Two allocators serve a run: Polars' jemalloc (its columns and query results) and the C library's malloc
(numpy's arrays, Python's large objects). Both keep freed memory for reuse by default. jemalloc's is
returned within 0.1 s when ``_RJEM_MALLOC_CONF`` says so, which must be set before Polars loads (Polars' own
default keeps it for 0.5 to 1 s; returning it at once cost a second of system time on ``dsp profile`` of a
1M x 20 file, for 45 MB less at the peak). glibc's malloc keeps a freed block of its heap, and with threads one
heap per thread, so an array freed by one column's thread stays resident while the next column's thread
allocates its own: :func:`give_back_freed_memory` (``malloc_trim``), called by the profile between columns,
returns the whole free pages of every heap. Mapping every allocation of :data:`MMAP_THRESHOLD` bytes or more on
its own (``DSP_MALLOC_MMAP_THRESHOLD``) returns them as they are freed, but each large array then starts on fresh
pages: on ``dsp profile`` of a 1M x 20 file, 1 s more CPU (system time) for 30 to 70 MB less at the peak than
the trims, so it is not the default.

jemalloc reads its setting once, when Polars loads: a program sets ``_RJEM_MALLOC_CONF`` (to :data:`JEMALLOC_CONF`)
before anything imports Polars. :func:`return_freed_memory` sets both, and its glibc part applies to every
allocation after the call, whenever it is made.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from typing import Any

__all__ = ["JEMALLOC_CONF", "MMAP_THRESHOLD", "give_back_freed_memory", "return_freed_memory"]

JEMALLOC_CONF = "dirty_decay_ms:100,muzzy_decay_ms:0"
MMAP_THRESHOLD = 1 << 20
"""A threshold that maps a column's arrays on their own (1 MiB), for ``DSP_MALLOC_MMAP_THRESHOLD``."""
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def return_freed_memory() -> bool:
    """Set both allocators to return freed memory soon after it is freed; True when the C library took the setting.

    An explicit ``_RJEM_MALLOC_CONF`` in the environment is kept; ``DSP_MALLOC_MMAP_THRESHOLD`` (bytes, such as
    :data:`MMAP_THRESHOLD`) sets the C library's threshold, and unset or ``0`` leaves its default. Outside glibc
    (musl, macOS) only the jemalloc setting applies.
    """
    os.environ.setdefault("_RJEM_MALLOC_CONF", JEMALLOC_CONF)
    threshold = int(os.environ.get("DSP_MALLOC_MMAP_THRESHOLD") or 0)
    mallopt = _glibc("mallopt") if threshold > 0 else None
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold)) if mallopt else False


@functools.cache
def _glibc(name: str) -> Any:
    """glibc's function ``name``; None outside Linux or when the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def give_back_freed_memory() -> bool:
    """Hand the C library's freed memory back to the system now (glibc's ``malloc_trim``); True when it gave some.

    glibc keeps freed blocks in its heaps, one per thread, for reuse: a column's arrays freed by one profiling thread
    stay resident while the next column's thread allocates its own. A trim between columns returns every whole
    free page of every heap, in the middle of a heap too, for a few milliseconds; outside glibc it does nothing.
    """
    trim = _glibc("malloc_trim")
    return bool(trim(0)) if trim else False
