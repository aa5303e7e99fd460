"""The aggregator: weight sums from the weights, per-method aggregates, truth recovery, and
``study-aggregate`` reproducing ``study-run``'s tables from MLflow alone."""

import numpy as np
import pandas as pd
import pytest

from study import config, importance
from study.analysis import aggregate
from study.cli import aggregate_main
from study.lifecycle import pipeline
from study.training.record import MethodLayout, RunRecord, StudyMeta, StudyRecord


def _record(values, *, signed=False, truth=None, coefs=None):
    """A study whose single method 'm' has the given (m, n) importances."""
    values = np.asarray(values, float)
    m, n = values.shape
    layout = MethodLayout("olden" if signed else "garson", "value", ("value",), signed, ("y",))
    meta = StudyMeta(
        name="t",
        dataset="t",
        task="regression",
        feature_names=tuple(f"v{i}" for i in range(n)),
        output_names=("y",),
        layer_sizes=(n, 2, 1),
        methods={layout.name: layout},
        score_name="R²",
        truth=None if truth is None else tuple(truth),
        top_k=2,
    )
    rng = np.random.default_rng(0)
    runs = [
        RunRecord(
            seed=r,
            train_score=1.0,
            test_score=0.9,
            n_iter=10,
            converged=True,
            coefs=coefs[r] if coefs else [rng.normal(size=(n, 2)), rng.normal(size=(2, 1))],
            intercepts=[np.zeros(2), np.zeros(1)],
            importances={layout.name: {"value": values[r][:, None]}},
        )
        for r in range(m)
    ]
    return StudyRecord(meta, runs)


def test_weight_sums_table_equals_sums_of_the_weights():
    rng = np.random.default_rng(1)
    coefs = [[rng.normal(size=(4, 3)), rng.normal(size=(3, 2))] for _ in range(5)]
    rec = _record(np.ones((5, 4)), coefs=coefs)
    rec.meta = StudyMeta(**{**rec.meta.__dict__, "output_names": ("a", "b")})
    ws = aggregate.weight_sums_table(rec)
    inp = ws[ws.view == "input"].set_index("feature")
    w1 = np.stack([c[0] for c in coefs])
    np.testing.assert_allclose(inp.pos_sum, np.where(w1 > 0, w1, 0).sum(axis=(0, 2)))
    np.testing.assert_allclose(inp.neg_sum, np.where(w1 < 0, w1, 0).sum(axis=(0, 2)))
    np.testing.assert_allclose(inp.abs_sum, np.abs(w1).sum(axis=(0, 2)))
    np.testing.assert_allclose(inp.net_sum, w1.sum(axis=(0, 2)))
    # connection view: per output, the positive and negative parts of w_ij v_jk; net = Olden
    for k, out in enumerate(("a", "b")):
        con = ws[(ws.view == "connection") & (ws.output == out)].set_index("feature")
        olden = np.stack([importance.olden(c)[:, k] for c in coefs])
        np.testing.assert_allclose(con.net_sum, olden.sum(axis=0))
        np.testing.assert_allclose(con.net_mean, olden.mean(axis=0))
        np.testing.assert_allclose(con.net_sd, olden.std(axis=0, ddof=1))
        assert (con.pos_sum >= 0).all() and (con.neg_sum <= 0).all()


def test_weight_sums_input_view_ignores_hidden_unit_sign_flips():
    """Flipping a hidden unit's incoming and outgoing signs leaves a tanh network unchanged: the
    connection view must not move, while the signed input sums do."""
    rng = np.random.default_rng(2)
    w, v = rng.normal(size=(5, 4)), rng.normal(size=(4, 1))
    flip = np.array([1, -1, 1, -1])
    a = aggregate.weight_sums_table(_record(np.ones((1, 5)), coefs=[[w, v]]))
    b = aggregate.weight_sums_table(_record(np.ones((1, 5)), coefs=[[w * flip, v * flip[:, None]]]))
    con = a.view == "connection"
    pd.testing.assert_frame_equal(a[con], b[con])
    assert not np.allclose(a[~con].net_sum, b[~con].net_sum)
    np.testing.assert_allclose(a[~con].abs_sum, b[~con].abs_sum)


def test_truth_accuracy_counts_informative_variables_at_their_true_rank():
    truth = [0.0, 3.0, 2.0, 1.0]  # true order v1 > v2 > v3, v0 noise
    runs = [
        [0.1, 3.0, 2.0, 1.0],  # all three right
        [0.1, 2.0, 3.0, 1.0],  # v3 right only
        [5.0, 3.0, 2.0, 1.0],
    ]  # noise on top: none right
    t = aggregate.truth_table(_record(runs, truth=truth))
    row = t.iloc[0]
    assert row.accuracy == pytest.approx((3 + 1 + 0) / 9)
    from scipy.stats import spearmanr

    expected = np.mean([spearmanr(r, truth).statistic for r in runs])
    assert row.spearman_mean == pytest.approx(expected)
    assert row.n_networks == 3 and row.n_informative == 3


def test_truth_recovery_ranks_signed_methods_by_magnitude():
    t = aggregate.truth_table(_record([[0.0, -3.0, 2.0, 1.0]], signed=True, truth=[0, 3, 2, 1]))
    assert t.accuracy.iloc[0] == 1.0


def test_aggregate_table_matches_runs():
    vals = np.array([[3.0, 2.0, 1.0], [2.0, 3.0, 1.0], [3.0, 1.0, 2.0], [3.0, 2.0, 1.0]])
    a = aggregate.analyse(_record(vals), n_bootstrap=200)
    agg = a.aggregate.set_index("feature")
    np.testing.assert_allclose(agg["mean"], vals.mean(axis=0))
    np.testing.assert_allclose(agg["sd"], vals.std(axis=0, ddof=1))
    ranks = np.array([[1, 2, 3], [2, 1, 3], [1, 3, 2], [1, 2, 3]])
    np.testing.assert_allclose(agg["median_rank"], np.median(ranks, axis=0))
    np.testing.assert_allclose(agg["top2_frequency"], (ranks <= 2).mean(axis=0))
    assert (agg.ci_low <= agg["mean"]).all() and (agg["mean"] <= agg.ci_high).all()


@pytest.mark.parametrize(
    "values, note",
    [
        ([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], None),  # N = 2 runs: works
        ([[1.0], [2.0], [3.0]], "one variable"),  # a single variable
        ([[1.0, 1.0, 1.0]] * 3, "all equal"),  # all-equal importances
        ([[1.0, 2.0, 3.0], [np.nan, 1.0, 2.0], [1.0, 3.0, 2.0]], "NaN"),  # a diverged run
    ],
    ids=["two-runs", "one-variable", "all-equal", "nan-run"],
)
def test_analyse_degenerate_studies_give_notes_not_crashes(values, note):
    a = aggregate.analyse(_record(values), n_bootstrap=100)
    assert set(a.tables()) >= {"stability.csv", "aggregate.csv", "weight_sums.csv"}
    if note is None:
        assert np.isfinite(a.stability.kendall_w.iloc[0]) and not a.notes
    else:
        assert any(note in n for n in a.notes), a.notes
    metrics = a.metrics()
    assert all(np.isfinite(v) for v in metrics.values())
    if note == "NaN":
        assert a.stability.n_runs.iloc[0] == 2


@pytest.mark.slow
def test_study_aggregate_reproduces_study_run_tables(mlflow_store, tmp_path, capsys):
    from mlflow import MlflowClient

    uri = f"sqlite:///{mlflow_store / 'mlflow.db'}"
    cfg = config.compose(
        [
            f"tracking.uri={uri}",
            f"paths.root={tmp_path}",
            "tracking.experiment=aggregate-cli",
            "study.n_runs=4",
            "study.progress=false",
            "study.resample=none",
            "study.charts=false",
            "importance.methods=[garson,olden,weight_sums]",
            "stability.n_bootstrap=200",
        ]
    )
    outcome = pipeline.run(cfg)
    out = tmp_path / "again"
    aggregate_main(["--run-id", outcome.run_id, "--uri", uri, "--output", str(out), "--no-charts"])
    printed = capsys.readouterr().out
    assert "Summed first-layer weights" in printed and "most often in the top 3" in printed
    for name in ("weight_sums.csv", "aggregate.csv", "stability.csv", "importances.csv"):
        assert (out / name).read_bytes() == (outcome.output_dir / name).read_bytes(), name
    # by hand, from the weight artifacts in MLflow
    client = MlflowClient(uri)
    children = client.search_runs(
        [client.get_run(outcome.run_id).info.experiment_id],
        f"tags.`mlflow.parentRunId` = '{outcome.run_id}'",
    )
    w1 = []
    for child in children:
        with np.load(
            client.download_artifacts(child.info.run_id, "weights.npz", str(tmp_path))
        ) as w:
            w1.append(w["coef_0"])
    w1 = np.stack(w1)
    ws = pd.read_csv(out / "weight_sums.csv")
    inp = ws[ws.view == "input"]
    np.testing.assert_allclose(inp.pos_sum, np.clip(w1, 0, None).sum(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(inp.neg_sum, np.clip(w1, None, 0).sum(axis=(0, 2)), rtol=1e-12)
    # the latest study of an experiment is found by name, too
    aggregate_main(
        [
            "--experiment",
            "aggregate-cli",
            "--uri",
            uri,
            "--output",
            str(tmp_path / "x"),
            "--no-log",
            "--no-charts",
        ]
    )
    assert (tmp_path / "x" / "weight_sums.csv").read_bytes() == (
        out / "weight_sums.csv"
    ).read_bytes()


def test_study_aggregate_unknown_run_is_a_user_error(mlflow_store, capsys):
    with pytest.raises(SystemExit) as exc:
        aggregate_main(["--run-id", "0123abc", "--uri", f"sqlite:///{mlflow_store / 'mlflow.db'}"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("study-aggregate: error:") and "0123abc" in err and "\n" not in err
