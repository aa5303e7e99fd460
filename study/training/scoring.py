"""A trained network's record: its scores and every importance (:func:`run_record`), or the
:class:`~study.training.record.FailedRun` of a job that raised (:func:`failed_run`); a block's
scores from one forward pass (:func:`block_scores`)."""

from __future__ import annotations

import time

import numpy as np

from study import importance
from study.training import models
from study.training.plan import Plan
from study.training.record import FailedRun, RunRecord

__all__ = ["run_record", "failed_run", "block_scores"]


def run_record(
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


def failed_run(seed: int, exc: BaseException, tb: str | None = None) -> FailedRun:
    import traceback

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    error = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    tb = tb or "".join(traceback.format_exception(exc))
    return FailedRun(seed=int(seed), error=error, traceback=tb)


def block_scores(fitted, Xs, ys, infos) -> list:
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
