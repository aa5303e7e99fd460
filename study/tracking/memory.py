"""The storage contract (:class:`~study.tracking.storage.Storage`) in memory, for unit tests of a
study's steps (claims, the failure budget, resume) without a store: no MLflow is imported.
Several :class:`MemoryStorage` objects on one :class:`MemoryBackend` are several processes
sharing a store; :meth:`MemoryBackend.kill` makes one of them dead."""

from __future__ import annotations

import contextlib
import itertools
import threading

from study.tracking.storage import Claim, Storage
from study.training.record import StudyRecord

__all__ = ["MemoryBackend", "MemoryClaim", "MemoryStorage"]


class MemoryBackend:
    """What several :class:`MemoryStorage` objects (several "processes") share: parents, their
    children, and each process's claim and liveness. One lock makes every step atomic."""

    def __init__(self):
        self.lock = threading.RLock()
        self.parents: dict[str, dict] = {}  # run id: name, hash, params, status, seeds tag
        self.children: list[dict] = []  # parent, seed, status, process, record
        self.claims: dict[tuple[str, str], dict] = {}  # (parent, process): seeds, done, state
        self.alive: dict[str, bool] = {}  # process: alive
        self._ids = itertools.count()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def kill(self, process: str) -> None:
        """``process`` died: its claims are dead, its RUNNING children orphans."""
        self.alive[process] = False


class MemoryClaim(Claim):
    """A claim held in a :class:`MemoryBackend`: the same rules as MLflow's ledger, each step
    atomic under the backend's lock (so no two processes ever race for a seed)."""

    def __init__(self, storage: MemoryStorage):
        self._st, self._b = storage, storage.backend
        self._key = (storage.run_id, storage.process)
        with self._b.lock:
            self._b.claims.setdefault(self._key, {"seeds": set(), "done": set(), "state": "live"})

    @property
    def _mine(self) -> dict:
        return self._b.claims[self._key]

    def take(self, wanted, done, *, n=None):
        with self._b.lock:
            others = self._st.others_live()
            busy = set().union(*others.values()) if others else set()
            done = set(done) | self._st.finished_elsewhere() | self._st.finished_seeds()
            mine = self._mine["seeds"] | self._mine["done"]
            free = [s for s in wanted if s not in done | mine | busy]
            new = free if n is None else free[:n]
            self._mine["seeds"] |= set(new)
            self._mine["state"] = "live"
            want = set(wanted)
            taken = {p: s & want - done for p, s in others.items()}
            return sorted(new), {p: s for p, s in taken.items() if s}

    def written(self, seeds) -> None:
        with self._b.lock:
            self._mine["done"] |= set(seeds)
            self._mine["seeds"] -= set(seeds)

    def forget(self, seeds) -> None:
        with self._b.lock:
            self._mine["seeds"] -= set(seeds)

    def settle(self, written) -> None:
        with self._b.lock:
            self._mine.update(seeds=set(), state="finished")
            self._mine["done"] |= set(written)

    def refresh(self) -> None:
        with self._b.lock:
            self._b.alive[self._st.process] = True

    def seeds(self) -> set[int]:
        with self._b.lock:
            return set(self._mine["seeds"])


class MemoryStorage(Storage):
    """The storage contract in memory, for unit tests of a study's steps: ``process`` names
    this "process"; storages on one :class:`MemoryBackend` are processes sharing a store."""

    def __init__(self, backend: MemoryBackend | None = None, process: str = "memory:1"):
        self.backend = backend or MemoryBackend()
        self.process, self.uri, self.experiment_id = process, "memory://", "0"
        self.run_id, self.meta, self.bundles = None, None, {}
        self.results: list[dict] = []
        self.backend.alive[process] = True

    # -- find or create
    def lock(self, name: str):
        return self.backend.lock

    def find(self, name, config_hash=None):
        from study.tracking._reader import Found

        with self.backend.lock:
            found = [
                (rid, p)
                for rid, p in self.backend.parents.items()
                if p["name"] == name and config_hash in (None, p["hash"])
            ]
        if not found:
            return None
        rid, p = found[-1]
        return Found(rid, p["hash"], dict(p["params"]))

    def start(self, meta, *, config, config_yaml, dataset, run_name, config_hash, converge=False):
        from study.tracking._store import flatten

        with self.backend.lock:
            self.run_id, self.meta = self.backend.new_id("parent-"), meta
            self.backend.parents[self.run_id] = {
                "name": meta.name,
                "hash": config_hash,
                "params": flatten(config),
                "status": "RUNNING",
                "meta": meta,
            }
        return self.run_id

    def resume(self, run_id, meta, *, run_name=None):
        with self.backend.lock:
            self.run_id, self.meta = run_id, meta
            self.backend.parents[run_id]["status"] = "RUNNING"
            stale = [
                c
                for c in self.backend.children
                if c["parent"] == run_id
                and c["status"] == "RUNNING"
                and not self.backend.alive.get(c["process"], False)
            ]
            for c in stale:
                c["status"] = "KILLED"
            return [c["id"] for c in stale]

    def converged(self, meta, ident_hash):
        return self.run_id

    def set_seeds_tag(self, first, n_runs):
        with self.backend.lock:
            self.backend.parents[self.run_id]["seeds"] = (first, n_runs)

    # -- claims
    def claimer(self) -> MemoryClaim:
        return MemoryClaim(self)

    def heartbeat(self, claim):
        return contextlib.nullcontext(claim)

    def _claims(self) -> dict[str, dict]:
        return {p: c for (rid, p), c in self.backend.claims.items() if rid == self.run_id}

    def finished_elsewhere(self) -> set[int]:
        with self.backend.lock:
            every = self._claims().items()
            ended = [c["done"] for p, c in every if p != self.process and c["state"] == "finished"]
            return set().union(set(), *ended)

    def finished_seeds(self) -> set[int]:
        """Seeds with a FINISHED child (MLflow's ledger looks these up for dead processes)."""
        with self.backend.lock:
            return {
                c["seed"]
                for c in self.backend.children
                if c["parent"] == self.run_id and c["status"] == "FINISHED"
            }

    def others_live(self) -> dict[str, set[int]]:
        with self.backend.lock:
            return {
                p: set(c["seeds"])
                for p, c in self._claims().items()
                if p != self.process and c["state"] == "live" and self.backend.alive.get(p)
            }

    # -- children
    def _child(self, seed: int, status: str, record) -> str:
        with self.backend.lock:
            cid = self.backend.new_id("child-")
            self.backend.children.append(
                {
                    "id": cid,
                    "parent": self.run_id,
                    "seed": seed,
                    "status": status,
                    "process": self.process,
                    "record": record,
                }
            )
            return cid

    def log_runs(self, runs) -> list[str]:
        return [self._child(r.seed, "FINISHED", r) for r in runs]

    def log_failed(self, failed) -> str:
        return self._child(failed.seed, "FAILED", failed)

    def log_bundle(self, runs, run_ids) -> None:
        self.bundles["bundle"] = list(zip(runs, run_ids))

    def log_arrays(self, name: str, arrays) -> None:
        self.bundles[name] = dict(arrays)

    def load(self, *, known=()) -> StudyRecord:
        from study.training.resample import is_resample

        with self.backend.lock:
            first = {}
            for c in self.backend.children:  # each seed once: its first FINISHED child
                if c["parent"] == self.run_id and c["status"] == "FINISHED":
                    first.setdefault(c["seed"], c)
            meta = self.backend.parents[self.run_id]["meta"]
        records = []
        for _, c in sorted(first.items()):
            c["record"].run_id = c["id"]
            records.append(c["record"])
        return StudyRecord(
            meta,
            [r for r in records if not is_resample(r.seed)],
            run_id=self.run_id,
            experiment_id=self.experiment_id,
            resamples=[r for r in records if is_resample(r.seed)],
        )

    # -- results and status
    def log_results(self, *, metrics=None, tables=(), charts=(), series=None) -> None:
        self.results.append(dict(metrics=metrics, tables=tables, charts=charts, series=series))

    def finish(self, status="FINISHED", *, quiet=False, claim=None, written=(), complete=True):
        if self.run_id is None:
            return False
        if claim is not None:
            claim.settle(written)
        with self.backend.lock:
            if (complete or status != "FINISHED") and not self.others_live():
                self.backend.parents[self.run_id]["status"] = status
                return True
        return False

    def status(self) -> str:
        """The parent's status."""
        return self.backend.parents[self.run_id]["status"]

    def children(self, status: str | None = None) -> list[int]:
        """The seeds of the parent's children (with ``status``), one entry per child."""
        with self.backend.lock:
            return sorted(
                c["seed"]
                for c in self.backend.children
                if c["parent"] == self.run_id and status in (None, c["status"])
            )
