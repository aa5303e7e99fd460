"""Lek's profile (Lek et al. 1996; NeuralNetTools ``lekprofile``): the network's response to one
input swept over its range while the others are held at fixed values.

For each input i, ``x_i`` runs over ``linspace(min X_i, max X_i, steps)`` while every other input
is held at the values of one *group*: with ``group_vals`` fractions in [0, 1], the quantiles of
each column of X (R type 7, numpy's default ``linear``: NeuralNetTools' choice); with an integer
k, the k-means centres of X (seeded, where NeuralNetTools' k-means is not); or a user matrix of
constants (n_groups x n_inputs). The sensitivity of input i is the range (max - min) of the
response over the sweep, averaged over groups (:func:`lek_sensitivity`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from study.importance._derivatives import _HIDDEN, _OUTPUT, _activate

__all__ = ["LekProfile", "lek_profile", "lek_groups", "lek_sensitivity", "forward"]


@dataclass(frozen=True)
class LekProfile:
    """Lek's profile of one network.

    x : (steps, n_inputs), the sweep of each input from its minimum to its maximum in X.
    groups : (n_groups, n_inputs), the values the other inputs are held at.
    response : (n_inputs, n_groups, steps, n_outputs), the network's output.
    """

    x: np.ndarray
    groups: np.ndarray
    response: np.ndarray

    @property
    def sensitivity(self) -> np.ndarray:
        """(n_inputs, n_outputs): range of the response over the sweep, mean over groups."""
        return lek_sensitivity(self.response)


def forward(coefs, intercepts, X, *, activation="relu", out_activation="identity") -> np.ndarray:
    """The network's outputs ``(n_samples, n_outputs)`` for inputs X (scikit-learn's forward
    pass: hidden ``activation`` on every hidden layer, ``out_activation`` on the last)."""
    if activation not in _HIDDEN:
        raise ValueError(f"activation must be one of {_HIDDEN}; got {activation!r}")
    if out_activation not in _OUTPUT:
        raise ValueError(f"out_activation must be one of {_OUTPUT}; got {out_activation!r}")
    a = np.asarray(X, dtype=float)
    last = len(coefs) - 1
    for layer, (w, b) in enumerate(zip(coefs, intercepts)):
        z = a @ np.asarray(w, float) + np.asarray(b, float)
        a = _activate(z, out_activation if layer == last else activation)[0]
    return a


# NeuralNetTools' lekprofile default, seq(0, 1, by = 0.2): the quantiles the others are held at
GROUP_VALS = (0, 0.2, 0.4, 0.6, 0.8, 1)


def lek_groups(X, group_vals=GROUP_VALS, *, seed: int = 0) -> np.ndarray:
    """The values the other inputs are held at, ``(n_groups, n_inputs)``.

    ``group_vals``: a sequence of fractions in [0, 1] (quantiles of each column, R type 7), an
    integer k (k-means centres of X, ``KMeans(random_state=seed)``, ordered by their first
    column), or a 2-D array of constants with one column per input.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D array; got shape {X.shape}")
    if isinstance(group_vals, (int, np.integer)) and not isinstance(group_vals, bool):
        k = int(group_vals)
        if not 1 <= k <= X.shape[0]:
            raise ValueError(
                f"group_vals = {k} k-means groups needs 1 <= k <= n_samples ({X.shape[0]})"
            )
        from sklearn.cluster import KMeans

        centres = KMeans(n_clusters=k, n_init=10, random_state=int(seed)).fit(X).cluster_centers_
        return centres[np.lexsort(centres.T[::-1])]
    try:
        vals = np.asarray(group_vals, dtype=float)
    except (TypeError, ValueError):
        vals = np.array([np.nan])  # refused below
    if vals.ndim == 2:
        if vals.shape[1] != X.shape[1] or vals.shape[0] == 0:
            raise ValueError(
                f"a matrix of group values needs {X.shape[1]} columns (one per "
                f"input) and at least one row; got shape {vals.shape}"
            )
        return vals.copy()
    if vals.ndim != 1 or vals.size == 0 or np.any((vals < 0) | (vals > 1)) or np.isnan(vals).any():
        raise ValueError(
            "group_vals must be fractions in [0, 1], an integer number of k-means "
            f"groups, or a matrix of constants; got {group_vals!r}"
        )
    return np.quantile(X, vals, axis=0)  # numpy's default "linear" is R's type 7


def lek_profile(
    coefs,
    intercepts,
    X,
    *,
    activation="relu",
    out_activation="identity",
    steps=100,
    group_vals=GROUP_VALS,
    seed: int = 0,
) -> LekProfile:
    """Lek's profile of a network with weights in scikit-learn order, on data X.

    Parameters
    ----------
    coefs, intercepts : list of array-like
        ``model.coefs_`` and ``model.intercepts_`` (any depth).
    X : array-like (n_samples, n_inputs)
        The data whose ranges and quantiles define the sweep and the groups (the inputs as the
        network saw them, i.e. standardised).
    activation, out_activation : str
        ``model.activation`` and ``model.out_activation_`` (``identity``, ``logistic`` or
        ``softmax`` for the output).
    steps : int
        Points of each sweep (NeuralNetTools' default 100).
    group_vals : fractions, int or matrix
        See :func:`lek_groups`.
    seed : int
        The k-means seed when ``group_vals`` is an integer.

    Returns
    -------
    LekProfile with ``x`` (steps, n_inputs), ``groups`` (n_groups, n_inputs) and ``response``
    (n_inputs, n_groups, steps, n_outputs).

    Agrees with NeuralNetTools 1.5.3 ``lekprofile(..., val_out = TRUE)`` to 1e-9 on 20 nnet
    models (``tests/data/lekprofile_reference.json``), and also handles two inputs (where
    NeuralNetTools drops a matrix dimension and fails).
    """
    X = np.asarray(X, dtype=float)
    steps = int(steps)
    if steps < 2:
        raise ValueError(f"steps must be at least 2; got {steps}")
    n_in = X.shape[1] if X.ndim == 2 else -1
    if n_in != np.asarray(coefs[0]).shape[0]:
        raise ValueError(
            f"X has {n_in} columns but the network has {np.asarray(coefs[0]).shape[0]} inputs"
        )
    groups = lek_groups(X, group_vals, seed=seed)
    x = np.linspace(X.min(axis=0), X.max(axis=0), steps)  # (steps, n_inputs)
    n_groups = groups.shape[0]
    # every (input, group, step) as one row of inputs: groups repeated, column i swept
    grid = np.broadcast_to(groups[None, :, None, :], (n_in, n_groups, steps, n_in)).copy()
    idx = np.arange(n_in)
    grid[idx, :, :, idx] = x.T[:, None, :]
    out = forward(
        coefs,
        intercepts,
        grid.reshape(-1, n_in),
        activation=activation,
        out_activation=out_activation,
    )
    return LekProfile(x=x, groups=groups, response=out.reshape(n_in, n_groups, steps, -1))


def lek_sensitivity(response) -> np.ndarray:
    """Range of the response over each sweep, averaged over groups: ``(n_inputs, n_outputs)``
    from a response of shape ``(n_inputs, n_groups, steps, n_outputs)``."""
    r = np.asarray(response, dtype=float)
    return (r.max(axis=2) - r.min(axis=2)).mean(axis=1)
