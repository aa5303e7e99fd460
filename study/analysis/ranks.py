"""Confidence sets for ranks from estimates and their covariance.

Given estimates ``x`` of p unknown values ``theta`` (here: each variable's expected
importance) and an estimate ``Sigma`` of the covariance of ``x``, this module says which
ranks of ``theta`` the data cannot rule out, after Mogstad, Romano, Shaikh & Wilhelm
(2023) and their R package ``csranks``:

* :func:`confidence_sets` -- for each variable an interval of integer ranks
  ``[low, high]`` (rank 1 = largest value), marginal (each covers its own variable's
  rank with the stated probability) or simultaneous (all cover all ranks at once);
* :func:`tau_best` -- which variables may be among the ``tau`` best.

Both are pure functions of arrays (numpy and scipy only); the draws of N(0, Sigma)
behind the critical values are scrambled Sobol points seeded by an explicit ``seed``,
never the global RNG, so the same arguments always give the same sets. The procedure is
that of ``csranks::csranks`` (two-sided, stepdown) and ``csranks::cstaubest``, and
matches them bound for bound on the shared reference cases; it reuses one set of
quasi-random draws at every step where csranks draws pseudo-random ones afresh.

Non-finite input raises ``ValueError``: a variable whose estimate or variance is unknown
has an unknown rank and changes every other variable's, so the caller decides whether
to leave it out (csranks' ``na.rm``) and says so.

References
----------
.. [1] Mogstad, M., Romano, J. P., Shaikh, A. M. & Wilhelm, D. (2023). Inference for
   ranks with applications to mobility across neighborhoods and academic achievement
   across countries. Review of Economic Studies 91(1). doi:10.1093/restud/rdad006
.. [2] Wilhelm, D. & Morgen, P. csranks: Statistical Tools for Ranks, R package 1.2.2,
   https://github.com/danielwilhelm/R-CS-ranks
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import special
from scipy.stats import qmc

__all__ = ["confidence_sets", "tau_best"]

# Relative tolerances: a covariance read back from text or computed from resamples is
# symmetric and PSD only up to rounding; anything larger is a wrong argument.
_SYMMETRY_TOL = 1e-8
_PSD_TOL = 1e-8
# A difference whose variance is this small relative to its two variances is known
# exactly (e.g. a zero covariance): dividing the draws by its rounding-noise standard
# deviation would put noise into the critical value, so it is decided by the sign alone.
_DEGENERATE_TOL = 1e-12
# Rows x draws per block of the pairwise statistics (16 MB of float64).
_BLOCK_ELEMENTS = 1 << 21
# Sobol coordinates can be exactly 0; keep the normal quantiles finite.
_TINY = 1e-12


def confidence_sets(
    estimates,
    covariance,
    *,
    level: float = 0.95,
    simultaneous: bool = False,
    stepdown: bool = True,
    n_draws: int = 65_536,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided confidence sets for the ranks of ``theta``, as ``csranks::csranks``.

    Parameters
    ----------
    estimates : array_like, shape (p,)
        Estimates ``x`` of ``theta``; rank 1 is the largest.
    covariance : array_like, shape (p, p)
        Estimated covariance ``Sigma`` of ``x`` (symmetric, positive semi-definite).
    level : float, default 0.95
        Nominal coverage, strictly between 0 and 1.
    simultaneous : bool, default False
        False: each set covers its own variable's rank with probability ``level``
        (marginal). True: all sets cover all ranks at once with probability ``level``.
    stepdown : bool, default True
        Use the stepdown procedure (narrower sets, same coverage); False gives the
        single-step sets.
    n_draws : int, default 65_536
        Draws of N(0, Sigma) for the critical values, rounded up to a power of two.
    seed : int, default 0
        Seed of the scrambled Sobol sequence that makes those draws.

    Returns
    -------
    low, high : ndarray of int, shape (p,)
        The set for variable j is the integers ``low[j]..high[j]``; 1 <= low <= high <= p.

    Notes
    -----
    The rank of variable j is ``r_j = 1 + #{k : theta_k > theta_j}`` (tied values share the
    better rank). Differences are studentised by
    ``s_jk = sqrt(Sigma_jj + Sigma_kk - 2 Sigma_jk)``. For a family ``I`` of ordered pairs
    (j, k), let ``c(I)`` be the ``level`` quantile (linear interpolation, R's type 7) of
    ``max_{(j,k) in I} (Z_j - Z_k) / s_jk`` over draws ``Z ~ N(0, Sigma)``. The pair is
    *surely ordered*, ``theta_j > theta_k``, when ``x_j - x_k - s_jk c(I) > 0``.
    Stepdown: start from the family ``I_0``, drop the pairs found surely ordered,
    recompute ``c`` on the pairs left and repeat until a step orders no new pair. Then

        low_j  = 1 + #{k : theta_k > theta_j surely},
        high_j = p - #{k : theta_j > theta_k surely}.

    Simultaneous sets start from all ordered pairs (j, k), j != k; the marginal set of j
    from the pairs that involve j, (j, k) and (k, j), its own stepdown for each j. With
    both directions of a pair in ``I_0``, the first step's max is the max-|t| statistic.
    Single step (``stepdown=False``) stops after the first step. A difference with zero
    variance (``s_jk = 0``, e.g. a zero covariance) is known: it is ordered by its sign
    and left out of the max (csranks would divide by zero).

    The draws are scrambled Sobol points mapped to N(0, Sigma) (quasi-Monte Carlo): for
    the same number of draws the critical value's error is 3-4 times smaller than with
    pseudo-random draws, so a verdict on a pair near the boundary rarely depends on the
    seed. They are made once and reused at every step, so ``c`` only shrinks as pairs
    leave and the steps terminate. csranks draws 1000 pseudo-random points by default,
    afresh at each step; the two agree up to that Monte Carlo error.

    References
    ----------
    Mogstad, Romano, Shaikh & Wilhelm (2023), Review of Economic Studies 91(1);
    R package ``csranks`` (functions ``csranks``, ``csdiffmeans``).

    Examples
    --------
    >>> import numpy as np
    >>> from study.analysis.ranks import confidence_sets
    >>> low, high = confidence_sets([3.0, 2.9, 0.0], np.diag([0.01, 0.01, 0.01]))
    >>> low.tolist(), high.tolist()
    ([1, 1, 3], [2, 2, 3])
    """
    x, cov = _check_inputs(estimates, covariance, level, n_draws, seed)
    above, below = _surely_ordered(x, cov, simultaneous, level, stepdown, n_draws, seed)
    return 1 + above, x.size - below


def tau_best(
    estimates,
    covariance,
    *,
    tau: int,
    level: float = 0.95,
    stepdown: bool = True,
    n_draws: int = 65_536,
    seed: int = 0,
) -> np.ndarray:
    """Which variables may be among the ``tau`` best, as ``csranks::cstaubest``.

    Parameters
    ----------
    estimates, covariance, level, stepdown, n_draws, seed
        As in :func:`confidence_sets`.
    tau : int
        Size of the top set, 1 <= tau <= p.

    Returns
    -------
    ndarray of bool, shape (p,)
        True for the variables that may have rank <= ``tau``. With probability about
        ``level`` this set contains every variable whose rank is at most ``tau``.

    Notes
    -----
    Variable j is kept when the lower bound of a simultaneous one-sided confidence set
    for its rank, ``1 + #{k : theta_k > theta_j surely}``, is at most ``tau``. The pairs
    surely ordered come from the stepdown of :func:`confidence_sets` started from all
    ordered pairs with the one-sided statistic ``max (Z_j - Z_k) / s_jk``: as every pair
    is in the family in both directions, this is the same computation as the
    simultaneous sets' lower bounds, and csranks gives the same answer.

    References
    ----------
    Mogstad, Romano, Shaikh & Wilhelm (2023), Review of Economic Studies 91(1),
    the projection confidence set for the tau-best; R package ``csranks`` (``cstaubest``).

    Examples
    --------
    >>> import numpy as np
    >>> from study.analysis.ranks import tau_best
    >>> tau_best([3.0, 2.9, 0.0], np.diag([0.01, 0.01, 0.01]), tau=1).tolist()
    [True, True, False]
    """
    x, cov = _check_inputs(estimates, covariance, level, n_draws, seed)
    if (
        isinstance(tau, (bool, np.bool_))
        or not isinstance(tau, numbers.Integral)
        or not 1 <= tau <= x.size
    ):
        raise ValueError(f"tau must be an integer from 1 to p = {x.size}; got {tau!r}")
    above, _ = _surely_ordered(x, cov, True, level, stepdown, n_draws, seed)
    return 1 + above <= tau


def _check_inputs(estimates, covariance, level, n_draws, seed) -> tuple[np.ndarray, np.ndarray]:
    """The arguments as float arrays, or ValueError with the one thing that is wrong."""
    x = np.asarray(estimates, dtype=float)
    cov = np.asarray(covariance, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"estimates must be a non-empty 1-D array; got shape {x.shape}")
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"covariance must be a square matrix; got shape {cov.shape}")
    if cov.shape[0] != x.size:
        raise ValueError(f"covariance has shape {cov.shape} but estimates has length {x.size}")
    for name, a in (("estimates", x), ("covariance", cov)):
        if not np.all(np.isfinite(a)):
            raise ValueError(
                f"{name} must be finite (no NaN or infinity); leave out the "
                "variables whose estimate or variance is unknown"
            )
    scale = np.abs(cov).max()
    asym = np.abs(cov - cov.T).max()
    if asym > _SYMMETRY_TOL * scale:
        raise ValueError(f"covariance must be symmetric; largest |C - C.T| is {asym:.3g}")
    smallest = np.linalg.eigvalsh((cov + cov.T) / 2).min()
    if smallest < -_PSD_TOL * scale:
        raise ValueError(
            f"covariance must be positive semi-definite; smallest eigenvalue is {smallest:.3g}"
        )
    if (
        isinstance(level, (bool, np.bool_))
        or not isinstance(level, numbers.Real)
        or not 0 < level < 1
    ):
        raise ValueError(f"level must be strictly between 0 and 1; got {level!r}")
    if (
        isinstance(n_draws, (bool, np.bool_))
        or not isinstance(n_draws, numbers.Integral)
        or n_draws < 1
    ):
        raise ValueError(f"n_draws must be a positive integer; got {n_draws!r}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer; got {seed!r}")
    return x, (cov + cov.T) / 2


def _surely_ordered(x, cov, simultaneous, level, stepdown, n_draws, seed):
    """Per variable j, how many others are surely above it and how many surely below.

    Simultaneous: one family of every ordered pair (j, k), j != k. Marginal: family j
    holds the pairs (j, k) and (k, j) that involve j, and only its own verdicts count
    for j's set.
    """
    p = x.size
    diff, sd, z = _setup(x, cov, n_draws, seed)
    j, k = np.nonzero(~np.eye(p, dtype=bool))
    if simultaneous:
        families, first, second = np.zeros(j.size, dtype=np.intp), j, k
    else:
        # family j: (j, k) then (k, j) for every k != j, kept sorted by family
        families = np.concatenate([j, j])
        first, second = np.concatenate([j, k]), np.concatenate([k, j])
        order = np.argsort(families, kind="stable")
        families, first, second = families[order], first[order], second[order]
    surely = _stepdown(diff, sd, z, families, first, second, level, stepdown)
    # j's set counts only its own family's verdicts (when simultaneous, all of them)
    above = surely & (simultaneous | (second == families))
    below = surely & (simultaneous | (first == families))
    return np.bincount(second[above], minlength=p), np.bincount(first[below], minlength=p)


def _setup(x, cov, n_draws, seed) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Differences ``x_j - x_k``, their standard deviations (0 where degenerate), draws Z.

    Z has shape (p, n), a row per variable, n = n_draws rounded up to a power of two:
    scrambled Sobol points mapped to N(0, Sigma), from a generator seeded here only.
    """
    var = np.diag(cov)
    var_diff = var[:, None] + var[None, :] - 2 * cov
    degenerate = var_diff <= _DEGENERATE_TOL * (var[:, None] + var[None, :])
    sd = np.where(degenerate, 0.0, np.sqrt(np.clip(var_diff, 0, None)))
    # a symmetric square root through the eigendecomposition: Cholesky fails on the
    # singular covariances that a few resamples or a constant variable give
    w, v = np.linalg.eigh(cov)
    root = v * np.sqrt(np.clip(w, 0, None))
    # Quasi-random rather than pseudo-random points: the critical value's Monte Carlo
    # error is 3-4 times smaller for the same number, so verdicts on pairs near the
    # boundary depend far less on the seed (Sobol points balance at powers of two).
    sobol = qmc.Sobol(d=x.size, scramble=True, seed=np.random.default_rng(int(seed)))
    m = max(int(n_draws) - 1, 1).bit_length()
    u = sobol.random_base2(m)
    z = root @ special.ndtri(np.clip(u, _TINY, 1 - _TINY)).T
    return x[:, None] - x[None, :], sd, z


def _stepdown(diff, sd, z, families, first, second, level, stepdown) -> np.ndarray:
    """Which candidate hypotheses are rejected: ``theta_first > theta_second`` surely.

    Candidate c tests the ordered pair ``(first[c], second[c])`` in family ``families[c]``
    (sorted by family); each family has its own critical value and its own stepdown. The
    families run together: with the draws fixed, a family that ordered nothing new in a
    step gets the same critical value in the next and orders nothing new again.
    """
    margin = diff[first, second]
    scale = sd[first, second]
    active = np.ones(first.size, dtype=bool)
    surely = np.zeros(first.size, dtype=bool)
    n_families = int(families.max()) + 1 if families.size else 0
    while active.any():
        q = _critical_values(z, families, first, second, scale, active, n_families, level)
        new = active & (margin - scale * q[families] > 0)
        if not new.any():
            break
        surely |= new
        active &= ~new
        if not stepdown:
            break
    return surely


def _critical_values(z, families, first, second, scale, active, n_families, level):
    """Per family, the ``level`` quantile over draws of ``max (Z_first - Z_second) / s``.

    ``z`` is (p, n), one row per variable. R's default (type 7) quantile. Pairs with
    s = 0 are left out of the max; a family with no other pair gets 0 (its pairs are
    decided by the sign of the difference alone).
    """
    q = np.zeros(n_families)
    use = active & (scale > 0)
    if not use.any():
        return q
    rows = _statistic_rows(families[use], first[use], second[use], scale[use], z.shape[0])
    fam, pair_low, pair_high, pair_scale, source, sign = rows
    present, starts = np.unique(fam, return_index=True)
    ends = np.append(starts[1:], fam.size)
    n = z.shape[1]
    stats = np.empty((present.size, n))
    inv = 1 / pair_scale[:, None]
    flip, fold = (sign < 0)[:, None], (sign == 0)[:, None]
    # draws in blocks, each a (rows, draws) array read row by contiguous row; a slice per
    # family is several times faster than np.maximum.reduceat along axis 0
    step = max(1, _BLOCK_ELEMENTS // fam.size)
    for lo in range(0, n, step):
        d = z[pair_low, lo : lo + step] - z[pair_high, lo : lo + step]
        d *= inv
        t = d[source]
        np.negative(t, out=t, where=flip)
        np.abs(t, out=t, where=fold)
        for row, (start, end) in enumerate(zip(starts, ends)):
            stats[row, lo : lo + step] = t[start:end].max(axis=0)
    q[present] = np.quantile(stats, level, axis=1)
    return q


def _statistic_rows(fam, first, second, scale, p):
    """The rows whose max is a family's statistic, each a signed or absolute difference.

    A family holding both (j, k) and (k, j) needs ``max(T_jk, -T_jk) = |T_jk|``: one row
    instead of two, and each unordered pair's ``T_jk = (Z_j - Z_k) / s_jk`` is computed
    once for all the families that use it. Returns, per row (sorted by family): its
    family, its index into the unordered pairs (``pair_low``, ``pair_high``,
    ``pair_scale``), and sign +1 (T), -1 (-T) or 0 (|T|).
    """
    low, high = np.minimum(first, second), np.maximum(first, second)
    pair = low * p + high
    keys, where, counts = np.unique(fam * p * p + pair, return_index=True, return_counts=True)
    sign = np.where(counts == 2, 0, np.where(first[where] < second[where], 1, -1))
    pairs, first_use, source = np.unique(pair[where], return_index=True, return_inverse=True)
    return keys // (p * p), pairs // p, pairs % p, scale[where][first_use], source, sign
