"""The tracking store: URIs, the MLflow client, experiments, and the names of metrics."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path

from ..errors import StudyError
from ..record import StudyMeta

PARENT_TAG = "mlflow.parentRunId"
ROLE_TAG = "study.role"
ERROR_TAG = "study.error"  # on a FAILED child: the error its seed raised


def _mlflow():
    import logging
    import os

    # One progress bar per downloaded artifact and INFO lines about creating the database bury
    # the study's own output; users can still turn them back on through the environment.
    os.environ.setdefault("MLFLOW_DISABLE_AGENT_HINT", "1")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with warnings.catch_warnings():  # tqdm.auto in a notebook without ipywidgets: harmless
        warnings.filterwarnings("ignore", message="IProgress not found")
        import mlflow

    for name in ("mlflow.store.db.utils", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow


# ---------------------------------------------------------------------------------------------
# names


def metric_names(names) -> tuple[str, ...]:
    """MLflow-safe, unique versions of feature or output names (letters, digits, ``_``, ``-``).

    Dots separate the parts of a key, so they go too: ``od280/od315_of_diluted_wines`` becomes
    ``od280_od315_of_diluted_wines``. Names that collide after cleaning get a ``_2``, ``_3`` suffix.
    """
    out, seen = [], set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_\-]+", "_", str(name)).strip("_")[:60] or "x"
        key, n = base, 1
        while key in seen:
            n += 1
            key = f"{base}_{n}"
        seen.add(key)
        out.append(key)
    return tuple(out)


def importance_key(method: str, column: str | None, feature: str) -> str:
    """The metric name of one importance value (``column`` None for a single-column method)."""
    return ".".join(["importance", method] + ([column] if column is not None else []) + [feature])


def _importance_keys(meta: StudyMeta):
    """Yield ``(method, column_index, feature_index, key)`` for every primary importance value."""
    feats = metric_names(meta.feature_names)
    for name, layout in meta.methods.items():
        cols = metric_names(layout.columns) if len(layout.columns) > 1 else (None,)
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
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if "://" in uri:
        if uri.startswith("file:"):
            raise StudyError(
                "tracking.uri: the MLflow file store is not supported (MLflow 3.13+ refuses "
                "it); use sqlite:///runs/mlflow.db or an http(s):// tracking server"
            )
        return uri
    if uri.endswith(".db"):
        return resolve_uri(f"sqlite:///{uri}")
    raise StudyError(
        f"tracking.uri: {uri!r} is not a tracking URI; use sqlite:///path/to/mlflow.db or "
        "http(s)://host:port"
    )


def _artifact_root(uri: str) -> str | None:
    """Artifacts of a SQLite store go beside the database, in ``artifacts/``."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
    return None


def ui_command(uri: str) -> str:
    """The command that opens the MLflow UI on this store, bound to 127.0.0.1."""
    return f"study-ui --uri {resolve_uri(uri)}"


def ui_url(experiment_id: str | None = None, run_id: str | None = None, port: int = 5000) -> str:
    """The UI page of an experiment's runs, or of one run, in the classic model-training view.

    MLflow 3's UI otherwise opens on its GenAI (traces) view, which shows none of our runs.
    """
    page = "experiments"
    if experiment_id is not None:
        page += f"/{experiment_id}" + (f"/runs/{run_id}" if run_id else "")
    return f"http://127.0.0.1:{port}/#/{page}?workflowType=machine_learning"


def _client(uri: str):
    return _mlflow().MlflowClient(tracking_uri=resolve_uri(uri))


# MLflow 3's UI opens an experiment without this tag in its GenAI (traces) view; a study is
# classic model training, and its runs table is what users need to see first.
_KIND_TAG, _KIND = "mlflow.experimentKind", "custom_model_development"


def _experiment_id(client, name: str, uri: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return client.create_experiment(
            name, artifact_location=_artifact_root(resolve_uri(uri)), tags={_KIND_TAG: _KIND}
        )
    if exp.lifecycle_stage != "active":
        raise StudyError(
            f"tracking.experiment: experiment {name!r} is deleted in this store; restore it in "
            "the UI or choose another name"
        )
    if _KIND_TAG not in exp.tags:
        client.set_experiment_tag(exp.experiment_id, _KIND_TAG, _KIND)
    return exp.experiment_id


