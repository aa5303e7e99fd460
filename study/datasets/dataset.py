"""Datasets: scikit-learn's bundled tables, NeuralNetTools' neuraldat, known-truth simulations, CSV.

Every loader returns a :class:`Dataset` that knows its feature names, target names and task.
:func:`split` makes the train/test split (stratified for classification) and standardises the
inputs on the training split, so that weight magnitudes are comparable between variables.
Regression targets are standardised too (per column, on the training split): R² is unchanged and
networks train far better; every importance is then in standard-deviation units.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from study.errors import StudyError

if TYPE_CHECKING:  # pandas loads where a CSV is read: a training worker needs none of it
    import pandas as pd

__all__ = ["Dataset", "Split", "DATASETS", "load_dataset", "split"]

CLASSIFICATION, REGRESSION = "classification", "regression"


@dataclass(frozen=True)
class Dataset:
    """A table ready for training.

    X : (n_samples, n_features) float.
    y : (n_samples,) class labels for classification, or (n_samples, n_classes) 0/1 indicators
        with ``one_hot`` (one logistic output unit per class); (n_samples, n_targets) float for
        regression.
    truth : (n_features,) true importance (larger = more important, 0 = irrelevant) where the data
        were simulated with a known answer, else None.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    task: str
    class_names: tuple[str, ...] | None = None
    truth: np.ndarray | None = None
    description: str = ""
    source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def labels(self) -> np.ndarray | None:
        """Class labels per sample (classification only), also when ``y`` is one-hot."""
        if self.task != CLASSIFICATION:
            return None
        return self.y.argmax(axis=1) if self.y.ndim == 2 else self.y

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the network's output units, in order.

        Several classes: one softmax unit per class. Two classes: scikit-learn fits a single
        logistic unit, the probability of the second class, so there is one output, named after
        that class; with ``one_hot`` every class has its own logistic unit (like a two-unit softmax
        elsewhere). Regression: one unit per target.
        """
        if self.task == REGRESSION:
            return self.target_names
        if len(self.class_names) == 2 and self.y.ndim == 1:
            return (self.class_names[1],)
        return self.class_names

    def frame(self) -> pd.DataFrame:
        """The whole table as a DataFrame (features, then targets), e.g. for MLflow's log_input."""
        import pandas as pd

        df = pd.DataFrame(self.X, columns=list(self.feature_names))
        if self.task == REGRESSION:
            y = self.y
        elif self.y.ndim == 2:  # one-hot: write the class names, not their indices
            y = np.asarray(self.class_names)[self.labels][:, None]
        else:
            y = self.y[:, None]
        for k, name in enumerate(self.target_names):
            df[name] = y[:, k]
        return df


@dataclass(frozen=True)
class Split:
    """Standardised train/test arrays; scalers fitted on the training split only."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


# ---------------------------------------------------------------------------------------------
# bundled data


def _sklearn(loader_name: str, *, task: str, target_names=None):
    def load():
        from sklearn import datasets

        bunch = getattr(datasets, loader_name)()
        y = np.asarray(bunch.target)
        name = loader_name.removeprefix("load_")
        if task == CLASSIFICATION:
            class_names = tuple(str(c) for c in bunch.target_names)
            return Dataset(
                name,
                np.asarray(bunch.data, float),
                y,
                tuple(map(str, bunch.feature_names)),
                ("class",),
                CLASSIFICATION,
                class_names=class_names,
                source=f"sklearn.datasets.{loader_name}",
                description=f"scikit-learn {name}: {len(class_names)} classes",
            )
        y = y.reshape(len(y), -1).astype(float)
        names = tuple(map(str, target_names or bunch.get("target_names") or ("target",)))
        return Dataset(
            name,
            np.asarray(bunch.data, float),
            y,
            tuple(map(str, bunch.feature_names)),
            names,
            REGRESSION,
            source=f"sklearn.datasets.{loader_name}",
            description=f"scikit-learn {name}: {y.shape[1]} regression target(s)",
        )

    return load


def _neuraldat():
    import pandas as pd

    with resources.files("study.data").joinpath("neuraldat.csv").open() as fh:
        df = pd.read_csv(fh)
    return Dataset(
        "neuraldat",
        df[["X1", "X2", "X3"]].to_numpy(float),
        df[["Y1", "Y2"]].to_numpy(float),
        ("X1", "X2", "X3"),
        ("Y1", "Y2"),
        REGRESSION,
        source="NeuralNetTools::neuraldat (CC0)",
        description="NeuralNetTools' example data: 2000 rows, X1-X3, two targets Y1, Y2",
    )


# ---------------------------------------------------------------------------------------------
# simulations with a known answer


MIN_ROWS = 10  # rows a study needs: a test split of a few rows, a training split of the rest


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


def _known_truth_regression(
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


def _known_truth_classification(
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


# ---------------------------------------------------------------------------------------------
# the user's own CSV


def _as_list(value, what) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    try:
        return [str(v) for v in value]
    except TypeError:
        raise StudyError(f"{what} must be a column name or a list of column names") from None


def _check_columns(df: pd.DataFrame, cols: list[str], what: str, fname: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise StudyError(
            f"{what}: column {', '.join(map(repr, missing))} not in {fname}; "
            f"its columns are: {', '.join(map(str, df.columns))}"
        )


def _check_complete(df: pd.DataFrame, fname: str) -> None:
    for col in df.columns:
        bad = df[col].isna().to_numpy()
        if bad.any():
            rows = np.flatnonzero(bad) + 1
            raise StudyError(
                f"{fname}: column {col!r} has {bad.sum()} missing value(s) (first in data row "
                f"{rows[0]}); drop or impute them first"
            )


def _numeric(df: pd.DataFrame, fname: str, role: str) -> np.ndarray:
    import pandas as pd

    for col in df.columns:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise StudyError(
                f"{fname}: {role} column {col!r} is not numeric ({df[col].iloc[row]!r} in data "
                f"row {row + 1}); encode it as finite numbers first"
            )
    return df.apply(pd.to_numeric).to_numpy(dtype=float)


def _infer_task(target: pd.DataFrame) -> str:
    """Classification for text labels or few integer values (<= 10 distinct); else regression."""
    import pandas as pd

    if target.shape[1] > 1:
        return REGRESSION
    col = target.iloc[:, 0]
    numeric = pd.to_numeric(col, errors="coerce")
    if numeric.isna().any():
        return CLASSIFICATION
    is_int = np.allclose(numeric, np.round(numeric))
    return CLASSIFICATION if is_int and numeric.nunique() <= 10 else REGRESSION


def _repeated_columns(path: Path) -> list[str]:
    """Header names that occur more than once. pandas renames the second ``y`` to ``y.1``, which
    then becomes a feature: the target leaks into the inputs."""
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        header = next(csv.reader(fh), [])
    names = [h.strip() for h in header]
    return sorted({n for n in names if names.count(n) > 1})


def _saved_index(df: pd.DataFrame) -> str | None:
    """The name of the first column if it is a row index pandas saved with the table: no name in
    the header (pandas reads it as ``Unnamed: 0``) and the row numbers 0..n-1, in any order (a
    shuffled frame keeps its index). As a feature it would rank the row order."""
    import re

    import pandas as pd

    if df.shape[1] == 0 or not re.fullmatch(r"Unnamed: \d+", str(df.columns[0])):
        return None
    values = pd.to_numeric(df.iloc[:, 0], errors="coerce").to_numpy(dtype=float, na_value=-1)
    rows = np.arange(len(df))
    return str(df.columns[0]) if np.array_equal(np.sort(values), rows) else None


def _csv(*, path=None, target=None, features=None, task="auto"):
    import pandas as pd

    if not path:
        raise StudyError("dataset.path is required for dataset=csv: add dataset.path=<file.csv>")
    path = Path(str(path)).expanduser()
    fname = path.name
    if not path.is_file():
        raise StudyError(f"dataset.path: no such file: {path}")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise StudyError(
            f"dataset.path: cannot read {path} as CSV ({err})".replace("\n", " ")
        ) from None
    repeated = _repeated_columns(path)
    if repeated:
        raise StudyError(
            f"{fname}: column name(s) {', '.join(map(repr, repeated))} appear more "
            "than once in the header; give every column its own name"
        )
    targets = _as_list(target, "dataset.target")
    if not targets:
        raise StudyError("dataset.target is required for dataset=csv: add dataset.target=<column>")
    _check_columns(df, targets, "dataset.target", fname)
    notes = []
    index = _saved_index(df)
    if index is not None and not features and index not in targets:
        df = df.drop(columns=index)
        notes.append(
            f"{fname}: its first column has no name and holds the row numbers 0 to "
            f"{len(df) - 1}, a row index saved by pandas (to_csv without index=False): "
            "left out of the features"
        )
    feats = _as_list(features, "dataset.features") or [c for c in df.columns if c not in targets]
    _check_columns(df, feats, "dataset.features", fname)
    overlap = sorted(set(feats) & set(targets))
    if overlap:
        raise StudyError(f"column(s) {', '.join(map(repr, overlap))} are both feature and target")
    if not feats:
        raise StudyError(f"{fname}: no feature columns left besides the target")
    if len(df) < MIN_ROWS:
        raise StudyError(f"{fname}: {len(df)} data rows; a study needs at least {MIN_ROWS}")
    _check_complete(df[feats + targets], fname)
    X = _numeric(df[feats], fname, "feature")
    task = str(task or "auto").lower()
    if task == "auto":
        task = _infer_task(df[targets])
    if task not in (CLASSIFICATION, REGRESSION):
        raise StudyError(f"dataset.task must be auto, classification or regression; got {task!r}")
    common = dict(
        source=str(path.resolve()), description=f"{fname}: {len(df)} rows", extra={"notes": notes}
    )
    if task == REGRESSION:
        y = _numeric(df[targets], fname, "target")
        return Dataset("csv", X, y, tuple(feats), tuple(targets), REGRESSION, **common)
    if len(targets) > 1:
        raise StudyError(
            "classification takes one target column; several target columns are supported for "
            "regression (dataset.task=regression)"
        )
    labels = df[targets[0]]
    numeric = pd.to_numeric(labels, errors="coerce")
    y = numeric.to_numpy() if not numeric.isna().any() else labels.astype(str).to_numpy()
    classes = np.unique(y)
    return Dataset(
        "csv",
        X,
        y,
        tuple(feats),
        tuple(targets),
        CLASSIFICATION,
        class_names=tuple(str(c) for c in classes),
        **common,
    )


DATASETS = {
    "iris": _sklearn("load_iris", task=CLASSIFICATION),
    "wine": _sklearn("load_wine", task=CLASSIFICATION),
    "breast_cancer": _sklearn("load_breast_cancer", task=CLASSIFICATION),
    "diabetes": _sklearn("load_diabetes", task=REGRESSION, target_names=("progression",)),
    "linnerud": _sklearn("load_linnerud", task=REGRESSION),
    "neuraldat": _neuraldat,
    "known_truth_regression": _known_truth_regression,
    "known_truth_classification": _known_truth_classification,
    "csv": _csv,
}


def _check_classes(ds: Dataset) -> None:
    values, counts = np.unique(ds.labels, return_counts=True)
    target = ds.target_names[0]
    if values.size < 2:
        raise StudyError(
            f"target {target!r} has a single class ({values.tolist()[0]!r}); classification needs "
            "at least two"
        )
    small = [str(v) for v, c in zip(values, counts) if c < 2]
    if small:
        raise StudyError(
            f"target {target!r}: class(es) {', '.join(small)} have a single row; each class "
            "needs at least 2 rows for a stratified train/test split"
        )


def load_dataset(name: str, *, one_hot: bool = False, **options) -> Dataset:
    """Load a dataset by name; ``options`` are its config keys (path, target, seed, ...).

    ``one_hot`` (classification only): train one logistic output unit per class on 0/1 indicator
    targets, instead of scikit-learn's softmax (or single logistic unit for two classes). Two
    classes then give two complementary outputs, the setting where signed Garson returns exactly
    negated vectors.

    Raises StudyError, with a one-line message, for anything the user can fix.
    """
    try:
        loader = DATASETS[name]
    except (KeyError, TypeError):
        raise StudyError(
            f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}"
        ) from None
    _check_options(name, loader, options)
    if not isinstance(one_hot, bool):  # "maybe" would be true
        raise StudyError(f"dataset.one_hot must be true or false; got {one_hot!r}")
    ds = loader(**options)
    if ds.task == CLASSIFICATION:
        _check_classes(ds)
        if one_hot:
            indicator = (ds.y[:, None] == np.unique(ds.y)[None, :]).astype(int)
            ds = dataclasses.replace(
                ds, name=f"{ds.name}_onehot", y=indicator, description=ds.description + ", one-hot"
            )
    elif one_hot:
        raise StudyError(f"dataset.one_hot applies to classification; {name} is a regression")
    else:
        _check_target_varies(ds)
    return ds


def _check_options(name: str, loader, options) -> None:
    """A misspelt dataset option (``dataset.n_sample=50``) is an error, not silently ignored."""
    import inspect

    valid = [p for p in inspect.signature(loader).parameters]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        takes = f"it takes {', '.join(valid)} (and one_hot)" if valid else "it takes only one_hot"
        raise StudyError(
            f"unknown dataset.{', dataset.'.join(unknown)} for dataset {name}; {takes}"
        )


def _check_target_varies(ds: Dataset) -> None:
    """A constant regression target has nothing to explain: R² is 0 whatever the network learns,
    and every ranking of it is noise."""
    flat = [name for name, col in zip(ds.target_names, ds.y.T) if np.ptp(col) == 0]
    if flat:
        raise StudyError(
            f"regression target(s) {', '.join(map(repr, flat))} of {ds.name} are "
            f"constant ({ds.y[0, ds.target_names.index(flat[0])]:g} in every row); "
            "there is nothing to predict"
        )


def split(ds: Dataset, *, test_size: float, seed: int) -> Split:
    """Train/test split (stratified for classification), standardised on the training split."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    stratify = ds.labels
    try:
        X_tr, X_te, y_tr, y_te = train_test_split(
            ds.X, ds.y, test_size=test_size, random_state=int(seed), stratify=stratify
        )
    except ValueError as err:  # too few rows for this test_size / number of classes
        raise StudyError(
            f"cannot split {ds.name} with study.test_size={test_size}: {err}"
        ) from None
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    if ds.task == REGRESSION:
        y_scaler = StandardScaler().fit(y_tr)
        y_tr, y_te = y_scaler.transform(y_tr), y_scaler.transform(y_te)
        if y_tr.shape[1] == 1:  # scikit-learn wants a single target as a 1-D vector
            y_tr, y_te = y_tr.ravel(), y_te.ravel()
    return Split(X_tr, X_te, y_tr, y_te)
