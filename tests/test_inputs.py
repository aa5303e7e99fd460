"""What a user can get wrong, caught before anything runs: one line, exit 2, no store written; a
CSV's saved row index left out of the features; a study whose networks learned nothing gives no
answer and exits 1."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from study import config
from study.lifecycle import prepare

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_AGENT_HINT": "1"}
RUN = "import sys; from study.cli import run_main; sys.argv[0] = 'study-run'; run_main()"
LEAN = [
    "study.n_jobs=1",
    "study.charts=false",
    "study.progress=false",
    "study.resample=none",
    "importance.methods=[olden,garson]",
    "stability.n_bootstrap=200",
]


def _study_run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-c", RUN, *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )


SIZES = (
    "model.hidden_layer_sizes must be a list of positive integers, one per hidden layer "
    "(e.g. [8] or [16,8]); got"
)
STORES = "use sqlite:///path/to/mlflow.db (or a path ending in .db), http(s)://host:port"


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.hidden_layer_sizes=[1.5]", f"{SIZES} [1.5]"),
        ("model.hidden_layer_sizes=[true]", f"{SIZES} [true]"),
        ("model.hidden_layer_sizes=null", "got null"),
        ("model.hidden_layer_sizes=8", "got 8; write [8] for one layer of 8"),
        ("model.hidden_layer_sizes=[a]", "got [a]"),
        ("model.hidden_layer_sizes=[8,x]", "got [8,x]"),
        ("tracking.uri=ftp://x/y", f"tracking.uri: ftp:// is not a tracking store; {STORES}"),
        (
            "tracking.uri=mysql://alice:pw@host/db",
            "tracking.uri: mysql:// needs the Python driver MySQLdb, which is not installed: "
            "pip install mysqlclient",
        ),
        (
            "tracking.uri=mysql+nosuch://alice@host/db",
            "SQLAlchemy has no driver 'nosuch' for mysql",
        ),
        (
            "tracking.uri=sqlite://",
            "tracking.uri: write a SQLite store as sqlite:///path/to/mlflow.db",
        ),
        ("tracking.experiment=''", "tracking.experiment must be a name; got ''"),
        ("paths.root=/proc/nope", "paths.root: cannot write into /proc/nope"),
        ("model.activation=null", "model.activation is null: give it a value, or drop the key"),
        ("model.max_iter=0", "model.max_iter must be an int in the range [1, inf); got 0"),
        (
            "model.learning_rate_init=-1",
            "model.learning_rate_init must be a float in the range (0.0",
        ),
        ("model.alpha=abc", "model.alpha must be a float in the range [0.0, inf); got 'abc'"),
    ],
)
@pytest.mark.slow
def test_a_bad_value_is_one_line_and_exit_2_before_anything_runs(tmp_path, override, message):
    proc = _study_run(*LEAN, f"paths.root={tmp_path / 'runs'}", override, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith("study-run: error: ") and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "pw" not in proc.stderr  # nor a password from the URI
    assert not list(tmp_path.rglob("*.db")), "a store was created"  # so nothing is RUNNING


def test_the_databases_are_mlflows():
    from mlflow.store.db.db_types import DATABASE_ENGINES

    from study.tracking import _store

    assert sorted(_store.DATABASES) == sorted(DATABASE_ENGINES)


@pytest.mark.parametrize("order", ["saved", "shuffled"])
def test_a_row_index_saved_by_pandas_is_not_a_feature(tmp_path, capsys, order):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.standard_normal((40, 3)), columns=["a", "b", "c"])
    df["y"] = df.a - df.b
    (df if order == "saved" else df.sample(frac=1, random_state=1)).to_csv(tmp_path / "t.csv")
    prep = prepare.prepare(
        config.compose(
            [
                "dataset=csv",
                f"dataset.path={tmp_path / 't.csv'}",
                "dataset.target=y",
                f"paths.root={tmp_path / 'runs'}",
                *LEAN,
            ]
        )
    )
    assert prep.dataset.feature_names == ("a", "b", "c")
    assert prep.meta.feature_names == ("a", "b", "c") and prep.meta.layer_sizes[0] == 3
    err = capsys.readouterr().err
    assert "t.csv: its first column has no name and holds the row numbers 0 to 39" in err


def test_an_unnamed_column_that_is_not_the_row_numbers_stays_a_feature(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.standard_normal((40, 3)), columns=["", "b", "c"])
    df["y"] = df.b - df.c
    df.to_csv(tmp_path / "t.csv", index=False)
    prep = prepare.prepare(
        config.compose(
            [
                "dataset=csv",
                f"dataset.path={tmp_path / 't.csv'}",
                "dataset.target=y",
                f"paths.root={tmp_path / 'runs'}",
                *LEAN,
            ]
        )
    )
    assert prep.dataset.feature_names == ("Unnamed: 0", "b", "c")


@pytest.mark.slow
def test_a_study_whose_networks_learned_nothing_gives_no_answer_and_exits_1(tmp_path):
    db = tmp_path / "runs" / "mlflow.db"
    proc = _study_run(
        *LEAN,
        "study.n_runs=3",
        f"paths.root={tmp_path / 'runs'}",
        f"tracking.uri=sqlite:///{db}",
        "model.learning_rate_init=1e6",
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert (
        "No network learned: the mean test accuracy 0.3" in out
        and "is not above chance (0.400, always the most frequent class)" in out
    ), out
    assert "Answer:" not in out
    # the study itself is kept, finished, for whoever wants to look at it
    run_id = out.split("Parent run: ", 1)[1].split()[0]
    code = "import sys; from study.cli import aggregate_main; aggregate_main(sys.argv[1:])"
    agg = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "--run-id",
            run_id,
            "--uri",
            f"sqlite:///{db}",
            "--no-charts",
            "--no-log",
            "--output",
            str(tmp_path / "agg"),
        ],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert agg.returncode == 1 and "No network learned" in agg.stdout, agg.stderr[-3000:]
