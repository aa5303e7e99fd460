"""Every dataset by name (:data:`DATASETS`) and :func:`load_dataset`, which checks the options
given to a loader and what it returns (two classes at least, a target that varies)."""

from __future__ import annotations

import dataclasses

import numpy as np

from study.datasets import bundled, csv_file, simulated
from study.datasets.dataset import CLASSIFICATION, REGRESSION, Dataset
from study.errors import StudyError

__all__ = ["DATASETS", "load_dataset"]

# every loader by its name in the config (dataset=<name>); its keyword arguments are the
# dataset's options (dataset.<option>=...)
DATASETS = {
    "iris": bundled.sklearn_loader("load_iris", task=CLASSIFICATION),
    "wine": bundled.sklearn_loader("load_wine", task=CLASSIFICATION),
    "breast_cancer": bundled.sklearn_loader("load_breast_cancer", task=CLASSIFICATION),
    "diabetes": bundled.sklearn_loader(
        "load_diabetes", task=REGRESSION, target_names=("progression",)
    ),
    "linnerud": bundled.sklearn_loader("load_linnerud", task=REGRESSION),
    "neuraldat": bundled.neuraldat,
    "known_truth_regression": simulated.known_truth_regression,
    "known_truth_classification": simulated.known_truth_classification,
    "csv": csv_file.load_csv,
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
