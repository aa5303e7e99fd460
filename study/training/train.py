"""Train one network (:func:`run_one`) or a block of them together (:func:`run_block`) and
make each its record."""

from __future__ import annotations

import time

from study.training import models
from study.training.plan import Null, Plan, as_job, job_data, job_data_or_error, job_seed, ledger_id
from study.training.record import FailedRun, RunRecord
from study.training.scoring import block_scores, failed_run, run_record

__all__ = ["run_one", "run_one_or_fail", "run_block"]


def run_one(plan: Plan, seed) -> RunRecord:
    """Split, fit, score and compute every importance for one seed (or :class:`Null`)."""
    from threadpoolctl import threadpool_limits

    started = time.time()
    job = as_job(plan, seed)
    seed = job_seed(job)
    with threadpool_limits(limits=1):
        data = job_data(plan, job)
        model = models.make_model(plan.dataset.task, plan.model, seed=seed)
        t0 = time.perf_counter()
        info = models.fit(model, data.X_train, data.y_train)
        return run_record(
            plan,
            seed,
            data,
            model,
            info,
            time.perf_counter() - t0,
            started,
            null=isinstance(job, Null),
            record_id=ledger_id(job),
        )


def run_one_or_fail(plan: Plan, seed) -> RunRecord | FailedRun:
    """:func:`run_one`, with an exception (a diverged fit, NaN weights, a bug in a method)
    returned as a :class:`FailedRun` so that the other seeds go on. Ctrl-C still stops."""
    try:
        return run_one(plan, seed)
    except Exception as exc:
        return failed_run(ledger_id(as_job(plan, seed)), exc)


def run_block(plan: Plan, seeds, *, keep_going: bool = False) -> list:
    """:func:`run_one` for every seed, with the networks trained together by the batched backend
    (:mod:`study.training.batched`, ``model.backend: batched``); records in the order of ``seeds``.

    ``keep_going``: a seed whose fit or importance raises becomes a :class:`FailedRun`.
    """
    from threadpoolctl import threadpool_limits

    jobs = [as_job(plan, s) for s in seeds]
    started = time.time()
    with threadpool_limits(limits=1):
        shared = None if plan.split_seed is None else job_data(plan, plan.split_seed)
        datas = [job_data_or_error(plan, j, shared) for j in jobs]
        short = {k: d for k, d in enumerate(datas) if isinstance(d, Exception)}
        if short:  # a resample short of a class fails alone; the others train as a block
            return _without_short(plan, jobs, short, keep_going)
        return _train_block(plan, jobs, datas, started, keep_going)


def _without_short(plan: Plan, jobs: list, short: dict, keep_going: bool) -> list:
    """A block's records when some of its resamples drew no training row of a class (``short``:
    their index in ``jobs``, and their ValueError): each of those is a :class:`FailedRun`, the
    others train as a block. Without ``keep_going``, the first such ValueError is raised."""
    if not keep_going:
        raise next(iter(short.values()))
    rest = iter(
        run_block(plan, [j for k, j in enumerate(jobs) if k not in short], keep_going=True)
        if len(short) < len(jobs)
        else ()
    )
    return [
        failed_run(ledger_id(jobs[k]), short[k]) if k in short else next(rest)
        for k in range(len(jobs))
    ]


def _train_block(plan: Plan, jobs: list, datas: list, started: float, keep_going: bool) -> list:
    """Fit a block's networks together on their ``datas``, score them, and make each its record
    (``started``: when the block's work began, epoch seconds). ``keep_going``: a network whose
    fit or importance raises (or the whole block's fit) gives a :class:`FailedRun`."""
    seeds, ids = [job_seed(j) for j in jobs], [ledger_id(j) for j in jobs]
    fitted = [models.make_model(plan.dataset.task, plan.model, seed=s) for s in seeds]
    t0 = time.perf_counter()
    try:
        infos = models.fit_many(fitted, [d.X_train for d in datas], [d.y_train for d in datas])
    except Exception as exc:
        if not keep_going:
            raise
        return [failed_run(i, exc) for i in ids]
    per_seed = (time.perf_counter() - t0) / len(seeds)
    null = all(isinstance(j, Null) for j in jobs)
    train, test = _scores(fitted, datas, infos, null)
    out = []
    for s, i, data, model, info, score, held_out in zip(
        seeds, ids, datas, fitted, infos, train, test
    ):
        try:
            if isinstance(info, Exception):
                raise info
            out.append(
                run_record(
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
            out.append(failed_run(i, exc))
    return out


def _scores(fitted: list, datas: list, infos: list, null: bool) -> tuple[list, list]:
    """A block's train and test scores, each from one forward pass of the block (``model.score``
    costs 2.5 ms a call in scikit-learn's input checks, more than training a network here). None
    where :func:`~study.training.scoring.block_scores` leaves a score to ``model.score``, and for
    every test score of null networks: they are not scored on the held-out data."""
    train = block_scores(fitted, [d.X_train for d in datas], [d.y_train for d in datas], infos)
    test = (
        [None] * len(datas)
        if null
        else block_scores(fitted, [d.X_test for d in datas], [d.y_test for d in datas], infos)
    )
    return train, test
