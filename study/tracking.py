"""MLflow tracking: the only module that imports MLflow.

Layout of a study in MLflow:

- one **parent run** per study: the flattened config as params, ``config.yaml`` and ``study.json``
  (names, outputs, methods: everything needed to read the children back) as artifacts, the dataset
  via ``log_input``; at the end the tables, charts and stability metrics;
- one **child run** per seed (tag ``mlflow.parentRunId``): param ``seed``; metrics
  ``train_score``, ``test_score``, ``n_iter``, ``converged``, ``fit_seconds``,
  ``importance_seconds`` and every importance value (the method's primary measure) as
  ``importance.<method>.<feature>``, or ``importance.<method>.<output>.<feature>`` when the method
  has one column per output; artifacts ``weights.npz`` (``coef_<l>``, ``intercept_<l>``: anything
  can be recomputed from them) and ``importances.npz`` (every measure of every method, e.g.
  ``weight_sums/pos``, ``partial_derivatives/mean``, as ``(n_features, n_columns)`` arrays: the
  exact numbers the aggregator reads back).

Each child is written with one ``log_batch`` call (MLflow chunks it into its size limits) and one
``log_artifacts`` upload. MLflow's SQL store spends about 0.7 ms per metric however it is batched,
so the secondary measures (positive/negative weight sums, derivative mean and sd, permutation sd)
travel in ``importances.npz`` rather than as ~200 more metrics per run. The default store is SQLite (``sqlite:///runs/mlflow.db``) with artifacts in
``runs/artifacts``: no server needed. MLflow 3.13+ refuses the old file store; so do we.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import StudyError
from .record import RunRecord, StudyMeta, StudyRecord

__all__ = [
    "Tracker",
    "load_study",
    "find_study",
    "importance_key",
    "metric_names",
    "resolve_uri",
    "ui_command",
    "ui_url",
]

PARENT_TAG = "mlflow.parentRunId"
ROLE_TAG = "study.role"


def _mlflow():
    import logging
    import os

    # One progress bar per downloaded artifact and INFO lines about creating the database bury
    # the study's own output; users can still turn them back on through the environment.
    os.environ.setdefault("MLFLOW_DISABLE_AGENT_HINT", "1")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with warnings.catch_warnings():  # tqdm.auto in a notebook without ipywidgets: harmless
        warnings.filterwarnings("ignore", message="IProgress not found")
        import mlflow

    for name in ("mlflow.store.db.utils", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow


# ---------------------------------------------------------------------------------------------
# names


def metric_names(names) -> tuple[str, ...]:
    """MLflow-safe, unique versions of feature or output names (letters, digits, ``_``, ``-``).

    Dots separate the parts of a key, so they go too: ``od280/od315_of_diluted_wines`` becomes
    ``od280_od315_of_diluted_wines``. Names that collide after cleaning get a ``_2``, ``_3`` suffix.
    """
    out, seen = [], set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_\-]+", "_", str(name)).strip("_")[:60] or "x"
        key, n = base, 1
        while key in seen:
            n += 1
            key = f"{base}_{n}"
        seen.add(key)
        out.append(key)
    return tuple(out)


def importance_key(method: str, column: str | None, feature: str) -> str:
    """The metric name of one importance value (``column`` None for a single-column method)."""
    return ".".join(["importance", method] + ([column] if column is not None else []) + [feature])


def _importance_keys(meta: StudyMeta):
    """Yield ``(method, column_index, feature_index, key)`` for every primary importance value."""
    feats = metric_names(meta.feature_names)
    for name, layout in meta.methods.items():
        cols = metric_names(layout.columns) if len(layout.columns) > 1 else (None,)
        for c, col in enumerate(cols):
            for i, feat in enumerate(feats):
                yield name, c, i, importance_key(name, col, feat)


def flatten(config: Mapping, prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}} -> {"a.b": "1"}``: the config as MLflow params."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = "null" if value is None else str(value)[:6000]
    return out


# ---------------------------------------------------------------------------------------------
# store


def resolve_uri(uri: str) -> str:
    """Make a relative SQLite URI absolute, so that printed commands work from anywhere.

    ``sqlite:///runs/mlflow.db`` (relative, three slashes) -> ``sqlite:////abs/path/runs/mlflow.db``.
    A plain path (``runs/mlflow.db``) is taken as a SQLite file too. The old file store
    (a directory, or ``file:``) is refused: MLflow 3.13+ no longer supports it.
    """
    uri = str(uri)
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        path = path if uri.startswith("sqlite:////") or path.is_absolute() else path.resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if "://" in uri:
        if uri.startswith("file:"):
            raise StudyError(
                "tracking.uri: the MLflow file store is not supported (MLflow 3.13+ refuses "
                "it); use sqlite:///runs/mlflow.db or an http(s):// tracking server"
            )
        return uri
    if uri.endswith(".db"):
        return resolve_uri(f"sqlite:///{uri}")
    raise StudyError(
        f"tracking.uri: {uri!r} is not a tracking URI; use sqlite:///path/to/mlflow.db or "
        "http(s)://host:port"
    )


def _artifact_root(uri: str) -> str | None:
    """Artifacts of a SQLite store go beside the database, in ``artifacts/``."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
    return None


def ui_command(uri: str) -> str:
    """The command that opens the MLflow UI on this store, bound to 127.0.0.1."""
    return f"study-ui --uri {resolve_uri(uri)}"


def ui_url(experiment_id: str | None = None, run_id: str | None = None, port: int = 5000) -> str:
    """The UI page of an experiment's runs, or of one run, in the classic model-training view.

    MLflow 3's UI otherwise opens on its GenAI (traces) view, which shows none of our runs.
    """
    page = "experiments"
    if experiment_id is not None:
        page += f"/{experiment_id}" + (f"/runs/{run_id}" if run_id else "")
    return f"http://127.0.0.1:{port}/#/{page}?workflowType=machine_learning"


def _client(uri: str):
    return _mlflow().MlflowClient(tracking_uri=resolve_uri(uri))


# MLflow 3's UI opens an experiment without this tag in its GenAI (traces) view; a study is
# classic model training, and its runs table is what users need to see first.
_KIND_TAG, _KIND = "mlflow.experimentKind", "custom_model_development"


def _experiment_id(client, name: str, uri: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return client.create_experiment(
            name, artifact_location=_artifact_root(resolve_uri(uri)), tags={_KIND_TAG: _KIND}
        )
    if exp.lifecycle_stage != "active":
        raise StudyError(
            f"tracking.experiment: experiment {name!r} is deleted in this store; restore it in "
            "the UI or choose another name"
        )
    if _KIND_TAG not in exp.tags:
        client.set_experiment_tag(exp.experiment_id, _KIND_TAG, _KIND)
    return exp.experiment_id


# ---------------------------------------------------------------------------------------------
# writing


class Tracker:
    """Writes one study to MLflow: a parent run and one child run per seed.

    Use as ``start`` ... ``log_run`` ... ``log_results`` ... ``finish``; ``finish(status)`` with
    FAILED or KILLED when the study breaks, so that no run is left RUNNING.
    """

    def __init__(self, uri: str, experiment: str | None = None, *, run_id: str | None = None):
        """Open ``experiment`` (created if new) for a new study, or attach to the existing parent
        run ``run_id`` (``study-aggregate`` logs its results there)."""
        self.uri = resolve_uri(uri)
        self.client = _client(self.uri)
        if run_id is None:
            self.experiment_id = _experiment_id(self.client, experiment, self.uri)
        else:
            self.experiment_id = self.client.get_run(run_id).info.experiment_id
        self.run_id = run_id
        self.meta: StudyMeta | None = None
        self._keys = None
        self._tmp = tempfile.TemporaryDirectory(prefix="study-")

    def start(self, meta: StudyMeta, *, config: Mapping, config_yaml: str, dataset, run_name):
        """Create the parent run and log the config, the study layout and the dataset."""
        mlflow = _mlflow()
        from mlflow.entities import DatasetInput, InputTag, Param, RunTag

        self.meta = meta
        self._keys = list(_importance_keys(meta))
        run = self.client.create_run(
            self.experiment_id, run_name=run_name, tags={ROLE_TAG: "study"}
        )
        self.run_id = run.info.run_id
        params = [Param(k, v) for k, v in flatten(config).items()]
        tags = [RunTag("study.dataset", meta.dataset), RunTag("study.task", meta.task)]
        self.client.log_batch(self.run_id, params=params, tags=tags)
        self.client.log_text(self.run_id, config_yaml, "config.yaml")
        self.client.log_dict(self.run_id, meta.to_dict(), "study.json")
        source = dataset.source if Path(dataset.source).is_file() else None
        with warnings.catch_warnings():  # schema hints about integer columns: not a model input
            warnings.simplefilter("ignore", UserWarning)
            ds = mlflow.data.from_pandas(
                dataset.frame(),
                source=source,
                name=dataset.name,
                targets=dataset.target_names[0] if len(dataset.target_names) == 1 else None,
            )
            entity = ds._to_mlflow_entity()
        tag = InputTag(key="mlflow.data.context", value="training")
        self.client.log_inputs(self.run_id, datasets=[DatasetInput(dataset=entity, tags=[tag])])
        return self.run_id

    def log_run(self, run: RunRecord) -> str:
        """One child run: one log_batch with every metric, then weights and importances."""
        child = self.client.create_run(
            self.experiment_id,
            run_name=f"seed-{run.seed}",
            tags={PARENT_TAG: self.run_id, ROLE_TAG: "seed"},
        )
        cid = child.info.run_id
        try:
            self._log_child(cid, run)
        except BaseException as exc:  # never leave a child RUNNING
            self.client.set_terminated(cid, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
            raise
        self.client.set_terminated(cid, "FINISHED")
        return cid

    def _log_child(self, cid: str, run: RunRecord) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        scalars = {
            "train_score": run.train_score,
            "test_score": run.test_score,
            "n_iter": run.n_iter,
            "converged": float(run.converged),
            "fit_seconds": run.timings.get("fit", np.nan),
            "importance_seconds": run.timings.get("importance", np.nan),
        }
        metrics = [Metric(k, float(v), now, 0) for k, v in scalars.items()]
        for method, c, i, key in self._keys:
            primary = self.meta.methods[method].primary
            metrics.append(Metric(key, float(run.importances[method][primary][i, c]), now, 0))
        self.client.log_batch(cid, metrics=metrics, params=[Param("seed", str(run.seed))])
        folder = Path(self._tmp.name) / "run"
        folder.mkdir(exist_ok=True)
        np.savez(
            folder / "weights.npz",
            **{f"coef_{i}": w for i, w in enumerate(run.coefs)},
            **{f"intercept_{i}": b for i, b in enumerate(run.intercepts)},
        )
        np.savez(
            folder / "importances.npz",
            **{f"{m}/{k}": v for m, measures in run.importances.items() for k, v in measures.items()},
        )
        self.client.log_artifacts(cid, str(folder))

    def log_results(self, *, metrics: Mapping[str, float], tables=(), charts=(), series=None):
        """Study-level metrics and ``series`` (``{name: [(step, value), ...]}``, shown as curves in
        the UI) in one log_batch; ``tables`` (CSV files) at the top of the parent's artifacts and
        ``charts`` (PNG files) under ``charts/``."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        for name, points in (series or {}).items():
            batch += [Metric(name, float(v), now, int(step)) for step, v in points]
        if batch:
            self.client.log_batch(self.run_id, metrics=batch)
        for path in tables:
            self.client.log_artifact(self.run_id, str(path))
        for path in charts:
            self.client.log_artifact(self.run_id, str(path), artifact_path="charts")

    def finish(self, status: str = "FINISHED") -> None:
        """End the parent run with ``status`` (FINISHED, FAILED or KILLED)."""
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status)
        self._tmp.cleanup()


# ---------------------------------------------------------------------------------------------
# reading


def find_study(uri: str, *, run_id: str | None = None, experiment: str | None = None) -> str:
    """The parent run id of a study: ``run_id`` itself, or the latest study of ``experiment``."""
    client = _client(uri)
    mlflow = _mlflow()
    if run_id:
        try:
            run = client.get_run(run_id)
        except mlflow.exceptions.MlflowException:
            raise StudyError(f"no run {run_id!r} in {resolve_uri(uri)}") from None
        if run.data.tags.get(ROLE_TAG) == "seed":
            return run.data.tags[PARENT_TAG]
        if run.data.tags.get(ROLE_TAG) != "study":
            raise StudyError(f"run {run_id} is not a study's parent run")
        return run_id
    if not experiment:
        raise StudyError("give a study's parent run id (--run-id) or an experiment name")
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise StudyError(f"no experiment {experiment!r} in {resolve_uri(uri)}")
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{ROLE_TAG}` = 'study' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        raise StudyError(f"experiment {experiment!r} has no finished study")
    return runs[0].info.run_id


def load_study(uri: str, run_id: str) -> StudyRecord:
    """Read a study back from MLflow alone: its layout, and every child's metrics and weights.

    Nothing comes from the memory of the process that trained it, so this works for any study in
    any store, whichever processes or machines ran its seeds.
    """
    client = _client(uri)
    parent = client.get_run(run_id)
    with tempfile.TemporaryDirectory(prefix="study-read-") as tmp:
        meta_path = client.download_artifacts(run_id, "study.json", tmp)
        meta = StudyMeta.from_dict(json.loads(Path(meta_path).read_text()))
        children = []
        token = None
        while True:
            page = client.search_runs(
                [parent.info.experiment_id],
                filter_string=f"tags.`{PARENT_TAG}` = '{run_id}' and attributes.status = 'FINISHED'",
                max_results=1000,
                page_token=token,
            )
            children.extend(page)
            token = page.token
            if not token:
                break
        n_layers = len(meta.layer_sizes) - 1
        runs = []
        for child in children:
            m = child.data.metrics
            folder = Path(tmp) / child.info.run_id
            folder.mkdir()
            with np.load(client.download_artifacts(child.info.run_id, "weights.npz", str(folder))) as w:
                coefs = [w[f"coef_{i}"] for i in range(n_layers)]
                intercepts = [w[f"intercept_{i}"] for i in range(n_layers)]
            path = client.download_artifacts(child.info.run_id, "importances.npz", str(folder))
            with np.load(path) as imp:
                values = {
                    name: {k: imp[f"{name}/{k}"] for k in layout.measures}
                    for name, layout in meta.methods.items()
                }
            runs.append(
                RunRecord(
                    seed=int(child.data.params["seed"]),
                    train_score=m.get("train_score", np.nan),
                    test_score=m.get("test_score", np.nan),
                    n_iter=int(m.get("n_iter", -1)),
                    converged=bool(m.get("converged", 0)),
                    coefs=coefs,
                    intercepts=intercepts,
                    importances=values,
                    timings={
                        "fit": m.get("fit_seconds", np.nan),
                        "importance": m.get("importance_seconds", np.nan),
                    },
                )
            )
    runs.sort(key=lambda r: r.seed)
    return StudyRecord(meta=meta, runs=runs, run_id=run_id, experiment_id=parent.info.experiment_id)
