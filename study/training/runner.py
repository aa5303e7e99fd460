"""Train the same network once per seed and compute every configured importance.

A run is a pure function of ``(plan, seed)``: the same plan and seed give identical numbers in any
process, so results do not depend on ``n_jobs``. Seeds run in parallel with joblib; each worker
uses one BLAS thread (these networks are far too small to gain from more, and a fixed thread count
keeps floating-point sums identical between sequential and parallel runs).

The pieces: :mod:`study.training.plan` (what a network is trained on),
:mod:`study.training.train` (one network or a block), :mod:`study.training.scoring` (its record)
and :mod:`study.training.workers` (blocks over worker processes); the names other modules use
are importable from here.
"""

from __future__ import annotations

import threading

from study.training import pool as _pool
from study.training.plan import (
    Null,
    Plan,
    Resample,
    resamples_for,
    seeds_for,
)
from study.training.train import run_block, run_one, run_one_or_fail
from study.training.workers import blocks, in_blocks, release_workers, run_blocks, warm_up

__all__ = [
    "Plan",
    "Null",
    "Resample",
    "run_one",
    "run_one_or_fail",
    "run_block",
    "run_many",
    "blocks",
    "seeds_for",
    "resamples_for",
    "request_stop",
    "check_stop",
    "warm_up",
    "release_workers",
]

# scikit-learn's MLP catches KeyboardInterrupt inside fit() and returns a half-trained network;
# so a Ctrl-C or SIGTERM also sets this flag (the console script's signal handler), and the
# study checks it after every seed: the seed that "finished" after the interrupt is dropped.
_STOP = threading.Event()


def request_stop() -> None:
    """Ask the running study to stop (from a signal handler), then raise KeyboardInterrupt."""
    _STOP.set()
    raise KeyboardInterrupt


def check_stop() -> None:
    """Raise KeyboardInterrupt if a stop was requested, even if something swallowed it."""
    if _STOP.is_set():
        raise KeyboardInterrupt


def run_many(plan: Plan, seeds, *, n_jobs: int = 1, keep_going: bool = False):
    """Yield one :class:`RunRecord` per seed (an integer, or a :class:`Null`), in their order
    (each as soon as it and the seeds before it are done: the store then lists seeds in order).

    ``n_jobs`` > 1 (or -1 for every core) runs seeds in parallel worker processes.
    ``keep_going``: a seed that raises yields a :class:`~study.training.record.FailedRun` instead of
    stopping every seed.
    """
    seeds = [s if isinstance(s, Null) else int(s) for s in seeds]
    if in_blocks(plan):
        yield from run_blocks(plan, seeds, n_jobs=n_jobs, keep_going=keep_going)
        return
    one = run_one_or_fail if keep_going else run_one
    if n_jobs == 1 or len(seeds) == 1:
        for s in seeds:
            yield one(plan, s)
        return
    from joblib import delayed

    parallel = _pool.parallel(n_jobs, return_as="generator")
    yield from parallel(delayed(one)(plan, s) for s in seeds)


# the private names benchmarks/benchmark.py reads from here
