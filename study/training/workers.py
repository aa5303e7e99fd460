"""Seeds over worker processes: cut into blocks for the batched backend (:func:`blocks`), run
block by block in forked or joblib workers (:func:`run_blocks`); the workers started ahead
(:func:`warm_up`) and ended (:func:`release_workers`)."""

from __future__ import annotations

from study.training import models, resample
from study.training import pool as _pool
from study.training.plan import Null, Plan
from study.training.train import run_block

__all__ = ["in_blocks", "blocks", "run_blocks", "warm_up", "release_workers"]


def in_blocks(plan: Plan) -> bool:
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
    """Start the worker processes of ``n_jobs`` that :func:`~study.training.runner.run_many` will
    use for ``plan``: for the batched backend's blocks, forked from this process where that is
    safe (:mod:`study.training.pool`: nothing to import); else joblib's reusable executor on a
    thread, with what a block imports: a worker's start and imports take 1-2 s, which then overlap
    what the study does first (importing MLflow, opening its store). Returns that thread (None
    with one worker or forked workers); join it before training."""
    import threading

    if _n_workers(n_jobs) < 2:
        return None
    if in_blocks(plan) and _pool.start(_n_workers(n_jobs), before=_imports) is not None:
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


def run_blocks(plan: Plan, seeds, *, n_jobs: int, keep_going: bool):
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
