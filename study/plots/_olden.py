"""The pictures of Olden & Jackson's toolkit: Lek's profile, the randomisation test's null
histograms, and the neural interpretation diagram."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._base import NEG, _grid, _new_figure, _suptitle, save

def lek_figure(analysis, output: str):
    """Lek's profile of one output: a panel per variable, the response as it sweeps its range
    with the others held at each group's values; the median over runs as a line and the 10-90%
    band of the runs around it, one colour per group."""
    import matplotlib

    table, meta = analysis.lek_profile, analysis.record.meta
    rows = table[table["output"] == output]
    feats = list(meta.feature_names)
    groups = sorted(set(rows["group"]))
    ncols = min(4, len(feats))
    nrows = -(-len(feats) // ncols)
    fig = _new_figure(3.1 * ncols + 1.6, 2.3 * nrows + 1.0)
    axes = _grid(fig, len(feats), ncols)
    cmap = matplotlib.colormaps["viridis"]
    colours = [cmap(i / max(len(groups) - 1, 1) * 0.9) for i in range(len(groups))]
    lo, hi = np.nanmin(rows["q10"].to_numpy(float)), np.nanmax(rows["q90"].to_numpy(float))
    pad = 0.04 * (hi - lo) if np.isfinite(hi - lo) and hi > lo else 0.05
    for ax, feat in zip(axes, feats):
        f = rows[rows["feature"] == feat]
        for g, colour in zip(groups, colours):
            r = f[f["group"] == g].sort_values("step")
            ax.fill_between(r["x"], r["q10"], r["q90"], color=colour, alpha=0.2, lw=0)
            ax.plot(r["x"], r["median"], color=colour, lw=1.4, label=f"group {g}")
        ax.set_title(feat, fontsize=9)
        ax.tick_params(labelsize=7)
        if np.isfinite(lo) and np.isfinite(hi):
            ax.set_ylim(lo - pad, hi + pad)
        ax.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8,
               title="others held at", title_fontsize=8, frameon=False)  # fmt: skip
    fig.supxlabel("value of the swept variable (standardised)", fontsize=9)
    fig.supylabel(f"response ({output})", fontsize=9)
    _suptitle(fig, analysis, f"Lek's profile, output {output}: median over runs, 10-90% band")
    return fig


def randomisation_figure(observed, null, meta, method: str, output: str, *, p_values=None):
    """Olden & Jackson's picture for one method and output: per variable, the histogram of the
    null networks' values, every seed's observed value as a tick under it and their median as a
    red line; ``p_values`` (median p per variable) go in the panel titles."""
    feats = list(meta.feature_names)
    ncols = min(5, len(feats))
    nrows = -(-len(feats) // ncols)
    fig = _new_figure(2.7 * ncols + 0.4, 2.1 * nrows + 1.0)
    axes = _grid(fig, len(feats), ncols)
    for i, (ax, feat) in enumerate(zip(axes, feats)):
        nul = null[:, i][np.isfinite(null[:, i])]
        obs = observed[:, i][np.isfinite(observed[:, i])]
        if nul.size:
            ax.hist(nul, bins=30, color="0.7", edgecolor="0.55", lw=0.4)
        if obs.size:
            ax.plot(obs, np.zeros_like(obs), "|", color=NEG, ms=9, mew=0.8, alpha=0.6,
                    clip_on=False)  # fmt: skip
            ax.axvline(np.median(obs), color=NEG, lw=1.6)
        title = feat if p_values is None else f"{feat}\np = {p_values[i]:.3g}"
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    where = "" if output == "all" else f" · {output}"
    fig.suptitle(f"{meta.name}: randomisation test, {method}{where}\ngrey: {null.shape[0]} null "
                 f"networks (permuted response); red: {observed.shape[0]} seeds (ticks) and their "
                 "median (line); p: median over seeds", fontsize=10)  # fmt: skip
    return fig


def draw_randomisation(result, meta, output_dir) -> list[Path]:
    """One :func:`randomisation_figure` per method and output column, as
    ``randomisation_<method>[_<output>].png``; a method whose columns are identical (Garson,
    weight sums) gets one."""
    from ..tracking import metric_names

    table = result.tables["randomisation.csv"]
    paths = []
    for method, layout in meta.methods.items():
        cols = list(layout.columns)
        obs0 = result.views[(method, cols[0])][0]
        if all(np.array_equal(result.views[(method, c)][0], obs0, equal_nan=True) for c in cols):
            cols = cols[:1]
        for col, safe in zip(cols, metric_names(cols)):
            observed, null = result.views[(method, col)]
            rows = table[(table["method"] == method) & (table["output"] == col)]
            p = rows.set_index("feature").reindex(meta.feature_names)["p_value"].to_numpy()
            name = f"randomisation_{method}" + ("" if len(cols) == 1 else f"_{safe}") + ".png"
            fig = randomisation_figure(observed, null, meta, method, col, p_values=p)
            paths.append(save(fig, Path(output_dir) / name))
    return paths
