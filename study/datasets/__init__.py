"""Datasets: scikit-learn's bundled tables, NeuralNetTools' neuraldat, known-truth simulations and
the user's CSV (:mod:`study.datasets.dataset` for now)."""

from study.datasets.dataset import CLASSIFICATION as CLASSIFICATION
from study.datasets.dataset import DATASETS, Dataset, Split, load_dataset, split
from study.datasets.dataset import MIN_ROWS as MIN_ROWS
from study.datasets.dataset import REGRESSION as REGRESSION

__all__ = ["Dataset", "Split", "DATASETS", "load_dataset", "split"]
