"""The HTTP path, for real: an ``mlflow server`` on 127.0.0.1; and a tracking URI where nothing
answers fails in seconds with one line."""

import socket
import subprocess
import sys
import time

import pytest
from conftest import free_port, mlflow_server, wait_healthy

from study import config, tracking
from study.errors import StudyError
from study.lifecycle import pipeline


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("server")
    yield from mlflow_server(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts")


@pytest.mark.slow
def test_a_study_over_http_logs_off_the_training_path_and_reads_back(server, tmp_path):
    cfg = config.compose(
        [
            f"tracking.uri={server}",
            f"paths.root={tmp_path}",
            "study.n_runs=6",
            "study.n_jobs=1",
            "study.progress=false",
            "study.resample=none",
            "study.charts=false",
            "importance.methods=[olden,garson]",
            "stability.n_bootstrap=200",
            "tracking.experiment=http",
        ]
    )
    out = pipeline.run(cfg)
    assert out.uri == server
    # children are written by the background writer: microseconds on the training path
    assert out.timings["log_seconds_per_run"] < 0.020
    back = tracking.load_study(server, out.run_id)
    assert back.seeds == list(range(6))
    assert tracking.find_study(server, run_id=back.runs[0].run_id) == out.run_id
    # the printed UI hint points at the server itself, not at a study-ui on port 5000
    assert tracking.ui_command(server) == f"the tracking server serves it at {server}"
    url = tracking.ui_url(out.experiment_id, out.run_id, uri=server)
    assert url.startswith(f"{server}/#/experiments/{out.experiment_id}/runs/{out.run_id}")


def test_an_unreachable_tracking_uri_fails_in_seconds(tmp_path):
    port = free_port()  # nothing listens there
    cfg = config.compose(
        [
            f"tracking.uri=http://127.0.0.1:{port}",
            f"paths.root={tmp_path}",
            "study.n_runs=2",
            "study.progress=false",
            "study.resample=none",
        ]
    )
    t0 = time.perf_counter()
    with pytest.raises(StudyError, match="no tracking server answers"):
        pipeline.run(cfg)
    assert time.perf_counter() - t0 < 15


@pytest.mark.slow  # reads the study the first (slow) test of this module logged
def test_study_ui_on_a_server_prints_its_address(server):
    code = "import sys; from study.cli import ui_main; ui_main(sys.argv[1:])"
    proc = subprocess.run(
        [sys.executable, "-c", code, "--uri", server], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert f"The tracking server at {server} serves its own UI" in proc.stdout
    # the study the first test of this module logged: its runs view, in the classic UI view
    links = [w for w in proc.stdout.split() if w.startswith("http") and "#" in w]
    assert links and all("workflowType=machine_learning" in u for u in links)
    assert "latest study (" in proc.stdout and any("searchFilter=" in u for u in links)


@pytest.mark.slow
def test_study_ui_leaves_no_server_behind_on_sigterm(mlflow_store):
    import os
    import signal

    port = free_port()
    code = "import sys; from study.cli import ui_main; ui_main(sys.argv[1:])"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "--uri",
            f"sqlite:///{mlflow_store / 'mlflow.db'}",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MLFLOW_DISABLE_AGENT_HINT": "1"},
    )
    wait_healthy(f"http://127.0.0.1:{port}", proc, seconds=120, what="study-ui")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    for _ in range(40):  # the port is free again: no server was left serving it
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.25)
    pytest.fail(f"something still serves port {port} after study-ui was stopped")


def test_the_environments_tracking_uri_is_the_default(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert config.compose()["tracking"]["uri"] == "http://127.0.0.1:5999"
    assert config.compose(["tracking.uri=sqlite:///x.db"])["tracking"]["uri"] == "sqlite:///x.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert config.compose(["paths.root=/r"])["tracking"]["uri"] == "sqlite:////r/mlflow.db"
