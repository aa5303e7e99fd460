"""Fit a block of networks as scikit-learn's ``fit`` would fit each (:func:`fit_block`):
validate the data, draw the initial weights (:func:`initial_weights`) and early stopping's split
from each seed's stream, run the epochs (:mod:`study.training.batched.epochs`), then set on each
model what ``fit`` sets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from study.training.batched.epochs import Training
from study.training.batched.spec import block_spec

__all__ = ["fit_block", "initial_weights"]


def initial_weights(rs: np.random.RandomState, units: Sequence[int], activation: str) -> list:
    """scikit-learn's Glorot initialisation (``_init_coef``): ``(coef, intercept)`` per layer,
    drawn from ``rs`` in its order."""
    factor = 2.0 if activation == "logistic" else 6.0
    out = []
    for a, b in zip(units[:-1], units[1:]):
        bound = np.sqrt(factor / (a + b))
        out.append((rs.uniform(-bound, bound, (a, b)), rs.uniform(-bound, bound, b)))
    return out


def _hidden(model) -> list[int]:
    sizes = model.hidden_layer_sizes
    return list(sizes) if hasattr(sizes, "__iter__") else [sizes]


def fit_block(models: Sequence, Xs: Sequence, ys: Sequence) -> list:
    """Fit every model (unfitted MLPs of one configuration, their own ``random_state`` each) on
    its own ``(X, y)``, as ``model.fit(X, y)`` would, all at once. Returns one entry per model:
    the list of ConvergenceWarning messages its fit raised, or the exception it raised (NaN
    weights), in order. The models are fitted in place. A diverging network's overflows are not
    printed (one per block would drown the others): it comes back as its ValueError."""
    from study.training.allocator import keep_freed_memory

    keep_freed_memory()  # a step's temporaries reuse freed memory instead of new pages
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _fit_block(models, Xs, ys)


def _fit_block(models: Sequence, Xs: Sequence, ys: Sequence) -> list:
    """scikit-learn's ``fit`` -> ``_fit`` -> ``_fit_stochastic`` for a block of networks, in the
    same steps: validate the data, initialise (weights, early stopping's split), run the epochs,
    then set what ``fit`` sets on each model."""
    from sklearn.base import is_classifier

    m0 = models[0]
    task = "classification" if is_classifier(m0) else "regression"
    data = _validated(models, Xs, ys, task)
    spec = block_spec(m0, task, getattr(m0, "_label_binarizer", None))
    units = [data[0][0].shape[1], *_hidden(m0), data[0][1].shape[1]]
    start = _initialise(models, data, units, spec, task)
    run = Training(start, spec, task, len(models))
    for epoch in range(spec["max_iter"]):
        run.epoch()
        if run.stop(last=epoch + 1 == spec["max_iter"]):
            break
    state = {"n_iter": run.n_iter, "count": run.out_count, "stalled": run.stalled, "n_rows": run.n}
    return _finish(
        models, spec, units, run.out_params, state, run.curves, run.scores, start["streams"]
    )


def _validated(models, Xs, ys, task: str) -> list:
    """Each model's ``(X, Y)`` as scikit-learn validates them (setting ``n_features_in_`` and
    ``classes_``), Y 2-D; every network of a block must share shapes and classes.

    A network whose targets equal the first network's (every seed of a fixed split; the null
    networks that permute a variable) and whose X is a finite float64 array of the same shape
    (what the first one's validation returned) takes the first one's validation as it is, so
    scikit-learn's checks run once per block: they cost as much as training these networks."""
    data, first = [], None
    for model, X, y in zip(models, Xs, ys):
        if first is not None and _same_validation(first, X, y):
            m0, y0, Y = first
            model.n_features_in_ = m0.n_features_in_
            if task == "classification":
                model._label_binarizer, model.classes_ = m0._label_binarizer, m0.classes_
            data.append((X, Y))
            continue
        X, Y = model._validate_input(X, y, False, reset=True)  # sets n_features_in_, classes_
        Y = (Y.reshape(len(Y), -1)).astype(X.dtype)
        data.append((np.asarray(X), Y))
        if first is None and isinstance(y, np.ndarray) and not hasattr(model, "feature_names_in_"):
            first = (model, y, Y)
    n_outputs = {Y.shape[1] for _, Y in data}
    classes = {tuple(m.classes_) for m in models} if task == "classification" else {None}
    if len(n_outputs) > 1 or len(classes) > 1 or len({X.shape for X, _ in data}) > 1:
        raise ValueError("fit_block needs networks with the same data shapes and classes")
    return data


def _same_validation(first, X, y) -> bool:
    m0, y0, Y0 = first
    return (
        isinstance(X, np.ndarray)
        and X.dtype == np.float64
        and X.ndim == 2
        and X.shape == (len(Y0), m0.n_features_in_)
        and X.flags.c_contiguous
        and isinstance(y, np.ndarray)
        and (y is y0 or np.array_equal(y, y0))
        and bool(np.isfinite(X).all())
    )


def _initialise(models, data, units, spec, task: str) -> dict:
    """scikit-learn's ``_initialize``, then early stopping's split, from each seed's stream:
    stacked initial weights, the training (and validation) rows, and the streams (which go on
    to shuffle the rows of every epoch)."""
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state

    N = len(models)
    coefs = [np.empty((N, a, b)) for a, b in zip(units[:-1], units[1:])]
    intercepts = [np.empty((N, b)) for b in units[1:]]
    streams, Xtr, Ytr, Xval, Yval = [], [], [], [], []
    for j, (model, (X, Y)) in enumerate(zip(models, data)):
        rs = check_random_state(model.random_state)
        for i, (w, b) in enumerate(initial_weights(rs, units, spec["activation"])):
            coefs[i][j], intercepts[i][j] = w, b
        if spec["early_stopping"]:
            stratify = Y if task == "classification" and Y.shape[1] == 1 else None
            X, X_va, Y, Y_va = train_test_split(
                X, Y, random_state=rs, test_size=spec["validation_fraction"], stratify=stratify
            )
            if X_va.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction'"
                    " or the size of your dataset."
                )
            Xval.append(X_va)
            Yval.append(Y_va)
        streams.append(rs)
        Xtr.append(X)
        Ytr.append(Y)
    shared = not spec["early_stopping"] and all(
        X is Xtr[0] or np.array_equal(X, Xtr[0]) for X in Xtr
    )
    return {
        "coefs": coefs,
        "intercepts": intercepts,
        "streams": streams,
        "shared": shared,
        "X": Xtr[0] if shared else np.stack(Xtr),
        "Y": np.stack(Ytr),
        "Xv": np.stack(Xval) if Xval else None,
        "Yv": np.stack(Yval) if Yval else None,
    }


def _finish(models, spec, units, out_params, state, curves, scores, streams):
    """Set what ``fit`` sets on each model; one list of warnings (or an exception) per model."""
    N, L = len(models), len(units) - 1
    curve = [[] for _ in range(N)]
    for ids, values in curves:
        for j, v in zip(ids.tolist(), values.tolist()):
            curve[j].append(v)
    vscores = [[] for _ in range(N)]
    for ids, values in scores:
        for j, v in zip(ids.tolist(), values.tolist()):
            vscores[j].append(v)
    results = []
    for j, model in enumerate(models):
        model.n_outputs_ = units[-1]
        model.n_layers_ = len(units)
        model.out_activation_ = spec["out_activation"]
        model.coefs_ = [out_params[i][j].copy() for i in range(L)]
        model.intercepts_ = [out_params[L + i][j].copy() for i in range(L)]
        model._best_coefs = [c.copy() for c in model.coefs_]
        model._best_intercepts = [b.copy() for b in model.intercepts_]
        model.n_iter_ = int(state["n_iter"][j])
        model.t_ = model.n_iter_ * state["n_rows"]
        model.loss_curve_ = curve[j]
        model.loss_ = curve[j][-1]
        model._random_state = streams[j]
        model._no_improvement_count = int(state["count"][j])
        if spec["early_stopping"]:
            model.validation_scores_ = vscores[j]
            model.best_validation_score_ = _running_best(vscores[j], -np.inf, np.greater)
            model.best_loss_ = None
        else:
            model.validation_scores_ = None
            model.best_validation_score_ = None
            model.best_loss_ = _running_best(curve[j], np.inf, np.less)
        if not all(np.isfinite(w).all() for w in model.coefs_ + model.intercepts_):
            results.append(
                ValueError(
                    "Solver produced non-finite parameter weights. The input"
                    " data may contain large values and need to be"
                    " preprocessed."
                )
            )
            continue
        if state["stalled"][j]:
            results.append(
                [
                    f"Stochastic Optimizer: Maximum iterations ({spec['max_iter']}) "
                    "reached and the optimization hasn't converged yet."
                ]
            )
        else:
            results.append([])
    return results


def _running_best(values, start, better):
    """The best value kept as scikit-learn keeps it (``if v < best: best = v``; NaN never wins)."""
    best = start
    for v in values:
        if better(v, best):
            best = v
    return best
