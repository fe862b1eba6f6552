"""Freed memory is handed back to the system: a process' resident memory falls when its large blocks are freed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# As a profile's threads do: large blocks (a column's arrays) between small ones that live on (its results), in a
# thread (a heap of its own). A first large block freed raises glibc's default threshold past the blocks' size, so
# without the setting they come from the heap, where the small ones pin them once freed. The child prints its
# resident memory before, at the height and after.
_CHILD = r"""
import ctypes, os, re, sys, threading
if sys.argv[1] == "threshold":
    os.environ["DSP_MALLOC_MMAP_THRESHOLD"] = "1048576"
    from mesh_kit.allocator import return_freed_memory
    assert return_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def rss_mib():
    return int(re.search(r"VmRSS:\s+(\d+)", open("/proc/self/status").read()).group(1)) // 1024

held, pins = [], []
def work():
    libc.free(libc.malloc(4 << 20))
    for _ in range(150):  # 300 MiB
        block = libc.malloc(2 << 20)
        ctypes.memset(block, 1, 2 << 20)
        held.append(block)
        pins.append(libc.malloc(64))
    heights.append(rss_mib())
    for block in held:
        libc.free(block)
heights = []
before = rss_mib()
thread = threading.Thread(target=work)
thread.start()
thread.join()
if sys.argv[1] == "trim":
    from mesh_kit.allocator import give_back_freed_memory
    assert give_back_freed_memory()
print(before, heights[0], rss_mib())
"""


def _run(mode: str) -> tuple[int, int, int]:
    done = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True)
    before, height, after = map(int, done.stdout.split())
    return before, height, after


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the setting is glibc's mallopt, on Linux only")
@pytest.mark.parametrize("mode", ["threshold", "trim"])
def test_freed_blocks_leave_the_resident_memory_with_a_threshold_or_a_trim_and_stay_without(mode: str) -> None:
    before, height, after = _run(mode)
    assert height - before >= 280  # the blocks were resident
    assert after - before < 30  # and are gone once freed (and, with a trim, given back)
    before, height, after = _run("off")
    assert height - before >= 280
    assert after - before > 200  # glibc's default keeps them, pinned in the thread's heap


def test_an_explicit_jemalloc_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    from mesh_kit.allocator import JEMALLOC_CONF, return_freed_memory

    monkeypatch.setenv("DSP_MALLOC_MMAP_THRESHOLD", "0")  # this process' own malloc is left as it is
    monkeypatch.setenv("_RJEM_MALLOC_CONF", "background_thread:true")
    return_freed_memory()
    assert os.environ["_RJEM_MALLOC_CONF"] == "background_thread:true"
    monkeypatch.delenv("_RJEM_MALLOC_CONF")
    return_freed_memory()
    assert os.environ["_RJEM_MALLOC_CONF"] == JEMALLOC_CONF


@pytest.mark.parametrize("setting", [None, "0"])
def test_no_threshold_or_zero_leaves_the_c_library_as_it_is(monkeypatch: pytest.MonkeyPatch, setting: str | None) -> None:
    from mesh_kit.allocator import return_freed_memory

    if setting is None:
        monkeypatch.delenv("DSP_MALLOC_MMAP_THRESHOLD", raising=False)
    else:
        monkeypatch.setenv("DSP_MALLOC_MMAP_THRESHOLD", setting)
    assert return_freed_memory() is False
