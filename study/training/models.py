"""scikit-learn multilayer perceptrons: built from a model config, fitted with warnings captured."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from study.errors import StudyError

__all__ = [
    "MODEL_KEYS",
    "BACKENDS",
    "make_model",
    "fit",
    "fit_many",
    "FitInfo",
    "backend",
    "batched_reason",
    "backend_note",
    "trained_by",
    "DEFAULT_BACKEND",
]

# How the networks are trained: ``batched`` (the default) trains a block of seeds together
# (:mod:`study.training.batched`), scikit-learn's algorithm step for step, and returns the same
# kind of fitted estimators; ``sklearn`` fits one estimator at a time (and trains whatever
# ``batched`` does not reproduce).
BACKENDS = ("sklearn", "batched")
DEFAULT_BACKEND = "batched"

# Every architecture knob a model config may set; anything else in the config is a typo.
MODEL_KEYS = (
    "hidden_layer_sizes",
    "activation",
    "solver",
    "alpha",
    "batch_size",
    "learning_rate",
    "learning_rate_init",
    "max_iter",
    "tol",
    "early_stopping",
    "validation_fraction",
    "n_iter_no_change",
)


def model_params(config: Mapping) -> dict:
    """The MLP keyword arguments in a model config (``name`` dropped; unknown keys refused)."""
    unknown = sorted(set(config) - set(MODEL_KEYS) - {"name", "backend"})
    if unknown:
        raise StudyError(
            f"unknown model option(s) {', '.join(unknown)}; valid: backend, {', '.join(MODEL_KEYS)}"
        )
    nulls = [k for k in MODEL_KEYS if config.get(k, "") is None and k != "hidden_layer_sizes"]
    if nulls:  # scikit-learn's default would train instead, unannounced
        raise StudyError(
            f"model.{nulls[0]} is null: give it a value, or drop the key "
            f"(~model.{nulls[0]}) for scikit-learn's default"
        )
    params = {k: config[k] for k in MODEL_KEYS if k in config}
    if "hidden_layer_sizes" in config:
        params["hidden_layer_sizes"] = _layer_sizes(config["hidden_layer_sizes"])
    return params


def _layer_sizes(sizes) -> tuple[int, ...]:
    """``hidden_layer_sizes`` as scikit-learn documents it (array-like), each a positive integer.

    scikit-learn casts what it gets: ``[1.5]`` and ``[true]`` train one unit; null would train
    its default of 100. None of them is what the user meant, so each is refused, and so is a bare
    ``8``, which scikit-learn's documentation does not promise to read as one layer."""
    ok = (
        isinstance(sizes, (list, tuple))
        and len(sizes) > 0
        and all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in sizes
        )
    )
    if not ok:
        one = isinstance(sizes, int) and not isinstance(sizes, bool) and sizes >= 1
        hint = f"; write [{sizes}] for one layer of {sizes}" if one else ""
        raise StudyError(
            "model.hidden_layer_sizes must be a list of positive integers, one per "
            f"hidden layer (e.g. [8] or [16,8]); got {_shown(sizes)}{hint}"
        )
    return tuple(int(s) for s in sizes)


def _shown(value) -> str:
    """A config value as the user wrote it on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return f"[{','.join(map(_shown, value))}]"
    return str(value)


def backend(config: Mapping) -> str:
    """The training backend a model config asks for (:data:`DEFAULT_BACKEND` when it does not
    say)."""
    name = config.get("backend") or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise StudyError(f"unknown model.backend {name!r}; valid: {', '.join(BACKENDS)}")
    return name


def batched_reason(task: str, config: Mapping) -> str | None:
    """Why the batched backend cannot train this configuration (then scikit-learn does), or
    None if it can."""
    from study.training import batched

    return batched.unsupported(make_model(task, config, seed=0))


def trained_by(task: str, config: Mapping) -> str:
    """The backend that trains this configuration: the one asked for, or ``sklearn`` where the
    batched backend does not reproduce it."""
    name = backend(config)
    return "sklearn" if name == "batched" and batched_reason(task, config) else name


def backend_note(task: str, config: Mapping) -> str | None:
    """The one-line note a study prints when ``model.backend=batched`` falls back."""
    if backend(config) != "batched":
        return None
    reason = batched_reason(task, config)
    if reason is None:
        return None
    return (
        f"model.backend=batched does not reproduce {reason}: the networks were trained "
        "one at a time with scikit-learn"
    )


def make_model(task: str, config: Mapping, *, seed: int):
    """An unfitted MLPClassifier or MLPRegressor for ``task``, seeded with ``seed``."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPClassifier if task == "classification" else MLPRegressor
    try:
        return cls(**model_params(config), random_state=int(seed))
    except TypeError as err:
        raise StudyError(f"bad model option: {err}") from None


@dataclass(frozen=True)
class FitInfo:
    """How one fit went: iterations used, whether it converged, and the warnings it raised."""

    n_iter: int
    converged: bool
    warnings: tuple[str, ...]


def fit(model, X, y) -> FitInfo:
    """Fit ``model`` in place, catching its convergence warnings instead of printing them.

    A study retrains the same network dozens of times; one printed warning per seed would bury the
    results. The warnings are recorded per run (``converged``, ``n_iter``) and summarised once.
    """
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y)
    kept = []
    for w in caught:
        if "Training interrupted by user" in str(w.message):
            continue  # Ctrl-C inside fit: the study stops on its own (runner.check_stop)
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        else:
            kept.append(str(w.message))
    n_iter = int(model.n_iter_)
    kept += diverged(model)
    return FitInfo(n_iter=n_iter, converged=not kept, warnings=tuple(kept))


def diverged(model) -> list[str]:
    """``["loss diverged ..."]`` when training ended with a loss above its first epoch's (or not
    finite): such a network stopped, but it did not converge (sgd with a huge learning rate ends
    "converged" by scikit-learn's rule with weights of 1e10)."""
    curve = getattr(model, "loss_curve_", None)
    if not curve:
        return []
    first, last = float(curve[0]), float(curve[-1])
    if np.isfinite(last) and last <= first:
        return []
    return [f"loss diverged: {first:.3g} at the first epoch, {last:.3g} at the last"]


def fit_many(fitted, Xs, ys) -> list:
    """Fit models of one configuration (each with its own seed) on their own data, all at once
    with the batched backend; one :class:`FitInfo`, or the exception that fit raised, per model.
    Configurations the batched backend does not cover are fitted one by one with scikit-learn."""
    from study.training import batched

    if batched.unsupported(fitted[0]) is not None:
        out = []
        for model, X, y in zip(fitted, Xs, ys):
            try:
                out.append(fit(model, X, y))
            except Exception as exc:
                out.append(exc)
        return out
    results = batched.fit_block(fitted, Xs, ys)
    return [
        r
        if isinstance(r, Exception)
        else FitInfo(
            n_iter=int(m.n_iter_), converged=not (r + diverged(m)), warnings=tuple(r + diverged(m))
        )
        for m, r in zip(fitted, results)
    ]
