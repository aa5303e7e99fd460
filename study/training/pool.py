"""Training workers forked from the study's process: nothing to import, nothing to start.

joblib's (loky's) workers are fresh interpreters: each imports numpy, scikit-learn and the
study's modules, 1-2 s of CPU a worker, while the study's own process imports MLflow and opens
its store on the same cores. Forked from the study's process before MLflow loads, a worker has
all of it already, shared copy-on-write: a 300-seed study on 2 cores took 8.0 s instead of 9.7 s
(three alternating runs), with 2.5 s less CPU in all. :func:`start` forks them only where that
is safe: on Linux, with no other thread running (a notebook's kernel has some; so has a process
that already opened a store); elsewhere it returns None and the study uses joblib's workers, as
the scikit-learn backend does.

The pool is kept for the process, as joblib keeps its workers: a sweep's studies, the null
networks and the retraining all use it. :func:`release` ends it.

Workers of both kinds end with the study's process, however it ends (a SIGKILL runs no cleanup:
the forked workers, 130 MB each, and joblib's lived on for minutes): joblib's are made by
:func:`parallel`, which gives them :func:`watch_parent`; the chart-drawing child watches its
parent too, and a sweep's job in a launcher's worker calls :func:`watch_launcher`.
"""

from __future__ import annotations

import os
import sys
import threading
import time

__all__ = ["start", "current", "release", "parallel", "watch_parent", "watch_launcher"]

_POOL: list = []  # [(n_workers, executor)]: at most one


def start(n_workers: int, *, before=None):
    """The forked pool of ``n_workers`` processes (made now, or the one made before), or None
    where forking is not safe here, or a pool of another size exists. ``before()`` imports
    what the workers need, in this process, before they are forked."""
    if _POOL:
        return current(n_workers)
    if not _fork_safe():
        return None
    if before is not None:
        before()
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # with the fork method every worker is forked at the first submit, before the executor
    # starts its own thread (concurrent.futures.process): by this process's only thread
    pool = ProcessPoolExecutor(
        n_workers,
        mp_context=mp.get_context("fork"),
        initializer=_worker_setup,
        initargs=(n_workers, os.getpid()),
    )
    try:
        list(pool.map(abs, range(n_workers)))
    except Exception:  # noqa: BLE001 - no fork (limits, memory): joblib's workers then
        pool.shutdown(wait=False, cancel_futures=True)
        return None
    _POOL.append((n_workers, pool))
    return pool


def current(n_workers: int):
    """The pool of ``n_workers`` made by :func:`start`, or None."""
    return _POOL[0][1] if _POOL and _POOL[0][0] == n_workers else None


def release() -> None:
    """End the pool: its idle workers leave at once (at the interpreter's exit they would too);
    after a worker died and broke it, joblib's workers carry on."""
    if _POOL:
        _POOL.pop()[1].shutdown(wait=False, cancel_futures=True)


def parallel(n_jobs: int, **kwargs):
    """joblib's ``Parallel(n_jobs, **kwargs)``, whose worker processes end with this one. Every
    use of joblib in the study goes through here: loky reuses its workers only for the same
    initializer, and starts new ones for another."""
    from joblib import Parallel

    return Parallel(n_jobs=n_jobs, initializer=watch_parent, initargs=(os.getpid(),), **kwargs)


def watch_parent(parent: int) -> None:
    """In a worker of joblib: end it once ``parent`` has ended. A thread polls ``os.getppid()``
    (which then names another process): loky starts workers from whichever thread submits work
    (the warm-up thread, joblib's callbacks), and Linux's parent-death signal comes when that
    thread ends, not the process."""
    _end_with(parent, signal_ok=False)


def watch_launcher() -> None:
    """In a sweep's job run by a launcher's worker process (Hydra's joblib launcher): end it
    with the ``study-run -m`` that started it, which otherwise ran on its studies for minutes.
    Once per process; nothing in a job run by the sweep's own process."""
    import multiprocessing as mp

    # the launcher's pid as the worker was started: gone by now, the worker ends at once
    parent = mp.parent_process()
    if parent is not None and not _WATCHED:
        _WATCHED.append(parent.pid)
        _end_with(parent.pid, signal_ok=False)


_WATCHED: list[int] = []  # the parent a launcher's worker watches


def _end_with(parent: int, *, signal_ok: bool) -> None:
    """End this worker when ``parent`` ends: by the kernel's SIGKILL where ``signal_ok`` (the
    worker was forked by the parent's only thread) and Linux has it, else by a watching thread."""
    if signal_ok and _parent_death_signal():
        if os.getppid() != parent:  # it ended before the signal was asked for
            os._exit(1)
        return
    threading.Thread(target=_watch, args=(parent,), name="study-watch-parent", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _parent_death_signal() -> bool:
    """Ask Linux for SIGKILL when the thread that forked this process ends; whether it took."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def _fork_safe() -> bool:
    import multiprocessing as mp

    return (
        sys.platform.startswith("linux")
        and "fork" in mp.get_all_start_methods()
        and threading.active_count() == 1
    )


def _worker_setup(n_workers: int, parent: int) -> None:
    """In each worker: Ctrl-C is the study's process's to handle (it stops the study and ends
    the pool), its death ends the worker, and one BLAS thread per core as joblib gives its
    workers."""
    import signal

    _end_with(parent, signal_ok=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from threadpoolctl import threadpool_limits

    threadpool_limits(max(1, (os.cpu_count() or 1) // n_workers))
