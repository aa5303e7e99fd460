"""A study's last steps, shared by ``study-run`` and ``study-aggregate``: analyse a record, run
the checks of its networks and Olden & Jackson's test, write every table and chart and log them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from study.analysis import aggregate
from study.config.spec import N_BOOTSTRAP
from study.errors import StudyError
from study.training.record import StudyRecord

__all__ = [
    "Published",
    "publish",
    "present",
    "analyse_and_log",
    "randomisation_and_log",
    "write_tables",
    "report_blocks",
]


@dataclass
class Published:
    """Everything computed from a study's record: the one result the report is rendered from."""

    analysis: aggregate.Analysis
    charts: list = field(default_factory=list)
    tables: dict = field(default_factory=dict)
    check_lines: list = field(default_factory=list)
    randomisation: object = None


def publish(
    tracker,
    record: StudyRecord,
    output_dir: Path,
    *,
    top_k: int,
    n_bootstrap: int,
    seed: int,
    charts: bool,
    null=None,
) -> Published:
    """Analyse ``record``, run the checks of its networks and (with ``null``: a
    :class:`~study.analysis.randomisation.nullnets.NullTest`) Olden & Jackson's test; write
    every table and chart to ``output_dir`` and log them to the parent (``tracker`` None: not
    logged)."""
    from study.analysis import checks as validation

    analysis, paths, checks = _analyse_and_log(
        tracker,
        record,
        output_dir,
        top_k=top_k,
        n_bootstrap=n_bootstrap,
        seed=seed,
        charts=charts,
        meanwhile=lambda: validation.checks(record),
    )
    out = Published(analysis, list(paths), dict(analysis.tables()))
    resampled = aggregate.resample_table(record)  # beside the seeds' tables, never in them
    more = {**checks.tables, **({"resamples.csv": resampled} if resampled is not None else {})}
    _log(tracker, tables=write_tables(more, output_dir))
    out.tables.update(more)
    out.check_lines = checks.summary
    if null is not None:
        result, paths = randomisation_and_log(
            tracker, record, null.networks, null.settings, output_dir, charts=charts
        )
        out.charts += paths
        out.tables.update(result.tables)
        out.randomisation = result
    return out


def present(tracker, pub: Published, output_dir: Path, *, notes=()) -> Path:
    """The study's page: ``overview.html`` in ``output_dir`` and on the parent, and the parent's
    description (the answer, with links to the page, the report and the study's runs).
    ``notes``: the report's notes and warnings (the analysis's own are added)."""
    from study.report import overview

    analysis = pub.analysis
    warnings = [*notes, *analysis.notes]
    settings = tracker.params() if tracker is not None else {}
    page = overview.overview_html(
        analysis,
        charts=pub.charts,
        warnings=warnings,
        randomisation=pub.randomisation.summary if pub.randomisation else (),
        settings=settings,
    )
    path = Path(output_dir) / "overview.html"
    path.write_text(page, encoding="utf-8")
    if tracker is not None:
        tracker.log_artifact(path)
        tracker.set_description(overview.description(analysis, links=tracker.page_links()))
    return path


def _log(tracker, **what) -> None:
    if tracker is not None:
        tracker.log_results(**what)


def analyse_and_log(
    tracker,
    record: StudyRecord,
    output_dir: Path,
    *,
    top_k: int,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
    charts: bool = True,
):
    """Analyse a study and draw its charts; write both to ``output_dir`` and log them.
    Returns the analysis and the chart paths."""
    analysis, paths, _ = _analyse_and_log(
        tracker, record, output_dir, top_k=top_k, n_bootstrap=n_bootstrap, seed=seed, charts=charts
    )
    return analysis, paths


def _analyse_and_log(
    tracker, record, output_dir, *, top_k, n_bootstrap, seed, charts, meanwhile=None
):
    """:func:`analyse_and_log`, with ``meanwhile()`` (its result returned third) run while a
    forked process draws part of the charts (:func:`study.report.plots.start_all`)."""
    from study.report import plots

    analysis = aggregate.analyse(record, top_k=top_k, n_bootstrap=n_bootstrap, seed=seed)
    drawing = plots.start_all(analysis, output_dir) if charts else None
    # while the child draws: the tables, the metrics and their curves (a few thousand values
    # through MLflow's log_batch: a second at 1000 seeds), then ``meanwhile``
    tables = write_tables(analysis.tables(), output_dir)
    _log(tracker, metrics=analysis.metrics(), series=analysis.series(), tables=tables)
    extra = meanwhile() if meanwhile is not None else None
    paths = drawing.finish() if drawing is not None else []
    if paths:
        _log(tracker, metrics={}, charts=paths)
    return analysis, paths, extra


def randomisation_and_log(
    tracker, record: StudyRecord, null, test: Mapping, output_dir: Path, *, charts: bool = True
):
    """Olden & Jackson's test of a study against its null networks (``null``: a
    :class:`~study.analysis.randomisation.NullSet`; ``test``: ``alternative``, ``alpha``,
    ``chance``):
    tables, metrics and charts, written and logged."""
    from study.analysis import randomisation
    from study.report import plots

    result = randomisation.analyse(
        record,
        null,
        alternative=str(test["alternative"]),
        alpha=float(test["alpha"]),
        chance=test.get("chance"),
    )
    tables = write_tables(result.tables, output_dir)
    paths = (
        plots.draw_randomisation(result, record, output_dir, alpha=float(test["alpha"]))
        if charts
        else []
    )
    _log(tracker, metrics=result.metrics, tables=tables, charts=paths)
    return result, paths


def write_tables(tables: Mapping, output_dir: Path) -> list[Path]:
    """Write ``{file name: DataFrame}`` as CSV files in ``output_dir``; return their paths.

    Written by Arrow's CSV writer (pyarrow, which pandas and MLflow already load): the 416,000
    rows of a 1000-seed study's ``importances.csv`` take 0.12 s instead of pandas' 1.4 s. Floats
    are written as their shortest round-trip text, as pandas does, so ``pandas.read_csv`` reads
    back the same numbers; NaN is an empty field; text is quoted only where a value holds a
    comma, a quote or a line break (then every text field of that table is quoted)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    paths = []
    for name, table in tables.items():
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        text = [
            c
            for c in arrow.column_names
            if pa.types.is_string(arrow.schema.field(c).type)
            or pa.types.is_large_string(arrow.schema.field(c).type)
        ]
        plain = all(not table[c].astype(str).str.contains(r'[",\r\n]').any() for c in text)
        header = ",".join(_csv_field(str(c)) for c in table.columns) + "\n"
        with open(
            output_dir / name, "wb"
        ) as fh:  # the header as pandas writes it (Arrow quotes it)
            fh.write(header.encode())
            pcsv.write_csv(
                arrow,
                fh,
                pcsv.WriteOptions(
                    include_header=False, quoting_style="none" if plain else "needed"
                ),
            )
        paths.append(output_dir / name)
    return paths


def _csv_field(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in '",\r\n') else text


def report_blocks(*, notes=(), checks=(), retrain=None, randomisation=None) -> list[list[str]]:
    """The report's extra blocks in their order: notes first, then the checks, retraining and
    the randomisation test."""
    blocks = [list(notes)] if notes else []
    blocks += list(checks)
    blocks += [retrain] if retrain else []
    blocks += [randomisation] if randomisation else []
    return blocks


def compare_studies(
    uri: str,
    run_ids,
    output_dir: Path,
    *,
    log: bool = True,
    top_k: int | None = None,
    charts: bool = True,
):
    """Read the studies ``run_ids`` from the store, compare their answers
    (:func:`study.analysis.compare.compare`), write ``compare*.csv``, ``compare.png`` and
    ``compare.txt`` to ``output_dir`` and (``log``) log them as a comparison run in the first
    study's experiment. Returns ``(compared, lines, comparison run id or None)``."""
    from study import tracking
    from study.analysis import compare
    from study.report import plots

    run_ids = list(dict.fromkeys(run_ids))
    records = [tracking.load_study(uri, rid) for rid in run_ids]
    empty = [rid for rid, rec in zip(run_ids, records) if not rec.runs]
    if empty:
        raise StudyError(f"study {empty[0]} has no finished seeds to compare")
    names = [rec.meta.name for rec in records]
    labels = [n if names.count(n) == 1 else f"{n} ({rid[:8]})" for n, rid in zip(names, run_ids)]
    params = [tracking.study_params(uri, rid) for rid in run_ids]
    try:
        compared = compare.compare(records, params, labels=labels, k=top_k)
    except ValueError as err:
        raise StudyError(str(err)) from None
    lines = compared.lines()
    files = write_tables(compared.tables(), output_dir)
    text = Path(output_dir) / "compare.txt"
    text.write_text("\n".join(lines) + "\n")
    files.append(text)
    if charts:
        files.append(plots.save(compare.figure(compared), Path(output_dir) / "compare.png"))
    run_id = None
    if log:
        pairs = compared.pairs
        metrics = {
            "studies": len(records),
            "tau_mean": float(pairs.tau.mean()),
            "tau_min": float(pairs.tau.min()),
            "overlap_min": float(pairs.overlap.min()),
            "common_top": float(len(compared.common_top)),
        }
        run_id = tracking.log_comparison(
            uri,
            records[0].experiment_id,
            name="compare · " + " vs ".join(labels)[:200],
            run_ids=run_ids,
            description=compared.markdown(tracking.study_links(records)),
            metrics={k: v for k, v in metrics.items() if v == v},
            files=files,
        )
    return compared, lines, run_id
