"""The pictures of Olden & Jackson's toolkit: Lek's profile, the randomisation test's null
histograms, and the neural interpretation diagram."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from study.report.plots._base import NEG, POS, _grid, _new_figure, _suptitle, save


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
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        loc="outside right upper",
        fontsize=8,
        title="others held at",
        title_fontsize=8,
        frameon=False,
    )
    fig.supxlabel("value of the swept variable (standardised)", fontsize=9)
    fig.supylabel(f"response ({output})", fontsize=9)
    _suptitle(fig, analysis, f"Lek's profile, output {output}: median over runs, 10-90% band")
    return fig


def _standardised(observed, null, groups):
    """Observed and null values in units of each tested seed's own null (its group's mean and
    sd): one picture for many groups of null networks centred in different places."""
    with np.errstate(all="ignore"):
        mu, sd = np.nanmean(null, axis=1), np.nanstd(null, axis=1, ddof=1)  # (G, p)
        sd = np.where(sd > 0, sd, np.nan)
        return (observed - mu[groups]) / sd[groups], ((null - mu[:, None]) / sd[:, None]).reshape(
            -1, null.shape[-1]
        )


def randomisation_figure(
    observed, null, meta, method: str, output: str, *, p_values=None, groups=None, design=None
):
    """Olden & Jackson's picture for one method and output: per variable, the histogram of the
    null networks' values, every tested seed's observed value as a tick under it and their median
    as a red line; ``p_values`` (median p per variable) go in the panel titles.

    ``null`` (B, p), or (G, B, p) with ``groups`` (each observation's group): with one group the
    values as they are, with several (null networks from each tested seed's initial weights) in
    units of the tested seed's own null (its mean and sd), every group's null pooled."""
    null = np.asarray(null, float)
    if null.ndim == 3 and null.shape[0] == 1:
        null = null[0]
    scaled = null.ndim == 3
    if scaled:
        observed, null = _standardised(np.asarray(observed, float), null, np.asarray(groups))
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
            ax.plot(
                obs, np.zeros_like(obs), "|", color=NEG, ms=9, mew=0.8, alpha=0.6, clip_on=False
            )
            ax.axvline(np.median(obs), color=NEG, lw=1.6)
        title = feat if p_values is None else f"{feat}\np = {p_values[i]:.3g}"
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    where = "" if output == "all" else f" · {output}"
    what = (
        "variable permuted"
        if design is not None and design.permute == "variable"
        else "permuted response"
    )
    n_groups = len(set(np.asarray(groups).tolist())) if scaled else 1
    up = "up to " if np.isnan(null).any() else "the "  # a sequential null stops some early
    units = (
        f"grey: {up}{null.shape[0] // n_groups} null networks ({what}) of each of the "
        f"{n_groups} tested seeds, in sd of that seed's null"
        if scaled
        else f"grey: {up.replace('the ', '')}{null.shape[0]} null networks ({what})"
    )
    fig.suptitle(
        f"{meta.name} ({meta.dataset}): randomisation test of {method}{where}\n{units};"
        f" red: {observed.shape[0]} seeds (ticks) and their median (line); p: median "
        "over seeds",
        fontsize=10,
    )
    if scaled:
        fig.supxlabel("(value - its seed's null mean) / its seed's null sd", fontsize=9)
    return fig


def draw_randomisation(result, record, output_dir, *, alpha: float = 0.05) -> list[Path]:
    """One :func:`randomisation_figure` per method and output column, as
    ``randomisation_<method>[_<output>].png`` (a method whose columns are identical, Garson or
    weight sums, gets one), then ``network_diagram_pruned.png``: the best-scoring tested seed's
    network with the connections its test did not find significant faded (with a per-variable
    design, each input's connections are tested against the networks with that input permuted:
    valid per-variable p-values)."""
    from study.training.naming import metric_names

    meta, design = record.meta, result.design
    table = result.tables["randomisation.csv"]
    paths = []
    for method, layout in meta.methods.items():
        cols = list(layout.columns)
        obs0 = result.views[(method, cols[0])][0]
        if all(np.array_equal(result.views[(method, c)][0], obs0, equal_nan=True) for c in cols):
            cols = cols[:1]
        for col, safe in zip(cols, metric_names(cols)):
            observed, null, groups = result.views[(method, col)]
            rows = table[(table["method"] == method) & (table["output"] == col)]
            p = rows.set_index("feature").reindex(meta.feature_names)["p_value"].to_numpy()
            name = f"randomisation_{method}" + ("" if len(cols) == 1 else f"_{safe}") + ".png"
            fig = randomisation_figure(
                observed, null, meta, method, col, p_values=p, groups=groups, design=design
            )
            paths.append(save(fig, Path(output_dir) / name))
    if result.best_connections is not None:
        run = record.runs[result.best]
        mask = connection_mask(result.best_connections, alpha, len(run.coefs))
        which = (
            "each input tested with it permuted"
            if design is not None and design.valid_per_variable
            else "tested with the response permuted"
        )
        title = (
            f"{meta.name}: seed {run.seed} (best test {meta.score_name} "
            f"{run.test_score:.3f}), connections with p > {alpha} faded ({which})"
        )
        fig = network_diagram(
            run.coefs,
            run.intercepts,
            feature_names=meta.feature_names,
            output_names=meta.output_names,
            mask=mask,
            title=title,
        )
        paths.append(save(fig, Path(output_dir) / "network_diagram_pruned.png"))
    return paths


def network_diagram(
    coefs,
    intercepts=None,
    *,
    feature_names=None,
    output_names=None,
    bias: bool = True,
    mask=None,
    title: str | None = None,
    max_width: float = 5.0,
):
    """A neural interpretation diagram (Özesmi & Özesmi 1999; NeuralNetTools ``plotnet``) of a
    network of any depth: nodes by layer, one line per weight, width proportional to ``|w|``
    (the largest weight of the network gets ``max_width`` points), blue positive and red
    negative.

    ``coefs``/``intercepts`` in scikit-learn order (``bias`` draws the intercepts as a node
    ``B`` above each layer but the last); ``mask``: one boolean array per weight matrix (None
    for a layer drawn whole), False fading the connection to a thin grey line: the pruned
    diagram of Olden & Jackson, with the connections the randomisation test kept.
    """
    coefs = [np.asarray(w, float) for w in coefs]
    sizes = [coefs[0].shape[0]] + [w.shape[1] for w in coefs]
    names = _node_names(sizes, feature_names, output_names)
    biases = intercepts if bias and intercepts is not None else None
    tall = max(sizes) + (1 if biases is not None else 0)
    label_w = max(len(str(s)) for s in names[0] + names[-1]) * 0.075 + 0.4
    fig, ax = _diagram_axes(len(sizes), tall, label_w, title)
    xs = np.linspace(0, 1, len(sizes))
    pos = _node_positions(xs, sizes, tall)
    # the node of the biases into layer l + 1: at the top, a little left of halfway from l
    bias_x = [
        (xs[layer] + xs[layer + 1]) / 2 - 0.12 * (xs[1] - xs[0]) for layer in range(len(coefs))
    ]
    bias_y = tall - 0.2
    scale = max_width / (max(_largest_weights(coefs, biases)) or 1.0)
    origins = [(x, bias_y) for x in bias_x]
    _draw_lines(ax, _connection_lines(coefs, biases, pos, origins, mask, scale))
    _draw_nodes(ax, pos, names)
    if biases is not None:
        _draw_bias_nodes(ax, bias_x, bias_y)
    ax.set_xlim(
        -0.06 - label_w / fig.get_figwidth() * 1.3, 1.06 + label_w / fig.get_figwidth() * 1.3
    )
    ax.set_ylim(-0.7, tall - 0.3 + (0.4 if biases is not None else 0))
    if title:
        fig.suptitle(title, fontsize=10)
    legend = "blue: positive weight, red: negative; line width proportional to |weight|"
    if mask is not None:
        legend += "; grey: not significant"
    fig.text(0.5, 0.01, legend, ha="center", va="bottom", fontsize=8, color="0.3")
    return fig


def _node_names(sizes: list[int], feature_names, output_names) -> list[list[str]]:
    """Every node's name, layer by layer: the inputs and outputs as given (else ``I1``, ...,
    ``O1``, ...), hidden units ``H1``, ... (``H<layer>.<unit>`` in a deeper network)."""
    names = [list(feature_names or [f"I{i + 1}" for i in range(sizes[0])])]
    names += [
        [f"H{layer}.{j + 1}" if len(sizes) > 3 else f"H{j + 1}" for j in range(n)]
        for layer, n in enumerate(sizes[1:-1], start=1)
    ]
    names += [list(output_names or [f"O{k + 1}" for k in range(sizes[-1])])]
    return names


def _diagram_axes(n_layers: int, tall: int, label_w: float, title: str | None):
    """A figure sized for ``n_layers`` layers ``tall`` nodes high, with ``label_w`` inches for
    the names at either side, and its one axes, without axis lines (room above for a title)."""
    fig = _new_figure(1.6 + 1.7 * (n_layers - 1) + 2 * label_w, 1.5 + 0.32 * tall, layout=None)
    top = 1 - (0.55 if title else 0.15) / fig.get_figheight()
    ax = fig.add_axes((0.02, 0.3 / fig.get_figheight(), 0.96, top - 0.3 / fig.get_figheight()))
    ax.set_axis_off()
    return fig, ax


def _node_positions(xs, sizes: list[int], tall: int) -> list[np.ndarray]:
    """Each layer's nodes as (x, y) rows, at its ``x``, centred vertically, one unit apart."""

    def ys(n):
        return (tall - 1) / 2 + (n - 1) / 2 - np.arange(n)

    return [np.column_stack([np.full(n, x), ys(n)]) for x, n in zip(xs, sizes)]


def _largest_weights(coefs, biases) -> list:
    """The largest ``|w|`` of each weight matrix, then of each bias vector (None: no biases)."""
    weights = [np.abs(w).max() for w in coefs]
    if biases is not None:
        weights += [np.abs(np.asarray(b, float)).max() for b in biases]
    return weights


_FADED = (0.82, 0.82, 0.82, 0.7)  # a connection the mask leaves out: thin and light grey


def _connection_lines(coefs, biases, pos, origins, mask, scale: float) -> list[tuple]:
    """``(segment, width, colour)`` of every line, layer by layer: the weights of a layer, then
    its biases drawn from their node at ``origins[layer]`` (None: no biases)."""
    lines = []
    for layer, w in enumerate(coefs):
        keep = (
            np.ones(w.shape, bool)
            if mask is None or mask[layer] is None
            else np.asarray(mask[layer], bool)
        )
        for i, j in np.ndindex(w.shape):
            segment = [pos[layer][i], pos[layer + 1][j]]
            if keep[i, j]:
                lines.append((segment, *_line_style(w[i, j], scale)))
            else:
                lines.append((segment, 0.4, _FADED))
        if biases is not None:
            b = np.asarray(biases[layer], float)
            for j, bj in enumerate(b):
                lines.append(([origins[layer], pos[layer + 1][j]], *_line_style(bj, scale)))
    return lines


def _line_style(weight: float, scale: float) -> tuple:
    """A weight's line: width proportional to ``|weight|`` (at least 0.15), blue or red."""
    return max(abs(weight) * scale, 0.15), POS if weight >= 0 else NEG


def _draw_lines(ax, lines: list[tuple]) -> None:
    """The connections as one collection, thick lines on top of thin ones."""
    from matplotlib.collections import LineCollection

    widths = [width for _, width, _ in lines]
    order = np.argsort(widths)
    ax.add_collection(
        LineCollection(
            [lines[i][0] for i in order],
            linewidths=np.asarray(widths)[order],
            colors=[lines[i][2] for i in order],
            alpha=0.8,
            zorder=1,
        )
    )


def _draw_nodes(ax, pos: list[np.ndarray], names: list[list[str]]) -> None:
    """Every node as a circle, a hidden unit's name inside it (in a deeper network its number
    alone), the inputs' names at their left and the outputs' at their right."""
    for layer, p in enumerate(pos):
        ax.scatter(p[:, 0], p[:, 1], s=260, facecolor="white", edgecolor="0.25", lw=1.2, zorder=3)
        if 0 < layer < len(pos) - 1:
            for (x, y), name in zip(p, names[layer]):
                ax.text(x, y, name.split(".")[-1], ha="center", va="center", fontsize=6.5, zorder=4)
    for (x, y), name in zip(pos[0], names[0]):
        ax.text(x - 0.035, y, name, ha="right", va="center", fontsize=8)
    for (x, y), name in zip(pos[-1], names[-1]):
        ax.text(x + 0.035, y, name, ha="left", va="center", fontsize=8)


def _draw_bias_nodes(ax, bias_x: list[float], bias_y: float) -> None:
    """A grey node ``B<layer>`` for each layer's biases."""
    for layer, x in enumerate(bias_x):
        ax.scatter([x], [bias_y], s=260, facecolor="0.92", edgecolor="0.5", lw=1, zorder=3)
        ax.text(x, bias_y, f"B{layer + 1}", ha="center", va="center", fontsize=6.5, zorder=4)


def connection_mask(p_connections, alpha: float, n_layers: int) -> list:
    """Masks for :func:`network_diagram` from the p-values of the connection products
    ``(n_inputs, n_first_hidden, n_outputs)`` of one network: a first-layer weight is kept where
    any of its paths to an output is significant (p <= alpha); with one hidden layer, a
    hidden-output weight likewise where any input's path through it is. Deeper layers are drawn
    whole (the test scores paths through first-layer units, not single deeper weights)."""
    sig = np.asarray(p_connections, float) <= alpha
    masks = [sig.any(axis=2)] + [None] * (n_layers - 1)
    if n_layers == 2:
        masks[1] = sig.any(axis=0)
    return masks
