"""Scores of a block's networks (accuracy or R², as scikit-learn computes them from its
predictions) from one forward pass of the block: on the validation rows while it trains
(:func:`validation_score`), and of the fitted networks on any data (:func:`scores`)."""

from __future__ import annotations

import numpy as np

from study.training.batched._numerics import forward
from study.training.batched.spec import block_spec

__all__ = ["validation_score", "scores"]


def validation_score(task, spec, coefs, intercepts, X, Y):
    """Accuracy (classifier) or R² (regressor) on the validation rows, per network, as
    scikit-learn's ``_score`` computes them from its predictions."""
    out = forward(coefs, intercepts, X, spec["activation"], spec["out_activation"])[-1]
    if task == "classification":
        if spec["out_activation"] == "softmax":
            hit = out.argmax(axis=-1) == Y.argmax(axis=-1)
        else:
            hit = ((out > 0.5) == (Y > 0.5)).all(axis=-1)
        return hit.mean(axis=-1)
    finite = np.isfinite(out).all(axis=(-1, -2))
    num = ((Y - out) ** 2).sum(axis=-2)
    den = ((Y - Y.mean(axis=-2, keepdims=True)) ** 2).sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(den != 0, 1 - num / np.where(den != 0, den, 1), np.where(num == 0, 1.0, 0.0))
    return np.where(finite, r2.mean(axis=-1), np.nan)


def scores(models, Xs, ys) -> np.ndarray:
    """Each fitted model's score on its ``(X, y)`` (accuracy or R², as ``model.score``
    computes them from its predictions), from one forward pass of the block."""
    from sklearn.base import is_classifier

    m0 = models[0]
    task = "classification" if is_classifier(m0) else "regression"
    spec = block_spec(m0, task, getattr(m0, "_label_binarizer", None))
    L = len(m0.coefs_)
    coefs = [np.stack([m.coefs_[i] for m in models]) for i in range(L)]
    intercepts = [np.stack([m.intercepts_[i] for m in models]) for i in range(L)]
    if task == "classification":  # binarised once for the networks sharing targets and classes
        first = m0._label_binarizer.transform(ys[0]).astype(float)
        Y = np.stack(
            [
                first
                if y is ys[0]
                or (np.array_equal(y, ys[0]) and np.array_equal(m.classes_, m0.classes_))
                else m._label_binarizer.transform(y).astype(float)
                for m, y in zip(models, ys)
            ]
        )
    else:
        Y = np.stack([np.asarray(y, float).reshape(len(y), -1) for y in ys])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return validation_score(task, spec, coefs, intercepts, np.stack(Xs), Y)
