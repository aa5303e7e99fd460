"""The per-view stability tables of a study: ``stability.csv``, ``aggregate.csv``,
``topk_frequency.csv``, ``rank_distribution.csv`` and ``stability_curve.csv``, with the notes
on why a measure may be undefined.

One block of rows per view (:class:`~study.analysis.views.View`), from the measures of
:mod:`study.analysis.stability` applied to the view's importances and primary ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from study.analysis import stability as stab
from study.analysis.views import View, views
from study.training.record import StudyRecord

__all__ = ["StabilityTables", "stability_tables"]


@dataclass
class StabilityTables:
    """The tables of :func:`stability_tables`, and its notes (one line per distinct note)."""

    stability: pd.DataFrame
    aggregate: pd.DataFrame
    topk_frequency: pd.DataFrame
    rank_distribution: pd.DataFrame
    stability_curve: pd.DataFrame
    notes: list[str]


def stability_tables(
    record: StudyRecord, all_ranks, k: int, n_bootstrap: int, seed: int
) -> StabilityTables:
    """Every view's stability measures, aggregates over runs, top-``k`` frequencies, rank
    counts and Kendall's W curve; ``all_ranks``: :func:`~study.analysis.views.primary_ranks`."""
    feats = list(record.meta.feature_names)
    all_views = views(record)
    values = [record.values(v.method)[:, :, v.column] for v in all_views]
    boots = _bootstraps(values, n_bootstrap, seed)
    stability, aggregate, topk, dist, curves, notes = [], [], [], [], [], {}
    for v, vals, boot in zip(all_views, values, boots):
        ranks = all_ranks[(v.method, v.column)]
        usable = ~np.isnan(ranks).any(axis=1)
        freq = stab.topk_frequency(ranks, k)
        for note in stab.stability_notes(vals, signed=v.signed):
            notes.setdefault(note, []).append(v.label)
        stability.append(_stability_row(v, ranks, usable, k))
        aggregate.append(_aggregate_frame(v, feats, vals, ranks, usable, boot, freq, k))
        topk.append(_topk_frame(v, feats, freq, usable, k))
        dist.append(_distribution_frame(v, feats, ranks))
        curves.append(_curve_frame(v, ranks))
    return StabilityTables(
        pd.DataFrame(stability),
        pd.concat(aggregate, ignore_index=True),
        pd.concat(topk, ignore_index=True),
        pd.concat(dist, ignore_index=True),
        pd.concat(curves, ignore_index=True),
        _merge_notes(notes, len(all_views)),
    )


def _stability_row(v: View, ranks, usable, k: int) -> dict:
    """``stability.csv``'s row of a view: Kendall's W with its test, the mean Spearman
    correlation and Nogueira's top-``k`` stability with its interval."""
    w = stab.kendall_w(ranks)
    nog = stab.nogueira_stability(stab.topk_membership(ranks, k)[usable])
    return {
        "method": v.method,
        "output": v.output,
        "kendall_w": w.statistic,
        "chi2": w.chi2,
        "df": w.df,
        "pvalue": w.pvalue,
        "spearman_mean": stab.spearman_mean(ranks),
        "top_k": k,
        "topk_stability": nog.statistic,
        "topk_stability_low": nog.low,
        "topk_stability_high": nog.high,
        "n_runs": int(usable.sum()),
    }


def _aggregate_frame(v: View, feats, vals, ranks, usable, boot, freq, k: int) -> pd.DataFrame:
    """``aggregate.csv``'s rows of a view: per variable the mean importance with its bootstrap
    interval and sd, and its rank's mean, median and quartiles over the usable runs."""
    n = len(feats)
    good = ranks[usable]
    q = np.nanpercentile(good, [25, 50, 75], axis=0) if len(good) else np.full((3, n), np.nan)
    return pd.DataFrame(
        {
            "method": v.method,
            "output": v.output,
            "feature": feats,
            "mean": boot.mean,
            "sd": np.std(vals[usable], axis=0, ddof=1) if len(good) > 1 else np.nan,
            "ci_low": boot.low,
            "ci_high": boot.high,
            "mean_rank": good.mean(axis=0) if len(good) else np.nan,
            "median_rank": q[1],
            "rank_q25": q[0],
            "rank_q75": q[2],
            "rank_iqr": q[2] - q[0],
            f"top{k}_frequency": freq,
            "n_runs": int(usable.sum()),
        }
    )


def _topk_frame(v: View, feats, freq, usable, k: int) -> pd.DataFrame:
    """``topk_frequency.csv``'s rows of a view: how often each variable is in the top ``k``."""
    return pd.DataFrame(
        {
            "method": v.method,
            "output": v.output,
            "feature": feats,
            "k": k,
            "frequency": freq,
            "count": np.rint(freq * usable.sum()).astype(int),
        }
    )


def _distribution_frame(v: View, feats, ranks) -> pd.DataFrame:
    """``rank_distribution.csv``'s rows of a view: how often each variable takes each rank."""
    n = len(feats)
    counts = stab.rank_distribution(ranks)
    return pd.DataFrame(
        {
            "method": v.method,
            "output": v.output,
            "feature": np.repeat(feats, n),
            "rank": np.tile(np.arange(1, n + 1), n),
            "count": counts.ravel(),
        }
    )


def _curve_frame(v: View, ranks) -> pd.DataFrame:
    """``stability_curve.csv``'s rows of a view: Kendall's W on the first ``n_runs`` runs."""
    m_values, w_curve = stab.stability_curve(ranks)
    return pd.DataFrame(
        {
            "method": v.method,
            "output": v.output,
            "n_runs": m_values,
            "kendall_w": w_curve,
        }
    )


def _bootstraps(values: list, n_bootstrap: int, seed: int) -> list:
    """:func:`~study.analysis.stability.bootstrap_mean_ci` of each view, on two threads: scipy's
    resampling is numpy indexing and means, which release the GIL (1.2 s -> 0.6 s for the 17
    views of a 1000-seed study on 2 cores); each call has its own seeded generator, so the
    intervals are those of one call after another."""
    from concurrent.futures import ThreadPoolExecutor

    def one(vals):
        return stab.bootstrap_mean_ci(vals, n_resamples=n_bootstrap, seed=seed)

    if len(values) < 2 or values[0].shape[0] < 100:  # small studies: no thread is worth it
        return [one(v) for v in values]
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(one, values))


def _merge_notes(notes: dict[str, list[str]], n_views: int) -> list[str]:
    """One line per distinct note, naming the views it concerns (or none, if it concerns all)."""
    return [
        note if len(labels) == n_views else f"{', '.join(labels)}: {note}"
        for note, labels in notes.items()
    ]
