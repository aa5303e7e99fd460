"""An analysis as the metrics of the study's parent run: their names and values.

:meth:`~study.analysis.aggregate.Analysis.metrics` and
:meth:`~study.analysis.aggregate.Analysis.series` are these functions; the names are MLflow-safe
(:func:`study.training.naming.metric_names`), one per view, or one for a method whose outputs
all rank alike. Pure: :mod:`study.lifecycle.publish` logs them.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from study.analysis import stability as stab
from study.analysis.views import primary_ranks

__all__ = ["metrics", "series", "stability_rows"]


def metrics(analysis) -> dict[str, float]:
    """Study-level metrics of an :class:`~study.analysis.aggregate.Analysis` that mean something
    as a chart: the scores, and per view (one for a method whose outputs all rank alike) the
    final top-k stability and the half-width of its 95% interval; the known-truth accuracy on
    simulated data. Non-finite values are left out."""
    rec, k = analysis.record, analysis.top_k
    test = np.array([r.test_score for r in rec.runs], float)
    out = {
        "runs": float(len(rec.runs)),
        "runs_converged": float(sum(r.converged for r in rec.runs)),
        "test_score_mean": float(np.nanmean(test)) if test.size else np.nan,
        "test_score_sd": float(np.nanstd(test, ddof=1)) if test.size > 1 else np.nan,
    }
    for base, row in stability_rows(analysis):
        out[f"{base}.top{k}_stability_ci"] = (
            (row.topk_stability_high - row.topk_stability)
            if np.isfinite(row.topk_stability_high)
            else np.nan
        )
    if analysis.truth is not None:
        for row in analysis.truth.itertuples():
            out[f"truth.{row.method}.accuracy"] = row.accuracy
    return {key: float(v) for key, v in out.items() if v is not None and np.isfinite(v)}


def series(analysis, *, max_points: int = 200) -> dict[str, list[tuple[int, float]]]:
    """Kendall's W and top-k stability of each view on the first m seeds, ``[(m, value)]``
    (step = number of seeds; at most ``max_points`` steps, the last one all seeds), from the
    primary ranks :func:`~study.analysis.aggregate.analyse` kept (computed here for an analysis
    without them)."""
    k, out = analysis.top_k, {}
    ranks = analysis.ranks or primary_ranks(analysis.record)
    for base, row in stability_rows(analysis):
        r = ranks[(row.method, row.column)]
        r = r[~np.isnan(r).any(axis=1)]
        m_values, w = stab.stability_curve(r)
        if not len(m_values):
            continue
        keep = np.unique(
            np.linspace(0, len(m_values) - 1, min(max_points, len(m_values))).round().astype(int)
        )
        members = stab.topk_membership(r, k)
        out[f"{base}.kendall_w"] = [
            (int(m_values[i]), float(w[i])) for i in keep if np.isfinite(w[i])
        ]
        nog = stab.nogueira_curve(members, m_values[keep])
        out[f"{base}.top{k}_stability"] = [
            (int(m), float(v)) for m, v in zip(m_values[keep], nog) if np.isfinite(v)
        ]
    return {key: pts for key, pts in out.items() if pts}


def stability_rows(analysis):
    """``(metric base name, stability row)`` per view of an analysis; one view for a method whose
    outputs all rank alike. The row carries ``column`` (its index among the method's columns)."""
    from study.training.naming import metric_names

    seen = set()
    for row in analysis.stability.itertuples():
        layout = analysis.record.meta.methods[row.method]
        if row.method in analysis.same_ranking:
            if row.method in seen:
                continue
            seen.add(row.method)
            part = ""
        else:
            part = "" if row.output == "all" else "." + metric_names([row.output])[0]
        yield (
            f"stability.{row.method}{part}",
            SimpleNamespace(**row._asdict(), column=layout.columns.index(row.output)),
        )
