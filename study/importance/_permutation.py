"""Permutation importance on held-out data, through scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["permutation", "PermutationImportance"]


@dataclass(frozen=True)
class PermutationImportance:
    """Score drop when one column is shuffled: ``mean`` and ``std`` over repeats, ``(p, n_cols)``.

    ``raw`` keeps the per-repeat drops, ``(p, n_cols, n_repeats)``.
    """

    mean: np.ndarray
    std: np.ndarray
    raw: np.ndarray


def _r2_of_output(y_true, y_pred, *, output):
    from sklearn.metrics import r2_score

    return r2_score(np.asarray(y_true)[:, output], np.asarray(y_pred)[:, output])


def permutation(model, X, y, *, n_repeats=10, seed, n_jobs=None) -> PermutationImportance:
    """scikit-learn's ``permutation_importance`` arranged as ``(n_inputs, n_columns)`` arrays.

    Classifiers are scored by accuracy (the estimator's ``score``): one column, whatever the number
    of classes. A regressor with several targets gets one column per target (R² of that target),
    so that each output has its own ranking; with one target, one column.

    ``seed`` is the explicit integer ``random_state`` of the shuffles.
    """
    from sklearn.base import is_regressor
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import make_scorer

    y = np.asarray(y)
    if is_regressor(model) and y.ndim == 2 and y.shape[1] > 1:
        scoring = {
            f"r2_{k}": make_scorer(_r2_of_output, output=k) for k in range(y.shape[1])
        }
        res = permutation_importance(
            model, X, y, scoring=scoring, n_repeats=n_repeats, random_state=seed, n_jobs=n_jobs
        )
        parts = [res[f"r2_{k}"] for k in range(y.shape[1])]
    else:
        parts = [
            permutation_importance(
                model, X, y, n_repeats=n_repeats, random_state=seed, n_jobs=n_jobs
            )
        ]
    return PermutationImportance(
        mean=np.column_stack([p.importances_mean for p in parts]),
        std=np.column_stack([p.importances_std for p in parts]),
        raw=np.stack([p.importances for p in parts], axis=1),
    )
