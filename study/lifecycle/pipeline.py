"""One study from a config: dataset -> runs -> MLflow -> analysis -> charts. Called by
``study-run``; :func:`run_table` runs one of a DataFrame (``study.run``).

The steps live in :mod:`study.lifecycle.prepare`, :mod:`study.lifecycle.study` and
:mod:`study.lifecycle.publish`; this module keeps the names notebooks and tests use.
:func:`run` takes the composed config as a plain mapping (see :func:`study.config.compose.compose`).
Everything the user can get wrong is checked before the parent MLflow run is created; if anything
fails after that, the parent run ends FAILED (or KILLED on Ctrl-C) rather than being left RUNNING.
"""

from __future__ import annotations

from pathlib import Path

from study import tracking
from study.config.settings import Settings
from study.lifecycle.prepare import prepare
from study.lifecycle.publish import analyse_and_log, publish, randomisation_and_log, write_tables
from study.lifecycle.run import Outcome, run

__all__ = [
    "run",
    "run_table",
    "Outcome",
    "prepare",
    "publish",
    "analyse_and_log",
    "randomisation_and_log",
    "write_tables",
    "keep_report",
    "Settings",
]


def keep_report(text: str, output_dir: Path, uri: str, run_id: str) -> Path:
    """The printed report as ``report.txt`` in the study's folder and on its parent run."""
    import json

    path = Path(output_dir) / "report.txt"
    path.write_text(text + "\n")
    tracking.Tracker(uri, run_id=run_id).log_artifact(path)
    # which study this folder holds: a sweep's callback compares its jobs' studies from these
    info = {"run_id": run_id, "uri": tracking.mask_uri(uri)}
    (Path(output_dir) / STUDY_RUN_FILE).write_text(json.dumps(info))
    return path


STUDY_RUN_FILE = "study_run.json"


def run_table(data, *, target, features=None, task: str = "auto", overrides=()) -> Outcome:
    """A study of a table: ``data`` a pandas DataFrame or the path of a CSV file, ``target`` its
    target column (a list for several regression targets), ``features`` the columns to use (all
    the others by default), ``task`` auto, classification or regression; ``overrides`` any
    ``study-run`` override (``"study.n_runs=10"``, ``"model=mlp_10"``, ``"paths.root=..."``).
    Trains, logs to MLflow and analyses as ``study-run dataset=csv`` does; returns the
    :class:`Outcome` (``.answer.table``: one row per variable).

    A DataFrame is saved once as ``<paths.root>/data/frame-<hash>.csv`` (its index left out), the
    file the study's settings name, and its study is called ``frame-<hash>`` unless
    ``study.name`` is given: another table is another study."""
    import hashlib
    import os
    import tempfile

    from study import config

    overrides = list(overrides)
    cfg = config.compose(["dataset=csv", *overrides])
    if not isinstance(data, (str, Path)):
        text = _frame_csv(data)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        path = Path(cfg["paths"]["root"]).expanduser() / "data" / f"frame-{digest}.csv"
        if not path.is_file():  # written whole or not at all: another process may read it
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, part = tempfile.mkstemp(dir=path.parent, suffix=".part")
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(part, path)
        if cfg["study"].get("name") is None:
            cfg["study"]["name"] = f"frame-{digest}"
        data = path
    # set, not composed: column names may hold what an override cannot (spaces, commas, quotes);
    # as text, as the CSV file has them (a DataFrame's 0, 1, ... columns are "0", "1", ...)
    cfg["dataset"].update(
        path=str(Path(data).expanduser().resolve()),
        task=task,
        target=[str(t) for t in target] if isinstance(target, (list, tuple)) else str(target),
        features=None if features is None else [str(f) for f in features],
    )
    return run(cfg)


def _frame_csv(frame) -> str:
    """A DataFrame as the CSV text the study reads back (exact floats; its index left out)."""
    import pandas as pd

    from study.errors import StudyError

    if not isinstance(frame, pd.DataFrame):
        raise StudyError(
            f"data must be a pandas DataFrame or the path of a CSV file; got {type(frame).__name__}"
        )
    return frame.rename(columns=str).to_csv(index=False)
