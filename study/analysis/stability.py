"""Rank stability of variable importance across repeated training runs.

Every function is a pure function of arrays. The input is either an
importance matrix ``values`` of shape ``(m, n)`` (``m`` runs, ``n`` variables)
or the rank matrix ``ranks`` of the same shape that :func:`rank_matrix` makes
from it (rank 1 = most important, ties by average rank). A run whose
importances contain NaN (a diverged fit) becomes an all-NaN row of ranks and
is left out by every measure; degenerate input gives NaN, never an exception.
Each function's docstring gives its formula and references.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "BootstrapCI",
    "KendallW",
    "NogueiraStability",
    "bootstrap_mean_ci",
    "kendall_w",
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


@dataclass(frozen=True)
class BootstrapCI:
    """Per-variable mean over runs with a percentile bootstrap interval, each (n,)."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _as_matrix(x, name: str) -> np.ndarray:
    """Float copy of ``x`` as (m, n); a 1-D vector is one run."""
    x = np.array(x, dtype=float)  # copy: callers' arrays are never touched
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D (runs x variables), got {x.ndim}-D")
    return x


def _usable_rows(x, name: str = "ranks") -> np.ndarray:
    """The rows of ``x`` without any NaN (NaN rows are diverged runs)."""
    x = _as_matrix(x, name)
    return x[~np.isnan(x).any(axis=1)]


def _tie_groups(R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _tie_sums(R: np.ndarray) -> np.ndarray:
    """Per row, the sum over tie groups of (t^3 - t), shape (m,): each member of a group of
    size t adds t^2 - 1. Exact (integer-valued floats)."""
    _, ties = _tie_groups(R)
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
    x = _as_matrix(values, "values")
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
        passing ``Z`` to :func:`nogueira_stability`.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    R = _as_matrix(ranks, "ranks")
    k = min(int(k), R.shape[1])
    Z = np.zeros(R.shape, dtype=bool)
    good = ~np.isnan(R).any(axis=1)
    smaller, _ = _tie_groups(R[good])
    Z[good] = smaller < k
    return Z


def topk_frequency(ranks, k: int = 3) -> np.ndarray:
    """Fraction of usable runs in which each variable is in the top ``k``, shape (n,).

    NaN runs are left out of both numerator and denominator; with no usable
    run every entry is NaN.
    """
    R = _usable_rows(ranks)
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
    R = _usable_rows(ranks)
    m, n = R.shape
    if m == 0 or n == 0:
        return np.zeros((n, n))
    first, t = _tie_groups(R)  # 0-based first position spanned, and the group's size
    # Entry (run, j, variable) adds 1/t at position first + j for j < t. bincount adds the
    # entries cell by cell in run, then j, then variable order: the order of a loop over runs.
    j = np.arange(int(t.max()))[None, :, None]
    spans = j < t[:, None, :]
    variable = np.broadcast_to(np.arange(n), spans.shape)[spans]
    position = (first[:, None, :] + j)[spans]
    weight = np.broadcast_to(1.0 / t[:, None, :], spans.shape)[spans]
    return np.bincount(variable * n + position, weights=weight, minlength=n * n).reshape(n, n)


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
    R = _usable_rows(ranks)
    m, n = R.shape
    nan = KendallW(np.nan, np.nan, np.nan, np.nan, n_runs=m, n_variables=n)
    if m < 2 or n < 2:
        return nan
    S = float(np.sum((R.sum(axis=0) - m * (n + 1) / 2) ** 2))
    denom = m**2 * (n**3 - n) - m * float(_tie_sums(R).sum())
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
    R = _usable_rows(ranks)
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
    a = _as_matrix(a, "a")
    b = np.broadcast_to(_as_matrix(b, "b"), a.shape)
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
    Z = _as_matrix(Z, "Z")
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


def nogueira_curve(Z, m_values) -> np.ndarray:
    """:func:`nogueira_stability`'s statistic on the first ``m`` rows of ``Z``, for each ``m``
    of ``m_values``, from running counts (one pass instead of one call per prefix: the
    convergence curves of a 1000-seed study took 0.6 s)."""
    Z = _as_matrix(Z, "Z")
    n = Z.shape[1]
    m = np.asarray(m_values, dtype=int)
    out = np.full(len(m), np.nan)
    if n < 2 or not len(m):
        return out
    counts = np.cumsum(Z, axis=0, dtype=float)[np.maximum(m, 1) - 1]  # (len(m), n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = counts / m[:, None]
        kbar = p.sum(axis=1)
        denom = (kbar / n) * (1 - kbar / n)
        s2 = (m / (m - 1))[:, None] * p * (1 - p)
        phi = 1 - s2.mean(axis=1) / denom
    ok = (m >= 2) & (denom > 0)
    out[ok] = phi[ok]
    return out


def bootstrap_mean_ci(
    values, *, confidence: float = 0.95, n_resamples: int = 1000, seed: int
) -> BootstrapCI:
    """Each variable's mean importance over runs with a percentile bootstrap interval.

    Parameters
    ----------
    values : array_like, shape (m, n)
        Importances; runs with any NaN are dropped.
    confidence : float, default 0.95
    n_resamples : int, default 1000
    seed : int
        Seeds the resampling, so the same seed gives the same interval.

    Returns
    -------
    BootstrapCI
        ``mean``, ``low``, ``high``, each shape (n,). With fewer than 2
        usable runs ``low`` and ``high`` are NaN. A variable with the same
        value ``c`` in every run gets ``mean == low == high == c`` exactly.

    Notes
    -----
    Runs are resampled with replacement, the same runs for every variable
    (:func:`scipy.stats.bootstrap`, ``method="percentile"``) [1]_.

    References
    ----------
    .. [1] Efron, B. & Tibshirani, R. J. (1993). An Introduction to the
           Bootstrap. Chapman & Hall, ch. 13.
    """
    X = _usable_rows(values, "values")
    m, n = X.shape
    mean = X.mean(axis=0) if m else np.full(n, np.nan)
    if m < 2:
        return BootstrapCI(mean, np.full(n, np.nan), np.full(n, np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        ci = stats.bootstrap(
            (X,),
            np.mean,
            axis=0,
            vectorized=True,
            paired=False,
            confidence_level=confidence,
            n_resamples=n_resamples,
            batch=max(1, _RESAMPLED_VALUES // X.size),
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    low = np.asarray(ci.confidence_interval.low, dtype=float).copy()
    high = np.asarray(ci.confidence_interval.high, dtype=float).copy()
    # Floating-point sums of a constant column can miss it in the last bit,
    # differently for the mean and for each resample; state the exact answer.
    constant = np.ptp(X, axis=0) == 0
    mean[constant] = low[constant] = high[constant] = X[0, constant]
    return BootstrapCI(mean, low, high)


# Values resampled at once by one bootstrap (16 MB): SciPy otherwise holds all n_resamples
# resamples (1000 x 3,400 seeds x 13 variables: 350 MB per interval, two intervals at a time).
# Resamples are drawn in the same order whatever the batch: the same interval to the last bit.
_RESAMPLED_VALUES = 2_000_000


def stability_curve(ranks) -> tuple[np.ndarray, np.ndarray]:
    """Kendall's W on the first ``m`` runs, for ``m = 2 ... N``.

    Shows whether more runs would still change the answer. NaN runs are
    dropped first, so ``m`` counts usable runs.

    Returns
    -------
    m_values : ndarray of int, shape (N - 1,)
    w : ndarray of float, shape (N - 1,)
        Both empty when fewer than 2 runs are usable.
    """
    R = _usable_rows(ranks)
    m, n = R.shape
    m_values = np.arange(2, m + 1)
    if m < 2 or n < 2:
        return m_values, np.full(m_values.shape, np.nan)
    # Kendall's W of the first M runs from running sums (one pass, O(m n)): the column sums of
    # ranks and the tie sums of the first M runs are cumulative sums over runs.
    sums = np.cumsum(R, axis=0)[1:]  # (m - 1, n): rows 2..m
    ties = np.cumsum(_tie_sums(R))[1:]
    M = m_values.astype(float)
    S = np.sum((sums - M[:, None] * (n + 1) / 2) ** 2, axis=1)
    denom = M**2 * (n**3 - n) - M * ties
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(denom > 0, 12 * S / denom, np.nan)
    return m_values, w


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
    X = _as_matrix(values, "values")
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
