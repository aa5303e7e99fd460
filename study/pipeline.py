"""One study from a config: dataset -> runs -> MLflow -> analysis -> charts. Called by ``study-run``.

The steps live in :mod:`study.prepare`, :mod:`study.lifecycle` and :mod:`study.publish`; this module keeps the names notebooks and tests use.
:func:`run` takes the composed config as a plain mapping (see :func:`study.config.compose`).
Everything the user can get wrong is checked before the parent MLflow run is created; if anything
fails after that, the parent run ends FAILED (or KILLED on Ctrl-C) rather than being left RUNNING.
"""

from __future__ import annotations

from pathlib import Path

from . import tracking
from .lifecycle import Outcome, run
from .prepare import prepare
from .publish import analyse_and_log, publish, randomisation_and_log, write_tables
from .settings import Settings

__all__ = ["run", "Outcome", "prepare", "publish", "analyse_and_log", "randomisation_and_log",
           "write_tables", "keep_report", "Settings"]  # fmt: skip


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
