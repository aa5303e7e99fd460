"""MLflow tracking: the only package that imports MLflow (``_store``: URIs, client, experiments,
metric names; ``_parent``: the parent and the results; ``_children``: the child runs;
``_reader``: reading back; :mod:`~study.tracking.storage`: the contract a study's lifecycle
relies on, and an in-memory storage that keeps it).

Layout of a study in MLflow:

- one **parent run** per study: the flattened config as params, ``config.yaml`` and ``study.json``
  (names, outputs, methods: everything needed to read the children back) as artifacts, the dataset
  via ``log_input``; when training ends ``study_runs.npz`` (:data:`BUNDLE`: every seed's scores,
  weights and importances stacked, with the child run ids); at the end the tables, charts and
  stability metrics;
- one **child run** per seed (tag ``mlflow.parentRunId``): param ``seed``; metrics
  ``train_score``, ``test_score``, ``n_iter``, ``converged``, ``fit_seconds``,
  ``importance_seconds`` and every importance value (the method's primary measure) as
  ``importance.<method>.<feature>``, or ``importance.<method>.<output>.<feature>`` when the method
  has one column per output; artifacts ``weights.npz`` (``coef_<l>``, ``intercept_<l>``: anything
  can be recomputed from them) and ``importances.npz`` (every measure of every method, e.g.
  ``weight_sums/pos``, ``partial_derivatives/mean``, as ``(n_features, n_columns)`` arrays: the
  exact numbers the aggregator reads back).

Children are written by a :class:`ChildWriter` thread while the next seeds train, several per
call of :meth:`Tracker.log_runs`: on MLflow's SQL stores their metrics and params go in as
multi-row inserts into MLflow's own tables, elsewhere with one ``log_batch`` each. MLflow's
``log_batch`` spends about 0.3 ms per metric in its ORM, so the secondary measures
(positive/negative weight sums, derivative mean and sd, permutation sd) travel in
``importances.npz`` rather than as ~200 more metrics per run. The default store is SQLite
(``sqlite:///runs/mlflow.db``) with artifacts in ``runs/artifacts``: no server needed. MLflow
3.13+ refuses the old file store; so do we.
"""

from study.tracking._background import ChildWriter, WriterError
from study.tracking._claims import STALE
from study.tracking._claims import ranges as seed_ranges
from study.tracking._comparison import (
    COMPARED_TAG,
    latest_study,
    log_comparison,
    studies_in,
    study_links,
    study_params,
)
from study.tracking._layout import BUNDLE, NULL_BUNDLE, PARENT_TAG, SEEDS_TAG
from study.tracking._parent import Tracker
from study.tracking._reader import (
    Found,
    copy_tables,
    find_resumable,
    find_study,
    load_null,
    load_study,
    seeds_report,
)
from study.tracking._secrets import mask_uri
from study.tracking._store import (
    check_reachable,
    importance_key,
    is_store_error,
    metric_names,
    require_store,
    resolve_uri,
    study_lock,
)
from study.tracking._ui import ui_command, ui_path, ui_url

__all__ = [
    "Tracker",
    "ChildWriter",
    "WriterError",
    "BUNDLE",
    "NULL_BUNDLE",
    "load_study",
    "load_null",
    "find_resumable",
    "copy_tables",
    "Found",
    "is_store_error",
    "seed_ranges",
    "STALE",
    "check_reachable",
    "require_store",
    "seeds_report",
    "study_lock",
    "find_study",
    "importance_key",
    "metric_names",
    "resolve_uri",
    "mask_uri",
    "ui_command",
    "ui_url",
    "ui_path",
    "COMPARED_TAG",
    "log_comparison",
    "studies_in",
    "study_links",
    "study_params",
    "latest_study",
    "PARENT_TAG",
    "SEEDS_TAG",
]
