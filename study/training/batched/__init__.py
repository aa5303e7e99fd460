"""Train a block of scikit-learn MLPs at once: the same algorithm, every seed in one numpy loop.

One ``MLPClassifier.fit`` / ``MLPRegressor.fit`` of a study's small network runs a few hundred
epochs of tiny matrix products in Python, so its cost is interpreter overhead, not arithmetic.
Here the weights of the N networks of a block are stacked on a leading axis and every step of
scikit-learn's stochastic solvers (``_fit_stochastic``, ``backprop``, ``AdamOptimizer``,
``SGDOptimizer``, ``_update_no_improvement_count``) is applied to all of them with one numpy call:

- the same Glorot initialisation, drawn from the same ``RandomState(seed)`` stream in the same
  order; the same early-stopping split (scikit-learn's ``train_test_split`` on that stream) and,
  for minibatches, the same per-epoch shuffles;
- the same forward pass, loss (with its L2 term), deltas, gradients, Adam/SGD updates and
  learning-rate schedules, written as the same floating-point expressions;
- the same stopping rule per network (``tol``, ``n_iter_no_change``, ``max_iter``, the validation
  score with early stopping, and its best weights). A network that stops leaves the block.

Full-batch epochs (``batch_size`` at least the training rows, the default on small data) do not
shuffle: scikit-learn's shuffle there only reorders the rows being summed, so it changes nothing
but rounding; the networks then share one input matrix. Sums of the same numbers in another
order differ in the last bit, and a few chaotic seeds amplify that over hundreds of epochs: the
tests measure how many seeds match scikit-learn to 1e-6 and compare the rest as distributions.

Each network comes back as an ordinary fitted scikit-learn estimator (``coefs_``,
``intercepts_``, ``n_iter_``, ``loss_curve_``, ``classes_``, ...): prediction, scoring and every
importance method use scikit-learn's own code afterwards. :func:`unsupported` names the
configurations this does not reproduce; the caller trains those with scikit-learn.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from study.training.batched._numerics import SGD, Adam, backprop, forward

__all__ = ["unsupported", "fit_block", "block_size", "initial_weights", "scores"]

_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
# Bytes the arrays of one block may take (weights, optimiser state, activations, stacked data).
_BLOCK_BYTES = 256 * 2**20


def unsupported(model) -> str | None:
    """Why ``model`` (an unfitted MLP) cannot be trained here, or None if it can."""
    p = model.get_params()
    if p["solver"] not in ("adam", "sgd"):
        return f"solver={p['solver']}"
    if p["warm_start"]:
        return "warm_start=True"
    if not p["shuffle"]:
        return "shuffle=False"
    if p["activation"] not in _ACTIVATIONS:
        return f"activation={p['activation']}"
    if p.get("loss", "squared_error") not in ("squared_error", "log_loss"):
        return f"loss={p['loss']}"
    if not hasattr(model, "_validate_input"):
        return "this scikit-learn version's MLP internals"
    return None


def block_size(n_samples: int, n_features: int, layer_sizes: Sequence[int]) -> int:
    """How many networks of this shape fit in one block's memory budget (at least 1)."""
    units = [n_features, *layer_sizes]
    n_params = sum((a + 1) * b for a, b in zip(units[:-1], units[1:]))
    per_network = 8 * (7 * n_params + 4 * n_samples * sum(units))
    return max(1, _BLOCK_BYTES // per_network)


# ---------------------------------------------------------------------------------------------
# a block of networks


def _spec(model, task: str, lb) -> dict:
    p = model.get_params()
    spec = {
        k: p[k]
        for k in (
            "activation",
            "alpha",
            "learning_rate_init",
            "learning_rate",
            "momentum",
            "nesterovs_momentum",
            "power_t",
            "beta_1",
            "beta_2",
            "epsilon",
            "tol",
            "n_iter_no_change",
            "max_iter",
            "early_stopping",
            "validation_fraction",
            "batch_size",
            "solver",
        )
    }
    if task == "classification":
        spec["out_activation"] = "softmax" if lb.y_type_ == "multiclass" else "logistic"
        spec["loss"] = "log_loss" if spec["out_activation"] == "softmax" else "binary_log_loss"
    else:
        spec["out_activation"], spec["loss"] = "identity", "squared_error"
    return spec


def _validation_score(task, spec, coefs, intercepts, X, Y):
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
    spec = _spec(m0, task, getattr(m0, "_label_binarizer", None))
    units = [data[0][0].shape[1], *_hidden(m0), data[0][1].shape[1]]
    start = _initialise(models, data, units, spec, task)
    run = _Training(start, spec, task, len(models))
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


def scores(models, Xs, ys) -> np.ndarray:
    """Each fitted model's score on its ``(X, y)`` (accuracy or R², as ``model.score``
    computes them from its predictions), from one forward pass of the block."""
    from sklearn.base import is_classifier

    m0 = models[0]
    task = "classification" if is_classifier(m0) else "regression"
    spec = _spec(m0, task, getattr(m0, "_label_binarizer", None))
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
        return _validation_score(task, spec, coefs, intercepts, np.stack(Xs), Y)


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


def _batch_size(spec, n: int) -> int:
    bs = spec["batch_size"]
    if bs == "auto":
        return min(200, n)
    if bs > n:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
            stacklevel=2,
        )
    return int(np.clip(bs, 1, n))


class _Training:
    """The epochs of ``_fit_stochastic`` for the networks of a block still training: one
    :meth:`epoch` (a pass over the minibatches), then :meth:`stop` (scikit-learn's stopping rule
    per network; the networks that stop leave the block)."""

    def __init__(self, start: dict, spec, task: str, N: int):
        self.spec, self.task, self.streams = spec, task, start["streams"]
        self.shared, self.X, self.Y = start["shared"], start["X"], start["Y"]
        self.Xv, self.Yv = start["Xv"], start["Yv"]
        self.n = self.X.shape[-2]
        self.bs = _batch_size(spec, self.n)
        self.full = self.bs >= self.n
        self.params = start["coefs"] + start["intercepts"]
        self.L = len(start["coefs"])
        self.opt = (
            Adam(self.params, spec) if spec["solver"] == "adam" else SGD(self.params, spec, N)
        )
        self.ids = np.arange(N)  # global index of each network still training
        # each network's current shuffle of its rows (minibatches only)
        self.order = None if self.full else np.tile(np.arange(self.n), (N, 1))
        self.count = np.zeros(N, dtype=int)
        self.best_loss = np.full(N, np.inf)
        self.best_score = np.full(N, -np.inf)
        self.best = [p.copy() for p in self.params] if spec["early_stopping"] else None
        self.curves, self.scores = [], []  # per epoch: (ids, values)
        self.out_params = [np.empty_like(p) for p in self.params]
        self.n_iter = np.zeros(N, dtype=int)
        self.out_count = np.zeros(N, dtype=int)
        self.stalled = np.zeros(N, dtype=bool)
        self.t_ = 0

    def epoch(self) -> None:
        """One pass over the (shuffled) minibatches of every network still training."""
        n, L = self.n, self.L
        if not self.full:
            for k, j in enumerate(self.ids):
                self.order[k] = self.order[k][self.streams[j].permutation(n)]
        acc = 0.0
        for start in range(0, n, self.bs):
            stop = min(start + self.bs, n)
            if self.full:
                Xb, Yb = self.X, self.Y
            else:
                rows = self.order[:, start:stop]
                Xb = (
                    self.X[rows] if self.shared else self.X[np.arange(len(self.ids))[:, None], rows]
                )
                Yb = self.Y[np.arange(len(self.ids))[:, None], rows]
            loss, cg, ig = backprop(self.params[:L], self.params[L:], Xb, Yb, self.spec)
            acc = acc + loss * (stop - start)
            for p, u in zip(self.params, self.opt.updates(cg + ig)):
                p += u
        self.loss = acc / n
        self.t_ += n
        self.n_iter[self.ids] += 1
        self.curves.append((self.ids, self.loss))

    def stop(self, *, last: bool) -> bool:
        """scikit-learn's stopping rule after an epoch; True when no network is left."""
        spec, L = self.spec, self.L
        if spec["early_stopping"]:
            score = _validation_score(
                self.task, spec, self.params[:L], self.params[L:], self.Xv, self.Yv
            )
            self.scores.append((self.ids, score))
            self.count = np.where(score < self.best_score + spec["tol"], self.count + 1, 0)
            better = score > self.best_score
            self.best_score = np.where(better, score, self.best_score)
            for b, p in zip(self.best, self.params):
                b[better] = p[better]
        else:
            self.count = np.where(self.loss > self.best_loss - spec["tol"], self.count + 1, 0)
            self.best_loss = np.where(self.loss < self.best_loss, self.loss, self.best_loss)
        self.opt.iteration_ends(self.t_)
        hit = self.count > spec["n_iter_no_change"]
        done = self.opt.stop(hit)
        self.count = np.where(hit & ~done, 0, self.count)
        if last:
            self.stalled[self.ids[~done]] = True
            done = np.ones_like(done)
        return self._leave(done) if done.any() else False

    def _leave(self, done: np.ndarray) -> bool:
        """The networks that stopped keep their (best) weights and leave the block."""
        final = self.best if self.spec["early_stopping"] else self.params
        for o, p in zip(self.out_params, final):
            o[self.ids[done]] = p[done]
        self.out_count[self.ids[done]] = self.count[done]
        keep = ~done
        if not keep.any():
            return True
        self.ids, self.count = self.ids[keep], self.count[keep]
        self.order = None if self.full else self.order[keep]
        self.best_loss, self.best_score = self.best_loss[keep], self.best_score[keep]
        self.params = [p[keep] for p in self.params]
        if self.best is not None:
            self.best = [b[keep] for b in self.best]
        self.opt.keep(keep)
        self.Y = self.Y[keep]
        if not self.shared:
            self.X = self.X[keep]
        if self.Xv is not None:
            self.Xv, self.Yv = self.Xv[keep], self.Yv[keep]
        return False


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
