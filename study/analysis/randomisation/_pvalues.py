"""p-values, their adjustments across variables, and the statistics the test compares.

Pure functions of arrays (see :mod:`study.analysis.randomisation`)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "ALTERNATIVES",
    "p_values",
    "grouped_p_values",
    "exceeds",
    "holm",
    "benjamini_hochberg",
    "connection_products",
    "chance_score",
]

ALTERNATIVES = ("two-sided", "greater", "less", "observed-sign")


def p_values(observed, null, alternative: str = "two-sided") -> np.ndarray:
    """Randomisation p-values of every observed value against the null of its own position.

    ``observed`` (m, *shape): m networks' statistics; ``null`` (B, *shape): the null networks'.
    Returns (m, *shape). Null values that are NaN (a diverged null network) are left out of
    that position's null, so B there is the number of finite ones; a NaN observation gets NaN.
    Comparisons are exact (no tolerance): ties count as "at least as extreme".
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(
            f"alternative must be one of {', '.join(ALTERNATIVES)}; got {alternative!r}"
        )
    obs, nul = np.asarray(observed, float), np.asarray(null, float)
    if obs.shape[1:] != nul.shape[1:]:
        raise ValueError(f"observed {obs.shape} and null {nul.shape} differ after their first axis")
    m, shape = obs.shape[0], obs.shape[1:]
    obs2, nul2 = obs.reshape(m, -1), nul.reshape(nul.shape[0], -1)
    out = np.full(obs2.shape, np.nan)
    for j in range(obs2.shape[1]):
        col = nul2[:, j]
        col = col[np.isfinite(col)]
        o = obs2[:, j]
        ok = np.isfinite(o)
        if alternative == "two-sided":
            s = np.sort(np.abs(col))
            count = s.size - np.searchsorted(s, np.abs(o[ok]), side="left")
        else:
            s = np.sort(col)
            ge = s.size - np.searchsorted(s, o[ok], side="left")  # null >= obs
            le = np.searchsorted(s, o[ok], side="right")  # null <= obs
            if alternative == "greater":
                count = ge
            elif alternative == "less":
                count = le
            else:
                count = np.where(o[ok] >= 0, ge, le)
        out[ok, j] = (1.0 + count) / (s.size + 1.0)
    return out.reshape((m, *shape))


def exceeds(observed, null, alternative: str = "two-sided") -> np.ndarray:
    """Whether each null value is at least as extreme as the observed one at its position, as
    :func:`p_values` counts them (ties count; a NaN null value never does). ``observed``
    (*shape), ``null`` (n, *shape); returns (n, *shape) booleans."""
    o, nul = np.asarray(observed, float), np.asarray(null, float)
    with np.errstate(invalid="ignore"):
        if alternative == "two-sided":
            return np.abs(nul) >= np.abs(o)
        if alternative == "greater":
            return nul >= o
        if alternative == "less":
            return nul <= o
        if alternative == "observed-sign":
            return np.where(o >= 0, nul >= o, nul <= o) & np.isfinite(nul)
    raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}; got {alternative!r}")


def grouped_p_values(observed, null, groups, alternative: str = "two-sided") -> np.ndarray:
    """:func:`p_values` of each observed network against its own null: ``observed`` (m, *shape),
    ``null`` (G, B, *shape) the null values of G groups of null networks, ``groups`` (m,) the
    group each observation is tested against (with one group, every observation its null)."""
    obs, nul = np.asarray(observed, float), np.asarray(null, float)
    if nul.shape[0] == 1:
        return p_values(obs, nul[0], alternative)
    out = np.full(obs.shape, np.nan)
    for t, g in enumerate(groups):
        out[t] = p_values(obs[t][None], nul[int(g)], alternative)[0]
    return out


def holm(p, axis: int = -1) -> np.ndarray:
    """Holm's step-down adjusted p-values along ``axis`` (NaNs stay NaN and are not counted)."""
    p = np.moveaxis(np.asarray(p, float), axis, -1)
    out = np.full(p.shape, np.nan)
    for idx in np.ndindex(p.shape[:-1]):
        row = p[idx]
        ok = np.flatnonzero(np.isfinite(row))
        order = ok[np.argsort(row[ok], kind="stable")]
        n = order.size
        adj = np.minimum(1.0, np.maximum.accumulate((n - np.arange(n)) * row[order]))
        out[idx + (order,)] = adj
    return np.moveaxis(out, -1, axis)


def benjamini_hochberg(p, axis: int = -1) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) along ``axis``, by scipy; NaNs stay NaN."""
    from scipy.stats import false_discovery_control

    p = np.moveaxis(np.asarray(p, float), axis, -1)
    out = np.full(p.shape, np.nan)
    for idx in np.ndindex(p.shape[:-1]):
        row = p[idx]
        ok = np.isfinite(row)
        if ok.any():
            out[idx + (ok,)] = false_discovery_control(row[ok], method="bh")
    return np.moveaxis(out, -1, axis)


def connection_products(coefs) -> np.ndarray:
    """Connection-level statistics of one network, ``(n_inputs, n_first_hidden, n_outputs)``.

    One hidden layer: Olden & Jackson's products ``c_ijk = w_ij * v_jk``. Deeper: the sum of the
    paths from input i through first-layer unit j to output k, ``w_ij * (W2 @ ... @ WL)[j, k]``,
    which is the same formula for one hidden layer. Summed over j they give Olden's connection
    weights.
    """
    first = np.asarray(coefs[0], float)
    rest = np.asarray(coefs[1], float)
    for w in coefs[2:]:
        rest = rest @ np.asarray(w, float)
    return first[:, :, None] * rest[None, :, :]


def chance_score(y, task: str) -> float:
    """The training score of a network that learned nothing from training targets ``y``: the
    majority-class share for a classifier (accuracy), 0 for a regressor (R²)."""
    if task != "classification":
        return 0.0
    y = np.asarray(y)
    if y.ndim > 1:  # one-hot or multilabel: the most frequent row
        _, counts = np.unique(y, axis=0, return_counts=True)
    else:
        _, counts = np.unique(y, return_counts=True)
    return float(counts.max() / counts.sum())
