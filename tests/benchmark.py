"""Benchmarks: prints timings and ratios measured in one run. Not collected by pytest.

    python tests/benchmark.py            # about a minute on 2 cores

1. MLflow: one child run's importance metrics in one ``log_batch`` vs one ``log_metric`` per value.
2. Seeds in parallel: the default study's 30 runs with n_jobs=1 vs n_jobs=2 (no MLflow).
3. Per-run phases of the default study: fitting, each importance method.
4. Start-up: importing ``study`` (and its science) vs importing MLflow.
5. Analysis and charts of the default study.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_AGENT_HINT", "1")


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def bench_mlflow(record, meta) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from study.tracking import Tracker, _importance_keys

    keys = list(_importance_keys(meta))
    run = record.runs[0]
    values = [(key, float(run.importances[m][meta.methods[m].primary][i, c])) for m, c, i, key in keys]
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        tracker = Tracker(uri, "bench")
        client = MlflowClient(uri)
        rid = client.create_run(tracker.experiment_id).info.run_id
        t_single, _ = _timed(lambda: [client.log_metric(rid, k, v) for k, v in values])
        rid = client.create_run(tracker.experiment_id).info.run_id
        now = int(time.time() * 1000)
        t_batch, _ = _timed(client.log_batch, rid, metrics=[Metric(k, v, now, 0) for k, v in values])
        tracker.run_id = client.create_run(tracker.experiment_id).info.run_id
        tracker.meta, tracker._keys = meta, keys
        t_child, _ = _timed(tracker.log_run, run)
    print(f"MLflow, {len(values)} importance metrics of one run:")
    print(f"  one log_metric per value {t_single:.3f} s, one log_batch {t_batch:.3f} s: "
          f"batch is {t_single / t_batch:.1f}x faster")  # fmt: skip
    print(f"  a whole child run (create, log_batch, 2 artifacts, terminate): {t_child:.3f} s")


def main() -> None:
    import numpy as np

    from study import aggregate, config, importance, plots
    from study.datasets import load_dataset
    from study.pipeline import _meta
    from study.record import StudyRecord
    from study.runner import Plan, run_many, run_one, seeds_for
    from study.settings import Settings

    settings = Settings.from_config(config.compose())
    ds = load_dataset("wine")
    plan = Plan(ds, settings.model, settings.methods, settings.method_options, settings.test_size,
                settings.seed)  # fmt: skip
    seeds = seeds_for(0, settings.n_runs)
    run_one(plan, 0)  # warm caches and imports
    t1, runs = _timed(lambda: list(run_many(plan, seeds, n_jobs=1)))
    t_cold, _ = _timed(lambda: list(run_many(plan, seeds, n_jobs=2)))  # starts the workers
    t_warm, _ = _timed(lambda: list(run_many(plan, seeds, n_jobs=2)))  # reuses them
    print(f"Default study ({settings.n_runs} runs, wine, 13-8-3), training + importance, no MLflow:")
    print(f"  n_jobs=1 {t1:.1f} s; n_jobs=2 {t_cold:.1f} s with worker start-up "
          f"({t1 / t_cold:.2f}x), {t_warm:.1f} s with warm workers ({t1 / t_warm:.2f}x); "
          f"{os.cpu_count()} cores")  # fmt: skip
    fit = np.mean([r.timings["fit"] for r in runs])
    imp = np.mean([r.timings["importance"] for r in runs])
    print(f"  per run: fit {fit:.3f} s, all importance methods {imp:.3f} s")
    from study.datasets import split

    data = split(ds, test_size=0.25, seed=0)
    from study import models

    m = models.make_model("classification", settings.model, seed=0)
    models.fit(m, data.X_train, data.y_train)
    net = importance.Network(m.coefs_, m.intercepts_, m, data.X_test, data.y_test, 0)
    for name in settings.methods:
        t, _ = _timed(lambda: [importance.compute([name], net, options=settings.method_options)
                               for _ in range(10)])  # fmt: skip
        print(f"    {name:<20} {t / 10 * 1000:8.2f} ms")

    record = StudyRecord(_meta(settings, ds), sorted(runs, key=lambda r: r.seed))
    bench_mlflow(record, record.meta)

    code = "import time; t=time.perf_counter(); import {}; print(time.perf_counter()-t)"
    for what in ("study", "study.importance, study.stability, study.agreement", "mlflow"):
        out = subprocess.run([sys.executable, "-c", code.format(what)], capture_output=True,
                             text=True, check=True)  # fmt: skip
        print(f"Import {what}: {float(out.stdout):.2f} s")

    t_an, analysis = _timed(aggregate.analyse, record, top_k=3)
    with tempfile.TemporaryDirectory() as tmp:
        t_ch, files = _timed(plots.draw_all, analysis, Path(tmp))
    print(f"Analysis of the default study {t_an:.1f} s; {len(files)} charts {t_ch:.1f} s")


if __name__ == "__main__":
    main()
