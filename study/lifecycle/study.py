"""A study in its store, as one process adds to it: open -> claim -> train -> gather -> train
null -> retrain -> finish.

A :class:`Study` works over a storage (:class:`~study.tracking.storage.Storage`; MLflow's by
default, :mod:`study.tracking.memory` in unit tests) by its contract: it finds or creates its
parent run by name and settings hash, claims the seeds nobody else has or trains (a chunk at a
time), trains them (each finished seed goes to a local :class:`~study.lifecycle.journal.Journal`
before the store), stops when more seeds fail than ``study.max_failures`` allows, and reads the
study back. :func:`study.lifecycle.run.run` drives the steps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from study import datasets, tracking
from study.analysis.randomisation import nullnets
from study.config import identity
from study.config.settings import Settings
from study.errors import SeedsFailed, StudyError
from study.escape import for_terminal
from study.lifecycle.auto import auto_runs
from study.lifecycle.journal import Journal
from study.lifecycle.prepare import Prepared
from study.lifecycle.publish import write_tables
from study.tracking.storage import Claim, Storage
from study.training import runner
from study.training.record import FailedRun, StudyMeta, StudyRecord
from study.training.resample import index, is_resample

__all__ = ["Study", "Trained", "failures_line", "ids_to_train"]

# seeds claimed at a time: at least CHUNK_LEAST (full blocks of the batched backend for every
# worker), and at most an eighth of the study's (processes started together share its seeds)
CHUNK_LEAST, CHUNKS = 64, 8


@dataclass
class Trained:
    """What this process trained (or took from the journal), and what failed."""

    runs: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    from_journal: int = 0
    timings: dict = field(default_factory=dict)
    score_sum: float = 0.0  # of the finite test scores of ``runs`` (the progress bar's mean)
    score_n: int = 0


class Study:
    """One study in the tracking store, as this process adds to it."""

    def __init__(self, prep: Prepared, output_dir: Path, storage: Storage | None = None):
        """``storage``: where the study lives (:class:`~study.tracking.storage.Storage`); by
        default the MLflow store of its settings."""
        self.prep, self.settings, self.meta = prep, prep.settings, prep.meta
        self.output_dir = output_dir
        self.tracker = storage or tracking.Tracker(
            self.settings.tracking_uri,
            self.settings.experiment,
            artifacts=self.settings.root / "artifacts",
        )
        self.previous: list = []  # the seeds the store had when this process attached
        self.warm = None  # the thread starting the worker processes (runner.warm_up)
        self.written: list[int] = []  # the seeds this process wrote FINISHED
        self.missing: list[int] = []  # the study's seeds not in the store when it was read back
        self.holders: dict[str, set[int]] = {}  # other live processes then, and their seeds
        self.resume_command: str | None = None  # the command line that goes on (study-run's)
        self._uploaded: set[int] = set()  # seeds taken from a journal, not trained
        self.auto_line = ""  # study.n_runs=auto: why it stopped, or why it goes on
        # set by claim(): this process's claim, the seeds it wants and those done, its first
        # chunk, and how many seeds it expects to train (the progress bar's total)
        self._claim: Claim | None = None
        self._wanted: list[int] = []
        self._done: set[int] = set()
        self._first: list[int] = []
        self._expected = 0

    @property
    def run_id(self) -> str:
        return self.tracker.run_id

    # -- open ----------------------------------------------------------------------------------

    def open(self) -> None:
        """Find this study (same name and settings) and attach, or create it. Another study of
        this name with other settings is refused, naming the keys that differ."""
        s, meta, store = self.settings, self.meta, self.tracker
        with store.lock(meta.name) if self.prep.shared else contextlib.nullcontext():
            found = store.find(meta.name, self.prep.config_hash) if self.prep.shared else None
            if found is None:
                self._refuse_other_settings()
                store.start(
                    meta,
                    config=self.prep.cfg,
                    config_yaml=self.prep.config_yaml,
                    dataset=self.prep.dataset,
                    run_name=self._run_name(),
                    config_hash=self.prep.config_hash,
                    converge=s.n_shards > 1,
                )
            else:
                self.tracker.resume(found.run_id, meta, run_name=self._run_name())
                if s.n_shards > 1:  # a parent other shards may still be converging on
                    self.tracker.converged(meta, self.prep.config_hash)
        self.tracker.set_seeds_tag(s.seed, s.n_runs)
        if found is not None:  # a new study (ours, or a shard's that won converge) has no seeds
            found_record = store.load()
            self.previous = found_record.runs + found_record.resamples

    def _refuse_other_settings(self) -> None:
        """A study of this name with other settings: resuming or sharding it, or naming a new one
        the same, would mix two studies (and hide the first from study.resume)."""
        s = self.settings
        if not (self.prep.shared or s.name):
            return  # a default name (<dataset>-<model>) is a label, not a promise
        other = self.tracker.find(self.meta.name)
        if other is None or other.config_hash == self.prep.config_hash:
            return
        diff = identity.differences(self.prep.ident, other.params)
        raise StudyError(
            f"study {self.meta.name!r} (run {other.run_id}) was run with other settings "
            f"({'; '.join(diff[:6]) or 'its config hash differs'}"
            f"{'; ...' if len(diff) > 6 else ''})"
            "; set them back, or choose another study.name"
        )

    def _run_name(self) -> str:
        # presets name the study after the question; the dataset tells their sweeps apart
        name, ds = self.meta.name, self.prep.dataset.name
        runs = "auto" if self.settings.auto_runs else self.settings.n_runs
        return f"{name}{'' if ds in name else f' · {ds}'} · {runs} runs"

    # -- claim ---------------------------------------------------------------------------------

    def claim(self) -> list:
        """Claim this process's first chunk of seeds, and the journalled runs of dead processes
        it uploads instead of training them (returned). Refuses in one line when every seed it
        wanted is being trained by other live processes."""
        s = self.settings
        self._done = {r.seed for r in self.previous}
        self._wanted = ids_to_train(s)
        self._claim = self.tracker.claimer()
        self._claim.written(self.written)  # an earlier round's (study.n_runs=auto)
        self._done |= self.tracker.finished_elsewhere()
        wanted = set(self._wanted)
        journal = [
            r for r in Journal(s.root, self.run_id).runs(besides=self._done) if r.seed in wanted
        ]
        kept, _ = self._claim.take([r.seed for r in journal], self._done)
        self._uploaded = set(kept)
        self._first, taken = self._claim.take(self._wanted, self._done, n=self._chunk())
        if taken and not kept and not self._first:
            procs = "; ".join(f"{p}: seeds {tracking.seed_ranges(v)}" for p, v in taken.items())
            raise StudyError(
                f"study {self.meta.name!r} is being trained by another live process ({procs}); "
                "nothing is left for this one: let it finish (it writes the tables), or ask for "
                "more seeds with study.n_runs"
            )
        busy = set().union(*taken.values()) if taken else set()
        self._expected = len([x for x in self._wanted if x not in self._done and x not in busy])
        return [r for r in journal if r.seed in set(kept)]

    def _chunk(self) -> int:
        """Seeds claimed at a time: enough for full blocks of the batched backend and every
        worker, few enough that processes started together share a study's seeds."""
        return max(CHUNK_LEAST, -(-len(self._wanted) // CHUNKS))

    def _pulled(self):
        """The records of the seeds this process claims, a chunk at a time, until none is left.

        A study nobody else was asked to join (no resume, no shards) claims its next chunk
        while this one trains: a claim is a tag write and a read-back that wait for the store,
        which the background writer keeps busy (the workers waited 0.3 s a chunk for it, 2.7 s
        of a 1000-seed study). Processes that share a study claim a chunk when they need one,
        so that those started together split its seeds."""
        from concurrent.futures import ThreadPoolExecutor

        def take(done):
            return self._claim.take(self._wanted, done, n=self._chunk())[0]

        seeds = self._first
        if self.warm is not None:
            self.warm.join()
        with ThreadPoolExecutor(1, thread_name_prefix="study-claim") as pool:
            while seeds:
                ahead = (
                    None if self.prep.shared else pool.submit(take, set(self._done) | set(seeds))
                )
                # seeds taken over from a process that died here may be in its journal
                journalled = Journal(self.settings.root, self.run_id).runs(only=seeds)
                self._uploaded.update(r.seed for r in journalled)
                yield from journalled
                rest = [x for x in seeds if x not in self._uploaded]
                yield from runner.run_many(
                    self.prep.plan, rest, n_jobs=self.settings.n_jobs, keep_going=True
                )
                seeds = ahead.result() if ahead is not None else take(self._done)

    # -- train ---------------------------------------------------------------------------------

    def train(self, journalled: list) -> Trained:
        """Train the seeds this process claims (and hand the ``journalled`` runs to the store):
        each finished seed goes to the journal, then to the background writer. The failure
        budget stops the study; a store that stops answering stops it within seconds."""
        s, out = self.settings, Trained()
        journal, t_log = Journal(s.root, self.run_id), 0.0
        with (
            _progress(s, self.meta, self._expected) as bar,
            self.tracker.heartbeat(self._claim),
            self.tracker.writer(on_written=self._claim.written) as writer,
        ):
            for rec in itertools.chain(journalled, self._pulled()):
                runner.check_stop()  # an interrupted fit returns early: never log that seed
                t0 = time.perf_counter()
                if not isinstance(rec, FailedRun) and rec.seed not in self._uploaded:
                    journal.add(rec)  # before the store: nothing trained is lost if it fails
                writer.submit(rec)
                t_log += time.perf_counter() - t0
                self._count(rec, out, bar, writer)
            t_wait = time.perf_counter()
            run_ids = writer.close()
            out.timings = {
                "log_seconds": t_log,
                "writer_wait_seconds": time.perf_counter() - t_wait,
                "writer_busy_seconds": writer.busy_seconds,
            }
        for rec in out.runs:
            rec.run_id = run_ids[rec.seed]
        self.written = sorted(set(self.written) | set(run_ids))
        out.from_journal = len(self._uploaded & set(run_ids))
        # settled before the study is read back (see _claims: Finishing)
        self._claim.settle(self.written)
        if out.failed and not out.runs and not self.previous:
            raise SeedsFailed(failures_line(out.failed, s.n_runs, s.n_resamples))
        return out

    def _count(self, rec, out: Trained, bar, writer) -> None:
        self._done.add(rec.seed)  # not claimed again by this process, trained or failed
        if isinstance(rec, FailedRun):
            self._claim.forget([rec.seed])  # logged as a FAILED child; the others go on
            out.failed.append(rec)
            if len(out.failed) > self.settings.max_failures:
                writer.close()
                raise SeedsFailed(
                    failures_line(
                        out.failed,
                        len(out.failed),
                        self.settings.n_resamples,
                        stopped=True,
                        limit=self.settings.max_failures,
                    )
                )
        else:
            out.runs.append(rec)
            if np.isfinite(rec.test_score):  # a running mean: the bar's cost stays per seed
                out.score_sum, out.score_n = out.score_sum + rec.test_score, out.score_n + 1
            mean = out.score_sum / out.score_n if out.score_n else float("nan")
            bar.set_postfix_str(f"mean test {self.meta.score_name} {mean:.3f}", refresh=False)
        bar.update()

    def gather(self, trained: Trained) -> StudyRecord:
        """Every seed of the study in the store (this process's, earlier ones', other shards'),
        each once; the bundle is written anew when this process added seeds. Sets
        :attr:`missing` (the study's seeds the store lacks, those that failed here aside) and
        :attr:`holders` (the other processes live then, with their claims)."""
        everything = sorted(self.previous + trained.runs, key=lambda r: r.seed)
        if self.prep.shared:  # and whatever other processes finished meanwhile
            now = self.tracker.load(known=everything)
            everything = now.runs + now.resamples
        if trained.runs or not self.previous:
            self.tracker.log_bundle(everything, [r.run_id for r in everything])
        # read in this order: a process not live now has written all it will
        self.holders = self.tracker.others_live()
        record = self.tracker.load()
        Journal(self.settings.root, self.run_id).clear(in_store=record.ids)
        s, have = self.settings, set(record.ids) | {f.seed for f in trained.failed}
        self.missing = [x for x in ids_to_train(s, every=True) if x not in have]
        return record

    def more_seeds(self, record: StudyRecord) -> bool:
        """``study.n_runs=auto``: whether the study needs more seeds (then :attr:`settings` asks
        for them, and the next :meth:`claim` takes them), with the reason in :attr:`auto_line`."""
        s = self.settings
        n, self.auto_line = auto_runs(s, record)
        if n is None:
            return False
        print(
            f"study.n_runs=auto: {self.auto_line}; training {n - len(record.runs)} more seeds "
            f"({n} in all)",
            file=sys.stderr,
            flush=True,
        )
        self.settings = dataclasses.replace(s, n_runs=n)
        self.prep = dataclasses.replace(self.prep, settings=self.settings)
        self.previous = record.runs + record.resamples
        self.tracker.set_seeds_tag(s.seed, n)
        return True

    def train_null(self, record: StudyRecord) -> nullnets.NullTest | None:
        """The randomisation test (None when it is off): the null networks for the seeds of
        ``record`` its design tests, and its settings with the chance score; logged as the
        parent's null bundle."""
        test = dict(self.settings.randomisation)
        if not test.get("n_permutations"):
            return None
        from study.analysis import randomisation

        def bars(n, desc, **kw):
            return _progress(self.settings, self.meta, n, desc, **kw)

        null = nullnets.train_for_study(self.settings, self.prep.plan, record, bars)
        ds, plan = self.prep.dataset, self.prep.plan
        y_train = datasets.split(ds, test_size=plan.test_size, seed=self.settings.seed).y_train
        test["chance"] = randomisation.chance_score(y_train, ds.task)
        keep = ("permute", "init", "tested", "alternative", "alpha", "chance", "seed")
        self.tracker.log_arrays(
            tracking.NULL_BUNDLE,
            {**null.arrays(), **{f"extra/{k}": np.asarray(test[k]) for k in keep}},
        )
        return nullnets.NullTest(null, test)

    def retrain(self, record: StudyRecord):
        """Retraining on each method's top-k variables (``validate.retrain``), logged."""
        from study.analysis import retraining as retrain

        result = retrain.validate(record, self.prep.plan, self.settings, self.output_dir)
        self.tracker.log_results(
            metrics=result.metrics,
            series=result.series,
            tables=write_tables(result.tables, self.output_dir),
            charts=result.charts,
        )
        return result

    def finish(self, status: str, *, quiet: bool = False) -> None:
        """End this process's part: its claim keeps the seeds it wrote, the parent ends unless
        another process still trains; it is not FINISHED short of seeds (the report says what
        is missing: :func:`study.lifecycle.run.missing_lines`)."""
        self.tracker.finish(
            status,
            quiet=quiet,
            claim=self._claim,
            written=self.written,
            complete=not self.missing,
        )


def ids_to_train(s: Settings, *, every: bool = False) -> list[int]:
    """The ledger ids this process's shard trains (``every``: the whole study's): its seeds,
    then its resample networks (shard i takes b = i, i + n_shards, ...)."""
    n = 1 if every else s.n_shards
    seeds = [x for x in runner.seeds_for(s.seed, s.n_runs) if (x - s.seed) % n == s.shard % n]
    return seeds + [
        x for b, x in enumerate(runner.resamples_for(s.n_resamples)) if b % n == s.shard % n
    ]


def failures_line(
    failed, n_runs: int, n_resamples: int = 0, *, stopped: bool = False, limit: int = 0
) -> str:
    first = min(failed, key=lambda f: f.seed)
    what = "network" if n_resamples else "seed"  # seeds and resample networks, counted together
    n = f"{len(failed)} {what}{'s' * (len(failed) != 1)}"
    head = (
        f"{n} failed, more than study.max_failures={limit}: the study stopped"
        if stopped
        else f"{len(failed)} of {n_runs + n_resamples} {what}s failed"
    )
    which = f"resample {index(first.seed)}" if is_resample(first.seed) else f"seed {first.seed}"
    return f"{head}; the first: {which}: {first.error}"


def _progress(settings: Settings, meta: StudyMeta, total: int, desc: str = "training", **kw):
    from tqdm import tqdm

    desc = desc if kw.get("position") else f"{desc} {for_terminal(meta.name)}"
    disable = kw.pop("disable", None) or not settings.progress
    return tqdm(
        total=total,
        desc=desc,
        unit="run",
        disable=disable,
        file=sys.stderr,
        dynamic_ncols=True,
        **kw,
    )
