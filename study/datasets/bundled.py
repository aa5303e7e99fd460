"""scikit-learn's bundled tables (iris, wine, breast cancer, diabetes, linnerud) and
NeuralNetTools' example data ``neuraldat`` (read from :mod:`study.data`), as
:class:`~study.datasets.dataset.Dataset`."""

from __future__ import annotations

from importlib import resources

import numpy as np

from study.datasets.dataset import CLASSIFICATION, REGRESSION, Dataset

__all__ = ["sklearn_loader", "neuraldat"]


def sklearn_loader(loader_name: str, *, task: str, target_names=None):
    """A loader of ``sklearn.datasets.<loader_name>``'s table as a :class:`Dataset` of ``task``;
    ``target_names``: a regression's target names (else scikit-learn's, else ``target``)."""

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


def neuraldat():
    """NeuralNetTools' ``neuraldat``: three inputs, two regression targets."""
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
