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
    _as_postgres(PG_BIN / "pg_ctl", "-D", root / "data", "-w", "-l", root / "pg.log", "-o",
                 f"-p {port} -c listen_addresses=127.0.0.1 -k {root}", "start")  # fmt: skip
    try:
        _as_postgres(PG_BIN / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "mlflow")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/mlflow", root
    finally:
        _as_postgres(PG_BIN / "pg_ctl", "-D", root / "data", "-m", "fast", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def server(postgres):
    db, root = postgres
    yield from mlflow_server(db, root / "artifacts", workers=2, seconds=180,
                             what="mlflow server on PostgreSQL")


@pytest.mark.slow
def test_two_shards_over_http_into_postgresql_complete_and_aggregate(server, tmp_path, capsys):
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_AGENT_HINT": "1"}
    code = "import sys; from study.cli import run_main; sys.argv[0] = 'study-run'; run_main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "-m", "study.shard=0,1", "study.n_shards=2",
         "hydra/launcher=joblib", "study.name=PG", f"tracking.uri={server}",
         f"paths.root={tmp_path}", "study.n_runs=4", "study.progress=false", "study.charts=false",
         "importance.methods=[olden]", "stability.n_bootstrap=200"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len({ln.split()[2] for ln in lines if ln.startswith("Parent run:")}) == 1
    # logging over HTTP stays off the training path: microseconds per child, not 270 ms
    per_child = [float(ln.split("MLflow: ")[1].split(" ms")[0]) for ln in lines if "MLflow: " in ln]
    assert per_child and max(per_child) < 20
    assert all(server in ln for ln in lines if ln.startswith("  then this study:"))

    from study.cli import aggregate_main

    aggregate_main(["--study", "PG", "--uri", server, "--output", str(tmp_path / "agg"),
                    "--no-charts"])  # fmt: skip
    out = capsys.readouterr().out
    assert "4 finished seeds, logged by 2 processes; none missing of seeds 0-3" in out
    assert (tmp_path / "agg" / "stability.csv").is_file()
