"""Reading a study back from MLflow alone."""

from __future__ import annotations

import json
import tempfile
import time
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from study.errors import StudyError
from study.tracking._layout import (
    BUNDLE,
    NULL_BUNDLE,
    PARENT_TAG,
    PROCESS_TAG,
    ROLE_TAG,
    SEEDS_TAG,
    study_filter,
)
from study.tracking._secrets import mask_uri
from study.tracking._store import _client, _mlflow, resolve_uri
from study.training.record import RunRecord, StudyMeta, StudyRecord
from study.training.resample import split_runs

# ---------------------------------------------------------------------------------------------
# reading


def find_study(
    uri: str, *, run_id: str | None = None, experiment: str | None = None, name: str | None = None
) -> str:
    """The parent run id of a study: ``run_id`` itself (or its parent, for a seed's run), the
    latest finished study of ``experiment``, or the latest study called ``name`` (any status,
    any experiment) that has a finished seed (a re-run killed at once does not hide the study
    it repeats)."""
    client = _client(uri)
    mlflow = _mlflow()
    if name:
        ids = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(
            ids,
            filter_string=study_filter(name),
            order_by=["attributes.start_time DESC"],
            max_results=50,
        )
        if not runs:
            raise StudyError(f"no study called {name!r} in {mask_uri(resolve_uri(uri))}")
        for run in runs:
            if client.search_runs(
                [run.info.experiment_id],
                max_results=1,
                filter_string=(
                    f"tags.`{PARENT_TAG}` = '{run.info.run_id}' and attributes.status = 'FINISHED'"
                ),
            ):
                return run.info.run_id
        return runs[0].info.run_id
    if run_id:
        try:
            run = client.get_run(run_id)
        except mlflow.exceptions.MlflowException:
            raise StudyError(f"no run {run_id!r} in {mask_uri(resolve_uri(uri))}") from None
        if run.data.tags.get(ROLE_TAG) == "seed":
            return run.data.tags[PARENT_TAG]
        if run.data.tags.get(ROLE_TAG) != "study":
            raise StudyError(f"run {run_id} is not a study's parent run")
        return run_id
    if not experiment:
        raise StudyError("give a study's parent run id (--run-id) or an experiment name")
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise StudyError(f"no experiment {experiment!r} in {mask_uri(resolve_uri(uri))}")
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{ROLE_TAG}` = 'study' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        raise StudyError(f"experiment {experiment!r} has no finished study")
    return runs[0].info.run_id


class Found(NamedTuple):
    """A study's parent run as the lifecycle needs it: no MLflow object leaves this package."""

    run_id: str
    config_hash: str | None
    params: dict


def find_resumable(uri: str, experiment: str, name: str, ident_hash: str | None = None):
    """The latest parent run of the study called ``name`` in ``experiment`` (any status), with
    settings hash ``ident_hash`` when given, as :class:`Found`; or None: what
    ``study.resume=true`` attaches to."""
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=study_filter(name, ident_hash),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    from study.tracking._layout import HASH_TAG

    return Found(runs[0].info.run_id, runs[0].data.tags.get(HASH_TAG), dict(runs[0].data.params))


def seeds_report(uri: str, run_id: str, record) -> str:
    """One line: how many seeds a study has, logged by how many processes, and which of the
    seeds its latest process asked for (the parent's ``study.seeds`` tag) are missing."""
    seeds = sorted(r.seed for r in record.runs)
    processes = {r.process for r in record.runs + record.resamples if r.process}
    line = f"Study {run_id}: {len(seeds)} finished seeds"
    if record.resamples:
        line += f" and {len(record.resamples)} resample networks"
    if processes:
        line += f", logged by {len(processes)} process{'es' * (len(processes) != 1)}"
    asked = _client(uri).get_run(run_id).data.tags.get(SEEDS_TAG)
    if asked:
        first, n = (int(x) for x in asked.split(":"))
        missing = sorted(set(range(first, first + n)) - set(seeds))
        shown = ", ".join(map(str, missing[:20])) + (", ..." if len(missing) > 20 else "")
        line += (
            f"; missing {len(missing)} of seeds {first}-{first + n - 1}: {shown}"
            if missing
            else f"; none missing of seeds {first}-{first + n - 1}"
        )
    return line + "."


class _Bundled(NamedTuple):
    run_id: str
    record: RunRecord


def load_study(uri: str, run_id: str, *, known=()) -> StudyRecord:
    """Read a study back from MLflow alone: its layout, and every finished child's numbers.

    The parent's :data:`~study.tracking.BUNDLE` (every seed's arrays in one file, written when
    the study's training ends) gives the numbers of the children it lists. Any other finished
    child (added later, by another process) is found with one search that leaves the bundled
    ones out, and read from its own metrics and artifacts. So a study of N seeds costs a few
    requests, not 2N downloads. Nothing comes from the memory of the process that trained the
    study: this works for any study in any store, whichever processes or machines ran its seeds.
    ``known``: records of this study already in memory (with their ``run_id``), not read again.
    (A child deleted after its bundle was written is still read from the bundle.)
    """
    client = _client(uri)
    parent = client.get_run(run_id)
    with tempfile.TemporaryDirectory(prefix="study-read-") as tmp:
        meta = _read_meta(client, run_id, tmp, running=parent.info.status == "RUNNING")
        notes = []
        try:
            bundled = _read_bundle(client, run_id, meta, tmp)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:  # truncated
            notes.append(
                f"{BUNDLE} on the parent is damaged ({type(err).__name__}: {err}); every "
                "seed was read from its own child run"
            )
            bundled = []
        ids = {b.run_id for b in bundled}
        extra = [r for r in known if r.run_id and r.run_id not in ids]  # already in memory
        others = _finished_children(
            client,
            parent.info.experiment_id,
            run_id,
            exclude=sorted(ids | {r.run_id for r in extra}),
        )
        runs = (
            [b.record for b in bundled]
            + extra
            + [_read_child(client, c, meta, tmp) for c in others]
        )
    runs, dropped = once_per_seed(runs)
    if dropped:
        notes.append(
            f"{dropped} more FINISHED child run(s) of seeds already counted were left "
            "out: each seed counts once (the child with the smallest run id)"
        )
    seeds, resamples = split_runs(runs)  # the seeds' statistics never see a resample network
    return StudyRecord(
        meta=meta,
        runs=seeds,
        run_id=run_id,
        resamples=resamples,
        experiment_id=parent.info.experiment_id,
        notes=notes,
    )


def once_per_seed(runs) -> tuple[list[RunRecord], int]:
    """One record per seed, sorted by seed: of several (two processes trained the same seed), the
    one whose child run id is smallest, a rule that does not depend on who reads or when.
    Returns the records and how many were left out."""
    best: dict[int, RunRecord] = {}
    for run in runs:
        kept = best.get(run.seed)
        if kept is None or (run.run_id or "") < (kept.run_id or ""):
            best[run.seed] = run
    return [best[s] for s in sorted(best)], len(runs) - len(best)


def _finished_children(client, experiment_id: str, run_id: str, *, exclude=()) -> list:
    """The FINISHED child runs of ``run_id``, less those whose ids are in ``exclude``."""
    return _children(client, experiment_id, run_id, status="FINISHED", exclude=exclude)


def _children(client, experiment_id: str, run_id: str, *, status: str, exclude=()) -> list:
    """The child runs of ``run_id`` with ``status``, less those whose ids are in ``exclude``.

    No filter grows with ``exclude``: MLflow parses a filter into at most 10,000 tokens (about
    3,300 run ids in one ``NOT IN``), so a long list is split by run id prefix
    (:func:`_by_prefix`), each query leaving out at most :data:`_IDS_PER_QUERY` ids. Every
    query is paged."""
    query = f"tags.`{PARENT_TAG}` = '{run_id}' and attributes.status = '{status}'"
    skip, children = set(map(str, exclude)), {}
    for prefix, ids in _by_prefix(sorted(skip), _IDS_PER_QUERY):
        where = query + (f" and attributes.run_id LIKE '{prefix}%'" if prefix else "")
        if ids:
            where += f" and attributes.run_id NOT IN ({', '.join(repr(i) for i in ids)})"
        token = None
        while True:
            page = client.search_runs(
                [experiment_id], filter_string=where, max_results=1000, page_token=token
            )
            children.update((c.info.run_id, c) for c in page if c.info.run_id not in skip)
            token = page.token
            if not token:
                break
    return list(children.values())


_IDS_PER_QUERY = 2000  # ids one filter leaves out: 6,000 of the 10,000 tokens MLflow parses
_HEX = "0123456789abcdef"


def _by_prefix(ids: list[str], limit: int, prefix: str = ""):
    """Yield ``(prefix, the ids with it)``: the prefixes cover every run id (MLflow's and ours
    are 32 lowercase hex digits), each id under one of them, at most ``limit`` ids each. The
    empty prefix when ``ids`` is short enough, else split by the next hex digit, recursively:
    about 16 queries per ``limit`` ids, plus 15 for each digit that all ids of a group share."""
    if len(ids) <= limit or len(prefix) >= 32:
        yield prefix, ids
        return
    at = len(prefix)
    for digit in _HEX:  # an id that is not lowercase hex falls under none: it was left out
        yield from _by_prefix(
            [i for i in ids if len(i) > at and i[at] == digit], limit, prefix + digit
        )


def copy_tables(uri: str, run_id: str, folder: Path, *, besides=()) -> list[Path]:
    """The CSV tables on a study's parent run that are not in ``besides`` (those a reader
    recomputes), downloaded into ``folder``: what only training could make again, such as the
    retraining tables of ``validate.retrain``."""
    client = _client(uri)
    names = [
        a.path
        for a in client.list_artifacts(run_id)
        if a.path.endswith(".csv") and not a.is_dir and a.path not in set(besides)
    ]
    return [Path(client.download_artifacts(run_id, name, str(folder))) for name in names]


def load_null(uri: str, run_id: str) -> tuple[dict, dict] | None:
    """The randomisation test's null values of a study (:data:`NULL_BUNDLE` on its parent run)
    as the arrays stored (see :meth:`study.analysis.randomisation.NullSet.from_arrays`), and the
    test's settings stored with them (``permute``, ``init``, ``tested``, ``alternative``, ``alpha``,
    ``chance``, ``seed``); None when the study ran no randomisation test."""
    client = _client(uri)
    if NULL_BUNDLE not in {a.path for a in client.list_artifacts(run_id)}:
        return None
    with tempfile.TemporaryDirectory(prefix="study-read-") as tmp:
        with np.load(client.download_artifacts(run_id, NULL_BUNDLE, tmp)) as z:
            arrays = {key: z[key] for key in z.files}
    settings = {
        k.removeprefix("extra/"): v.item() if v.ndim == 0 else v
        for k, v in arrays.items()
        if k.startswith("extra/")
    }
    return {k: v for k, v in arrays.items() if not k.startswith("extra/")}, settings


def _read_meta(client, run_id: str, tmp: str, *, running: bool = False) -> StudyMeta:
    """The parent's ``study.json``. A parent another process has just created (a shard that
    attached to it at once) may not have it yet: wait for it a few seconds."""
    for _ in range(40 if running else 1):
        if "study.json" in {a.path for a in client.list_artifacts(run_id)}:
            path = client.download_artifacts(run_id, "study.json", tmp)
            return StudyMeta.from_dict(json.loads(Path(path).read_text()))
        time.sleep(0.25)
    raise StudyError(
        f"run {run_id} has no study.json: it was not made by study-run, or the "
        "process creating it died"
    )


def _read_bundle(client, run_id: str, meta: StudyMeta, tmp: str) -> list[_Bundled]:
    """The runs in the parent's :data:`BUNDLE`, each with its child's run id; none if it has no
    bundle."""
    if BUNDLE not in {a.path for a in client.list_artifacts(run_id)}:
        return []
    n_layers = len(meta.layer_sizes) - 1
    with np.load(client.download_artifacts(run_id, BUNDLE, tmp)) as z:
        b = {key: z[key] for key in z.files}
    out = []
    for i, cid in enumerate(b["run_id"]):
        out.append(
            _Bundled(
                str(cid),
                RunRecord(
                    run_id=str(cid) or None,
                    process=str(b["process"][i]) or None if "process" in b else None,
                    seed=int(b["seed"][i]),
                    train_score=float(b["train_score"][i]),
                    test_score=float(b["test_score"][i]),
                    n_iter=int(b["n_iter"][i]),
                    converged=bool(b["converged"][i]),
                    coefs=[b[f"coef_{layer}"][i] for layer in range(n_layers)],
                    intercepts=[b[f"intercept_{layer}"][i] for layer in range(n_layers)],
                    importances={
                        name: {
                            k: b[f"{name}/{k}"][i]
                            for k in layout.measures + layout.extras
                            if f"{name}/{k}" in b
                        }  # an array the bundle lacks is left out
                        for name, layout in meta.methods.items()
                    },
                    timings={
                        "fit": float(b["fit_seconds"][i]),
                        "importance": float(b["importance_seconds"][i]),
                    },
                ),
            )
        )
    return out


def _read_child(client, child, meta: StudyMeta, tmp: str) -> RunRecord:
    """One child's numbers from its own metrics and its two artifacts."""
    n_layers = len(meta.layer_sizes) - 1
    m = child.data.metrics
    folder = Path(tmp) / child.info.run_id
    folder.mkdir()
    with np.load(client.download_artifacts(child.info.run_id, "weights.npz", str(folder))) as w:
        coefs = [w[f"coef_{i}"] for i in range(n_layers)]
        intercepts = [w[f"intercept_{i}"] for i in range(n_layers)]
    path = client.download_artifacts(child.info.run_id, "importances.npz", str(folder))
    with np.load(path) as imp:
        values = {
            name: {k: imp[f"{name}/{k}"] for k in layout.measures + layout.extras}
            for name, layout in meta.methods.items()
        }
    return RunRecord(
        run_id=child.info.run_id,
        process=child.data.tags.get(PROCESS_TAG),
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
