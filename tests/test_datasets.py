"""Tests for study.datasets: bundled tables against their sources, the split against a
hand-recovered partition, known-truth simulations against planted signals, and every CSV error."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets as skdatasets
from sklearn.feature_selection import f_classif
from sklearn.linear_model import LinearRegression

from study.datasets import DATASETS, Dataset, load_dataset, split
from study.errors import StudyError

SMALL = {
    "known_truth_regression": {"n_samples": 200},
    "known_truth_classification": {"n_samples": 150},
}
BUNDLED = [name for name in DATASETS if name != "csv"]


def _one_line_error(match, *args, **kwargs):
    """Load and return the StudyError message, checking that it is a single line."""
    with pytest.raises(StudyError, match=match) as err:
        load_dataset(*args, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg and msg.strip() == msg and msg
    return msg


# ---------------------------------------------------------------------------------------------
# every bundled / simulated dataset


@pytest.mark.parametrize("name", BUNDLED)
def test_load_dataset_shapes_names_and_task_consistent(name):
    ds = load_dataset(name, **SMALL.get(name, {}))
    n, p = ds.X.shape
    assert ds.n_samples == n and ds.n_features == p and n > 0 and p > 0
    assert ds.X.dtype == float and np.isfinite(ds.X).all()
    assert len(ds.y) == n
    assert len(ds.feature_names) == p == len(set(ds.feature_names))
    assert all(isinstance(f, str) for f in ds.feature_names + ds.target_names)
    if ds.task == "regression":
        assert ds.y.shape == (n, len(ds.target_names))
        assert ds.output_names == ds.target_names
        assert ds.class_names is None
    else:
        assert ds.task == "classification"
        assert ds.y.ndim == 1 and len(ds.target_names) == 1
        assert len(ds.class_names) == len(np.unique(ds.y)) >= 2
        assert len(ds.output_names) == (1 if len(ds.class_names) == 2 else len(ds.class_names))
    if ds.truth is not None:
        assert ds.truth.shape == (p,) and (ds.truth >= 0).all() and (ds.truth > 0).any()
    frame = ds.frame()
    assert list(frame.columns) == list(ds.feature_names) + list(ds.target_names)
    assert frame.shape == (n, p + len(ds.target_names))


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "diabetes", "linnerud"])
def test_load_dataset_sklearn_tables_equal_their_source(name):
    bunch = getattr(skdatasets, f"load_{name}")()
    ds = load_dataset(name)
    np.testing.assert_array_equal(ds.X, bunch.data)
    np.testing.assert_array_equal(ds.y.reshape(len(ds.y), -1), bunch.target.reshape(len(ds.y), -1))
    assert list(ds.feature_names) == list(bunch.feature_names)


def test_output_names_wine_three_classes():
    ds = load_dataset("wine")
    assert ds.output_names == tuple(skdatasets.load_wine().target_names) == ds.class_names
    assert len(ds.output_names) == 3


def test_output_names_breast_cancer_binary_is_second_class():
    # scikit-learn's binary MLP has one logistic unit: P(class 1) = P("benign").
    ds = load_dataset("breast_cancer")
    assert skdatasets.load_breast_cancer().target_names[1] == "benign"
    assert ds.output_names == ("benign",)


def test_output_names_neuraldat_two_targets_match_csv():
    ds = load_dataset("neuraldat")
    assert ds.output_names == ("Y1", "Y2") and ds.feature_names == ("X1", "X2", "X3")
    df = pd.read_csv(Path(__file__).parents[1] / "study" / "data" / "neuraldat.csv")
    assert ds.X.shape == (2000, 3) and ds.y.shape == (2000, 2)
    np.testing.assert_array_equal(ds.X, df[["X1", "X2", "X3"]].to_numpy())
    np.testing.assert_array_equal(ds.y, df[["Y1", "Y2"]].to_numpy())


def test_output_names_linnerud_three_targets():
    ds = load_dataset("linnerud")
    assert ds.output_names == tuple(skdatasets.load_linnerud().target_names)
    assert len(ds.output_names) == 3 and ds.y.shape == (20, 3)


def test_load_dataset_one_hot_gives_one_indicator_column_per_class():
    plain = load_dataset("breast_cancer")
    ds = load_dataset("breast_cancer", one_hot=True)
    assert ds.y.shape == (len(plain.y), 2)
    np.testing.assert_array_equal(ds.y.sum(axis=1), 1)
    np.testing.assert_array_equal(ds.y[:, 1], plain.y)  # column k is class k
    assert ds.output_names == ("malignant", "benign") == ds.class_names
    sp = split(ds, test_size=0.25, seed=0)
    expected = plain.y.mean() * len(sp.y_test)
    assert abs(sp.y_test[:, 1].sum() - expected) <= 1  # still stratified
    _one_line_error("one_hot", "diabetes", one_hot=True)


def test_load_dataset_unknown_name_lists_valid_names():
    msg = _one_line_error("unknown dataset 'nope'", "nope")
    for name in DATASETS:
        assert name in msg


# ---------------------------------------------------------------------------------------------
# split


def test_split_stratified_class_proportions():
    ds = load_dataset("wine")
    sp = split(ds, test_size=0.25, seed=0)
    _, counts = np.unique(ds.y, return_counts=True)
    _, test_counts = np.unique(sp.y_test, return_counts=True)
    assert len(sp.y_test) == int(np.ceil(0.25 * len(ds.y)))
    expected = counts * len(sp.y_test) / len(ds.y)
    assert np.abs(test_counts - expected).max() <= 1
    assert set(np.unique(sp.y_train)) == set(np.unique(ds.y))  # labels not scaled


def test_split_inputs_standardised_on_train_split():
    ds = load_dataset("wine")
    sp = split(ds, test_size=0.3, seed=1)
    np.testing.assert_allclose(sp.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(sp.X_train.std(axis=0), 1, rtol=1e-12)
    assert np.abs(sp.X_test.mean(axis=0)).max() > 1e-3  # scaled with train stats, not its own


def test_split_regression_targets_standardised():
    ds = load_dataset("neuraldat")
    sp = split(ds, test_size=0.2, seed=0)
    assert sp.y_train.shape[1] == sp.y_test.shape[1] == 2
    np.testing.assert_allclose(sp.y_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(sp.y_train.std(axis=0), 1, rtol=1e-12)
    assert np.abs(sp.y_test.mean(axis=0)).max() > 1e-6


def test_split_partitions_rows_and_scales_with_train_statistics():
    # Column 0 holds the row number; after an affine per-column scaling the sorted values of train
    # and test together lie on a line through 0..n-1, which gives each row's number back.
    rng = np.random.default_rng(3)
    n = 60
    noise = rng.standard_normal((n, 2)) * [3, 0.5] + [10, -2]
    raw = np.column_stack([np.arange(n, dtype=float), noise])
    y = np.column_stack([2 * raw[:, 1] + 1, rng.standard_normal(n) * 7])
    ds = Dataset("t", raw, y, ("i", "a", "b"), ("y1", "y2"), "regression")
    sp = split(ds, test_size=0.25, seed=0)
    both = np.sort(np.r_[sp.X_train[:, 0], sp.X_test[:, 0]])
    slope, intercept = np.polyfit(np.arange(n), both, 1)
    idx_tr = np.rint((sp.X_train[:, 0] - intercept) / slope).astype(int)
    idx_te = np.rint((sp.X_test[:, 0] - intercept) / slope).astype(int)
    assert sorted(np.r_[idx_tr, idx_te]) == list(range(n)) and len(idx_te) == 15
    mu, sd = raw[idx_tr].mean(axis=0), raw[idx_tr].std(axis=0)
    np.testing.assert_allclose(sp.X_train, (raw[idx_tr] - mu) / sd, atol=1e-12)
    np.testing.assert_allclose(sp.X_test, (raw[idx_te] - mu) / sd, atol=1e-12)
    ymu, ysd = y[idx_tr].mean(axis=0), y[idx_tr].std(axis=0)
    np.testing.assert_allclose(sp.y_train, (y[idx_tr] - ymu) / ysd, atol=1e-12)
    np.testing.assert_allclose(sp.y_test, (y[idx_te] - ymu) / ysd, atol=1e-12)


def test_split_same_seed_same_split_other_seed_other_split():
    ds = load_dataset("iris")
    a, b, c = (split(ds, test_size=0.3, seed=s) for s in (5, 5, 6))
    for f in ("X_train", "X_test", "y_train", "y_test"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.X_test, c.X_test)


def test_split_too_small_for_test_size_raises_study_error():
    ds = load_dataset("iris")
    with pytest.raises(StudyError, match="test_size"):
        split(ds, test_size=0.01, seed=0)  # 2 test rows for 3 classes


# ---------------------------------------------------------------------------------------------
# known truth


def test_known_truth_regression_truth_is_abs_coefficients():
    beta = (0.5, 0.0, -1.5, 1.0, 0.0)
    ds = load_dataset("known_truth_regression", coefficients=beta, n_samples=50, seed=1)
    np.testing.assert_array_equal(ds.truth, np.abs(beta))
    assert ds.X.shape == (50, 5) and ds.y.shape == (50, 1)


def test_known_truth_regression_linear_fit_recovers_truth_order():
    ds = load_dataset("known_truth_regression", n_samples=1000, seed=2)
    coef = np.abs(LinearRegression().fit(ds.X, ds.y[:, 0]).coef_)
    k = int((ds.truth > 0).sum())
    order = np.argsort(-ds.truth, kind="stable")
    assert list(np.argsort(-coef)[:k]) == list(order[:k])
    assert coef[ds.truth == 0].max() < ds.truth[ds.truth > 0].min() / 2
    beta = np.asarray(ds.extra["coefficients"])
    resid = ds.y[:, 0] - ds.X @ beta
    assert 0.45 < resid.std() < 0.55  # the default noise sd 0.5


def test_known_truth_regression_correlation_as_configured():
    ds = load_dataset("known_truth_regression", n_samples=3000, correlation=0.6, seed=3)
    c = np.corrcoef(ds.X, rowvar=False)
    off = c[~np.eye(len(c), dtype=bool)]
    assert np.abs(off - 0.6).max() < 0.06


def test_known_truth_classification_truth_and_anova_signal():
    informative, strengths = (1, 4, 6, 9), (2.0, 1.4, 0.9, 0.5)
    ds = load_dataset(
        "known_truth_classification",
        n_samples=600,
        n_features=11,
        informative=informative,
        strengths=strengths,
        seed=4,
    )
    want = np.zeros(11)
    want[list(informative)] = strengths
    np.testing.assert_array_equal(ds.truth, want)
    F, _ = f_classif(ds.X, ds.y)
    noise = [i for i in range(11) if i not in informative]
    assert F[list(informative)].min() > F[noise].max()
    assert list(np.argsort(-F)[:4]) == list(informative)  # strengths are in decreasing order
    assert np.bincount(ds.y).tolist() == [200, 200, 200]


@pytest.mark.parametrize("name", ["known_truth_regression", "known_truth_classification"])
def test_known_truth_data_seed_changes_data(name):
    a, b, c = (load_dataset(name, n_samples=60, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    np.testing.assert_array_equal(a.truth, c.truth)


def test_zero_coefficients_are_pure_noise_with_no_true_order():
    # the randomisation test's global null with the built-in generator: y is noise
    ds = load_dataset("known_truth_regression", n_samples=2000, coefficients=[0] * 7, noise=1.0)
    assert ds.truth.tolist() == [0.0] * 7 and ds.X.shape == (2000, 7)
    r = [np.corrcoef(ds.X[:, i], ds.y[:, 0])[0, 1] for i in range(7)]
    assert max(abs(v) for v in r) < 0.08  # sd of a correlation over 2000 rows: 0.022


@pytest.mark.parametrize(
    "name,options,match",
    [
        ("known_truth_regression", {"coefficients": (1.0, -1.0, 0.5)}, "distinct"),
        ("known_truth_regression", {"coefficients": ()}, "non-empty"),
        ("known_truth_regression", {"correlation": 1.0}, "correlation"),
        (
            "known_truth_regression",
            {"coefficients": (1.0, 0.5, 0.2), "correlation": -0.6},
            "correlation",
        ),
        (
            "known_truth_classification",
            {"n_features": 5, "informative": (1, 5), "strengths": (1.0, 2.0)},
            "0..4",
        ),
        (
            "known_truth_classification",
            {"informative": (-1, 2), "strengths": (1.0, 2.0)},
            "informative",
        ),
        (
            "known_truth_classification",
            {"informative": (1, 2), "strengths": (1.0, 1.0)},
            "distinct",
        ),
        (
            "known_truth_classification",
            {"informative": (1, 2), "strengths": (1.0, -2.0)},
            "positive",
        ),
        (
            "known_truth_classification",
            {"informative": (1, 2, 3), "strengths": (1.0, 2.0)},
            "equally long",
        ),
        ("known_truth_classification", {"informative": (2, 2), "strengths": (1.0, 2.0)}, "unique"),
        # what YAML gives as readily as a number: each was a traceback or silently truncated
        ("known_truth_regression", {"n_samples": "abc"}, "n_samples must be an integer; got 'abc'"),
        ("known_truth_regression", {"n_samples": 100.5}, "n_samples must be an integer; got 100.5"),
        ("known_truth_regression", {"n_samples": 0}, "n_samples must be at least 10; got 0"),
        ("known_truth_regression", {"noise": -1}, "noise must be at least 0"),
        ("known_truth_regression", {"correlation": "abc"}, "correlation must be a number"),
        ("known_truth_regression", {"coefficients": ["a", 1]}, "coefficients must be a non-empty"),
        ("known_truth_regression", {"seed": -1}, "seed must be at least 0"),
        ("known_truth_classification", {"n_samples": 0}, "n_samples must be at least 10"),
        ("known_truth_classification", {"n_features": 0}, "n_features must be at least 1"),
        (
            "known_truth_classification",
            {"informative": ["a"], "strengths": [1.0]},
            "informative must be a non-empty list of integers",
        ),
        (
            "known_truth_classification",
            {"informative": [1], "strengths": ["a"]},
            "strengths must be a non-empty list of numbers",
        ),
        ("known_truth_classification", {"one_hot": "maybe"}, "one_hot must be true or false"),
    ],
)
def test_known_truth_bad_config_raises_study_error(name, options, match):
    _one_line_error(match, name, **{"n_samples": 30, **options})


def test_known_truth_classification_no_informative_variable_raises_study_error():
    with pytest.raises(StudyError, match="informative"):
        load_dataset("known_truth_classification", n_samples=30, informative=(), strengths=())


# ---------------------------------------------------------------------------------------------
# CSV


def _write(tmp_path, df, name="data.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def _regression_frame(n=30, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.standard_normal((n, 3)), columns=["a", "b", "c"])
    df["y"] = df["a"] - 2 * df["c"] + 0.1 * rng.standard_normal(n)
    df["y2"] = df["b"] * 3.3 + 0.1 * rng.standard_normal(n)
    return df


def _class_frame(n=30, labels=("cat", "dog", "eel")):
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.standard_normal((n, 2)), columns=["u", "v"])
    df["label"] = [labels[i % len(labels)] for i in range(n)]
    return df


def test_load_dataset_csv_regression(tmp_path):
    df = _regression_frame().drop(columns="y2")
    ds = load_dataset("csv", path=_write(tmp_path, df), target="y")
    assert ds.task == "regression" and ds.name == "csv"
    assert ds.feature_names == ("a", "b", "c") and ds.target_names == ("y",)
    np.testing.assert_allclose(ds.X, df[["a", "b", "c"]].to_numpy(), rtol=1e-15)
    np.testing.assert_allclose(ds.y, df[["y"]].to_numpy(), rtol=1e-15)
    assert ds.output_names == ("y",)


def test_load_dataset_csv_multi_target(tmp_path):
    df = _regression_frame()
    path = _write(tmp_path, df)
    ds = load_dataset("csv", path=path, target=["y", "y2"])
    assert ds.task == "regression" and ds.target_names == ("y", "y2") == ds.output_names
    assert ds.feature_names == ("a", "b", "c")
    np.testing.assert_allclose(ds.y, df[["y", "y2"]].to_numpy(), rtol=1e-15)
    same = load_dataset("csv", path=str(path), target="y, y2")
    np.testing.assert_array_equal(same.y, ds.y)


def test_load_dataset_csv_string_labels_task_auto(tmp_path):
    ds = load_dataset("csv", path=_write(tmp_path, _class_frame()), target="label")
    assert ds.task == "classification"
    assert ds.class_names == ("cat", "dog", "eel") == ds.output_names
    assert ds.y.shape == (30,) and ds.y[0] == "cat"
    assert ds.feature_names == ("u", "v")


def test_load_dataset_csv_binary_labels_one_output(tmp_path):
    ds = load_dataset(
        "csv", path=_write(tmp_path, _class_frame(labels=("yes", "no"))), target="label"
    )
    assert ds.class_names == ("no", "yes") and ds.output_names == ("yes",)


def test_load_dataset_csv_task_inference(tmp_path):
    df = _regression_frame()
    df["k"] = np.arange(30) % 3  # few integer values: classes
    path = _write(tmp_path, df)
    assert load_dataset("csv", path=path, target="k").task == "classification"
    assert load_dataset("csv", path=path, target="y").task == "regression"
    forced = load_dataset("csv", path=path, target="k", task="regression")
    assert forced.task == "regression" and forced.y.shape == (30, 1)


def test_load_dataset_csv_explicit_features_subset(tmp_path):
    df = _regression_frame()
    ds = load_dataset("csv", path=_write(tmp_path, df), target="y", features=["c", "a"])
    assert ds.feature_names == ("c", "a")
    np.testing.assert_allclose(ds.X, df[["c", "a"]].to_numpy(), rtol=1e-15)


def test_load_dataset_csv_missing_file_names_path(tmp_path):
    path = tmp_path / "absent.csv"
    msg = _one_line_error("no such file", "csv", path=path, target="y")
    assert str(path) in msg


def test_load_dataset_csv_no_path(tmp_path):
    _one_line_error("dataset.path is required", "csv", target="y")


def test_load_dataset_csv_unknown_target_lists_columns(tmp_path):
    msg = _one_line_error(
        "dataset.target", "csv", path=_write(tmp_path, _regression_frame()), target="z"
    )
    assert "'z'" in msg
    for col in ("a", "b", "c", "y", "y2"):
        assert col in msg.split("columns are:")[1]


def test_load_dataset_csv_unknown_feature(tmp_path):
    msg = _one_line_error(
        "dataset.features",
        "csv",
        path=_write(tmp_path, _regression_frame()),
        target="y",
        features=["a", "q"],
    )
    assert "'q'" in msg


def test_load_dataset_csv_non_numeric_feature_names_column_and_value(tmp_path):
    df = _regression_frame()
    df["b"] = df["b"].astype(object)
    df.loc[7, "b"] = "abc"
    msg = _one_line_error("not numeric", "csv", path=_write(tmp_path, df), target="y")
    assert "'b'" in msg and "'abc'" in msg and "row 8" in msg


def test_load_dataset_csv_missing_values_name_column(tmp_path):
    df = _regression_frame()
    df.loc[4, "c"] = np.nan
    msg = _one_line_error("missing value", "csv", path=_write(tmp_path, df), target="y")
    assert "'c'" in msg


def test_load_dataset_csv_one_class_only(tmp_path):
    msg = _one_line_error(
        "single class", "csv", path=_write(tmp_path, _class_frame(labels=("a",))), target="label"
    )
    assert "'label'" in msg and "'a'" in msg


def test_load_dataset_csv_one_numeric_class_message_shows_label(tmp_path):
    df = _regression_frame()
    df["k"] = 1
    msg = _one_line_error(
        "single class", "csv", path=_write(tmp_path, df), target="k", task="classification"
    )
    assert "np." not in msg and "(1)" in msg


def test_load_dataset_csv_class_with_single_row(tmp_path):
    df = _class_frame()
    df.loc[5, "label"] = "zebra"
    msg = _one_line_error("single row", "csv", path=_write(tmp_path, df), target="label")
    assert "zebra" in msg


def test_load_dataset_csv_too_few_rows(tmp_path):
    msg = _one_line_error(
        "at least 10", "csv", path=_write(tmp_path, _regression_frame(n=6)), target="y"
    )
    assert "6 data rows" in msg


def test_load_dataset_csv_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    msg = _one_line_error("cannot read", "csv", path=path, target="y")
    assert "empty.csv" in msg


def test_load_dataset_csv_unparsable_file(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,y\n1,2\n1,2,3,4\n" + "1,2\n" * 12)
    _one_line_error("cannot read", "csv", path=path, target="y")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"a,y\n\xff\xfe\xfa,1\n" * 12)
    _one_line_error("cannot read", "csv", path=binary, target="y")


def test_load_dataset_csv_multi_target_classification(tmp_path):
    _one_line_error(
        "one target column",
        "csv",
        path=_write(tmp_path, _regression_frame()),
        target=["y", "y2"],
        task="classification",
    )


def test_load_dataset_csv_feature_also_target(tmp_path):
    msg = _one_line_error(
        "both feature and target",
        "csv",
        path=_write(tmp_path, _regression_frame()),
        target="y",
        features=["a", "y"],
    )
    assert "'y'" in msg


def test_load_dataset_csv_bad_task(tmp_path):
    _one_line_error(
        "dataset.task",
        "csv",
        path=_write(tmp_path, _regression_frame()),
        target="y",
        task="clustering",
    )
