"""What the answer estimates, and how uncertain it is about the data as well as the seeds.

A study trains S networks on its training rows (the seeds) and, with ``study.resample``, B
more networks each on a resample of those rows with its own seed (the resample networks).
This module turns their importances into an estimate of each variable's expected importance,
its covariance, confidence sets for its rank (:mod:`study.analysis.ranks`) and a top-k verdict. Pure
functions of arrays (numpy; the sets need scipy through :mod:`study.analysis.ranks`).

**Estimand.** For one method, output and variable j: theta_j = E[s_j], the expected
*scale-free* importance of the training procedure applied to a fresh sample of the same size,
over data and seed. One network's ``s_j`` is its share of that network's total (see
:func:`shares`), so networks whose weights differ in scale count alike.

**Estimate.** The mean of ``s`` over the S seeds on the full training rows.

**Covariance.** One network's ``s`` varies with the data and with the seed:
``Cov(s) = V_data + V_seed``. Assumed: the seed's effect does not depend on which sample it
is trained on (additive, uncorrelated with the data's), and a bootstrap (or half-)resample
varies like a fresh sample. Then the resample networks' sample covariance estimates
``V_data + V_seed``, the seeds' estimates ``V_seed``, and the mean over S seeds has covariance

    Sigma = V_data + V_seed / S,   V_data = psd(cov(resamples) - cov(seeds)),

where ``psd`` is the nearest positive semi-definite matrix in Frobenius norm (eigenvalues
clipped at zero; Higham 1988): the difference of two estimates can have negative
eigenvalues, and a negative data variance means "no data variance we can see". Using the
resample networks' covariance alone (the prototype's) is valid but wide: it counts the seed
noise that the mean over seeds removes.

**Verdict** per variable, for the top k: ``surely`` when its *simultaneous* set's upper bound
is at most k (every variable called ``surely`` is in the top k at once, with probability about
the level); ``possibly`` when it may be among the k best by :func:`study.analysis.ranks.tau_best`
(``csranks::cstaubest``: the set covers every true top-k variable at once); ``no`` otherwise,
so the variables called ``no`` are, together, outside the top k at that level.

**Seeds or data** (:func:`seeds_or_data`). Per variable, the share of one network's variance
that is the data's, ``V_data / (V_data + V_seed)`` (diagonals), and the two parts of the
answer's: the data's standard error ``sqrt(V_data)`` and the seeds' Monte Carlo error
``sqrt(V_seed / S)``. More seeds shrink only the second, more data mostly the first; the report
names the larger. ``study.n_runs=auto`` adds seeds until the seeds' error is below
:data:`MC_TARGET` (a tenth) of the data's for every variable (:func:`seeds_needed`).

**Measured** (``benchmarks/rank_coverage.py``, docs/results.md): on known-truth data the marginal
sets of 10 seeds and 20 bootstrap networks covered the true rank in every (dataset, variable) pair
(regression and classification, 200 and 1000 rows, 20 datasets each), so the covariance errs on the
wide side. Two facts of small networks explain it, measured with pairs of networks on one bootstrap
resample (known-truth regression, 200 rows): a network on a bootstrap resample varies *more* with
its seed than one on the rows themselves (duplicated rows), and less with the resample than a
network does between fresh datasets. The difference ``cov(resamples) - cov(seeds)`` counts the first
excess, which outweighed the second shortfall on every variable measured.

References: Efron & Tibshirani (1993), An Introduction to the Bootstrap, ch. 6; Higham, N. J.
(1988), Computing a nearest symmetric positive semidefinite matrix, Linear Algebra Appl. 103;
Mogstad, Romano, Shaikh & Wilhelm (2023), Review of Economic Studies 91(1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from study.analysis import ranks

__all__ = [
    "Uncertainty",
    "SeedsOrData",
    "MC_TARGET",
    "shares",
    "nearest_psd",
    "covariance",
    "estimate",
    "verdicts",
    "seeds_or_data",
    "seeds_needed",
]

# study.n_runs=auto: seeds until their Monte Carlo error is below this fraction of the data's
# standard error, for every variable
MC_TARGET = 0.1


def shares(values, *, signed: bool) -> np.ndarray:
    """Each variable's share of its network's total importance, per output.

    ``values``: ``(n_networks, n_features, n_columns)``. A signed method's share is of
    ``|value|`` (the sign says the direction, not how much). An unsigned method's negative
    value (a permutation that happened to help) is taken as 0, not as importance. A network
    whose total is 0 or not finite for an output gives NaN there.
    """
    v = np.asarray(values, dtype=float)
    v = np.abs(v) if signed else np.clip(v, 0.0, None)
    total = v.sum(axis=1, keepdims=True)
    ok = np.isfinite(total) & (total > 0)
    return np.where(ok, v / np.where(ok, total, 1.0), np.nan)


def nearest_psd(matrix) -> np.ndarray:
    """The positive semi-definite matrix nearest ``matrix`` in Frobenius norm (Higham 1988):
    the symmetric part with its negative eigenvalues set to 0."""
    a = np.asarray(matrix, dtype=float)
    a = (a + a.T) / 2
    w, q = np.linalg.eigh(a)
    out = (q * np.clip(w, 0.0, None)) @ q.T
    return (out + out.T) / 2


@dataclass(frozen=True)
class Uncertainty:
    """The estimate of theta and its parts. ``covariance`` = ``v_data + v_seed / n_seeds``."""

    estimates: np.ndarray
    covariance: np.ndarray
    v_data: np.ndarray
    v_seed: np.ndarray
    n_seeds: int
    n_resamples: int


def _cov(x: np.ndarray) -> np.ndarray:
    return np.atleast_2d(np.cov(x, rowvar=False, ddof=1))


def covariance(seeds, resamples) -> Uncertainty:
    """The estimate and its covariance from ``(S, p)`` seeds' and ``(B, p)`` resample networks'
    scale-free importances (module docstring). Rows with a NaN are left out; ValueError when
    fewer than 2 of either are left."""
    s = np.asarray(seeds, dtype=float)
    r = np.asarray(resamples, dtype=float)
    s = s[np.isfinite(s).all(axis=1)]
    r = r[np.isfinite(r).all(axis=1)]
    if len(s) < 2 or len(r) < 2:
        raise ValueError(
            f"need at least 2 seeds and 2 resample networks with finite "
            f"importances; got {len(s)} and {len(r)}"
        )
    v_seed = _cov(s)
    v_data = nearest_psd(_cov(r) - v_seed)
    return Uncertainty(s.mean(axis=0), v_data + v_seed / len(s), v_data, v_seed, len(s), len(r))


def verdicts(estimates, cov, *, k: int, level: float, seed: int) -> dict:
    """Marginal and simultaneous rank sets and the top-``k`` verdict of every variable.

    Returns a dict of arrays: ``rank_low``, ``rank_high`` (marginal), ``rank_low_simultaneous``,
    ``rank_high_simultaneous`` (ints) and ``top_k`` (``"surely"``, ``"possibly"``, ``"no"``;
    rule in the module docstring)."""
    x = np.asarray(estimates, dtype=float)
    k = min(int(k), x.size)
    low, high = ranks.confidence_sets(x, cov, level=level, seed=seed)
    slow, shigh = ranks.confidence_sets(x, cov, level=level, simultaneous=True, seed=seed)
    maybe = ranks.tau_best(x, cov, tau=k, level=level, seed=seed)
    top = np.where(shigh <= k, "surely", np.where(maybe, "possibly", "no"))
    return {
        "rank_low": low,
        "rank_high": high,
        "rank_low_simultaneous": slow,
        "rank_high_simultaneous": shigh,
        "top_k": top,
    }


def estimate(seed_values, resample_values, *, signed: bool) -> Uncertainty:
    """:func:`covariance` of a method's overall scale-free importance: per network the mean over
    outputs of :func:`shares` (one ranking per variable, as the answer's)."""
    overall = [shares(v, signed=signed).mean(axis=2) for v in (seed_values, resample_values)]
    return covariance(*overall)


@dataclass(frozen=True)
class SeedsOrData:
    """Where the answer's uncertainty comes from, per variable (module docstring)."""

    data_share: np.ndarray  # of one network's variance: V_data / (V_data + V_seed)
    data_error: np.ndarray  # the data's standard error of the estimate, sqrt(V_data)
    seed_error: np.ndarray  # the seeds' Monte Carlo error of the estimate, sqrt(V_seed / S)
    n_seeds: int

    @property
    def ratio(self) -> np.ndarray:
        """The seeds' error over the data's (inf where the data's is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                self.data_error > 0,
                self.seed_error / self.data_error,
                np.where(self.seed_error > 0, np.inf, 0.0),
            )

    @property
    def more_data(self) -> bool:
        """Whether more data would narrow the answer more than more seeds: the data's part of
        the answer's variance, summed over the variables, is the larger."""
        return float(np.sum(self.data_error**2)) >= float(np.sum(self.seed_error**2))


def seeds_or_data(u: Uncertainty) -> SeedsOrData:
    """The variance shares and errors of :class:`Uncertainty` ``u`` (module docstring)."""
    vd, vs = np.clip(np.diag(u.v_data), 0, None), np.clip(np.diag(u.v_seed), 0, None)
    total = vd + vs
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, vd / total, np.nan)
    return SeedsOrData(share, np.sqrt(vd), np.sqrt(vs / u.n_seeds), u.n_seeds)


def seeds_needed(parts: SeedsOrData, *, target: float = MC_TARGET) -> float:
    """The seeds at which the seeds' Monte Carlo error would be ``target`` of the data's for the
    variable that needs most (from the errors measured at ``parts.n_seeds`` seeds; the error
    falls as 1/sqrt(S)). inf when some variable has no data variance and some seed variance."""
    worst = float(np.max(parts.ratio)) if parts.ratio.size else 0.0
    return parts.n_seeds * (worst / target) ** 2
