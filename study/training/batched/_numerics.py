"""The arithmetic of scikit-learn's MLP training (``sklearn/neural_network/_base.py``,
``_multilayer_perceptron.py``, ``_stochastic_optimizers.py``), on a leading axis of networks.

Every expression is written as scikit-learn writes it, so that each network's numbers are
scikit-learn's up to the order of a few sums.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, xlogy


def _activate(name: str, z: np.ndarray) -> None:
    if name == "tanh":
        np.tanh(z, out=z)
    elif name == "logistic":
        expit(z, out=z)
    elif name == "relu":
        np.maximum(z, 0, out=z)
    elif name == "softmax":  # max and sum over a few columns: column by column, same order
        top = z[..., 0].copy()
        for j in range(1, z.shape[-1]):
            np.maximum(top, z[..., j], out=top)
        np.subtract(z, top[..., np.newaxis], out=z)
        np.exp(z, out=z)
        total = z[..., 0].copy()
        for j in range(1, z.shape[-1]):
            total += z[..., j]
        z /= total[..., np.newaxis]


def _derivative(name: str, z: np.ndarray, delta: np.ndarray) -> None:
    if name == "tanh":
        delta *= 1 - z**2
    elif name == "logistic":
        delta *= z
        delta *= 1 - z
    elif name == "relu":
        delta[z == 0] = 0


def _loss(kind: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-network loss over axis -2 (rows), as scikit-learn's ``LOSS_FUNCTIONS``."""
    if kind == "squared_error":
        return 0.5 * ((y - p) ** 2).mean(axis=-2).mean(axis=-1)
    eps = np.finfo(p.dtype).eps
    p = np.clip(p, eps, 1 - eps)
    if kind == "binary_log_loss":
        return -(xlogy(y, p) + xlogy(1 - y, 1 - p)).mean(axis=-2).sum(axis=-1)
    if p.shape[-1] == 1:  # log_loss on one logistic output: scikit-learn adds the other column
        p = np.concatenate([1 - p, p], axis=-1)
        y = np.concatenate([1 - y, y], axis=-1)
    return -xlogy(y, p).mean(axis=-2).sum(axis=-1)


def forward(coefs, intercepts, X, activation, out_activation):
    acts = [X]
    last = len(coefs) - 1
    for i, (w, b) in enumerate(zip(coefs, intercepts)):
        z = np.matmul(acts[i], w)
        z += b[:, np.newaxis, :]
        _activate(activation if i != last else out_activation, z)
        acts.append(z)
    return acts


def backprop(coefs, intercepts, X, Y, spec):
    """(loss per network, coefficient grads, intercept grads) of one batch, as ``backprop``."""
    n = X.shape[-2]
    acts = forward(coefs, intercepts, X, spec["activation"], spec["out_activation"])
    loss = _loss(spec["loss"], Y, acts[-1])
    values = 0
    for w in coefs:
        s = w.reshape(len(w), -1)
        values += np.einsum("ij,ij->i", s, s)
    loss += (0.5 * spec["alpha"]) * values / n
    last = len(coefs) - 1
    coef_grads = [None] * len(coefs)
    intercept_grads = [None] * len(coefs)
    delta = acts[-1] - Y
    for i in range(last, -1, -1):
        a = acts[i]
        g = np.matmul(a.swapaxes(-1, -2), delta)
        g += spec["alpha"] * coefs[i]
        g /= n
        coef_grads[i] = g
        intercept_grads[i] = np.sum(delta, axis=-2) / n
        if i > 0:
            delta = np.matmul(delta, coefs[i].swapaxes(-1, -2))
            _derivative(spec["activation"], acts[i], delta)
    return loss, coef_grads, intercept_grads


class Adam:
    def __init__(self, params, spec):
        self.lr_init = spec["learning_rate_init"]
        self.beta_1, self.beta_2, self.epsilon = spec["beta_1"], spec["beta_2"], spec["epsilon"]
        self.t = 0
        self.state = {
            "ms": [np.zeros_like(p) for p in params],
            "vs": [np.zeros_like(p) for p in params],
        }

    def updates(self, grads):
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        ms = self.state["ms"] = [b1 * m + (1 - b1) * g for m, g in zip(self.state["ms"], grads)]
        vs = self.state["vs"] = [
            b2 * v + (1 - b2) * (g**2) for v, g in zip(self.state["vs"], grads)
        ]
        lr = self.lr_init * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        return [-lr * m / (np.sqrt(v) + self.epsilon) for m, v in zip(ms, vs)]

    def iteration_ends(self, t_):
        pass

    def stop(self, hit):
        """Which networks among ``hit`` (stalled) stop: all of them, for Adam."""
        return hit

    def keep(self, mask):
        self.state = {k: [a[mask] for a in v] for k, v in self.state.items()}


class SGD:
    def __init__(self, params, spec, n):
        self.lr_init = spec["learning_rate_init"]
        self.schedule = spec["learning_rate"]
        self.momentum, self.nesterov = spec["momentum"], spec["nesterovs_momentum"]
        self.power_t = spec["power_t"]
        self.state = {
            "velocities": [np.zeros_like(p) for p in params],
            "lr": [np.full(n, float(self.lr_init))],
        }

    def _lr(self, ndim):
        lr = self.state["lr"][0]
        return lr.reshape((-1,) + (1,) * (ndim - 1))

    def updates(self, grads):
        mu = self.momentum
        ups = [mu * v - self._lr(g.ndim) * g for v, g in zip(self.state["velocities"], grads)]
        self.state["velocities"] = ups
        if self.nesterov:
            ups = [mu * v - self._lr(g.ndim) * g for v, g in zip(ups, grads)]
        return ups

    def iteration_ends(self, t_):
        if self.schedule == "invscaling":
            lr = float(self.lr_init) / (t_ + 1) ** self.power_t
            self.state["lr"][0][:] = lr

    def stop(self, hit):
        if self.schedule != "adaptive":
            return hit
        lr = self.state["lr"][0]
        done = hit & (lr <= 1e-6)
        lower = hit & ~done
        lr[lower] /= 5.0
        return done

    def keep(self, mask):
        self.state = {k: [a[mask] for a in v] for k, v in self.state.items()}
