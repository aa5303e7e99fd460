"""The process's memory: freed memory kept instead of handed back at once, and no final garbage
collection at exit.

glibc's ``malloc`` serves an array above its mmap threshold (128 KB, raised as large blocks are
freed, at most 32 MB) with a fresh ``mmap`` and gives it back on ``free``; the memory it frees at
the top of the heap beyond the trim threshold goes back too. The batched trainer makes a few
temporaries of a block's activations per step (0.3-8 MB each), hundreds of steps per block, so
every step paid for page faults on new memory: the system time of a 1000-seed study was a fifth
of its CPU time, and 1000 networks trained at 117 a second in one block, 96 in blocks of 250.
With the thresholds raised here they train at 182 and 196 a second, the same numbers (the
arithmetic is untouched). The cost: a process keeps up to :data:`TRIM` bytes it freed (a
study's peak memory is a few hundred MB). Elsewhere than glibc (macOS, musl) nothing changes.
"""

from __future__ import annotations

__all__ = ["keep_freed_memory", "skip_final_collection"]

MMAP = 64 * 2**20  # arrays below this come from the heap, reused after free
TRIM = 512 * 2**20  # freed memory kept at the top of the heap before it goes back
PAD = 64 * 2**20  # extra asked of the system each time the heap grows
_done: list[bool] = []


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds in this process (once); whether it did."""
    if _done:
        return _done[0]
    ok = False
    try:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version"):
            m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # glibc's malloc.h
            ok = bool(
                libc.mallopt(m_mmap_threshold, MMAP)
                and libc.mallopt(m_trim_threshold, TRIM)
                and libc.mallopt(m_top_pad, PAD)
            )
    except (OSError, AttributeError):  # no C library to talk to: leave malloc as it is
        ok = False
    _done.append(ok)
    return ok


def skip_final_collection() -> None:
    """At exit, skip the interpreter's last full garbage collection (``gc.freeze`` from an
    ``atexit`` handler: the objects still alive are then left to the system). A command that
    analysed a 1000-seed study holds millions of objects (tables, figures, MLflow's ORM): that
    collection took 1.3 s after the command was done. Every file the commands write is closed
    before they return, so nothing is lost."""
    import atexit
    import gc

    atexit.register(gc.freeze)
