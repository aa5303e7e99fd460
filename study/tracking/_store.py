"""The tracking store: URIs, the MLflow client, experiments, and the names of metrics."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

from study.errors import StudyError
from study.tracking._health import (
    CONNECT_TIMEOUT,
    _check_database,
    _check_database_server,
    _create_store,
    _database_file,
)
from study.tracking._locks import lock as _lock
from study.tracking._locks import locked as _locked
from study.tracking._secrets import mask_uri
from study.training.naming import importance_key, metric_names
from study.training.record import StudyMeta
from study.training.resample import index, is_resample


def child_name(seed: int) -> str:
    """A child run's name: ``seed-<n>``, or ``resample-<b>`` for a resample network."""
    return f"resample-{index(seed)}" if is_resample(seed) else f"seed-{seed}"


def child_params(seed: int) -> dict[str, str]:
    """A child run's params: ``seed``, its id in the study's ledger (what the reader keys it
    by; a resample network's is ``2**32 + b``), and a resample network's index ``resample``."""
    return {"seed": str(seed), **({"resample": str(index(seed))} if is_resample(seed) else {})}


def _mlflow():
    import logging

    # One progress bar per downloaded artifact and INFO lines about creating the database bury
    # the study's own output; users can still turn them back on through the environment.
    os.environ.setdefault("MLFLOW_DISABLE_AGENT_HINT", "1")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # on a tracking server, two "View run ... at" lines for every child run that ends
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # A tracking server that dies mid-study: MLflow's defaults (7 retries, backoff factor 2,
    # 120 s timeout) keep each request retrying for minutes while training goes on; these give
    # up in a few seconds, and the study stops with its finished seeds in the journal.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    # PostgreSQL (libpq, psycopg): a server that accepts and never answers held each connection
    # for 130 s, and MLflow opens a store with 10 tries
    os.environ.setdefault("PGCONNECT_TIMEOUT", str(CONNECT_TIMEOUT))
    with warnings.catch_warnings():  # tqdm.auto in a notebook without ipywidgets: harmless
        warnings.filterwarnings("ignore", message="IProgress not found")
        import mlflow

    logging.getLogger("alembic").setLevel(logging.WARNING)
    # it logs every database error with its traceback before raising it; the study reports the
    # error itself (one line for a store that cannot be written, a traceback for a bug)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    return mlflow


# ---------------------------------------------------------------------------------------------
# names


def _importance_keys(meta: StudyMeta):
    """Yield ``(method, column_index, feature_index, key)`` for every primary importance value."""
    from study.importance import get_method

    feats = metric_names(meta.feature_names)
    for name, layout in meta.methods.items():
        # one key per value: a method blind to the output layer has the same column per output
        blind = get_method(name).output_layer == "ignored"
        cols = metric_names(layout.columns) if len(layout.columns) > 1 and not blind else (None,)
        for c, col in enumerate(cols):
            for i, feat in enumerate(feats):
                yield name, c, i, importance_key(name, col, feat)


def flatten(config: Mapping, prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}} -> {"a.b": "1"}``: the config as MLflow params."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = "null" if value is None else str(value)[:6000]
    return out


# ---------------------------------------------------------------------------------------------
# store


def resolve_uri(uri: str) -> str:
    """Make a relative SQLite URI absolute, so that printed commands work from anywhere.

    ``sqlite:///runs/mlflow.db`` (relative, three slashes) -> ``sqlite:////abs/path/runs/mlflow.db``.
    A plain path (``runs/mlflow.db``) is taken as a SQLite file too. The old file store
    (a directory, or ``file:``) is refused: MLflow 3.13+ no longer supports it.
    """
    uri = str(uri)
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        path = path if uri.startswith("sqlite:////") or path.is_absolute() else path.resolve()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # /proc/nope, a read-only disk, a file where a folder should be
            raise StudyError(
                f"tracking.uri: cannot create the folder {path.parent} for the "
                f"store ({err.strerror or err})"
            ) from None
        return f"sqlite:///{path}"
    if "://" in uri:
        if uri.startswith("file:"):
            raise StudyError(
                "tracking.uri: the MLflow file store is not supported (MLflow 3.13+ refuses "
                "it); use sqlite:///runs/mlflow.db or an http(s):// tracking server"
            )
        scheme = uri.partition("://")[0].lower()
        if scheme not in ("http", "https"):
            _check_driver(scheme, uri)
        return uri
    if uri.endswith(".db"):
        return resolve_uri(f"sqlite:///{uri}")
    raise StudyError(
        f"tracking.uri: {mask_uri(uri)!r} is not a tracking URI; use "
        "sqlite:///path/to/mlflow.db or http(s)://host:port"
    )


# the databases MLflow 3 keeps a tracking store in (mlflow.store.db.db_types.DATABASE_ENGINES,
# not imported here: prepare checks the URI before MLflow loads; a test keeps the two equal)
DATABASES = ("postgresql", "mysql", "sqlite", "mssql")
# the package that installs each driver module SQLAlchemy imports, where its name differs
_DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "MySQLdb": "mysqlclient",
    "pymysql": "PyMySQL",
}
_STORES = (
    "sqlite:///path/to/mlflow.db (or a path ending in .db), http(s)://host:port (an "
    "mlflow server), or a database: postgresql[+driver]://, mysql[+driver]:// or "
    "mssql+pyodbc://"
)


def _check_driver(scheme: str, uri: str) -> None:
    """A database URI names a database MLflow keeps stores in and a driver that is installed
    (SQLAlchemy knows which module each dialect imports)."""
    if scheme.partition("+")[0] not in DATABASES:
        raise StudyError(f"tracking.uri: {scheme}:// is not a tracking store; use {_STORES}")
    if scheme.startswith("sqlite"):  # no file: a database in memory, empty for each connection
        raise StudyError(
            "tracking.uri: write a SQLite store as sqlite:///path/to/mlflow.db "
            "(three slashes, four for an absolute path)"
        )
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        dialect = make_url(uri).get_dialect()
    except NoSuchModuleError:
        database, _, driver = scheme.partition("+")
        raise StudyError(
            f"tracking.uri: SQLAlchemy has no driver {driver!r} for {database}"
        ) from None
    except (ArgumentError, ValueError):  # their messages repeat the URI, password included
        raise StudyError(
            f"tracking.uri: not a database URL of the form {scheme}://user@host:port/database"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as err:
        module = err.name or dialect.driver
        package = _DRIVER_PACKAGES.get(module, module)
        package = f"'{package}'" if "[" in package else package  # a shell would expand [...]
        raise StudyError(
            f"tracking.uri: {scheme}:// needs the Python driver {module}, which is "
            f"not installed: pip install {package}"
        ) from None


def _artifact_root(uri: str, folder: Path | None = None) -> str | None:
    """Artifacts of a SQLite store go beside the database, in ``artifacts/``; those of another
    database (PostgreSQL, MySQL) in ``folder`` (the study's ``paths.root/artifacts``), not in
    MLflow's default ``./mlruns`` of whatever folder the command ran in. A tracking server keeps
    its own."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
    if folder is not None and not uri.startswith(("http://", "https://", "databricks")):
        return Path(folder).resolve().as_uri()
    return None


def require_store(uri: str) -> None:
    """For commands that only read: a database file that does not exist is a one-line error, not
    a new empty store; a server must answer."""
    uri = str(uri)
    if uri.startswith(("http://", "https://")):
        check_reachable(uri)
        return
    path = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else uri
    if (uri.startswith("sqlite:///") or uri.endswith(".db")) and not Path(path).is_file():
        raise StudyError(
            f"no study store at {Path(path).resolve()}: run study-run first, or pass --uri"
        )
    uri = resolve_uri(uri)
    with _store_lock(uri):
        _check_database(uri)


def is_store_error(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it was raised from) says the store stopped answering: a server
    gone, a connection refused or timed out, a database that cannot be written (locked,
    read-only, full disk), rather than a bug of ours."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return True
        module = type(exc).__module__ or ""
        if module.startswith(("requests", "urllib3", "sqlalchemy", "psycopg", "sqlite3")):
            return True
        if type(exc).__name__ == "MlflowException" and any(
            s in str(exc)
            for s in (
                "Max retries exceeded",
                "API request to",
                "Connection",
                "OperationalError",
                "readonly database",
                "database or disk is full",
            )
        ):
            return True
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return False


def _address(uri: str) -> str:
    """A server's URI without its userinfo: what a browser link and a printed line need (the
    browser asks for credentials itself)."""
    scheme, sep, rest = uri.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}"


_READY: set[str] = set()  # database stores this process has opened (their schema exists)


def _client(uri: str):
    """An MlflowClient on ``uri``. The first time a process opens a database store, it does so
    under an exclusive file lock: on a fresh store MLflow 3.17 creates the schema without one,
    and studies started at the same moment raced (``alembic_version``: 0 rows found)."""
    uri, mlflow = resolve_uri(uri), _mlflow()
    if uri.startswith(("http://", "https://")) and uri not in _READY:
        check_reachable(uri)
        _READY.add(uri)
    if uri in _READY or uri.startswith(("http://", "https://", "databricks")):
        return mlflow.MlflowClient(tracking_uri=uri)
    if not uri.startswith("sqlite:"):
        _check_database_server(uri)
    with _store_lock(uri):
        _check_database(uri)  # under the lock: another process may be creating it right now
        path = _database_file(uri)
        if path is not None and (not path.exists() or path.stat().st_size == 0):
            _create_store(path)
        client = mlflow.MlflowClient(tracking_uri=uri)
        try:
            client.search_experiments(max_results=1)
        except Exception as err:
            if not is_store_error(err):
                raise
            path = _database_file(uri)
            raise StudyError(
                mask_uri(
                    f"tracking.uri: cannot open the store {path or uri} "
                    f"({str(err).splitlines()[0][:200]})"
                )
            ) from None
    _READY.add(uri)
    return client


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail in seconds, with one line, when nothing answers at a tracking server's address
    (MLflow's own client retries for minutes, then prints a long traceback), or when what
    answers is not an MLflow server (its ``/health`` is not 200; 401 and 403 pass: a server
    behind authentication speaks for itself from then on)."""
    import base64
    import urllib.error
    import urllib.request
    from urllib.parse import unquote, urlsplit

    # urllib takes "user:pw@host" for a host name; MLflow's requests sends it as basic auth
    request = urllib.request.Request(f"{_address(uri).rstrip('/')}/health")
    parts = urlsplit(uri)
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        request.add_header("Authorization", f"Basic {base64.b64encode(pair).decode()}")
    try:
        urllib.request.urlopen(request, timeout=timeout).close()
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            return
        raise StudyError(
            f"tracking.uri: {mask_uri(uri)} answers, but not as an MLflow tracking "
            f"server (HTTP {err.code} at /health)"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = mask_uri(getattr(err, "reason", err))
        raise StudyError(
            f"tracking.uri: no tracking server answers at {mask_uri(uri)} ({reason}); "
            "start one (mlflow server ...) or use sqlite:///runs/mlflow.db"
        ) from None


def study_lock(uri: str, experiment: str, name: str):
    """Held while a process finds or creates the parent run of study ``name``: shards started at
    the same moment on one machine attach to one parent. Across machines this lock does not
    reach: start one shard first (it creates the study), then the others."""
    key = hashlib.sha1(f"{resolve_uri(uri)}|{experiment}|{name}".encode()).hexdigest()[:16]
    return _lock(f"study-{key}")


def _store_lock(uri: str):
    """Held while a process checks a database store and opens it for the first time. A SQLite
    store's is a file beside it, shared by every process that can write there whatever its
    environment (``XDG_RUNTIME_DIR`` set in one shell and not in another); a store in a folder
    this process cannot write (read-only) and another database's are in :func:`_lock_folder`."""
    path = _database_file(uri)
    name = f"store-{hashlib.sha1(uri.encode()).hexdigest()[:16]}"
    if path is None:
        return _lock(name)
    return _locked(path.with_name(f".{path.name}.lock"), name=name)


# MLflow 3's UI opens an experiment without this tag in its GenAI (traces) view; a study is
# classic model training, and its runs table is what users need to see first.
_KIND_TAG, _KIND = "mlflow.experimentKind", "custom_model_development"


def _experiment_id(client, name: str, uri: str, artifacts: Path | None = None) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(
                name,
                artifact_location=_artifact_root(resolve_uri(uri), artifacts),
                tags={_KIND_TAG: _KIND},
            )
        except _mlflow().exceptions.MlflowException:
            exp = client.get_experiment_by_name(name)  # another process created it just now
            if exp is None:
                raise
    if exp.lifecycle_stage != "active":
        raise StudyError(
            f"tracking.experiment: experiment {name!r} is deleted in this store; restore it in "
            "the UI or choose another name"
        )
    if _KIND_TAG not in exp.tags:
        try:
            client.set_experiment_tag(exp.experiment_id, _KIND_TAG, _KIND)
        except _mlflow().exceptions.MlflowException:  # another process set it at this moment
            if _KIND_TAG not in client.get_experiment(exp.experiment_id).tags:
                raise
    return exp.experiment_id
