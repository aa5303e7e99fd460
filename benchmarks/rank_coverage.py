"""Coverage of the answer's intervals on simulated data with a known answer (issue 28, part 7).

    python benchmarks/benchmark.py --only-coverage          # about 10 minutes on 2 cores
    python benchmarks/rank_coverage.py --datasets 5        # a quicker look (this module alone)

For each known-truth dataset (``known_truth_regression``: 8 variables, 5 informative, three
zero coefficients; ``known_truth_classification``: 14 variables, 4 informative, 3 classes) at
n = 200 and 1000 rows and each of ``--datasets`` data seeds: the default study's networks
(1x8 tanh, the study's one split) with ``study.resample=bootstrap study.n_runs=10`` (B resample
networks, default the study's), read through :func:`study.analysis.answer.answer`, the function that
writes ``answer.csv``. Each row of the table:

- **seeds' interval**: how often the seeds' 95% interval of a variable's mean rank (the answer
  without resamples) covers its *population mean rank*: the mean rank of one network over
  fresh datasets of the same size and seeds (``--fresh`` datasets x 10 seeds), over
  (dataset, variable) pairs; its mean width (high - low).
- **marginal sets**: how often a variable's 95% rank set covers its *population rank* (the
  order of the true importance, |coefficient| or planted strength; the noise variables tied at
  the better rank, as csranks ranks ties), over pairs; the sets' mean width (high - low: 0 for
  a set of one rank) and that width over the number of variables p.
- **simultaneous sets**: the share of datasets in which every variable's set covers its rank;
  mean width.
- **top-k**: the share of datasets in which the variables called ``surely`` or ``possibly``
  hold every true top-k variable, their mean number, and the share in which every ``surely``
  is truly in the top k.

Everything runs in this process (no MLflow: the networks are the study's, the answer is the
study's, the store is not what is measured).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("MLFLOW_DISABLE_AGENT_HINT", "1")

TASKS = ("regression", "classification")
SIZES = (200, 1000)
N_SEEDS = 10  # study.n_runs of the check
FRESH_SEEDS = 10  # networks per fresh dataset for the population mean rank


def _prepared(task: str, n: int, data_seed: int, overrides=()):
    from study import config
    from study.lifecycle import prepare

    cfg = config.compose(
        [
            f"dataset=known_truth_{task}",
            f"dataset.n_samples={n}",
            f"dataset.seed={data_seed}",
            "study.resample=bootstrap",
            f"study.n_runs={N_SEEDS}",
            *overrides,
        ]
    )
    return prepare.prepare(cfg)


def _record(prep, *, resamples: bool, n_seeds: int = N_SEEDS):
    from study.training import runner
    from study.training.record import FailedRun, StudyRecord

    ids = runner.seeds_for(prep.settings.seed, n_seeds)
    if resamples:
        ids += runner.resamples_for(prep.settings.n_resamples)
    recs = [
        r
        for r in runner.run_many(prep.plan, ids, n_jobs=prep.settings.n_jobs, keep_going=True)
        if not isinstance(r, FailedRun)
    ]
    from study.training.resample import split_runs

    seeds, res = split_runs(recs)
    return StudyRecord(prep.meta, seeds, resamples=res)


def population_mean_rank(task: str, n: int, n_fresh: int, method: str, overrides=()) -> np.ndarray:
    """One network's mean rank of every variable over ``n_fresh`` fresh datasets (data seeds
    from 10,000 up) x :data:`FRESH_SEEDS` seeds."""
    from study.analysis.answer import overall_ranks

    ranks = []
    for d in range(10_000, 10_000 + n_fresh):
        record = _record(_prepared(task, n, d, overrides), resamples=False, n_seeds=FRESH_SEEDS)
        ranks.append(overall_ranks(record, method))
    return np.concatenate(ranks).mean(axis=0)


def one_case(task: str, n: int, n_datasets: int, n_fresh: int, overrides=()) -> dict:
    from scipy.stats import rankdata

    from study.analysis import answer as ans

    first = _prepared(task, n, 0, overrides)
    names = list(first.dataset.feature_names)
    truth = rankdata(-first.dataset.truth, method="min")  # noise variables tied, better rank
    method, k = ans.reference_method(first.settings.methods), first.settings.top_k
    top_true = set(np.flatnonzero(truth <= k))
    pop = population_mean_rank(task, n, n_fresh, method, overrides)
    rows = {
        key: []
        for key in (
            "seeds",
            "seeds_w",
            "marg",
            "marg_w",
            "sim",
            "sim_w",
            "topk",
            "topk_n",
            "surely",
        )
    }
    for d in range(n_datasets):
        prep = _prepared(task, n, d, overrides)
        record = _record(prep, resamples=True)
        a = ans.answer(
            record,
            k=k,
            n_bootstrap=prep.settings.n_bootstrap,
            seed=prep.settings.seed,
            method=method,
        )
        t = a.table.set_index("feature").loc[names]
        rows["seeds"] += list((t.ci_low <= pop) & (pop <= t.ci_high))
        rows["seeds_w"] += list(t.ci_high - t.ci_low)
        rows["marg"] += list((t.rank_low <= truth) & (truth <= t.rank_high))
        rows["marg_w"] += list(t.rank_high - t.rank_low)
        rows["sim"].append(
            bool(((t.rank_low_simultaneous <= truth) & (truth <= t.rank_high_simultaneous)).all())
        )
        rows["sim_w"] += list(t.rank_high_simultaneous - t.rank_low_simultaneous)
        chosen = set(np.flatnonzero(t.top_k.isin(["surely", "possibly"]).to_numpy()))
        rows["topk"].append(top_true <= chosen)
        rows["topk_n"].append(len(chosen))
        rows["surely"].append(set(np.flatnonzero((t.top_k == "surely").to_numpy())) <= top_true)
    out = {key: float(np.mean(v)) for key, v in rows.items()}
    out.update(
        task=task,
        n=n,
        p=len(names),
        k=k,
        datasets=n_datasets,
        method=method,
        B=first.settings.n_resamples,
    )
    return out


HEADER = (
    "| task | n | p | seeds' interval: coverage, width | marginal sets: coverage, width "
    "(/p) | simultaneous: all covered, width | top-k: holds the top k, size; 'surely' right |"
)
RULE = "|---|---|---|---|---|---|---|"


def row(r: dict) -> str:
    return (
        f"| {r['task']} | {r['n']} | {r['p']} | {r['seeds']:.0%}, {r['seeds_w']:.2f} | "
        f"{r['marg']:.0%}, {r['marg_w']:.2f} ({r['marg_w'] / r['p']:.2f}) | "
        f"{r['sim']:.0%}, {r['sim_w']:.2f} | {r['topk']:.0%}, {r['topk_n']:.1f}; "
        f"{r['surely']:.0%} |"
    )


def coverage(n_datasets: int = 20, n_fresh: int = 40, tasks=TASKS, sizes=SIZES, overrides=()):
    """The whole table (module docstring), printed row by row."""
    first = _prepared(tasks[0], sizes[0], 0, overrides)
    print(
        f"Coverage of the answer's intervals (olden, top {first.settings.top_k}; "
        f"{N_SEEDS} seeds + {first.settings.n_resamples} bootstrap resample networks per "
        f"dataset, {n_datasets} datasets per row; population mean rank from {n_fresh} fresh "
        f"datasets x {FRESH_SEEDS} seeds){' with ' + ' '.join(overrides) if overrides else ''}",
        flush=True,
    )
    print(HEADER + "\n" + RULE, flush=True)
    out = []
    for task in tasks:
        for n in sizes:
            t0 = time.perf_counter()
            r = one_case(task, n, n_datasets, n_fresh, overrides)
            out.append(r)
            print(row(r) + f"  <!-- {time.perf_counter() - t0:.0f} s -->", flush=True)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=20, help="datasets per row (20)")
    parser.add_argument(
        "--fresh", type=int, default=40, help="fresh datasets for the population mean rank (40)"
    )
    parser.add_argument("--sizes", default="200,1000", help="rows per dataset (200,1000)")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("overrides", nargs="*", help="study overrides, e.g. study.n_resamples=20")
    args = parser.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="study-coverage-") as tmp:  # prepare's write check
        coverage(
            args.datasets,
            args.fresh,
            tuple(args.tasks.split(",")),
            tuple(int(x) for x in args.sizes.split(",")),
            (f"paths.root={tmp}", *args.overrides),
        )


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
