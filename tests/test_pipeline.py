"""A whole study through Hydra's Compose API into a temporary SQLite store, read back from
MLflow."""

import json

import numpy as np
import pandas as pd
import pytest

from study import config, importance, tracking
from study.datasets import load_dataset
from study.escape import for_markdown
from study.lifecycle import pipeline
from study.training.runner import Plan, run_many, seeds_for

# the default study's methods: every method but Lek's profile, which is opt-in
METHODS = [m for m in importance.METHODS if m != "lek"]


def _compose(store, *overrides):
    return config.compose(
        [
            f"tracking.uri=sqlite:///{store / 'mlflow.db'}",
            f"paths.root={store}",
            "study.progress=false",
            "study.resample=none",
            "importance.options.permutation.n_repeats=2",
            "stability.n_bootstrap=200",
            "study.charts=false",
            *overrides,
        ]
    )


@pytest.fixture(scope="module")
def wine_study(mlflow_store):
    cfg = _compose(
        mlflow_store, "study.n_runs=3", "tracking.experiment=pipeline-wine", "study.charts=true"
    )
    return pipeline.run(cfg)


def _client(outcome):
    from mlflow import MlflowClient

    return MlflowClient(outcome.uri)


def _children(outcome):
    client = _client(outcome)
    parent = client.get_run(outcome.run_id)
    return client.search_runs(
        [parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{outcome.run_id}'"
    )


def test_compose_default_config_is_the_wine_ranking_study():
    cfg = config.compose()
    assert cfg["dataset"]["name"] == "wine"
    assert cfg["model"]["hidden_layer_sizes"] == [8]
    assert cfg["study"]["n_runs"] == 30
    assert set(cfg["importance"]["methods"]) == set(METHODS)
    assert cfg["tracking"]["uri"] == "sqlite:///runs/mlflow.db"


@pytest.mark.slow
def test_run_logs_parent_and_one_child_per_seed(wine_study):
    client = _client(wine_study)
    parent = client.get_run(wine_study.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["dataset.name"] == "wine"
    assert parent.data.params["study.n_runs"] == "3"
    children = _children(wine_study)
    assert sorted(int(c.data.params["seed"]) for c in children) == [0, 1, 2]
    assert all(c.info.status == "FINISHED" for c in children)
    assert [d.dataset.name for d in parent.inputs.dataset_inputs] == ["wine"]


def test_child_metrics_cover_every_method_output_and_feature(wine_study):
    ds = load_dataset("wine")
    feats = tracking.metric_names(ds.feature_names)
    child = _children(wine_study)[0]
    metrics = child.data.metrics
    for key in ("train_score", "test_score", "n_iter", "converged"):
        assert key in metrics
    assert 0 <= metrics["test_score"] <= 1
    blind = {"garson", "weight_sums"}  # one vector for every output: logged once
    for method in METHODS:
        outputs = ds.output_names if method not in blind | {"permutation"} else [None]
        for out in outputs:
            for feat in feats:
                assert tracking.importance_key(method, out, feat) in metrics
    # 13 variables x (3 methods x 3 classes + permutation's, garson's and weight_sums' one column)
    assert sum(k.startswith("importance.") for k in metrics) == 13 * (3 * 3 + 3)
    assert "importance.garson.od280_od315_of_diluted_wines" in metrics
    assert not any(k.startswith("importance.garson.class_") for k in metrics)


def test_children_have_their_own_duration_the_study_tags_and_no_copied_values(wine_study):
    """Every child: a start and end of its own fit, the study's name and settings hash (the UI
    groups by them), the parent's dataset as input, and no key that repeats another's vector."""
    client = _client(wine_study)
    parent = client.get_run(wine_study.run_id)
    children = sorted(_children(wine_study), key=lambda c: c.info.start_time)
    assert [int(c.data.params["seed"]) for c in children] == [0, 1, 2]  # created in seed order
    for c in children:
        assert c.info.end_time - c.info.start_time > 0
        assert parent.info.start_time <= c.info.start_time <= parent.info.end_time
        assert c.data.tags["study.name"] == parent.data.tags["study.name"]
        assert c.data.tags["study.config_hash"] == parent.data.tags["study.config_hash"]
        assert [d.dataset.digest for d in c.inputs.dataset_inputs] == [
            d.dataset.digest for d in parent.inputs.dataset_inputs
        ]
        vectors = {}
        for key, value in c.data.metrics.items():
            if key.startswith("importance."):
                vectors.setdefault(key.rsplit(".", 1)[0], []).append((key.rsplit(".", 1)[1], value))
        seen = [tuple(v for _, v in sorted(vec)) for vec in vectors.values()]
        assert len(seen) == len(set(seen)), "two keys hold the same importance vector"


def test_weights_artifact_recomputes_the_logged_importances(wine_study, tmp_path):
    client = _client(wine_study)
    ds = load_dataset("wine")
    feats = tracking.metric_names(ds.feature_names)
    for child in _children(wine_study):
        path = client.download_artifacts(child.info.run_id, "weights.npz", str(tmp_path))
        with np.load(path) as w:
            coefs = [w["coef_0"], w["coef_1"]]
        assert coefs[0].shape == (13, 8) and coefs[1].shape == (8, 3)
        logged = [
            [child.data.metrics[tracking.importance_key("olden", c, f)] for c in ds.output_names]
            for f in feats
        ]
        np.testing.assert_allclose(logged, importance.olden(coefs), rtol=1e-12)
        # garson: one column, the same for every output
        garson = importance.garson(coefs)
        np.testing.assert_allclose(garson, garson[:, :1].repeat(3, axis=1))
        logged = [child.data.metrics[tracking.importance_key("garson", None, f)] for f in feats]
        np.testing.assert_allclose(logged, garson[:, 0], rtol=1e-12)


def test_parent_gets_importance_table_and_study_layout(wine_study, tmp_path):
    client = _client(wine_study)
    table = pd.read_csv(
        client.download_artifacts(wine_study.run_id, "importances.csv", str(tmp_path))
    )
    assert list(table.columns) == [
        "seed",
        "method",
        "measure",
        "output",
        "feature",
        "value",
        "rank",
    ]
    primary = table[table.measure == table.method.map(lambda m: importance.get_method(m).primary)]
    # per (seed, method, output) the ranks are a permutation-with-ties of 1..13
    sums = primary.groupby(["seed", "method", "output"])["rank"].sum()
    assert np.allclose(sums, 13 * 14 / 2)
    meta = json.loads(
        open(client.download_artifacts(wine_study.run_id, "study.json", str(tmp_path))).read()
    )
    assert meta["output_names"] == ["class_0", "class_1", "class_2"]
    assert meta["layer_sizes"] == [13, 8, 3]
    artifacts = {a.path for a in client.list_artifacts(wine_study.run_id)}
    assert {
        "config.yaml",
        "study.json",
        "importances.csv",
        "weight_sums.csv",
        "aggregate.csv",
        "stability.csv",
        "topk_frequency.csv",
        "rank_distribution.csv",
        "agreement.csv",
        "charts",
    } <= artifacts


def test_parent_gets_few_metrics_stability_with_history_and_a_description(wine_study):
    """At most 40 keys: scores, then per view the top-k stability's interval; Kendall's W and
    top-k stability as histories over the number of seeds (the UI draws curves); agreement stays
    in agreement.csv; the description holds the answer."""
    client = _client(wine_study)
    run = client.get_run(wine_study.run_id)
    metrics = run.data.metrics
    assert len(metrics) <= 40
    assert not any(k.startswith("agreement.") for k in metrics)
    st = pd.DataFrame(wine_study.analysis.stability).set_index(["method", "output"])
    for method in METHODS:
        out = {"permutation": "all", "garson": "class_0", "weight_sums": "class_0"}.get(
            method, "class_1"
        )
        base = f"stability.{method}" + ("" if out in ("all", "class_0") else ".class_1")
        w = metrics[f"{base}.kendall_w"]
        assert w == pytest.approx(st.loc[(method, out), "kendall_w"])
        history = client.get_metric_history(wine_study.run_id, f"{base}.kendall_w")
        assert sorted(h.step for h in history) == [2, 3]  # once per step: no copies
        assert f"{base}.top3_stability" in metrics and f"{base}.top3_stability_ci" in metrics
    note = run.data.tags["mlflow.note.content"]
    first = wine_study.analysis.answer.table.iloc[0]
    # the name as typed, its markdown punctuation escaped (study.escape)
    assert f"| 1 | {for_markdown(first.feature)} | {first.mean_rank:.1f} [" in note
    assert "artifacts/overview.html" in note
    assert "overview.html" in {a.path for a in client.list_artifacts(wine_study.run_id)}


def test_read_back_equals_what_was_trained(wine_study):
    """load_study reads MLflow alone; the numbers are those the runner computed."""
    cfg = _compose(wine_study.output_dir, "study.n_runs=3")
    ds = load_dataset("wine")
    plan = Plan(ds, cfg["model"], tuple(METHODS), {"permutation": {"n_repeats": 2}}, 0.25, 0)
    fresh = {r.seed: r for r in run_many(plan, seeds_for(0, 3))}
    for rec in wine_study.record.runs:
        np.testing.assert_array_equal(rec.coefs[0], fresh[rec.seed].coefs[0])
        for m in METHODS:
            for measure, v in fresh[rec.seed].importances[m].items():
                np.testing.assert_array_equal(rec.importances[m][measure], v)


@pytest.mark.slow
def test_single_output_binary_and_two_output_regression_keys(mlflow_store):
    out = pipeline.run(
        _compose(
            mlflow_store,
            "dataset=breast_cancer",
            "study.n_runs=2",
            "importance.methods=[garson,olden]",
            "tracking.experiment=pipeline-keys",
        )
    )
    metrics = _children(out)[0].data.metrics
    assert "importance.olden.mean_radius" in metrics  # one logistic unit: no output part
    assert out.record.meta.output_names == ("benign",)
    out = pipeline.run(
        _compose(
            mlflow_store,
            "dataset=neuraldat",
            "model=mlp_10",
            "study.n_runs=2",
            "tracking.experiment=pipeline-keys",
        )
    )
    metrics = _children(out)[0].data.metrics
    assert {"importance.olden.Y1.X1", "importance.olden.Y2.X1"} <= set(metrics)
    assert "importance.garson_signed.Y2.X3" in metrics


def test_n_jobs_gives_identical_numbers():
    ds = load_dataset("iris")
    model = config.compose()["model"]
    plan = Plan(ds, model, tuple(METHODS), {"permutation": {"n_repeats": 2}}, 0.25, None)
    seq = {r.seed: r for r in run_many(plan, seeds_for(5, 4), n_jobs=1)}
    par = {r.seed: r for r in run_many(plan, seeds_for(5, 4), n_jobs=2)}
    assert sorted(seq) == sorted(par) == [5, 6, 7, 8]
    for s in seq:
        assert seq[s].test_score == par[s].test_score
        for a, b in zip(seq[s].coefs, par[s].coefs):
            np.testing.assert_array_equal(a, b)
        for m in METHODS:
            for measure in seq[s].importances[m]:
                np.testing.assert_array_equal(
                    seq[s].importances[m][measure], par[s].importances[m][measure]
                )
    # another seed gives another network
    assert not np.array_equal(seq[5].coefs[0], seq[6].coefs[0])


def test_failure_after_start_leaves_parent_failed(mlflow_store, monkeypatch):
    from mlflow import MlflowClient

    def boom(*args, **kwargs):
        raise RuntimeError("planted failure")

    monkeypatch.setattr("study.analysis.aggregate.analyse", boom)
    cfg = _compose(
        mlflow_store,
        "dataset=iris",
        "study.n_runs=2",
        "tracking.experiment=pipeline-fail",
        "importance.methods=[olden]",
    )
    with pytest.raises(RuntimeError, match="planted failure"):
        pipeline.run(cfg)
    client = MlflowClient(f"sqlite:///{mlflow_store / 'mlflow.db'}")
    exp = client.get_experiment_by_name("pipeline-fail")
    runs = client.search_runs([exp.experiment_id])
    assert runs and {r.info.status for r in runs if r.data.tags.get("study.role") == "study"} == {
        "FAILED"
    }
    assert all(r.info.status != "RUNNING" for r in runs)
