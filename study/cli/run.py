"""``study-run`` (and ``python -m study``): the Hydra app that runs a study, or a sweep of them.

A user error prints one line and exits with status 2, with no traceback; bugs keep theirs. A
study some of whose seeds raised, or in which no network learned, exits with status 1 (the others
are trained, logged and analysed); an interrupted one with 130, after the command that carries it
on. In a sweep a failed job leaves the others running; :func:`run_main` names it at the end.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import NoReturn

from study.cli.common import DISK_ERRORS, fail, shown
from study.cli.hydra_output import drop_if_empty, mask_hydra_files, mask_log_records
from study.config.compose import config_dir, to_plain
from study.errors import SeedsFailed, StoreUnavailable, StudyError

__all__ = ["run_main"]

# Hydra exits with 1 when it cannot compose the config (unknown option, bad override): a user
# error. Once our task function has started, Hydra's exit 1 means a bug, with its traceback.
_task_started = False
_UID = f"{os.getpid():x}-{secrets.token_hex(2)}"  # names this process's Hydra output folder
_SWEEP_LOG = "STUDY_SWEEP_FAILURES"  # a file the jobs of a sweep (any process) append to


def _hydra_app():
    """The Hydra app behind ``study-run``. Hydra is imported here, not at the top of the module,
    so that ``study-aggregate`` and ``study-ui`` start without it."""
    import hydra
    from omegaconf import DictConfig, OmegaConf

    from study.config.compose import register_schema

    register_schema()  # conf/config.yaml starts from it: Hydra checks keys and types

    # ${uid:} in hydra.run.dir: one folder per process, even for studies started in the same
    # second (they shared a folder, and one logged the other's tables)
    if not OmegaConf.has_resolver("uid"):
        OmegaConf.register_new_resolver("uid", lambda: _UID)

    def study_run(cfg: DictConfig) -> None:
        global _task_started
        _task_started = True
        _run_job(cfg)

    # Hydra names the job after its task function's module (hydra.job.name, and the job's log
    # file <name>.log): "cli", as when the console scripts were the module study/cli.py
    study_run.__module__ = "study.cli"
    return hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")(
        study_run
    )


def _run_job(cfg) -> None:
    """Run the study of Hydra's config ``cfg`` (a sweep's job, in a sweep) and report it. A study
    rejected or with failed seeds, a file that cannot be written, a store that stops answering
    and Ctrl-C each end it with one message, and the command that carries it on."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from study.lifecycle import pipeline

    sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    if sweep:
        from study.training.pool import watch_launcher

        watch_launcher()
    mask_hydra_files(HydraConfig.get(), sweep)
    try:
        plain = to_plain(cfg)
        if not plain.get("paths", {}).get("output_dir"):
            plain.setdefault("paths", {})["output_dir"] = HydraConfig.get().runtime.output_dir
        # a study left short of seeds names the command that completes it, any shard's
        job = list(HydraConfig.get().overrides.task) if sweep else None
        outcome = pipeline.run(
            plain,
            config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
            resume_command=_resume_command(job, drop=("study.shard", "study.n_shards")),
        )
    except (StudyError, SeedsFailed) as err:
        _study_failed(err, sweep)
        return
    except OSError as err:  # a full disk or a folder that turned read-only mid-study
        if err.errno not in DISK_ERRORS:
            raise
        _cannot_write(err)
    except StoreUnavailable as err:  # nothing the user did wrong, nothing lost either
        _store_unavailable(err, sweep)
        return
    except KeyboardInterrupt:
        _interrupted()
    _after_study(outcome, sweep, HydraConfig.get().overrides.task)


def _study_failed(err: StudyError | SeedsFailed, sweep: bool) -> None:
    """A study rejected before it ran (StudyError: status 2) or some of whose seeds failed
    (SeedsFailed: status 1): exit with its status, or, in a sweep, fail this job and return."""
    from hydra.core.hydra_config import HydraConfig

    code = 2 if isinstance(err, StudyError) else 1
    if code == 2:  # rejected before anything ran: leave no empty folder behind
        drop_if_empty(HydraConfig.get().runtime.output_dir)
    if sweep:  # this job fails, the sweep goes on; run_main reports it at the end
        job = ", ".join(HydraConfig.get().overrides.task)
        _sweep_failed(f"[{job}] {err}", code)
        return
    if code == 2:
        fail("study-run", err)
    print(f"study-run: {shown(err)}", file=sys.stderr)
    sys.exit(1)


def _cannot_write(err: OSError) -> NoReturn:
    """Exit 1 for a file the study could not write, with the command that goes on from the
    seeds in the store once it can be written."""
    print(
        f"study-run: cannot write {shown(err.filename or 'a file')} ({err.strerror}); "
        "the seeds written so far are in the store. Go on, once it can be written, "
        f"with:  {_resume_command()}",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(1)


def _store_unavailable(err: StoreUnavailable, sweep: bool) -> None:
    """Say that the store stopped answering, with the command that goes on once it works again;
    exit 1, or, in a sweep, fail this job and return."""
    from hydra.core.hydra_config import HydraConfig

    print(
        f"study-run: {shown(err)}. Go on, once the store works again, with:  {_resume_command()}",
        file=sys.stderr,
        flush=True,
    )
    if sweep:
        _sweep_failed(f"[{', '.join(HydraConfig.get().overrides.task)}] {err}", 1)
        return
    sys.exit(1)


def _interrupted() -> NoReturn:
    """Exit 130 after Ctrl-C (or SIGTERM), with the command that goes on."""
    print(
        f"study-run: interrupted. The seeds that finished are logged; the parent run "
        f"and the seeds in flight are KILLED. Go on with:\n  {_resume_command()}",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(130)


def _after_study(outcome, sweep: bool, task) -> None:
    """Print and keep a finished study's report; exit 1 (in a sweep: this job fails, the sweep
    goes on) when seeds failed or no network learned. ``task``: the job's overrides."""
    from study.lifecycle import pipeline
    from study.report import summary

    report = summary.render(
        outcome.analysis,
        run_id=outcome.run_id,
        uri=outcome.uri,
        experiment=outcome.experiment,
        experiment_id=outcome.experiment_id,
        output_dir=outcome.output_dir,
        timings=outcome.timings,
        extras=outcome.report,
    )
    print(report, flush=True)
    pipeline.keep_report(report, outcome.output_dir, outcome.uri, outcome.run_id)
    if not sweep:  # a sweep's next study reuses them
        from study.training.runner import release_workers

        release_workers()
    # the study finished without them: say so in the exit status too; a study that learned
    # nothing is kept in the store, but it answers nothing
    why = (
        f"{len(outcome.failed)} seeds failed"
        if outcome.failed
        else "no network learned"
        if summary.not_learned(outcome.record)
        else None
    )
    if why is None:
        return
    if sweep:
        _sweep_failed(f"[{', '.join(task)}] {why}", 1)
        return
    sys.exit(1)


def _sweep_failed(line: str, code: int) -> None:
    line = shown(line)
    print(f"study-run: {line}", file=sys.stderr, flush=True)
    path = os.environ.get(_SWEEP_LOG)
    if path:
        with open(path, "a") as f:
            f.write(f"{code}\t{line}\n")


def _resume_command(args=None, *, drop=()) -> str:
    """This command line (or a sweep job's overrides, ``args``) with ``study.resume=true`` and
    without the options in ``drop``: what carries an interrupted study on (with ``***`` for a
    password in it: the user types it again)."""
    import shlex

    skip = tuple(f"{key}=" for key in ("study.resume", *drop))
    args = sys.argv[1:] if args is None else args
    args = [a for a in args if not a.lstrip("+").startswith(skip)]
    return shown(" ".join(["study-run", *map(shlex.quote, args), "study.resume=true"]))


def _interrupt(signum, frame) -> None:
    from study.training.runner import request_stop

    request_stop()  # Ctrl-C, or SIGTERM from a scheduler or kill: raises KeyboardInterrupt


def run_main() -> None:
    """``study-run [overrides]``: run a repeated-training study (a Hydra app)."""
    import signal

    from study.training.allocator import keep_freed_memory, skip_final_collection

    keep_freed_memory()  # the writer, the analysis and the charts reuse freed memory
    skip_final_collection()

    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:  # a background job ignores SIGINT
            signal.signal(sig, _interrupt)
    overrides = sys.argv[1:]
    if not any(arg.startswith("-") for arg in overrides):
        # Compose once up front so that a bad override (unknown dataset, typo in a key) is
        # reported in one line; Hydra's own report spans several. Flags (-m, --help, --cfg)
        # and sweeps go straight to Hydra.
        from study.config.compose import compose
        from study.lifecycle.prepare import writable_folder

        try:
            cfg = compose(overrides)
            # Hydra creates its run folder there before the study can say anything
            writable_folder(Path(str(cfg["paths"]["root"])), "paths.root")
        except StudyError as err:
            fail("study-run", err)
    import tempfile

    fd, log = tempfile.mkstemp(prefix="study-sweep-", suffix=".txt")
    os.close(fd)
    os.environ[_SWEEP_LOG] = log  # inherited by the launcher's worker processes
    mask_log_records()
    try:
        _hydra_app()()
    except SystemExit as exc:
        if exc.code == 1 and not _task_started:
            sys.exit(2)
        raise
    except KeyboardInterrupt:  # a sweep's launcher waiting on its jobs: no traceback either
        print(f"study-run: interrupted. Go on with:\n  {_resume_command()}", file=sys.stderr)
        sys.exit(130)
    finally:
        failures = Path(log).read_text().splitlines() if Path(log).exists() else []
        Path(log).unlink(missing_ok=True)
    if failures:  # a sweep whose jobs failed: the others ran; say which, and exit non-zero
        print(f"study-run: {len(failures)} job(s) of the sweep failed:", file=sys.stderr)
        for line in failures:
            print(f"  {line.split(chr(9), 1)[1]}", file=sys.stderr)
        sys.exit(max(int(line.split(chr(9), 1)[0]) for line in failures))
