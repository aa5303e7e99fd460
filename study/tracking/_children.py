"""The child runs of a study: one per seed (FINISHED with its metrics, params and arrays, or
FAILED with its error), and the bundle of every seed's numbers on the parent."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from study.tracking import _sql_fast
from study.tracking._claims import PROCESS  # host:pid, on our children
from study.tracking._layout import (
    BUNDLE,
    ERROR_TAG,
    HASH_TAG,
    NAME_KEY_TAG,
    NAME_TAG,
    PARENT_TAG,
    PROCESS_TAG,
    RESAMPLE_TAG,
    ROLE_TAG,
    name_key,
)
from study.tracking._store import child_name, child_params
from study.training.record import RunRecord
from study.training.resample import index, is_resample

_SCALARS = (
    "train_score",
    "test_score",
    "n_iter",
    "converged",
    "fit_seconds",
    "importance_seconds",
)  # a child's first metrics (Children.metric_values)
ERROR_CHARS = 5000  # of a failed seed's error in its tag (MLflow keeps 8000 per tag value)


class Children:
    """The child-run half of :class:`~study.tracking.Tracker` (the parent's is in ``_parent``):
    it reads the tracker's ``client``, ``run_id``, ``experiment_id``, ``meta`` and scratch folder,
    and keeps the latest child's start (``_last_start``) and, on SQL stores, the experiment's
    artifact root and the dataset's row."""

    def log_runs(self, runs) -> list[str]:
        """One child run per record: metrics and the ``seed`` param, ``weights.npz`` and
        ``importances.npz``, then FINISHED. Returns the child run ids, in order.

        On MLflow's SQL stores (SQLite, PostgreSQL) the metrics and params of all ``runs`` go in
        with one multi-row insert (:mod:`._sql_fast`); elsewhere (an HTTP server) with one
        ``log_batch`` per child. If anything fails, every child of the call is ended FAILED
        (KILLED on Ctrl-C): none is left RUNNING.
        """
        from mlflow.entities import Param

        if self._sql is not None:
            if self._artifact_root is None:  # once: the experiment's root, the dataset's row
                self._artifact_root = self.client.get_experiment(
                    self.experiment_id
                ).artifact_location
                self._dataset_uuid = _sql_fast.dataset_uuid(
                    self._sql, self.experiment_id, self._dataset
                )
            return _sql_fast.log_children(
                self._sql,
                runs,
                times=self.child_times(runs),
                experiment_id=self.experiment_id,
                artifact_root=self._artifact_root,
                dataset_uuid=self._dataset_uuid,
                metric_keys=self.metric_keys(),
                metric_values=self.metric_values,
                child_tags=self._child_tags,
                write_arrays=self._write_arrays,
            )
        created, times = [], self.child_times(runs)
        try:
            for run, (start, _) in zip(runs, times):
                child = self.client.create_run(
                    self.experiment_id,
                    run_name=child_name(run.seed),
                    tags=self._child_tags(run.seed),
                    start_time=start,
                )
                run.process = PROCESS
                created.append(child.info.run_id)
            inputs = self._dataset_inputs()
            for cid, run, (start, _) in zip(created, runs, times):
                self.client.log_batch(
                    cid,
                    metrics=self._metrics(run, start),
                    params=[Param(k, v) for k, v in child_params(run.seed).items()],
                )
                if inputs:
                    self.client.log_inputs(cid, datasets=inputs)
                self._log_arrays(cid, run)
        except BaseException as exc:  # never leave a child RUNNING
            status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            for cid in created:
                try:
                    self.client.set_terminated(cid, status)
                except Exception:  # the store itself is failing: report the first error
                    pass
            raise
        for cid, (_, end) in zip(created, times):
            self.client.set_terminated(cid, "FINISHED", end_time=end)
        return created

    def _child_tags(self, seed: int | None = None) -> dict[str, str]:
        """A child's tags: its parent, role and process, and the study's name and settings hash
        (the runs list groups and filters children by study with them); a resample network's
        (``seed``: its ledger id) its index ``b`` too."""
        return {
            PARENT_TAG: self.run_id,
            ROLE_TAG: "seed",
            PROCESS_TAG: PROCESS,
            NAME_TAG: self.meta.name,
            NAME_KEY_TAG: name_key(self.meta.name),
            **({HASH_TAG: self._hash} if self._hash else {}),
            **({RESAMPLE_TAG: str(index(seed))} if seed is not None and is_resample(seed) else {}),
        }

    def child_times(self, runs) -> list[tuple[int, int]]:
        """``(start, end)`` in ms of each child, in the order given (seed order: the runner
        yields seeds in order and the writer sorts each batch): from when its split began to
        when its record was made (``timings`` ``started_at``, ``finished_at``, epoch seconds; a
        seed of the batched backend starts with its block). Starts are made strictly increasing
        (a seed that started in the same ms as the one before it, or earlier, is moved 1 ms
        after it: a few ms with parallel workers, up to a block's size in ms for two blocks of
        the batched backend that started together), so the UI, which lists runs by start time,
        lists the children by seed."""
        now, out = time.time(), []
        for run in runs:
            t = run.timings
            end = int(1000 * t.get("finished_at", now))
            start = (
                int(1000 * t["started_at"])
                if "started_at" in t
                else end - int(1000 * (t.get("fit", 0.0) + t.get("importance", 0.0)))
            )
            start = self._last_start = max(start, self._last_start + 1)
            out.append((start, max(end, start + 1)))
        return out

    def _dataset_inputs(self) -> list:
        """The parent's dataset as a child's input (``mlflow.data.context`` = training)."""
        from mlflow.entities import DatasetInput, InputTag

        if self._dataset is None:
            return []
        return [
            DatasetInput(
                dataset=self._dataset, tags=[InputTag(key="mlflow.data.context", value="training")]
            )
        ]

    def log_failed(self, failed) -> str:
        """A FAILED child run for a seed that raised (:class:`~study.training.record.FailedRun`):
        its ``seed`` param, its error in the tag ``study.error`` and the traceback in ``error.txt``.
        Returns the child run id."""
        child = self.client.create_run(
            self.experiment_id,
            run_name=child_name(failed.seed),
            tags={
                PARENT_TAG: self.run_id,
                ROLE_TAG: "seed",
                ERROR_TAG: failed.error[:ERROR_CHARS],
                PROCESS_TAG: PROCESS,
                **({RESAMPLE_TAG: str(index(failed.seed))} if is_resample(failed.seed) else {}),
            },
        )
        cid = child.info.run_id
        try:
            for key, value in child_params(failed.seed).items():
                self.client.log_param(cid, key, value)
            self.client.log_text(cid, failed.traceback, "error.txt")
        finally:
            self.client.set_terminated(cid, "FAILED")
        return cid

    def _metrics(self, run: RunRecord, now: int) -> list:
        """A child's metrics (MLflow ``Metric`` entities, at step 0)."""
        from mlflow.entities import Metric

        return [Metric(k, v, now, 0) for k, v in zip(self.metric_keys(), self.metric_values(run))]

    def metric_keys(self) -> list[str]:
        """The names of a child's metrics, in the order of :meth:`metric_values`."""
        return list(_SCALARS) + [key for _, _, _, key in self._keys]

    def metric_values(self, run: RunRecord) -> list[float]:
        """A child's metric values: its scores, iterations and timings, then the primary measure
        of each method per variable and output (the importance keys of the study's layout)."""
        t = run.timings
        values = [
            float(run.train_score),
            float(run.test_score),
            float(run.n_iter),
            float(run.converged),
            float(t.get("fit", np.nan)),
            float(t.get("importance", np.nan)),
        ]
        primary = {
            m: run.importances[m][self.meta.methods[m].primary]
            for m in dict.fromkeys(method for method, _, _, _ in self._keys)
        }
        values += [float(primary[method][i, c]) for method, c, i, _ in self._keys]
        return values

    def _log_arrays(self, cid: str, run: RunRecord) -> None:
        self.client.log_artifacts(cid, str(self._write_arrays(run)))

    def _write_arrays(self, run: RunRecord, folder=None) -> Path:
        """A child's ``weights.npz`` and ``importances.npz``, in ``folder`` (a scratch folder
        by default)."""
        if folder is None:
            folder = Path(self._tmp.name) / "run"
            folder.mkdir(exist_ok=True)
        folder = Path(folder)
        np.savez(
            folder / "weights.npz",
            **{f"coef_{i}": w for i, w in enumerate(run.coefs)},
            **{f"intercept_{i}": b for i, b in enumerate(run.intercepts)},
        )
        np.savez(
            folder / "importances.npz",
            **{
                f"{m}/{k}": v
                for m, measures in run.importances.items()
                for k, v in measures.items()
            },
        )
        return folder

    def log_bundle(self, runs, run_ids, *, name: str = BUNDLE) -> None:
        """Every seed's numbers in one parent artifact, :data:`BUNDLE`, so that a reader downloads
        one file instead of two per child (see :func:`study.tracking.load_study`).

        ``runs`` and ``run_ids`` (their child runs) in the same order. Arrays are stacked over
        runs: ``seed``, ``run_id``, the scalars of :data:`_SCALARS` and ``process``, ``coef_<l>``
        and ``intercept_<l>`` ``(n_runs, ...)``, and ``<method>/<measure>`` ``(n_runs, p, K)``.
        ``name``: the artifact's file name (the randomisation test's null networks had this
        layout, with no child runs, before its designs; ``NullSet.from_arrays`` still reads it).
        """
        runs = list(runs)
        if not runs:
            return
        arrays = {
            "seed": np.array([r.seed for r in runs], dtype=np.int64),
            "run_id": np.array(list(run_ids), dtype=str),
            "train_score": np.array([r.train_score for r in runs], float),
            "test_score": np.array([r.test_score for r in runs], float),
            "n_iter": np.array([r.n_iter for r in runs], np.int64),
            "converged": np.array([r.converged for r in runs], bool),
            "process": np.array([r.process or "" for r in runs], dtype=str),
            "fit_seconds": np.array([r.timings.get("fit", np.nan) for r in runs], float),
            "importance_seconds": np.array(
                [r.timings.get("importance", np.nan) for r in runs], float
            ),
        }
        for i in range(len(runs[0].coefs)):
            arrays[f"coef_{i}"] = np.stack([r.coefs[i] for r in runs])
            arrays[f"intercept_{i}"] = np.stack([r.intercepts[i] for r in runs])
        for method, measures in runs[0].importances.items():
            for measure in measures:
                arrays[f"{method}/{measure}"] = np.stack(
                    [r.importances[method][measure] for r in runs]
                )
        self.log_arrays(name, arrays)

    def log_arrays(self, name: str, arrays) -> None:
        """Named arrays as one ``.npz`` artifact ``name`` of the parent (the bundles; the
        randomisation test's null values, :data:`NULL_BUNDLE`)."""
        path = Path(self._tmp.name) / name
        np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})
        self.client.log_artifact(self.run_id, str(path))
