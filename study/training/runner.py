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

from study import importance
from study.datasets import CLASSIFICATION, Dataset, split
from study.training import models, resample
from study.training import pool as _pool
from study.training.record import FailedRun, RunRecord

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


@dataclass(frozen=True)
class Plan:
    """Everything one run needs (picklable, sent to each worker).

    ``split_seed``: the seed of the train/test split, the same for every run; None draws a new
    split per run from the run's own seed (``study.resplit``). ``resample``: how a resample
    network's training rows are drawn (``study.resample``; :mod:`study.training.resample`), from
    ``seed`` (``study.seed``) and its index.
    """

    dataset: Dataset
    model: Mapping
    methods: tuple[str, ...]
    method_options: Mapping = field(default_factory=dict)
    test_size: float = 0.25
    split_seed: int | None = 0
    resample: str = "none"
    seed: int = 0


@dataclass(frozen=True)
class Null:
    """A null network of the randomisation test, run where a seed would be: the training data
    with the response (``variable`` None) or input column ``variable`` permuted by the seed
    ``permutation``, and the network (initial weights, early-stopping split, minibatch order) and
    split of seed ``init``, or of ``permutation`` itself when ``init`` is None (fresh weights).
    The held-out data keep their real values."""

    permutation: int
    variable: int | None = None
    init: int | None = None

    @property
    def seed(self) -> int:
        """The seed of the network and of its split."""
        return int(self.permutation if self.init is None else self.init)

    def order(self, n: int) -> np.ndarray:
        """The permutation of the n training rows. The response permuted with fresh weights uses
        the seed alone (as before the designs); otherwise the variable and the tested seed join
        it, so that every null network has its own permutation."""
        if self.variable is None and self.init is None:
            return np.random.default_rng(self.permutation).permutation(n)
        key = [
            self.permutation,
            -1 if self.variable is None else self.variable,
            -1 if self.init is None else self.init,
        ]
        return np.random.default_rng([k + 1 for k in key]).permutation(n)


@dataclass(frozen=True)
class Resample:
    """Resample network ``index`` (its ledger id is ``resample.resample_id(index)``): the
    training rows of its split resampled (``kind``) and its network, both from its own seed
    (:func:`study.training.resample.network_seed` of ``study_seed``); the held-out rows as they
    are."""

    index: int
    kind: str
    study_seed: int

    @property
    def seed(self) -> int:
        """The seed of its rows, its network and (``study.resplit``) its split."""
        return resample.network_seed(self.study_seed, self.index)

    @property
    def id(self) -> int:
        return resample.resample_id(self.index)


def _job(plan: Plan, job):
    """A seed (an integer below :data:`study.training.resample.BASE`), a :class:`Null`, or the
    :class:`Resample` of a ledger id from :data:`~study.training.resample.BASE` up."""
    if isinstance(job, (Null, Resample)):
        return job
    if not resample.is_resample(job):
        return int(job)
    if plan.resample not in ("bootstrap", "subsample"):  # a bug: ids come from the settings
        raise ValueError(
            f"resample network {resample.index(job)} in a study with resample={plan.resample!r}"
        )
    return Resample(resample.index(job), plan.resample, plan.seed)


def _seed(job) -> int:
    """The seed of a job's network (and of its split under ``study.resplit``)."""
    return job.seed if isinstance(job, (Null, Resample)) else int(job)


def _id(job) -> int:
    """What a job's record is called in the study's ledger: a seed's own seed, a resample
    network's id (a null network is never in the ledger: its seed)."""
    return job.id if isinstance(job, Resample) else _seed(job)


def seeds_for(first: int, n_runs: int) -> list[int]:
    """The explicit seeds of a study: ``first, first + 1, ..., first + n_runs - 1``."""
    return list(range(int(first), int(first) + int(n_runs)))


def resamples_for(n_resamples: int) -> list[int]:
    """The ledger ids of a study's resample networks ``b = 0, ..., n_resamples - 1``."""
    return [resample.resample_id(b) for b in range(int(n_resamples))]


def _data(plan: Plan, job, shared=None):
    """The train/test split of a seed or :class:`Null` (``shared``: the study's fixed split,
    already made), with a null network's column of the training data permuted."""
    if shared is not None:
        data = shared
    else:
        data = split(
            plan.dataset,
            test_size=plan.test_size,
            seed=_seed(job) if plan.split_seed is None else plan.split_seed,
        )
    if isinstance(job, Resample):
        rows = resample.rows(job.kind, len(data.y_train), job.seed)
        _check_classes(plan, job, data.y_train, data.y_train[rows])
        data = dataclasses.replace(data, X_train=data.X_train[rows], y_train=data.y_train[rows])
    if isinstance(job, Null):
        order = job.order(len(data.y_train))
        if job.variable is None:
            data = dataclasses.replace(data, y_train=data.y_train[order])
        else:
            X = data.X_train.copy()
            X[:, job.variable] = X[order, job.variable]
            data = dataclasses.replace(data, X_train=X)
    return data


def _check_classes(plan: Plan, job: Resample, y_train, y) -> None:
    """A classifier's resample must hold every class of its training rows: a network with fewer
    outputs would not stack with the others. Such a resample fails alone (ValueError)."""
    if plan.dataset.task != CLASSIFICATION:
        return
    n, have = len(np.unique(y_train, axis=0)), len(np.unique(y, axis=0))
    if have < n:
        raise ValueError(
            f"resample {job.index} ({job.kind}) drew no training row of "
            f"{n - have} of the {n} classes"
        )


def _record(
    plan: Plan,
    seed: int,
    data,
    model,
    info: models.FitInfo,
    fit_seconds: float,
    started: float,
    *,
    null: bool = False,
    train_score: float | None = None,
    test_score: float | None = None,
    record_id: int | None = None,
):
    """Score the fitted ``model`` and compute every importance: the seed's :class:`RunRecord`
    (``started``: when its work began, epoch seconds). A ``null`` network is not scored on the
    held-out data (the test never reads it); ``train_score``, ``test_score``: already computed
    (for a block, :func:`study.training.batched.scores`); ``record_id``: the record's id in the
    ledger when it is not ``seed`` (a resample network's)."""
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
        seed=int(seed if record_id is None else record_id),
        train_score=float(
            model.score(data.X_train, data.y_train) if train_score is None else train_score
        ),
        test_score=np.nan
        if null
        else float(model.score(data.X_test, data.y_test) if test_score is None else test_score),
        n_iter=info.n_iter,
        converged=info.converged,
        coefs=network.coefs,
        intercepts=network.intercepts,
        importances=values,
        # epoch seconds: the child run's start and end times
        timings={
            "fit": fit_seconds,
            "importance": t2 - t1,
            "started_at": started,
            "finished_at": time.time(),
        },
    )


def run_one(plan: Plan, seed) -> RunRecord:
    """Split, fit, score and compute every importance for one seed (or :class:`Null`)."""
    from threadpoolctl import threadpool_limits

    started = time.time()
    job = _job(plan, seed)
    seed = _seed(job)
    with threadpool_limits(limits=1):
        data = _data(plan, job)
        model = models.make_model(plan.dataset.task, plan.model, seed=seed)
        t0 = time.perf_counter()
        info = models.fit(model, data.X_train, data.y_train)
        return _record(
            plan,
            seed,
            data,
            model,
            info,
            time.perf_counter() - t0,
            started,
            null=isinstance(job, Null),
            record_id=_id(job),
        )


def _failed(seed: int, exc: BaseException, tb: str | None = None) -> FailedRun:
    import traceback

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    error = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    tb = tb or "".join(traceback.format_exception(exc))
    return FailedRun(seed=int(seed), error=error, traceback=tb)


def run_block(plan: Plan, seeds, *, keep_going: bool = False) -> list:
    """:func:`run_one` for every seed, with the networks trained together by the batched backend
    (:mod:`study.training.batched`, ``model.backend: batched``); records in the order of ``seeds``.

    ``keep_going``: a seed whose fit or importance raises becomes a :class:`FailedRun`.
    """
    from threadpoolctl import threadpool_limits

    jobs = [_job(plan, s) for s in seeds]
    seeds, ids = [_seed(j) for j in jobs], [_id(j) for j in jobs]
    started = time.time()
    with threadpool_limits(limits=1):
        shared = None if plan.split_seed is None else _data(plan, plan.split_seed)
        datas = [_data_or_error(plan, j, shared) for j in jobs]
        short = {k: d for k, d in enumerate(datas) if isinstance(d, Exception)}
        if short:  # a resample short of a class fails alone; the others train as a block
            if not keep_going:
                raise next(iter(short.values()))
            rest = iter(
                run_block(plan, [j for k, j in enumerate(jobs) if k not in short], keep_going=True)
                if len(short) < len(jobs)
                else ()
            )
            return [
                _failed(ids[k], short[k]) if k in short else next(rest) for k in range(len(jobs))
            ]
        fitted = [models.make_model(plan.dataset.task, plan.model, seed=s) for s in seeds]
        t0 = time.perf_counter()
        try:
            infos = models.fit_many(fitted, [d.X_train for d in datas], [d.y_train for d in datas])
        except Exception as exc:
            if not keep_going:
                raise
            return [_failed(i, exc) for i in ids]
        per_seed = (time.perf_counter() - t0) / len(seeds)
        null = all(isinstance(j, Null) for j in jobs)
        # the scores from one forward pass of the block (model.score costs 2.5 ms a call in
        # scikit-learn's input checks, more than training a network here); null networks are
        # not scored on the held-out data
        train = _block_scores(fitted, [d.X_train for d in datas], [d.y_train for d in datas], infos)
        test = (
            [None] * len(jobs)
            if null
            else _block_scores(fitted, [d.X_test for d in datas], [d.y_test for d in datas], infos)
        )
        out = []
        for s, i, data, model, info, score, held_out in zip(
            seeds, ids, datas, fitted, infos, train, test
        ):
            try:
                if isinstance(info, Exception):
                    raise info
                out.append(
                    _record(
                        plan,
                        s,
                        data,
                        model,
                        info,
                        per_seed,
                        started,
                        null=null,
                        train_score=score,
                        test_score=held_out,
                        record_id=i,
                    )
                )
            except Exception as exc:
                if not keep_going:
                    raise
                out.append(_failed(i, exc))
        return out


def _data_or_error(plan: Plan, job, shared):
    """:func:`_data`, or the ValueError of a resample short of a class (:func:`_check_classes`)."""
    try:
        return _data(plan, job, shared)
    except ValueError as exc:
        if not isinstance(job, Resample):
            raise
        return exc


def _block_scores(fitted, Xs, ys, infos) -> list:
    """Scores of a block's fitted networks on their ``(X, y)`` at once (None where a fit failed
    or the batched backend did not train them: ``model.score`` then)."""
    from study.training import batched

    ok = [j for j, info in enumerate(infos) if not isinstance(info, Exception)]
    out = [None] * len(fitted)
    if not ok or batched.unsupported(fitted[0]) is not None:
        return out
    values = batched.scores([fitted[j] for j in ok], [Xs[j] for j in ok], [ys[j] for j in ok])
    for j, v in zip(ok, values):
        out[j] = float(v)
    return out


def run_one_or_fail(plan: Plan, seed) -> RunRecord | FailedRun:
    """:func:`run_one`, with an exception (a diverged fit, NaN weights, a bug in a method)
    returned as a :class:`FailedRun` so that the other seeds go on. Ctrl-C still stops."""
    try:
        return run_one(plan, seed)
    except Exception as exc:
        return _failed(_id(_job(plan, seed)), exc)


def run_many(plan: Plan, seeds, *, n_jobs: int = 1, keep_going: bool = False):
    """Yield one :class:`RunRecord` per seed (an integer, or a :class:`Null`), in their order
    (each as soon as it and the seeds before it are done: the store then lists seeds in order).

    ``n_jobs`` > 1 (or -1 for every core) runs seeds in parallel worker processes.
    ``keep_going``: a seed that raises yields a :class:`~study.training.record.FailedRun` instead of
    stopping every seed.
    """
    seeds = [s if isinstance(s, Null) else int(s) for s in seeds]
    if _in_blocks(plan):
        yield from _run_blocks(plan, seeds, n_jobs=n_jobs, keep_going=keep_going)
        return
    one = run_one_or_fail if keep_going else run_one
    if n_jobs == 1 or len(seeds) == 1:
        for s in seeds:
            yield one(plan, s)
        return
    from joblib import delayed

    parallel = _pool.parallel(n_jobs, return_as="generator")
    yield from parallel(delayed(one)(plan, s) for s in seeds)


def _in_blocks(plan: Plan) -> bool:
    """Whether ``plan``'s seeds train in blocks of the batched backend."""
    return (
        models.backend(plan.model) == "batched"
        and models.batched_reason(plan.dataset.task, plan.model) is None
    )


def blocks(plan: Plan, seeds, n_workers: int) -> list[list[int]]:
    """Seeds cut into blocks for the batched backend: at most what one block's memory budget
    holds, at least two blocks per worker (so that workers share the load and progress moves),
    and no block under 16 seeds where that can be avoided (small blocks waste the vectorisation).
    Seeds and resample networks go in separate blocks: a block's networks share the number of
    training rows, which a subsample halves.
    """
    seeds = list(seeds)
    resampled = {s for s in seeds if not isinstance(s, Null) and resample.is_resample(s)}
    if resampled and len(resampled) < len(seeds):
        full = [s for s in seeds if s not in resampled]
        return _blocks(plan, full, n_workers) + _blocks(plan, sorted(resampled), n_workers)
    return _blocks(plan, seeds, n_workers)


def _blocks(plan: Plan, seeds, n_workers: int) -> list[list[int]]:
    """:func:`blocks` of networks that all train on as many rows."""
    from study.training import batched

    seeds = list(seeds)
    ds = plan.dataset
    n_train = int(round(ds.n_samples * (1 - plan.test_size)))
    sizes = models.model_params(plan.model).get("hidden_layer_sizes", (100,))
    cap = batched.block_size(n_train, ds.n_features, [*sizes, max(len(ds.output_names), 2)])
    want = -(-len(seeds) // max(2 * n_workers, 1))
    size = max(1, min(cap, max(want, min(16, len(seeds)))))
    return [seeds[i : i + size] for i in range(0, len(seeds), size)]


def _n_workers(n_jobs: int) -> int:
    import os

    return 1 if n_jobs == 1 else (os.cpu_count() or 1) if n_jobs < 0 else n_jobs


def warm_up(n_jobs: int, plan: Plan):
    """Start the worker processes of ``n_jobs`` that :func:`run_many` will use for ``plan``:
    for the batched backend's blocks, forked from this process where that is safe
    (:mod:`study.training.pool`: nothing to import); else joblib's reusable executor on a thread,
    with what a block imports: a worker's start and imports take 1-2 s, which then overlap what the
    study does first (importing MLflow, opening its store). Returns that thread (None with one
    worker or forked workers); join it before training."""
    import threading

    if _n_workers(n_jobs) < 2:
        return None
    if _in_blocks(plan) and _pool.start(_n_workers(n_jobs), before=_imports) is not None:
        return None
    from joblib import delayed

    def start():
        try:
            _pool.parallel(n_jobs)(delayed(_imports)() for _ in range(_n_workers(n_jobs)))
        except Exception:  # noqa: BLE001 - training starts them anyway, and says what fails
            pass

    thread = threading.Thread(target=start, name="study-warm-up", daemon=True)
    thread.start()
    return thread


def release_workers() -> None:
    """End the worker processes now, without waiting for them: at the interpreter's exit,
    joblib's executor otherwise joins them (a second at the end of a 1000-seed study)."""
    import sys

    _pool.release()
    loky = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(loky, "_executor", None) if loky is not None else None
    if executor is not None:
        executor.shutdown(wait=False, kill_workers=True)


def _imports() -> None:
    import sklearn.model_selection  # noqa: F401
    import sklearn.neural_network  # noqa: F401

    from study import importance  # noqa: F401


def _run_blocks(plan: Plan, seeds, *, n_jobs: int, keep_going: bool):
    n_workers = _n_workers(n_jobs)
    parts = blocks(plan, seeds, n_workers)
    if n_workers == 1 or len(parts) == 1:
        for part in parts:
            yield from run_block(plan, part, keep_going=keep_going)
        return
    pool = _pool.current(n_workers)
    if pool is not None:
        parts = yield from _forked(pool, plan, parts, keep_going)
    if not parts:
        return
    from joblib import delayed

    parallel = _pool.parallel(n_jobs, return_as="generator")
    for out in parallel(delayed(run_block)(plan, part, keep_going=keep_going) for part in parts):
        yield from out


def _forked(pool, plan: Plan, parts, keep_going: bool):
    """Yield the records of ``parts`` trained by the forked workers, in order; returns the
    parts left untrained when a worker died (which breaks that pool: joblib's workers go on)."""
    from concurrent.futures.process import BrokenProcessPool

    futures, done = [], 0
    try:
        futures = [pool.submit(run_block, plan, part, keep_going=keep_going) for part in parts]
        for future in futures:
            yield from future.result()
            done += 1
    except BrokenProcessPool:
        _pool.release()
        return parts[done:]
    finally:
        for future in futures[done:]:  # a consumer that stopped early (the failure budget)
            future.cancel()
    return []
