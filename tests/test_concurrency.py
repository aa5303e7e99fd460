"""Studies started at the same moment on one fresh SQLite store: each finishes complete, in its
own output folder, with its own tables (they used to race on the schema and share a folder)."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from study.datasets import load_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_three_studies_started_together_on_a_fresh_store(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_AGENT_HINT": "1"}
    code = "import sys; from study.cli import run_main; sys.argv[0] = 'study-run'; run_main()"
    datasets = ["wine", "iris", "diabetes"]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
                f"dataset={name}",
                "study.n_runs=3",
                "study.n_jobs=1",
                f"paths.root={tmp_path}",
                "study.progress=false",
                "study.resample=none",
                "study.charts=false",
                "importance.methods=[olden]",
                "stability.n_bootstrap=200",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in datasets
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("study").experiment_id
    runs = client.search_runs([exp])
    assert len(runs) == 3 * (1 + 3) and all(r.info.status == "FINISHED" for r in runs)
    folders = set()
    for name, (out, _) in zip(datasets, outputs):
        parent = next(
            line.split()[2] for line in out.splitlines() if line.startswith("Parent run:")
        )
        folder = next(
            line.split(": ", 1)[1]
            for line in out.splitlines()
            if line.startswith("Tables and charts:")
        )
        folders.add(folder)
        logged = pd.read_csv(client.download_artifacts(parent, "importances.csv", str(tmp_path)))
        assert set(logged["feature"]) == set(load_dataset(name).feature_names)
        assert len(client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent}'")) == 3
    assert len(folders) == 3  # one folder per study, even when started in the same second
