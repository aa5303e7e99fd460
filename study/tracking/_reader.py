"""Reading a study back from MLflow alone."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from ..errors import StudyError
from ..record import RunRecord, StudyMeta, StudyRecord
from ._store import PARENT_TAG, ROLE_TAG, _client, _mlflow, resolve_uri

# ---------------------------------------------------------------------------------------------
# reading


def find_study(uri: str, *, run_id: str | None = None, experiment: str | None = None) -> str:
    """The parent run id of a study: ``run_id`` itself, or the latest study of ``experiment``."""
    client = _client(uri)
    mlflow = _mlflow()
    if run_id:
        try:
            run = client.get_run(run_id)
        except mlflow.exceptions.MlflowException:
            raise StudyError(f"no run {run_id!r} in {resolve_uri(uri)}") from None
        if run.data.tags.get(ROLE_TAG) == "seed":
            return run.data.tags[PARENT_TAG]
        if run.data.tags.get(ROLE_TAG) != "study":
            raise StudyError(f"run {run_id} is not a study's parent run")
        return run_id
    if not experiment:
        raise StudyError("give a study's parent run id (--run-id) or an experiment name")
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise StudyError(f"no experiment {experiment!r} in {resolve_uri(uri)}")
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{ROLE_TAG}` = 'study' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        raise StudyError(f"experiment {experiment!r} has no finished study")
    return runs[0].info.run_id


def load_study(uri: str, run_id: str) -> StudyRecord:
    """Read a study back from MLflow alone: its layout, and every child's metrics and weights.

    Nothing comes from the memory of the process that trained it, so this works for any study in
    any store, whichever processes or machines ran its seeds.
    """
    client = _client(uri)
    parent = client.get_run(run_id)
    with tempfile.TemporaryDirectory(prefix="study-read-") as tmp:
        meta_path = client.download_artifacts(run_id, "study.json", tmp)
        meta = StudyMeta.from_dict(json.loads(Path(meta_path).read_text()))
        children = []
        token = None
        while True:
            page = client.search_runs(
                [parent.info.experiment_id],
                filter_string=f"tags.`{PARENT_TAG}` = '{run_id}' and attributes.status = 'FINISHED'",
                max_results=1000,
                page_token=token,
            )
            children.extend(page)
            token = page.token
            if not token:
                break
        n_layers = len(meta.layer_sizes) - 1
        runs = []
        for child in children:
            m = child.data.metrics
            folder = Path(tmp) / child.info.run_id
            folder.mkdir()
            with np.load(client.download_artifacts(child.info.run_id, "weights.npz", str(folder))) as w:
                coefs = [w[f"coef_{i}"] for i in range(n_layers)]
                intercepts = [w[f"intercept_{i}"] for i in range(n_layers)]
            path = client.download_artifacts(child.info.run_id, "importances.npz", str(folder))
            with np.load(path) as imp:
                values = {
                    name: {k: imp[f"{name}/{k}"] for k in layout.measures}
                    for name, layout in meta.methods.items()
                }
            runs.append(
                RunRecord(
                    seed=int(child.data.params["seed"]),
                    train_score=m.get("train_score", np.nan),
                    test_score=m.get("test_score", np.nan),
                    n_iter=int(m.get("n_iter", -1)),
                    converged=bool(m.get("converged", 0)),
                    coefs=coefs,
                    intercepts=intercepts,
                    importances=values,
                    timings={
                        "fit": m.get("fit_seconds", np.nan),
                        "importance": m.get("importance_seconds", np.nan),
                    },
                )
            )
    runs.sort(key=lambda r: r.seed)
    return StudyRecord(meta=meta, runs=runs, run_id=run_id, experiment_id=parent.info.experiment_id)
