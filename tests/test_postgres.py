"""More than one machine: a throwaway PostgreSQL 15 cluster, an ``mlflow server`` on 127.0.0.1
backed by it with a served artifact store, and a 2-shard study over HTTP, aggregated by name."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import free_port, mlflow_server

REPO = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*cmd):
    """PostgreSQL refuses to run as root: through runuser, as the postgres user."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *map(str, cmd)], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def postgres():
    if not (PG_BIN / "initdb").is_file():
        pytest.skip(f"PostgreSQL 15 is not installed here ({PG_BIN} is missing)")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver (pip install 'psycopg[binary]')")
    root = Path(tempfile.mkdtemp(prefix="study-pg-"))  # /tmp: reachable by the postgres user
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    port = free_port()
    _as_postgres(PG_BIN / "initdb", "-D", root / "data", "-U", "postgres", "-A", "trust")
    _as_postgres(
        PG_BIN / "pg_ctl",
        "-D",
        root / "data",
        "-w",
        "-l",
        root / "pg.log",
        "-o",
        f"-p {port} -c listen_addresses=127.0.0.1 -k {root}",
        "start",
    )
    try:
        _as_postgres(PG_BIN / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "mlflow")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/mlflow", root
    finally:
        _as_postgres(PG_BIN / "pg_ctl", "-D", root / "data", "-m", "fast", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def server(postgres):
    db, root = postgres
    yield from mlflow_server(
        db, root / "artifacts", workers=2, seconds=180, what="mlflow server on PostgreSQL"
    )


@pytest.mark.slow
def test_two_shards_over_http_into_postgresql_complete_and_aggregate(server, tmp_path, capsys):
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
            "study.name=PG",
            f"tracking.uri={server}",
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
    lines = proc.stdout.splitlines()
    assert len({ln.split()[2] for ln in lines if ln.startswith("Parent run:")}) == 1
    # logging over HTTP stays off the training path: microseconds per child, not 270 ms
    per_child = [float(ln.split("MLflow: ")[1].split(" ms")[0]) for ln in lines if "MLflow: " in ln]
    assert per_child and max(per_child) < 20
    assert all(server in ln for ln in lines if ln.startswith("  then this study:"))

    from study.cli import aggregate_main

    aggregate_main(
        ["--study", "PG", "--uri", server, "--output", str(tmp_path / "agg"), "--no-charts"]
    )
    out = capsys.readouterr().out
    assert "4 finished seeds, logged by 2 processes; none missing of seeds 0-3" in out
    assert (tmp_path / "agg" / "stability.csv").is_file()


def _finished_by_process(client, name: str) -> dict[str, list[int]]:
    """The seeds of the FINISHED children of study ``name`` on a server, by the process
    (``host:pid``) that wrote them."""
    ids = [e.experiment_id for e in client.search_experiments()]
    out: dict[str, list[int]] = {}
    for child in client.search_runs(
        ids,
        max_results=5000,
        filter_string=(
            f"tags.`study.role` = 'seed' and tags.`study.name` = '{name}' "
            "and attributes.status = 'FINISHED'"
        ),
    ):
        out.setdefault(child.data.tags["study.process"], []).append(int(child.data.params["seed"]))
    return out


def _claimed(client, name: str) -> dict[str, set[int]]:
    """The seeds each process's claim on study ``name`` names, finished or not."""
    from study.tracking import _claims

    ids = [e.experiment_id for e in client.search_experiments()]
    parents = client.search_runs(
        ids, f"tags.`study.role` = 'study' and tags.`study.name` = '{name}'"
    )
    every = _claims.claims(parents[0].data.tags) if parents else {}
    return {p: set(c["seeds"]) | c["done"] for p, c in every.items()}


@pytest.mark.slow
def test_four_workers_one_killed_the_study_waits_for_a_resume_that_completes_it(server, tmp_path):
    # Four study.resume=true workers pull one study's seeds; one is SIGKILLed mid-training and
    # not reaped: its pid still exists, so the others judge it by its heartbeat, as they would a
    # process on another machine, and cannot take its seeds over for 60 s. They finish their
    # own; the parent stays RUNNING and each report says what is missing and how to complete it.
    import signal
    import socket
    import time

    from mlflow import MlflowClient

    from study.tracking._claims import STALE

    n, name = 240, "four"  # chunks of 64: 64, 64, 64 and 48 seeds
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_AGENT_HINT": "1"}
    code = "import sys; from study.cli import run_main; sys.argv[0] = 'study-run'; run_main()"
    args = [
        f"tracking.uri={server}",
        f"paths.root={tmp_path}",
        f"study.name={name}",
        f"study.n_runs={n}",
        "study.n_jobs=1",
        "study.progress=false",
        "study.resample=none",
        "study.charts=false",
        "importance.methods=[olden]",
        "dataset=iris",
        "model.backend=sklearn",
        "model.max_iter=50",
        "stability.n_bootstrap=200",
        "study.resume=true",
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    client, host, victim, idle = MlflowClient(server), socket.gethostname(), None, []
    try:
        deadline = time.time() + 180
        while victim is None and time.time() < deadline:
            for p in procs:
                if p.poll() is not None and p not in idle:
                    # one started after the others had claimed every chunk (a busy machine) is
                    # told so and ends; any other ending is a failure
                    err = p.stderr.read()
                    assert p.returncode == 2 and "nothing is left for this one" in err, err[-3000:]
                    idle.append(p)
            active = [i for i, p in enumerate(procs) if p not in idle]
            assert len(active) >= 2, "fewer than two workers trained"
            by = _finished_by_process(client, name)
            done = [len(by.get(f"{host}:{p.pid}", [])) for p in procs]
            claimed = _claimed(client, name)
            left = [
                len(claimed.get(f"{host}:{p.pid}", set()) - set(by.get(f"{host}:{p.pid}", [])))
                for p in procs
            ]
            # every worker trains, a third of the seeds are in (the others' last seeds take less
            # than the 60 s after which they would take the killed one's over), and one worker
            # has seeds in the store and more to train
            ready = [i for i in active if done[i] >= 5 and left[i] >= 10]
            if min(done[i] for i in active) >= 1 and sum(done) >= n // 3 and ready:
                victim, killed_at = procs[ready[0]], time.time()
                victim.send_signal(signal.SIGKILL)
            time.sleep(0.3)
        assert victim is not None, "the workers did not all train within 3 minutes"
        survivors = [p for p in procs if p is not victim and p not in idle]
        results = [p.communicate(timeout=300) for p in survivors]
        took = time.time() - killed_at
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in survivors] == [0] * len(survivors), [
        e[-3000:] for _, e in results
    ]
    finished = sorted(s for seeds in _finished_by_process(client, name).values() for s in seeds)
    assert len(finished) == len(set(finished))  # none twice
    if took > STALE - 5 and finished == list(range(n)):
        # a slow machine: a survivor still training when the killed claim went stale took its
        # seeds over, as it should; nothing is missing and the last one ended the study
        parent = client.search_runs(
            [e.experiment_id for e in client.search_experiments()],
            f"tags.`study.role` = 'study' and tags.`study.name` = '{name}'",
        )
        assert [p.info.status for p in parent] == ["FINISHED"]
        victim.wait()
        return
    assert len(finished) < n  # the killed worker's are missing
    # every survivor says so; the last one to read the study back misses exactly those
    missing = [
        int(out.split("Missing: ")[1].split()[0]) for out, _ in results if "Missing: " in out
    ]
    assert len(missing) == len(survivors) and min(missing) == n - len(finished), [
        o for o, _ in results
    ]
    command = next(ln for out, _ in results for ln in out.splitlines() if "with:  " in ln)
    assert command.split("with:  ")[1].startswith("study-run ") and command.endswith(
        "study.resume=true"
    )
    reports = list(tmp_path.glob("hydra/*/*/report.txt"))
    assert len(reports) == len(survivors)
    assert all("Missing: " in r.read_text() for r in reports)
    parent = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        f"tags.`study.role` = 'study' and tags.`study.name` = '{name}'",
    )
    assert [p.info.status for p in parent] == ["RUNNING"]  # not FINISHED short of seeds

    victim.wait()  # reaped: gone, its claim is dead at once
    again = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Missing: " not in again.stdout
    finished = sorted(s for seeds in _finished_by_process(client, name).values() for s in seeds)
    assert finished == list(range(n))  # each seed FINISHED once
    ids = [e.experiment_id for e in client.search_experiments()]  # the killed: KILLED
    assert (
        client.search_runs(ids, f"attributes.status = 'RUNNING' and tags.`study.name` = '{name}'")
        == []
    )
    assert client.get_run(parent[0].info.run_id).info.status == "FINISHED"
