"""The charts of every study, drawn from the tables of
:class:`~study.analysis.aggregate.Analysis`."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from study.report.plots._base import (
    NEG,
    NET,
    POS,
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

MAX_OUTPUTS = 4  # connection-weight panels drawn in the weight-sums chart
MAX_SEEDS_DRAWN = 40  # the bump chart draws the first 40 seeds: 1000 lines per variable are ink
MAX_ANNOTATED_CELLS = 800  # the rank heat map prints its counts up to this many cells in all


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


def stability_curve_figure(analysis):
    """Kendall's W of the first m runs against m, one line per panel (colour = method)."""
    import matplotlib
    import matplotlib.ticker

    meta, curve = analysis.record.meta, analysis.stability_curve
    fig = _new_figure(9.0, 4.8)
    ax = fig.add_subplot()
    colours, styles = matplotlib.colormaps["tab10"], ["-", "--", ":", "-."]
    methods = list(meta.methods)
    for method, output, title in _panels(analysis, on="rank"):
        rows = curve[(curve["method"] == method) & (curve["output"] == output)]
        rows = rows.sort_values("n_runs")
        style = styles[list(meta.methods[method].columns).index(output) % len(styles)]
        ax.plot(
            rows["n_runs"],
            rows["kendall_w"],
            style,
            marker="o",
            ms=3,
            label=title,
            color=colours(methods.index(method) % colours.N),
        )
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if len(curve):  # also right when every W is NaN or there is one point per line (2 runs)
        ax.set_xlim(curve["n_runs"].min() - 0.5, curve["n_runs"].max() + 0.5)
    ax.set_xlabel("number of runs")
    ax.set_ylabel("Kendall's W (1 = same ranking every run)")
    ax.grid(alpha=0.3)
    if not np.isfinite(curve["kendall_w"].to_numpy(float)).any():  # also when the table is empty
        _note(ax, "Kendall's W is undefined here (fewer than 2 usable runs or 1 variable)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
    _suptitle(fig, analysis, "ranking stability as runs are added")
    return fig


def agreement_figure(analysis):
    """Method x method matrices of top-k feature agreement and rank correlation (mean over
    outputs; symmetric, diagonal 1)."""
    methods, agree = list(analysis.record.meta.methods), analysis.agreement
    size = max(2.8, 1.2 + 0.55 * len(methods))
    fig = _new_figure(2 * size + 4.4, size + 1.8)
    axes = fig.subplots(1, 2, squeeze=False)[0]
    k, n = analysis.top_k, len(analysis.record.meta.feature_names)
    trivial = "\n(k ≥ number of variables: always 1)" if k >= n else ""
    specs = [
        ("feature_agreement", f"top-{k} feature agreement{trivial}", "Blues", 0),
        ("rank_correlation", "rank correlation (Spearman)", "RdBu", -1),
    ]
    for ax, (measure, title, cmap, vmin) in zip(axes, specs):
        mat = pd.DataFrame(np.eye(len(methods)), index=methods, columns=methods)
        rows = agree[agree["measure"] == measure]
        for (a, b), v in rows.groupby(["method_a", "method_b"])["value"].mean().items():
            mat.loc[a, b] = mat.loc[b, a] = v
        image = ax.imshow(mat.to_numpy(float), cmap=cmap, vmin=vmin, vmax=1)
        ax.set_xticks(range(len(methods)), methods, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(len(methods)), methods, fontsize=8)
        for (i, j), v in np.ndenumerate(mat.to_numpy(float)):
            dark = abs(v) > 0.65 if vmin < 0 else v > 0.65
            ax.text(
                j,
                i,
                "–" if np.isnan(v) else f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.8)
    what = "mean over runs and outputs" if len(methods) > 1 else "one method: nothing to compare"
    _suptitle(fig, analysis, f"agreement between methods ({what})")
    return fig


def retrain_figure(curves: pd.DataFrame, meta):
    """Held-out score when keeping (left) or removing (right) each method's top-k variables,
    against k; ``random`` is drawn grey with a ±1 sd band. ``curves``: the table of
    :func:`study.analysis.retraining.retrain_curves` (method, mode, k, score_mean, score_sd)."""
    import matplotlib
    import matplotlib.ticker

    fig = _new_figure(11.0, 4.6)
    axes = fig.subplots(1, 2, sharey=True, squeeze=False)[0]
    colours = matplotlib.colormaps["tab10"]
    methods = [m for m in dict.fromkeys(curves["method"]) if m != "random"]
    for ax, mode in zip(axes, ("keep", "remove")):
        rows = curves[curves["mode"] == mode].sort_values("k")
        rnd = rows[rows["method"] == "random"]
        ax.fill_between(
            rnd["k"],
            rnd["score_mean"] - rnd["score_sd"].fillna(0),
            rnd["score_mean"] + rnd["score_sd"].fillna(0),
            color="0.85",
        )
        ax.plot(rnd["k"], rnd["score_mean"], color="0.4", ls="--", label="random k")
        # Methods that agree on their top k have identical curves; a small sideways offset and
        # a marker each keep every method visible instead of hidden under the last one drawn.
        width = 0.3 / max(len(methods), 1)
        for i, m in enumerate(methods):
            r = rows[rows["method"] == m]
            x = r["k"] + (i - (len(methods) - 1) / 2) * width
            ax.plot(
                x,
                r["score_mean"],
                marker="osD^vPX*"[i % 8],
                ms=4,
                lw=1.2,
                color=colours(i % 10),
                label=m,
            )
        ax.set_title(f"{mode} the top k variables", fontsize=10)
        ax.set_xlabel("k")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"held-out {meta.score_name}")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
    fig.suptitle(
        f"{meta.name}: retraining on each method's top k vs k random variables", fontsize=11
    )
    return fig


CHARTS = {
    "weight_sums.png": weight_sums_figure,
    "importance_boxplots.png": importance_boxplots_figure,
    "rank_heatmap.png": rank_heatmap_figure,
    "rank_bump.png": rank_bump_figure,
    "stability_curve.png": stability_curve_figure,
    "agreement_matrix.png": agreement_figure,
}


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
