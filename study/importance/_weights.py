"""Importance read from the weights alone: Garson, signed Garson, Olden, input-weight sums.

Every function takes ``coefs``, the weight matrices in scikit-learn order (``coefs[l]`` has shape
``(n_in, n_out)``; ``MLPClassifier.coefs_`` is such a list) and returns arrays of shape
``(n_inputs, n_outputs)``: one column per output unit, identical columns where the formula does not
depend on the output. Biases never enter. Inputs must have been standardised before training, or
weight magnitudes are not comparable between variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["garson", "garson_signed", "olden", "weight_sums", "WeightSums", "connection_sums"]


def _as_coefs(coefs) -> list[np.ndarray]:
    mats = [np.asarray(w, dtype=float) for w in coefs]
    if len(mats) < 2:
        raise ValueError(
            f"coefs must hold at least two weight matrices (input->hidden, hidden->output); "
            f"got {len(mats)}"
        )
    for i, (a, b) in enumerate(zip(mats, mats[1:])):
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(
                f"coefs[{i}] has shape {a.shape} and coefs[{i + 1}] has shape {b.shape}: "
                "expected 2-D matrices in scikit-learn order, coefs[l] of shape (n_in, n_out)"
            )
    return mats


def _share(w: np.ndarray, magnitude) -> np.ndarray:
    """Each column of ``w`` divided by the sum of its absolute values (0 where that sum is 0).

    A unit whose incoming weights are all zero receives nothing from anyone: its share is 0, not
    NaN, so a dead unit cannot poison the importance of every variable.
    """
    total = np.abs(w).sum(axis=0, keepdims=True)
    safe = np.where(total > 0, total, 1.0)
    return np.where(total > 0, magnitude(w) / safe, 0.0)


def garson(coefs) -> np.ndarray:
    """Garson's (Goh's) relative importance, as NeuralNetTools ``garson()``.

    Parameters
    ----------
    coefs : list of array-like
        Weight matrices in scikit-learn order, ``coefs[l]`` of shape ``(n_in, n_out)``.

    Returns
    -------
    ndarray of shape (n_inputs, n_outputs)
        Non-negative, each column sums to 1. All columns are identical (see Notes).

    Notes
    -----
    With one hidden layer, ``W = coefs[0]`` (p x H) and ``V = coefs[1]`` (H x K)::

        P_ij = |w_ij| |v_jk|,  Q_ij = P_ij / sum_i P_ij,  S_i = sum_j Q_ij,  RI_i = S_i / sum_i S_i

    ``|v_jk|`` is a common factor of the numerator and the denominator of ``Q_ij`` and cancels:
    classic Garson ignores the output layer entirely. That is why every output (class or target)
    gets the same vector: this function returns the same column K times rather than refusing
    several outputs as NeuralNetTools does.

    Several hidden layers (NeuralNetTools refuses them): the share of input i in hidden unit j of
    the first layer, ``A1 = |W1| / colsum |W1|``, is passed on through each further hidden layer in
    proportion to the absolute weights, ``A_l = |W_l| / colsum |W_l|``, giving
    ``A = A1 @ A2 @ ... @ A_{L-1}`` (p x H_last, columns sum to 1); then ``S_i = sum_j A_ij`` and
    ``RI = S / sum(S)``. As in the classic formula, the last (hidden -> output) matrix cancels and
    is not used. With one hidden layer ``A = A1`` and this is exactly the classic formula.

    References
    ----------
    1. Garson, G.D. (1991). Interpreting neural network connection weights. AI Expert 6, 46-51.
    2. Goh, A.T.C. (1995). Back-propagation neural networks for modeling complex systems.
       Artificial Intelligence in Engineering 9, 143-151.
    3. Beck, M.W. (2018). NeuralNetTools: visualization and analysis tools for neural networks.
       Journal of Statistical Software 85(11).

    Examples
    --------
    >>> import numpy as np
    >>> from study.importance import garson
    >>> w, v = np.array([[1.0, -2.0], [3.0, 2.0]]), np.array([[0.5], [-4.0]])
    >>> garson([w, v]).ravel().round(4)
    array([0.375, 0.625])
    """
    mats = _as_coefs(coefs)
    share = _share(mats[0], np.abs)
    for w in mats[1:-1]:
        share = share @ _share(w, np.abs)
    s = share.sum(axis=1)
    total = s.sum()
    ri = s / total if total > 0 else np.full_like(s, np.nan)
    return np.repeat(ri[:, None], mats[-1].shape[1], axis=1)


def garson_signed(coefs) -> np.ndarray:
    """Garson's algorithm with the signs kept through the multiplications.

    Returns
    -------
    ndarray of shape (n_inputs, n_outputs)
        Signed; ``sum_i |RI_ik| = 1`` for every output k.

    Notes
    -----
    One hidden layer::

        P_ijk = w_ij v_jk,  Q_ijk = P_ijk / sum_i |P_ijk| = sign(v_jk) w_ij / sum_i |w_ij|
        S_ik = sum_j Q_ijk,  RI_ik = S_ik / sum_i |S_ik|

    Only the *signs* of the output weights survive. Two outputs whose output weights have opposite
    signs on every hidden unit get exactly negated vectors (identical magnitudes, flipped signs);
    equal signs everywhere give identical vectors. With complementary outputs training drives
    ``v_j1 ~ -v_j2``, so users see this pattern: it is a property of the formula, not a bug.

    Several hidden layers: the signed shares ``W_l / colsum |W_l|`` are chained through the hidden
    layers as in :func:`garson`, then multiplied by ``sign(V)``; this is the formula above when
    there is one hidden layer.
    """
    mats = _as_coefs(coefs)
    share = _share(mats[0], lambda w: w)
    for w in mats[1:-1]:
        share = share @ _share(w, lambda w: w)
    s = share @ np.sign(mats[-1])
    total = np.abs(s).sum(axis=0, keepdims=True)
    return np.where(total > 0, s / np.where(total > 0, total, 1.0), np.nan)


def olden(coefs) -> np.ndarray:
    """Olden's connection weights, ``CW = W1 @ W2 @ ... @ WL``, as NeuralNetTools ``olden()``.

    Returns
    -------
    ndarray of shape (n_inputs, n_outputs)
        Signed and unscaled; rank by ``|CW|``. Depends on every layer, output layer included.

    Notes
    -----
    With one hidden layer ``CW_ik = sum_j w_ij v_jk``. Olden, Joy & Death (2004) found it the most
    accurate of nine methods at recovering a known importance order in simulated data.

    References
    ----------
    1. Olden, J.D. & Jackson, D.A. (2002). Illuminating the "black box": a randomization approach
       for understanding variable contributions in artificial neural networks. Ecological
       Modelling 154, 135-150.
    2. Olden, J.D., Joy, M.K. & Death, R.G. (2004). An accurate comparison of methods for
       quantifying variable importance in artificial neural networks using simulated data.
       Ecological Modelling 178, 389-397.
    """
    mats = _as_coefs(coefs)
    cw = mats[0]
    for w in mats[1:]:
        cw = cw @ w
    return cw


@dataclass(frozen=True)
class WeightSums:
    """Sums of one network's first-layer weights per input variable, each ``(n_inputs, n_outputs)``.

    ``pos`` = sum of positive weights, ``neg`` = sum of negative weights (<= 0),
    ``net = pos + neg``, ``abs = pos - neg`` (sum of absolute weights). Columns are identical: the
    first layer knows nothing of the outputs.
    """

    pos: np.ndarray
    neg: np.ndarray
    net: np.ndarray
    abs: np.ndarray


def weight_sums(coefs) -> WeightSums:
    """Positive, negative, net and absolute sums of the input->first-hidden-layer weights.

    Notes
    -----
    ``pos_i = sum_j max(w_ij, 0)``, ``neg_i = sum_j min(w_ij, 0)``, ``net_i = pos_i + neg_i``,
    ``abs_i = pos_i - neg_i``. Like Garson this is blind to every later layer, the output layer
    included: the repeated-training studies that sum input weights per variable cannot see what
    the network does with a hidden unit downstream.
    """
    mats = _as_coefs(coefs)
    w = mats[0]
    n_out = mats[-1].shape[1]
    pos = np.clip(w, 0, None).sum(axis=1)
    neg = np.clip(w, None, 0).sum(axis=1)

    def cols(v):
        return np.repeat(v[:, None], n_out, axis=1)

    return WeightSums(pos=cols(pos), neg=cols(neg), net=cols(pos + neg), abs=cols(pos - neg))


def connection_sums(coefs) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative sums of each input's connection weights through the last hidden
    layer, per output: ``(pos, neg)``, each of shape (n_inputs, n_outputs).

    Notes
    -----
    The contribution of input i to output k through last-hidden unit j is
    ``c_ijk = (W1 @ ... @ W_{L-1})_ij v_jk``; ``pos_ik = sum_j max(c_ijk, 0)``,
    ``neg_ik = sum_j min(c_ijk, 0)``, and ``pos + neg`` is Olden's CW (:func:`olden`). Unlike
    :func:`weight_sums` this sees the output layer.
    """
    mats = _as_coefs(coefs)
    a = mats[0]
    for w in mats[1:-1]:
        a = a @ w
    c = a[:, :, None] * mats[-1][None, :, :]
    return np.clip(c, 0, None).sum(1), np.clip(c, None, 0).sum(1)
