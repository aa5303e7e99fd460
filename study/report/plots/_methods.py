"""The charts that compare the methods: how the ranking settles as runs are added, how far the
methods agree, and retraining on each method's top k variables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from study.report.plots._base import _new_figure, _note, _panels, _suptitle


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
