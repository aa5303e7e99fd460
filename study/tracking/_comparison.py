"""Reading several studies for a comparison, and logging the comparison as a run of its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from study.errors import StudyError
from study.tracking._layout import ROLE_TAG
from study.tracking._secrets import mask_uri
from study.tracking._store import _client, resolve_uri
from study.tracking._ui import ui_path

COMPARED_TAG = "study.compared"  # the parent run ids a comparison run compares, comma-separated


def studies_in(uri: str, experiment: str) -> list[str]:
    """The parent run ids of every finished study in ``experiment``, oldest first."""
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise StudyError(f"no experiment {experiment!r} in {mask_uri(resolve_uri(uri))}")
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{ROLE_TAG}` = 'study' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
        max_results=1000,
    )
    return [r.info.run_id for r in runs]


def latest_study(uri: str) -> tuple[str, str] | None:
    """``(experiment id, study name)`` of the store's latest study, or None."""
    client = _client(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = (
        client.search_runs(
            ids,
            filter_string=f"tags.`{ROLE_TAG}` = 'study'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if ids
        else []
    )
    if not runs:
        return None
    return runs[0].info.experiment_id, runs[0].data.tags.get("study.name", "")


def study_params(uri: str, run_id: str) -> dict[str, str]:
    """A study's settings: its parent's params (the flattened config)."""
    return dict(_client(uri).get_run(run_id).data.params)


def study_links(records) -> dict[str, str]:
    """``{parent run id: UI route}`` of each study (relative to the UI's address)."""
    return {r.run_id: "#" + ui_path(r.experiment_id, r.run_id) for r in records}


def log_comparison(
    uri: str,
    experiment_id: str,
    *,
    name: str,
    run_ids: Sequence[str],
    description: str,
    metrics: Mapping[str, float],
    files: Sequence[Path],
) -> str:
    """A FINISHED run of role ``comparison`` that names the studies it compares (tag
    :data:`COMPARED_TAG`), with ``description`` in the UI, ``metrics`` and ``files`` as artifacts.
    Returns its run id."""
    import time

    from mlflow.entities import Metric

    client = _client(uri)
    run = client.create_run(
        experiment_id,
        run_name=name,
        tags={
            ROLE_TAG: "comparison",
            COMPARED_TAG: ",".join(run_ids),
            "mlflow.note.content": description,
        },
    )
    rid = run.info.run_id
    try:
        now = int(time.time() * 1000)
        client.log_batch(rid, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
        for path in files:
            client.log_artifact(rid, str(path))
    except BaseException:
        client.set_terminated(rid, "FAILED")
        raise
    client.set_terminated(rid, "FINISHED")
    return rid
