"""Rank stability of variable importance across repeated training runs.

Every function is a pure function of arrays. The input is either an
importance matrix ``values`` of shape ``(m, n)`` (``m`` runs, ``n`` variables)
or the rank matrix ``ranks`` of the same shape that :func:`rank_matrix` makes
from it (rank 1 = most important, ties by average rank). A run whose
importances contain NaN (a diverged fit) becomes an all-NaN row of ranks and
is left out by every measure; degenerate input gives NaN, never an exception.
Each function's docstring gives its formula and references.

This module holds the measures of agreement between runs (Kendall's W, Spearman's
rho, Nogueira's top-k stability) and the notes on why they may be undefined; the
rankings and top-k sets (:mod:`study.analysis.rankings`), the curves over the
number of runs (:mod:`study.analysis.curves`) and the bootstrap interval
(:mod:`study.analysis.bootstrap`) live beside it and are importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from study.analysis.bootstrap import BootstrapCI, bootstrap_mean_ci
from study.analysis.curves import nogueira_curve, stability_curve
from study.analysis.rankings import (
    as_matrix,
    rank_distribution,
    rank_matrix,
    tie_sums,
    topk_frequency,
    topk_membership,
    usable_rows,
)

__all__ = [
    "BootstrapCI",
    "KendallW",
    "NogueiraStability",
    "bootstrap_mean_ci",
    "kendall_w",
    "nogueira_curve",
    "nogueira_stability",
    "rank_distribution",
    "rank_matrix",
    "spearman_mean",
    "spearman_rows",
    "stability_curve",
    "stability_notes",
    "topk_frequency",
    "topk_membership",
]


@dataclass(frozen=True)
class KendallW:
    """Kendall's coefficient of concordance and its chi-squared test."""

    statistic: float
    chi2: float
    df: float
    pvalue: float
    n_runs: int
    n_variables: int


@dataclass(frozen=True)
class NogueiraStability:
    """Nogueira et al.'s stability of top-k sets with its asymptotic interval."""

    statistic: float
    low: float
    high: float
    variance: float
    n_runs: int


def kendall_w(ranks) -> KendallW:
    r"""Kendall's W, the concordance of the rankings in ``m`` runs, tie-corrected.

    Parameters
    ----------
    ranks : array_like, shape (m, n)
        Average ranks; NaN rows are dropped first.

    Returns
    -------
    KendallW
        ``statistic`` (W in [0, 1], 1 = identical rankings), ``chi2``, ``df``
        and ``pvalue`` of the test of no agreement, ``n_runs`` (usable runs)
        and ``n_variables``. All float fields are NaN when fewer than 2 usable
        runs or variables remain, or when every run ties all variables.

    Notes
    -----
    With :math:`\bar R = m(n+1)/2`, :math:`S = \sum_i (\sum_r R_{ri} - \bar R)^2`
    and :math:`T_r = \sum (t^3 - t)` over the tie groups of run ``r`` [1]_:

    .. math:: W = \frac{12 S}{m^2 (n^3 - n) - m \sum_r T_r}

    :math:`\chi^2 = m (n - 1) W` on :math:`n - 1` degrees of freedom, which is
    Friedman's tie-corrected statistic [2]_.

    References
    ----------
    .. [1] Kendall, M. G. & Babington Smith, B. (1939). The problem of m
           rankings. Annals of Mathematical Statistics 10(3), 275-287.
    .. [2] Friedman, M. (1937). The use of ranks to avoid the assumption of
           normality implicit in the analysis of variance. JASA 32, 675-701.
    """
    R = usable_rows(ranks)
    m, n = R.shape
    nan = KendallW(np.nan, np.nan, np.nan, np.nan, n_runs=m, n_variables=n)
    if m < 2 or n < 2:
        return nan
    S = float(np.sum((R.sum(axis=0) - m * (n + 1) / 2) ** 2))
    denom = m**2 * (n**3 - n) - m * float(tie_sums(R).sum())
    if denom <= 0:  # every run ties all variables: no ranking to agree on
        return nan
    W = 12 * S / denom
    chi2 = m * (n - 1) * W
    return KendallW(W, chi2, float(n - 1), float(stats.chi2.sf(chi2, n - 1)), m, n)


def spearman_mean(ranks) -> float:
    """Mean Spearman correlation over all pairs of runs.

    Computed from the pairwise correlations, not from W, so it stays exact
    with ties (the closed form ``(m W - 1) / (m - 1)`` holds only without).
    A run that ties all variables has no defined correlation; its pairs are
    ignored. NaN runs are dropped; NaN when no pair is defined.
    """
    R = usable_rows(ranks)
    if R.shape[0] < 2 or R.shape[1] < 2:
        return np.nan
    # A constant run has no defined correlation: dropping it ignores exactly its pairs.
    # Re-ranking makes any input exact, as spearmanr does (average ranks rank to themselves).
    R = stats.rankdata(R[np.ptp(R, axis=1) > 0], axis=1)
    m = R.shape[0]
    if m < 2:
        return np.nan
    # Spearman's rho of two rank vectors is the Pearson correlation of the ranks, the dot
    # product of the rows centred and scaled to unit length. Summed over all pairs r != s:
    # |sum_r z_r|^2 - sum_r |z_r|^2, so the mean needs one pass over the runs, not m^2 pairs.
    Z = R - R.mean(axis=1, keepdims=True)
    Z /= np.sqrt((Z**2).sum(axis=1, keepdims=True))
    total = Z.sum(axis=0)
    return float((total @ total - (Z**2).sum()) / (m * (m - 1)))


def spearman_rows(a, b) -> np.ndarray:
    """Spearman's rho between row ``r`` of ``a`` and row ``r`` of ``b``, for every row at once.

    Parameters
    ----------
    a, b : array_like, shape (m, n)
        ``b`` may also be one row ``(n,)``, compared with every row of ``a``.

    Returns
    -------
    rho : ndarray, shape (m,)
        What ``scipy.stats.spearmanr(a[r], b[r])`` gives (average ranks for ties): NaN where
        either row is constant or holds NaN.
    """
    a = as_matrix(a, "a")
    b = np.broadcast_to(as_matrix(b, "b"), a.shape)
    ra = stats.rankdata(a, axis=1, nan_policy="propagate")
    rb = stats.rankdata(b, axis=1, nan_policy="propagate")
    ra = ra - ra.mean(axis=1, keepdims=True)
    rb = rb - rb.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (ra * rb).sum(axis=1) / np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    return np.clip(rho, -1.0, 1.0)


def nogueira_stability(Z, *, alpha: float = 0.05) -> NogueiraStability:
    r"""Stability of the top-k sets chosen in ``m`` runs [1]_.

    Parameters
    ----------
    Z : array_like of bool, shape (m, n)
        ``Z[r, i]`` is True iff variable ``i`` is in run ``r``'s set, as from
        :func:`topk_membership` (drop diverged runs first: their rows are empty
        sets, not missing ones).
    alpha : float, default 0.05
        The interval has confidence ``1 - alpha``.

    Returns
    -------
    NogueiraStability
        ``statistic`` (Phi: 1 = identical sets, about 0 = chance), the interval
        ``low``-``high``, its ``variance`` and ``n_runs``. NaN when ``m < 2``,
        ``n < 2``, or every run selects nothing or everything.

    Notes
    -----
    With :math:`p_i` the fraction of runs selecting ``i``,
    :math:`\bar k = \sum_i p_i` and :math:`s_i^2 = \frac{m}{m-1} p_i (1 - p_i)`:

    .. math:: \Phi = 1 - \frac{\frac{1}{n}\sum_i s_i^2}
              {\frac{\bar k}{n}\left(1 - \frac{\bar k}{n}\right)}

    The asymptotic variance (from [1]_, as in the authors' reference code) is
    :math:`\frac{4}{m^2} \sum_r (\phi_r - \bar\phi)^2` with, for run ``r``
    of size :math:`k_r` and ``d`` the denominator above,

    .. math:: \phi_r = \frac{1}{d}\Big(\frac{1}{n}\sum_i Z_{ri} p_i
              - \frac{k_r \bar k}{n^2} + \frac{\Phi}{2}\Big(\frac{2 k_r \bar k}{n^2}
              - \frac{k_r}{n} - \frac{\bar k}{n} + 1\Big)\Big)

    and the interval is :math:`\Phi \pm z_{1-\alpha/2}\sqrt{v}`.

    References
    ----------
    .. [1] Nogueira, S., Sechidis, K. & Brown, G. (2018). On the stability of
           feature selection algorithms. JMLR 18(174), 1-54.
    """
    Z = as_matrix(Z, "Z")
    m, n = Z.shape
    nan = NogueiraStability(np.nan, np.nan, np.nan, np.nan, n_runs=m)
    if m < 2 or n < 2:
        return nan
    p = Z.mean(axis=0)
    kbar = p.sum()
    denom = (kbar / n) * (1 - kbar / n)
    if denom <= 0:  # every run selects nothing, or everything
        return nan
    s2 = m / (m - 1) * p * (1 - p)
    phi_hat = 1 - s2.mean() / denom
    k_r = Z.sum(axis=1)
    phi = (
        (Z * p).mean(axis=1)
        - k_r * kbar / n**2
        + phi_hat / 2 * (2 * k_r * kbar / n**2 - k_r / n - kbar / n + 1)
    ) / denom
    variance = 4 / m**2 * np.sum((phi - phi.mean()) ** 2)
    half = stats.norm.ppf(1 - alpha / 2) * np.sqrt(variance)
    return NogueiraStability(
        float(phi_hat), float(phi_hat - half), float(phi_hat + half), float(variance), m
    )


def stability_notes(values, *, signed: bool = False) -> list[str]:
    """Plain-language reasons why stability numbers may be undefined or partial.

    Parameters
    ----------
    values : array_like, shape (m, n)
        Importances, as given to :func:`rank_matrix`.
    signed : bool, default False
        Judge ties on ``|value|``, as :func:`rank_matrix` does.

    Returns
    -------
    list of str
        One short sentence each, meant to be shown to users as is; empty when
        nothing limits the stability measures.
    """
    X = as_matrix(values, "values")
    m, n = X.shape
    notes = []
    bad = np.flatnonzero(np.isnan(X).any(axis=1))
    if bad.size == 1:
        notes.append(f"run {bad[0]} has NaN importances (diverged?) and is left out")
    elif bad.size > 1:
        listed = ", ".join(str(i) for i in bad)
        notes.append(f"runs {listed} have NaN importances (diverged?) and are left out")
    usable = X[~np.isnan(X).any(axis=1)]
    if usable.shape[0] < 2:
        notes.append(f"stability needs at least 2 runs; got {usable.shape[0]}")
    if n == 0:
        notes.append("no variables: there is nothing to rank")
    elif n == 1:
        notes.append("one variable only: ranking stability is undefined")
    elif usable.shape[0]:
        key = np.abs(usable) if signed else usable
        n_tied = int(np.sum(np.ptp(key, axis=1) == 0))
        if n_tied == usable.shape[0]:
            notes.append(
                f"importances are all equal in every run ({n_tied}): ranking stability is undefined"
            )
        elif n_tied:
            notes.append(
                f"importances are all equal in {n_tied} of {usable.shape[0]} "
                "runs: their ranks are all tied"
            )
    return notes
