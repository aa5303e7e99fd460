"""Validation by retraining: does a method's top-k beat k variables drawn at random?

For each method's consensus ranking (variables ordered by their mean rank over the study's runs),
retrain the same network, over several seeds, keeping only the top-k variables, and separately
with the top-k removed, for k = 1..K; compare the held-out score with the same k drawn at random
(several draws). This turns "is v4 really important?" into a score difference (ROAR: Hooker et
al. 2019, "A benchmark for interpretability methods in deep neural networks", NeurIPS).

Single number per method, ``area``: the mean over k of its advantage over random, averaging the
keep curve (``score_method - score_random``: higher is better) and the remove curve
(``score_random - score_method``: removing truly important variables hurts more).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from study.analysis import stability as stab
from study.analysis.views import overall_importance
from study.config.spec import default
from study.training.runner import Plan, run_one, seeds_for

__all__ = ["consensus_order", "retrain_curves", "retrain_areas", "validate", "RetrainResult"]


def consensus_order(record, method: str) -> np.ndarray:
    """Feature indices from most to least important by mean rank over runs (ties: lower index)."""
    layout = record.meta.methods[method]
    overall = overall_importance(record.values(method), signed=layout.signed)
    ranks = stab.rank_matrix(overall)
    mean_rank = np.nanmean(ranks, axis=0)
    return np.argsort(mean_rank, kind="stable")


def _score(plan: Plan, cols: tuple[int, ...], seed: int) -> float:
    ds = plan.dataset
    subset = dataclasses.replace(
        ds,
        X=ds.X[:, list(cols)],
        feature_names=tuple(ds.feature_names[c] for c in cols),
        truth=None,
    )
    return run_one(dataclasses.replace(plan, dataset=subset, methods=()), seed).test_score


def retrain_curves(
    plan: Plan,
    orders: dict[str, np.ndarray],
    *,
    k_max: int,
    n_seeds: int,
    n_random: int,
    seed: int,
    n_jobs: int = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Held-out score per (method or "random", mode "keep"/"remove", k).

    Returns a long table: ``method, mode, k, score_mean, score_sd, n``. For "random", the mean is
    over draws and seeds and ``score_sd`` is the sd of the per-draw means (the spread a random
    choice of k variables gives). Identical variable sets are trained once.
    """
    p = plan.dataset.n_features
    K = min(int(k_max), p - 1)
    if K < 1:
        raise ValueError("retraining needs at least 2 variables")
    rng = np.random.default_rng(seed)
    seeds = seeds_for(seed, n_seeds)
    sets = _variable_sets(orders, p, K, n_random, rng)
    scores = _train(plan, sets, seeds, n_jobs=n_jobs, progress=progress)
    return _curves(sets, seeds, scores)


def _variable_sets(orders, p: int, K: int, n_random: int, rng) -> dict:
    """``{(method, mode, k, draw): columns kept}`` for k = 1..K: each method's top k kept or
    removed (draw 0), and ``n_random`` draws of k variables at random (method "random")."""
    everything = set(range(p))
    sets = {}  # (method, mode, k, draw) -> columns kept
    for k in range(1, K + 1):
        for method, order in orders.items():
            top = set(int(i) for i in order[:k])
            sets[(method, "keep", k, 0)] = tuple(sorted(top))
            sets[(method, "remove", k, 0)] = tuple(sorted(everything - top))
        for d in range(n_random):
            top = set(int(i) for i in rng.choice(p, size=k, replace=False))
            sets[("random", "keep", k, d)] = tuple(sorted(top))
            sets[("random", "remove", k, d)] = tuple(sorted(everything - top))
    return sets


def _train(plan: Plan, sets: dict, seeds, *, n_jobs: int, progress: bool) -> dict:
    """``{(columns, seed): held-out score}``: every distinct set of columns trained once per
    seed, on ``n_jobs`` workers."""
    from joblib import delayed
    from tqdm import tqdm

    from study.training import pool as _pool

    jobs = sorted({(cols, s) for cols in sets.values() for s in seeds})
    parallel = _pool.parallel(n_jobs, return_as="generator")
    results = parallel(delayed(_score)(plan, cols, s) for cols, s in jobs)
    bar = tqdm(
        results,
        total=len(jobs),
        desc="retraining",
        unit="fit",
        disable=not progress,
        file=sys.stderr,
    )
    return dict(zip(jobs, bar))


def _curves(sets: dict, seeds, scores: dict) -> pd.DataFrame:
    """:func:`retrain_curves`'s table from the scores of every (set, seed)."""
    rows = []
    for key, cols in sets.items():
        method, mode, k, d = key
        for s in seeds:
            rows.append(
                {
                    "method": method,
                    "mode": mode,
                    "k": k,
                    "draw": d,
                    "seed": s,
                    "score": scores[(cols, s)],
                }
            )
    raw = pd.DataFrame(rows)
    per_draw = raw.groupby(["method", "mode", "k", "draw"], sort=False).score.mean().reset_index()
    curves = per_draw.groupby(["method", "mode", "k"], sort=False).agg(
        score_mean=("score", "mean"), score_sd=("score", "std"), n=("score", "size")
    )
    # For a method (one draw) the sd is over seeds; for random, over draws.
    seed_sd = raw[raw.method != "random"].groupby(["method", "mode", "k"], sort=False).score.std()
    curves.loc[seed_sd.index, "score_sd"] = seed_sd
    curves["n"] = raw.groupby(["method", "mode", "k"], sort=False).score.size()
    return curves.reset_index()


def retrain_areas(curves: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean advantage over random when keeping, when removing, and their mean."""
    wide = curves.pivot_table(index=["mode", "k"], columns="method", values="score_mean")
    rows = []
    for method in [m for m in wide.columns if m != "random"]:
        keep = (wide.loc["keep", method] - wide.loc["keep", "random"]).mean()
        remove = (wide.loc["remove", "random"] - wide.loc["remove", method]).mean()
        rows.append(
            {
                "method": method,
                "keep_area": keep,
                "remove_area": remove,
                "area": (keep + remove) / 2,
            }
        )
    return pd.DataFrame(rows).sort_values("area", ascending=False, ignore_index=True)


@dataclass
class RetrainResult:
    tables: dict[str, pd.DataFrame]
    metrics: dict[str, float]
    charts: list[Path]
    summary: list[str]
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


def validate(record, plan: Plan, settings, output_dir: Path) -> RetrainResult:
    """Retraining validation of every method of a study, as configured in ``validate.*``."""
    from study.report import plots

    v = {**vars(default("validate")), **settings.validate}  # what is not set: the config's
    orders = {m: consensus_order(record, m) for m in record.meta.methods}
    curves = retrain_curves(
        plan,
        orders,
        k_max=int(v["k_max"]),
        n_seeds=int(v["n_seeds"]),
        n_random=int(v["n_random"]),
        seed=settings.seed,
        n_jobs=settings.n_jobs,
        progress=settings.progress,
    )
    areas = retrain_areas(curves)
    feats = record.meta.feature_names
    ranking = pd.DataFrame(
        [
            {"method": m, "position": i + 1, "feature": feats[j]}
            for m, o in orders.items()
            for i, j in enumerate(o)
        ]
    )
    charts = []
    if settings.charts:
        charts.append(
            plots.save(plots.retrain_figure(curves, record.meta), output_dir / "retrain.png")
        )
    return RetrainResult(
        tables={
            "retrain_curves.csv": curves,
            "retrain_areas.csv": areas,
            "retrain_rankings.csv": ranking,
        },
        metrics=_area_metrics(areas),
        charts=charts,
        summary=_summary(areas, curves, orders, feats, v, record.meta.score_name),
        series=_score_series(curves),
    )


def _area_metrics(areas: pd.DataFrame) -> dict[str, float]:
    """Each method's keep, remove and mean area, as the study's metrics."""
    metrics = {}
    for r in areas.itertuples():
        metrics[f"retrain.{r.method}.keep_area"] = r.keep_area
        metrics[f"retrain.{r.method}.remove_area"] = r.remove_area
        metrics[f"retrain.{r.method}.area"] = r.area
    return metrics


def _score_series(curves: pd.DataFrame) -> dict[str, list[tuple[int, float]]]:
    """Each (method, mode)'s mean held-out score over k, ``[(k, score)]``."""
    series = {f"retrain.{r.method}.{r.mode}_score": [] for r in curves.itertuples()}
    for r in curves.itertuples():
        series[f"retrain.{r.method}.{r.mode}_score"].append((int(r.k), float(r.score_mean)))
    return series


def _summary(areas, curves, orders, feats, v: dict, score: str) -> list[str]:
    """The report's lines: each method's areas and consensus top 3, and the best method."""
    K = int(curves.k.max())
    lines = [
        f"Retraining on top-k variables vs k random ones (k = 1..{K}, "
        f"{v.get('n_seeds', 3)} seeds, {v.get('n_random', 5)} random draws; held-out {score}):",
        f"  {'method':<20} {'keep top-k':>11} {'remove top-k':>13} {'area':>7}   consensus top 3",
    ]
    for r in areas.itertuples():
        top3 = ", ".join(feats[j] for j in orders[r.method][:3])
        lines.append(
            f"  {r.method:<20} {r.keep_area:>+11.3f} {r.remove_area:>+13.3f} "
            f"{r.area:>+7.3f}   {top3}"
        )
    lines.append(f"  Best: {_verdict(areas, score)}. Positive = better than random.")
    return lines


def _verdict(areas: pd.DataFrame, score: str) -> str:
    """The best method by area, or that every method ties (retraining cannot separate them)."""
    best = areas.iloc[0]
    tied = areas.method[np.isclose(areas.area, best.area, rtol=0, atol=1e-12)].tolist()
    if len(tied) == len(areas) > 1:
        return (
            f"every method's top-k beats random by {best.area:+.3f} {score} on average: "
            "their consensus rankings agree where it matters, and retraining cannot "
            "separate them"
        )
    who = tied[0] if len(tied) == 1 else " and ".join(tied) + " (tied)"
    return f"{who}, whose top-k beats random by {best.area:+.3f} {score} on average"
