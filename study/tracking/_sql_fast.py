"""The SQL fast path: child runs written straight into MLflow's own tables, fenced here.

This is the one module that uses MLflow's private API (``SqlAlchemyStore`` behind the client, its
ORM tables, the artifact repository registry). On MLflow's SQL stores (SQLite, PostgreSQL) it
writes a child in a few ms instead of the 20-40 ms of ``create_run`` + ``log_batch`` +
``log_artifact`` + ``set_terminated``. Everything it writes is checked against the public client
by a contract test (``tests/test_tracking.py``: a fast-path child and a client-made one compared
field by field); another MLflow layout makes :func:`sql_store` return None, and the writer then
uses the public client.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from study.tracking._claims import PROCESS


def new_run_id() -> str:
    """A run id as MLflow makes them (32 hex digits), increasing in this process: 12 digits of
    the time in milliseconds, 4 of a counter within the millisecond, then 16 random ones.

    Every table of MLflow's SQL store is indexed on ``run_uuid`` (``latest_metrics``' primary
    key is ``(key, run_uuid)``): random ids (``uuid4``) put each child's ~170 metric rows in as
    many random places of B-trees that grow with the store, which made a child's insert cost
    grow with the number of runs stored (12 ms a child into a store of 2,000 runs, against 7 ms
    with ordered ids, measured on SQLite); ordered ids append where the last child went."""
    ms = max(time.time_ns() // 1_000_000, _LAST[0])
    _LAST[1] = _LAST[1] + 1 if ms == _LAST[0] else 0
    if _LAST[1] > 0xFFFF:  # 65,536 ids in one millisecond: borrow the next one
        ms, _LAST[1] = ms + 1, 0
    _LAST[0] = ms
    return f"{ms:012x}{_LAST[1]:04x}{os.urandom(8).hex()}"


_LAST = [0, 0]  # the last id's millisecond and counter (new_run_id)


def sql_store(client):
    """MLflow's SQLAlchemy store behind ``client`` (SQLite, PostgreSQL), or None for any other
    store (an HTTP tracking server), which then gets MLflow's own ``log_batch``."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = client._tracking_client.store
    except (ImportError, AttributeError):  # another MLflow layout: use the public API
        return None
    return store if isinstance(store, SqlAlchemyStore) else None


def insert_runs(
    store,
    runs: list,
    tags: list,
    metrics: Mapping[str, tuple],
    params: Mapping[str, list],
    dataset_uuid: str | None = None,
) -> None:
    """New runs (rows of MLflow's ``runs`` table), their tags, metrics and params, and (with
    ``dataset_uuid``) an existing dataset of the experiment as the training input of each, in one
    transaction of multi-row inserts.

    ``metrics``: ``{run_id: (timestamp, keys, values)}``, logged at step 0. ``log_batch`` spends
    about 0.3 ms per metric in the ORM (65 ms for a child's 214 metrics); this writes the same
    rows into MLflow's own tables (``SqlRun``, ``SqlTag``, ``SqlMetric``, ``SqlLatestMetric``,
    ``SqlParam``). It is only right for runs this process has just created and logged nothing
    else to: each key is logged once, at step 0, so it is its own latest value. Values are
    sanitised as MLflow's ``sanitize_metric_value`` does (NaN stored as 0 and flagged, ±inf
    clipped to the largest float). Tests read the result back through the MLflow client and
    compare it with the client's.
    """
    from mlflow.store.tracking.dbmodels.models import (
        SqlInput,
        SqlInputTag,
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )

    columns = _metric_columns(metrics)
    param_rows = [
        {"run_uuid": run_id, "key": p.key, "value": p.value}
        for run_id, run_params in params.items()
        for p in run_params
    ]
    inputs, input_tags = _input_rows(runs, dataset_uuid)
    with store.ManagedSessionMaker(read_only=False) as session:
        for table, values in (
            (SqlRun, _columns(runs)),
            (SqlTag, _columns(tags)),
            (SqlMetric, columns),
            (SqlLatestMetric, columns),
            (SqlParam, _columns(param_rows)),
            (SqlInput, _columns(inputs)),
            (SqlInputTag, _columns(input_tags)),
        ):
            if values and len(next(iter(values.values()))):
                _insert(session, table.__table__, values)


def _metric_columns(metrics: Mapping[str, tuple]) -> dict[str, list]:
    """The rows of ``metrics`` (``{run_id: (timestamp, keys, values)}``) as columns, at step 0,
    sanitised as MLflow's ``sanitize_metric_value`` does."""
    import numpy as np

    columns = {"run_uuid": [], "key": [], "value": [], "timestamp": [], "step": [], "is_nan": []}
    for run_id, (timestamp, keys, values) in metrics.items():
        v = np.asarray(values, dtype=float)
        nan = np.isnan(v)
        v = np.clip(np.where(nan, 0.0, v), -np.finfo(float).max, np.finfo(float).max)
        columns["run_uuid"] += [run_id] * len(keys)
        columns["key"] += list(keys)
        columns["value"] += v.tolist()
        columns["timestamp"] += [timestamp] * len(keys)
        columns["step"] += [0] * len(keys)
        columns["is_nan"] += nan.tolist()
    return columns


def _input_rows(runs: list, dataset_uuid: str | None) -> tuple[list[dict], list[dict]]:
    """The dataset ``dataset_uuid`` as the training input of each of ``runs``: the rows of
    MLflow's ``inputs`` and ``input_tags`` tables (none without a dataset)."""
    import uuid

    if not dataset_uuid:
        return [], []
    inputs = [
        {
            "input_uuid": uuid.uuid4().hex,
            "source_type": "DATASET",
            "source_id": dataset_uuid,
            "destination_type": "RUN",
            "destination_id": run["run_uuid"],
        }
        for run in runs
    ]
    tags = [
        {"input_uuid": i["input_uuid"], "name": "mlflow.data.context", "value": "training"}
        for i in inputs
    ]
    return inputs, tags


def _columns(rows: list[dict]) -> dict[str, list]:
    return {k: [row[k] for row in rows] for k in rows[0]} if rows else {}


def _insert(session, table, columns: Mapping[str, list]) -> None:
    """Rows given as ``{column: values}`` into ``table``, with the INSERT that SQLAlchemy
    compiles for the store's dialect, run by the DB-API cursor's ``executemany``: SQLAlchemy's
    own multi-row execute builds and checks each row's parameters in Python, which took as long
    as SQLite's inserts of a child's 340 metric rows."""
    import sqlalchemy

    conn = session.connection()
    compiled = sqlalchemy.insert(table).compile(dialect=conn.dialect, column_keys=list(columns))
    if compiled.positional:  # SQLite's "?": tuples in the statement's order
        rows = list(zip(*(columns[c] for c in compiled.positiontup)))
    else:  # PostgreSQL's drivers: named parameters
        keys = list(columns)
        rows = [dict(zip(keys, values)) for values in zip(*(columns[k] for k in keys))]
    conn.exec_driver_sql(str(compiled), rows)


def dataset_uuid(store, experiment_id: str, dataset) -> str | None:
    """The uuid of ``dataset`` (an MLflow ``Dataset`` entity the parent logged) in the
    experiment's datasets table, or None."""
    from mlflow.store.tracking.dbmodels.models import SqlDataset

    if dataset is None:
        return None
    with store.ManagedSessionMaker() as session:
        row = (
            session.query(SqlDataset)
            .filter(SqlDataset.experiment_id == int(experiment_id))
            .filter(SqlDataset.name == dataset.name)
            .filter(SqlDataset.digest == dataset.digest)
            .first()
        )
        return row.dataset_uuid if row is not None else None


def log_children(
    sql,
    runs,
    *,
    times,
    experiment_id: str,
    artifact_root: str,
    dataset_uuid: str | None,
    metric_keys,
    metric_values,
    child_tags,
    write_arrays,
) -> list[str]:
    """:meth:`Tracker.log_runs` on MLflow's SQL stores: each child's artifacts first, then every
    child (its run row, tags, metrics and ``seed`` param, FINISHED) in one transaction.

    What the tracker knows comes as arguments: ``sql`` its store (:func:`sql_store`), ``times``
    each run's (start, end), the experiment and its artifact root, the study's dataset row
    (:func:`dataset_uuid`), the metric keys, and the functions that give a run's metric values
    and child tags and write its arrays (into a folder, or a new temporary one it returns).

    ``create_run`` + ``log_batch`` + two ``log_artifact`` + ``set_terminated`` cost 20-40 ms
    a child, a dozen round trips through the ORM; this writes the same rows into MLflow's own
    tables (``SqlRun``, ``SqlTag``, as ``SqlAlchemyStore.create_run`` fills them) and the
    same files through MLflow's artifact repository, in a few ms a child. A child never
    exists half-written: an interrupted call leaves at most artifact folders of no run.
    Tests compare these children field by field with ones made through the client.
    """
    from mlflow.entities import Param
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
    from mlflow.utils.uri import append_to_uri_path

    from study.tracking._store import child_name, child_params

    rows, tags, metrics, params = [], [], {}, {}
    for run, (start, end) in zip(runs, times):
        cid = new_run_id()
        uri = append_to_uri_path(artifact_root, cid, "artifacts")
        repo = get_artifact_repository(uri)
        if isinstance(repo, LocalArtifactRepository):  # the files written where they belong
            folder = repo.artifact_dir
            os.makedirs(folder, exist_ok=True)
            write_arrays(run, folder)
        else:
            repo.log_artifacts(str(write_arrays(run)))
        rows.append(
            {
                "run_uuid": cid,
                "name": child_name(run.seed),
                "artifact_uri": uri,
                "experiment_id": int(experiment_id),
                "source_type": "UNKNOWN",
                "source_name": "",
                "entry_point_name": "",
                "user_id": "unknown",
                "status": "FINISHED",
                "start_time": start,
                "end_time": end,
                "deleted_time": None,
                "source_version": "",
                "lifecycle_stage": "active",
            }
        )
        named = {**child_tags(run.seed), MLFLOW_RUN_NAME: child_name(run.seed)}
        tags += [{"run_uuid": cid, "key": k, "value": v} for k, v in named.items()]
        metrics[cid] = (start, metric_keys, metric_values(run))
        params[cid] = [Param(k, v) for k, v in child_params(run.seed).items()]
        run.process = PROCESS
    insert_runs(sql, rows, tags, metrics, params, dataset_uuid)
    return [row["run_uuid"] for row in rows]
