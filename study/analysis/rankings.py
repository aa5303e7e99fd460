"""Rankings of the variables in repeated runs, as arrays: the rank matrix, top-k sets and rank
counts, and the input checks and tie bookkeeping that every stability measure shares.

The user-facing functions are importable from :mod:`study.analysis.stability` (whose docstring
states the conventions: rank 1 = most important, ties by average rank, a run with NaN
importances an all-NaN row of ranks left out by every measure). :func:`as_matrix`,
:func:`usable_rows`, :func:`tie_groups` and :func:`tie_sums` are the helpers the measures
share.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["rank_matrix", "topk_membership", "topk_frequency", "rank_distribution"]


def as_matrix(x, name: str) -> np.ndarray:
    """Float copy of ``x`` as (m, n); a 1-D vector is one run."""
    x = np.array(x, dtype=float)  # copy: callers' arrays are never touched
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D (runs x variables), got {x.ndim}-D")
    return x


def usable_rows(x, name: str = "ranks") -> np.ndarray:
    """The rows of ``x`` without any NaN (NaN rows are diverged runs)."""
    x = as_matrix(x, name)
    return x[~np.isnan(x).any(axis=1)]


def tie_groups(R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every entry of each row: how many entries of its row are strictly smaller, and how
    many equal it (its tie group's size, itself included). Both ``(m, n)`` int; NaN-free ``R``.

    One sort of every row and a run-length count: O(m n log n), no loop over runs.
    """
    m, n = R.shape
    if R.size == 0:
        return np.zeros((m, n), dtype=int), np.ones((m, n), dtype=int)
    order = np.argsort(R, axis=1, kind="stable")
    S = np.take_along_axis(R, order, axis=1)
    starts = np.ones((m, n), dtype=bool)
    starts[:, 1:] = S[:, 1:] != S[:, :-1]
    # position of each sorted entry's group start = entries strictly smaller than it
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0), axis=1)
    group = np.cumsum(starts.ravel()) - 1  # one id per (row, group), in row-major order
    size = np.bincount(group)[group].reshape(m, n)
    rows = np.arange(m)[:, None]
    smaller, ties = np.empty((m, n), dtype=int), np.empty((m, n), dtype=int)
    smaller[rows, order], ties[rows, order] = first, size
    return smaller, ties


def tie_sums(R: np.ndarray) -> np.ndarray:
    """Per row, the sum over tie groups of (t^3 - t), shape (m,): each member of a group of
    size t adds t^2 - 1. Exact (integer-valued floats)."""
    _, ties = tie_groups(R)
    return (ties**2 - 1).sum(axis=1).astype(float)


def rank_matrix(values, *, signed: bool = False) -> np.ndarray:
    """Rank variables within each run: 1 = most important, ties by average rank.

    Parameters
    ----------
    values : array_like, shape (m, n) or (n,)
        Importances of ``n`` variables in ``m`` runs; a 1-D vector is one run.
    signed : bool, default False
        Rank by ``|value|``, for signed methods such as Olden's connection
        weights, where a large negative value is as important as a large
        positive one.

    Returns
    -------
    ranks : ndarray of float, shape (m, n)
        A row with any NaN importance is all NaN.

    Examples
    --------
    >>> rank_matrix([[0.1, 0.7, 0.2], [-3.0, 1.0, 1.0]], signed=True)
    array([[3. , 1. , 2. ],
           [1. , 2.5, 2.5]])
    """
    x = as_matrix(values, "values")
    key = -np.abs(x) if signed else -x  # rankdata is ascending; we want largest first
    # nan_policy="propagate" makes the whole row NaN, not just the NaN entry.
    return stats.rankdata(key, method="average", axis=1, nan_policy="propagate")


def topk_membership(ranks, k: int) -> np.ndarray:
    """Which variables are in each run's top ``k``; ties at the boundary all get in.

    Variable ``i`` is in run ``r``'s top k iff fewer than ``k`` variables are
    strictly more important in that run, so a set may hold more than ``k``
    variables when several tie at the boundary.

    Parameters
    ----------
    ranks : array_like, shape (m, n)
        Average ranks, as from :func:`rank_matrix`.
    k : int
        At least 1; a ``k`` above ``n`` means every variable.

    Returns
    -------
    Z : ndarray of bool, shape (m, n)
        A NaN row (a diverged run) is all False: drop such runs before
        passing ``Z`` to :func:`~study.analysis.stability.nogueira_stability`.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    R = as_matrix(ranks, "ranks")
    k = min(int(k), R.shape[1])
    Z = np.zeros(R.shape, dtype=bool)
    good = ~np.isnan(R).any(axis=1)
    smaller, _ = tie_groups(R[good])
    Z[good] = smaller < k
    return Z


def topk_frequency(ranks, k: int = 3) -> np.ndarray:
    """Fraction of usable runs in which each variable is in the top ``k``, shape (n,).

    NaN runs are left out of both numerator and denominator; with no usable
    run every entry is NaN.
    """
    R = usable_rows(ranks)
    if R.shape[0] == 0:
        return np.full(R.shape[1], np.nan)
    return topk_membership(R, k).mean(axis=0)


def rank_distribution(ranks) -> np.ndarray:
    """How often each variable takes each rank, shape (n, n).

    Entry ``[i, r - 1]`` counts the runs in which variable ``i`` has rank
    ``r``. A tie group of size ``t`` at average rank ``a`` spans positions
    ``a - (t-1)/2 ... a + (t-1)/2``, and each member counts ``1/t`` at each of
    them, so every row and every column sums to the number of usable runs.
    NaN runs are skipped.
    """
    R = usable_rows(ranks)
    m, n = R.shape
    if m == 0 or n == 0:
        return np.zeros((n, n))
    first, t = tie_groups(R)  # 0-based first position spanned, and the group's size
    # Entry (run, j, variable) adds 1/t at position first + j for j < t. bincount adds the
    # entries cell by cell in run, then j, then variable order: the order of a loop over runs.
    j = np.arange(int(t.max()))[None, :, None]
    spans = j < t[:, None, :]
    variable = np.broadcast_to(np.arange(n), spans.shape)[spans]
    position = (first[:, None, :] + j)[spans]
    weight = np.broadcast_to(1.0 / t[:, None, :], spans.shape)[spans]
    return np.bincount(variable * n + position, weights=weight, minlength=n * n).reshape(n, n)
