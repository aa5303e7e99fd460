"""Datasets: scikit-learn's bundled tables, NeuralNetTools' neuraldat, known-truth simulations, CSV.

Every loader returns a :class:`Dataset` that knows its feature names, target names and task;
:func:`load_dataset` loads one by name (:data:`DATASETS`). :func:`split` makes the train/test
split (stratified for classification) and standardises the inputs on the training split, so that
weight magnitudes are comparable between variables. Regression targets are standardised too (per
column, on the training split): R² is unchanged and networks train far better; every importance
is then in standard-deviation units.

The modules: :mod:`~study.datasets.dataset` (the :class:`Dataset` type and :func:`split`),
:mod:`~study.datasets.bundled` (scikit-learn's tables and neuraldat),
:mod:`~study.datasets.simulated` (the known-truth simulations), :mod:`~study.datasets.csv_file`
(the user's CSV and its checks) and :mod:`~study.datasets.registry` (the names and
:func:`load_dataset`'s checks).
"""

from study.datasets.dataset import CLASSIFICATION as CLASSIFICATION
from study.datasets.dataset import MIN_ROWS as MIN_ROWS
from study.datasets.dataset import REGRESSION as REGRESSION
from study.datasets.dataset import Dataset, Split, split
from study.datasets.registry import DATASETS, load_dataset

__all__ = ["Dataset", "Split", "DATASETS", "load_dataset", "split"]
