"""A study's parent run in MLflow: finding or creating it, the ledger of its processes' claims,
its results and its end. :class:`Tracker` is the MLflow implementation of
:class:`~study.tracking.storage.Storage`; its child runs are written by ``_children``."""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

from study.tracking import _claims, _sql_fast
from study.tracking._children import Children
from study.tracking._layout import (
    HASH_TAG,
    NAME_KEY_TAG,
    NAME_TAG,
    PROCESS_TAG,
    ROLE_TAG,
    SEEDS_TAG,
    name_key,
    study_filter,
)
from study.tracking._secrets import mask_uri
from study.tracking._store import (
    _client,
    _experiment_id,
    _importance_keys,
    _mlflow,
    flatten,
    resolve_uri,
)
from study.tracking.storage import Storage
from study.training.record import StudyMeta

SETTLE = 2.0  # seconds a new shard waits before converging with shards started with it
RACE_MS = 60_000  # parents created this close together (ms) may be one study's race
BATCH = 1000  # MLflow's most metrics per log_batch


class Tracker(Children, Storage):
    """The storage a study's lifecycle talks to, on MLflow (the contract:
    :class:`~study.tracking.storage.Storage`). Claims are atomic per tag write, races between
    processes are settled on read-back (:mod:`._claims`); ``load_null`` reads the null networks.

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
        machine wait; across machines, :func:`one_parent` settles races)."""
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
        on several machines): after :func:`one_parent`, all of them use one parent (the
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
            winner = one_parent(
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

    def params(self) -> dict[str, str]:
        """The parent's params: the study's flattened config."""
        return dict(self.client.get_run(self.run_id).data.params)

    def set_description(self, markdown: str) -> None:
        """The parent's description in the UI (MLflow's ``mlflow.note.content`` tag, markdown)."""
        _set_shared_tag(self.client, self.run_id, "mlflow.note.content", markdown)  # shards at once

    def page_links(self) -> dict[str, str]:
        """Links for the parent's description, relative to the UI's address (they work on
        ``study-ui`` and on a tracking server alike): the study page, the report, its runs."""
        from study.tracking._ui import ui_path

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
        for i in range(0, len(batch), BATCH):
            self.client.log_batch(self.run_id, metrics=batch[i : i + BATCH])
        for path in tables:
            self.client.log_artifact(self.run_id, str(path))
        for path in charts:
            self.client.log_artifact(self.run_id, str(path), artifact_path="charts")

    def resume(self, run_id: str, meta: StudyMeta, *, run_name: str | None = None) -> list[str]:
        """Attach to the existing parent ``run_id`` to add seeds to it: the parent is RUNNING
        again, and its children left RUNNING by a dead process (of this machine: gone, after a
        SIGKILL or a reboot; of another: without a heartbeat for :data:`~._claims.STALE`
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
        self._dead = _claims.dead_claims(parent.data.tags)
        beats = {p: c["heartbeat"] for p, c in _claims.claims(parent.data.tags).items()}
        # a process writes children only while it holds a claim: one without is dead
        stale = [
            c.info.run_id
            for c in _children(self.client, self.experiment_id, run_id, status="RUNNING")
            if not _claims.alive(p := c.data.tags.get(PROCESS_TAG), beats.get(p, 0.0))
        ]
        for cid in stale:
            self.client.set_terminated(cid, "KILLED")
        return stale

    def converged(self, meta: StudyMeta, ident_hash: str) -> str:
        """The parent shards created at the same moment settle on, for a process that attached
        to a young parent (see :func:`one_parent`): re-attached to it if it is another."""
        winner = one_parent(
            self.client, self.experiment_id, self.run_id, meta.name, ident_hash, created=False
        )
        if winner != self.run_id:
            self.resume(winner, meta)
        return self.run_id

    def claimer(self) -> _claims.Claim:
        """This process's :class:`~._claims.Claim` on the study's seeds."""
        return _claims.Claim(self.client, self.run_id, checked=self._dead)

    def heartbeat(self, claim: _claims.Claim) -> _claims.Heartbeat:
        """Keeps ``claim`` alive while this process trains (a context manager)."""
        return _claims.Heartbeat(claim)

    def finished_elsewhere(self) -> set[int]:
        """Seeds that processes which ended wrote FINISHED, by their settled claims."""
        return _claims.finished_elsewhere(self.client.get_run(self.run_id).data.tags)

    def others_live(self) -> dict[str, set[int]]:
        """Other processes with a live claim on this study: ``{host:pid: seeds}``."""
        return _claims.live_others(self.client, self.run_id)

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


def one_parent(
    client, experiment_id: str, run_id: str, name: str, ident_hash: str, *, created: bool = True
) -> str:
    """After creating the parent ``run_id`` of a study that other processes may be creating at
    the same moment: wait :data:`SETTLE` seconds, then keep the parent with the smallest run id
    among those created in the last minute with this name and settings (every racing process
    sees the same set), delete ours if it lost, and return the winner's id. ``created`` False:
    ``run_id`` is a parent this process found and attached to; if it is that young, it may lose
    the same race, so the same rule is applied (nothing deleted)."""
    ours = client.get_run(run_id)
    if not created and time.time() * 1000 - ours.info.start_time > RACE_MS:
        return run_id  # an established study: no race left to lose
    time.sleep(SETTLE)
    since = ours.info.start_time - RACE_MS
    runs = client.search_runs(
        [experiment_id],
        filter_string=study_filter(name, ident_hash) + f" and attributes.start_time >= {since}",
        max_results=100,
    )
    winner = min([r.info.run_id for r in runs] + [run_id])
    if winner != run_id and created:
        client.delete_run(run_id)
    return winner
