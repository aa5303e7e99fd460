"""study: repeated-training studies of neural-network variable importance.

The science lives in pure functions: :mod:`study.importance` (Garson, signed Garson, Olden,
weight sums, permutation, partial derivatives) and :mod:`study.stability` (rank stability and
agreement). :func:`study.pipeline.run` runs a whole study from a config; :mod:`study.config`
composes the project's Hydra configs for notebooks and tests.

Importing ``study`` is light: MLflow, Hydra and matplotlib load only where they are used.
"""

__version__ = "0.1.0"
