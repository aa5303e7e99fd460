"""The storage a study's lifecycle talks to: the contract (:class:`Storage`). An in-memory
storage keeps it for unit tests of the lifecycle's logic (:mod:`study.tracking.memory`).

The MLflow implementation is :class:`~study.tracking.Tracker`. A
:class:`~study.lifecycle.study.Study` sees nothing else: run ids,
:class:`~study.training.record.StudyRecord` and plain values come back, never a store's own
objects.

The contract (as optuna's ``BaseStorage`` states its own):

- **Thread safety.** One storage object belongs to one process. Its background writer
  (:meth:`Storage.writer`) and heartbeat (:meth:`Storage.heartbeat`) threads call it while the
  process trains; every method may be called from them.
- **Who owns a RUNNING child.** Only the process that claimed a seed writes its child, and it
  writes it FINISHED (or FAILED) in one step from a finished record: a child is never left
  RUNNING by a live process. A child RUNNING under a dead process (no heartbeat for
  :data:`~study.tracking.STALE` seconds) is ended KILLED by whoever attaches next
  (:meth:`Storage.resume`).
- **Consistency.** A seed claimed by a live process, or with a FINISHED child, is not trained
  again; two processes claiming one seed at once both see both claims when they read back, and
  the earlier keeps it (:meth:`Claim.take`). :meth:`Storage.load` counts each seed once, however
  often it was written. A process that ends settles its claim into the seeds it wrote FINISHED
  before it reads the study back, so the last process to read has every seed anyone wrote.
- **Finishing.** The parent ends only when no other live process holds a claim, and ends
  FINISHED only when the study has all its seeds (:meth:`Storage.finish`).
"""

from __future__ import annotations

import abc

from study.tracking._background import ChildWriter
from study.training.record import StudyMeta, StudyRecord

__all__ = ["Storage", "Claim"]


class Claim(abc.ABC):
    """One process's claim on a study's seeds (see :mod:`study.tracking._claims` for MLflow's)."""

    @abc.abstractmethod
    def take(self, wanted, done, *, n: int | None = None) -> tuple[list[int], dict[str, set[int]]]:
        """Claim up to ``n`` (None: all) seeds of ``wanted``, in its order, that are not ``done``,
        not ours and not another live process's. Returns the seeds taken now and the other live
        processes' claims on ``wanted`` (``{process: seeds}``)."""

    @abc.abstractmethod
    def written(self, seeds) -> None:
        """Seeds this process wrote FINISHED: done, never claimed again by anyone."""

    @abc.abstractmethod
    def forget(self, seeds) -> None:
        """Seeds this process gave up (they failed): free again, for a resume to retry."""

    @abc.abstractmethod
    def settle(self, written) -> None:
        """Training ends: the claim becomes the seeds this process wrote FINISHED."""

    @abc.abstractmethod
    def refresh(self) -> None:
        """The heartbeat: this process is alive."""


class Storage(abc.ABC):
    """Where a study lives, as :class:`~study.lifecycle.study.Study` uses it (see the module's
    contract). ``run_id`` is the parent run's once :meth:`start` or :meth:`resume` ran."""

    uri: str
    experiment_id: str
    run_id: str | None = None
    meta: StudyMeta | None = None

    # -- find or create a study
    @abc.abstractmethod
    def lock(self, name: str):
        """A context manager held while this process finds or creates study ``name``."""

    @abc.abstractmethod
    def find(self, name: str, config_hash: str | None = None):
        """The latest parent of study ``name`` (with these settings when ``config_hash`` is
        given) as :class:`~study.tracking.Found`, or None."""

    @abc.abstractmethod
    def start(
        self, meta: StudyMeta, *, config, config_yaml, dataset, run_name, config_hash, converge
    ) -> str:
        """Create the study's parent (``converge``: settle a race with other machines on one)."""

    @abc.abstractmethod
    def resume(self, run_id: str, meta: StudyMeta, *, run_name: str | None = None) -> list[str]:
        """Attach to parent ``run_id``; dead processes' RUNNING children end KILLED (returned)."""

    @abc.abstractmethod
    def converged(self, meta: StudyMeta, ident_hash: str) -> str:
        """The parent that shards created at the same moment settle on (re-attached to it)."""

    @abc.abstractmethod
    def set_seeds_tag(self, first: int, n_runs: int) -> None:
        """The seeds the latest process asked for (what the reader reports as missing)."""

    # -- claim seeds
    @abc.abstractmethod
    def claimer(self) -> Claim:
        """This process's claim on the study's seeds."""

    @abc.abstractmethod
    def heartbeat(self, claim: Claim):
        """A context manager that keeps ``claim`` alive while this process trains."""

    @abc.abstractmethod
    def finished_elsewhere(self) -> set[int]:
        """Seeds that processes which ended wrote FINISHED."""

    @abc.abstractmethod
    def others_live(self) -> dict[str, set[int]]:
        """Other processes with a live claim on this study: ``{process: seeds}``."""

    # -- add runs and read them back
    @abc.abstractmethod
    def log_runs(self, runs) -> list[str]:
        """One FINISHED child per record; their run ids, in order."""

    @abc.abstractmethod
    def log_failed(self, failed) -> str:
        """A FAILED child for a seed that raised; its run id."""

    def writer(self, *, max_batch: int = 64, on_written=None) -> ChildWriter:
        """A background writer of this study's children (:class:`~study.tracking.ChildWriter`);
        ``on_written(seeds)`` after each batch is in the store."""
        return ChildWriter(self, max_batch=max_batch, on_written=on_written)

    @abc.abstractmethod
    def log_bundle(self, runs, run_ids) -> None:
        """Every seed's numbers in one parent artifact (what :meth:`load` reads first)."""

    @abc.abstractmethod
    def log_arrays(self, name: str, arrays) -> None:
        """Named arrays as one parent artifact ``name``."""

    @abc.abstractmethod
    def load(self, *, known=()) -> StudyRecord:
        """The attached study's record: every seed once (``known``: records already read)."""

    # -- results and status
    @abc.abstractmethod
    def log_results(self, *, metrics=None, tables=(), charts=(), series=None) -> None:
        """Study-level metrics and series, tables and charts, on the parent."""

    @abc.abstractmethod
    def finish(self, status="FINISHED", *, quiet=False, claim=None, written=(), complete=True):
        """Settle ``claim`` and end the parent with ``status`` unless another live process
        still holds a claim, or (FINISHED) the study is not ``complete``. Returns whether the
        parent ended; ``quiet``: the store may be gone, errors are swallowed."""
