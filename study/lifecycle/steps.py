"""A study's lifecycle, step by step: prepare -> open -> claim -> train -> train null -> analyse
-> check -> publish -> finish.

:func:`~study.lifecycle.prepare.prepare` checks everything a user can get wrong before anything is
written. A :class:`Study` then works over the tracking store (:mod:`study.tracking`, the only
place that knows MLflow) by its rules (:mod:`study.tracking._claims`): it finds or creates its
parent run by name and settings hash, claims the seeds nobody else has or trains, trains them
(each finished seed goes to a local :class:`~study.lifecycle.journal.Journal` before the store), and
publishes what it computed. ``study-aggregate`` shares :func:`~study.lifecycle.publish.publish`
(analysis, checks, randomisation test).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from study import datasets, tracking
from study.analysis import aggregate
from study.analysis.randomisation import nullnets
from study.config import identity
from study.config.settings import Settings
from study.errors import SeedsFailed, StoreUnavailable, StudyError
from study.escape import for_terminal
from study.lifecycle.journal import Journal
from study.lifecycle.prepare import Prepared, output_dir, prepare
from study.lifecycle.publish import present, publish, report_blocks, write_tables
from study.training import models, runner
from study.training.record import FailedRun, StudyMeta, StudyRecord
from study.training.resample import index, is_resample

__all__ = ["Study", "Outcome", "run"]


# ---------------------------------------------------------------------------------------------
# the study


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

    def __init__(self, prep: Prepared, output_dir: Path):
        self.prep, self.settings, self.meta = prep, prep.settings, prep.meta
        self.output_dir = output_dir
        self.tracker = tracking.Tracker(
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
        self._wanted = _wanted(s)
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
        return max(64, -(-len(self._wanted) // 8))

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
            raise SeedsFailed(_failures_line(out.failed, s.n_runs, s.n_resamples))
        return out

    def _count(self, rec, out: Trained, bar, writer) -> None:
        self._done.add(rec.seed)  # not claimed again by this process, trained or failed
        if isinstance(rec, FailedRun):
            self._claim.forget([rec.seed])  # logged as a FAILED child; the others go on
            out.failed.append(rec)
            if len(out.failed) > self.settings.max_failures:
                writer.close()
                raise SeedsFailed(
                    _failures_line(
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
        self.missing = [x for x in _wanted(s, every=True) if x not in have]
        return record

    def more_seeds(self, record: StudyRecord) -> bool:
        """``study.n_runs=auto``: whether the study needs more seeds (then :attr:`settings` asks
        for them, and the next :meth:`claim` takes them), with the reason in :attr:`auto_line`."""
        s = self.settings
        n, self.auto_line = _auto_runs(s, record)
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

    def train_null(self, record: StudyRecord) -> tuple:
        """The randomisation test's null networks (a :class:`~study.analysis.randomisation.NullSet`;
        None when the test is off) for the seeds of ``record`` its design tests, and its
        settings with the chance score; logged as the parent's null bundle."""
        test = dict(self.settings.randomisation)
        if not test.get("n_permutations"):
            return None, test
        from study.analysis import randomisation

        null = _train_null(self.settings, self.prep.plan, self.meta, record)
        ds, plan = self.prep.dataset, self.prep.plan
        y_train = datasets.split(ds, test_size=plan.test_size, seed=self.settings.seed).y_train
        test["chance"] = randomisation.chance_score(y_train, ds.task)
        keep = ("permute", "init", "tested", "alternative", "alpha", "chance", "seed")
        self.tracker.log_arrays(
            tracking.NULL_BUNDLE,
            {**null.arrays(), **{f"extra/{k}": np.asarray(test[k]) for k in keep}},
        )
        return null, test

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
        another process still trains; it is not FINISHED short of seeds (see :func:`_notes`)."""
        self.tracker.finish(
            status,
            quiet=quiet,
            claim=getattr(self, "_claim", None),
            written=self.written,
            complete=not self.missing,
        )


# ---------------------------------------------------------------------------------------------
# the whole study


@dataclass
class Outcome:
    """What a finished study hands back: where it is, and everything it computed."""

    run_id: str
    uri: str
    experiment: str
    experiment_id: str
    output_dir: Path
    record: StudyRecord
    analysis: aggregate.Analysis
    charts: list[Path]
    timings: dict[str, float] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)
    failed: list = field(default_factory=list)  # FailedRun of every seed that raised
    from_journal: int = 0  # seeds uploaded from the journal instead of trained

    @property
    def answer(self):
        """The study's answer (:class:`study.analysis.answer.Answer`; ``.table`` one row per
        variable), None for a study that learned nothing."""
        return self.analysis.answer


def run(
    cfg: Mapping, *, config_yaml: str | None = None, resume_command: str | None = None
) -> Outcome:
    """Run a whole study from a composed config (a plain nested mapping). Raises StudyError for
    anything the user can fix, StoreUnavailable when the store stops answering.
    ``resume_command``: the command that goes on with this study, for the report of a study
    left short of seeds (``study-run`` passes its own command line)."""
    t = {"start": time.perf_counter()}
    prep = prepare(cfg, config_yaml=config_yaml)
    folder = output_dir(prep.settings)
    # the workers start (1-2 s) while MLflow loads and the store opens
    warm = runner.warm_up(prep.settings.n_jobs, prep.plan) if prep.settings.n_runs >= 32 else None
    try:
        study = Study(prep, folder)
        study.warm = warm
        study.resume_command = resume_command
    except Exception as exc:  # a store that cannot be opened or written (read-only, full disk)
        if not tracking.is_store_error(exc):
            raise
        raise StoreUnavailable(
            tracking.mask_uri(
                f"cannot write to the tracking store {prep.settings.tracking_uri} "
                f"({_first_line(exc)}); nothing was trained"
            )
        ) from None
    t["setup"] = time.perf_counter()
    try:
        study.open()
        journalled = study.claim()
        t["train"] = time.perf_counter()
        trained = study.train(journalled)
        record = study.gather(trained)
        while study.settings.auto_runs and study.more_seeds(record):  # study.n_runs=auto
            more = study.train(study.claim())
            trained = _merged(trained, more)
            record = study.gather(more)
        t["trained"] = time.perf_counter()
        t_null = time.perf_counter()
        null = study.train_null(record)
        t["null"], t["analyse"] = time.perf_counter() - t_null, time.perf_counter()
        outcome = _conclude(study, record, trained, null)
        runner.check_stop()
        study.finish("FINISHED")
    except KeyboardInterrupt:
        study.finish("KILLED", quiet=True)
        raise
    except BaseException as exc:
        if tracking.is_store_error(exc):
            study.finish("FAILED", quiet=True)
            raise _unavailable(study, exc) from None
        study.finish("FAILED", quiet=isinstance(exc, StudyError))
        raise
    outcome.timings = _timings(t, record, trained, null[0])
    return outcome


def _conclude(study: Study, record: StudyRecord, trained: Trained, null) -> Outcome:
    s = study.settings
    pub = publish(
        study.tracker,
        record,
        study.output_dir,
        top_k=s.top_k,
        n_bootstrap=s.n_bootstrap,
        seed=s.seed,
        charts=s.charts,
        null=null,
    )
    retrained = study.retrain(record) if s.validate.get("retrain") else None
    failed = sorted(trained.failed, key=lambda f: f.seed)
    outcome = Outcome(
        run_id=study.run_id,
        uri=study.tracker.uri,
        experiment=s.experiment,
        experiment_id=study.tracker.experiment_id,
        output_dir=study.output_dir,
        record=record,
        analysis=pub.analysis,
        charts=pub.charts + (retrained.charts if retrained else []),
        failed=failed,
        from_journal=trained.from_journal,
    )
    tables = dict(pub.tables)
    if retrained:
        tables.update(retrained.tables)
    notes = _notes(study, record, trained)
    present(study.tracker, pub, study.output_dir, notes=notes)
    outcome.extras = {
        "tables": tables,
        "summary": report_blocks(
            notes=notes,
            checks=pub.check_lines,
            retrain=retrained.summary if retrained else None,
            randomisation=pub.randomisation.summary if pub.randomisation else None,
        ),
    }
    if pub.randomisation is not None:
        outcome.extras["randomisation"] = pub.randomisation
    return outcome


def _notes(study: Study, record: StudyRecord, trained: Trained) -> list[str]:
    """Lines before the detail: failures, the fallback backend, the journal, the reader's notes."""
    s, lines = study.settings, _missing_lines(study)
    if trained.failed:
        lines += [
            _failures_line(sorted(trained.failed, key=lambda f: f.seed), s.n_runs, s.n_resamples),
            "  Each failed seed is a FAILED child run with its traceback in error.txt; the "
            "tables use the others.",
        ]
    note = models.backend_note(study.prep.dataset.task, s.model)
    if note:
        lines.append(note)
    if trained.from_journal:
        lines.append(
            f"{trained.from_journal} seed(s) came from the journal of an earlier "
            "process (trained, not yet in the store when it stopped), not trained "
            "again."
        )
    if record.resamples:
        how = (
            "as many training rows drawn with replacement"
            if s.resample == "bootstrap"
            else "half the training rows drawn without replacement"
        )
        lines.append(
            f"{len(record.resamples)} resample networks ({s.resample}: {how}, each "
            "with its own seed) are in resamples.csv; every other table is the "
            "seeds' alone."
        )
    if study.auto_line:
        lines.append(f"study.n_runs=auto {study.auto_line}.")
    lines += [f"Note: {n}." for n in record.notes]
    return lines


def _missing_lines(study: Study) -> list[str]:
    """What a study read back short of seeds lacks, who may still bring it, and the command that
    completes it (the parent stays RUNNING meanwhile)."""
    missing, s = study.missing, study.settings
    command = study.resume_command or "this study's command with study.resume=true"
    if not missing:
        if not study.holders:
            return []
        # complete, but the parent is the last live process's to end: should that one have died
        # a moment ago (its heartbeat still fresh), nobody would, and the report must not hide it
        who = ", ".join(sorted(study.holders))
        return [
            f"Every seed is in; the parent run stays RUNNING while {who} may still be "
            "running (the last process to end ends it). If it died, this ends the study "
            f"{tracking.STALE:.0f} s after its last heartbeat:  {command}"
        ]
    seeds, resampled = (
        [x for x in missing if not is_resample(x)],
        [index(x) for x in missing if is_resample(x)],
    )
    parts = []
    for ids, n, what in ((seeds, s.n_runs, "seeds"), (resampled, s.n_resamples, "resamples")):
        if ids:
            shown = tracking.seed_ranges(ids)
            if len(shown) > 80:
                shown = shown[:80].rsplit(",", 1)[0] + ", ..."
            parts.append(f"{len(ids)} of the {n} {what} ({what} {shown})")
    head = f"Missing: {' and '.join(parts)}; the parent run stays RUNNING until they are in."
    held = {p: v & set(missing) for p, v in study.holders.items()}
    held = {p: v for p, v in held.items() if v}
    if not held:
        return [head, f"  Complete them with:  {command}"]
    who = ", ".join(f"{p} ({len(v)})" for p, v in sorted(held.items()))
    return [
        head,
        f"  Claimed by {who}, which looked alive (a heartbeat under "
        f"{tracking.STALE:.0f} s old): it completes them when it finishes. If it died, "
        f"complete them {tracking.STALE:.0f} s after its last heartbeat with:  "
        f"{command}",
    ]


def _auto_runs(s: Settings, record: StudyRecord) -> tuple[int | None, str]:
    """``study.n_runs=auto``'s next number of seeds (None: enough, or the cap) and the reason:
    the seeds' Monte Carlo error against the data's standard error of the answer's estimate
    (:func:`study.analysis.uncertainty.seeds_or_data`), for its variable that needs most seeds. Goes
    to the seeds that the errors measured now say are enough, at least ``AUTO_RUNS[0]`` and a
    quarter more, at most twice as many (the first estimates are rough) and ``AUTO_RUNS[1]``."""
    from study.analysis import uncertainty as unc
    from study.analysis.answer import reference_method
    from study.config.settings import AUTO_RUNS

    method = reference_method(record.meta.methods)
    try:
        u = unc.estimate(
            record.values(method),
            record.resample_values(method),
            signed=record.meta.methods[method].signed,
        )
    except ValueError as err:
        return None, f"stopped at {len(record.runs)} seeds: no error to compare ({err})"
    parts = unc.seeds_or_data(u)
    worst = int(np.argmax(parts.ratio))
    ratio, name = float(parts.ratio[worst]), for_terminal(record.meta.feature_names[worst])
    tenth = f"{unc.MC_TARGET:g} of the data's standard error"
    if ratio <= unc.MC_TARGET:
        return None, (
            f"stopped at {u.n_seeds} seeds: the seeds' Monte Carlo error is below "
            f"{tenth} for every variable (at most {ratio:.3f}, {name})"
        )
    have = max(s.n_runs, len(record.runs))  # a resumed study may hold more than asked
    need = unc.seeds_needed(parts)
    if have >= AUTO_RUNS[1]:
        more = (
            f"below {unc.MC_TARGET:g} would take about {need:,.0f} seeds"
            if np.isfinite(need)
            else "its data's standard error is 0: no number of seeds gets below it"
        )
        still = (
            f"the seeds' Monte Carlo error is still {ratio:.3f} of the data's standard "
            f"error for {name}"
            if np.isfinite(ratio)
            else f"for {name}"
        )
        return None, f"stopped at {u.n_seeds} seeds, its cap being {AUTO_RUNS[1]}: {still} ({more})"
    # at least a quarter more (each round reads the study back), at most twice as many
    least = have + max(AUTO_RUNS[0], have // 4)
    n = int(min(AUTO_RUNS[1], max(least, min(2 * have, np.ceil(need)))))
    if not np.isfinite(ratio):
        return n, (
            f"at {u.n_seeds} seeds the data's standard error is 0 for {name} (its "
            "resample networks vary no more than its seeds)"
        )
    return n, (
        f"at {u.n_seeds} seeds the seeds' Monte Carlo error is {ratio:.3f} of the data's "
        f"standard error for {name} (wanted: below {unc.MC_TARGET:g})"
    )


def _merged(a: Trained, b: Trained) -> Trained:
    """Two rounds of training (``study.n_runs=auto``) as one."""
    timings = {k: a.timings.get(k, 0.0) + b.timings.get(k, 0.0) for k in a.timings | b.timings}
    return Trained(
        a.runs + b.runs,
        a.failed + b.failed,
        a.from_journal + b.from_journal,
        timings,
        a.score_sum + b.score_sum,
        a.score_n + b.score_n,
    )


def _first_line(exc: BaseException) -> str:
    """The root cause, in one line (``OperationalError: attempt to write a readonly database``)."""
    cause = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    text = str(cause).splitlines()[0][:200] if str(cause) else ""
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


def _unavailable(study: Study, exc: BaseException) -> StoreUnavailable:
    if study.run_id is None:
        return StoreUnavailable(
            tracking.mask_uri(
                f"cannot write to the tracking store {study.tracker.uri} ({_first_line(exc)}); "
                "nothing was trained"
            )
        )
    journal = Journal(study.settings.root, study.run_id)
    return StoreUnavailable(
        tracking.mask_uri(  # the cause may hold the URI (MLflow's does)
            f"the tracking store {study.tracker.uri} stopped answering ({_first_line(exc)}); "
            f"training stopped. {len(journal.runs())} trained seed(s) are kept in the journal "
            f"{journal.folder} and will be uploaded, not retrained, by the resume"
        )
    )


def _timings(t: dict, record: StudyRecord, trained: Trained, null) -> dict:
    end = time.perf_counter()
    fit = np.array([r.timings.get("fit", np.nan) for r in record.runs])
    imp = np.array([r.timings.get("importance", np.nan) for r in record.runs])
    return {
        "total_seconds": end - t["start"],
        "setup_seconds": t["setup"] - t["start"],
        "training_seconds": t["trained"] - t["train"],
        "analysis_seconds": end - t["analyse"],
        "trained_runs": len(trained.runs) - trained.from_journal,
        "fit_seconds_per_run": float(np.nanmean(fit)) if fit.size else np.nan,
        "importance_seconds_per_run": float(np.nanmean(imp)) if imp.size else np.nan,
        "log_seconds_per_run": trained.timings.get("log_seconds", 0.0) / max(len(record.runs), 1),
        "writer_wait_seconds": trained.timings.get("writer_wait_seconds", 0.0),
        "writer_busy_seconds": trained.timings.get("writer_busy_seconds", 0.0),
        "null_seconds": t["null"] if null is not None else 0.0,
        "null_runs": null.n_networks if null is not None else 0,
    }


# ---------------------------------------------------------------------------------------------
# helpers


def _wanted(s: Settings, *, every: bool = False) -> list[int]:
    """The ledger ids this process's shard trains (``every``: the whole study's): its seeds,
    then its resample networks (shard i takes b = i, i + n_shards, ...)."""
    n = 1 if every else s.n_shards
    seeds = [x for x in runner.seeds_for(s.seed, s.n_runs) if (x - s.seed) % n == s.shard % n]
    return seeds + [
        x for b, x in enumerate(runner.resamples_for(s.n_resamples)) if b % n == s.shard % n
    ]


def _failures_line(
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


def _train_null(settings: Settings, plan: runner.Plan, meta: StudyMeta, record: StudyRecord):
    """The randomisation test's null networks of a study, with progress bars."""
    from study.analysis import randomisation

    test = settings.randomisation
    design = randomisation.Design.of(test)
    groups, B, p = design.groups(record.runs), test["n_permutations"], len(meta.feature_names)
    total = design.n_networks(len(groups), p, B)
    if settings.progress or total > 100_000:
        many = (
            "; that is many: randomisation.tested=best (or a number of seeds) or fewer "
            "randomisation.n_permutations cut it"
            if total > 100_000
            else ""
        )
        upto = "up to " if 0 < test["stop_after"] < B else ""
        print(
            f"null networks of the randomisation test: {design.describe(B)}: {upto}{total:,} "
            f"networks ({len(groups)} group(s) x {total // len(groups):,}){many}",
            file=sys.stderr,
        )

    def bars(n, desc, **kw):
        return _progress(settings, meta, n, desc, **kw)

    return nullnets.train(
        plan,
        design,
        record.runs,
        n_permutations=B,
        first=test["seed"],
        methods=meta.methods,
        n_jobs=settings.n_jobs,
        bars=bars,
        stop_after=test["stop_after"],
        alternative=test["alternative"],
    )
