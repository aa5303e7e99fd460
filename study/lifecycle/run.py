"""A whole study from a composed config: prepare, the :class:`~study.lifecycle.study.Study`'s
steps, publish; what it hands back (:class:`Outcome`), and the lines its report opens with."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from study import tracking
from study.analysis import aggregate
from study.errors import StoreUnavailable, StudyError
from study.lifecycle.journal import Journal
from study.lifecycle.prepare import output_dir, prepare
from study.lifecycle.publish import present, publish, report_blocks
from study.lifecycle.study import Study, Trained, failures_line
from study.training import models, runner
from study.training.record import StudyRecord
from study.training.resample import index, is_resample

__all__ = ["Outcome", "run", "notes"]

WARM_FROM = 32  # seeds from which the workers start while the store opens (1-2 s saved)
SHOWN_RANGES = 80  # characters of missing seed ranges a report line shows


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
    failed: list = field(default_factory=list)  # FailedRun of every seed that raised
    from_journal: int = 0  # seeds uploaded from the journal instead of trained
    tables: dict = field(default_factory=dict)  # every table written: {"answer.csv": frame, ...}
    report: list = field(default_factory=list)  # the report's blocks before the detail (lines)
    # Olden & Jackson's test (study.analysis.randomisation.RandomisationResult), when it ran
    randomisation: object = None
    # retraining on the top-k variables (study.analysis.retraining.RetrainResult), when it ran
    retrained: object = None

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
    warm = (
        runner.warm_up(prep.settings.n_jobs, prep.plan)
        if prep.settings.n_runs >= WARM_FROM
        else None
    )
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
    outcome.timings = _timings(t, record, trained, null.networks if null else None)
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
    tables = dict(pub.tables)
    if retrained:
        tables.update(retrained.tables)
    lines = notes(study, record, trained)
    present(study.tracker, pub, study.output_dir, notes=lines)
    return Outcome(
        run_id=study.run_id,
        uri=study.tracker.uri,
        experiment=s.experiment,
        experiment_id=study.tracker.experiment_id,
        output_dir=study.output_dir,
        record=record,
        analysis=pub.analysis,
        charts=pub.charts + (retrained.charts if retrained else []),
        failed=sorted(trained.failed, key=lambda f: f.seed),
        from_journal=trained.from_journal,
        tables=tables,
        report=report_blocks(
            notes=lines,
            checks=pub.check_lines,
            retrain=retrained.summary if retrained else None,
            randomisation=pub.randomisation.summary if pub.randomisation else None,
        ),
        randomisation=pub.randomisation,
        retrained=retrained,
    )


def notes(study: Study, record: StudyRecord, trained: Trained) -> list[str]:
    """Lines before the detail: failures, the fallback backend, the journal, the reader's notes."""
    s, lines = study.settings, missing_lines(study)
    if trained.failed:
        lines += [
            failures_line(sorted(trained.failed, key=lambda f: f.seed), s.n_runs, s.n_resamples),
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


def missing_lines(study: Study) -> list[str]:
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
            if len(shown) > SHOWN_RANGES:
                shown = shown[:SHOWN_RANGES].rsplit(",", 1)[0] + ", ..."
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
