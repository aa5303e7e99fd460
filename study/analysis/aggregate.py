"""From a study's runs to its answers: tables, stability, agreement, weight sums, known truth.

Everything here is computed from a :class:`~study.training.record.StudyRecord` (which
:func:`study.tracking.load_study` reads back from MLflow), so ``study-run`` and ``study-aggregate``
run the same code on the same numbers and always agree.

A *view* is one column of one method: ``(method, output)``. Stability is computed per view, so a
network with several outputs gets it per output.

:func:`analyse` gathers every table into an :class:`Analysis`. The tables are built in
:mod:`~study.analysis.views` (views and their ranks), :mod:`~study.analysis.stability_tables`,
:mod:`~study.analysis.tables`, :mod:`~study.analysis.weight_sums` and :mod:`~study.analysis.answer`;
the parent run's metrics are named in :mod:`~study.analysis.run_metrics`. Their public names stay
importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from study.analysis import answer as ans
from study.analysis import run_metrics
from study.analysis.stability_tables import stability_tables
from study.analysis.tables import (
    agreement_table,
    importance_table,
    lek_table,
    resample_table,
    truth_table,
)
from study.analysis.views import (
    View,
    overall_importance,
    primary_ranks,
    same_ranking_methods,
    views,
)
from study.analysis.weight_sums import weight_sums_table
from study.config.spec import N_BOOTSTRAP
from study.training.record import StudyRecord

__all__ = [
    "View",
    "views",
    "Analysis",
    "analyse",
    "weight_sums_table",
    "overall_importance",
    "primary_ranks",
    "same_ranking_methods",
    "lek_table",
    "resample_table",
]


@dataclass
class Analysis:
    """Every table a study produces, and the metrics logged to its parent run."""

    record: StudyRecord
    top_k: int
    same_ranking: tuple[str, ...]  # methods whose outputs all rank alike (see same_ranking_methods)
    importances: pd.DataFrame
    weight_sums: pd.DataFrame
    aggregate: pd.DataFrame
    stability: pd.DataFrame
    topk_frequency: pd.DataFrame
    rank_distribution: pd.DataFrame
    agreement: pd.DataFrame
    stability_curve: pd.DataFrame
    truth: pd.DataFrame | None = None
    lek_profile: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    answer: ans.Answer | None = (
        None  # the study's answer (study.analysis.answer): first wherever shown
    )
    # the primary ranks the tables were computed from (primary_ranks), for series()
    ranks: dict = field(default_factory=dict, repr=False, compare=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``{file name: table}`` for every CSV artifact."""
        out = {
            "importances.csv": self.importances,
            "weight_sums.csv": self.weight_sums,
            "aggregate.csv": self.aggregate,
            "stability.csv": self.stability,
            "topk_frequency.csv": self.topk_frequency,
            "rank_distribution.csv": self.rank_distribution,
            "agreement.csv": self.agreement,
            "stability_curve.csv": self.stability_curve,
        }
        if self.truth is not None:
            out["truth_recovery.csv"] = self.truth
        if self.lek_profile is not None:
            out["lek_profile.csv"] = self.lek_profile
        if self.answer is not None:
            out["answer.csv"] = self.answer.frame()
            out["answer_methods.csv"] = self.answer.methods
        return out

    def metrics(self) -> dict[str, float]:
        """Study-level metrics that mean something as a chart: the scores, and per view (one for
        a method whose outputs all rank alike) the final top-k stability and the half-width of
        its 95% interval; the known-truth accuracy on simulated data. Kendall's W and top-k
        stability over the number of seeds are :meth:`series`. Agreement stays in
        ``agreement.csv``. Named and computed in :mod:`study.analysis.run_metrics`."""
        return run_metrics.metrics(self)

    def series(self, *, max_points: int = 200) -> dict[str, list[tuple[int, float]]]:
        """Kendall's W and top-k stability of each view on the first m seeds, ``[(m, value)]``
        (step = number of seeds; at most ``max_points`` steps, the last one all seeds): the UI
        draws them as convergence curves, and their last point is the study's value."""
        return run_metrics.series(self, max_points=max_points)


def analyse(
    record: StudyRecord, *, top_k: int | None = None, n_bootstrap: int = N_BOOTSTRAP, seed: int = 0
) -> Analysis:
    """Compute every table and metric of a study from its runs."""
    if not record.runs:
        raise ValueError("the study has no finished runs to analyse")
    k = int(top_k or record.meta.top_k)
    n = len(record.meta.feature_names)
    clip_note = []
    if n > 1 and k >= n:
        # The top n of n variables is every variable: its stability says nothing.
        clip_note = [f"top_k={k} covers all {n} variables; top-k measures use k={n - 1}"]
        k = n - 1
    ranks = primary_ranks(record)
    per_view = stability_tables(record, ranks, k, n_bootstrap, seed)
    notes = clip_note + per_view.notes
    truth = record.meta.truth
    if truth is not None and not np.any(np.asarray(truth, float) > 0):
        notes.append(
            "the dataset's known truth has no informative variable (pure noise: every "
            "coefficient is zero), so there is no true order and truth recovery is skipped"
        )
    return Analysis(
        record=record,
        top_k=k,
        same_ranking=same_ranking_methods(record, ranks),
        importances=importance_table(record, ranks),
        weight_sums=weight_sums_table(record),
        aggregate=per_view.aggregate,
        stability=per_view.stability,
        topk_frequency=per_view.topk_frequency,
        rank_distribution=per_view.rank_distribution,
        agreement=agreement_table(record, k),
        stability_curve=per_view.stability_curve,
        truth=truth_table(record),
        lek_profile=lek_table(record),
        notes=notes,
        answer=ans.answer(record, k=k, n_bootstrap=n_bootstrap, seed=seed),
        ranks=ranks,
    )
