"""study: repeated-training studies of neural-network variable importance.

The science lives in pure functions: :mod:`study.importance` (Garson, signed Garson, Olden,
weight sums, permutation, partial derivatives) and :mod:`study.analysis.stability` (rank stability
and agreement). :func:`study.run` runs a whole study of a pandas DataFrame or a CSV file;
:func:`study.lifecycle.pipeline.run` runs one from a config; :mod:`study.config.compose` composes
the project's Hydra configs for notebooks and tests.

Importing ``study`` is light: MLflow, Hydra and matplotlib load only where they are used.
"""

__version__ = "0.1.0"

# the pure functions' modules under the names the README gives them (``study.stability``),
# imported when first used
_ALIASES = {"stability": "study.analysis.stability", "agreement": "study.analysis.agreement"}


def __getattr__(name: str):
    if name in _ALIASES:
        import importlib

        return importlib.import_module(_ALIASES[name])
    raise AttributeError(f"module 'study' has no attribute {name!r}")


def run(data, *, target, features=None, task: str = "auto", overrides=()):
    """A whole study of ``data`` (a pandas DataFrame or a CSV path) predicting ``target``:
    trains, logs to MLflow and analyses as ``study-run`` does; returns the study's
    :class:`~study.lifecycle.run.Outcome` (``.answer.table``: one row per variable). See
    :func:`study.lifecycle.pipeline.run_table`. For example
    ``study.run(frame, target="y", overrides=["study.n_runs=10"]).answer.table``.
    """
    from study.lifecycle.pipeline import run_table

    return run_table(data, target=target, features=features, task=task, overrides=overrides)
