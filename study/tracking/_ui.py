"""Addresses of a study in the MLflow UI: the command that serves a store, and the links to a
study's page and its runs."""

from __future__ import annotations

from study.tracking._layout import NAME_KEY_TAG, NAME_TAG, name_key, quoted
from study.tracking._secrets import mask_uri
from study.tracking._store import _address, resolve_uri


def ui_command(uri: str) -> str:
    """How to open the MLflow UI on this store: ``study-ui`` for a database (it serves the UI on
    127.0.0.1), nothing to start for a tracking server, which serves its own UI."""
    uri = resolve_uri(uri)
    if uri.startswith(("http://", "https://")):
        return f"the tracking server serves it at {_address(uri)}"
    return f"study-ui --uri {mask_uri(uri)}"


def ui_path(
    experiment_id: str | None = None, run_id: str | None = None, *, study: str | None = None
) -> str:
    """The UI route (after ``#``) of an experiment's runs, of one run, or (``study``) of the runs
    view filtered to one study's parent and children, in the classic model-training view.

    MLflow 3's UI otherwise opens on its GenAI (traces) view, which shows none of our runs.
    """
    from urllib.parse import quote

    page = "/experiments"
    if experiment_id is not None:
        page += f"/{experiment_id}" + (f"/runs/{run_id}" if run_id else "/runs")
    query = "workflowType=machine_learning"
    if study is not None:  # children carry the study's name tags too (a quote-proof key)
        q = quoted(study)
        where = f"tags.`{NAME_TAG}` = {q}" if q else f"tags.`{NAME_KEY_TAG}` = '{name_key(study)}'"
        query += "&searchFilter=" + quote(where, safe="")
    return f"{page}?{query}"


def ui_url(
    experiment_id: str | None = None,
    run_id: str | None = None,
    port: int = 5000,
    uri: str | None = None,
    *,
    study: str | None = None,
) -> str:
    """:func:`ui_path` as a full address: on the tracking server ``uri`` if it is one, else on
    ``study-ui`` (127.0.0.1:``port``)."""
    base = (
        _address(uri).rstrip("/")
        if uri and uri.startswith(("http://", "https://"))
        else f"http://127.0.0.1:{port}"
    )
    return f"{base}/#{ui_path(experiment_id, run_id, study=study)}"
