"""The experiment presets in conf/experiment/: each composes, gives what its header promises, and
runs end to end; known-truth recovery and the multi-output pattern hold on small fast versions."""

import numpy as np
import pandas as pd
import pytest
import yaml

from study import config, importance
from study.datasets import load_dataset
from study.lifecycle import pipeline

PRESETS = sorted(p.stem for p in (config.config_dir() / "experiment").glob("*.yaml"))
# every method but Lek's profile, which is opt-in (its curves cost ~94 kB per seed)
EVERY_METHOD = [m for m in importance.METHODS if m != "lek"]


def _dataset(cfg):
    options = {k: v for k, v in cfg["dataset"].items() if k != "name"}
    return load_dataset(cfg["dataset"]["name"], **options)


def _compose(store, preset, *overrides):
    return config.compose(
        [
            f"experiment={preset}",
            f"tracking.uri=sqlite:///{store / 'mlflow.db'}",
            f"paths.root={store}",
            f"tracking.experiment=preset-{preset}",
            "study.progress=false",
            "study.n_resamples=4",
            "study.charts=false",
            "importance.options.permutation.n_repeats=2",
            "stability.n_bootstrap=200",
            *overrides,
        ]
    )


def _client(outcome):
    from mlflow import MlflowClient

    return MlflowClient(outcome.uri)


def _artifact(outcome, name, tmp_path) -> pd.DataFrame:
    return pd.read_csv(_client(outcome).download_artifacts(outcome.run_id, name, str(tmp_path)))


# ---------------------------------------------------------------------------------------------
# what each header comment promises


def _promises_ranking_study(cfg):
    ds = _dataset(cfg)
    assert cfg["dataset"]["name"] == "known_truth_classification"
    assert cfg["model"]["hidden_layer_sizes"] == [8]
    assert ds.n_features == 14 and len(ds.output_names) == 3
    # x03 > x06 > x09 > x12 informative, the other ten noise
    ranked = [ds.feature_names[i] for i in np.argsort(-ds.truth, kind="stable")[:4]]
    assert ranked == ["x03", "x06", "x09", "x12"]
    assert np.count_nonzero(ds.truth) == 4
    assert cfg["study"]["n_runs"] == 50
    assert sorted(cfg["importance"]["methods"]) == sorted(EVERY_METHOD)
    assert cfg["validate"]["retrain"] is True


def _promises_ranking_study_wine(cfg):
    ds = _dataset(cfg)
    assert cfg["dataset"]["name"] == "wine"
    assert cfg["model"]["hidden_layer_sizes"] == [8]
    assert ds.n_features == 13 and len(ds.output_names) == 3
    assert cfg["study"]["n_runs"] == 50
    assert sorted(cfg["importance"]["methods"]) == sorted(EVERY_METHOD)
    assert cfg["validate"]["retrain"] is True


def _promises_multioutput_garson(cfg):
    assert cfg["dataset"]["name"] == "neuraldat"
    assert _dataset(cfg).output_names == ("Y1", "Y2")
    assert cfg["model"]["hidden_layer_sizes"] == [10]
    assert cfg["importance"]["methods"] == ["garson", "garson_signed", "olden"]
    assert cfg["study"]["n_runs"] == 50
    # the sweep over a second dataset with two complementary outputs (Hydra's compose ignores it)
    path = config.config_dir() / "experiment" / "multioutput_garson.yaml"
    raw = yaml.safe_load(path.read_text())
    swept = raw["hydra"]["sweeper"]["params"]["dataset"].split(",")
    assert swept == ["neuraldat", "breast_cancer_onehot"]
    other = config.compose(["experiment=multioutput_garson", "dataset=breast_cancer_onehot"])
    ds = _dataset(other)
    assert len(ds.output_names) == 2 and ds.y.ndim == 2
    np.testing.assert_array_equal(ds.y.sum(axis=1), 1)  # complementary: one unit per class
    assert other["model"]["hidden_layer_sizes"] == [10]


def _promises_known_truth(cfg):
    ds = _dataset(cfg)
    assert cfg["dataset"]["name"] == "known_truth_regression"
    assert cfg["model"]["hidden_layer_sizes"] == [8]
    assert cfg["study"]["n_runs"] >= 30
    assert cfg["study"]["resplit"] is True
    # |beta| = 1.0 > 0.8 > 0.6 > 0.4 > 0.2 at x02, x04, x05, x07, x08; three noise variables
    informative = ds.truth > 0
    assert [ds.feature_names[i] for i in np.argsort(-ds.truth, kind="stable")[:5]] == [
        "x02",
        "x04",
        "x05",
        "x07",
        "x08",
    ]
    assert np.unique(ds.truth[informative]).size == 5 and np.count_nonzero(~informative) == 3


def _promises_randomisation_test(cfg):
    assert cfg["dataset"]["name"] == "wine"
    assert cfg["model"]["hidden_layer_sizes"] == [8]
    assert cfg["study"]["n_runs"] == 30
    assert cfg["randomisation"]["n_permutations"] == 99
    assert cfg["randomisation"]["alternative"] == "two-sided"
    # the recommended design: valid per-variable p-values (docs/randomisation.md: "Null
    # designs"), every seed
    assert (
        cfg["randomisation"]["permute"],
        cfg["randomisation"]["init"],
        cfg["randomisation"]["tested"],
    ) == ("variable", "tested", "all")
    assert cfg["model"]["backend"] == "batched"  # a seed's null networks train as blocks
    # early stopping with a patience of 50: the null networks must not memorise the noise
    assert cfg["model"]["early_stopping"] is True and cfg["model"]["n_iter_no_change"] == 50
    assert cfg["model"]["learning_rate_init"] == 0.01  # at 0.001 they stop before learning
    assert {"olden", "garson"} <= set(cfg["importance"]["methods"])


PROMISES = {
    "ranking_study": _promises_ranking_study,
    "randomisation_test": _promises_randomisation_test,
    "ranking_study_wine": _promises_ranking_study_wine,
    "multioutput_garson": _promises_multioutput_garson,
    "known_truth": _promises_known_truth,
}


def test_presets_every_file_has_its_promises_checked():
    assert PRESETS == sorted(PROMISES)


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_compose_and_give_what_the_header_promises(preset):
    cfg = config.compose([f"experiment={preset}"])
    assert "hydra" not in cfg
    PROMISES[preset](cfg)


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_presets_hold_only_what_they_change(preset):
    """A preset is a ``# @package _global_`` file of overrides; its header says how to run it."""
    text = (config.config_dir() / "experiment" / f"{preset}.yaml").read_text()
    assert text.startswith("# @package _global_\n")
    assert f"study-run experiment={preset}" in text
    default = config.compose()
    cfg = config.compose([f"experiment={preset}"])
    assert cfg["stability"] == default["stability"] and cfg["tracking"] == default["tracking"]


# ---------------------------------------------------------------------------------------------
# every preset end to end, shrunk for speed

SHRINK = {
    "ranking_study": ["dataset.n_samples=150"],
    "known_truth": ["dataset.n_samples=200"],
    "randomisation_test": ["randomisation.n_permutations=9"],
}
SPECIAL = {  # the table and metric each preset exists for
    "ranking_study": [
        ("truth_recovery.csv", "truth.olden.accuracy"),
        ("retrain_areas.csv", "retrain.olden.area"),
    ],
    "ranking_study_wine": [("retrain_areas.csv", "retrain.olden.area")],
    "multioutput_garson": [("output_relations.csv", "stability.garson_signed.Y1.kendall_w")],
    "known_truth": [("truth_recovery.csv", "truth.olden.accuracy")],
    "randomisation_test": [("randomisation.csv", "randomisation.olden.class_0.significant")],
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_presets_run_end_to_end(preset, mlflow_store, tmp_path):
    cfg = _compose(
        mlflow_store,
        preset,
        "study.n_runs=2",
        "study.n_jobs=1",
        "validate.k_max=1",
        "validate.n_seeds=1",
        "validate.n_random=1",
        *SHRINK.get(preset, []),
    )
    outcome = pipeline.run(cfg)
    client = _client(outcome)
    parent = client.get_run(outcome.run_id)
    assert parent.info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(outcome.run_id)}
    metrics = parent.data.metrics
    assert {"output_layer_check.csv", "stability.csv"} <= artifacts
    for table, metric in SPECIAL[preset]:
        assert table in artifacts and (outcome.output_dir / table).is_file()
        assert np.isfinite(metrics[metric])
    assert len(outcome.record.runs) == 2


# ---------------------------------------------------------------------------------------------
# the preset's answers, on small fast versions


@pytest.fixture(scope="module")
def known_truth_small(mlflow_store):
    """known_truth with 12 networks and 600 rows (the full preset: 50 networks, 1000 rows)."""
    # another study than the end-to-end run of the preset (other settings: another name)
    return pipeline.run(
        _compose(
            mlflow_store,
            "known_truth",
            "study.n_runs=12",
            "dataset.n_samples=600",
            "study.name=known_truth_600",
        )
    )


@pytest.mark.slow
def test_known_truth_olden_recovers_the_true_order(known_truth_small, tmp_path):
    truth = _artifact(known_truth_small, "truth_recovery.csv", tmp_path).set_index("method")
    assert (truth.n_networks == 12).all() and (truth.n_informative == 5).all()
    olden = truth.loc["olden", "accuracy"]
    assert olden >= 0.9
    assert olden > truth.loc["garson", "accuracy"] and olden > truth.loc["weight_sums", "accuracy"]
    assert truth.loc["olden", "spearman_mean"] > truth.loc["garson", "spearman_mean"]
    metrics = _client(known_truth_small).get_run(known_truth_small.run_id).data.metrics
    assert metrics["truth.olden.accuracy"] == pytest.approx(olden)


@pytest.fixture(scope="module")
def multioutput_onehot(mlflow_store):
    """multioutput_garson on breast_cancer_onehot (two complementary outputs), 8 networks."""
    return pipeline.run(
        _compose(
            mlflow_store,
            "multioutput_garson",
            "dataset=breast_cancer_onehot",
            "study.n_runs=8",
            "study.name=multioutput_onehot",
        )
    )


@pytest.mark.slow
def test_multioutput_garson_opposite_output_weights_negate_signed_garson_only(
    multioutput_onehot, tmp_path
):
    rel = _artifact(multioutput_onehot, "output_relations.csv", tmp_path)
    assert len(rel) == 8 and (rel.hidden_units == 10).all()
    opposite = rel.opposite_sign_units == rel.hidden_units
    assert opposite.any()
    assert (rel.garson_signed[opposite] == "negated").all()
    assert rel.garson_signed_same_magnitude[opposite].all()
    assert not (rel.olden == "negated").any()
    # generic weights: signed Garson is negated only where every unit is opposite
    assert not (rel.garson_signed[~opposite] == "negated").any()
    # the shares are the report's (they are in output_relations.csv, not parent metrics)
    text = "\n".join(line for block in multioutput_onehot.report for line in block)
    assert f"signed Garson exactly negated in {int(opposite.sum())}/{len(rel)}" in text
