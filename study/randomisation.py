"""Olden & Jackson's randomisation test: which variables and connections beat chance?

Olden & Jackson (2002), "Illuminating the black box: a randomization approach for understanding
variable contributions in artificial neural networks", Ecological Modelling 154: 135-150.

The null distribution of a statistic T (any method's primary measure; for weight-based methods
also the connection products ``c_ijk = w_ij v_jk``) comes from B networks trained, with the
study's architecture and fresh initial weights, on the training data with the response randomly
permuted (:func:`null_plan`; the runner trains them like any seed). Every seed of the study is
then tested against that one null::

    two-sided      p = (1 + #{b : |T_b| >= |T_obs|}) / (B + 1)
    greater        p = (1 + #{b : T_b >= T_obs}) / (B + 1)
    less           p = (1 + #{b : T_b <= T_obs}) / (B + 1)
    observed-sign  greater where T_obs >= 0, less elsewhere (the paper's convention)

Across the variables of one method and output, Holm's step-down adjustment (family-wise error)
and Benjamini-Hochberg's (false discovery rate, :func:`scipy.stats.false_discovery_control`).
Everything here is a pure function of arrays; :func:`analyse` turns a study's runs and its null
runs into tables, metrics and summary lines.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "ALTERNATIVES", "p_values", "holm", "benjamini_hochberg", "connection_products", "null_plan",
    "null_seeds", "chance_score", "analyse", "RandomisationResult",
]

ALTERNATIVES = ("two-sided", "greater", "less", "observed-sign")


def p_values(observed, null, alternative: str = "two-sided") -> np.ndarray:
    """Randomisation p-values of every observed value against the null of its own position.

    ``observed`` (m, *shape): m networks' statistics; ``null`` (B, *shape): the null networks'.
    Returns (m, *shape). Null values that are NaN (a diverged null network) are left out of
    that position's null, so B there is the number of finite ones; a NaN observation gets NaN.
    Comparisons are exact (no tolerance): ties count as "at least as extreme".
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}; got {alternative!r}")
    obs, nul = np.asarray(observed, float), np.asarray(null, float)
    if obs.shape[1:] != nul.shape[1:]:
        raise ValueError(f"observed {obs.shape} and null {nul.shape} differ after their first axis")
    m, shape = obs.shape[0], obs.shape[1:]
    obs2, nul2 = obs.reshape(m, -1), nul.reshape(nul.shape[0], -1)
    out = np.full(obs2.shape, np.nan)
    for j in range(obs2.shape[1]):
        col = nul2[:, j]
        col = col[np.isfinite(col)]
        o = obs2[:, j]
        ok = np.isfinite(o)
        if alternative == "two-sided":
            s = np.sort(np.abs(col))
            count = s.size - np.searchsorted(s, np.abs(o[ok]), side="left")
        else:
            s = np.sort(col)
            ge = s.size - np.searchsorted(s, o[ok], side="left")  # null >= obs
            le = np.searchsorted(s, o[ok], side="right")  # null <= obs
            if alternative == "greater":
                count = ge
            elif alternative == "less":
                count = le
            else:
                count = np.where(o[ok] >= 0, ge, le)
        out[ok, j] = (1.0 + count) / (s.size + 1.0)
    return out.reshape((m, *shape))


def holm(p, axis: int = -1) -> np.ndarray:
    """Holm's step-down adjusted p-values along ``axis`` (NaNs stay NaN and are not counted)."""
    p = np.moveaxis(np.asarray(p, float), axis, -1)
    out = np.full(p.shape, np.nan)
    for idx in np.ndindex(p.shape[:-1]):
        row = p[idx]
        ok = np.flatnonzero(np.isfinite(row))
        order = ok[np.argsort(row[ok], kind="stable")]
        n = order.size
        adj = np.minimum(1.0, np.maximum.accumulate((n - np.arange(n)) * row[order]))
        out[idx + (order,)] = adj
    return np.moveaxis(out, -1, axis)


def benjamini_hochberg(p, axis: int = -1) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) along ``axis``, by scipy; NaNs stay NaN."""
    from scipy.stats import false_discovery_control

    p = np.moveaxis(np.asarray(p, float), axis, -1)
    out = np.full(p.shape, np.nan)
    for idx in np.ndindex(p.shape[:-1]):
        row = p[idx]
        ok = np.isfinite(row)
        if ok.any():
            out[idx + (ok,)] = false_discovery_control(row[ok], method="bh")
    return np.moveaxis(out, -1, axis)


def connection_products(coefs) -> np.ndarray:
    """Connection-level statistics of one network, ``(n_inputs, n_first_hidden, n_outputs)``.

    One hidden layer: Olden & Jackson's products ``c_ijk = w_ij * v_jk``. Deeper: the sum of the
    paths from input i through first-layer unit j to output k, ``w_ij * (W2 @ ... @ WL)[j, k]``,
    which is the same formula for one hidden layer. Summed over j they give Olden's connection
    weights.
    """
    first = np.asarray(coefs[0], float)
    rest = np.asarray(coefs[1], float)
    for w in coefs[2:]:
        rest = rest @ np.asarray(w, float)
    return first[:, :, None] * rest[None, :, :]


def null_seeds(first: int, n_permutations: int) -> list[int]:
    """Explicit seeds of the null networks, ``first .. first + B - 1``: each one seeds both the
    permutation of the response and the network's initial weights."""
    return list(range(int(first), int(first) + int(n_permutations)))


def null_plan(plan):
    """The study's plan with the training response permuted (by each null seed)."""
    return dataclasses.replace(plan, permute_response=True)


@dataclass
class RandomisationResult:
    """The test's tables (``randomisation.csv``, ``randomisation_connections.csv``), metrics,
    the summary lines, and what the charts need (observed and null values per view)."""

    tables: dict[str, pd.DataFrame]
    metrics: dict[str, float]
    summary: list[str]
    views: dict = field(default_factory=dict)  # (method, output) -> (observed (m, p), null (B, p))
    best: int = 0  # index (in the study's runs) of the best-scoring seed: highest test score
    best_connections: np.ndarray | None = None  # its connection p-values (p, H, K)


def _stack(runs, method, measure):
    return np.stack([r.importances[method][measure] for r in runs]).astype(float)


def chance_score(y, task: str) -> float:
    """The training score of a network that learned nothing from training targets ``y``: the
    majority-class share for a classifier (accuracy), 0 for a regressor (R²)."""
    if task != "classification":
        return 0.0
    y = np.asarray(y)
    if y.ndim > 1:  # one-hot or multilabel: the most frequent row
        _, counts = np.unique(y, axis=0, return_counts=True)
    else:
        _, counts = np.unique(y, return_counts=True)
    return float(counts.max() / counts.sum())


def analyse(record, null_runs, *, alternative: str = "two-sided", alpha: float = 0.05,
            chance: float | None = None) -> RandomisationResult:  # fmt: skip
    """Test every seed of a study against the null networks; see the module docstring.

    ``record``: the study (:class:`~study.record.StudyRecord`); ``null_runs``: the null networks'
    :class:`~study.record.RunRecord` list. ``chance``: the training score of a network that
    learned nothing (for the warning when null networks fit their permuted data).
    """
    from .naming import metric_names

    meta, runs = record.meta, record.runs
    if not null_runs:
        raise ValueError("the randomisation test needs at least one null network")
    B = len(null_runs)
    feats = list(meta.feature_names)
    test = np.array([r.test_score for r in runs], float)
    best = int(np.nanargmax(test)) if np.isfinite(test).any() else 0
    rows, views = [], {}
    metrics: dict[str, float] = {"randomisation.n_permutations": float(B)}
    for name, layout in meta.methods.items():
        obs_all, null_all = _stack(runs, name, layout.primary), _stack(null_runs, name, layout.primary)
        safe_cols, medians = metric_names(layout.columns), {}
        for c, col in enumerate(layout.columns):
            obs, nul = obs_all[:, :, c], null_all[:, :, c]
            p = p_values(obs, nul, alternative)  # (m, p)
            p_holm, q_bh = holm(p, axis=1), benjamini_hochberg(p, axis=1)
            views[(name, col)] = (obs, nul)
            with np.errstate(all="ignore"):
                for i, feat in enumerate(feats):
                    pi = p[:, i]
                    rows.append({
                        "method": name, "output": col, "feature": feat,
                        "observed": np.nanmean(obs[:, i]), "null_mean": np.nanmean(nul[:, i]),
                        "null_sd": np.nanstd(nul[:, i], ddof=1) if B > 1 else np.nan,
                        "p_value": np.nanmedian(pi),
                        "share_significant": float(np.mean(pi[np.isfinite(pi)] <= alpha))
                        if np.isfinite(pi).any() else np.nan,
                        "p_best": pi[best], "p_holm": np.nanmedian(p_holm[:, i]),
                        "q_bh": np.nanmedian(q_bh[:, i]), "n_runs": int(np.isfinite(pi).sum()),
                        "n_permutations": int(np.isfinite(nul[:, i]).sum()),
                    })  # fmt: skip
            medians[col] = np.nanmedian(p, axis=0)
        # per view, how many variables the test finds (their p-values are in randomisation.csv);
        # one key where every output column gives the same test (Garson, weight sums)
        cols = list(medians)
        same = all(np.array_equal(medians[c], medians[cols[0]], equal_nan=True) for c in cols)
        for c, col in enumerate(cols[:1] if same else cols):
            part = "" if same or col == "all" else f".{safe_cols[c]}"
            metrics[f"randomisation.{name}{part}.significant"] = float(np.sum(medians[col] <= alpha))
    table = pd.DataFrame(rows)
    conn, best_connections = _connection_table(record, null_runs, alternative, alpha, best)
    null_train = np.array([r.train_score for r in null_runs], float)
    metrics["randomisation.null_train_score_mean"] = float(np.nanmean(null_train))
    summary = _summary(table, record, null_train, alternative, alpha, chance)
    tables = {"randomisation.csv": table, "randomisation_connections.csv": conn}
    metrics = {k: v for k, v in metrics.items() if np.isfinite(v)}
    return RandomisationResult(tables=tables, metrics=metrics, summary=summary, views=views,
                               best=best, best_connections=best_connections)  # fmt: skip


def _connection_table(record, null_runs, alternative, alpha, best):
    meta = record.meta
    obs = np.stack([connection_products(r.coefs) for r in record.runs])  # (m, p, H, K)
    nul = np.stack([connection_products(r.coefs) for r in null_runs])
    p = p_values(obs, nul, alternative)
    _, n_in, H, K = obs.shape
    i, j, k = (a.ravel() for a in np.indices((n_in, H, K)))
    with np.errstate(all="ignore"):
        table = pd.DataFrame({
            "feature": np.asarray(meta.feature_names)[i], "hidden_unit": j + 1,
            "output": np.asarray(meta.output_names)[k],
            "observed": np.nanmean(obs, axis=0).ravel(),
            "null_mean": np.nanmean(nul, axis=0).ravel(),
            "null_sd": np.nanstd(nul, axis=0, ddof=1).ravel() if len(null_runs) > 1 else np.nan,
            "p_value": np.nanmedian(p, axis=0).ravel(),
            "share_significant": np.mean(p <= alpha, axis=0).ravel(),
            "p_best": p[best].ravel(),
        })  # fmt: skip
    return table, p[best]


def _views(table):
    """``(method, output, label)`` per block of the table; a method whose outputs all give the same
    test (Garson and weight sums ignore the output layer) is one block, labelled by its name."""
    out = []
    for method, rows in table.groupby("method", sort=False):
        outputs = list(dict.fromkeys(rows["output"]))
        p = [rows.loc[rows["output"] == o, "p_value"].to_numpy() for o in outputs]
        if len(outputs) == 1 or all(np.array_equal(p[0], q, equal_nan=True) for q in p[1:]):
            out.append((method, outputs[0], method))
        else:
            out += [(method, o, f"{method}·{o}") for o in outputs]
    return out


def _summary(table, record, null_train, alternative, alpha, chance) -> list[str]:
    meta = record.meta
    B = int(table["n_permutations"].max()) if len(table) else 0
    m = len(record.runs)
    views = _views(table)
    lines = [f"Randomisation test (Olden & Jackson 2002): {B} networks trained on the permuted "
             f"response, {alternative} p. Median p over the {m} seeds, the share of seeds with "
             f"p <= {alpha} in brackets, * where that share is at least half:"]  # fmt: skip
    feats = list(meta.feature_names)
    width = max(len(f) for f in feats) + 2
    cells = {}
    for method, output, label in views:
        rows = table[(table["method"] == method) & (table["output"] == output)].set_index("feature")
        cells[label] = [
            "–" if not np.isfinite(r.p_value) else
            f"{r.p_value:.3f} ({r.share_significant:.0%})" + ("*" if r.share_significant >= 0.5 else "")
            for r in rows.reindex(feats).itertuples()
        ]  # fmt: skip
    widths = {label: max(len(label), 12) + 2 for label in cells}
    lines.append("  " + "variable".ljust(width) + "".join(lab.rjust(widths[lab]) for lab in cells))
    for i, feat in enumerate(feats):
        lines.append("  " + feat.ljust(width)
                     + "".join(cells[lab][i].rjust(widths[lab]) for lab in cells))  # fmt: skip
    best_seed = record.runs[int(np.nanargmax([r.test_score for r in record.runs]))].seed \
        if np.isfinite([r.test_score for r in record.runs]).any() else record.runs[0].seed  # fmt: skip
    lines.append(f"  The best-scoring seed alone (seed {best_seed}: the paper's one-network "
                 f"protocol) at p <= {alpha}:")  # fmt: skip
    for method, output, label in views:
        rows = table[(table["method"] == method) & (table["output"] == output)]
        best = rows[rows["p_best"] <= alpha].sort_values("p_best")["feature"].tolist()
        lines.append(f"    {label}: " + (", ".join(best) if best else "none"))
    real = float(np.nanmean([r.train_score for r in record.runs]))
    null = float(np.nanmean(null_train))
    lines.append(f"  Null networks' mean training {meta.score_name} {null:.3f} (real networks "
                 f"{real:.3f}).")  # fmt: skip
    # a quarter of the real networks' gain over chance: on a regression trained to convergence
    # the null networks reached R² 0.32 (real 0.90) and the null's spread doubled
    if chance is not None and np.isfinite(null) and null - chance > 0.25 * (real - chance):
        lines.append(
            f"  Warning: the null networks fit their permuted training data well ({null:.3f}, "
            f"chance {chance:.3f}): they memorise noise, which widens the null and costs power. "
            "Train with early stopping or fewer units (see the randomisation_test preset)."
        )
    return lines
