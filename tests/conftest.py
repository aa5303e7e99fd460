"""Shared fixtures: a quiet MLflow, and one SQLite tracking store per test session.

Creating an MLflow SQLite store runs its schema migrations (seconds), so the session shares one;
tests keep apart by using their own experiment names.
"""

import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_AGENT_HINT", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory):
    """A folder holding ``mlflow.db`` (already migrated) and the artifacts of its runs."""
    from study.tracking import Tracker

    root = tmp_path_factory.mktemp("store")
    Tracker(f"sqlite:///{root / 'mlflow.db'}", "warm-up")
    return root


# --- real servers, started for real (test_http, test_postgres, the study-ui test) -------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc, *, seconds: float, what: str) -> None:
    """Poll ``url``/health until it answers; fail with ``proc``'s stderr if it dies first."""
    import time
    import urllib.request

    for _ in range(int(seconds * 2)):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1).close()
            return
        except OSError:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            time.sleep(0.5)
    pytest.fail(f"{what} did not start in {seconds:.0f} s")


def mlflow_server(
    backend_uri: str,
    artifacts,
    *,
    workers: int = 1,
    seconds: float = 120,
    what: str = "mlflow server",
):
    """A generator for a fixture: an ``mlflow server`` on 127.0.0.1 over ``backend_uri``,
    serving artifacts from ``artifacts``; yields its URL, terminates it afterwards."""
    import subprocess
    import sys

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            backend_uri,
            "--artifacts-destination",
            str(artifacts),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(uri, proc, seconds=seconds, what=what)
        yield uri
    finally:
        proc.terminate()
        proc.wait(timeout=30)
