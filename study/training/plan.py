"""What a network is trained on: the study's :class:`Plan`, the jobs it runs (a seed, a
:class:`Null` network of the randomisation test, a :class:`Resample` network) and each job's
train/test split (:func:`job_data`). Plans and jobs are picklable: they travel to the workers."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from study.datasets import CLASSIFICATION, Dataset, split
from study.training import resample

__all__ = [
    "Plan",
    "Null",
    "Resample",
    "as_job",
    "job_seed",
    "ledger_id",
    "seeds_for",
    "resamples_for",
    "job_data",
    "job_data_or_error",
]


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


def as_job(plan: Plan, job):
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


def job_seed(job) -> int:
    """The seed of a job's network (and of its split under ``study.resplit``)."""
    return job.seed if isinstance(job, (Null, Resample)) else int(job)


def ledger_id(job) -> int:
    """What a job's record is called in the study's ledger: a seed's own seed, a resample
    network's id (a null network is never in the ledger: its seed)."""
    return job.id if isinstance(job, Resample) else job_seed(job)


def seeds_for(first: int, n_runs: int) -> list[int]:
    """The explicit seeds of a study: ``first, first + 1, ..., first + n_runs - 1``."""
    return list(range(int(first), int(first) + int(n_runs)))


def resamples_for(n_resamples: int) -> list[int]:
    """The ledger ids of a study's resample networks ``b = 0, ..., n_resamples - 1``."""
    return [resample.resample_id(b) for b in range(int(n_resamples))]


def job_data(plan: Plan, job, shared=None):
    """The train/test split of a seed or :class:`Null` (``shared``: the study's fixed split,
    already made), with a null network's column of the training data permuted."""
    if shared is not None:
        data = shared
    else:
        data = split(
            plan.dataset,
            test_size=plan.test_size,
            seed=job_seed(job) if plan.split_seed is None else plan.split_seed,
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


def job_data_or_error(plan: Plan, job, shared):
    """:func:`job_data`, or the ValueError of a resample short of a class
    (:func:`_check_classes`)."""
    try:
        return job_data(plan, job, shared)
    except ValueError as exc:
        if not isinstance(job, Resample):
            raise
        return exc


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
