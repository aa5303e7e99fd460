"""Agreement between two importance vectors at k (Krishna et al. 2022).

Two importance methods applied to the same fitted network give two vectors;
these measures say how far they tell the same story. Ranks are by ``|value|``,
rank 1 = largest; equal ``|value|`` are ordered by variable index (a stable
sort), so the top-k set is always exactly ``k`` variables.

References
----------
.. [1] Krishna, S., Han, T., Gu, A., Pombra, J., Jabbari, S., Wu, S. &
       Lakkaraju, H. (2022). The disagreement problem in explainable machine
       learning: a practitioner's perspective. arXiv:2202.01602.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from study.analysis.stability import spearman_rows

__all__ = ["MEASURES", "agreement", "mean_agreement"]

MEASURES = (
    "feature_agreement",
    "rank_agreement",
    "sign_agreement",
    "signed_rank_agreement",
    "rank_correlation",
    "pairwise_rank_agreement",
)


def _check_k(k, n: int) -> int:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return min(int(k), n)


def _order(x: np.ndarray) -> np.ndarray:
    """Variable indices from most to least important by |x|, ties by index."""
    return np.argsort(-np.abs(x), kind="stable")


def _pairwise(order_a: np.ndarray, order_b: np.ndarray) -> float:
    """Fraction of variable pairs that both orders put the same way round."""
    n = order_a.size
    if n < 2:
        return np.nan
    pos_a, pos_b = np.empty(n), np.empty(n)
    pos_a[order_a] = np.arange(n)
    pos_b[order_b] = np.arange(n)
    i, j = np.triu_indices(n, k=1)
    return float(np.mean((pos_a[i] < pos_a[j]) == (pos_b[i] < pos_b[j])))


def agreement(a, b, *, k: int) -> dict[str, float]:
    r"""Six measures of agreement between two importance vectors at ``k`` [1]_.

    Parameters
    ----------
    a, b : array_like, shape (n,)
        Importances of the same ``n`` variables from two methods (or runs).
    k : int
        Size of the top sets compared; at least 1, clipped to ``n``.

    Returns
    -------
    dict of str to float
        Keyed by :data:`MEASURES`. All NaN when either vector holds NaN.

        - ``feature_agreement``: :math:`|A \cap B| / k`, with A and B the
          top-k sets.
        - ``rank_agreement``: positions 1..k holding the same variable, / k.
        - ``sign_agreement``: variables in both top-k sets with the same sign
          in ``a`` and ``b``, / k.
        - ``signed_rank_agreement``: same variable at the same position with
          the same sign, / k.
        - ``rank_correlation``: Spearman's rho of ``|a|`` and ``|b|`` over all
          ``n`` variables; NaN if either is constant.
        - ``pairwise_rank_agreement``: fraction of the ``n(n-1)/2`` variable
          pairs that both put in the same order. Krishna et al. restrict this
          to a chosen set of features; here it is over all features. Without
          ties it equals ``(tau + 1) / 2`` with Kendall's tau of ``|a|``, ``|b|``.

    Raises
    ------
    ValueError
        If ``a`` and ``b`` are not 1-D of the same length, or ``k < 1``.

    Examples
    --------
    >>> agreement([0.5, -0.3, 0.1], [0.4, 0.2, -0.1], k=2)["sign_agreement"]
    0.5
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"a and b must be 1-D of the same length, got shapes {a.shape} and {b.shape}"
        )
    k = _check_k(k, a.size)
    if np.isnan(a).any() or np.isnan(b).any():
        return dict.fromkeys(MEASURES, np.nan)
    order_a, order_b = _order(a), _order(b)
    top_a, top_b = order_a[:k], order_b[:k]
    same_sign = np.sign(a) == np.sign(b)
    shared = np.intersect1d(top_a, top_b)
    same_position = top_a == top_b
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        rho = stats.spearmanr(np.abs(a), np.abs(b)).statistic if a.size > 1 else np.nan
    return {
        "feature_agreement": shared.size / k,
        "rank_agreement": float(np.sum(same_position)) / k,
        "sign_agreement": float(np.sum(same_sign[shared])) / k,
        "signed_rank_agreement": float(np.sum(same_position & same_sign[top_a])) / k,
        "rank_correlation": float(rho),
        "pairwise_rank_agreement": _pairwise(order_a, order_b),
    }


def mean_agreement(A, B, *, k: int) -> dict[str, float]:
    """Agreement between two methods averaged over runs.

    Parameters
    ----------
    A, B : array_like, shape (m, n)
        Importances from two methods over the same ``m`` runs (row ``r`` of
        both comes from the same fitted network).
    k : int
        As in :func:`agreement`.

    Returns
    -------
    dict of str to float
        Keyed by :data:`MEASURES`: the mean of :func:`agreement` over runs,
        ignoring runs where a measure is NaN; NaN if no run has it.

    Notes
    -----
    Computed for every run at once (one sort per matrix, then array
    algebra), not by calling :func:`agreement` per run; the tests check that
    the two agree.
    """
    A, B = np.atleast_2d(np.asarray(A, dtype=float)), np.atleast_2d(np.asarray(B, dtype=float))
    if A.ndim != 2 or A.shape != B.shape:
        raise ValueError(f"A and B must be 2-D of the same shape, got {A.shape} and {B.shape}")
    m, n = A.shape
    k = _check_k(k, n)
    per_run = np.full((m, len(MEASURES)), np.nan)
    good = ~(np.isnan(A).any(axis=1) | np.isnan(B).any(axis=1))
    if good.any():
        per_run[good] = _agreement_rows(A[good], B[good], k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": NaN is the answer
        means = np.nanmean(per_run, axis=0)
    return {name: float(v) for name, v in zip(MEASURES, means)}


def _agreement_rows(A: np.ndarray, B: np.ndarray, k: int) -> np.ndarray:
    """:func:`agreement` of every row pair of NaN-free ``A``, ``B``: ``(m, len(MEASURES))``."""
    m, n = A.shape
    rows = np.arange(m)[:, None]
    order_a = np.argsort(-np.abs(A), axis=1, kind="stable")
    order_b = np.argsort(-np.abs(B), axis=1, kind="stable")
    top_a, top_b = order_a[:, :k], order_b[:, :k]
    in_a, in_b = np.zeros((m, n), bool), np.zeros((m, n), bool)
    in_a[rows, top_a] = True
    in_b[rows, top_b] = True
    shared = in_a & in_b
    same_sign = np.sign(A) == np.sign(B)
    same_position = top_a == top_b
    pairwise = np.full(m, np.nan)
    if n > 1:
        pos_a, pos_b = np.empty((m, n)), np.empty((m, n))
        pos_a[rows, order_a] = np.arange(n)
        pos_b[rows, order_b] = np.arange(n)
        i, j = np.triu_indices(n, k=1)
        pairwise = ((pos_a[:, i] < pos_a[:, j]) == (pos_b[:, i] < pos_b[:, j])).mean(axis=1)
    columns = {
        "feature_agreement": shared.sum(axis=1) / k,
        "rank_agreement": same_position.sum(axis=1) / k,
        "sign_agreement": (shared & same_sign).sum(axis=1) / k,
        "signed_rank_agreement": (same_position & np.take_along_axis(same_sign, top_a, axis=1)).sum(
            axis=1
        )
        / k,
        "rank_correlation": spearman_rows(np.abs(A), np.abs(B)) if n > 1 else np.full(m, np.nan),
        "pairwise_rank_agreement": pairwise,
    }
    return np.column_stack([columns[name] for name in MEASURES])
