"""``study-aggregate``: a study's analysis recomputed from what the store holds, and logged back.

A user error prints one line and exits with status 2; a study in which no network learned exits
with status 1, as ``study-run``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from study.cli.common import DISK_ERRORS, fail, shown, uri_option
from study.errors import StudyError

__all__ = ["aggregate_main"]


def aggregate_main(argv=None) -> None:
    """``study-aggregate``: recompute a study's aggregates from what MLflow holds, and log them."""
    from study.training.allocator import keep_freed_memory, skip_final_collection

    keep_freed_memory()
    skip_final_collection()
    args = _parser().parse_args(argv)

    from study import tracking
    from study.lifecycle import prepare
    from study.report import summary

    try:
        run_id, record = _study(args)
        print(shown(tracking.seeds_report(args.uri, run_id, record)), flush=True)
        output = prepare.writable_folder(
            args.output or Path("runs") / "aggregate" / run_id, "--output"
        )
        tracker = None if args.no_log else tracking.Tracker(args.uri, run_id=run_id)
        pub = _publish(args, run_id, record, output, tracker)
    except StudyError as err:
        fail("study-aggregate", err)
    except OSError as err:
        if err.errno not in DISK_ERRORS:
            raise
        fail("study-aggregate", f"cannot write {err.filename or 'a file'} ({err.strerror})")
    _report(args, run_id, record, output, tracker, pub)
    if summary.not_learned(record):  # as study-run: a study that answers nothing is no success
        sys.exit(1)


def _parser() -> argparse.ArgumentParser:
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
    uri_option(parser)
    parser.add_argument("--top-k", type=int, default=None, help="k of top-k (default: the study's)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="folder for tables and charts (default runs/aggregate/<run id>)",
    )
    parser.add_argument("--no-log", action="store_true", help="do not log back to the parent run")
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    return parser


def _study(args):
    """The parent run id and the record of the study ``args`` name, read from the store; a
    StudyError for a ``--top-k`` out of range or a study with no finished seed."""
    from study import tracking

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
    return run_id, record


def _publish(args, run_id: str, record, output: Path, tracker):
    """The study's analysis, checks and randomisation test, written to ``output`` (and logged
    by ``tracker``) as study-run writes them, with the tables only training makes copied."""
    from study import tracking
    from study.lifecycle import publish

    meta = record.meta
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
    return pub


def _null(uri: str, run_id: str, meta):
    """The study's null values and the test's settings as study-run used them (None: no test)."""
    from study import tracking
    from study.analysis import randomisation
    from study.analysis.randomisation.nullnets import NullTest

    stored = tracking.load_null(uri, run_id)
    if stored is None:
        return None

    arrays, test = stored
    return NullTest(randomisation.NullSet.from_arrays(arrays, test, meta), test)


def _report(args, run_id: str, record, output: Path, tracker, pub) -> None:
    """Present the published study (its notes and checks, logged too) and print its summary and
    the summed first-layer weights."""
    from study.lifecycle import publish
    from study.report import summary

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
    print(shown(table.to_string(index=False, float_format="%.3f")))
