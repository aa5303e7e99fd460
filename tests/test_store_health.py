"""A store that is locked or dead gives up within seconds in one line; the lock files between a
machine's studies cannot be turned against the user."""

import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from study import tracking
from study.errors import StudyError
from study.tracking import _locks, _store

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_AGENT_HINT": "1"}
RUN = "import sys; from study.cli import run_main; sys.argv[0] = 'study-run'; run_main()"
ARGS = [
    "study.n_runs=1",
    "study.n_jobs=1",
    "study.charts=false",
    "study.progress=false",
    "study.resample=none",
]


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    """A runtime folder of this user's own (as systemd makes), for the lock files."""
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    return folder


def test_a_link_planted_at_a_lock_files_name_is_not_followed(tmp_path, runtime):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    uri = tracking.resolve_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    # the locks of a store (opening it) and of a study (finding its parent run)
    names = [
        f"store-{hashlib.sha1(uri.encode()).hexdigest()[:16]}",
        f"study-{hashlib.sha1(f'{uri}|e|s'.encode()).hexdigest()[:16]}",
    ]
    # where the lock files were: predictable names in the shared temp folder
    old = [Path(tempfile.gettempdir()) / f"study-{name}.lock" for name in names]
    try:
        for link in old:
            link.unlink(missing_ok=True)
            link.symlink_to(victim)
        for name in names:
            with _locks.lock(name):
                pass
        with _store._store_lock(uri), tracking.study_lock(uri, "e", "s"):
            pass
        assert victim.read_text() == "keep me"
        # where they are now: beside the database, and in this user's runtime folder
        for link in (tmp_path / ".mlflow.db.lock", runtime / "study" / f"{names[1]}.lock"):
            link.unlink()
            link.symlink_to(victim)
        with pytest.raises(StudyError, match="cannot open the lock file"):
            with _store._store_lock(uri):
                pass
        with pytest.raises(StudyError, match="cannot open the lock file"):
            with tracking.study_lock(uri, "e", "s"):
                pass
        assert victim.read_text() == "keep me"
    finally:
        for link in old:
            link.unlink(missing_ok=True)


def test_a_fifo_planted_at_a_lock_files_name_is_refused_not_waited_on(tmp_path, runtime):
    # a store in a folder others can write (/tmp): opening a FIFO for reading blocks until
    # someone writes to it, which held the study for ever
    uri = tracking.resolve_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    os.mkfifo(tmp_path / ".mlflow.db.lock")
    t0 = time.monotonic()
    with pytest.raises(StudyError, match="cannot open the lock file .*not a regular file"):
        with _store._store_lock(uri):
            pass
    assert time.monotonic() - t0 < 5


def test_a_lock_folder_others_can_enter_or_own_is_refused(tmp_path, runtime):
    folder = runtime / "study"
    folder.mkdir(mode=0o755)
    folder.chmod(0o777)  # past the umask
    with pytest.raises(StudyError, match="not a private folder of this user"):
        with tracking.study_lock("sqlite:///x.db", "e", "s"):
            pass
    folder.chmod(0o700)
    with tracking.study_lock("sqlite:///x.db", "e", "s"):
        pass
    if os.geteuid() == 0:  # a folder someone else made first
        os.chown(folder, 65534, 65534)
        with pytest.raises(StudyError, match="not a private folder of this user"):
            with tracking.study_lock("sqlite:///x.db", "e", "s"):
                pass


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="Linux's /sys: no one creates files")
def test_a_store_in_a_folder_no_one_may_write_is_one_line_at_once(runtime):
    t0 = time.monotonic()
    with pytest.raises(StudyError, match="cannot create the store /sys/mlflow.db"):
        _store._client("sqlite:////sys/mlflow.db")
    assert time.monotonic() - t0 < 10  # MLflow tried to create it 10 times over 101 s
    assert not Path("/sys/mlflow.db").exists()


_HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("create table t (x)")
db.execute("begin exclusive")
db.execute("insert into t values (1)")
print("locked", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_dead_store_gives_up_in_one_line_within_30_s(tmp_path):
    # a "PostgreSQL server" that accepts connections and never answers (MLflow waited for ever),
    # and a SQLite store another process keeps locked (the line said to restore it from a backup)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    db = tmp_path / "locked.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(db)], stdout=subprocess.PIPE, text=True
    )
    runs = {}
    try:
        assert holder.stdout.readline().strip() == "locked"
        stores = {
            "postgresql": f"postgresql+psycopg://alice:s3cret@127.0.0.1:{port}/mlflow",
            "sqlite": f"sqlite:///{db}",
        }
        t0 = time.monotonic()
        runs = {
            kind: subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    RUN,
                    f"tracking.uri={uri}",
                    f"paths.root={tmp_path / kind}",
                    *ARGS,
                ],
                cwd=tmp_path,
                env=ENV,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for kind, uri in stores.items()
        }
        done = {
            kind: (*proc.communicate(timeout=60), proc.returncode, time.monotonic() - t0)
            for kind, proc in runs.items()
        }
    finally:
        for proc in [holder, *runs.values()]:
            proc.kill()
            proc.wait()
        server.close()
    for kind, (_, err, code, seconds) in done.items():
        assert code != 0 and seconds < 30, (kind, seconds, err)
        assert len(err.strip().splitlines()) == 1, (kind, err)
        assert "backup" not in err and "s3cret" not in err
    assert "does not let the study in" in done["postgresql"][1]
    assert "locked by another process" in done["sqlite"][1]


@pytest.mark.slow
def test_a_study_killed_while_it_creates_the_store_leaves_none_half_built(tmp_path):
    db = tmp_path / "mlflow.db"
    building = tmp_path / ".mlflow.db.creating"
    args = [f"tracking.uri=sqlite:///{db}", f"paths.root={tmp_path}", *ARGS]
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, *args],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not building.exists() and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, "the study ended before it created its store"
    finally:
        proc.kill()
        proc.wait()
    # MLflow commits its ~60 migrations one by one: killed among them, a store in place could be
    # neither used nor finished by MLflow
    assert not db.exists()
    again = subprocess.run(
        [sys.executable, "-c", RUN, *args],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert not building.exists()
