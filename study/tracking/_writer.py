"""Writing a study: the parent run, one child run per seed, and the study's results."""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..record import RunRecord, StudyMeta
from ._store import (
    PARENT_TAG, ROLE_TAG, _client, _experiment_id, _importance_keys, _mlflow, flatten, resolve_uri,
)

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


