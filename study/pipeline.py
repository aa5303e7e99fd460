"""One study from a config: dataset -> runs -> MLflow -> analysis -> charts. Called by ``study-run``.

:func:`run` takes the composed config as a plain mapping, so tests and notebooks call it directly
(see :func:`study.config.compose`). Everything the user can get wrong is checked before the parent
MLflow run is created; if anything fails after that, the parent run ends FAILED (or KILLED on
Ctrl-C) rather than being left RUNNING.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from . import aggregate, datasets, identity, models, runner, tracking
from .errors import SeedsFailed, StudyError
from .record import FailedRun, StudyMeta, StudyRecord, method_layouts
from .settings import Settings

__all__ = ["run", "Outcome", "analyse_and_log"]


@dataclass
class Outcome:
    """What a finished study hands back: where it is, and everything it computed."""

    run_id: str
    uri: str
    experiment: str
    experiment_id: str
    output_dir: Path
    record: StudyRecord
    analysis: aggregate.Analysis
    charts: list[Path]
    timings: dict[str, float] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)
    failed: list = field(default_factory=list)  # FailedRun of every seed that raised


def _check_model(settings: Settings, ds: datasets.Dataset, plan: runner.Plan) -> None:
    """Fail before any MLflow run exists if the model config is wrong (a one-epoch trial fit on
    the training split: a subset could hold a single class and fail for the wrong reason)."""
    import warnings

    data = datasets.split(ds, test_size=plan.test_size, seed=settings.seed)
    models.backend(settings.model)  # an unknown backend is a user error
    model = models.make_model(ds.task, settings.model, seed=settings.seed)
    model.set_params(max_iter=1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data.X_train, data.y_train)
    except (ValueError, TypeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StudyError(f"model: {first}") from None


def _resumable(settings: Settings, meta: StudyMeta, ident: Mapping[str, str]):
    """The earlier study ``study.resume=true`` adds to (None: there is none yet), after checking
    that it was run with the same settings (:mod:`study.identity`)."""
    earlier = tracking.find_resumable(settings.tracking_uri, settings.experiment, meta.name)
    if earlier is None:
        return None
    if earlier.data.tags.get(tracking.HASH_TAG) != identity.config_hash(ident):
        diff = identity.differences(ident, earlier.data.params)
        raise StudyError(
            f"study.resume: study {meta.name!r} (run {earlier.info.run_id}) was run with other "
            f"settings ({'; '.join(diff[:6]) or 'its config hash differs'}"
            f"{'; ...' if len(diff) > 6 else ''}); set them back, or choose another study.name"
        )
    return earlier


def _failures_line(failed, n_runs: int, *, stopped: bool = False, limit: int = 0) -> str:
    first = min(failed, key=lambda f: f.seed)
    n = f"{len(failed)} seed{'s' * (len(failed) != 1)}"
    head = (f"{n} failed, more than study.max_failures={limit}: the study stopped" if stopped
            else f"{len(failed)} of {n_runs} seeds failed")  # fmt: skip
    return f"{head}; the first: seed {first.seed}: {first.error}"


def _check_lek(settings: Settings, ds: datasets.Dataset) -> None:
    """Lek's options, tried on the data before any run exists (a bad one would otherwise fail in
    every worker, with a traceback)."""
    if "lek" not in settings.methods:
        return
    from .importance import lek_groups

    opts = dict(settings.method_options.get("lek") or {})
    unknown = sorted(set(opts) - {"steps", "group_vals", "kmeans_seed"})
    if unknown:
        raise StudyError(f"unknown importance.options.lek option(s) {', '.join(unknown)}; valid: "
                         "steps, group_vals, kmeans_seed")  # fmt: skip
    steps = opts.get("steps", 100)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise StudyError(f"importance.options.lek.steps must be an integer of at least 2; got {steps!r}")
    group_vals = opts.get("group_vals", (0, 0.2, 0.4, 0.6, 0.8, 1))
    try:
        lek_groups(ds.X[: max(20, int(group_vals) if isinstance(group_vals, int) else 0)],
                   group_vals if isinstance(group_vals, int) else list(group_vals))  # fmt: skip
    except (ValueError, TypeError) as err:
        raise StudyError(f"importance.options.lek.group_vals: {err}") from None


def _meta(settings: Settings, ds: datasets.Dataset) -> StudyMeta:
    sizes = tuple(settings.model.get("hidden_layer_sizes") or (100,))
    sizes = (sizes,) if isinstance(sizes, int) else sizes
    outputs = ds.output_names
    return StudyMeta(
        name=settings.name or f"{ds.name}-{settings.model.get('name', 'mlp')}",
        dataset=ds.name,
        task=ds.task,
        feature_names=ds.feature_names,
        output_names=outputs,
        layer_sizes=(ds.n_features, *(int(s) for s in sizes), len(outputs)),
        methods=method_layouts(settings.methods, task=ds.task, output_names=outputs),
        score_name="accuracy" if ds.task == datasets.CLASSIFICATION else "R²",
        truth=None if ds.truth is None else tuple(float(t) for t in ds.truth),
        top_k=settings.top_k,
        n_bootstrap=settings.n_bootstrap,
        seed=settings.seed,
    )


def _output_dir(settings: Settings) -> Path:
    if settings.output_dir is not None:
        out = settings.output_dir
    else:
        out = settings.root / "studies" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _progress(settings: Settings, meta: StudyMeta, total: int):
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=f"training {meta.name}",
        unit="run",
        disable=not settings.progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def analyse_and_log(
    tracker: tracking.Tracker | None, record: StudyRecord, output_dir: Path, *,
    top_k: int, n_bootstrap: int = 1000, seed: int = 0, charts: bool = True,
):  # fmt: skip
    """Analyse a study, draw its charts, write both to ``output_dir`` and log them to MLflow.

    The one code path behind ``study-run`` (at the end of a study) and ``study-aggregate``.
    """
    from . import plots

    analysis = aggregate.analyse(record, top_k=top_k, n_bootstrap=n_bootstrap, seed=seed)
    tables = write_tables(analysis.tables(), output_dir)
    charts = plots.draw_all(analysis, output_dir) if charts else []
    if tracker is not None:
        tracker.log_results(metrics=analysis.metrics(), tables=tables, charts=charts)
    return analysis, charts


def randomisation_and_log(tracker: tracking.Tracker | None, record: StudyRecord, null_runs,
                          test: Mapping, output_dir: Path, *, charts: bool = True):  # fmt: skip
    """Olden & Jackson's test of a study against its null networks: tables, metrics and charts,
    written to ``output_dir`` and logged. ``test``: ``alternative``, ``alpha`` and ``chance`` (the
    score of a network that learned nothing). The one code path behind ``study-run`` and
    ``study-aggregate``; returns the :class:`~study.randomisation.RandomisationResult`."""
    from . import plots, randomisation

    result = randomisation.analyse(record, null_runs, alternative=str(test["alternative"]),
                                   alpha=float(test["alpha"]), chance=test.get("chance"))  # fmt: skip
    tables = write_tables(result.tables, output_dir)
    paths = plots.draw_randomisation(result, record, output_dir, alpha=float(test["alpha"])) \
        if charts else []  # fmt: skip
    if tracker is not None:
        tracker.log_results(metrics=result.metrics, tables=tables, charts=paths)
    return result, paths


def _train_null(settings: Settings, plan: runner.Plan, meta: StudyMeta) -> list:
    """The randomisation test's B null networks, trained like the study's seeds."""
    from tqdm import tqdm

    from . import randomisation
    from .importance import get_method

    seeds = randomisation.null_seeds(settings.randomisation["seed"],
                                     settings.randomisation["n_permutations"])  # fmt: skip
    null = []
    with tqdm(total=len(seeds), desc=f"null networks {meta.name}", unit="run", file=sys.stderr,
              disable=not settings.progress, dynamic_ncols=True) as bar:  # fmt: skip
        for rec in runner.run_many(randomisation.null_plan(plan), seeds, n_jobs=settings.n_jobs):
            runner.check_stop()
            # the test uses measures and weights; curves (Lek's) would be B x 94 kB for nothing
            rec.importances = {m: {k: v for k, v in values.items() if k in get_method(m).measures}
                               for m, values in rec.importances.items()}  # fmt: skip
            null.append(rec)
            bar.update()
    null.sort(key=lambda r: r.seed)
    return null


def keep_report(text: str, output_dir: Path, uri: str, run_id: str) -> Path:
    """The printed report as ``report.txt`` in the study's folder and on its parent run."""
    path = Path(output_dir) / "report.txt"
    path.write_text(text + "\n")
    tracking.Tracker(uri, run_id=run_id).client.log_artifact(run_id, str(path))
    return path


def write_tables(tables: Mapping, output_dir: Path) -> list[Path]:
    """Write ``{file name: DataFrame}`` as CSV files in ``output_dir``; return their paths."""
    paths = []
    for name, table in tables.items():
        table.to_csv(output_dir / name, index=False)
        paths.append(output_dir / name)
    return paths


def run(cfg: Mapping, *, config_yaml: str | None = None) -> Outcome:
    """Run a whole study from a composed config (a plain nested mapping).

    Raises StudyError for anything the user can fix; the caller decides how to report it.
    """
    t_start = time.perf_counter()
    settings = Settings.from_config(cfg)
    ds = datasets.load_dataset(settings.dataset["name"], **{
        k: v for k, v in settings.dataset.items() if k != "name"
    })  # fmt: skip
    plan = runner.Plan(
        dataset=ds,
        model=settings.model,
        methods=settings.methods,
        method_options=settings.method_options,
        test_size=settings.test_size,
        split_seed=None if settings.resplit else settings.seed,
    )
    if settings.validate.get("retrain") and ds.n_features < 2:
        raise StudyError("validate.retrain needs at least 2 variables; this dataset has one")
    _check_model(settings, ds, plan)
    _check_lek(settings, ds)
    if settings.top_k > ds.n_features:  # equal is clipped to n - 1 with a note (the default 3)
        raise StudyError(f"stability.top_k={settings.top_k} is more than the {ds.n_features} "
                         f"variables of {ds.name}")  # fmt: skip
    n_repeats = (settings.method_options.get("permutation") or {}).get("n_repeats", 5)
    if "permutation" in settings.methods and (isinstance(n_repeats, bool) or not isinstance(
            n_repeats, int) or n_repeats < 1):  # fmt: skip
        raise StudyError(f"importance.options.permutation.n_repeats must be a positive integer; "
                         f"got {n_repeats!r}")  # fmt: skip
    meta = _meta(settings, ds)
    output_dir = _output_dir(settings)
    if config_yaml is None:
        import yaml

        config_yaml = yaml.safe_dump(dict(cfg), sort_keys=False)

    t_setup = time.perf_counter()
    tracker = tracking.Tracker(settings.tracking_uri, settings.experiment)
    ident = identity.identity(cfg)
    # shards and resumes attach to the latest study of this name (and settings), if any
    shared = settings.resume or settings.n_shards > 1
    if shared:
        _resumable(settings, meta, ident)  # other settings: refused before anything is written
    timings = {"log_seconds": 0.0}
    try:
        # Presets name the study after the question; the dataset tells their sweeps apart.
        dataset_part = "" if ds.name in meta.name else f" · {ds.name}"
        run_name = f"{meta.name}{dataset_part} · {settings.n_runs} runs"
        previous = []
        # find-or-create under a lock: shards started together on one machine share one parent
        lock = tracking.study_lock(tracker.uri, settings.experiment, meta.name) if shared \
            else contextlib.nullcontext()  # fmt: skip
        with lock:
            earlier = _resumable(settings, meta, ident) if shared else None
            if earlier is None:
                tracker.start(meta, config=cfg, config_yaml=config_yaml, dataset=ds,
                              run_name=run_name, tags={
                                  tracking.NAME_TAG: meta.name,
                                  tracking.HASH_TAG: identity.config_hash(ident),
                                  tracking.SEEDS_TAG: f"{settings.seed}:{settings.n_runs}"})  # fmt: skip
            else:  # the seeds this study already has are not trained again
                tracker.resume(earlier.info.run_id, meta, run_name=run_name)
                tracker.client.set_tag(tracker.run_id, tracking.SEEDS_TAG,
                                       f"{settings.seed}:{settings.n_runs}")  # fmt: skip
        if earlier is not None:
            previous = tracking.load_study(tracker.uri, tracker.run_id).runs
        done = {r.seed for r in previous}
        t_train = time.perf_counter()
        scores, trained, failed = [], [], []
        # Children are written by a background thread while the next seeds train: the training
        # loop only queues each record (microseconds). A writer failure surfaces at the next
        # submit or at close, and the parent then ends FAILED like any other failure.
        seeds = [s for s in runner.seeds_for(settings.seed, settings.n_runs) if s not in done
                 and (s - settings.seed) % settings.n_shards == settings.shard]  # fmt: skip
        with _progress(settings, meta, len(seeds)) as bar, tracker.writer() as writer:
            for rec in runner.run_many(plan, seeds, n_jobs=settings.n_jobs, keep_going=True):
                runner.check_stop()  # an interrupted fit returns early: never log that seed
                t0 = time.perf_counter()
                writer.submit(rec)
                timings["log_seconds"] += time.perf_counter() - t0
                if isinstance(rec, FailedRun):  # logged as a FAILED child; the others go on
                    failed.append(rec)
                    if len(failed) > settings.max_failures:
                        writer.close()
                        raise SeedsFailed(_failures_line(failed, len(failed), stopped=True,
                                                         limit=settings.max_failures))  # fmt: skip
                    bar.update()
                    continue
                trained.append(rec)
                scores.append(rec.test_score)
                bar.set_postfix_str(
                    f"mean test {meta.score_name} {runner.nan_safe_mean(scores):.3f}"
                )
                bar.update()
            t_wait = time.perf_counter()
            run_ids = writer.close()
            if failed and not trained and not previous:
                raise SeedsFailed(_failures_line(failed, settings.n_runs))
            timings["writer_wait_seconds"] = time.perf_counter() - t_wait
            timings["writer_busy_seconds"] = writer.busy_seconds
        for rec in trained:
            rec.run_id = run_ids[rec.seed]
        everything = sorted(previous + trained, key=lambda r: r.seed)
        if shared:  # and whatever other shards finished meanwhile
            everything = tracking.load_study(tracker.uri, tracker.run_id, known=everything).runs
        if trained or not previous:
            tracker.log_bundle(everything, [r.run_id for r in everything])
        null_runs, test = [], dict(settings.randomisation)
        if test.get("n_permutations"):
            from . import randomisation

            t_null = time.perf_counter()
            null_runs = _train_null(settings, plan, meta)
            timings["null_seconds"] = time.perf_counter() - t_null
            timings["null_runs"] = len(null_runs)
            timings["null_fit_seconds_per_run"] = float(np.nanmean(
                [r.timings.get("fit", np.nan) for r in null_runs]))
            y_train = datasets.split(ds, test_size=plan.test_size, seed=settings.seed).y_train
            test["chance"] = randomisation.chance_score(y_train, ds.task)
            tracker.log_bundle(null_runs, [""] * len(null_runs), name=tracking.NULL_BUNDLE,
                               extra={k: test[k] for k in ("alternative", "alpha", "chance", "seed")})
        t_analyse = time.perf_counter()
        record = tracking.load_study(tracker.uri, tracker.run_id)
        analysis, charts = analyse_and_log(
            tracker, record, output_dir,
            top_k=settings.top_k, n_bootstrap=settings.n_bootstrap, seed=settings.seed,
            charts=settings.charts,
        )  # fmt: skip
        outcome = Outcome(
            run_id=tracker.run_id,
            uri=tracker.uri,
            experiment=settings.experiment,
            experiment_id=tracker.experiment_id,
            output_dir=output_dir,
            record=record,
            analysis=analysis,
            charts=charts,
        )
        from . import validation

        checks = validation.run_checks(record, settings, plan, output_dir)
        tracker.log_results(
            metrics=checks.metrics, tables=write_tables(checks.tables, output_dir),
            charts=checks.charts, series=checks.series,
        )  # fmt: skip
        outcome.charts += checks.charts
        outcome.extras = {"summary": checks.summary, "tables": checks.tables}
        outcome.failed = sorted(failed, key=lambda f: f.seed)
        note = models.backend_note(ds.task, settings.model)
        if note:
            outcome.extras["summary"].insert(0, [note])
        if failed:
            outcome.extras["summary"].insert(0, [
                _failures_line(outcome.failed, settings.n_runs),
                "  Each failed seed is a FAILED child run with its traceback in error.txt; the "
                "tables use the others.",
            ])  # fmt: skip
        if null_runs:
            result, paths = randomisation_and_log(tracker, record, null_runs, test, output_dir,
                                                  charts=settings.charts)  # fmt: skip
            outcome.charts += paths
            outcome.extras["summary"].append(result.summary)
            outcome.extras["tables"].update(result.tables)
            outcome.extras["randomisation"] = result
        runner.check_stop()
        tracker.finish("FINISHED")
    except KeyboardInterrupt:
        tracker.finish("KILLED")
        raise
    except BaseException:
        tracker.finish("FAILED")
        raise
    t_end = time.perf_counter()
    fit = np.array([r.timings.get("fit", np.nan) for r in record.runs])
    imp = np.array([r.timings.get("importance", np.nan) for r in record.runs])
    outcome.timings = {
        "total_seconds": t_end - t_start,
        "setup_seconds": t_setup - t_start,
        "training_seconds": t_analyse - t_train,
        "analysis_seconds": t_end - t_analyse,
        "fit_seconds_per_run": float(np.nanmean(fit)),
        "importance_seconds_per_run": float(np.nanmean(imp)),
        "log_seconds_per_run": timings["log_seconds"] / max(len(record.runs), 1),
        "writer_wait_seconds": timings["writer_wait_seconds"],
        "writer_busy_seconds": timings["writer_busy_seconds"],
        "null_seconds": timings.get("null_seconds", 0.0),
        "null_runs": timings.get("null_runs", 0),
        "null_fit_seconds_per_run": timings.get("null_fit_seconds_per_run", np.nan),
    }
    return outcome
