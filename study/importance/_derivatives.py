"""Partial derivatives (PaD) of a multilayer perceptron's outputs with respect to its inputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, softmax

__all__ = ["jacobian", "partial_derivatives", "PartialDerivatives"]

_HIDDEN = ("identity", "logistic", "tanh", "relu")
_OUTPUT = ("identity", "logistic", "softmax")


def _activate(z: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Activation and its elementwise derivative (None for softmax, handled by the caller)."""
    if name == "identity":
        return z, np.ones_like(z)
    if name == "logistic":
        a = expit(z)
        return a, a * (1.0 - a)
    if name == "tanh":
        a = np.tanh(z)
        return a, 1.0 - a**2
    if name == "relu":
        # scikit-learn's relu derivative is 0 at exactly 0; follow it.
        return np.maximum(z, 0.0), (z > 0).astype(float)
    if name == "softmax":
        return softmax(z, axis=1), None
    raise ValueError(f"unknown activation {name!r}")


def jacobian(coefs, intercepts, X, *, activation="relu", out_activation="identity") -> np.ndarray:
    """Per-sample Jacobian ``d y_k / d x_i`` of an MLP, by the chain rule.

    Parameters
    ----------
    coefs, intercepts : list of array-like
        Weights and biases in scikit-learn order (``model.coefs_``, ``model.intercepts_``).
    X : array-like of shape (n_samples, n_inputs)
        Points at which to differentiate (the inputs the network saw: standardised).
    activation : {"identity", "logistic", "tanh", "relu"}
        Hidden activation (``model.activation``).
    out_activation : {"identity", "logistic", "softmax"}
        Output activation (``model.out_activation_``), included in the derivative.

    Returns
    -------
    ndarray of shape (n_samples, n_inputs, n_outputs)

    Notes
    -----
    ``J = D0 W1 D1 W2 ... DL`` with ``D_l`` the diagonal matrix of activation derivatives at
    layer l.
    The softmax derivative is the full matrix ``dy_k/dz_l = y_k (delta_kl - y_l)``.
    """
    if activation not in _HIDDEN:
        raise ValueError(f"activation must be one of {_HIDDEN}; got {activation!r}")
    if out_activation not in _OUTPUT:
        raise ValueError(f"out_activation must be one of {_OUTPUT}; got {out_activation!r}")
    a = np.asarray(X, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_inputs); got shape {a.shape}")
    coefs = [np.asarray(w, dtype=float) for w in coefs]
    intercepts = [np.asarray(b, dtype=float) for b in intercepts]
    jac = np.broadcast_to(np.eye(a.shape[1]), (a.shape[0], a.shape[1], a.shape[1]))
    for layer, (w, b) in enumerate(zip(coefs, intercepts)):
        last = layer == len(coefs) - 1
        a, deriv = _activate(a @ w + b, out_activation if last else activation)
        jac = jac @ w  # (n, p, units): derivative of the pre-activation
        if deriv is not None:
            jac = jac * deriv[:, None, :]
        else:  # softmax: J_y[k] = y_k (J_z[k] - sum_l y_l J_z[l])
            jac = a[:, None, :] * (jac - np.einsum("npl,nl->np", jac, a)[:, :, None])
    return jac


@dataclass(frozen=True)
class PartialDerivatives:
    """Summaries over samples of the Jacobian, each ``(n_inputs, n_outputs)``.

    ``mean`` (signed direction of the effect), ``std`` (population, ddof=0: how much the effect
    varies over the input space) and ``rms = sqrt(mean(J**2))`` (neuralsens' ``mean_squared``; the
    magnitude used for ranking). ``ssd_share`` is Gevrey's relative contribution
    ``SSD_i / sum_i SSD_i`` with ``SSD_i = sum_n J_ni**2``.
    """

    mean: np.ndarray
    std: np.ndarray
    rms: np.ndarray
    ssd_share: np.ndarray


def partial_derivatives(
    coefs, intercepts, X, *, activation="relu", out_activation="identity"
) -> PartialDerivatives:
    """Partial-derivative (PaD) sensitivities of every output to every input.

    Same arguments as :func:`jacobian`; matches the ``mean``, ``std`` and ``mean_squared`` columns
    of neuralsens' ``jacobian_mlp(...).sens``.

    References
    ----------
    1. Dimopoulos, Y., Bourret, P. & Lek, S. (1995). Use of some sensitivity criteria for choosing
       networks with good generalization ability. Neural Processing Letters 2, 1-4.
    2. Gevrey, M., Dimopoulos, I. & Lek, S. (2003). Review and comparison of methods to study the
       contribution of variables in artificial neural network models. Ecological Modelling 160.
    3. Pizarroso, J., Portela, J. & Munoz, A. (2022). NeuralSens: sensitivity analysis of neural
       networks. Journal of Statistical Software 102(7).
    """
    jac = jacobian(coefs, intercepts, X, activation=activation, out_activation=out_activation)
    ssd = (jac**2).sum(axis=0)
    total = ssd.sum(axis=0, keepdims=True)
    return PartialDerivatives(
        mean=jac.mean(axis=0),
        std=jac.std(axis=0),
        rms=np.sqrt((jac**2).mean(axis=0)),
        ssd_share=np.where(total > 0, ssd / np.where(total > 0, total, 1.0), np.nan),
    )
