"""A study's last steps, shared by ``study-run`` and ``study-aggregate``: analyse a record, run
the checks of its networks and Olden & Jackson's test, write every table and chart and log them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import aggregate
from .record import StudyRecord

__all__ = ["Published", "publish", "analyse_and_log", "randomisation_and_log", "write_tables",
           "report_blocks"]  # fmt: skip



@dataclass
class Published:
    """Everything computed from a study's record: the one result the report is rendered from."""

    analysis: aggregate.Analysis
    charts: list = field(default_factory=list)
    tables: dict = field(default_factory=dict)
    check_lines: list = field(default_factory=list)
    randomisation: object = None


def publish(tracker, record: StudyRecord, output_dir: Path, *, top_k: int, n_bootstrap: int,
            seed: int, charts: bool, null=None) -> Published:  # fmt: skip
    """Analyse ``record``, run the checks of its networks and (with ``null``: the null networks
    and the test's settings) Olden & Jackson's test; write every table and chart to
    ``output_dir`` and log them to the parent (``tracker`` None: not logged)."""
    from . import validation

    analysis, paths = analyse_and_log(tracker, record, output_dir, top_k=top_k,
                                      n_bootstrap=n_bootstrap, seed=seed, charts=charts)  # fmt: skip
    out = Published(analysis, list(paths), dict(analysis.tables()))
    checks = validation.checks(record)
    _log(tracker, metrics=checks.metrics, tables=write_tables(checks.tables, output_dir))
    out.tables.update(checks.tables)
    out.check_lines = checks.summary
    if null is not None and null[0]:
        result, paths = randomisation_and_log(tracker, record, null[0], null[1], output_dir,
                                              charts=charts)  # fmt: skip
        out.charts += paths
        out.tables.update(result.tables)
        out.randomisation = result
    return out


def _log(tracker, **what) -> None:
    if tracker is not None:
        tracker.log_results(**what)


def analyse_and_log(tracker, record: StudyRecord, output_dir: Path, *, top_k: int,
                    n_bootstrap: int = 1000, seed: int = 0, charts: bool = True):  # fmt: skip
    """Analyse a study and draw its charts; write both to ``output_dir`` and log them."""
    from . import plots

    analysis = aggregate.analyse(record, top_k=top_k, n_bootstrap=n_bootstrap, seed=seed)
    tables = write_tables(analysis.tables(), output_dir)
    paths = plots.draw_all(analysis, output_dir) if charts else []
    _log(tracker, metrics=analysis.metrics(), tables=tables, charts=paths)
    return analysis, paths


def randomisation_and_log(tracker, record: StudyRecord, null_runs, test: Mapping,
                          output_dir: Path, *, charts: bool = True):  # fmt: skip
    """Olden & Jackson's test of a study against its null networks (``test``: ``alternative``,
    ``alpha``, ``chance``): tables, metrics and charts, written and logged."""
    from . import plots, randomisation

    result = randomisation.analyse(record, null_runs, alternative=str(test["alternative"]),
                                   alpha=float(test["alpha"]), chance=test.get("chance"))  # fmt: skip
    tables = write_tables(result.tables, output_dir)
    paths = plots.draw_randomisation(result, record, output_dir, alpha=float(test["alpha"])) \
        if charts else []  # fmt: skip
    _log(tracker, metrics=result.metrics, tables=tables, charts=paths)
    return result, paths


def write_tables(tables: Mapping, output_dir: Path) -> list[Path]:
    """Write ``{file name: DataFrame}`` as CSV files in ``output_dir``; return their paths."""
    paths = []
    for name, table in tables.items():
        table.to_csv(output_dir / name, index=False)
        paths.append(output_dir / name)
    return paths


def report_blocks(*, notes=(), checks=(), retrain=None, randomisation=None) -> list[list[str]]:
    """The report's extra blocks in their order: notes first, then the checks, retraining and
    the randomisation test."""
    blocks = [list(notes)] if notes else []
    blocks += list(checks)
    blocks += [retrain] if retrain else []
    blocks += [randomisation] if randomisation else []
    return blocks
