"""``study-compare``: several studies' answers side by side, read from the store.

A user error prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from study.cli.common import fail, uri_option
from study.errors import StudyError

__all__ = ["compare_main"]


def compare_main(argv=None) -> None:
    """``study-compare``: several studies side by side, read from the store."""
    args = _parser().parse_args(argv)
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
        fail("study-compare", err)
    print("\n".join(lines))
    print(f"Tables and chart: {output}")
    if run_id:
        print(f"Comparison run: {run_id}")


def _parser() -> argparse.ArgumentParser:
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
    uri_option(parser)
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
    return parser


def _study_id(uri: str, study: str) -> str:
    """A study given by name, or by its parent (or a seed's) run id."""
    from study import tracking

    try:
        return tracking.find_study(uri, name=study)
    except StudyError:
        if len(study) == 32 and all(c in "0123456789abcdef" for c in study):
            return tracking.find_study(uri, run_id=study)
        raise
