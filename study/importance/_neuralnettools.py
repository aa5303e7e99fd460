"""Conversion between NeuralNetTools' flat weight vector and scikit-learn's matrices."""

from __future__ import annotations

import numpy as np

__all__ = ["from_neuralnettools", "to_neuralnettools"]


def _check_struct(struct) -> list[int]:
    sizes = [int(s) for s in struct]
    if len(sizes) < 3 or min(sizes) < 1:
        raise ValueError(
            f"struct must list at least three positive layer sizes (input, hidden..., output); "
            f"got {list(struct)}"
        )
    return sizes


def from_neuralnettools(wts, struct) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Turn NeuralNetTools' weight vector into scikit-learn's ``(coefs, intercepts)``.

    Parameters
    ----------
    wts : array-like of shape (n_weights,)
        NeuralNetTools order (as ``nnet``'s ``wts``): layer by layer, for each node of the layer
        its bias, then one weight per node of the previous layer.
    struct : sequence of int
        Layer sizes from input to output, e.g. ``[3, 5, 1]``.

    Returns
    -------
    coefs : list of ndarray
        ``coefs[l]`` of shape ``(struct[l], struct[l + 1])``.
    intercepts : list of ndarray
        ``intercepts[l]`` of shape ``(struct[l + 1],)``.

    Examples
    --------
    >>> from study.importance import from_neuralnettools
    >>> coefs, intercepts = from_neuralnettools([0.1, 1, 2, 0.2, 3, 4, 0.5, 5, 6], [2, 2, 1])
    >>> coefs[0]
    array([[1., 3.],
           [2., 4.]])
    >>> intercepts[1]
    array([0.5])
    """
    sizes = _check_struct(struct)
    flat = np.asarray(wts, dtype=float).ravel()
    expected = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes, sizes[1:]))
    if flat.size != expected:
        raise ValueError(
            f"struct {sizes} needs {expected} weights (biases included); got {flat.size}"
        )
    coefs, intercepts, start = [], [], 0
    for n_in, n_out in zip(sizes, sizes[1:]):
        block = flat[start : start + (n_in + 1) * n_out].reshape(n_out, n_in + 1)
        intercepts.append(block[:, 0].copy())
        coefs.append(block[:, 1:].T.copy())
        start += block.size
    return coefs, intercepts


def to_neuralnettools(coefs, intercepts) -> tuple[np.ndarray, list[int]]:
    """Inverse of :func:`from_neuralnettools`: ``(wts, struct)`` from scikit-learn matrices."""
    coefs = [np.asarray(w, dtype=float) for w in coefs]
    intercepts = [np.asarray(b, dtype=float).ravel() for b in intercepts]
    if len(coefs) != len(intercepts) or not coefs:
        raise ValueError("coefs and intercepts must be non-empty lists of the same length")
    for w, b in zip(coefs, intercepts):
        if w.ndim != 2 or b.shape != (w.shape[1],):
            raise ValueError(
                f"a weight matrix of shape {w.shape} needs an intercept of length "
                f"{w.shape[1] if w.ndim == 2 else '?'}; got {b.shape}"
            )
    struct = [coefs[0].shape[0]] + [w.shape[1] for w in coefs]
    _check_struct(struct)
    blocks = [np.column_stack([b, w.T]).ravel() for w, b in zip(coefs, intercepts)]
    return np.concatenate(blocks), struct
