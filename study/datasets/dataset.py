"""The :class:`Dataset` every loader returns, knowing its feature names, target names and task,
and :func:`split`, the train/test split every study trains on.

:func:`split` makes the split (stratified for classification) and standardises the inputs on the
training split, so that weight magnitudes are comparable between variables. Regression targets
are standardised too (per column, on the training split): R² is unchanged and networks train far
better; every importance is then in standard-deviation units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from study.errors import StudyError

if TYPE_CHECKING:  # pandas loads where a table is framed: a training worker needs none of it
    import pandas as pd

__all__ = ["Dataset", "Split", "split", "CLASSIFICATION", "REGRESSION", "MIN_ROWS"]

CLASSIFICATION, REGRESSION = "classification", "regression"
MIN_ROWS = 10  # rows a study needs: a test split of a few rows, a training split of the rest


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
