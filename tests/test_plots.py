"""Tests for study.report.plots: every chart is written, has its panels, survives degenerate
studies."""

import dataclasses
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from study.analysis import aggregate
from study.config.settings import Settings
from study.datasets import load_dataset
from study.lifecycle.prepare import _meta
from study.report import plots
from study.report.plots._parallel import start
from study.training.record import StudyRecord
from study.training.runner import Plan, run_one

CHART_NAMES = [
    "weight_sums.png",
    "importance_boxplots.png",
    "rank_heatmap.png",
    "rank_bump.png",
    "stability_curve.png",
    "agreement_matrix.png",
    "network_diagram.png",
]
METHODS = ("garson", "olden", "weight_sums", "permutation")


def _analysis(dataset="iris", *, n_runs=4, methods=METHODS, nan_run=None, n_features=None):
    """A small real study: iris has 4 variables and 3 classes, so every panel rule is exercised."""
    cfg = {
        "dataset": {"name": dataset},
        "study": {"n_runs": n_runs},
        "model": {"hidden_layer_sizes": [5], "activation": "tanh", "max_iter": 300},
        "importance": {"methods": list(methods)},
    }
    settings, ds = Settings.from_config(cfg), load_dataset(dataset)
    if n_features is not None:
        ds = dataclasses.replace(
            ds, X=ds.X[:, :n_features], feature_names=ds.feature_names[:n_features]
        )
    plan = Plan(ds, settings.model, settings.methods, {"permutation": {"n_repeats": 2}}, 0.25, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of deliberately short fits
        runs = [run_one(plan, seed) for seed in range(n_runs)]
    if nan_run is not None:  # a diverged run: every importance NaN
        for measures in runs[nan_run].importances.values():
            for name in measures:
                measures[name] = np.full_like(measures[name], np.nan)
    record = StudyRecord(_meta(settings, ds), runs)
    return aggregate.analyse(record, top_k=2, n_bootstrap=100)


@pytest.fixture(scope="module")
def iris():
    return _analysis()


def _expected_panels(analysis):
    """Garson and weight sums ignore the output layer (one panel); olden does not; permutation
    is pooled over a classifier's outputs."""
    olden = [f"olden · {c}" for c in analysis.record.meta.output_names]
    return ["garson (every output)", *olden, "weight_sums (every output)", "permutation"]


def _panels(fig):
    """The chart's panels: every axes but colour bars."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def _titles(fig):
    return [ax.get_title() for ax in _panels(fig)]


@pytest.fixture(autouse=True)
def no_figure_left_open():
    """Every test, whatever chart it draws, must leave pyplot with no open figure."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


def _assert_charts_written(paths, tmp_path):
    assert [p.name for p in paths] == CHART_NAMES
    for p in paths:
        assert p.parent == tmp_path and p.is_file()
        data = p.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(data) > 10_000, f"{p.name} is suspiciously small ({len(data)} bytes)"


def test_import_study_plots_does_not_import_matplotlib():
    code = "import sys, study.report.plots; assert 'matplotlib' not in sys.modules, 'matplotlib'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_draw_all_writes_every_png_in_order(iris, tmp_path):
    paths = plots.draw_all(iris, tmp_path)
    _assert_charts_written(paths, tmp_path)


def test_weight_sums_figure_input_panel_then_one_per_output_in_input_order(iris):
    fig = plots.weight_sums_figure(iris)
    connection = [f"connection weights → {c}" for c in iris.record.meta.output_names]
    assert _titles(fig) == ["input weights (blind to the output layer)", *connection]
    ws = iris.weight_sums[iris.weight_sums["view"] == "input"]
    top_down = [t.get_text() for t in fig.axes[0].get_yticklabels()][::-1]
    assert top_down == ws.sort_values("abs_sum", ascending=False)["feature"].tolist()
    assert iris.record.meta.name in fig.get_suptitle() and "4 runs" in fig.get_suptitle()


def test_weight_sums_figure_draws_at_most_four_outputs_and_says_so(iris):
    meta, ws = iris.record.meta, iris.weight_sums
    outputs = tuple(f"extra_{i}" for i in range(3))
    extra = [ws[ws["output"] == meta.output_names[0]].assign(output=o) for o in outputs]
    meta = dataclasses.replace(meta, output_names=meta.output_names + outputs)
    wide = dataclasses.replace(
        iris,
        weight_sums=pd.concat([ws, *extra], ignore_index=True),
        record=dataclasses.replace(iris.record, meta=meta),
    )
    fig = plots.weight_sums_figure(wide)
    assert len(_panels(fig)) == 1 + 4
    assert "first 4 of 6 outputs" in fig.get_suptitle()


def test_importance_boxplots_collapse_outputs_only_when_values_identical(iris):
    fig = plots.importance_boxplots_figure(iris)
    # garson and weight sums ignore the output layer; olden does not; permutation is pooled
    assert _titles(fig) == _expected_panels(iris)


def test_importance_boxplots_collapse_follows_the_values_not_the_method_name(iris):
    imp = iris.importances.copy()
    olden = imp["method"] == "olden"
    first_class, *others = iris.record.meta.output_names
    first = imp[olden & (imp["output"] == first_class)]["value"].to_numpy()
    for c in others:
        imp.loc[olden & (imp["output"] == c), "value"] = first
    fig = plots.importance_boxplots_figure(dataclasses.replace(iris, importances=imp))
    assert "olden (every output)" in _titles(fig) and f"olden · {others[0]}" not in _titles(fig)


def test_importance_boxplots_order_variables_by_median_largest_on_top(iris):
    fig = plots.importance_boxplots_figure(iris)
    ax = _panels(fig)[0]  # garson
    imp, first = iris.importances, iris.record.meta.output_names[0]
    rows = imp[(imp["method"] == "garson") & (imp["output"] == first)]
    expected = rows.groupby("feature")["value"].median().sort_values(ascending=False).index.tolist()
    assert [t.get_text() for t in ax.get_yticklabels()][::-1] == expected


def test_rank_heatmap_one_panel_per_view_with_annotated_counts(iris):
    fig = plots.rank_heatmap_figure(iris)
    assert len(_panels(fig)) == 6 and len(fig.axes) == 7  # six panels and one colour bar
    counts = _panels(fig)[0].images[0].get_array()
    n_runs = len(iris.record.runs)
    np.testing.assert_allclose(counts.sum(axis=1), n_runs)  # every variable: one rank per run
    assert len(_panels(fig)[0].texts) == np.count_nonzero(counts > 0.05)


def test_rank_bump_one_panel_per_method_on_its_first_output(iris):
    fig = plots.rank_bump_figure(iris)
    first = iris.record.meta.output_names[0]
    assert _titles(fig) == [
        f"garson (output {first})",
        f"olden (output {first})",
        f"weight_sums (output {first})",
        "permutation (pooled over outputs)",
    ]
    imp = iris.importances
    for ax, method in zip(_panels(fig), METHODS):
        col = iris.record.meta.methods[method].columns[0]
        rows = imp[(imp["method"] == method) & (imp["output"] == col)]
        ever = set(rows.loc[rows["rank"] <= iris.top_k, "feature"])
        (right,) = ax.child_axes  # the labels of the highlighted variables
        assert {t.get_text() for t in right.get_yticklabels()} == ever
        assert ax.get_ylim()[0] > ax.get_ylim()[1]  # rank 1 on top


def test_importance_boxplots_draw_matplotlibs_box_statistics(iris):
    from matplotlib import cbook

    fig = plots.importance_boxplots_figure(iris)
    ax = _panels(fig)[0]  # garson
    order = [t.get_text() for t in ax.get_yticklabels()]
    imp, first = iris.importances, iris.record.meta.output_names[0]
    rows = imp[(imp["method"] == "garson") & (imp["output"] == first)]
    medians = ax.collections[-1]  # the last vlines: one red segment per box
    drawn = sorted((seg[0, 1], seg[0, 0]) for seg in medians.get_segments())
    for (_, x), feature in zip(drawn, order):
        expected = cbook.boxplot_stats(rows.loc[rows["feature"] == feature, "value"].to_numpy())
        assert x == pytest.approx(expected[0]["med"])


def test_rank_bump_draws_the_first_seeds_only_and_says_so(iris, monkeypatch):
    monkeypatch.setattr(plots._ranks, "MAX_SEEDS_DRAWN", 2)  # where the bump chart reads it
    fig = plots.rank_bump_figure(iris)
    assert "first 2 of 4 runs" in fig.get_suptitle()
    assert len(_panels(fig)) == len(iris.record.meta.methods)
    first_two = sorted(iris.record.seeds)[:2]
    for ax in _panels(fig):
        for line in ax.get_lines():
            assert set(line.get_xdata()) <= set(first_two)


def test_stability_curve_one_line_per_distinct_view(iris):
    fig = plots.stability_curve_figure(iris)
    (ax,) = fig.axes
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == _expected_panels(iris)
    assert ax.get_ylim() == pytest.approx((0, 1.02))
    assert ax.get_legend() is not None


def test_agreement_figure_symmetric_matrices_with_unit_diagonal(iris):
    fig = plots.agreement_figure(iris)
    panels = _panels(fig)
    assert _titles(fig) == ["top-2 feature agreement", "rank correlation (Spearman)"]
    methods = list(iris.record.meta.methods)
    assert [t.get_text() for t in panels[0].get_yticklabels()] == methods
    for ax, measure in zip(panels, ("feature_agreement", "rank_correlation")):
        mat = np.asarray(ax.images[0].get_array())
        np.testing.assert_allclose(mat, mat.T)
        np.testing.assert_allclose(np.diag(mat), 1.0)
        rows = iris.agreement[
            (iris.agreement["measure"] == measure)
            & (iris.agreement["method_a"] == "garson")
            & (iris.agreement["method_b"] == "olden")
        ]
        assert mat[0, 1] == pytest.approx(rows["value"].mean())  # averaged over outputs


def test_retrain_figure_keep_and_remove_panels():
    rows = [
        {"method": m, "mode": mode, "k": k, "score_mean": 0.5 + 0.1 * k, "score_sd": 0.02, "n": 3}
        for m in ("random", "garson")
        for mode in ("keep", "remove")
        for k in (1, 2)
    ]
    meta = type("Meta", (), {"name": "toy", "score_name": "accuracy"})()
    fig = plots.retrain_figure(pd.DataFrame(rows), meta)
    assert _titles(fig) == ["keep the top k variables", "remove the top k variables"]


@pytest.mark.parametrize(
    "case",
    [
        {"n_runs": 2, "methods": ("olden",)},
        {"n_runs": 4, "methods": ("garson", "permutation"), "nan_run": 1},
        {"dataset": "neuraldat", "n_runs": 3, "methods": ("garson", "olden"), "n_features": 1},
    ],
    ids=["two-runs-one-method", "nan-run", "one-variable"],
)
def test_draw_all_survives_degenerate_studies(case, tmp_path):
    analysis = _analysis(**case)
    _assert_charts_written(plots.draw_all(analysis, tmp_path), tmp_path)


@pytest.mark.slow
def test_charts_drawn_in_a_forked_process_are_the_same_files(iris, tmp_path):
    # part of the charts drawn by a forked child (plots._parallel) or all of them here: the
    # same files, byte for byte, in the same order
    forked = plots.draw_all(iris, tmp_path / "forked", fork=True)
    here = plots.draw_all(iris, tmp_path / "here", fork=False)
    assert [p.name for p in forked] == [p.name for p in here]
    for a, b in zip(forked, here):
        assert a.read_bytes() == b.read_bytes(), a.name


def _figure(title):
    from study.report.plots._base import _new_figure

    fig = _new_figure(2, 2)
    fig.suptitle(title)
    return fig


def test_a_chart_that_fails_in_the_child_is_drawn_again_here(tmp_path):
    # the child's failure is not the study's: its charts are drawn again by this process, and
    # a chart that fails here too raises here, with its traceback
    import os

    parent = os.getpid()

    def only_here():
        if os.getpid() != parent:
            raise RuntimeError("a failure of the forked child")
        return _figure("drawn here")

    jobs = [(tmp_path / f"{i}.png", only_here, 1.0) for i in range(4)]
    paths = start(jobs, fork=True).finish()
    assert paths == [p for p, _, _ in jobs] and all(p.stat().st_size > 0 for p in paths)

    def broken():
        raise ValueError("a bug in a chart")

    with pytest.raises(ValueError, match="a bug in a chart"):
        start(
            [(tmp_path / "a.png", broken, 1.0), (tmp_path / "b.png", broken, 1.0)], fork=True
        ).finish()


def _logged_jobs(tmp_path, n, seconds):
    # jobs that write down which process drew them (appends of one short line are atomic)
    import os
    import time

    log = tmp_path / "drawn.txt"

    def job(i):
        def draw():
            time.sleep(seconds)
            with open(log, "a") as f:
                f.write(f"{os.getpid()} {i}\n")
            return _figure(str(i))

        return draw

    jobs = [(tmp_path / f"{i}.png", job(i), float(n - i)) for i in range(n)]
    return jobs, log


def _drawn_by(log):
    rows = [line.split() for line in log.read_text().splitlines()]
    return {int(i): int(pid) for pid, i in rows}, len(rows)


@pytest.mark.slow
def test_charts_are_handed_out_one_at_a_time_each_drawn_once(tmp_path):
    # both processes take charts from one queue until it is empty: every chart is drawn once,
    # by one of them, and both draw when both are free
    import os

    jobs, log = _logged_jobs(tmp_path, 8, 0.15)
    paths = start(jobs, fork=True).finish()
    by, n_drawn = _drawn_by(log)
    assert paths == [p for p, _, _ in jobs] and all(p.stat().st_size > 0 for p in paths)
    assert sorted(by) == list(range(8)) and n_drawn == 8
    assert os.getpid() in by.values() and len(set(by.values())) == 2


@pytest.mark.slow
def test_the_child_takes_every_chart_while_this_process_is_busy(tmp_path):
    # this process's own work (tables, checks) takes longer than the charts: the child draws
    # them all, costliest first, and finish() only waits (a fixed split would leave some here)
    import os
    import time

    jobs, log = _logged_jobs(tmp_path, 5, 0.02)
    drawing = start(jobs, fork=True)
    time.sleep(4.0)  # the child needs well under a second: room for a slow machine
    drawing.finish()
    by, n_drawn = _drawn_by(log)
    assert n_drawn == 5 and os.getpid() not in by.values()
    order = [int(line.split()[1]) for line in log.read_text().splitlines()]
    assert order == [0, 1, 2, 3, 4]  # the costs given fall with the index


def test_rank_sets_figure_draws_each_variables_sets_by_estimate(tmp_path):
    """With resample networks: one row per variable, the largest share on top, a bar over the
    marginal set and a line over the simultaneous one, coloured by the verdict; draw_all adds
    ``rank_sets.png`` after the other charts. Without them there is no such chart."""
    from study.training.resample import resample_id

    cfg = {
        "dataset": {"name": "iris"},
        "study": {"n_runs": 4},
        "model": {"hidden_layer_sizes": [5], "activation": "tanh", "max_iter": 300},
        "importance": {"methods": ["olden"]},
    }
    settings, ds = Settings.from_config(cfg), load_dataset("iris")
    plan = Plan(ds, settings.model, settings.methods, {}, 0.25, 0, "bootstrap", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = [run_one(plan, seed) for seed in range(4)]
        resamples = [run_one(plan, resample_id(b)) for b in range(6)]
    record = StudyRecord(_meta(settings, ds), runs, resamples=resamples)
    analysis = aggregate.analyse(record, top_k=2, n_bootstrap=100)
    t = analysis.answer.table.sort_values("share", ascending=False, kind="stable")
    fig = plots.rank_sets_figure(analysis)
    ax = fig.axes[0]
    labels = [x.get_text() for x in ax.get_yticklabels()]
    ticks = list(ax.get_yticks())
    assert [labels[ticks.index(y)] for y in sorted(ticks, reverse=True)] == list(t.feature)
    bars = sorted(ax.patches, key=lambda p: -p.get_y())  # top row first
    lows = [round(b.get_x() + 0.45) for b in bars]
    highs = [round(b.get_x() + b.get_width() - 0.45) for b in bars]
    assert lows == list(t.rank_low) and highs == list(t.rank_high)
    colours = {plots._ranks.VERDICT_COLOURS[v] for v in t.top_k}
    import matplotlib.colors as mcolors

    assert {mcolors.to_hex(b.get_facecolor()) for b in bars} == colours
    paths = plots.draw_all(analysis, tmp_path)
    assert paths[-1].name == "rank_sets.png" and paths[-1].stat().st_size > 10_000
    plain = aggregate.analyse(StudyRecord(_meta(settings, ds), runs), top_k=2, n_bootstrap=100)
    assert "rank_sets.png" not in [p.name for p in plots.draw_all(plain, tmp_path / "plain")]
