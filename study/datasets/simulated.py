"""Simulations with a known answer: every variable's true importance is planted (``truth`` of the
:class:`~study.datasets.dataset.Dataset`), so a method's ranking can be scored against it (the
regression after Olden, Joy & Death 2004). Their options come from the config (``dataset.*``)
and are checked here."""

from __future__ import annotations

import numbers

import numpy as np

from study.datasets.dataset import CLASSIFICATION, MIN_ROWS, REGRESSION, Dataset
from study.errors import StudyError

__all__ = ["known_truth_regression", "known_truth_classification"]


def _number(value, key: str, *, integer: bool = False, minimum: float | None = None):
    """A dataset option's number, checked: YAML gives strings, floats and booleans as readily."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or (integer and not float(value).is_integer()):
        raise StudyError(
            f"dataset.{key} must be {'an integer' if integer else 'a number'}; got {value!r}"
        )
    if minimum is not None and value < minimum:
        raise StudyError(f"dataset.{key} must be at least {minimum}; got {value}")
    return int(value) if integer else float(value)


def _numbers(values, key: str, *, integer: bool = False) -> list:
    kind = "integers" if integer else "numbers"
    if (
        not isinstance(values, (list, tuple, np.ndarray))
        or len(values) == 0
        or not all(
            isinstance(v, numbers.Real)
            and not isinstance(v, bool)
            and np.isfinite(v)
            and (not integer or float(v).is_integer())
            for v in values
        )
    ):
        raise StudyError(f"dataset.{key} must be a non-empty list of {kind}; got {values!r}")
    return [int(v) if integer else float(v) for v in values]


def _correlated_normal(rng, n_samples, n_features, correlation):
    if not -1 / max(n_features - 1, 1) < correlation < 1:
        raise StudyError(
            f"dataset.correlation must lie in (-1/(p-1), 1) for p={n_features} predictors; "
            f"got {correlation}"
        )
    cov = np.full((n_features, n_features), float(correlation))
    np.fill_diagonal(cov, 1.0)
    return rng.multivariate_normal(np.zeros(n_features), cov, size=n_samples)


def known_truth_regression(
    *,
    n_samples=1000,
    coefficients=(0, 1.0, 0, -0.8, 0.6, 0, -0.4, 0.2),
    correlation=0.3,
    noise=0.5,
    seed=0,
):
    """Olden-style simulation: y = X @ beta + noise, X equicorrelated Gaussian.

    The true importance of variable i is |beta_i|; the sizes must be distinct among the non-zero
    ones so that the true order is unambiguous. Zero coefficients are pure noise variables; all
    zero, the response is pure noise (the randomisation test's global null: no truth order).
    """
    beta = np.asarray(_numbers(coefficients, "coefficients"), dtype=float)
    n_samples = _number(n_samples, "n_samples", integer=True, minimum=MIN_ROWS)
    correlation, noise = _number(correlation, "correlation"), _number(noise, "noise", minimum=0)
    seed = _number(seed, "seed", integer=True, minimum=0)
    nonzero = np.abs(beta[beta != 0])
    if np.unique(nonzero).size != nonzero.size:
        raise StudyError(
            f"dataset.coefficients must have distinct non-zero sizes (|beta|) so that the true "
            f"order is defined; got {beta.tolist()}"
        )
    rng = np.random.default_rng(int(seed))
    X = _correlated_normal(rng, int(n_samples), beta.size, float(correlation))
    y = X @ beta + float(noise) * rng.standard_normal(int(n_samples))
    names = tuple(f"x{i + 1:02d}" for i in range(beta.size))
    return Dataset(
        "known_truth_regression",
        X,
        y[:, None],
        names,
        ("y",),
        REGRESSION,
        truth=np.abs(beta),
        source=f"simulated (seed {seed})",
        description=(
            f"y = X·beta + N(0, {noise}²), {beta.size} predictors equicorrelated at {correlation}; "
            f"beta = {beta.tolist()}"
        ),
        extra={"coefficients": beta.tolist()},
    )


# Class-mean patterns cycled over the informative variables: three consecutive informative
# variables separate the three classes in three different ways. (A fourth repeats the first
# pattern, but with its own noise it still adds evidence in proportion to its strength.)
_PATTERNS = np.array([[-1.0, 0.0, 1.0], [1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])


def known_truth_classification(
    *,
    n_samples=600,
    n_features=14,
    informative=(2, 5, 8, 11),
    strengths=(2.0, 1.4, 0.9, 0.5),
    seed=0,
):
    """Three classes; informative variable i has class means ``strength_i * pattern``, noise sd 1.

    ``informative`` are 0-based column positions, ``strengths`` their (distinct) separations: the
    true importance order is the order of the strengths. Every other variable is N(0, 1) noise.
    """
    informative = _numbers(informative, "informative", integer=True)
    strengths = np.asarray(_numbers(strengths, "strengths"), dtype=float)
    n_features = _number(n_features, "n_features", integer=True, minimum=1)
    n_samples = _number(n_samples, "n_samples", integer=True, minimum=MIN_ROWS)
    seed = _number(seed, "seed", integer=True, minimum=0)
    if len(informative) != strengths.size or len(set(informative)) != len(informative):
        raise StudyError("dataset.informative and dataset.strengths must be equally long, unique")
    if min(informative) < 0 or max(informative) >= n_features:
        raise StudyError(f"dataset.informative positions must lie in 0..{n_features - 1}")
    if np.unique(strengths).size != strengths.size or (strengths <= 0).any():
        raise StudyError("dataset.strengths must be distinct positive numbers")
    rng = np.random.default_rng(int(seed))
    n = int(n_samples)
    y = np.arange(n) % 3
    rng.shuffle(y)
    X = rng.standard_normal((n, n_features))
    truth = np.zeros(n_features)
    for j, (col, s) in enumerate(zip(informative, strengths)):
        X[:, col] += s * _PATTERNS[j % 3][y]
        truth[col] = s
    names = tuple(f"x{i + 1:02d}" for i in range(n_features))
    return Dataset(
        "known_truth_classification",
        X,
        y,
        names,
        ("class",),
        CLASSIFICATION,
        class_names=("class_0", "class_1", "class_2"),
        truth=truth,
        source=f"simulated (seed {seed})",
        description=(
            f"3 classes, {n_features} variables; informative "
            + ", ".join(f"{names[c]} (separation {s:g})" for c, s in zip(informative, strengths))
        ),
    )
