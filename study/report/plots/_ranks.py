"""The charts of the ranks: how often each variable takes each rank, each variable's rank seed by
seed, and the answer's rank sets over data and seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from study.report.plots._base import (
    _fixed_grid,
    _matrix,
    _new_figure,
    _note,
    _palette,
    _panels,
    _primary,
    _row_height,
    _suptitle,
)

MAX_SEEDS_DRAWN = 40  # the bump chart draws the first 40 seeds: 1000 lines per variable are ink
MAX_ANNOTATED_CELLS = 800  # the rank heat map prints its counts up to this many cells in all


def rank_heatmap_figure(analysis):
    """Counts of runs giving each variable each rank, per panel; variables by mean rank."""
    meta, dist = analysis.record.meta, analysis.rank_distribution
    panels = _panels(analysis, on="rank")
    n = len(meta.feature_names)
    usable = analysis.stability.set_index(["method", "output"])["n_runs"]
    side = max(2.4, (0.3 if n <= 15 else 0.17) * n)
    ncols = 4 if n <= 15 else 3
    fig, axes = _fixed_grid(
        len(panels), ncols, labels=meta.feature_names, panel_w=side, panel_h=side, right=1.0
    )
    tables = []
    for method, output, _ in panels:
        rows = dist[(dist["method"] == method) & (dist["output"] == output)]
        counts = _matrix(rows, "feature", "rank", "count", range(1, n + 1)).fillna(0)
        total = counts.sum(axis=1).replace(0, np.nan)
        mean_rank = (counts * counts.columns.to_numpy()).sum(axis=1) / total
        tables.append(counts.loc[mean_rank.sort_values(na_position="last").index])
    # one colour scale for every panel, stretched to the largest count so small counts still show
    vmax = max([1.0] + [float(t.to_numpy().max()) for t in tables if t.size])
    image = None
    ticks = [0] + list(range(4, n, 5)) if n > 15 else list(range(n))
    for ax, (method, output, title), counts in zip(axes, panels, tables):
        image = ax.imshow(counts.to_numpy(float), cmap="Blues", vmin=0, vmax=vmax, aspect="auto")
        ax.set_yticks(range(n), counts.index, fontsize=8)
        ax.set_xticks(ticks, [t + 1 for t in ticks], fontsize=8)
        ax.set_xlabel("rank (1 = most important)", fontsize=9)
        ax.set_title(title, fontsize=10)
        if len(panels) * n * n <= MAX_ANNOTATED_CELLS:  # beyond, a wall of numbers: colour only
            for (i, j), c in np.ndenumerate(counts.to_numpy(float)):
                if c > 0.05:  # ties split a run over the ranks they span: fractional counts
                    ax.text(
                        j,
                        i,
                        f"{c:.0f}" if abs(c - round(c)) < 0.05 else f"{c:.1f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        in_layout=False,
                        color="white" if c > 0.6 * vmax else "black",
                    )
        if int(usable.get((method, output), 0)) == 0:
            _note(ax, "no usable runs")
    if image is not None:
        w, h = fig.get_size_inches()
        bar = fig.add_axes((1 - 0.75 / w, 0.25, 0.15 / w, 0.5), label="<colorbar>")
        fig.colorbar(image, cax=bar, label="runs")
    _suptitle(fig, analysis, "how often each variable gets each rank")
    return fig


def rank_bump_figure(analysis):
    """Each variable's rank per seed, one panel per method (its first output column); variables
    in the top k of a drawn seed in colour and labelled at the right, the rest thin grey. Only the
    first :data:`MAX_SEEDS_DRAWN` seeds are drawn (the title says so): past a few dozen seeds the
    lines are ink, and the rank heat map shows the whole study."""
    from matplotlib.collections import LineCollection

    meta, imp = analysis.record.meta, _primary(analysis)
    methods, k = list(meta.methods), analysis.top_k
    n = len(meta.feature_names)
    drawn = sorted(set(imp["seed"]))[:MAX_SEEDS_DRAWN]
    imp = imp[imp["seed"].isin(drawn)]
    firsts = pd.concat(
        [imp[(imp["method"] == m) & (imp["output"] == meta.methods[m].columns[0])] for m in methods]
    )
    ever = set(firsts.loc[firsts["rank"] <= k, "feature"])
    # one colour per variable in every panel, so a variable is followed from method to method
    colour = dict(zip([f for f in meta.feature_names if f in ever], _palette(len(ever))))
    ncols = 1 if len(methods) == 1 else 2
    panel_h = max(2.2, 0.4 + 0.2 * n)
    fig, axes = _fixed_grid(
        len(methods),
        ncols,
        labels=["rank", "13"],
        panel_w=5.0,
        panel_h=panel_h,
        right_labels=sorted(ever),
    )
    for ax, method in zip(axes, methods):
        output = meta.methods[method].columns[0]
        rows = imp[(imp["method"] == method) & (imp["output"] == output)]
        ranks = _matrix(rows, "seed", "feature", "rank", list(meta.feature_names)).sort_index()
        seeds = ranks.index.to_numpy()
        top = [f for f in ranks.columns if (ranks[f] <= k).any()]
        grey = [
            np.column_stack([seeds, ranks[f].to_numpy(float)])
            for f in ranks.columns
            if f not in top
        ]
        ax.add_collection(LineCollection(grey, colors="0.75", linewidths=0.7, zorder=1))
        for f in top:
            ax.plot(seeds, ranks[f], color=colour[f], lw=2, marker="o", ms=3, zorder=2)
        ends = {f: ranks[f].dropna().iloc[-1] for f in top if ranks[f].notna().any()}
        _end_labels(ax, ends, colour, n=n, height=panel_h)
        out = "pooled over outputs" if output == "all" else f"output {output}"
        ax.set_title(f"{method} ({out})", fontsize=10)
        ax.set_ylim(n + 0.5, 0.5)
        ax.set_yticks(range(1, n + 1, 1 if n <= 15 else 2))
        ax.set_ylabel("rank")
        ax.set_xlabel("seed")
        if len(seeds) <= 20:
            ax.set_xticks(seeds)
        if len(seeds):
            pad = 0.02 * max(seeds[-1] - seeds[0], 1)
            ax.set_xlim(seeds[0] - pad, seeds[-1] + pad)
        if ranks.isna().all().all():
            _note(ax, "no usable runs")
    m = len(analysis.record.runs)
    if len(drawn) < m:
        what = (
            f"rank in the first {len(drawn)} of {m} runs; coloured: in the top {k} of one of them"
        )
    else:
        what = f"rank per run; coloured: ever in the top {k}"
    _suptitle(fig, analysis, what)
    return fig


def _end_labels(ax, ends: dict, colours: dict, *, n: int, height: float) -> None:
    """Name each highlighted line at its right end, as tick labels of a right-hand axis (so the
    layout makes room for them), pushed apart where ranks tie or sit next to each other."""
    if not ends:
        return
    names = sorted(ends, key=ends.get)
    gap = 10 * n / (72 * 0.8 * height)  # 10 pt expressed in rank units of this panel
    y = [float(ends[f]) for f in names]
    for i in range(1, len(y)):
        y[i] = max(y[i], y[i - 1] + gap)
    y[-1] = min(y[-1], n + 0.4)
    for i in range(len(y) - 2, -1, -1):
        y[i] = min(y[i], y[i + 1] - gap)
    right = ax.secondary_yaxis("right")
    right.set_yticks(y, names, fontsize=8)
    right.tick_params(length=0)
    right.spines["right"].set_visible(False)
    for label, f in zip(right.get_yticklabels(), names):
        label.set_color(colours[f])


VERDICT_COLOURS = {"surely": "#1b7837", "possibly": "#e08214", "no": "#9e9e9e"}


def rank_sets_figure(analysis):
    """The answer's 95% rank sets over data and seeds (:mod:`study.analysis.uncertainty`):
    variables by estimate (largest share on top), a thick bar over the marginal set, a thin one
    over the simultaneous set, a dot at the rank of the estimate, coloured by the top-k verdict; the
    dashed line closes the top k. Only for a study with resample networks."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    a = analysis.answer
    t = a.table.sort_values("share", ascending=False, kind="stable").reset_index(drop=True)
    n = len(t)
    fig = _new_figure(max(8.0, 5.0 + 0.15 * n), _row_height(n) + 0.6)
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]  # the largest share on top
    colours = [VERDICT_COLOURS.get(v, "#9e9e9e") for v in t.top_k]
    ax.hlines(
        y,
        t.rank_low_simultaneous - 0.45,
        t.rank_high_simultaneous + 0.45,
        colors=colours,
        lw=1.2,
        alpha=0.7,
    )
    ax.barh(
        y,
        t.rank_high - t.rank_low + 0.9,
        left=t.rank_low - 0.45,
        height=0.5,
        color=colours,
        alpha=0.85,
    )
    ax.plot(np.arange(1, n + 1), y, "o", color="black", ms=3.5, zorder=3)
    ax.axvline(a.k + 0.5, color="black", ls="--", lw=0.8)
    ax.set_yticks(y, list(t.feature), fontsize=8 if n <= 20 else 7)
    ax.set_xlim(0.4, n + 0.6)
    ax.set_ylim(-0.7, n - 0.3)
    step = 1 if n <= 12 else 2 if n <= 30 else 5
    ax.set_xticks(range(1, n + 1, step))
    ax.set_xlabel("rank (1 = most important)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    handles = [
        Patch(color=c, label=f"{v} in the top {a.k}" if v != "no" else f"not in the top {a.k}")
        for v, c in VERDICT_COLOURS.items()
    ]
    handles += [
        Line2D([], [], color="grey", lw=5, label="95% rank set"),
        Line2D([], [], color="grey", lw=1.2, label="simultaneous (all at once)"),
        Line2D([], [], marker="o", color="black", ls="", ms=3.5, label="rank of the estimate"),
    ]
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False
    )
    meta = analysis.record.meta
    fig.suptitle(
        f"{meta.name}: where each variable ranks, over data and seeds\n"
        f"{a.method}: the mean share over {a.n_seeds} seeds; its covariance from "
        f"{a.n_resamples} resample networks",
        fontsize=11,
    )
    return fig
