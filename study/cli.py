"""Console scripts: ``study-run`` (the Hydra app), ``study-aggregate`` and ``study-ui``.

User errors print one line and exit with status 2, with no traceback; bugs keep theirs. A study
some of whose seeds raised exits with status 1 (the others are trained, logged and analysed).
"""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import sys
from pathlib import Path

from study.config.compose import config_dir, to_plain
from study.config.spec import default
from study.errors import SeedsFailed, StoreUnavailable, StudyError

__all__ = ["run_main", "aggregate_main", "compare_main", "ui_main"]

# the environment's tracking URI if it names one, as MLflow itself does
DEFAULT_URI = os.environ.get("MLFLOW_TRACKING_URI") or default("tracking.uri")
# Hydra exits with 1 when it cannot compose the config (unknown option, bad override): a user
# error. Once our task function has started, Hydra's exit 1 means a bug, with its traceback.
_task_started = False
_UID = f"{os.getpid():x}-{secrets.token_hex(2)}"  # names this process's Hydra output folder


def _fail(prog: str, err: Exception) -> None:
    print(f"{prog}: error: {_shown(err)}", file=sys.stderr)
    sys.exit(2)


def _shown(text) -> str:
    """``text`` as it may reach a terminal or a log: no URI's password, no control character
    from a name (see :mod:`study.escape`)."""
    from study.escape import for_terminal
    from study.tracking import mask_uri

    return for_terminal(mask_uri(str(text)))


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

    @hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
    def study_run(cfg: DictConfig) -> None:
        global _task_started
        _task_started = True
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        from study.lifecycle import pipeline

        sweep = HydraConfig.get().mode == RunMode.MULTIRUN
        if sweep:
            from study.training.pool import watch_launcher

            watch_launcher()
        _mask_hydra_files(HydraConfig.get(), sweep)
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
            code = 2 if isinstance(err, StudyError) else 1
            if code == 2:  # rejected before anything ran: leave no empty folder behind
                _drop_if_empty(HydraConfig.get().runtime.output_dir)
            if sweep:  # this job fails, the sweep goes on; run_main reports it at the end
                job = ", ".join(HydraConfig.get().overrides.task)
                _sweep_failed(f"[{job}] {err}", code)
                return
            if code == 2:
                _fail("study-run", err)
            print(f"study-run: {_shown(err)}", file=sys.stderr)
            sys.exit(1)
        except OSError as err:  # a full disk or a folder that turned read-only mid-study
            if err.errno not in _DISK_ERRORS:
                raise
            print(
                f"study-run: cannot write {_shown(err.filename or 'a file')} ({err.strerror}); "
                "the seeds written so far are in the store. Go on, once it can be written, "
                f"with:  {_resume_command()}",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(1)
        except StoreUnavailable as err:  # nothing the user did wrong, nothing lost either
            print(
                f"study-run: {_shown(err)}. Go on, once the store works again, with:  "
                f"{_resume_command()}",
                file=sys.stderr,
                flush=True,
            )
            if sweep:
                _sweep_failed(f"[{', '.join(HydraConfig.get().overrides.task)}] {err}", 1)
                return
            sys.exit(1)
        except KeyboardInterrupt:
            print(
                f"study-run: interrupted. The seeds that finished are logged; the parent run "
                f"and the seeds in flight are KILLED. Go on with:\n  {_resume_command()}",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(130)
        _after_study(outcome, sweep, HydraConfig.get().overrides.task)

    return study_run


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
        extras=outcome.extras.get("summary", ()),
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


_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}


def _mask_hydra_files(hydra_cfg, sweep: bool) -> None:
    """Hydra has written the composed config and the command line (``.hydra/*.yaml``, and
    ``multirun.yaml`` for a sweep) before the study starts: a password in ``tracking.uri`` is
    masked there too, as in every file the study writes (see also study.sweep.MaskSecrets)."""
    files = list((Path(hydra_cfg.runtime.output_dir) / hydra_cfg.output_subdir).glob("*.yaml"))
    if sweep:
        files.append(Path(hydra_cfg.sweep.dir) / "multirun.yaml")
    for path in files:
        mask_file(path)


def mask_file(path: Path) -> None:
    """Rewrite the text file ``path``, if it exists, with every URI's password masked."""
    from study.tracking import mask_uri

    text = path.read_text() if path.is_file() else ""
    if mask_uri(text) != text:
        path.write_text(mask_uri(text))


def _drop_if_empty(folder) -> None:
    """Remove a Hydra output folder that holds only Hydra's own files (and its empty parents)."""
    import shutil

    path = Path(folder)
    if path.is_dir() and all(c.name == ".hydra" or c.suffix == ".log" for c in path.iterdir()):
        shutil.rmtree(path, ignore_errors=True)
        for parent in (path.parent, path.parent.parent):  # <date>/ and hydra/, when now empty
            try:
                parent.rmdir()
            except OSError:
                break


_SWEEP_LOG = "STUDY_SWEEP_FAILURES"  # a file the jobs of a sweep (any process) append to


def _sweep_failed(line: str, code: int) -> None:
    line = _shown(line)
    print(f"study-run: {line}", file=sys.stderr, flush=True)
    path = os.environ.get(_SWEEP_LOG)
    if path:
        with open(path, "a") as f:
            f.write(f"{code}\t{line}\n")


def _mask_log_records() -> None:
    """Hydra logs each job of a sweep with its overrides (``tracking.uri`` and its password
    among them) to the terminal and its log file before the job starts: every log record of
    this process is made already masked, whatever handlers Hydra configures later."""
    import logging

    make = logging.getLogRecordFactory()

    def masked(*args, **kwargs):
        record = make(*args, **kwargs)
        try:
            text = record.getMessage()
        except Exception:  # a bad format: logging reports it when the record is emitted
            return record
        if _shown(text) != text:
            record.msg, record.args = _shown(text), ()
        return record

    logging.setLogRecordFactory(masked)


def _resume_command(args=None, *, drop=()) -> str:
    """This command line (or a sweep job's overrides, ``args``) with ``study.resume=true`` and
    without the options in ``drop``: what carries an interrupted study on (with ``***`` for a
    password in it: the user types it again)."""
    import shlex

    skip = tuple(f"{key}=" for key in ("study.resume", *drop))
    args = sys.argv[1:] if args is None else args
    args = [a for a in args if not a.lstrip("+").startswith(skip)]
    return _shown(" ".join(["study-run", *map(shlex.quote, args), "study.resume=true"]))


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
            _fail("study-run", err)
    import tempfile

    fd, log = tempfile.mkstemp(prefix="study-sweep-", suffix=".txt")
    os.close(fd)
    os.environ[_SWEEP_LOG] = log  # inherited by the launcher's worker processes
    _mask_log_records()
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


def _null(uri: str, run_id: str, meta):
    """The study's null values and the test's settings as study-run used them (None: no test)."""
    from study import tracking
    from study.analysis import randomisation

    stored = tracking.load_null(uri, run_id)
    if stored is None:
        return None

    arrays, test = stored
    return randomisation.NullSet.from_arrays(arrays, test, meta), test


def aggregate_main(argv=None) -> None:
    """``study-aggregate``: recompute a study's aggregates from what MLflow holds, and log them."""
    from study.training.allocator import keep_freed_memory, skip_final_collection

    keep_freed_memory()
    skip_final_collection()
    parser = argparse.ArgumentParser(
        prog="study-aggregate",
        description=(
            "Read a study's child runs and weight artifacts back from MLflow, compute weight sums, "
            "per-method aggregates, rank stability and agreement (and the randomisation test, "
            "when the study ran one), print them, write the tables and charts, and log them to "
            "the study's parent run."
        ),
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run-id", help="the study's parent run id (a child's id works too)")
    which.add_argument("--experiment", help="an experiment name: its latest finished study")
    which.add_argument(
        "--study",
        help="a study's name (study.name): its latest run, in any "
        "experiment, with every seed that finished (across resumes)",
    )
    _uri_option(parser)
    parser.add_argument("--top-k", type=int, default=None, help="k of top-k (default: the study's)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="folder for tables and charts (default runs/aggregate/<run id>)",
    )
    parser.add_argument("--no-log", action="store_true", help="do not log back to the parent run")
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    args = parser.parse_args(argv)

    from study import tracking
    from study.lifecycle import prepare, publish
    from study.report import summary

    try:
        if args.top_k is not None and args.top_k < 1:
            raise StudyError(f"--top-k must be at least 1; got {args.top_k}")
        tracking.require_store(args.uri)  # a read: never create a store
        run_id = tracking.find_study(
            args.uri, run_id=args.run_id, experiment=args.experiment, name=args.study
        )
        record = tracking.load_study(args.uri, run_id)
        if not record.runs:
            raise StudyError(f"study {run_id} has no finished child runs to aggregate")
        meta = record.meta
        if args.top_k is not None and args.top_k > len(meta.feature_names):  # as study-run
            raise StudyError(
                f"--top-k {args.top_k} is more than the {len(meta.feature_names)} "
                f"variables of {meta.dataset}"
            )
        print(_shown(tracking.seeds_report(args.uri, run_id, record)), flush=True)
        output = prepare.writable_folder(
            args.output or Path("runs") / "aggregate" / run_id, "--output"
        )
        tracker = None if args.no_log else tracking.Tracker(args.uri, run_id=run_id)
        # the same analysis, checks and randomisation test as study-run: the same files
        pub = publish.publish(
            tracker,
            record,
            output,
            top_k=args.top_k or meta.top_k,
            n_bootstrap=meta.n_bootstrap,
            seed=meta.seed,
            charts=not args.no_charts,
            null=_null(args.uri, run_id, meta),
        )
        # what only training makes (validate.retrain's tables): copied from the parent
        tracking.copy_tables(args.uri, run_id, output, besides=pub.tables)
    except StudyError as err:
        _fail("study-aggregate", err)
    except OSError as err:
        if err.errno not in _DISK_ERRORS:
            raise
        _fail("study-aggregate", f"cannot write {err.filename or 'a file'} ({err.strerror})")
    analysis = pub.analysis
    notes = [f"Note: {n}." for n in record.notes]
    publish.present(tracker, pub, output, notes=notes)
    extras = publish.report_blocks(
        notes=notes,
        checks=pub.check_lines,
        randomisation=pub.randomisation.summary if pub.randomisation else None,
    )
    print(
        summary.render(
            analysis,
            run_id=run_id,
            uri=args.uri,
            output_dir=output,
            experiment_id=record.experiment_id,
            extras=extras,
        )
    )
    ws = analysis.weight_sums
    print("\nSummed first-layer weights over runs (input view):")
    cols = ["feature", "pos_sum", "neg_sum", "net_sum", "abs_sum", "rank"]
    table = ws[ws.view == "input"][cols].sort_values("rank")
    print(_shown(table.to_string(index=False, float_format="%.3f")))
    if summary.not_learned(record):  # as study-run: a study that answers nothing is no success
        sys.exit(1)


def compare_main(argv=None) -> None:
    """``study-compare``: several studies side by side, read from the store."""
    parser = argparse.ArgumentParser(
        prog="study-compare",
        description=(
            "Compare the answers of several studies (a sweep's, or any): per study its differing "
            "settings, score, Kendall's W and top variables; across studies, Kendall's tau "
            "between their mean-rank vectors, top-k overlap and the variables on top in all. "
            "Writes compare.csv, compare_pairs.csv, compare_ranks.csv, compare.png and logs them "
            "as a comparison run."
        ),
    )
    parser.add_argument(
        "--study",
        action="append",
        default=[],
        metavar="NAME",
        help="a study's name (study.name) or parent run id; give two or more",
    )
    parser.add_argument(
        "--experiment",
        action="append",
        default=[],
        metavar="E",
        help="every finished study of experiment E",
    )
    _uri_option(parser)
    parser.add_argument(
        "--top-k", type=int, default=None, help="k of top-k (default: the studies')"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="folder for the tables and the chart (default runs/compare/<time>)",
    )
    parser.add_argument("--no-log", action="store_true", help="do not log a comparison run")
    args = parser.parse_args(argv)
    from study import tracking
    from study.lifecycle import prepare, publish

    try:
        tracking.require_store(args.uri)
        run_ids = [_study_id(args.uri, s) for s in args.study]
        for e in args.experiment:
            run_ids += tracking.studies_in(args.uri, e)
        if len(set(run_ids)) < 2:
            raise StudyError(
                "give at least two studies (--study A --study B, or --experiment E "
                f"with two or more); got {len(set(run_ids))}"
            )
        import time

        output = prepare.writable_folder(
            args.output or Path("runs") / "compare" / time.strftime("%Y-%m-%d_%H-%M-%S"), "--output"
        )
        compared, lines, run_id = publish.compare_studies(
            args.uri, run_ids, output, log=not args.no_log, top_k=args.top_k
        )
    except StudyError as err:
        _fail("study-compare", err)
    print("\n".join(lines))
    print(f"Tables and chart: {output}")
    if run_id:
        print(f"Comparison run: {run_id}")


def _uri_option(parser) -> None:
    # the default may come from MLFLOW_TRACKING_URI, password and all: --help shows it masked
    parser.add_argument(
        "--uri", default=DEFAULT_URI, help=f"tracking URI (default {_shown(DEFAULT_URI)})"
    )


def _study_id(uri: str, study: str) -> str:
    """A study given by name, or by its parent (or a seed's) run id."""
    from study import tracking

    try:
        return tracking.find_study(uri, name=study)
    except StudyError:
        if len(study) == 32 and all(c in "0123456789abcdef" for c in study):
            return tracking.find_study(uri, run_id=study)
        raise


def ui_main(argv=None) -> None:
    """``study-ui``: the MLflow UI on the study's own store, bound to 127.0.0.1. The process
    becomes ``mlflow ui`` (exec): a signal that stops it stops the server, none is left behind.
    A tracking server serves its own UI: for one, this prints its address."""
    parser = argparse.ArgumentParser(
        prog="study-ui", description="Open the MLflow UI on a study store, on 127.0.0.1 only."
    )
    _uri_option(parser)
    parser.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    args = parser.parse_args(argv)
    from study.tracking import check_reachable, latest_study, resolve_uri, ui_url

    def latest(**where) -> str:  # the runs view of the store's latest study, if it has one
        found = latest_study(uri)
        return (
            f"\n  latest study ({found[1]}): {ui_url(found[0], study=found[1], **where)}"
            if found
            else ""
        )

    try:
        uri = resolve_uri(args.uri)
        if uri.startswith(("http://", "https://")):
            check_reachable(uri)
            print(
                _shown(
                    f"The tracking server at {uri} serves its own UI; studies: "
                    f"{ui_url(uri=uri)}{latest(uri=uri)}"
                )
            )
            return
        if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
            raise StudyError(
                f"no study store at {uri.removeprefix('sqlite:///')}: run study-run first, or "
                "pass --uri"
            )
    except StudyError as err:
        _fail("study-ui", err)
    # the store through the environment: a command line (and its password) is public in ps
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": uri}
    cmd = [sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--port", str(args.port)]
    if uri.startswith("sqlite:///"):
        root = Path(uri.removeprefix("sqlite:///")).parent / "artifacts"
        cmd += ["--default-artifact-root", root.as_uri()]
    print(
        _shown(
            f"MLflow UI for {uri}\n  studies: {ui_url(port=args.port)}"
            f"{latest(port=args.port)}\n  (Ctrl-C stops it)"
        ),
        flush=True,
    )
    os.execve(sys.executable, cmd, env)
