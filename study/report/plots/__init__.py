"""Charts of a study, drawn from the tables of :class:`~study.analysis.aggregate.Analysis`, never
recomputed.

:func:`draw_all` writes every chart as a PNG; each ``*_figure`` function returns one
:class:`matplotlib.figure.Figure` for a notebook. Figures are released from pyplot as soon as they
are made, so studies run in a loop leak nothing and a notebook shows each figure once.

A *panel* is one column of one method, ``(method, output)``; a method whose columns are identical
for every output (Garson and weight sums ignore the output layer) gets one panel, not one each.
matplotlib is imported inside the functions, so ``import study.report.plots`` stays light.
"""

from study.report.plots._base import DPI, save
from study.report.plots._importance import (
    MAX_OUTPUTS,
    importance_boxplots_figure,
    weight_sums_figure,
)
from study.report.plots._methods import agreement_figure, retrain_figure, stability_curve_figure
from study.report.plots._olden import (
    connection_mask,
    draw_randomisation,
    lek_figure,
    network_diagram,
    randomisation_figure,
)
from study.report.plots._ranks import (
    MAX_ANNOTATED_CELLS,
    MAX_SEEDS_DRAWN,
    rank_bump_figure,
    rank_heatmap_figure,
    rank_sets_figure,
)
from study.report.plots._study import CHARTS, best_network_figure, draw_all, start_all

__all__ = [
    "draw_all",
    "start_all",
    "save",
    "weight_sums_figure",
    "importance_boxplots_figure",
    "rank_heatmap_figure",
    "rank_bump_figure",
    "rank_sets_figure",
    "stability_curve_figure",
    "agreement_figure",
    "retrain_figure",
    "lek_figure",
    "randomisation_figure",
    "draw_randomisation",
    "network_diagram",
    "connection_mask",
    "best_network_figure",
    "CHARTS",
    "DPI",
    "MAX_OUTPUTS",
    "MAX_SEEDS_DRAWN",
    "MAX_ANNOTATED_CELLS",
]
