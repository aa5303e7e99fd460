"""Writing a study: the parent run, one child run per seed, and the study's results."""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from study.tracking import _ledger, _sql_fast
from study.tracking._background import ChildWriter
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
    SEEDS_TAG,
    name_key,
)
from study.tracking._ledger import PROCESS  # host:pid, on our children
from study.tracking._secrets import mask_uri
from study.tracking._store import (
    _client,
    _experiment_id,
    _importance_keys,
    _mlflow,
    child_name,
    child_params,
    flatten,
    resolve_uri,
)
from study.training.record import RunRecord, StudyMeta
from study.training.resample import index, is_resample

_SCALARS = (
    "train_score",
    "test_score",
    "n_iter",
    "converged",
    "fit_seconds",
    "importance_seconds",
)  # a child's first metrics (Tracker.metric_values)


# ---------------------------------------------------------------------------------------------
# writing


class Tracker:
    """The storage a study's lifecycle talks to (:mod:`study.lifecycle.steps`): MLflow behind one
    object.

    The contract, as the lifecycle uses it:

    - **find or create** a study: :meth:`lock` (this machine's processes wait), :meth:`find` (by
      name and settings hash), :meth:`start` (a new parent; ``converge`` settles a race between
      machines on one parent) or :meth:`resume` (attach; children left RUNNING by dead processes
      end KILLED), :meth:`converged`;
    - **claim** seeds: :meth:`claimer` and :meth:`heartbeat` (see :mod:`._ledger`: claims are
      atomic per tag write, races between processes are settled on read-back), and
      :meth:`finished_elsewhere`, :meth:`others_live`;
    - **add runs**: :meth:`writer` (a background thread; FINISHED or FAILED children, never left
      RUNNING), :meth:`log_runs`, :meth:`log_failed`, :meth:`log_bundle`;
    - **read back**: :meth:`load` (each seed once), and ``load_null`` for the null networks;
    - **results and status**: :meth:`log_results`, :meth:`log_artifact`, :meth:`finish` (the
      parent ends only when no other live process holds a claim).

    Nothing MLflow leaves this package: what the lifecycle gets back are run ids, records and
    plain values. Errors of a store that stopped answering are recognised by
    :func:`~._store.is_store_error`.
    """

    def __init__(
        self,
        uri: str,
        experiment: str | None = None,
        *,
        run_id: str | None = None,
        artifacts: Path | None = None,
    ):
        """Open ``experiment`` (created if new) for a new study, or attach to the existing parent
        run ``run_id`` (``study-aggregate`` logs its results there). ``artifacts``: the folder
        of a new experiment's artifacts on a database other than SQLite (see ``_artifact_root``).
        """
        self.uri = resolve_uri(uri)
        self.experiment = experiment
        self.client = _client(self.uri)
        if run_id is None:
            self.experiment_id = _experiment_id(self.client, experiment, self.uri, artifacts)
        else:
            self.experiment_id = self.client.get_run(run_id).info.experiment_id
        self.run_id = run_id
        self.meta: StudyMeta | None = None
        self._keys = None
        self._sql = _sql_fast.sql_store(self.client)
        self._tmp = tempfile.TemporaryDirectory(prefix="study-")
        self._artifact_root: str | None = None
        self._hash: str | None = None  # the study's settings hash, tagged on every child
        self._dataset = None  # the parent's dataset (an MLflow Dataset), an input of every child
        self._dataset_uuid = None  # the dataset's row in the SQL store (the fast path)
        self._last_start = 0  # ms: the latest child's start (see child_times)
        self._dead: set[str] = set()  # processes dead when this one attached (see resume)

    def attach(self, meta: StudyMeta) -> None:
        """Use ``meta``'s layout for the child runs written from now on."""
        self.meta = meta
        self._keys = list(_importance_keys(meta))

    # -- finding a study ------------------------------------------------------------------

    def find(self, name: str, config_hash: str | None = None):
        """The latest parent of study ``name`` in this experiment (with these settings when
        ``config_hash`` is given) as :class:`~._reader.Found`, or None."""
        from study.tracking._reader import find_resumable

        return find_resumable(self.uri, self.experiment, name, config_hash)

    def lock(self, name: str):
        """Held while this process finds or creates study ``name`` (other processes of this
        machine wait; across machines, :func:`~._ledger.converge` settles races)."""
        from study.tracking._store import study_lock

        return study_lock(self.uri, self.experiment, name)

    def load(self, *, known=()):
        """The attached study's record from the store: every seed once (see ``_reader``)."""
        from study.tracking._reader import load_study

        return load_study(self.uri, self.run_id, known=known)

    # -- writing the parent ---------------------------------------------------------------

    def start(
        self,
        meta: StudyMeta,
        *,
        config: Mapping,
        config_yaml: str,
        dataset,
        run_name,
        config_hash: str | None = None,
        converge: bool = False,
    ):
        """Create the parent run and log the config, the study layout and the
        dataset. ``converge``: other processes may create this study at the same moment (shards
        on several machines): after :func:`~._ledger.converge`, all of them use one parent (the
        others' are deleted), and only its creator logs the rest."""
        mlflow = _mlflow()
        from mlflow.entities import DatasetInput, InputTag, Param, RunTag

        self.attach(meta)
        tags = {
            ROLE_TAG: "study",
            NAME_TAG: meta.name,
            NAME_KEY_TAG: name_key(meta.name),
            **({HASH_TAG: config_hash} if config_hash else {}),
        }
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self.run_id, self._hash = run.info.run_id, config_hash
        if converge:  # shards created at the same moment on several machines: keep one parent
            winner = _ledger.converge(
                self.client, self.experiment_id, self.run_id, meta.name, tags.get(HASH_TAG, "")
            )
            if winner != self.run_id:
                self.resume(winner, meta, run_name=run_name)
                return self.run_id
        # the store is read by everyone with access to it: no password of a URI in it
        params = [Param(k, mask_uri(v)) for k, v in flatten(config).items()]
        tags = [RunTag("study.dataset", meta.dataset), RunTag("study.task", meta.task)]
        self.client.log_batch(self.run_id, params=params, tags=tags)
        self.client.log_text(self.run_id, mask_uri(config_yaml), "config.yaml")
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
        self._dataset = entity
        tag = InputTag(key="mlflow.data.context", value="training")
        inputs = [DatasetInput(dataset=entity, tags=[tag])]
        try:
            self.client.log_inputs(self.run_id, datasets=inputs)
        except mlflow.exceptions.MlflowException:
            # two studies logging the same new dataset at the same moment: one insert of its row
            # wins (PostgreSQL: UniqueViolation on dataset_pk); the row exists now, link to it
            time.sleep(0.5)
            self.client.log_inputs(self.run_id, datasets=inputs)
        return self.run_id

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
        its
        ``seed`` param, its error in the tag ``study.error`` and the traceback in ``error.txt``.
        Returns the child run id."""
        child = self.client.create_run(
            self.experiment_id,
            run_name=child_name(failed.seed),
            tags={
                PARENT_TAG: self.run_id,
                ROLE_TAG: "seed",
                ERROR_TAG: failed.error[:5000],
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

    def writer(self, *, max_batch: int = 64, on_written=None) -> ChildWriter:
        """A :class:`ChildWriter` that writes this study's child runs in the background;
        ``on_written(seeds)`` after each batch is in the store."""
        return ChildWriter(self, max_batch=max_batch, on_written=on_written)

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

    def params(self) -> dict[str, str]:
        """The parent's params: the study's flattened config."""
        return dict(self.client.get_run(self.run_id).data.params)

    def set_description(self, markdown: str) -> None:
        """The parent's description in the UI (MLflow's ``mlflow.note.content`` tag, markdown)."""
        _set_shared_tag(self.client, self.run_id, "mlflow.note.content", markdown)  # shards at once

    def page_links(self) -> dict[str, str]:
        """Links for the parent's description, relative to the UI's address (they work on
        ``study-ui`` and on a tracking server alike): the study page, the report, its runs."""
        from study.tracking._store import ui_path

        name = (
            self.meta.name
            if self.meta is not None
            else self.client.get_run(self.run_id).data.tags.get(NAME_TAG, "")
        )
        run = f"#/experiments/{self.experiment_id}/runs/{self.run_id}"
        q = "?workflowType=machine_learning"  # else the UI switches to its GenAI view
        return {
            "Overview page (overview.html)": f"{run}/artifacts/overview.html{q}",
            "Full report (report.txt)": f"{run}/artifacts/report.txt{q}",
            "Every run of this study": "#" + ui_path(self.experiment_id, study=name),
        }

    def log_artifact(self, path, artifact_path: str | None = None) -> None:
        """One file on the parent run."""
        self.client.log_artifact(self.run_id, str(path), artifact_path=artifact_path)

    def log_results(
        self, *, metrics: Mapping[str, float] | None = None, tables=(), charts=(), series=None
    ):
        """Study-level metrics and ``series`` (``{name: [(step, value), ...]}``, shown as curves in
        the UI) in one log_batch; ``tables`` (CSV files) at the top of the parent's artifacts and
        ``charts`` (PNG files) under ``charts/``."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()]
        for name, points in (series or {}).items():
            batch += [Metric(name, float(v), now, int(step)) for step, v in points]
        for i in range(0, len(batch), 1000):  # MLflow's limit per log_batch
            self.client.log_batch(self.run_id, metrics=batch[i : i + 1000])
        for path in tables:
            self.client.log_artifact(self.run_id, str(path))
        for path in charts:
            self.client.log_artifact(self.run_id, str(path), artifact_path="charts")

    def resume(self, run_id: str, meta: StudyMeta, *, run_name: str | None = None) -> list[str]:
        """Attach to the existing parent ``run_id`` to add seeds to it: the parent is RUNNING
        again, and its children left RUNNING by a dead process (of this machine: gone, after a
        SIGKILL or a reboot; of another: without a heartbeat for :data:`~._ledger.STALE`
        seconds, or without a claim) are ended KILLED; those of live processes are left alone.
        Returns the ids of the children ended KILLED."""
        from study.tracking._reader import _children

        self.attach(meta)
        self.run_id = run_id
        parent = self.client.get_run(run_id)
        self.experiment_id = parent.info.experiment_id
        self._hash = parent.data.tags.get(HASH_TAG)
        self._dataset = (
            next((d.dataset for d in parent.inputs.dataset_inputs), None) if parent.inputs else None
        )
        self.client.update_run(run_id, status="RUNNING", name=run_name)
        # what they wrote is in the store now: whoever reads it next need not look again
        self._dead = _ledger.dead_claims(parent.data.tags)
        beats = {p: c["heartbeat"] for p, c in _ledger.claims(parent.data.tags).items()}
        # a process writes children only while it holds a claim: one without is dead
        stale = [
            c.info.run_id
            for c in _children(self.client, self.experiment_id, run_id, status="RUNNING")
            if not _ledger.alive(p := c.data.tags.get(PROCESS_TAG), beats.get(p, 0.0))
        ]
        for cid in stale:
            self.client.set_terminated(cid, "KILLED")
        return stale

    def converged(self, meta: StudyMeta, ident_hash: str) -> str:
        """The parent shards created at the same moment settle on, for a process that attached
        to a young parent (see :func:`._ledger.converge`): re-attached to it if it is another."""
        winner = _ledger.converge(
            self.client, self.experiment_id, self.run_id, meta.name, ident_hash, created=False
        )
        if winner != self.run_id:
            self.resume(winner, meta)
        return self.run_id

    def claimer(self) -> _ledger.Claim:
        """This process's :class:`~._ledger.Claim` on the study's seeds."""
        return _ledger.Claim(self.client, self.run_id, checked=self._dead)

    def heartbeat(self, claim: _ledger.Claim) -> _ledger.Heartbeat:
        """Keeps ``claim`` alive while this process trains (a context manager)."""
        return _ledger.Heartbeat(claim)

    def finished_elsewhere(self) -> set[int]:
        """Seeds that processes which ended wrote FINISHED, by their settled claims."""
        return _ledger.finished_elsewhere(self.client.get_run(self.run_id).data.tags)

    def others_live(self) -> dict[str, set[int]]:
        """Other processes with a live claim on this study: ``{host:pid: seeds}``."""
        return _ledger.live_others(self.client, self.run_id)

    def set_seeds_tag(self, first: int, n_runs: int) -> None:
        """The seeds the latest process asked for (``study.seeds``: what the reader reports as
        missing)."""
        _set_shared_tag(self.client, self.run_id, SEEDS_TAG, f"{first}:{n_runs}")

    def finish(
        self,
        status: str = "FINISHED",
        *,
        quiet: bool = False,
        claim=None,
        written=(),
        complete: bool = True,
    ) -> bool:
        """Settle this process's ``claim`` (the seeds it ``written`` FINISHED stay taken) and end
        the parent with ``status`` (FINISHED, FAILED or KILLED); the parent stays RUNNING while
        another process still holds a live claim (the last one ends it), and is not FINISHED
        unless the study is ``complete`` (it has all its seeds). Returns whether the parent was
        ended. ``quiet``: the store may be gone; errors are swallowed."""
        ended = False
        try:
            if self.run_id is not None:
                if claim is not None:
                    claim.settle(written)
                if (complete or status != "FINISHED") and not self.others_live():
                    self.client.set_terminated(self.run_id, status)
                    ended = True
        except Exception:  # noqa: BLE001
            if not quiet:
                raise
        finally:
            self._tmp.cleanup()
        return ended


def _set_shared_tag(client, run_id: str, key: str, value: str) -> None:
    """A tag that several processes of one study may set at the same moment. MLflow's SQL store
    inserts a new tag after looking for it, so the second of two simultaneous first writes fails
    (UNIQUE constraint on tags); the tag exists then, and writing again updates it."""
    for attempt in range(3):
        try:
            client.set_tag(run_id, key, value)
            return
        except _mlflow().exceptions.MlflowException:
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))
