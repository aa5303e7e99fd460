"""The charts of each variable's importance over runs: the summed weights (input and connection
views) and the box plots of each method's primary measure."""

from __future__ import annotations

import numpy as np

from study.report.plots._base import (
    NEG,
    NET,
    POS,
    _fixed_grid,
    _matrix,
    _new_figure,
    _note,
    _panels,
    _primary,
    _row_height,
    _suptitle,
)

MAX_OUTPUTS = 4  # connection-weight panels drawn in the weight-sums chart


def weight_sums_figure(analysis):
    """Diverging bars of the summed positive and negative weights, input view then connection
    view per output (first :data:`MAX_OUTPUTS`), variables in one order (input ``abs_sum``)."""
    meta, ws = analysis.record.meta, analysis.weight_sums
    inp = ws[ws["view"] == "input"]
    # barh draws bottom-up, so ascending order puts the largest abs_sum on top
    order = inp.sort_values("abs_sum", na_position="first")["feature"].tolist()
    outputs = list(meta.output_names)
    blocks = [("input weights (blind to the output layer)", inp)] + [
        (f"connection weights → {o}", ws[(ws["view"] == "connection") & (ws["output"] == o)])
        for o in outputs[:MAX_OUTPUTS]
    ]
    fig = _new_figure(2.0 + 3.2 * len(blocks), _row_height(len(order)))
    axes = fig.subplots(1, len(blocks), sharey=True, squeeze=False)[0]
    y = np.arange(len(order))
    n_runs = int(inp["n_runs"].max()) if len(inp) else 0
    for ax, (title, block) in zip(axes, blocks):
        b = block.set_index("feature").reindex(order)
        ax.barh(y, b["pos_sum"], color=POS, height=0.7, label="positive weights (sum)")
        ax.barh(y, b["neg_sum"], color=NEG, height=0.7, label="negative weights (sum)")
        ax.plot(b["net_sum"], y, "D", color=NET, ms=4, label="net sum", zorder=3)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(f"sum over {n_runs} runs")
        ax.grid(axis="x", alpha=0.3)
        if not np.isfinite(b[["pos_sum", "neg_sum"]].to_numpy(float)).any():
            _note(ax, "no finite weights")
    axes[0].set_yticks(y, order)
    axes[0].set_ylim(-0.6, len(order) - 0.4)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=9)
    more = f" (first {MAX_OUTPUTS} of {len(outputs)} outputs shown)" * (len(outputs) > MAX_OUTPUTS)
    _suptitle(fig, analysis, f"weight sums per variable, input vs connection view{more}")
    return fig


def _boxes(ax, data) -> None:
    """Horizontal box plots of ``data`` (one array per row, bottom-up at y = 1, 2, ...) with
    matplotlib's statistics (``cbook.boxplot_stats``: quartiles, whiskers at 1.5 IQR, fliers),
    drawn as five collections per panel rather than seven artists per box: the same picture at
    any number of runs, in a fraction of the drawing time."""
    from matplotlib import cbook
    from matplotlib.collections import PolyCollection

    y = np.arange(1, len(data) + 1, dtype=float)
    stats = [cbook.boxplot_stats(d)[0] if len(d) else None for d in data]
    keep = [i for i, st in enumerate(stats) if st is not None]
    if not keep:
        return
    y = y[keep]
    get = {
        k: np.array([stats[i][k] for i in keep], float)
        for k in ("q1", "q3", "med", "whislo", "whishi")
    }
    half = 0.3
    boxes = [
        [(a, c - half), (b, c - half), (b, c + half), (a, c + half)]
        for a, b, c in zip(get["q1"], get["q3"], y)
    ]
    ax.add_collection(PolyCollection(boxes, facecolors="none", edgecolors="black", linewidths=1))
    ax.hlines(
        np.r_[y, y],
        np.r_[get["whislo"], get["q3"]],
        np.r_[get["q1"], get["whishi"]],
        color="black",
        lw=1,
    )
    ax.vlines(
        np.r_[get["whislo"], get["whishi"]],
        np.r_[y, y] - half / 2,
        np.r_[y, y] + half / 2,
        color="black",
        lw=1,
    )
    ax.vlines(get["med"], y - half, y + half, color=NEG, lw=1.5, zorder=3)
    fx = np.concatenate([stats[i]["fliers"] for i in keep])
    fy = np.concatenate([np.full(len(stats[i]["fliers"]), y[j]) for j, i in enumerate(keep)])
    ax.plot(fx, fy, "o", ms=3, mfc="none", mec="0.3", mew=0.8, ls="none")
    ax.set_ylim(0.4, len(data) + 0.6)
    ax.autoscale_view(scaley=False)


def importance_boxplots_figure(analysis):
    """Box plots of each panel's primary importance over runs, variables ordered by median
    (of ``|value|`` for signed methods, which rank by magnitude), largest on top."""
    from matplotlib.ticker import MaxNLocator

    meta, imp = analysis.record.meta, _primary(analysis)
    panels = _panels(analysis, on="value")
    n = len(meta.feature_names)
    fig, axes = _fixed_grid(
        len(panels), 3, labels=meta.feature_names, panel_w=3.2, panel_h=_row_height(n) - 1.2
    )
    for ax, (method, output, title) in zip(axes, panels):
        layout = meta.methods[method]
        rows = imp[(imp["method"] == method) & (imp["output"] == output)]
        wide = _matrix(rows, "seed", "feature", "value", list(meta.feature_names))
        key = (wide.abs() if layout.signed else wide).median()  # NaN runs are skipped
        order = key.sort_values(na_position="first").index.tolist()
        data = [wide[f].dropna().to_numpy() for f in order]
        _boxes(ax, data)
        ax.set_yticks(range(1, n + 1), order, fontsize=8)
        if layout.signed:  # symmetric about zero, so the sign of each box reads at a glance
            ax.axvline(0, color="0.4", lw=0.8, ls="--")
            lim = np.nanmax(np.abs(wide.to_numpy(float)), initial=0) * 1.08
            if lim > 0:
                ax.set_xlim(-lim, lim)
        ax.xaxis.set_major_locator(MaxNLocator(6))  # long signed tick labels must not touch
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(f"{layout.primary}" + (" (signed)" if layout.signed else ""), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        if not any(len(d) for d in data):
            _note(ax, "no finite importances")
    _suptitle(fig, analysis, "importance of each variable across runs (primary measure)")
    return fig
