"""Charts drawn in two processes: a forked copy of this one draws charts meanwhile.

Drawing a chart is matplotlib's Python (ticks, text layout, Agg), about a second per chart of a
study whatever its number of seeds, on one core. :func:`start` forks a child that inherits
everything the charts read (the analysis, matplotlib already imported: nothing is pickled) and
draws charts into the study's folder while this process does its own work (tables, checks);
:meth:`Drawing.finish` then draws whatever the child has not begun and waits for it. The charts
are handed out one at a time, costliest first, through a pipe both processes read (a byte per
chart: each goes to whichever reads it first), so the two finish together however long this
process's own work takes. Where there is no ``fork`` (Windows), one core, or one chart,
everything is drawn here, in order. A chart whose drawing fails in the child is drawn again
here, so that a bug raises with its traceback in the study's own process.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from study.report.plots._base import save

__all__ = ["Drawing", "start"]

_MAX_JOBS = 255  # one byte a chart in the pipe


class Drawing:
    """Charts being drawn: ``jobs`` are ``(path, draw, cost)``, ``draw()`` making the figure
    and ``cost`` its rough share of the time (the costliest are handed out first)."""

    def __init__(self, jobs: Sequence[tuple[Path, Callable, float]], *, fork: bool | None = None):
        self._jobs = list(jobs)
        self._pid = self._queue = None
        if fork is None:
            fork = hasattr(os, "fork") and (os.cpu_count() or 1) > 1 and len(self._jobs) > 1
        if fork and 1 < len(self._jobs) <= _MAX_JOBS:
            self._queue = _queue(sorted(range(len(self._jobs)), key=lambda i: -self._jobs[i][2]))
            self._pid = _fork(self._jobs, self._queue)
            if self._pid is None:  # fork refused (no memory, limits): draw them all here
                os.close(self._queue)
                self._queue = None

    def finish(self) -> list[Path]:
        """Draw the charts the child has not taken, wait for it; the paths in the order given."""
        if self._pid is None:
            for path, draw, _ in self._jobs:
                save(draw(), path)
            return [path for path, _, _ in self._jobs]
        mine = set()
        try:
            for i in _taken(self._queue):
                mine.add(i)
                save(self._jobs[i][1](), self._jobs[i][0])
        finally:
            os.close(self._queue)
            status, self._pid = _wait(self._pid, TIMEOUT), None
            gc.unfreeze()  # frozen at the fork: collectable again once the child is gone
        theirs = [job for i, job in enumerate(self._jobs) if i not in mine]
        if status != 0 or not all(p.is_file() for p, _, _ in theirs):
            for path, draw, _ in theirs:  # again here: a bug shows its traceback
                save(draw(), path)
        return [path for path, _, _ in self._jobs]

    def __del__(self):  # an exception between start and finish: do not leave a zombie
        if getattr(self, "_pid", None) is not None:
            try:
                os.close(self._queue)
                os.waitpid(self._pid, 0)
            except OSError:
                pass
            gc.unfreeze()


TIMEOUT = 600.0  # seconds the child may take before it is killed and its charts drawn here


def _queue(order) -> int:
    """The read end of a pipe holding ``order``, a byte per job; its write end is closed, so a
    reader finds the end of the queue once the pipe is empty."""
    r, w = os.pipe()
    try:
        os.write(w, bytes(order))  # a few bytes: far below the pipe's buffer
    finally:
        os.close(w)
    return r


def _taken(queue: int):
    """The jobs this process takes from ``queue``, one at a time, until it is empty (a read of
    one byte is atomic: each job goes to one process)."""
    while b := os.read(queue, 1):
        yield b[0]


def _wait(pid: int, timeout: float) -> int:
    """The child's exit status; a child still drawing after ``timeout`` (a lock a thread of this
    process held when it forked, say) is killed: status -1."""
    import signal
    import time

    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -1
        time.sleep(0.01)


def start(jobs, *, fork: bool | None = None) -> Drawing:
    """Start drawing ``jobs`` (see :class:`Drawing`); ``fork``: None decides by the machine."""
    return Drawing(jobs, fork=fork)


def _fork(jobs, queue: int) -> int | None:
    import signal
    import sys

    from study.training.pool import watch_parent

    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()  # collections skip what both processes share: fewer pages copied on write
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        gc.unfreeze()
        return None
    if pid:
        return pid
    code = 1
    try:  # the child: draw, then leave at once (no atexit, no finalisers of the parent's state)
        watch_parent(parent)  # a study SIGKILLed meanwhile: its charts are not wanted
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for i in _taken(queue):
            save(jobs[i][1](), jobs[i][0])
        code = 0
    except BaseException:  # noqa: BLE001 - redrawn (and raised) by the parent
        pass
    finally:
        os._exit(code)
