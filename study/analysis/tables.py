"""The study's long tables beside the stability ones: every importance (``importances.csv``),
the resample networks' (``resamples.csv``), the methods' agreement (``agreement.csv``), the
recovery of a known truth (``truth_recovery.csv``) and Lek's profiles (``lek_profile.csv``).

Each is a pure function of a :class:`~study.training.record.StudyRecord`.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from study.analysis import agreement as agr
from study.analysis import stability as stab
from study.analysis.views import overall_importance
from study.training.record import StudyRecord

__all__ = ["importance_table", "resample_table", "agreement_table", "truth_table", "lek_table"]


def importance_table(record: StudyRecord, ranks) -> pd.DataFrame:
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


def agreement_table(record: StudyRecord, k: int) -> pd.DataFrame:
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
