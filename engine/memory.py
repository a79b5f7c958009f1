"""The allocator setting that keeps a long clip's memory flat.

glibc serves a large array from mmap, returning it to the system when freed,
until the first such array is freed; then it raises that threshold (up to
32 MiB) and serves arrays of that size from its heaps, where freed ones leave
holes it keeps. Walking a clip chunk by chunk allocates and frees the same
few sizes over and over, so a long run held ~50-90 MB more than it used
(bench/long_clip.py). A fixed 1 MiB threshold sends chunks and window
arrays to mmap and keeps per-frame scraps in the heap, at no measurable cost
in speed. A threshold the user set (MALLOC_MMAP_THRESHOLD_) is left alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h
_done = False


def keep_large_arrays_out_of_the_heap() -> None:
    """Fix glibc's mmap threshold once per process; elsewhere there is nothing to do."""
    global _done
    if _done:
        return
    _done = True
    if os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return
    if mallopt is not None:
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
