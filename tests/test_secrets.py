"""Secrets and hostile names, for real: a password in the tracking URI (an ``mlflow server`` and
a PostgreSQL that checks it) appears in no output, file, param, tag or error message; names
that are HTML, markdown links or terminal escapes stay inert in the description and the report."""

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import free_port, mlflow_server

from study.escape import for_markdown, for_terminal
from study.tracking import mask_uri

REPO = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SECRET = "S3cretPw9"
FAST = [
    "study.n_runs=2",
    "study.n_jobs=1",
    "study.progress=false",
    "study.resample=none",
    "study.charts=false",
    "importance.methods=[olden]",
    "stability.n_bootstrap=100",
]


def _run(args, cwd, main="run_main"):
    env = {**os.environ, "MLFLOW_DISABLE_AGENT_HINT": "1", "HYDRA_FULL_ERROR": ""}
    env.pop("MLFLOW_TRACKING_URI", None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    code = f"from study.cli import {main}; {main}()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _files_holding(folder: Path, needle: bytes) -> list[Path]:
    return [p for p in Path(folder).rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.parametrize(
    "uri, masked",
    [
        (
            "postgresql+psycopg://alice:pw@db.example:5432/mlflow",
            "postgresql+psycopg://alice:***@db.example:5432/mlflow",
        ),
        ("http://alice:p%40ss@host:5000", "http://alice:***@host:5000"),
        ("https://ghp_token123@host/x?a=1", "https://***@host/x?a=1"),
        ("mysql://u@h/db?password=pw&ssl=1", "mysql://u@h/db?password=***&ssl=1"),  # a user stays
        ("postgresql://alice:pw/x?y#z@host/db", "postgresql://alice:***@host/db"),  # as SQLAlchemy
        ("postgresql://alice:p@ss@host/db (refused)", "postgresql://alice:***@host/db (refused)"),
        ("sqlite:////tmp/a@b/mlflow.db", "sqlite:////tmp/a@b/mlflow.db"),
        ("sqlite:////tmp/runs/mlflow.db", "sqlite:////tmp/runs/mlflow.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        (
            "no store at http://a:b@h:1 (refused); tracking.uri=x://c:d@e/f",
            "no store at http://a:***@h:1 (refused); tracking.uri=x://c:***@e/f",
        ),
        ("- tracking.uri=http\\://alice\\:pw@h\\:1", "- tracking.uri=http\\://alice\\:***@h\\:1"),
    ],
)
def test_mask_uri_hides_credentials_and_keeps_the_rest(uri, masked):
    assert mask_uri(uri) == masked


# --- over HTTP -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("server")
    for url in mlflow_server(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts"):
        yield url, root


@pytest.mark.slow
def test_a_password_in_an_http_uri_leaves_no_trace(server, tmp_path):
    url, server_root = server
    uri = url.replace("http://", f"http://alice:{SECRET}@")  # the server ignores basic auth
    # a sweep: Hydra writes and logs each job's overrides, escaped (http\://alice\:...)
    proc = _run(
        ["-m", "model=mlp_8,mlp_10", f"tracking.uri={uri}", f"paths.root={tmp_path}", *FAST],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"the tracking server serves it at {url}" in proc.stdout  # a browser asks for them
    assert "Comparison run:" in proc.stdout  # the sweep's callback connected with the password
    agg = _run(
        ["--study", "wine-mlp_8", "--uri", uri, "--output", str(tmp_path / "agg"), "--no-charts"],
        tmp_path,
        main="aggregate_main",
    )
    assert agg.returncode == 0, agg.stderr
    port = free_port()  # nothing listens there: the error names the store, masked
    dead = _run(
        [f"tracking.uri=http://alice:{SECRET}@127.0.0.1:{port}", f"paths.root={tmp_path}", *FAST],
        tmp_path,
    )
    assert dead.returncode == 2 and "alice:***@127.0.0.1" in dead.stderr, dead.stderr
    for out in (proc, agg, dead):
        assert SECRET not in out.stdout + out.stderr
    assert _files_holding(tmp_path, SECRET.encode()) == []
    assert _files_holding(server_root / "artifacts", SECRET.encode()) == []
    with sqlite3.connect(server_root / "mlflow.db") as db:  # every param, tag and location
        assert not [ln for ln in db.iterdump() if SECRET in ln]


def test_a_sweep_that_fails_to_compose_leaves_no_password_in_multirun_yaml(tmp_path):
    # Hydra writes multirun.yaml, then no job starts: no job of ours could mask it
    proc = _run(
        [
            "-m",
            f"tracking.uri=http://alice:{SECRET}@127.0.0.1:1",
            "study.nope=1,2",
            f"paths.root={tmp_path}",
        ],
        tmp_path,
    )
    assert proc.returncode == 2
    assert list(tmp_path.rglob("multirun.yaml"))
    assert _files_holding(tmp_path, SECRET.encode()) == []
    assert SECRET not in proc.stdout + proc.stderr


# --- straight into PostgreSQL, which checks the password ------------------------------------


def _as_postgres(*cmd, **kw):
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, *map(str, cmd)], check=True, capture_output=True, text=True, **kw
    )


@pytest.fixture(scope="module")
def postgres_with_password():
    if not (PG_BIN / "initdb").is_file():
        pytest.skip(f"PostgreSQL 15 is not installed here ({PG_BIN} is missing)")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver (pip install 'psycopg[binary]')")
    root = Path(tempfile.mkdtemp(prefix="study-pgpw-"))
    (root / "pw").write_text(SECRET)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
    port = free_port()
    # TCP connections must give the password; the socket (for createdb and pg_dump) is trusted
    _as_postgres(
        PG_BIN / "initdb",
        "-D",
        root / "data",
        "-U",
        "postgres",
        "--pwfile",
        root / "pw",
        "--auth-host=scram-sha-256",
        "--auth-local=trust",
    )
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
        _as_postgres(PG_BIN / "createdb", "-h", root, "-p", port, "-U", "postgres", "mlflow")
        yield f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:{port}/mlflow", root, port
    finally:
        _as_postgres(PG_BIN / "pg_ctl", "-D", root / "data", "-m", "fast", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_a_password_in_a_postgresql_uri_leaves_no_trace(postgres_with_password, tmp_path):
    uri, pg_root, port = postgres_with_password
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    root = tmp_path / "root"
    proc = _run([f"tracking.uri={uri}", f"paths.root={root}", "study.name=secret-pg", *FAST], cwd)
    assert proc.returncode == 0, proc.stderr
    assert "postgres:***@" in proc.stdout
    # artifacts under paths.root, not in ./mlruns of wherever the command ran
    assert list(cwd.iterdir()) == []
    assert list((root / "artifacts").rglob("report.txt"))
    bad = _run(["--study", "nope", "--uri", uri], cwd, main="aggregate_main")
    assert (
        bad.returncode == 2
        and "no study called 'nope' in postgresql+psycopg://postgres:***@" in bad.stderr
    ), bad.stderr
    wrong = uri.replace(SECRET, "Wr0ngPw7")  # PostgreSQL refuses it: one line, masked
    refused = _run([f"tracking.uri={wrong}", f"paths.root={root}", *FAST], cwd)
    assert refused.returncode == 2 and "postgres:***@" in refused.stderr, refused.stderr
    assert "Wr0ngPw7" not in refused.stdout + refused.stderr
    for out in (proc, bad, refused):
        assert SECRET not in out.stdout + out.stderr
    assert _files_holding(tmp_path, SECRET.encode()) == []
    dump = _as_postgres(
        PG_BIN / "pg_dump", "-h", pg_root, "-p", port, "-U", "postgres", "mlflow"
    ).stdout
    assert "secret-pg" in dump and SECRET not in dump


# --- hostile names ---------------------------------------------------------------------------


def test_for_markdown_shows_names_as_typed_and_inert():
    assert for_markdown("<img src=x>") == "&lt;img src=x&gt;"
    assert for_markdown("[l](http://e.com)") == r"\[l\]\(http://e\.com\)"
    # a bare address is linked by MLflow's renderer (showdown's simplifiedAutoLink) on its own
    for bare in ("http://evil.com/x", "www.evil.com", "evil@example.com"):
        assert "." not in for_markdown(bare).replace("\\.", "")
    assert for_markdown("a|b *c* _d_ `e` #f !g") == r"a\|b \*c\* \_d\_ \`e\` \#f \!g"
    assert for_markdown('it\'s "q" & \\') == r"it&#x27;s &quot;q&quot; &amp; \\"
    # no line break ends a table row, no control character reaches the page
    assert for_markdown("a\nb\x1b]0;t\x07") == r"a\\nb\\x1b\]0;t\\x07"


def test_for_terminal_writes_control_characters_as_escapes():
    assert for_terminal("t\x1b]0;pwned\x07 \r\x9b2J\u202e") == r"t\x1b]0;pwned\x07 \r\x9b2J\u202e"
    assert for_terminal("tab\tand\nlines, é → ü <b>") == "tab\tand\nlines, é → ü <b>"


HOSTILE = ["<img src=x>", "[l](http://example.com)", "t\x1b]0;pwned\x07", "a|b"]


@pytest.mark.slow
def test_hostile_names_are_inert_in_the_description_and_the_report(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, len(HOSTILE)))
    df = pd.DataFrame(x, columns=HOSTILE)
    df["y"] = np.where(x[:, 2] + x[:, 0] > 0, "<b>yes</b>", "no")  # the ESC name ranks high
    df.to_csv(tmp_path / "h.csv", index=False)
    proc = _run(
        [
            "dataset=csv",
            f"dataset.path={tmp_path / 'h.csv'}",
            "dataset.target=y",
            "study.name='<img src=z>'",
            f"paths.root={tmp_path}",
            *FAST,
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr and r"t\x1b]0;pwned\x07" in proc.stdout
    reports = [p.read_text() for p in tmp_path.rglob("report.txt")]  # the folder's, the run's
    assert len(reports) == 2 and not [r for r in reports if "\x1b" in r or "\x07" in r]

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (parent,) = client.search_runs(["1"], "tags.`study.role` = 'study'")
    text = parent.data.tags["mlflow.note.content"]
    assert "<img" not in text and "<b>" not in text and "\x1b" not in text
    assert "[l](" not in text and re.search(r"\\\[l\\\]\\\(http", text)  # shown as typed
    assert "a\\|b" in text and "a|b" not in text.replace("\\|", "")
