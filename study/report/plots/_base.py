"""What every chart shares: figure and grid helpers, panel bookkeeping, colours, and ``save``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DPI = 100
POS, NEG, NET = "#2166ac", "#b2182b", "black"


# ---------------------------------------------------------------------------------------------
# helpers


def _new_figure(width: float, height: float, *, layout: str | None = "constrained"):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width, height), dpi=DPI, layout=layout)
    plt.close(fig)  # pyplot forgets it; the Figure itself still draws, saves and displays
    return fig


def _grid(fig, n_panels: int, ncols: int) -> list:
    """``n_panels`` axes in rows of ``ncols``; unused cells are removed so ``fig.axes`` = panels."""
    ncols = max(1, min(ncols, n_panels))
    nrows = -(-n_panels // ncols)
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n_panels:]:
        fig.delaxes(ax)
    return axes[:n_panels]


def _text_width(labels, size: float) -> float:
    """Inches taken by the widest of ``labels`` at ``size`` points (measured, not guessed)."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    renderer, font = RendererAgg(10, 10, DPI), FontProperties(size=size)
    widths = [renderer.get_text_width_height_descent(str(s), font, ismath=False)[0] for s in labels]
    return max(widths, default=0.0) / DPI


def _fixed_grid(
    n_panels: int,
    ncols: int,
    *,
    labels,
    panel_w: float,
    panel_h: float,
    right: float = 0.3,
    right_labels=(),
):
    """A figure of ``n_panels`` axes in rows of ``ncols``, placed by arithmetic in inches.

    Constrained layout measures every tick label a dozen times per save, which made the
    many-panel charts cost seconds; here each panel gets room on its left for the widest of
    ``labels`` (8 pt tick labels, measured once; and on its right for the widest of
    ``right_labels``), a title above and tick labels and an axis label below, and ``right``
    inches stay free at the right of the figure (a colour bar). Returns (fig, axes).
    """
    ncols = max(1, min(ncols, n_panels))
    nrows = -(-n_panels // ncols)
    left = _text_width(labels, 8) + 0.2
    after = _text_width(right_labels, 8) + 0.15 if len(right_labels) else 0.25
    cell_w, gap = left + panel_w + after, 0.3  # title above, ticks and label below a panel
    top, bottom = 0.75, 0.55
    width = ncols * cell_w + right + 0.1
    height = top + nrows * (gap + panel_h + bottom)
    fig = _new_figure(width, height, layout=None)
    axes = []
    for i in range(n_panels):
        r, c = divmod(i, ncols)
        x0 = 0.1 + c * cell_w + left
        y0 = height - top - r * (gap + panel_h + bottom) - gap - panel_h
        axes.append(fig.add_axes((x0 / width, y0 / height, panel_w / width, panel_h / height)))
    return fig, axes


def _note(ax, text: str) -> None:
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=9,
        color="0.35",
        wrap=True,
    )


def _suptitle(fig, analysis, what: str) -> None:
    meta, m = analysis.record.meta, len(analysis.record.runs)
    net = "-".join(str(s) for s in meta.layer_sizes)
    usable = int(analysis.stability["n_runs"].min()) if len(analysis.stability) else m
    bad = f" ({m - usable} with NaN importances, left out of ranks)" if usable < m else ""
    text = f"{meta.name}: {what}\n{m} runs of a {net} network{bad}"
    if fig.get_layout_engine() is None:  # a fixed grid: the title sits in its top margin
        fig.suptitle(text, fontsize=11, y=1 - 0.08 / fig.get_figheight(), va="top")
    else:
        fig.suptitle(text, fontsize=11)


def _row_height(n_variables: int) -> float:
    """Inches for a panel listing ``n_variables`` names, readable from 1 to 30+ variables."""
    return max(2.4, 0.9 + 0.24 * n_variables)


def _primary(analysis) -> pd.DataFrame:
    """Rows of ``analysis.importances`` for each method's primary measure."""
    imp = analysis.importances
    primary = {m: lay.primary for m, lay in analysis.record.meta.methods.items()}
    return imp[imp["measure"] == imp["method"].map(primary)]


def _same_values(imp: pd.DataFrame, method: str, columns) -> bool:
    rows = imp[imp["method"] == method]
    cols = [rows.loc[rows["output"] == c, "value"].to_numpy(float) for c in columns]
    return all(
        a.shape == cols[0].shape and np.allclose(a, cols[0], rtol=1e-9, atol=1e-12, equal_nan=True)
        for a in cols[1:]
    )


def _panels(analysis, *, on: str = "value") -> list[tuple[str, str, str]]:
    """``(method, output, title)`` per panel; a method's outputs collapse when its primary
    measure's values (``on="value"``) or ranks (``on="rank"``, as the analysis found them) are
    identical for every output."""
    imp = _primary(analysis)
    out = []
    for method, layout in analysis.record.meta.methods.items():
        n = len(layout.columns)
        if on == "rank":
            same = n == 1 or method in analysis.same_ranking
        else:
            same = _same_values(imp, method, layout.columns)
        if same:
            c = layout.columns[0]
            label = method if c == "all" else f"{method} (every output)" if n > 1 else None
            out.append((method, c, label or f"{method} · {c}"))
        else:
            out += [(method, c, f"{method} · {c}") for c in layout.columns]
    return out


def _matrix(rows: pd.DataFrame, index: str, columns: str, values: str, order) -> pd.DataFrame:
    # each (index, column) pair occurs once in these tables, so a plain pivot is enough (and
    # several times faster than pivot_table on a 1000-seed study)
    return rows.pivot(index=index, columns=columns, values=values).reindex(columns=order)


def save(fig, path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (folders made as needed); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, facecolor="white")
    return path


def _palette(n: int) -> list:
    """``n`` distinct colours, none of them grey (grey is for the variables not highlighted)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 9 else "tab20"]
    grey = {7} if cmap.N == 10 else {14, 15}
    colours = [cmap(i) for i in range(cmap.N) if i not in grey]
    return [colours[i % len(colours)] for i in range(n)]
