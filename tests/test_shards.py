"""Shards: a Hydra multirun over study.shard trains the seeds of one study in parallel processes
started at the same moment, on a fresh store; study-aggregate --study reads it whole, with the
numbers of one process running every seed."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from study import config
from study.cli import aggregate_main
from study.lifecycle import pipeline

REPO = Path(__file__).resolve().parents[1]
COMMON = [
    "study.n_runs=6",
    "study.progress=false",
    "study.resample=none",
    "study.charts=false",
    "importance.methods=[olden,garson]",
    "stability.n_bootstrap=200",
]


@pytest.mark.slow
def test_two_shards_make_one_study_equal_to_a_single_process(tmp_path, capsys):
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_AGENT_HINT": "1"}
    code = "import sys; from study.cli import run_main; sys.argv[0] = 'study-run'; run_main()"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "-m",
            "study.shard=0,1",
            "study.n_shards=2",
            "hydra/launcher=joblib",
            "study.name=S",
            f"paths.root={tmp_path}",
            *COMMON,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    parents = {
        line.split()[2] for line in proc.stdout.splitlines() if line.startswith("Parent run:")
    }
    assert len(parents) == 1  # both shards attached to one study

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    aggregate_main(["--study", "S", "--uri", uri, "--output", str(tmp_path / "agg"), "--no-log"])
    report = capsys.readouterr().out
    assert "6 finished seeds, logged by 2 processes; none missing of seeds 0-5" in report

    single = pipeline.run(
        config.compose(
            [
                f"tracking.uri={uri}",
                f"paths.root={tmp_path}",
                f"paths.output_dir={tmp_path / 'one'}",
                "study.name=one",
                *COMMON,
            ]
        )
    )
    assert single.record.seeds == list(range(6))
    for table in (
        "importances.csv",
        "stability.csv",
        "aggregate.csv",
        "weight_sums.csv",
        "agreement.csv",
    ):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "agg" / table), pd.read_csv(tmp_path / "one" / table)
        )


def test_shard_settings_are_checked():
    from study.config.settings import Settings
    from study.errors import StudyError

    with pytest.raises(StudyError, match="study.shard must be below study.n_shards"):
        Settings.from_config(config.compose(["study.shard=2", "study.n_shards=2"]))


@pytest.mark.slow
def test_shards_through_submitit_the_slurm_launcher_run_locally(tmp_path, capsys):
    # hydra/launcher=submitit_slurm submits the same jobs to SLURM; submitit_local runs them
    # through submitit's local executor, as separate processes, on this machine
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="hydra-submitit-launcher")
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_AGENT_HINT": "1"}
    code = "import sys; from study.cli import run_main; sys.argv[0] = 'study-run'; run_main()"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "-m",
            "study.shard=0,1",
            "study.n_shards=2",
            "hydra/launcher=submitit_local",
            "study.name=SUB",
            f"paths.root={tmp_path}",
            "study.n_runs=4",
            "study.progress=false",
            "study.resample=none",
            "study.charts=false",
            "importance.methods=[olden]",
            "stability.n_bootstrap=200",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    aggregate_main(
        [
            "--study",
            "SUB",
            "--uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--output",
            str(tmp_path / "agg"),
            "--no-log",
            "--no-charts",
        ]
    )
    assert (
        "4 finished seeds, logged by 2 processes; none missing of seeds 0-3"
        in capsys.readouterr().out
    )
