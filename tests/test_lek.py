"""Lek's profile: NeuralNetTools' values, the forward pass, groups (quantiles, k-means, a
matrix)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from study.importance import from_neuralnettools, lek_groups, lek_profile, lek_sensitivity
from study.importance._lek import forward

REF = json.loads((Path(__file__).parent / "data" / "lekprofile_reference.json").read_text())


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: f"{c['struct']}-{c['out_activation']}")
def test_matches_neuralnettools(case):
    coefs, intercepts = from_neuralnettools(case["wts"], case["struct"])
    prof = lek_profile(
        coefs,
        intercepts,
        np.array(case["X"]),
        activation="logistic",
        out_activation=case["out_activation"],
        steps=case["steps"],
        group_vals=case["group_vals"],
    )
    np.testing.assert_allclose(prof.x, np.array(case["x"]), rtol=0, atol=1e-9)
    np.testing.assert_allclose(prof.groups, np.array(case["groups"]), rtol=0, atol=1e-9)
    np.testing.assert_allclose(prof.response, np.array(case["response"]), rtol=0, atol=1e-9)


def _loop_profile(coefs, intercepts, X, groups, steps, **act):
    """The straightforward definition: one forward pass per (input, group, step)."""
    x = np.linspace(X.min(0), X.max(0), steps)
    out = np.empty((X.shape[1], len(groups), steps, coefs[-1].shape[1]))
    for i in range(X.shape[1]):
        for g, row in enumerate(groups):
            for s in range(steps):
                point = row.copy()
                point[i] = x[s, i]
                out[i, g, s] = forward(coefs, intercepts, point[None, :], **act)[0]
    return out


@pytest.fixture(scope="module")
def fitted():
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 1] > 1)
    model = MLPClassifier((5, 4), max_iter=2000, random_state=0).fit(X, y)
    return model, X


def test_forward_is_scikit_learns(fitted):
    model, X = fitted
    out = forward(
        model.coefs_,
        model.intercepts_,
        X,
        activation=model.activation,
        out_activation=model.out_activation_,
    )
    np.testing.assert_allclose(out, model.predict_proba(X), rtol=0, atol=1e-12)


def test_two_inputs_two_hidden_layers(fitted):
    # NeuralNetTools fails on exactly two inputs; here it is the same computation as any other
    model, X = fitted
    act = dict(activation=model.activation, out_activation=model.out_activation_)
    prof = lek_profile(model.coefs_, model.intercepts_, X, steps=7, **act)
    assert prof.response.shape == (2, 6, 7, 3)
    slow = _loop_profile(model.coefs_, model.intercepts_, X, prof.groups, 7, **act)
    np.testing.assert_allclose(prof.response, slow, rtol=0, atol=1e-12)
    np.testing.assert_allclose(prof.response.sum(axis=-1), 1.0, atol=1e-12)  # softmax


def test_kmeans_groups_are_seeded_centres(fitted):
    from sklearn.cluster import KMeans

    _, X = fitted
    g = lek_groups(X, 3, seed=7)
    assert g.shape == (3, 2)
    np.testing.assert_array_equal(g, lek_groups(X, 3, seed=7))
    centres = KMeans(3, n_init=10, random_state=7).fit(X).cluster_centers_
    np.testing.assert_allclose(np.sort(g, axis=0), np.sort(centres, axis=0), atol=1e-12)


def test_matrix_of_constants_and_sensitivity(fitted):
    model, X = fitted
    const = np.array([[0.0, 0.0], [1.0, -1.0]])
    act = dict(activation=model.activation, out_activation=model.out_activation_)
    prof = lek_profile(model.coefs_, model.intercepts_, X, steps=11, group_vals=const, **act)
    np.testing.assert_array_equal(prof.groups, const)
    slow = _loop_profile(model.coefs_, model.intercepts_, X, const, 11, **act)
    np.testing.assert_allclose(prof.response, slow, rtol=0, atol=1e-12)
    expected = np.mean(
        [
            [slow[i, g, :, k].max() - slow[i, g, :, k].min() for g in range(2)]
            for i in range(2)
            for k in range(3)
        ],
        axis=1,
    ).reshape(2, 3)
    np.testing.assert_allclose(lek_sensitivity(prof.response), expected, atol=1e-15)
    np.testing.assert_allclose(prof.sensitivity, expected, atol=1e-15)


def test_a_variable_the_network_ignores_has_a_flat_profile():
    rng = np.random.default_rng(1)
    coefs = [rng.standard_normal((3, 4)), rng.standard_normal((4, 1))]
    coefs[0][1] = 0.0  # input 1 reaches no hidden unit
    prof = lek_profile(
        coefs, [np.zeros(4), np.zeros(1)], rng.standard_normal((50, 3)), activation="tanh"
    )
    sens = prof.sensitivity[:, 0]
    assert sens[1] == 0 and sens[0] > 0 and sens[2] > 0


@pytest.mark.parametrize("bad", [(0.5, 1.5), [[0.0, 1.0, 2.0]], 0, "quartiles"])
def test_bad_group_vals_are_refused(bad, fitted):
    _, X = fitted
    with pytest.raises(ValueError, match="group"):
        lek_groups(X, bad)


@pytest.mark.slow
def test_a_study_with_lek_ranks_it_and_summarises_the_curves(mlflow_store, tmp_path):
    from study import config, tracking
    from study.datasets import load_dataset, split
    from study.lifecycle import pipeline

    cfg = config.compose(
        [
            f"tracking.uri=sqlite:///{mlflow_store / 'mlflow.db'}",
            f"paths.root={mlflow_store}",
            f"paths.output_dir={tmp_path}",
            "tracking.experiment=lek",
            "study.progress=false",
            "study.resample=none",
            "study.n_runs=4",
            "importance.methods=[olden,lek]",
            "importance.options.lek.steps=9",
            "stability.n_bootstrap=200",
        ]
    )
    out = pipeline.run(cfg)
    assert set(out.analysis.stability["method"]) == {"olden", "lek"}  # ranked like any method
    data = split(load_dataset("wine"), test_size=0.25, seed=0)
    profiles = [
        lek_profile(
            r.coefs,
            r.intercepts,
            data.X_train,
            activation="tanh",
            out_activation="softmax",
            steps=9,
        )
        for r in out.record.runs
    ]
    for run, prof in zip(out.record.runs, profiles):  # the registered measure, from training data
        np.testing.assert_allclose(
            run.importances["lek"]["sensitivity"], prof.sensitivity, atol=1e-6
        )
    table = pd.read_csv(tmp_path / "lek_profile.csv")
    assert len(table) == 3 * 13 * 6 * 9
    stacked = np.stack([p.response for p in profiles])  # (runs, p, G, S, K)
    row = table[
        (table.output == "class_2")
        & (table.feature == "proline")
        & (table.group == 4)
        & (table.step == 5)
    ].iloc[0]
    i = list(load_dataset("wine").feature_names).index("proline")
    np.testing.assert_allclose(row["median"], np.median(stacked[:, i, 3, 4, 2]), atol=1e-6)
    np.testing.assert_allclose(row["q90"], np.quantile(stacked[:, i, 3, 4, 2], 0.9), atol=1e-6)
    np.testing.assert_allclose(row["x"], profiles[0].x[4, i], atol=1e-12)
    assert {f"lek_profile_class_{k}.png" for k in range(3)} <= {p.name for p in out.charts}
    # read back from MLflow alone, the curves give the same table
    again = tracking.load_study(out.uri, out.run_id)
    from study.analysis.aggregate import lek_table

    pd.testing.assert_frame_equal(lek_table(again), out.analysis.lek_profile)
