"""The console scripts as a user runs them: exit status, one-line errors, nothing left RUNNING."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(args, cwd, module="study"):
    env = {**os.environ, "MLFLOW_DISABLE_AGENT_HINT": "1", "HYDRA_FULL_ERROR": ""}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _csv(tmp_path, name="data.csv", rows=60, **columns):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"a": rng.normal(size=rows), "b": rng.normal(size=rows), "c": rng.normal(size=rows)}
    )
    df["y"] = 2 * df.a - df.b + 0.1 * rng.normal(size=rows)
    df["label"] = np.where(df.a > 0, "high", "low")
    for key, value in columns.items():
        df[key] = value
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def _store_runs(db):
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    exps = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(exps) if exps else []


def _assert_user_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("study-run: error:")
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.slow
def test_cli_csv_regression_study_runs(tmp_path, mlflow_store):
    path = _csv(tmp_path)
    db = mlflow_store / "mlflow.db"
    proc = _run(
        [
            f"dataset.path={path}",
            "dataset=csv",
            "dataset.target=y",
            "dataset.features=[a,b,c]",
            "study.n_runs=2",
            "study.progress=false",
            "study.resample=none",
            f"tracking.uri=sqlite:///{db}",
            "tracking.experiment=cli-csv",
            "importance.options.permutation.n_repeats=2",
            "stability.n_bootstrap=200",
            "study.charts=false",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Parent run:" in out and f"study-ui --uri sqlite:///{db}" in out
    assert "Test R²" in out and "most often in the top" in out
    # the planted signal: y depends on a and b, not c; c is never ranked first by Olden
    runs = [
        r
        for r in _store_runs(db)
        if r.data.tags.get("study.role") == "seed" and r.data.params.get("seed") is not None
    ]
    assert runs
    for r in runs:
        m = r.data.metrics
        if "importance.olden.a" in m:
            assert abs(m["importance.olden.a"]) > abs(m["importance.olden.c"])
    assert (tmp_path / "runs" / "hydra").is_dir()  # Hydra's output under runs/, not outputs/


@pytest.mark.slow
def test_the_default_study_answers_with_rank_sets_over_data_and_seeds(tmp_path):
    """``study-run`` as a new user types it (its store and folder aside): the default seeds and
    bootstrap resample networks; the report's answer gives each top variable's rank set and the
    seeds or data line, answer.csv has the new columns, rank_sets.png is drawn."""
    proc = _run(["study.progress=false", f"paths.root={tmp_path}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    head = lines.index("Answer: the top 3 by olden:")
    from study.config import spec

    B, S = spec.default("study.n_resamples"), spec.default("study.n_runs")  # stated once: spec.py
    assert lines[head + 1] == (
        f"  95% rank sets over data and seeds ({B} resample networks; "
        "'surely' holds for all at once):"
    )
    sets = lines[head + 2].split(";  ")
    assert len(sets) == 3 and all(
        re.fullmatch(r"\s*\S+ rank \d+(–\d+)?, (surely|possibly|not) top 3", x) for x in sets
    ), sets
    assert lines[head + 3].startswith("  Seeds or data: more ")
    folder = Path(re.search(r"Tables and charts: (\S+)", proc.stdout).group(1))
    folder = folder if folder.is_absolute() else tmp_path / folder
    table = pd.read_csv(folder / "answer.csv")
    assert {
        "rank_low",
        "rank_high",
        "rank_low_simultaneous",
        "rank_high_simultaneous",
        "top_k",
        "n_resamples",
        "share",
        "data_share",
    } <= set(table.columns)
    assert (table.n_seeds == S).all() and (table.n_resamples == B).all()
    shown = {x.split(" rank ")[0].strip(): x.split(" rank ")[1].split(",")[0] for x in sets}
    for r in table.head(3).itertuples():  # the report's sets are answer.csv's
        assert shown[r.feature] == (
            f"{r.rank_low}" if r.rank_low == r.rank_high else f"{r.rank_low}–{r.rank_high}"
        )
    assert (folder / "rank_sets.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "overrides, needles",
    [
        (["dataset.path=nope.csv", "dataset.target=y"], ["no such file", "nope.csv"]),
        (["dataset.path={csv}", "dataset.target=yy"], ["'yy'", "columns are: a, b, c, y, label"]),
        (["dataset.path={csv}", "dataset.target=y", "dataset.features=[a,zz]"], ["'zz'"]),
        (["dataset.path={nan}", "dataset.target=y"], ["'b'", "missing value"]),
        (["dataset.path={text}", "dataset.target=y"], ["'b'", "not numeric"]),
        (["dataset.path={one}", "dataset.target=label"], ["single class", "'label'"]),
        (["dataset.target=y"], ["dataset.path is required"]),
    ],
    ids=[
        "missing-file",
        "unknown-target",
        "unknown-feature",
        "nan",
        "non-numeric",
        "one-class",
        "no-path",
    ],
)
@pytest.mark.slow
def test_cli_csv_errors_are_one_line_exit_2(tmp_path, overrides, needles):
    files = {
        "csv": _csv(tmp_path),
        "nan": _csv(tmp_path, "nan.csv", b=[np.nan] + [0.5] * 59),
        "text": _csv(tmp_path, "text.csv", b=["x"] + [0.5] * 59),
        "one": _csv(tmp_path, "one.csv", label="only"),
    }
    args = ["dataset=csv"] + [o.format(**files) for o in overrides]
    proc = _run(args + ["tracking.uri=sqlite:///store.db"], tmp_path)
    _assert_user_error(proc, *needles)
    assert not (tmp_path / "store.db").exists()  # failed before any MLflow run was created
    assert not (tmp_path / "runs" / "hydra").exists()  # and left no empty Hydra folder


@pytest.mark.parametrize(
    "overrides, needles",
    [
        (["importance.methods=[garson,shap]"], ["'shap'", "garson, garson_signed, olden"]),
        (["dataset=nosuch"], ["nosuch", "wine"]),
        (["study.n_runs=0"], ["study.n_runs"]),
        (["model.activation=sigmoidal"], ["activation"]),
        (["tracking.uri=mlruns"], ["tracking.uri"]),
        (["study.typo=3"], ["typo"]),
        (["randomisation.alternative=both"], ["randomisation.alternative", "observed-sign"]),
        (
            ["importance.methods=[lek]", "importance.options.lek.group_vals=[0.5,2]"],
            ["importance.options.lek.group_vals", "fractions in [0, 1]"],
        ),
        (["+study.n_seeds=6"], ["unknown key(s) study.n_seeds", "n_runs"]),
        (["stability.top_k=50"], ["stability.top_k=50", "13 variables"]),
        (["importance.options.permutation.n_repeats=0"], ["n_repeats", "positive integer"]),
    ],
    ids=[
        "unknown-method",
        "unknown-dataset",
        "zero-runs",
        "bad-activation",
        "file-store",
        "typo-key",
        "bad-alternative",
        "bad-lek-groups",
        "appended-typo",
        "top-k-above-p",
        "zero-repeats",
    ],
)
@pytest.mark.slow
def test_cli_config_errors_are_one_line_exit_2(tmp_path, overrides, needles):
    proc = _run(
        overrides + ["tracking.uri=sqlite:///store.db"] * ("tracking.uri=mlruns" not in overrides),
        tmp_path,
    )
    _assert_user_error(proc, *needles)
    db = tmp_path / "store.db"
    assert not db.exists() or all(r.info.status != "RUNNING" for r in _store_runs(db))


def test_cli_help_lists_config_groups(tmp_path):
    proc = _run(["--help"], tmp_path)
    assert proc.returncode == 0
    for word in ("dataset", "model", "experiment", "wine", "mlp_8", "ranking_study"):
        assert word in proc.stdout


@pytest.mark.slow
def test_aggregate_refuses_a_missing_store_and_creates_none(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = (
        "from study.cli import aggregate_main; "
        "aggregate_main(['--study', 'S', '--uri', 'sqlite:///nowhere/x.db'])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no study store" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "nowhere").exists()


def test_ui_refuses_a_missing_store(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "from study.cli import ui_main; ui_main(['--uri', 'sqlite:///absent/mlflow.db'])"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no study store" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_user_error_in_one_sweep_job_fails_that_job_only(tmp_path):
    proc = _run(
        [
            "-m",
            "stability.top_k=50,2",
            "study.n_runs=2",
            "study.progress=false",
            "study.resample=none",
            "study.charts=false",
            "importance.methods=[olden]",
            "tracking.uri=sqlite:///store.db",
        ],
        tmp_path,
    )
    assert proc.returncode == 2
    assert "1 job(s) of the sweep failed" in proc.stderr and "stability.top_k=50" in proc.stderr
    assert "Traceback" not in proc.stderr
    parents = [ln.split()[2] for ln in proc.stdout.splitlines() if ln.startswith("Parent run:")]
    assert len(parents) == 1  # the other job ran
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'store.db'}")
    assert "report.txt" in {a.path for a in client.list_artifacts(parents[0])}
    folder = next(
        ln.split(": ", 1)[1]
        for ln in proc.stdout.splitlines()
        if ln.startswith("Tables and charts:")
    )
    folder = Path(folder) if Path(folder).is_absolute() else tmp_path / folder
    assert f"Parent run: {parents[0]}" in (folder / "report.txt").read_text()
