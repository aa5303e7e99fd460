"""Durable studies: resume after SIGKILL, extend a finished study, refuse other settings, stop
cleanly on SIGTERM with the command that goes on."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from study import config, tracking
from study.errors import StudyError
from study.lifecycle import pipeline
from study.training import runner

REPO = Path(__file__).resolve().parents[1]
ARGS = [
    "study.n_jobs=1",
    "study.charts=false",
    "study.progress=false",
    "study.resample=none",
    "importance.methods=[olden,garson]",
    "stability.n_bootstrap=200",
]


def _cfg(store, *overrides):
    return config.compose(
        [f"tracking.uri=sqlite:///{store / 'mlflow.db'}", f"paths.root={store}", *ARGS, *overrides]
    )


def _seed_runs(db: Path, name: str) -> list[tuple[int, str]]:
    """(seed, status) of every child of the studies called ``name`` in the SQLite store."""
    with sqlite3.connect(db) as con:
        return con.execute(
            "select cast(p.value as integer), r.status from runs r "
            "join tags parent on parent.run_uuid = r.run_uuid "
            "and parent.key = 'mlflow.parentRunId' "
            "join tags n on n.run_uuid = parent.value and n.key = 'study.name' and n.value = ? "
            "join params p on p.run_uuid = r.run_uuid and p.key = 'seed'",
            (name,),
        ).fetchall()


def _statuses(db: Path) -> list[str]:
    with sqlite3.connect(db) as con:
        return [s for (s,) in con.execute("select status from runs")]


def _start(tmp_path, *overrides):
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_AGENT_HINT": "1"}
    code = "import sys; from study.cli import run_main; sys.argv[0] = 'study-run'; run_main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, f"paths.root={tmp_path}", *ARGS, *overrides],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_finished(db: Path, name: str, n: int, proc, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if db.exists():
            try:
                if sum(s == "FINISHED" for _, s in _seed_runs(db, name)) >= n:
                    return
            except sqlite3.OperationalError:  # the schema is being created
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} seeds finished in {timeout} s")


@pytest.mark.slow
def test_sigkill_then_resume_gives_every_seed_once_and_the_same_tables(tmp_path):
    db = tmp_path / "mlflow.db"
    # scikit-learn's backend: one seed at a time, so that the kill lands mid-study (the batched
    # backend's block of 16 would finish at once)
    # and resample networks after the seeds: the kill lands among them (they are claimed,
    # journalled and resumed as seeds are)
    one = ["model.backend=sklearn", "study.resample=bootstrap", "study.n_resamples=14"]
    proc = _start(
        tmp_path, "study.n_runs=4", "study.name=K", *one, f"paths.output_dir={tmp_path / 'a'}"
    )
    _wait_for_finished(db, "K", 7, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert "RUNNING" in _statuses(db)  # the parent, left behind by the killed process
    done_before = sorted(s for s, st in _seed_runs(db, "K") if st == "FINISHED")
    assert 7 <= len(done_before) < 18 and done_before[:4] == list(range(4))

    again = _start(
        tmp_path,
        "study.n_runs=4",
        "study.name=K",
        "study.resume=true",
        *one,
        f"paths.output_dir={tmp_path / 'b'}",
    )
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    finished = sorted(s for s, st in _seed_runs(db, "K") if st == "FINISHED")
    assert finished == [*range(4), *runner.resamples_for(14)]  # every network once
    assert "RUNNING" not in _statuses(db)

    # the same tables as one uninterrupted run of the same seeds and resamples
    whole = pipeline.run(
        _cfg(tmp_path, "study.n_runs=4", "study.name=W", *one, f"paths.output_dir={tmp_path / 'c'}")
    )
    assert whole.record.seeds == list(range(4))
    for table in (
        "importances.csv",
        "stability.csv",
        "aggregate.csv",
        "weight_sums.csv",
        "answer.csv",
        "resamples.csv",
    ):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "b" / table), pd.read_csv(tmp_path / "c" / table)
        )


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_says_how_to_go_on(tmp_path):
    db = tmp_path / "mlflow.db"
    proc = _start(tmp_path, "study.n_runs=300", "study.name=T")
    _wait_for_finished(db, "T", 3, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert "study.name=T" in err and err.rstrip().endswith("study.resume=true")
    assert "RUNNING" not in _statuses(db)
    with sqlite3.connect(db) as con:
        (parent,) = con.execute(
            "select status from runs r join tags t on t.run_uuid = r.run_uuid "
            "and t.key = 'study.role' and t.value = 'study'"
        ).fetchone()
    assert parent == "KILLED"


@pytest.mark.slow
def test_resume_extends_a_finished_study_without_retraining(mlflow_store):
    first = pipeline.run(
        _cfg(
            mlflow_store,
            "study.n_runs=3",
            "study.name=extend-E",
            "tracking.experiment=resume-extend",
        )
    )
    more = pipeline.run(
        _cfg(
            mlflow_store,
            "study.n_runs=5",
            "study.name=extend-E",
            "study.resume=true",
            "tracking.experiment=resume-extend",
        )
    )
    assert more.run_id == first.run_id
    assert more.record.seeds == [0, 1, 2, 3, 4]
    for a, b in zip(first.record.runs, more.record.runs):  # the first three seeds were kept
        assert a.run_id == b.run_id
    from mlflow import MlflowClient

    client = MlflowClient(more.uri)
    exp = client.get_run(more.run_id).info.experiment_id
    kids = client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{more.run_id}'")
    assert sorted(int(k.data.params["seed"]) for k in kids) == [0, 1, 2, 3, 4]
    assert client.get_run(more.run_id).info.status == "FINISHED"
    # the bundle now lists every seed: reading back needs no child downloads
    back = tracking.load_study(more.uri, more.run_id)
    assert [r.seed for r in back.runs] == [0, 1, 2, 3, 4]
    # both calls ran in this one process (host:pid); none of the seeds 0-4 is missing
    assert tracking.find_study(more.uri, name="extend-E") == more.run_id
    report = tracking.seeds_report(more.uri, more.run_id, back)
    assert "5 finished seeds, logged by 1 process; none missing of seeds 0-4" in report


@pytest.mark.slow
def test_resume_refuses_other_settings_and_names_them(mlflow_store):
    pipeline.run(
        _cfg(mlflow_store, "study.n_runs=2", "study.name=D", "tracking.experiment=resume-diff")
    )
    with pytest.raises(StudyError, match=r"model.alpha: 0.0001 -> 0.01"):
        pipeline.run(
            _cfg(
                mlflow_store,
                "study.n_runs=2",
                "study.name=D",
                "study.resume=true",
                "tracking.experiment=resume-diff",
                "model.alpha=0.01",
            )
        )
    # run-count, parallelism and charts may change between the processes of one study
    out = pipeline.run(
        _cfg(
            mlflow_store,
            "study.n_runs=3",
            "study.name=D",
            "study.resume=true",
            "tracking.experiment=resume-diff",
            "study.n_jobs=2",
        )
    )
    assert out.record.seeds == [0, 1, 2]


def _descendants(pid: int) -> set[tuple[int, str]]:
    """(pid, start time) of every process below ``pid``, from /proc."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # it ended meanwhile
            continue
        table[int(stat.parent.name)] = (int(fields[1]), fields[19])  # ppid, starttime
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        kids = [p for p, (ppid, _) in table.items() if ppid == parent]
        found |= {(p, table[p][1]) for p in kids}
        todo += kids
    return found


def _alive(procs) -> list[int]:
    """The processes of ``procs`` still running (a zombie has ended; a reused pid is another)."""
    out = []
    for pid, started in procs:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[19] == started and fields[0] not in "ZX":
            out.append(pid)
    return out


def _assert_all_end(procs, *, within: float) -> None:
    deadline = time.time() + within
    while _alive(procs) and time.time() < deadline:
        time.sleep(0.2)
    left = _alive(procs)
    for pid in left:  # not to leave them to the rest of the suite
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} of its processes still ran {within} s after the kill"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("backend, n_runs", [("batched", 200), ("sklearn", 32)])
def test_sigkill_leaves_no_worker_behind_and_the_resume_completes_every_seed(
    tmp_path, backend, n_runs
):
    db = tmp_path / "mlflow.db"
    # 32 seeds or more: the workers start while MLflow loads, forked from the study's process
    # for the batched backend, loky's started by a thread for scikit-learn's
    study = [f"model.backend={backend}", f"study.n_runs={n_runs}", "study.name=O"]
    proc = _start(tmp_path, *study, "study.n_jobs=2", f"paths.output_dir={tmp_path / 'a'}")
    _wait_for_finished(db, "O", 1, proc)
    workers = _descendants(proc.pid)
    assert len(workers) >= 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()  # not communicate(): workers left alive would hold its pipes open
    _assert_all_end(workers, within=10)

    again = _start(tmp_path, *study, "study.resume=true", f"paths.output_dir={tmp_path / 'b'}")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    finished = sorted(s for s, st in _seed_runs(db, "O") if st == "FINISHED")
    assert finished == list(range(n_runs))  # every seed once
    assert "RUNNING" not in _statuses(db)


# what a process killed inside a write leaves: its changes spilled into the database (a cache of
# one page), the pages they replaced in the hot rollback journal beside it
_KILLED_IN_A_WRITE = """
import os, signal, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("pragma cache_size = 1")
db.execute("begin")
db.execute("update metrics set value = -1")
db.execute("delete from params")
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_a_store_left_by_a_write_killed_midway_resumes_with_its_rows_intact(tmp_path):
    db = tmp_path / "mlflow.db"
    pipeline.run(
        _cfg(tmp_path, "study.n_runs=2", "study.name=J", f"paths.output_dir={tmp_path / 'a'}")
    )
    with sqlite3.connect(db) as con:
        rows = {t: set(con.execute(f"select * from {t}")) for t in ("params", "metrics")}
    subprocess.run([sys.executable, "-c", _KILLED_IN_A_WRITE, str(db)], check=False)
    assert Path(f"{db}-journal").stat().st_size > 0
    with pytest.raises(sqlite3.OperationalError):  # a read-only open cannot play it back
        sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("select * from runs")

    again = _start(
        tmp_path,
        "study.n_runs=3",
        "study.name=J",
        "study.resume=true",
        f"paths.output_dir={tmp_path / 'b'}",
    )
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    assert not Path(f"{db}-journal").exists()
    with sqlite3.connect(db) as con:
        for table, before in rows.items():
            assert before <= set(con.execute(f"select * from {table}"))
    assert sorted(s for s, st in _seed_runs(db, "J") if st == "FINISHED") == [0, 1, 2]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_a_sweep_leaves_no_launcher_worker_running_studies(tmp_path):
    db = tmp_path / "mlflow.db"
    # Hydra's joblib launcher runs each job in a worker of its own making
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_AGENT_HINT": "1"}
    code = "import sys; from study.cli import run_main; sys.argv[0] = 'study-run'; run_main()"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "-m",
            f"paths.root={tmp_path}",
            *ARGS,
            "study.shard=0,1",
            "study.n_shards=2",
            "hydra/launcher=joblib",
            "study.n_runs=60",
            "study.name=SW",
            "model.backend=sklearn",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_finished(db, "SW", 1, proc)
    workers = _descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _assert_all_end(workers, within=10)
