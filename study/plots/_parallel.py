"""Charts drawn in two processes: a forked copy of this one draws part of them meanwhile.

Drawing a chart is matplotlib's Python (ticks, text layout, Agg), about a second per chart of a
study whatever its number of seeds, on one core. :func:`start` forks a child that inherits
everything the charts read (the analysis, matplotlib already imported: nothing is pickled) and
draws its share into the study's folder while this process draws the rest and does its own work
(tables, checks); :meth:`Drawing.finish` waits for it. Where there is no ``fork`` (Windows), one
core, or one chart, everything is drawn here, in order. A chart whose drawing fails in the child
is drawn again here, so that a bug raises with its traceback in the study's own process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ._base import save

__all__ = ["Drawing", "start", "child_share"]


class Drawing:
    """Charts being drawn: ``jobs`` are ``(path, draw, cost)``, ``draw()`` making the figure
    and ``cost`` its rough share of the time (to split the work evenly)."""

    def __init__(self, jobs: Sequence[tuple[Path, Callable, float]], *, fork: bool | None = None,
                 share: float = 0.5):  # fmt: skip
        self._jobs = list(jobs)
        self._pid = None
        if fork is None:
            fork = hasattr(os, "fork") and (os.cpu_count() or 1) > 1 and len(self._jobs) > 1
        mine, theirs = _split(self._jobs, share) if fork else (self._jobs, [])
        self._mine, self._theirs = mine, theirs
        if theirs:
            self._pid = _fork(theirs)
            if self._pid is None:  # fork refused (no memory, limits): draw them here
                self._mine, self._theirs = self._jobs, []

    def finish(self) -> list[Path]:
        """Draw this process's share, wait for the child's; the paths in the order given."""
        for path, draw, _ in self._mine:
            save(draw(), path)
        if self._pid is not None:
            status = _wait(self._pid, TIMEOUT)
            self._pid = None
            if status != 0 or not all(p.is_file() for p, _, _ in self._theirs):
                for path, draw, _ in self._theirs:  # again here: a bug shows its traceback
                    save(draw(), path)
        return [path for path, _, _ in self._jobs]

    def __del__(self):  # an exception between start and finish: do not leave a zombie
        if getattr(self, "_pid", None) is not None:
            try:
                os.waitpid(self._pid, 0)
            except OSError:
                pass


TIMEOUT = 600.0  # seconds the child may take before it is killed and its charts drawn here


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


def start(jobs, *, fork: bool | None = None, share: float = 0.5) -> Drawing:
    """Start drawing ``jobs`` (see :class:`Drawing`); ``fork``: None decides by the machine;
    ``share``: the child's part of the cost (see :func:`child_share`)."""
    return Drawing(jobs, fork=fork, share=share)


def child_share(n_runs: int) -> float:
    """The child's share of the drawing. This process also writes the tables, logs the metrics
    and runs the checks meanwhile, work that grows with the seeds: next to nothing at 30 seeds,
    about 40% of the charts' time at 1000 (measured on 2 cores)."""
    return 0.55 + 0.15 * min(1.0, max(n_runs, 0) / 1000)


def _split(jobs, share: float = 0.5):
    """This process's share and the child's (``share`` of the cost), the costliest charts
    first (greedy; the child takes the first, as this process has its other work)."""
    mine, theirs, a, b = [], [], 0.0, 0.0
    ratio = share / (1 - share)
    for job in sorted(jobs, key=lambda j: -j[2]):
        if b <= a * ratio:
            theirs.append(job)
            b += job[2]
        else:
            mine.append(job)
            a += job[2]
    return mine, theirs


def _fork(jobs) -> int | None:
    import signal
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:
        return None
    if pid:
        return pid
    code = 1
    try:  # the child: draw, then leave at once (no atexit, no finalisers of the parent's state)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for path, draw, _ in jobs:
            save(draw(), path)
        code = 0
    except BaseException:  # noqa: BLE001 - redrawn (and raised) by the parent
        pass
    finally:
        os._exit(code)
