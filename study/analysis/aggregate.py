"""From a study's runs to its answers: tables, stability, agreement, weight sums, known truth.

Everything here is computed from a :class:`~study.training.record.StudyRecord` (which
:func:`study.tracking.load_study` reads back from MLflow), so ``study-run`` and ``study-aggregate``
run the same code on the same numbers and always agree.

A *view* is one column of one method: ``(method, output)``. Stability is computed per view, so a
network with several outputs gets it per output.

The views and their ranks are :mod:`~study.analysis.views`'s, the weight sums
:mod:`~study.analysis.weight_sums`'s; their public names stay importable from here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd

from study.analysis import agreement as agr
from study.analysis import answer as ans
from study.analysis import stability as stab
from study.analysis.views import (
    View,
    overall_importance,
    primary_ranks,
    same_ranking_methods,
    views,
)
from study.analysis.weight_sums import weight_sums_table
from study.config.spec import N_BOOTSTRAP
from study.training.record import StudyRecord

__all__ = [
    "View",
    "views",
    "Analysis",
    "analyse",
    "weight_sums_table",
    "overall_importance",
    "primary_ranks",
    "same_ranking_methods",
    "lek_table",
    "resample_table",
]


@dataclass
class Analysis:
    """Every table a study produces, and the metrics logged to its parent run."""

    record: StudyRecord
    top_k: int
    same_ranking: tuple[str, ...]  # methods whose outputs all rank alike (see same_ranking_methods)
    importances: pd.DataFrame
    weight_sums: pd.DataFrame
    aggregate: pd.DataFrame
    stability: pd.DataFrame
    topk_frequency: pd.DataFrame
    rank_distribution: pd.DataFrame
    agreement: pd.DataFrame
    stability_curve: pd.DataFrame
    truth: pd.DataFrame | None = None
    lek_profile: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    answer: ans.Answer | None = (
        None  # the study's answer (study.analysis.answer): first wherever shown
    )

    def tables(self) -> dict[str, pd.DataFrame]:
        """``{file name: table}`` for every CSV artifact."""
        out = {
            "importances.csv": self.importances,
            "weight_sums.csv": self.weight_sums,
            "aggregate.csv": self.aggregate,
            "stability.csv": self.stability,
            "topk_frequency.csv": self.topk_frequency,
            "rank_distribution.csv": self.rank_distribution,
            "agreement.csv": self.agreement,
            "stability_curve.csv": self.stability_curve,
        }
        if self.truth is not None:
            out["truth_recovery.csv"] = self.truth
        if self.lek_profile is not None:
            out["lek_profile.csv"] = self.lek_profile
        if self.answer is not None:
            out["answer.csv"] = self.answer.frame()
            out["answer_methods.csv"] = self.answer.methods
        return out

    def metrics(self) -> dict[str, float]:
        """Study-level metrics that mean something as a chart: the scores, and per view (one for
        a method whose outputs all rank alike) the final top-k stability and the half-width of
        its 95% interval; the known-truth accuracy on simulated data. Kendall's W and top-k
        stability over the number of seeds are :meth:`series`. Agreement stays in
        ``agreement.csv``."""
        rec, k = self.record, self.top_k
        test = np.array([r.test_score for r in rec.runs], float)
        out = {
            "runs": float(len(rec.runs)),
            "runs_converged": float(sum(r.converged for r in rec.runs)),
            "test_score_mean": float(np.nanmean(test)) if test.size else np.nan,
            "test_score_sd": float(np.nanstd(test, ddof=1)) if test.size > 1 else np.nan,
        }
        for base, row in self._stability_rows():
            out[f"{base}.top{k}_stability_ci"] = (
                (row.topk_stability_high - row.topk_stability)
                if np.isfinite(row.topk_stability_high)
                else np.nan
            )
        if self.truth is not None:
            for row in self.truth.itertuples():
                out[f"truth.{row.method}.accuracy"] = row.accuracy
        return {key: float(v) for key, v in out.items() if v is not None and np.isfinite(v)}

    def series(self, *, max_points: int = 200) -> dict[str, list[tuple[int, float]]]:
        """Kendall's W and top-k stability of each view on the first m seeds, ``[(m, value)]``
        (step = number of seeds; at most ``max_points`` steps, the last one all seeds): the UI
        draws them as convergence curves, and their last point is the study's value."""
        k, out = self.top_k, {}
        ranks = primary_ranks(self.record)
        for base, row in self._stability_rows():
            r = ranks[(row.method, row.column)]
            r = r[~np.isnan(r).any(axis=1)]
            m_values, w = stab.stability_curve(r)
            if not len(m_values):
                continue
            keep = np.unique(
                np.linspace(0, len(m_values) - 1, min(max_points, len(m_values)))
                .round()
                .astype(int)
            )
            members = stab.topk_membership(r, k)
            out[f"{base}.kendall_w"] = [
                (int(m_values[i]), float(w[i])) for i in keep if np.isfinite(w[i])
            ]
            nog = stab.nogueira_curve(members, m_values[keep])
            out[f"{base}.top{k}_stability"] = [
                (int(m), float(v)) for m, v in zip(m_values[keep], nog) if np.isfinite(v)
            ]
        return {key: pts for key, pts in out.items() if pts}

    def _stability_rows(self):
        """``(metric base name, stability row)`` per view; one view for a method whose outputs
        all rank alike. The row carries ``column`` (its index among the method's columns)."""
        from study.training.naming import metric_names

        seen = set()
        for row in self.stability.itertuples():
            layout = self.record.meta.methods[row.method]
            if row.method in self.same_ranking:
                if row.method in seen:
                    continue
                seen.add(row.method)
                part = ""
            else:
                part = "" if row.output == "all" else "." + metric_names([row.output])[0]
            yield (
                f"stability.{row.method}{part}",
                SimpleNamespace(**row._asdict(), column=layout.columns.index(row.output)),
            )


def _importance_table(record: StudyRecord, ranks) -> pd.DataFrame:
    """Long format: one row per (seed, method, measure, output, feature); rank for the primary."""
    meta = record.meta
    m, n = len(record.runs), len(meta.feature_names)
    seeds, feats = np.repeat(record.seeds, n), np.tile(meta.feature_names, m)
    frames = []
    for name, layout in meta.methods.items():
        for measure in layout.measures:
            vals = record.values(name, measure)  # (m, p, K)
            for c, col in enumerate(layout.columns):
                r = ranks[(name, c)] if measure == layout.primary else np.full((m, n), np.nan)
                frames.append(
                    pd.DataFrame(
                        {
                            "seed": seeds,
                            "method": name,
                            "measure": measure,
                            "output": col,
                            "feature": feats,
                            "value": vals[:, :, c].ravel(),
                            "rank": r.ravel(),
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def resample_table(record: StudyRecord) -> pd.DataFrame | None:
    """The resample networks' importances (``resamples.csv``), long format like
    ``importances.csv`` less the rank: one row per (resample ``b``, method, measure, output,
    feature), with ``seed``, the network's own seed; None when the study has no resamples."""
    from study.training.resample import index, network_seed

    if not record.resamples:
        return None
    meta = record.meta
    b = np.array([index(r.seed) for r in record.resamples])
    m, n = len(b), len(meta.feature_names)
    ids, feats = np.repeat(b, n), np.tile(meta.feature_names, m)
    seeds = np.repeat([network_seed(meta.seed, i) for i in b], n)
    frames = []
    for name, layout in meta.methods.items():
        for measure in layout.measures:
            vals = np.stack([r.importances[name][measure] for r in record.resamples])
            for c, col in enumerate(layout.columns):
                frames.append(
                    pd.DataFrame(
                        {
                            "resample": ids,
                            "seed": seeds,
                            "method": name,
                            "measure": measure,
                            "output": col,
                            "feature": feats,
                            "value": vals[:, :, c].ravel(),
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def _stability_tables(record, all_ranks, k, n_bootstrap, seed):
    feats = list(record.meta.feature_names)
    n = len(feats)
    stability, aggregate, topk, dist, curves, notes = [], [], [], [], [], {}
    boots = _bootstraps(
        [record.values(v.method)[:, :, v.column] for v in views(record)], n_bootstrap, seed
    )
    for v, boot in zip(views(record), boots):
        vals = record.values(v.method)[:, :, v.column]
        ranks = all_ranks[(v.method, v.column)]
        usable = ~np.isnan(ranks).any(axis=1)
        w = stab.kendall_w(ranks)
        nog = stab.nogueira_stability(stab.topk_membership(ranks, k)[usable])
        freq = stab.topk_frequency(ranks, k)
        for note in stab.stability_notes(vals, signed=v.signed):
            notes.setdefault(note, []).append(v.label)
        stability.append(
            {
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
        )
        good = ranks[usable]
        q = np.nanpercentile(good, [25, 50, 75], axis=0) if len(good) else np.full((3, n), np.nan)
        aggregate.append(
            pd.DataFrame(
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
        )
        topk.append(
            pd.DataFrame(
                {
                    "method": v.method,
                    "output": v.output,
                    "feature": feats,
                    "k": k,
                    "frequency": freq,
                    "count": np.rint(freq * usable.sum()).astype(int),
                }
            )
        )
        counts = stab.rank_distribution(ranks)
        dist.append(
            pd.DataFrame(
                {
                    "method": v.method,
                    "output": v.output,
                    "feature": np.repeat(feats, n),
                    "rank": np.tile(np.arange(1, n + 1), n),
                    "count": counts.ravel(),
                }
            )
        )
        m_values, w_curve = stab.stability_curve(ranks)
        curves.append(
            pd.DataFrame(
                {
                    "method": v.method,
                    "output": v.output,
                    "n_runs": m_values,
                    "kendall_w": w_curve,
                }
            )
        )
    return (
        pd.DataFrame(stability),
        pd.concat(aggregate, ignore_index=True),
        pd.concat(topk, ignore_index=True),
        pd.concat(dist, ignore_index=True),
        pd.concat(curves, ignore_index=True),
        _merge_notes(notes, len(views(record))),
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


def _agreement_table(record: StudyRecord, k: int) -> pd.DataFrame:
    """Krishna et al.'s measures for every pair of methods, per output, averaged over runs.

    A method pooled over outputs (one column) is compared with each output of the other.
    """
    meta = record.meta
    rows = []
    for a, b in itertools.combinations(meta.methods, 2):
        la, lb = meta.methods[a], meta.methods[b]
        va, vb = record.values(a), record.values(b)
        pairs = (
            [("all", 0, 0)]
            if len(la.columns) == len(lb.columns) == 1
            else [
                (out, min(i, len(la.columns) - 1), min(i, len(lb.columns) - 1))
                for i, out in enumerate(meta.output_names)
            ]
        )
        for output, ca, cb in pairs:
            scores = agr.mean_agreement(va[:, :, ca], vb[:, :, cb], k=k)
            rows += [
                {"method_a": a, "method_b": b, "output": output, "k": k, "measure": m, "value": s}
                for m, s in scores.items()
            ]
    columns = ["method_a", "method_b", "output", "k", "measure", "value"]
    return pd.DataFrame(rows, columns=columns)


def truth_table(record: StudyRecord) -> pd.DataFrame | None:
    """How well each method recovers a known importance order (simulated data only).

    Accuracy (Olden, Joy & Death 2004): the fraction of (network, informative variable) pairs whose
    estimated rank equals the true rank, ranks taken over all variables by the method's overall
    importance (mean over outputs). Also the mean Spearman correlation with the true importance.
    """
    truth = record.meta.truth
    if truth is None or not record.runs:
        return None
    truth = np.asarray(truth, float)
    informative = truth > 0
    if not informative.any():  # pure noise: no true order to recover (analyse says so)
        return None
    true_rank = stab.rank_matrix(truth)[0]
    rows = []
    for name, layout in record.meta.methods.items():
        overall = overall_importance(record.values(name), signed=layout.signed)
        ranks = stab.rank_matrix(overall)
        usable = ~np.isnan(ranks).any(axis=1)
        hits = ranks[usable][:, informative] == true_rank[informative]
        rhos = stab.spearman_rows(overall[usable], truth)
        rows.append(
            {
                "method": name,
                "accuracy": float(hits.mean()) if hits.size else np.nan,
                "spearman_mean": float(np.nanmean(rhos)) if rhos.size else np.nan,
                "n_networks": int(usable.sum()),
                "n_informative": int(informative.sum()),
            }
        )
    return pd.DataFrame(rows).sort_values("accuracy", ascending=False, ignore_index=True)


def lek_table(record: StudyRecord) -> pd.DataFrame | None:
    """Lek's profiles summarised over runs, for a study with the ``lek`` method (else None).

    One row per (output, feature, group, step): ``x`` the swept value (median over runs: the
    same in every run unless ``study.resplit``), and the ``median``, ``q10`` and ``q90`` of the
    network's response over runs. ``group`` numbers the groups of held values from 1.
    """
    if "lek" not in record.meta.methods or not record.runs:
        return None
    meta = record.meta
    resp = np.stack([r.importances["lek"]["response"] for r in record.runs]).astype(float)
    x = np.median(np.stack([r.importances["lek"]["x"] for r in record.runs]), axis=0)  # (S, p)
    q10, med, q90 = np.nanquantile(resp, [0.1, 0.5, 0.9], axis=0)  # (p, G, S, K)
    p, G, S, K = med.shape
    idx = np.indices((K, p, G, S)).reshape(4, -1)  # rows ordered output, feature, group, step
    k, i, g, s = idx
    return pd.DataFrame(
        {
            "output": np.asarray(meta.methods["lek"].columns)[k],
            "feature": np.asarray(meta.feature_names)[i],
            "group": g + 1,
            "step": s + 1,
            "x": x[s, i],
            "median": med[i, g, s, k],
            "q10": q10[i, g, s, k],
            "q90": q90[i, g, s, k],
            "n_runs": len(record.runs),
        }
    )


def analyse(
    record: StudyRecord, *, top_k: int | None = None, n_bootstrap: int = N_BOOTSTRAP, seed: int = 0
) -> Analysis:
    """Compute every table and metric of a study from its runs."""
    if not record.runs:
        raise ValueError("the study has no finished runs to analyse")
    k = int(top_k or record.meta.top_k)
    n = len(record.meta.feature_names)
    clip_note = []
    if n > 1 and k >= n:
        # The top n of n variables is every variable: its stability says nothing.
        clip_note = [f"top_k={k} covers all {n} variables; top-k measures use k={n - 1}"]
        k = n - 1
    ranks = primary_ranks(record)
    stability, aggregate, topk, dist, curves, notes = _stability_tables(
        record, ranks, k, n_bootstrap, seed
    )
    notes = clip_note + notes
    truth = record.meta.truth
    if truth is not None and not np.any(np.asarray(truth, float) > 0):
        notes.append(
            "the dataset's known truth has no informative variable (pure noise: every "
            "coefficient is zero), so there is no true order and truth recovery is skipped"
        )
    return Analysis(
        record=record,
        top_k=k,
        same_ranking=same_ranking_methods(record, ranks),
        importances=_importance_table(record, ranks),
        weight_sums=weight_sums_table(record),
        aggregate=aggregate,
        stability=stability,
        topk_frequency=topk,
        rank_distribution=dist,
        agreement=_agreement_table(record, k),
        stability_curve=curves,
        truth=truth_table(record),
        lek_profile=lek_table(record),
        notes=notes,
        answer=ans.answer(record, k=k, n_bootstrap=n_bootstrap, seed=seed),
    )
