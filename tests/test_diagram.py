"""The neural interpretation diagram: one line per weight, widths from |w|, colours from signs,
the pruning mask; drawn for one and two hidden layers and several outputs."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from study.report import plots  # noqa: E402
from study.report.plots._base import NEG, POS  # noqa: E402


def _net(sizes, seed=0):
    rng = np.random.default_rng(seed)
    coefs = [rng.standard_normal((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    return coefs, [rng.standard_normal(b) for b in sizes[1:]]


def _lines(fig):
    (lines,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    return lines


@pytest.mark.parametrize("sizes", [(13, 8, 3), (30, 10, 6, 2), (2, 3, 1)])
def test_one_line_per_weight_and_bias_with_width_from_its_size(sizes, tmp_path):
    coefs, intercepts = _net(sizes)
    fig = plots.network_diagram(coefs, intercepts, max_width=5.0)
    lines = _lines(fig)
    weights = np.concatenate([w.ravel() for w in coefs] + [b for b in intercepts])
    assert len(lines.get_segments()) == weights.size
    widths = np.sort(lines.get_linewidths())
    expected = np.sort(np.maximum(np.abs(weights) * 5.0 / np.abs(weights).max(), 0.15))
    np.testing.assert_allclose(widths, expected)
    colours = {tuple(c) for c in lines.get_colors()}
    assert colours <= {to_rgba(POS, 0.8), to_rgba(NEG, 0.8)}
    n_labels = sizes[0] + sizes[-1]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) >= n_labels + sum(sizes[1:-1])
    plots.save(fig, tmp_path / "d.png")
    assert (tmp_path / "d.png").stat().st_size > 10_000


def test_without_biases_and_names_in_order():
    coefs, _ = _net((4, 3, 2))
    fig = plots.network_diagram(coefs, feature_names=list("abcd"), output_names=["y1", "y2"])
    assert len(_lines(fig).get_segments()) == 4 * 3 + 3 * 2
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[-6:] == ["a", "b", "c", "d", "y1", "y2"]


def test_mask_fades_exactly_the_pruned_connections():
    coefs, intercepts = _net((5, 4, 3), seed=1)
    p = np.full((5, 4, 3), 0.5)
    p[0, 1, 2] = 0.01  # one significant path: input 0 -> hidden 1 -> output 2
    mask = plots.connection_mask(p, 0.05, n_layers=2)
    assert mask[0].sum() == 1 and mask[0][0, 1] and mask[1].sum() == 1 and mask[1][1, 2]
    fig = plots.network_diagram(coefs, mask=mask)  # no biases: weights only
    lines = _lines(fig)
    faded = [c for c in lines.get_colors() if tuple(c[:3]) == (0.82, 0.82, 0.82)]
    assert len(faded) == 5 * 4 + 4 * 3 - 2
    # deeper networks: the test scores paths through first-layer units, later layers stay whole
    mask3 = plots.connection_mask(np.zeros((5, 4, 2)), 0.05, n_layers=3)
    assert mask3[0].all() and mask3[1] is None and mask3[2] is None
