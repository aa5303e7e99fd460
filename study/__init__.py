"""study: repeated-training studies of neural-network variable importance.

The science lives in pure functions: :mod:`study.importance` (Garson, signed Garson, Olden,
weight sums, permutation, partial derivatives) and :mod:`study.stability` (rank stability and
agreement). :func:`study.run` runs a whole study of a pandas DataFrame or a CSV file;
:func:`study.pipeline.run` runs one from a config; :mod:`study.config` composes the project's
Hydra configs for notebooks and tests.

Importing ``study`` is light: MLflow, Hydra and matplotlib load only where they are used.
"""

__version__ = "0.1.0"


def run(data, *, target, features=None, task: str = "auto", overrides=()):
    """A whole study of ``data`` (a pandas DataFrame or a CSV path) predicting ``target``:
    trains, logs to MLflow and analyses as ``study-run`` does; returns the study's
    :class:`~study.lifecycle.Outcome` (``.answer.table``: one row per variable). See
    :func:`study.pipeline.run_table`. For example
    ``study.run(frame, target="y", overrides=["study.n_runs=10"]).answer.table``.
    """
    from .pipeline import run_table

    return run_table(data, target=target, features=features, task=task, overrides=overrides)
