"""Every chart of a study, drawn from the tables of :class:`~study.analysis.aggregate.Analysis`:
:data:`CHARTS` by file name, the best seed's network, and :func:`start_all` / :func:`draw_all`,
which write them all (the figures themselves are in ``_importance``, ``_ranks`` and ``_methods``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from study.report.plots._importance import importance_boxplots_figure, weight_sums_figure
from study.report.plots._methods import agreement_figure, stability_curve_figure
from study.report.plots._ranks import rank_bump_figure, rank_heatmap_figure, rank_sets_figure

CHARTS = {
    "weight_sums.png": weight_sums_figure,
    "importance_boxplots.png": importance_boxplots_figure,
    "rank_heatmap.png": rank_heatmap_figure,
    "rank_bump.png": rank_bump_figure,
    "stability_curve.png": stability_curve_figure,
    "agreement_matrix.png": agreement_figure,
}


def best_network_figure(analysis):
    """The neural interpretation diagram of the study's best-scoring seed (highest test score)."""
    from study.report.plots._olden import network_diagram

    rec, meta = analysis.record, analysis.record.meta
    test = np.array([r.test_score for r in rec.runs], float)
    run = rec.runs[int(np.nanargmax(test)) if np.isfinite(test).any() else 0]
    return network_diagram(
        run.coefs,
        run.intercepts,
        feature_names=meta.feature_names,
        output_names=meta.output_names,
        title=f"{meta.name}: seed {run.seed}, the best test {meta.score_name} "
        f"({run.test_score:.3f}) of {len(rec.runs)} runs",
    )


# rough drawing time of each chart: the costliest are handed out first (measured at 13 and 30
# variables: the many-panel charts cost most)
_COST = {
    "importance_boxplots.png": 3.0,
    "rank_heatmap.png": 3.0,
    "rank_bump.png": 2.0,
    "weight_sums.png": 2.0,
    "agreement_matrix.png": 1.0,
    "stability_curve.png": 1.0,
    "network_diagram.png": 0.5,
}


def start_all(analysis, output_dir, *, fork: bool | None = None):
    """Start drawing what :func:`draw_all` draws: a :class:`~._parallel.Drawing`, whose
    ``finish()`` returns the paths once every chart is written (part of them drawn by a forked
    process meanwhile; see :mod:`._parallel`)."""
    import matplotlib

    from study.report.plots._parallel import start

    # Headless by default, but never switch a backend someone already chose (a notebook, or a
    # script that imported pyplot): switching would close their open figures.
    if "matplotlib.pyplot" not in sys.modules and "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        (output_dir / name, (lambda draw=draw: draw(analysis)), _COST.get(name, 1.0))
        for name, draw in CHARTS.items()
    ]
    jobs.append(
        (
            output_dir / "network_diagram.png",
            lambda: best_network_figure(analysis),
            _COST["network_diagram.png"],
        )
    )
    answer = getattr(analysis, "answer", None)
    if answer is not None and answer.n_resamples:
        jobs.append((output_dir / "rank_sets.png", lambda: rank_sets_figure(analysis), 1.0))
    if getattr(analysis, "lek_profile", None) is not None:
        from study.report.plots._olden import lek_figure
        from study.training.naming import metric_names

        columns = analysis.record.meta.methods["lek"].columns
        for output, safe in zip(columns, metric_names(columns)):
            jobs.append(
                (
                    output_dir / f"lek_profile_{safe}.png",
                    (lambda o=output: lek_figure(analysis, o)),
                    1.0,
                )
            )
    if "ipykernel" in sys.modules:  # a notebook's kernel: no fork under its threads
        fork = False
    return start(jobs, fork=fork)


def draw_all(analysis, output_dir, *, fork: bool | None = None) -> list[Path]:
    """Write every chart of :data:`CHARTS` into ``output_dir``, the best seed's network diagram
    (``network_diagram.png``), then Lek's profile per output when the study has the ``lek``
    method; returns the paths in that order. ``fork``: draw part of them in a forked process
    (None: where the machine has fork and more than one core)."""
    return start_all(analysis, output_dir, fork=fork).finish()
