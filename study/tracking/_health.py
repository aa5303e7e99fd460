"""A database store checked before a study writes to it: SQLite's file (readable, a database,
MLflow's schema, writable) and a database server's driver and answer, each in one line."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from study.errors import StudyError

CONNECT_TIMEOUT = 10  # seconds a database server has to let a connection in
BUSY_TIMEOUT = 10  # seconds a check of a SQLite store waits for another process's lock


def _database_file(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def _check_database(uri: str) -> None:
    """A SQLite file that is not an MLflow store (empty, something else) or that SQLite reports
    corrupt: one line naming it; never a fresh schema written into it. Call it under
    :func:`_store_lock`.

    A process killed inside a write leaves a hot rollback journal (``mlflow.db-journal``); the
    ordinary read-write open used here plays it back, as SQLite does for any reader that may
    write (a read-only open cannot, and the store was refused as unreadable). A store whose
    journal was played back is then checked (``PRAGMA quick_check``)."""
    path = _database_file(uri)
    if path is None or not path.exists():
        return
    journal = Path(f"{path}-journal")
    hot = journal.exists()  # with an empty file: the store's creation was cut short
    if path.stat().st_size == 0 and not hot:
        raise StudyError(
            f"tracking.uri: {path} is an empty file, not an MLflow store; remove it "
            "or point tracking.uri elsewhere"
        )
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT)) as db:
            tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
            if hot and not journal.exists():  # played back just now: is the rest sound?
                problems = [r[0] for r in db.execute("pragma quick_check")]
                if problems != ["ok"]:
                    raise sqlite3.DatabaseError(f"quick_check: {problems[0]}")
    except sqlite3.DatabaseError as err:
        raise StudyError(_unreadable(path, err, journal)) from None
    if hot and not tables:  # nothing was written yet: MLflow creates the store
        return
    if "alembic_version" not in tables or "runs" not in tables:
        raise StudyError(f"tracking.uri: {path} is a SQLite database but not an MLflow store")


def _unreadable(path: Path, err, journal: Path) -> str:
    """The line for a SQLite store that could not be read: only a store SQLite reports corrupt
    (or not a database) is one to restore from a backup."""
    code = getattr(err, "sqlite_errorcode", 0) & 0xFF  # the primary result code
    if code in (5, 6):  # SQLITE_BUSY, SQLITE_LOCKED
        return (
            f"tracking.uri: {path} has been locked by another process for over "
            f"{BUSY_TIMEOUT} s ({err}); run again once that process is done, or end it"
        )
    if code == 8 and journal.exists():  # SQLITE_READONLY_ROLLBACK
        return (
            f"tracking.uri: {path} holds a write that a stopped process left unfinished "
            f"({journal.name}), and this process may not write there to undo it; run once "
            "with write access to the file and its folder"
        )
    if code in (11, 26):  # SQLITE_CORRUPT, SQLITE_NOTADB
        return (
            f"tracking.uri: SQLite reports {path} corrupt or not a database ({err}); "
            "restore it from a backup or point tracking.uri elsewhere"
        )
    return f"tracking.uri: cannot read the store {path} ({err})"


def _check_database_server(uri: str) -> None:
    """Fail in seconds, with one line, when the PostgreSQL or MySQL server of a store does not
    let a connection in: MLflow tries to open a store 10 times over 101 s whatever the error, and
    a server that accepted and never answered held each try for 130 s."""
    from sqlalchemy import create_engine, exc
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(uri)
    if url.get_backend_name() not in ("postgresql", "mysql"):
        return
    timeout = {} if "connect_timeout" in url.query else {"connect_timeout": CONNECT_TIMEOUT}
    engine = create_engine(url, poolclass=NullPool, connect_args=timeout)
    try:
        engine.connect().close()
    except (exc.DBAPIError, OSError) as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0][:200]
        raise StudyError(
            f"tracking.uri: the database server of "
            f"{url.render_as_string(hide_password=True)} does not let the study in "
            f"({reason})"
        ) from None
    finally:
        engine.dispose()


def _create_store(path: Path) -> None:
    """Create the SQLite store ``path`` whole or not at all: MLflow builds its schema in some 60
    migrations, each committed on its own, and a study killed meanwhile left a store that MLflow
    could neither use nor finish ("table scorers already exists"). It is built under another name
    and renamed into place; one a killed process left half built is built anew. Call it under
    :func:`_store_lock`."""
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    fresh = path.with_name(f".{path.name}.creating")
    try:
        for stale in (fresh, Path(f"{fresh}-journal")):
            stale.unlink(missing_ok=True)
        os.close(os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
    except OSError as err:  # MLflow would try 10 times over 101 s
        raise StudyError(
            f"tracking.uri: cannot create the store {path} ({err.strerror}); "
            "point tracking.uri to a folder you can write"
        ) from None
    # the default artifact root MlflowClient gives a store (the Default experiment's)
    store = SqlAlchemyStore(f"sqlite:///{fresh}", DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH)
    store.engine.dispose()
    os.replace(fresh, path)
