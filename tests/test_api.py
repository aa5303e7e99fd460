"""``study.run``: a study of a pandas DataFrame (or a CSV file) from Python, logged to MLflow as
``study-run`` logs it."""

import numpy as np
import pandas as pd
import pytest

import study
from study.errors import StudyError

QUICK = ["study.n_runs=3", "study.resample=none", "study.progress=false", "study.charts=false"]
# column names an override could not carry: spaces, a comma, a quote, brackets
NAMES = ["strong one", "weak, two", "noise 'three'", "noise[4]"]


def _planted(seed: int, n: int = 200) -> pd.DataFrame:
    """y = 3 x_0 + x_1 + noise: the first column matters most, the second next, two are noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    frame = pd.DataFrame(X, columns=NAMES, index=rng.permutation(n) + 1000)  # an index to drop
    frame["y"] = 3 * X[:, 0] + X[:, 1] + rng.normal(scale=0.5, size=n)
    return frame


@pytest.mark.slow
def test_a_dataframe_study_answers_one_row_per_variable_and_is_logged(tmp_path):
    from study import tracking

    frame = _planted(0)
    result = study.run(frame, target="y", overrides=[*QUICK, f"paths.root={tmp_path}"])
    table = result.answer.table
    assert sorted(table.feature) == sorted(NAMES) and len(table) == len(NAMES)
    assert list(table.feature[:2]) == NAMES[:2]  # the planted order
    # logged as study-run logs it: the parent run reads back with its three seeds
    record = tracking.load_study(result.uri, result.run_id)
    assert [r.seed for r in record.runs] == [0, 1, 2]
    assert list(record.meta.feature_names) == NAMES
    saved = list((tmp_path / "data").glob("frame-*.csv"))
    assert len(saved) == 1 and result.record.meta.name == saved[0].stem
    assert pd.read_csv(saved[0]).shape == (200, 5)  # the index left out, floats exact
    assert np.array_equal(pd.read_csv(saved[0])[NAMES].to_numpy(), frame[NAMES].to_numpy())

    # the same table from its CSV file: the same answer, number for number
    path = tmp_path / "same.csv"
    frame.to_csv(path, index=False)
    again = study.run(
        str(path), target="y", overrides=[*QUICK, f"paths.root={tmp_path}", "study.name=from-csv"]
    )
    pd.testing.assert_frame_equal(again.answer.table, table)

    # another table in the same store is another study, not a clash of settings
    other = study.run(_planted(1), target="y", overrides=[*QUICK, f"paths.root={tmp_path}"])
    assert other.record.meta.name != result.record.meta.name
    assert other.run_id != result.run_id


@pytest.mark.slow
def test_a_dataframe_study_with_the_default_settings_has_rank_sets(tmp_path):
    result = study.run(
        _planted(2),
        target="y",
        features=NAMES[:3],
        overrides=[
            "study.n_runs=3",
            "study.n_resamples=4",
            "study.progress=false",
            "study.charts=false",
            f"paths.root={tmp_path}",
        ],
    )
    table = result.answer.table
    assert sorted(table.feature) == sorted(NAMES[:3])  # only the features asked for
    assert result.answer.n_resamples == 4
    assert (table.rank_low <= table.rank_high).all()


@pytest.mark.slow
def test_a_dataframe_with_integer_column_names_is_named_by_them(tmp_path):
    frame = _planted(3).set_axis([0, 1, 2, 3, 4], axis=1)  # the target is column 4
    result = study.run(
        frame, target=4, features=[0, 1, 2], overrides=[*QUICK, f"paths.root={tmp_path}"]
    )
    assert list(result.answer.table.feature[:2]) == ["0", "1"]  # the planted order
    assert not list((tmp_path / "data").glob("*.part"))  # written whole, then renamed


def test_what_is_not_a_table_or_lacks_the_target_is_one_line(tmp_path):
    root = [f"paths.root={tmp_path}", *QUICK]
    with pytest.raises(StudyError, match="DataFrame or the path of a CSV file; got list"):
        study.run([[1, 2]], target="y", overrides=root)
    with pytest.raises(StudyError) as err:
        study.run(_planted(0), target="nope", overrides=root)
    assert "nope" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "mlflow.db").exists()  # refused before any store exists
