"""A study's views and their ranks: the unit every stability measure, table and chart is per.

A *view* is one column of one method: ``(method, output)``. Stability is computed per view, so a
network with several outputs gets it per output; :func:`same_ranking_methods` finds the methods
whose outputs all rank alike, which summaries then show once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from study.analysis import stability as stab
from study.training.record import StudyRecord

__all__ = ["View", "views", "primary_ranks", "same_ranking_methods", "overall_importance"]


@dataclass(frozen=True)
class View:
    """One column of one method. ``label`` is what tables and charts print."""

    method: str
    column: int
    output: str
    signed: bool

    @property
    def label(self) -> str:
        return self.method if self.output == "all" else f"{self.method} · {self.output}"


def views(record: StudyRecord) -> list[View]:
    """Every (method, column) of the study, in method then output order."""
    out = []
    for name, layout in record.meta.methods.items():
        for c, col in enumerate(layout.columns):
            out.append(View(name, c, col, layout.signed))
    return out


def primary_ranks(record: StudyRecord) -> dict[tuple[str, int], np.ndarray]:
    """``{(method, column): ranks (n_runs, n_features)}`` of every view's primary measure.

    Computed once per analysis and shared by the importance table, the stability measures and
    the detection of methods that rank every output alike.
    """
    return {
        (v.method, v.column): stab.rank_matrix(
            record.values(v.method)[:, :, v.column], signed=v.signed
        )
        for v in views(record)
    }


def same_ranking_methods(record: StudyRecord, ranks) -> tuple[str, ...]:
    """Methods with several outputs whose outputs rank the variables identically in every run.

    Classic Garson and weight sums always do (they ignore the output layer); summaries and charts
    then show one row or panel for the method instead of one per output.
    """
    out = []
    for name, layout in record.meta.methods.items():
        cols = [ranks[(name, c)] for c in range(len(layout.columns))]
        if len(cols) > 1 and all(np.array_equal(cols[0], r, equal_nan=True) for r in cols[1:]):
            out.append(name)
    return tuple(out)


def overall_importance(values: np.ndarray, *, signed: bool) -> np.ndarray:
    """``(m, n, K) -> (m, n)``: one importance per variable, the mean over outputs.

    Signed methods contribute ``|value|``: a variable that pushes one class up and another down
    matters for both.
    """
    v = np.abs(values) if signed else values
    return v.mean(axis=2)
