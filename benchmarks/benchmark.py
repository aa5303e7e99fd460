"""Benchmarks: timings and ratios measured in one run. Not collected by pytest.

    python benchmarks/benchmark.py                      # every section: about 30 minutes, 2 cores
    python benchmarks/benchmark.py --seeds 30,300       # shorter
    python benchmarks/benchmark.py --before /path/old   # also time an older checkout's study-run
    python benchmarks/benchmark.py --no-backends        # sections 0-3 only
    python benchmarks/benchmark.py --only-end-to-end    # section 0: the speed targets, 6 minutes

Every study is the default one (wine, 13-8-3, six methods), run as a user runs it: the real
``study-run`` and ``study-aggregate`` commands in fresh processes, into a SQLite store created
beforehand (creating a store costs a few seconds once; it is timed on its own line).

0. End to end: the import floor, the bare loop of 100 seeds, the default study, 300 (no charts)
   and 1000 seeds (charts) with each backend (wall, training time and networks per second from
   the study's report, the writer's time after training, peak memory), ``study-aggregate`` of
   the 300- and 1000-seed studies, the randomisation preset; then the ratios of the speed targets.
1. The bare loop (one process: scikit-learn fits and scores, ``permutation_importance`` and the
   five other methods, no framework) against ``study-run`` at each number of seeds: wall times
   and their ratio. The 30-seed study runs without charts, the others with.
2. MLflow: time the training loop spends per child (queueing it for the background writer) and
   the writer's own time per child; ``study-aggregate`` of each study (with charts).
3. Analysis steps and charts of the largest study, read back from MLflow; permutation importance
   per network, ours vs scikit-learn's.
4. Backends (``--backends``, on by default): networks per second trained by scikit-learn one at a
   time and by the batched backend, in one process, at each number of seeds and for the 999 null
   networks of the randomisation preset, with the batched block's peak memory; how many of 200
   seeds match scikit-learn exactly and whether the others agree in distribution; then
   ``study-run`` with each backend (300 seeds, no charts; the randomisation preset at 2 seeds),
   then the whole randomisation preset (batched) with its null networks per second.
5. Calibration of the randomisation test's null designs (``--only-calibration``: this alone,
   about 9 minutes): for each design, the rate of p <= 0.05 under the global null (pure noise)
   and for noise variables alongside informative ones (the partial null), and the power for
   planted variables by strength, over two datasets of each kind and three seeds; then the
   valid design at B = 99 with every null network and with the sequential rule (h = 5).
6. Coverage of the answer's intervals (``--only-coverage``: this alone, about 8 minutes):
   ``benchmarks/rank_coverage.py`` (its docstring says what each column is), at the default B and
   for regression at B = 10 and 40.
7. Realistic size (``--only-realistic``: this alone, about 4 minutes): a 2000-row, 30-variable,
   3-class table; plain scikit-learn fits against the batched backend on one core and the
   30-seed default study, as networks per second; where a minibatch step's microseconds go; the
   floor of the matrix products at this machine's measured rates; the randomisation preset on
   wine and on this table (3 tested seeds). ``benchmarks/sequential.py`` replays sequential
   rules on the wine preset's null; ``benchmarks/gpu.py`` is the GPU prototype.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_AGENT_HINT", "1")

BARE_LOOP = """
import sys, time
t0 = time.perf_counter()
from sklearn.inspection import permutation_importance
from study import config, datasets
from study.training import models
from study.importance import garson, garson_signed, olden, partial_derivatives, weight_sums
from study.config.settings import Settings
s = Settings.from_config(config.compose())
ds = datasets.load_dataset("wine")
d = datasets.split(ds, test_size=s.test_size, seed=0)
for seed in range(int(sys.argv[1])):
    m = models.make_model(ds.task, s.model, seed=seed)
    models.fit(m, d.X_train, d.y_train)
    m.score(d.X_train, d.y_train), m.score(d.X_test, d.y_test)
    permutation_importance(m, d.X_test, d.y_test, n_repeats=5, random_state=seed)
    garson(m.coefs_), garson_signed(m.coefs_), olden(m.coefs_), weight_sums(m.coefs_)
    partial_derivatives(m.coefs_, m.intercepts_, d.X_test, activation=m.activation,
                        out_activation=m.out_activation_)
"""


def _wall(cmd, **kwargs) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))} ... failed:\n{out.stderr[-3000:]}")
    return time.perf_counter() - t0, out.stdout


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _study_run(root: Path, n: int, *, before: Path | None = None) -> tuple[float, str]:
    args = [
        f"study.n_runs={n}",
        f"paths.root={root}",
        f"paths.output_dir={root / f'out{n}'}",
        "study.progress=false",
        *(["study.charts=false"] if n <= 30 else []),
    ]
    if before is None:
        return _wall([_bin("study-run"), *args])
    code = (
        f"import sys; sys.path.insert(0, {str(before)!r}); sys.argv = ['study-run'] + "
        f"{args!r}; from study.cli import run_main; run_main()"
    )
    return _wall([sys.executable, "-c", code])


def _parent_id(stdout: str) -> str:
    return re.search(r"Parent run: (\w+)", stdout).group(1)


def _logging_line(stdout: str) -> str:
    m = re.search(
        r"MLflow: ([\d.]+) ms per run on the training path; the background writer "
        r"took ([\d.]+) s",
        stdout,
    )
    return (
        f"{float(m.group(1)):.3f} ms per child on the training path, writer "
        f"{float(m.group(2)):.1f} s"
        if m
        else "(old version: logging on the training path)"
    )


def bench_studies(root: Path, seeds: list[int], before: Path | None) -> dict[int, str]:
    """Section 1 and the study-aggregate part of section 2; returns {n: parent run id}."""
    from study.tracking import Tracker

    t, _ = _timed(Tracker, f"sqlite:///{root / 'mlflow.db'}", "study")
    print(f"Creating the SQLite store (once per store): {t:.1f} s")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    parents, rows = {}, []
    for n in seeds:
        t_bare, _ = _wall([sys.executable, "-c", BARE_LOOP, str(n)])
        t_run, out = _study_run(root, n)
        parents[n] = _parent_id(out)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        row = [n, t_bare, t_run, _logging_line(out), peak]
        if before is not None:
            broot = root / "before"
            if not (broot / "mlflow.db").exists():
                Tracker(f"sqlite:///{broot / 'mlflow.db'}", "study")
            t_old, _ = _study_run(broot, n, before=before)
            row.append(t_old)
        rows.append(row)
        print(
            f"  {n:>5} seeds: bare loop {t_bare:6.1f} s | study-run {t_run:6.1f} s "
            f"({t_run / t_bare:.2f}x)"
            + (f" | before {row[5]:6.1f} s ({row[5] / t_bare:.2f}x)" if before is not None else "")
            + f" | {row[3]}; peak memory so far {peak:.0f} MB",
            flush=True,
        )
    for n, rid in parents.items():
        t_agg, _ = _wall(
            [
                _bin("study-aggregate"),
                "--run-id",
                rid,
                "--uri",
                uri,
                "--output",
                str(root / f"agg{n}"),
            ]
        )
        print(f"  study-aggregate of the {n}-seed study (with charts): {t_agg:.1f} s", flush=True)
    return parents


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def bench_analysis(uri: str, run_id: str) -> None:
    """Section 3: each analysis step and each chart of one study, read back from MLflow."""
    import matplotlib

    matplotlib.use("Agg")
    from study.analysis import aggregate
    from study.analysis import stability as stab
    from study.report import plots
    from study.tracking import load_study

    t_load, record = _timed(load_study, uri, run_id)
    n = len(record.runs)
    print(f"Analysis of the {n}-seed study: read back from MLflow {t_load:.2f} s")
    ranks = aggregate.primary_ranks(record)
    view = next(iter(ranks))
    values = record.values(view[0])[:, :, view[1]]
    steps = {
        "all ranks": lambda: aggregate.primary_ranks(record),
        "stability curve (one view)": lambda: stab.stability_curve(ranks[view]),
        "Spearman mean (one view)": lambda: stab.spearman_mean(ranks[view]),
        "bootstrap CI (one view)": lambda: stab.bootstrap_mean_ci(values, seed=0),
        "agreement table (all pairs)": lambda: aggregate.agreement_table(record, 3),
        "whole analysis": lambda: aggregate.analyse(record, top_k=3),
    }
    for name, step in steps.items():
        t, out = _timed(step)
        print(f"  {name:<30} {t:6.2f} s")
        if name == "whole analysis":
            analysis = out
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, draw in plots.CHARTS.items():
            t, _ = _timed(lambda d=draw, n=name: plots.save(d(analysis), Path(tmp) / n))
            total += t
            print(f"  chart {name:<24} {t:6.2f} s")
    print(f"  all {len(plots.CHARTS)} charts {total:.2f} s")


# ---------------------------------------------------------------------------------------------
# section 0: end to end, as a user runs it (the targets of the speed issue, measured in one run)

IMPORT_FLOOR = "import mlflow, sklearn.neural_network, matplotlib.pyplot"


def _measured(cmd) -> tuple[float, str, float]:
    """Wall seconds, stdout and peak memory (MB: the largest resident set of the process and
    of the children it waited for, its worker processes) of one command in a fresh process."""
    import threading

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    streams = {}
    readers = [
        threading.Thread(target=lambda k=k: streams.__setitem__(k, getattr(proc, k).read()))
        for k in ("stdout", "stderr")
    ]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own usage, unlike RUSAGE_CHILDREN
    wall = time.perf_counter() - t0
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd[:4]))} ... failed:\n{streams['stderr'][-3000:]}"
        )
    return wall, streams["stdout"], usage.ru_maxrss / 1024


def _time_line(out: str) -> dict:
    """What a study's report says of its time: training seconds and networks per second, the
    writer's time after training."""
    m = re.search(r"training ([\d.]+) s \((\d+) networks per second\)", out)
    w = re.search(r"the background writer took ([\d.]+) s, ([\d.]+) s of it after training", out)
    return {
        "training": float(m.group(1)) if m else float("nan"),
        "rate": int(m.group(2)) if m else 0,
        "writer_after": float(w.group(2)) if w else float("nan"),
    }


def bench_end_to_end(root: Path) -> None:
    """Section 0: the import floor, the default study, 300 and 1000 seeds with each backend,
    study-aggregate of the 1000-seed study, the bare scikit-learn loop of 100 seeds and the
    randomisation preset, each a fresh process into one SQLite store made beforehand; then the
    three ratios the speed targets are stated in."""
    from study.tracking import Tracker

    uri = f"sqlite:///{root / 'mlflow.db'}"
    Tracker(uri, "study")
    rows = {}
    floor, _, _ = _measured([sys.executable, "-c", IMPORT_FLOOR])
    print(f"Import floor ({IMPORT_FLOOR}): {floor:.1f} s", flush=True)
    bare, _, _ = _measured([sys.executable, "-c", BARE_LOOP, "100"])
    print(f"Bare scikit-learn loop, 100 seeds, six methods: {bare:.1f} s", flush=True)
    common = [f"paths.root={root}", "study.progress=false"]
    wall, out, peak = _measured([_bin("study-run"), *common, "study.name=e2e-default"])
    t = _time_line(out)
    print(
        f"Default study (30 seeds, charts): {wall:.1f} s wall, training {t['training']:.1f} s "
        f"({t['rate']} networks/s), writer after training {t['writer_after']:.1f} s, peak "
        f"{peak:.0f} MB",
        flush=True,
    )
    print("  seeds | charts | backend |  wall | training | networks/s | writer after | peak memory")
    for n, charts in ((300, False), (1000, True)):
        for backend in ("sklearn", "batched"):
            name = f"e2e-{backend}-{n}"
            wall, out, peak = _measured(
                [
                    _bin("study-run"),
                    *common,
                    f"study.n_runs={n}",
                    f"study.charts={str(charts).lower()}",
                    f"model.backend={backend}",
                    f"study.name={name}",
                ]
            )
            t = _time_line(out)
            rows[(n, backend)] = (wall, _parent_id(out))
            print(
                f"  {n:>5} | {'on' if charts else 'off':>6} | {backend:>7} | {wall:5.1f} | "
                f"{t['training']:6.1f} s | {t['rate']:>10} | {t['writer_after']:10.1f} s | "
                f"{peak:.0f} MB",
                flush=True,
            )
    aggregate = {}
    for n in (300, 1000):
        wall, _, _ = _measured(
            [
                _bin("study-aggregate"),
                "--run-id",
                rows[(n, "batched")][1],
                "--uri",
                uri,
                "--output",
                str(root / f"agg{n}"),
            ]
        )
        aggregate[n] = wall
        print(f"study-aggregate of the {n}-seed study (charts on): {wall:.1f} s", flush=True)
    wall, out, _ = _measured(
        [
            _bin("study-run"),
            *common,
            "experiment=randomisation_test",
            "study.name=e2e-randomisation",
        ]
    )
    line = next((ln for ln in out.splitlines() if ln.startswith("Null networks of")), "")
    print(
        f"Randomisation preset (30 seeds x 13 variables x 99, batched): {wall:.1f} s; {line}",
        flush=True,
    )
    default_1000 = rows[(1000, "batched")][0]
    print("Targets, this run:")
    print(
        f"  study-run study.n_runs=1000 (default, batched, charts) / bare loop of 100: "
        f"{default_1000:.1f} / {bare:.1f} s = {default_1000 / bare:.2f}x (target <= 1.5)"
    )
    print(
        f"  300 seeds, no charts, sklearn / batched: {rows[(300, 'sklearn')][0]:.1f} / "
        f"{rows[(300, 'batched')][0]:.1f} s = "
        f"{rows[(300, 'sklearn')][0] / rows[(300, 'batched')][0]:.2f}x (target >= 3)"
    )
    print(
        f"  study-aggregate of 1000 seeds - import floor: {aggregate[1000]:.1f} - {floor:.1f} = "
        f"{aggregate[1000] - floor:.1f} s (target <= 3)",
        flush=True,
    )


def bench_permutation() -> None:
    from sklearn.inspection import permutation_importance

    from study import config, datasets
    from study.config.settings import Settings
    from study.importance import permutation
    from study.training import models

    s = Settings.from_config(config.compose())
    ds = datasets.load_dataset("wine")
    d = datasets.split(ds, test_size=0.25, seed=0)
    m = models.make_model(ds.task, s.model, seed=0)
    models.fit(m, d.X_train, d.y_train)
    t_ours, _ = _timed(
        lambda: [permutation(m, d.X_test, d.y_test, n_repeats=5, seed=0) for _ in range(20)]
    )
    t_sk, _ = _timed(
        lambda: [
            permutation_importance(m, d.X_test, d.y_test, n_repeats=5, random_state=0)
            for _ in range(5)
        ]
    )
    print(
        f"Permutation importance per network (13 variables x 5 repeats): ours "
        f"{t_ours / 20 * 1000:.1f} ms, scikit-learn {t_sk / 5 * 1000:.1f} ms "
        f"({t_sk / 5 / (t_ours / 20):.0f}x)"
    )


def _fit_rate(backend: str, n: int, *, null: bool = False) -> tuple[float, list, float]:
    """Networks per second of one backend in this process (one BLAS thread), the fitted records'
    weights and the peak memory the batched block allocated (MB, numpy's via tracemalloc)."""
    import tracemalloc

    from threadpoolctl import threadpool_limits

    from study import config, datasets
    from study.config.settings import Settings
    from study.training import models, runner
    from study.training.plan import job_data, job_seed

    overrides = ["experiment=randomisation_test"] if null else []
    s = Settings.from_config(config.compose([*overrides, f"model.backend={backend}"]))
    ds = datasets.load_dataset(s.dataset["name"])
    plan = runner.Plan(ds, s.model, (), {}, s.test_size, s.seed)
    # the preset's null networks of one tested seed: each variable permuted, seed 0's start
    p = len(ds.feature_names)
    seeds = (
        [runner.Null(1000 + b, variable=b % p, init=0) for b in range(n)]
        if null
        else list(range(n))
    )
    with threadpool_limits(1):
        datas = [job_data(plan, seed) for seed in seeds]

        def train(trace: bool):
            fitted = [models.make_model(ds.task, s.model, seed=job_seed(seed)) for seed in seeds]
            if trace:  # numpy's allocations; slows Python code, so never while timing
                tracemalloc.start()
            t0 = time.perf_counter()
            if backend == "batched":
                for part in runner.blocks(plan, list(range(len(seeds))), 1):  # positions
                    models.fit_many(
                        [fitted[i] for i in part],
                        [datas[i].X_train for i in part],
                        [datas[i].y_train for i in part],
                    )
            else:
                for m, d in zip(fitted, datas):
                    models.fit(m, d.X_train, d.y_train)
            t = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else float("nan")
            tracemalloc.stop()
            return t, fitted, peak

        t, fitted, _ = train(False)
        peak = train(True)[2] if backend == "batched" else float("nan")
    return n / t, fitted, peak


def _agreement(sk, ours, X, y) -> str:
    """Seeds matching scikit-learn (same n_iter_, weights to 1e-6) and, over all seeds, the
    two-sample tests of test score and of each variable's Olden value."""
    import numpy as np
    from scipy import stats

    from study.importance import olden

    def close(a, b):
        return a.n_iter_ == b.n_iter_ and all(
            np.allclose(x, z, rtol=1e-6, atol=1e-12)
            for x, z in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_)
        )

    same = sum(close(a, b) for a, b in zip(sk, ours))
    score_p = stats.mannwhitneyu([m.score(X, y) for m in sk], [m.score(X, y) for m in ours]).pvalue
    oa = np.stack([olden(m.coefs_) for m in sk])
    ob = np.stack([olden(m.coefs_) for m in ours])
    ps = [
        stats.ks_2samp(oa[:, i, c], ob[:, i, c]).pvalue
        for i in range(oa.shape[1])
        for c in range(oa.shape[2])
    ]
    return (
        f"{same}/{len(sk)} seeds match scikit-learn (n_iter_ and weights to 1e-6); "
        f"test score Mann-Whitney p={score_p:.2f} (nan: identical), smallest KS p over "
        f"{len(ps)} Olden values {min(ps):.2f}"
    )


def bench_backends(root: Path, seeds: list[int]) -> None:
    """Section 4."""
    from study import datasets

    print("Backends, training only (one process, one BLAS thread): networks per second")
    for n in seeds:
        sk_rate, _, _ = _fit_rate("sklearn", min(n, 100))  # the rate does not depend on n
        b_rate, _, peak = _fit_rate("batched", n)
        print(
            f"  {n:>5} seeds: sklearn {sk_rate:6.1f}/s | batched {b_rate:6.1f}/s "
            f"({b_rate / sk_rate:.1f}x) | batched peak memory {peak:.0f} MB",
            flush=True,
        )
    sk_rate, _, _ = _fit_rate("sklearn", 100, null=True)
    b_rate, _, peak = _fit_rate("batched", 1287, null=True)
    print(
        f"  1287 null networks of one tested seed (randomisation preset): sklearn "
        f"{sk_rate:6.1f}/s | batched "
        f"{b_rate:6.1f}/s ({b_rate / sk_rate:.1f}x) | peak memory {peak:.0f} MB",
        flush=True,
    )
    _, sk, _ = _fit_rate("sklearn", 200)
    _, ours, _ = _fit_rate("batched", 200)
    d = datasets.split(datasets.load_dataset("wine"), test_size=0.25, seed=0)
    print(f"  200 seeds of the default study: {_agreement(sk, ours, d.X_test, d.y_test)}")
    print("study-run with each backend, in fresh processes, same store:")
    common = [f"paths.root={root}", "study.progress=false", "study.charts=false"]
    for label, extra in (
        ("300 seeds, no charts", ["study.n_runs=300"]),
        ("randomisation preset at 2 seeds", ["experiment=randomisation_test", "study.n_runs=2"]),
    ):
        walls = {}
        for backend in ("sklearn", "batched"):  # a study name each: other settings, same store
            walls[backend], _ = _wall(
                [
                    _bin("study-run"),
                    *common,
                    *extra,
                    f"model.backend={backend}",
                    f"study.name=bench-{backend}-{len(label)}",
                ]
            )
        print(
            f"  {label}: sklearn {walls['sklearn']:.1f} s | batched {walls['batched']:.1f} s "
            f"({walls['sklearn'] / walls['batched']:.2f}x)",
            flush=True,
        )
    wall, out = _wall(
        [
            _bin("study-run"),
            *common,
            "experiment=randomisation_test",
            "study.name=bench-randomisation-preset",
        ]
    )
    line = next((ln for ln in out.splitlines() if ln.startswith("Null networks of")), "")
    print(
        f"  randomisation preset (30 seeds x 13 variables x 99, batched): {wall:.1f} s; {line}",
        flush=True,
    )


# ---------------------------------------------------------------------------------------------
# section 5: calibration of the randomisation test's null designs

# the randomisation preset's network (8 relu units, early stopping with a patience of 50), with
# the learning rate of 0.01 the preset uses: at scikit-learn's 0.001 a regression network stops
# at max_iter with R² 0.1-0.5 on these data (0.83 at 0.01)
CALIBRATION_MODEL = {
    "hidden_layer_sizes": [8],
    "early_stopping": True,
    "n_iter_no_change": 50,
    "learning_rate_init": 0.01,
    "backend": "batched",
}


def _calibration_data(data_seeds):
    """(kind, dataset) pairs: pure noise (the global null), and known truth (the partial null
    and power) for classification and regression, one per data seed."""
    from study.datasets import load_dataset

    out = []
    for seed in data_seeds:
        out += [
            (
                "global",
                load_dataset(
                    "known_truth_regression", n_samples=300, seed=seed, coefficients=[0] * 7
                ),
            ),
            (
                "global",
                load_dataset(
                    "known_truth_classification",
                    n_samples=300,
                    n_features=7,
                    informative=[0],
                    strengths=[1e-9],
                    seed=seed,
                ),
            ),
            ("partial", load_dataset("known_truth_classification", seed=seed)),
            ("partial", load_dataset("known_truth_regression", n_samples=300, seed=seed)),
        ]
    return out


def calibration(
    data_seeds=(0, 1, 2, 3, 4, 5),
    n_seeds: int = 3,
    B: int = 39,
    alpha: float = 0.05,
    designs=None,
    stop_after: int = 0,
):
    """Per design: the rate of p <= alpha under the global null (every (variable, output) pair of
    pure-noise data), under the partial null (the noise pairs of known-truth data) and the power
    per planted strength (an informative variable found when its smallest p over the outputs is
    at most alpha), over datasets and seeds; networks per second. ``designs``: (permute, init)
    pairs (default: all four); ``stop_after``: Besag & Clifford's h (0: all B)."""
    import numpy as np

    from study.analysis import randomisation
    from study.analysis.randomisation import nullnets
    from study.training.record import method_layouts
    from study.training.runner import Plan, run_many

    rows = []
    data = _calibration_data(data_seeds)
    designs = designs or [(pm, it) for pm in randomisation.PERMUTE for it in randomisation.INIT]
    for permute, init in designs:
        if True:  # one row per design
            design = randomisation.Design(permute, init, "all")
            hits = {"global": [], "partial": []}
            power: dict[str, list] = {}
            t0, n_nets = time.perf_counter(), 0
            for d, (kind, ds) in enumerate(data):
                plan = Plan(ds, CALIBRATION_MODEL, ("olden",), {}, 0.25, 0)
                # other seeds for every dataset: with fresh weights a network that learns
                # little stays near its initial weights, so the same seeds on every dataset would
                # repeat the same few draws of the null instead of sampling it
                obs = list(run_many(plan, range(100 * d, 100 * d + n_seeds), n_jobs=-1))
                layouts = method_layouts(("olden",), task=ds.task, output_names=ds.output_names)
                null = nullnets.train(
                    plan,
                    design,
                    obs,
                    n_permutations=B,
                    first=10_000,
                    methods=layouts,
                    n_jobs=-1,
                    stop_after=stop_after,
                )
                n_nets += null.n_networks
                values = np.stack([r.importances["olden"]["value"] for r in obs])  # (m, p, K)
                groups = [null.group_of(r.seed) for r in obs]
                p = randomisation.grouped_p_values(values, null.values["olden"], groups)
                sig = p <= alpha
                truth = np.asarray(ds.truth, float)
                if kind == "global":
                    hits["global"].append(sig.ravel())
                    continue
                hits["partial"].append(sig[:, truth == 0].ravel())
                for i in np.flatnonzero(truth > 0):
                    key = f"{'cls' if ds.task == 'classification' else 'reg'} {truth[i]:g}"
                    power.setdefault(key, []).append(sig[:, i].any(axis=-1))
            rate = lambda v: float(np.mean(np.concatenate(v)))  # noqa: E731
            label = (
                f"{permute} / {init}"
                + (f", B {B}" if B != 39 else "")
                + (f", h {stop_after}" if stop_after else "")
            )
            rows.append(
                {
                    "design": label,
                    "global": rate(hits["global"]),
                    "partial": rate(hits["partial"]),
                    "n": (
                        np.concatenate(hits["global"]).size,
                        np.concatenate(hits["partial"]).size,
                    ),
                    "power": {k: rate(v) for k, v in power.items()},
                    "networks": n_nets,
                    "rate": n_nets / (time.perf_counter() - t0),
                }
            )
            _print_calibration_row(rows[-1])
    return rows


def _print_calibration_row(row) -> None:
    power = ", ".join(
        f"{k} {v:.0%}"
        for k, v in sorted(row["power"].items(), key=lambda kv: (kv[0][:3], -float(kv[0][4:])))
    )
    print(
        f"  {row['design']:<30} level: global null {row['global']:5.1%} (of {row['n'][0]}), "
        f"partial null {row['partial']:5.1%} (of {row['n'][1]}) | power: {power} | "
        f"{row['networks']:,} networks, "
        f"{row['rate']:.0f}/s",
        flush=True,
    )


def bench_calibration() -> None:
    """Section 5."""
    print(
        "Randomisation test, calibration of the null designs (permute / init; Olden, B = 39, "
        "3 seeds per dataset, data seeds 0-5; rate of p <= 0.05): global null = every (variable, "
        "output) of pure-noise data (7 variables; regression and 3 classes); partial null = "
        "the noise (variable, output) pairs of known-truth data (classification 14 variables, "
        "4 informative; regression 8 variables, 5 informative); power = informative variables "
        "found (smallest p over the outputs), by planted strength",
        flush=True,
    )
    calibration()
    print(
        "The valid design at B = 99, all null networks, then Besag & Clifford's sequential null "
        "(randomisation.stop_after=5): it must reject the same and train fewer",
        flush=True,
    )
    for h in (0, 5):
        calibration(B=99, designs=[("variable", "tested")], stop_after=h)


def bench_coverage() -> None:
    """Section 6: benchmarks/rank_coverage.py's table at the default B, then its regression rows at
    B = 10 and 40 (what the default B rests on)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import rank_coverage

    with tempfile.TemporaryDirectory(prefix="study-bench-") as tmp:
        rank_coverage.coverage(overrides=(f"paths.root={tmp}",))
        for b in (10, 40):
            rank_coverage.coverage(
                tasks=("regression",), overrides=(f"paths.root={tmp}", f"study.n_resamples={b}")
            )


# ---------------------------------------------------------------------------------------------
# section 7: realistic size (a 2000-row, 30-variable, 3-class table)

REALISTIC = {
    "n_samples": 2000,
    "n_features": 30,
    "n_informative": 6,
    "n_redundant": 0,
    "n_classes": 3,
    "random_state": 0,
}


def _realistic_csv(root: Path) -> Path:
    """The table of section 7: scikit-learn's ``make_classification`` with :data:`REALISTIC`."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(**REALISTIC)
    frame = pd.DataFrame(X, columns=[f"x{i + 1}" for i in range(X.shape[1])])
    frame["y"] = np.asarray(y)
    path = root / "realistic.csv"
    frame.to_csv(path, index=False)
    return path


def _gemm_rates() -> tuple[float, float]:
    """This machine's measured float64 matrix-product rates (GFLOP/s): one large product on
    every core (OpenBLAS's best case), and a block's first-layer products (32 networks, a
    minibatch of 200 rows x 30 inputs times 30 x 8 weights) on one core, the shape training
    multiplies."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2000, 2000)), rng.normal(size=(2000, 2000))
    c = np.empty((2000, 2000))
    _repeat(lambda: np.matmul(a, b, out=c), 1)
    t, _ = _timed(_repeat, lambda: np.matmul(a, b, out=c), 5)
    big = 5 * 2 * 2000**3 / t / 1e9
    x, w, z = rng.normal(size=(32, 200, 30)), rng.normal(size=(32, 30, 8)), np.empty((32, 200, 8))
    with threadpool_limits(1):
        _repeat(lambda: np.matmul(x, w, out=z), 100)
        t, _ = _timed(_repeat, lambda: np.matmul(x, w, out=z), 2000)
    return big, 2000 * 32 * 2 * 200 * 30 * 8 / t / 1e9


def _report_rate(out: str) -> tuple[float, int]:
    """The training seconds and networks of a study's report ("30 runs ... and 20 resample
    networks"; "training 6.4 s")."""
    runs = re.search(r"(\d+) runs \(seeds", out)
    resamples = re.search(r"and (\d+) resample networks", out)
    n = int(runs.group(1)) + (int(resamples.group(1)) if resamples else 0)
    return _time_line(out)["training"], n


def _significant_pairs(out: str) -> tuple[int, int, int]:
    """Null networks trained and planned, and the (variable, output) pairs of Olden's weights
    significant in at least half the tested seeds, from a randomisation study's report and its
    randomisation.csv."""
    import pandas as pd

    m = re.search(r"([\d,]+)\s+null\s+networks(?:\s+\(of\s+([\d,]+))?", out)
    trained = int(m.group(1).replace(",", ""))
    planned = int(m.group(2).replace(",", "")) if m.group(2) else trained
    folder = re.search(r"Tables and charts: (.+)", out).group(1).strip()
    table = pd.read_csv(Path(folder) / "randomisation.csv")
    olden = table[table["method"] == "olden"]
    return trained, planned, int((olden["share_significant"] >= 0.5).sum())


def _repeat(fn, k: int) -> None:
    """``fn()`` k times, each result dropped before the next (kept, they would time the pages)."""
    for _ in range(k):
        fn()


def _minibatch_profile(N: int = 32) -> str:
    """Where one minibatch step of a block goes, per network (microseconds, one core): the
    batched backend's own functions on a block of ``N`` networks at section 7's shapes (200 rows
    of 1500, 30 inputs, 8 tanh units, 3 classes)."""
    import numpy as np
    from gpu import SPEC  # benchmarks/gpu.py, beside this script
    from threadpoolctl import threadpool_limits

    from study.training.batched import _numerics as nm

    rng = np.random.default_rng(0)
    n, p, H, K, bs = 1500, 30, 8, 3, 200
    X, Y = rng.normal(size=(n, p)), np.eye(K)[rng.integers(0, K, n)]
    Ys = np.stack([Y] * N)
    W = [rng.normal(size=(N, p, H)) * 0.3, rng.normal(size=(N, H, K)) * 0.3]
    b = [np.zeros((N, H)), np.zeros((N, K))]
    spec = SPEC  # the default network's training settings, as the GPU prototype uses them
    rows = np.stack([rng.permutation(n)[:bs] for _ in range(N)])
    Xb, Yb = X[rows], Ys[np.arange(N)[:, None], rows]
    acts = nm.forward(W, b, Xb, "tanh", "softmax")
    _, cg, ig = nm.backprop(W, b, Xb, Yb, spec)
    opt = nm.Adam(W + b, spec)
    z = np.matmul(Xb, W[0])
    parts = {
        "gather the rows": lambda: (X[rows], Ys[np.arange(N)[:, None], rows]),
        "first-layer products (X W, X^T delta)": lambda: (
            np.matmul(Xb, W[0]),
            np.matmul(Xb.swapaxes(-1, -2), z),
        ),
        "tanh": lambda: np.tanh(z),
        "forward pass (products, tanh, softmax)": lambda: nm.forward(W, b, Xb, "tanh", "softmax"),
        "loss": lambda: nm._loss("log_loss", Yb, acts[-1]),
        "backprop (forward, loss, gradients)": lambda: nm.backprop(W, b, Xb, Yb, spec),
        "Adam": lambda: opt.updates(cg + ig),
    }
    out = []
    with threadpool_limits(1):
        for label, fn in parts.items():
            fn()
            t, _ = _timed(_repeat, fn, 200)
            out.append(f"{label} {t / 200 / N * 1e6:.1f}")
    return "; ".join(out)


def bench_realistic() -> None:
    """Section 7: on a 2000 x 30 x 3 table, plain scikit-learn fits of the default network one
    after another in one process against the 30-seed default study (its report's networks per
    second) and the batched backend alone on one core; the floor from the measured matrix-product
    rate; then the randomisation preset on wine and on this table (3 tested seeds)."""
    import numpy as np

    from study import config, datasets
    from study.config.settings import Settings
    from study.training import models, runner
    from study.training.plan import job_data

    big, small = _gemm_rates()  # first, on an idle machine
    with tempfile.TemporaryDirectory(prefix="study-bench-") as tmp:
        root = Path(tmp)
        csv = _realistic_csv(root)
        data = ["dataset=csv", f"dataset.path={csv}", "dataset.target=y"]
        s = Settings.from_config(config.compose(data))
        ds = datasets.load_dataset("csv", path=str(csv), target="y")
        plan = runner.Plan(ds, s.model, (), {}, s.test_size, s.seed)
        seeds = list(range(30))
        splits = [job_data(plan, seed) for seed in seeds]
        fitted = [
            models.make_model(ds.task, {**s.model, "backend": "sklearn"}, seed=seed)
            for seed in seeds
        ]
        t_sk, _ = _timed(lambda: [m.fit(d.X_train, d.y_train) for m, d in zip(fitted, splits)])
        epochs = float(np.mean([m.n_iter_ for m in fitted]))
        sk_rate = len(seeds) / t_sk
        print(
            f"Realistic size: make_classification({REALISTIC}), the default network "
            f"({s.model['hidden_layer_sizes']}, {s.model['activation']}, learning rate "
            f"{s.model['learning_rate_init']}), seeds 0-29",
            flush=True,
        )
        print(
            f"  plain scikit-learn, one fit after another in one process: {t_sk:.1f} s, "
            f"{sk_rate:.2f} networks/s, mean {epochs:.0f} epochs",
            flush=True,
        )
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            mine = [models.make_model(ds.task, s.model, seed=seed) for seed in seeds]
            t_b, _ = _timed(
                models.fit_many, mine, [d.X_train for d in splits], [d.y_train for d in splits]
            )
        print(
            f"  batched backend, one block of 30 on one core: {t_b:.1f} s, "
            f"{len(seeds) / t_b:.2f} networks/s ({len(seeds) / t_b / sk_rate:.1f}x)",
            flush=True,
        )
        for extra in ([], ["study.resample=none"]):
            wall, out, _ = _measured(
                [_bin("study-run"), *data, f"paths.root={root}", "study.progress=false", *extra]
            )
            train, n = _report_rate(out)
            print(
                f"  study-run{' ' + ' '.join(extra) if extra else ' (default settings)'}: "
                f"{wall:.1f} s wall, training {train:.1f} s for {n} networks = "
                f"{n / train:.2f} networks/s = {n / train / sk_rate:.1f}x scikit-learn "
                f"(target >= 20)",
                flush=True,
            )
        n_train = splits[0].X_train.shape[0]
        units = [ds.n_features, *s.model["hidden_layer_sizes"], len(ds.output_names)]
        # forward X W and back (X^T delta, delta W^T) per layer; the first layer's delta W^T unused
        flops = sum(
            2 * n_train * a * b * (3 if i else 2)
            for i, (a, b) in enumerate(zip(units[:-1], units[1:]))
        )
        print(
            f"  one minibatch step, microseconds per network (block of 32, one core): "
            f"{_minibatch_profile()}; scikit-learn: {1e6 / (sk_rate * epochs * 7.5):.0f} "
            "a minibatch (7.5 a network-epoch)",
            flush=True,
        )
        cores = os.cpu_count() or 1
        floor = cores * small * 1e9 / (flops * epochs)
        print(
            f"  matrix products: {big:.0f} GFLOP/s (2000 x 2000, every core), {small:.0f} "
            f"GFLOP/s on one core at a block's shape; {flops / 1e6:.2f} MFLOP a network-epoch: "
            f"the products alone at a block's rate on {cores} cores, {floor:.0f} networks/s "
            f"({floor / sk_rate:.0f}x scikit-learn; at the large product's rate "
            f"{big * 1e9 / (flops * epochs) / sk_rate:.0f}x), before tanh, softmax and the "
            "loss",
            flush=True,
        )
        preset = [
            "experiment=randomisation_test",
            f"paths.root={root}",
            "study.progress=false",
            "study.charts=false",
        ]
        for label, extra in (
            ("wine, 30 seeds", []),
            ("2000 x 30, 3 seeds", [*data, "study.n_runs=3", "study.name=realistic-randomisation"]),
        ):
            wall, out, _ = _measured([_bin("study-run"), *preset, *extra])
            trained, planned, pairs = _significant_pairs(out)
            print(
                f"  randomisation preset, {label}: {wall:.1f} s wall, {trained:,} null networks "
                f"of {planned:,}, {pairs} (variable, class) pairs of Olden's weights significant "
                "in at least half the seeds",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="30,300,1000", help="numbers of seeds (30,300,1000)")
    parser.add_argument(
        "--only-end-to-end",
        action="store_true",
        help="section 0 only (the study as a user runs it, about 6 minutes)",
    )
    parser.add_argument(
        "--only-backends", action="store_true", help="section 4 only (the two training backends)"
    )
    parser.add_argument(
        "--no-backends", action="store_true", help="skip section 4 (the two training backends)"
    )
    parser.add_argument(
        "--only-calibration",
        action="store_true",
        help="section 5 only (the randomisation test's null designs)",
    )
    parser.add_argument(
        "--no-calibration",
        action="store_true",
        help="skip section 5 (the randomisation test's null designs)",
    )
    parser.add_argument(
        "--only-coverage",
        action="store_true",
        help="section 6 only (coverage of the answer's intervals, about 8 minutes)",
    )
    parser.add_argument(
        "--no-coverage",
        action="store_true",
        help="skip section 6 (coverage of the answer's intervals)",
    )
    parser.add_argument(
        "--only-realistic",
        action="store_true",
        help="section 7 only (a 2000 x 30 table; about 10 minutes)",
    )
    parser.add_argument(
        "--before",
        type=Path,
        default=None,
        help="an older checkout of this repository: time its study-run too",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{os.cpu_count()} cores; Python {sys.version.split()[0]}")
    if args.only_calibration:
        bench_calibration()
        return
    if args.only_realistic:
        bench_realistic()
        return
    if args.only_coverage:
        bench_coverage()
        return
    if args.only_end_to_end:
        with tempfile.TemporaryDirectory(prefix="study-bench-") as tmp:
            bench_end_to_end(Path(tmp))
        return
    if args.only_backends:
        with tempfile.TemporaryDirectory(prefix="study-bench-") as tmp:
            bench_backends(Path(tmp), seeds)
        return
    with tempfile.TemporaryDirectory(prefix="study-bench-") as tmp:
        bench_end_to_end(Path(tmp))
    bench_permutation()
    with tempfile.TemporaryDirectory(prefix="study-bench-") as tmp:
        root = Path(tmp)
        if not args.no_backends:
            bench_backends(root, seeds)
        print(
            "Default study (wine, 13-8-3, six methods): bare loop vs study-run, same machine, "
            "same run"
        )
        parents = bench_studies(root, seeds, args.before)
        bench_analysis(f"sqlite:///{root / 'mlflow.db'}", parents[max(parents)])
    if not args.no_calibration:
        bench_calibration()
    if not args.no_coverage:
        bench_coverage()
    bench_realistic()


if __name__ == "__main__":
    main()
