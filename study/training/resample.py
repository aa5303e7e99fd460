"""Resample networks: the study's network retrained on resamples of its training rows, to see
how the importances move with the data and not only with the seed (issue 28; design notes in
``methods.md``, "Uncertainty about the data, not only the seeds").

Resample network ``b`` (``b = 0, ..., study.n_resamples - 1``):

- **its seed** ``s_b``: the first 32-bit word of ``numpy.random.SeedSequence(study.seed,
  spawn_key=(b,))``, i.e. of ``SeedSequence(study.seed).spawn(B)[b]`` for any ``B > b``: an
  explicit integer in numpy's range, the same whatever ``n_resamples`` (a resume that asks for
  more resamples keeps the earlier ones), independent between ``b``.
- **its rows** (:func:`rows`): ``numpy.random.default_rng(s_b)`` draws them from the training
  rows only, ``n`` draws with replacement (``bootstrap``) or ``n // 2`` without
  (``subsample``), sorted (the rows keep their order).
- **its network**: initial weights, early stopping's split and minibatch order from
  ``random_state = s_b``, as a seed's from its own seed.
- **its test rows**: the study's, as a seed's: with ``study.resplit=false`` the one split of
  ``study.seed`` that every seed uses; with ``study.resplit=true`` its own split from ``s_b``
  (as every seed draws its own from its seed); only the training part is resampled, after
  the split's standardisation (fitted on the split's training rows, as for the seeds).
- **a classifier's resample** that drew no row of some class of its training rows fails alone
  (a FAILED child with that reason; the other networks go on).

In the study's ledger (claims, journal, child runs, bundle) a resample network is the integer
id :func:`resample_id` ``= 2**32 + b``: above every seed (numpy's largest is ``2**32 - 1``), so
seeds and resamples never share an id and the ledger's integer ranges hold both.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "KINDS",
    "BASE",
    "resample_id",
    "index",
    "is_resample",
    "network_seed",
    "rows",
    "split_runs",
]

KINDS = ("none", "bootstrap", "subsample")
BASE = 2**32  # the id of resample 0: one above numpy's largest seed


def resample_id(b: int) -> int:
    """The ledger id of resample network ``b``."""
    return BASE + int(b)


def index(run_id: int) -> int:
    """``b`` of the ledger id ``run_id`` of a resample network."""
    return int(run_id) - BASE


def is_resample(run_id: int) -> bool:
    return int(run_id) >= BASE


def network_seed(study_seed: int, b: int) -> int:
    """``s_b``: the seed of resample ``b``'s rows and network (see the module's docstring)."""
    seq = np.random.SeedSequence(int(study_seed), spawn_key=(int(b),))
    return int(seq.generate_state(1, np.uint32)[0])


def rows(kind: str, n: int, seed: int) -> np.ndarray:
    """Indices into the ``n`` training rows of a resample drawn from ``seed``: ``n`` with
    replacement (``bootstrap``) or ``n // 2`` without (``subsample``), sorted."""
    rng = np.random.default_rng(int(seed))
    if kind == "bootstrap":
        return np.sort(rng.integers(0, n, size=n))
    if kind == "subsample":
        return np.sort(rng.choice(n, size=n // 2, replace=False))
    raise ValueError(f"resample kind must be bootstrap or subsample; got {kind!r}")


def split_runs(runs) -> tuple[list, list]:
    """Records (anything with ``.seed``, the ledger id) split into the full-data seeds and the
    resample networks, each in the order given."""
    runs = list(runs)
    return ([r for r in runs if not is_resample(r.seed)], [r for r in runs if is_resample(r.seed)])
