"""A seed that raises is a FAILED child with its error; the other seeds go on; too many stop."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from study import config
from study.errors import SeedsFailed
from study.importance import _registry
from study.lifecycle import pipeline

REPO = Path(__file__).resolve().parents[1]


def _break_olden_for(monkeypatch, seeds):
    orig = _registry.METHODS["olden"]

    def boom(net, **kw):
        if net.seed in seeds:
            raise FloatingPointError("weights went NaN\nmore detail")
        return orig.compute(net, **kw)

    monkeypatch.setitem(_registry.METHODS, "olden", dataclasses.replace(orig, compute=boom))


def _cfg(store, *overrides):
    return config.compose(
        [
            f"tracking.uri=sqlite:///{store / 'mlflow.db'}",
            f"paths.root={store}",
            "study.progress=false",
            "study.resample=none",
            "study.charts=false",
            "study.n_jobs=1",  # the patch lives here
            "importance.methods=[olden,garson]",
            "stability.n_bootstrap=200",
            *overrides,
        ]
    )


def _runs(uri, parent):
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_run(parent).info.experiment_id
    children = client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent}'")
    return client, client.get_run(parent), {int(c.data.params["seed"]): c for c in children}


def test_a_failing_seed_is_logged_failed_and_the_others_go_on(mlflow_store, monkeypatch, tmp_path):
    _break_olden_for(monkeypatch, {1})
    out = pipeline.run(_cfg(mlflow_store, "study.n_runs=4", "tracking.experiment=fail-one"))
    assert [f.seed for f in out.failed] == [1]
    assert out.failed[0].error == "FloatingPointError: weights went NaN"
    client, parent, children = _runs(out.uri, out.run_id)
    assert parent.info.status == "FINISHED"
    assert sorted(children) == [0, 1, 2, 3]
    assert {s: c.info.status for s, c in children.items()} == {
        0: "FINISHED",
        1: "FAILED",
        2: "FINISHED",
        3: "FINISHED",
    }
    assert children[1].data.tags["study.error"] == "FloatingPointError: weights went NaN"
    trace = Path(client.download_artifacts(children[1].info.run_id, "error.txt", str(tmp_path)))
    assert "Traceback" in trace.read_text() and "boom" in trace.read_text()
    assert out.record.seeds == [0, 2, 3]  # the tables use the seeds that finished
    assert "1 of 4 seeds failed; the first: seed 1" in out.report[0][0]


def test_too_many_failures_stop_the_study(mlflow_store, monkeypatch):
    _break_olden_for(monkeypatch, {0, 1, 2})
    with pytest.raises(SeedsFailed, match="more than study.max_failures=1"):
        pipeline.run(
            _cfg(
                mlflow_store,
                "study.n_runs=6",
                "study.max_failures=1",
                "tracking.experiment=fail-many",
            )
        )
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{mlflow_store / 'mlflow.db'}")
    exp = client.get_experiment_by_name("fail-many").experiment_id
    runs = client.search_runs([exp])
    assert not [r for r in runs if r.info.status == "RUNNING"]
    parent = [r for r in runs if r.data.tags.get("study.role") == "study"]
    assert [p.info.status for p in parent] == ["FAILED"]
    failed = [
        r for r in runs if r.info.status == "FAILED" and r.data.tags.get("study.role") == "seed"
    ]
    assert len(failed) == 2  # the second failure is over the limit of 1: nothing trains after it


@pytest.mark.slow
def test_study_run_exits_1_when_a_seed_failed(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        "import dataclasses, sys\n"
        "from study.importance import _registry\n"
        "orig = _registry.METHODS['olden']\n"
        "def boom(net, **kw):\n"
        "    if net.seed == 2:\n"
        "        raise FloatingPointError('weights went NaN')\n"
        "    return orig.compute(net, **kw)\n"
        "_registry.METHODS['olden'] = dataclasses.replace(orig, compute=boom)\n"
        "from study.cli import run_main\n"
        "sys.argv = ['study-run', *sys.argv[1:]]\n"
        "run_main()\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            "study.n_runs=3",
            "study.n_jobs=1",
            f"paths.root={tmp_path}",
            "study.progress=false",
            "study.resample=none",
            "study.charts=false",
            "importance.methods=[olden]",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), **_env()},
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert (
        "1 of 3 seeds failed; the first: seed 2: FloatingPointError: weights went NaN"
        in proc.stdout
    )
    assert "Traceback" not in proc.stderr


def _env():
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
