"""Train the same network once per seed and compute every configured importance.

A run is a pure function of ``(plan, seed)``: the same plan and seed give identical numbers in any
process, so results do not depend on ``n_jobs``. Seeds run in parallel with joblib; each worker
uses one BLAS thread (these networks are far too small to gain from more, and a fixed thread count
keeps floating-point sums identical between sequential and parallel runs).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import importance, models
from .datasets import Dataset, split
from .record import FailedRun, RunRecord

__all__ = ["Plan", "run_one", "run_one_or_fail", "run_many", "seeds_for", "request_stop",
           "check_stop"]

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


@dataclass(frozen=True)
class Plan:
    """Everything one run needs (picklable, sent to each worker).

    ``split_seed``: the seed of the train/test split, the same for every run; None draws a new
    split per run from the run's own seed (``study.resplit``). ``permute_response``: train on the
    training response permuted by the run's seed (the null networks of the randomisation test;
    the held-out data keep their real response).
    """

    dataset: Dataset
    model: Mapping
    methods: tuple[str, ...]
    method_options: Mapping = field(default_factory=dict)
    test_size: float = 0.25
    split_seed: int | None = 0
    permute_response: bool = False


def seeds_for(first: int, n_runs: int) -> list[int]:
    """The explicit seeds of a study: ``first, first + 1, ..., first + n_runs - 1``."""
    return list(range(int(first), int(first) + int(n_runs)))


def run_one(plan: Plan, seed: int) -> RunRecord:
    """Split, fit, score and compute every importance for one seed."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        data = split(
            plan.dataset,
            test_size=plan.test_size,
            seed=seed if plan.split_seed is None else plan.split_seed,
        )
        if plan.permute_response:
            order = np.random.default_rng(seed).permutation(len(data.y_train))
            data = dataclasses.replace(data, y_train=data.y_train[order])
        model = models.make_model(plan.dataset.task, plan.model, seed=seed)
        t0 = time.perf_counter()
        info = models.fit(model, data.X_train, data.y_train)
        t1 = time.perf_counter()
        network = importance.Network(
            coefs=[w.copy() for w in model.coefs_],
            intercepts=[b.copy() for b in model.intercepts_],
            model=model,
            X=data.X_test,
            y=data.y_test,
            seed=seed,
            X_train=data.X_train,
        )
        values = importance.compute(plan.methods, network, options=plan.method_options)
        t2 = time.perf_counter()
        return RunRecord(
            seed=int(seed),
            train_score=float(model.score(data.X_train, data.y_train)),
            test_score=float(model.score(data.X_test, data.y_test)),
            n_iter=info.n_iter,
            converged=info.converged,
            coefs=network.coefs,
            intercepts=network.intercepts,
            importances=values,
            timings={"fit": t1 - t0, "importance": t2 - t1},
        )


def run_one_or_fail(plan: Plan, seed: int) -> RunRecord | FailedRun:
    """:func:`run_one`, with an exception (a diverged fit, NaN weights, a bug in a method)
    returned as a :class:`FailedRun` so that the other seeds go on. Ctrl-C still stops."""
    import traceback

    try:
        return run_one(plan, seed)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        error = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        return FailedRun(seed=int(seed), error=error, traceback=traceback.format_exc())


def run_many(plan: Plan, seeds, *, n_jobs: int = 1, keep_going: bool = False):
    """Yield one :class:`RunRecord` per seed, in order of completion (not of seed).

    ``n_jobs`` > 1 (or -1 for every core) runs seeds in parallel worker processes.
    ``keep_going``: a seed that raises yields a :class:`~study.record.FailedRun` instead of
    stopping every seed.
    """
    seeds = [int(s) for s in seeds]
    one = run_one_or_fail if keep_going else run_one
    if n_jobs == 1 or len(seeds) == 1:
        for s in seeds:
            yield one(plan, s)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    yield from parallel(delayed(one)(plan, s) for s in seeds)


def nan_safe_mean(values) -> float:
    """Mean of the finite values (NaN if none): a diverged run must not blank the progress bar."""
    arr = np.asarray(list(values), dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("nan")
