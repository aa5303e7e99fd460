"""The test of a study's seeds against their null networks: tables, metrics, summary lines.

Every tested seed is compared with its group of null networks (:class:`~._design.NullSet`):
per method and output, the median p over the tested seeds, the share of seeds with p <= alpha,
the best-scoring seed's p (the paper's one network), Holm's and Benjamini-Hochberg's adjustments
across the variables; per connection product likewise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from study.analysis.randomisation._pvalues import (
    benjamini_hochberg,
    connection_products,
    grouped_p_values,
    holm,
)

__all__ = ["analyse", "RandomisationResult"]


@dataclass
class RandomisationResult:
    """The test's tables (``randomisation.csv``, ``randomisation_connections.csv``), metrics,
    the summary lines, and what the charts need: per view ``(method, output)``, the tested
    seeds' values ``(m, p)``, their groups' null values ``(G, B, p)`` and each seed's group."""

    tables: dict[str, pd.DataFrame]
    metrics: dict[str, float]
    summary: list[str]
    views: dict = field(default_factory=dict)  # (method, output) -> (observed, null, groups)
    best: int = 0  # index (in the study's runs) of the best-scoring tested seed
    best_connections: np.ndarray | None = None  # its connection p-values (p, H, K)
    design: object = None  # the null design (study.analysis.randomisation.Design)


def analyse(
    record,
    null,
    *,
    alternative: str = "two-sided",
    alpha: float = 0.05,
    chance: float | None = None,
) -> RandomisationResult:
    """Test the study's seeds against their null networks; see the module docstring.

    ``record``: the study (:class:`~study.training.record.StudyRecord`); ``null``: its
    :class:`~study.analysis.randomisation.NullSet`. ``chance``: the training score of a network that
    learned nothing (for the warning when null networks fit their permuted data).
    """
    meta, design = record.meta, null.design
    if null.n_networks == 0:
        raise ValueError("the randomisation test needs at least one null network")
    tested = _tested(record, null)
    if not tested:
        raise ValueError("none of the study's seeds has null networks")
    runs = [record.runs[i] for i in tested]
    groups = np.array([null.group_of(r.seed) for r in runs])
    test = np.array([r.test_score for r in runs], float)
    best = int(np.nanargmax(test)) if np.isfinite(test).any() else 0
    feats, rows, views = list(meta.feature_names), [], {}
    metrics: dict[str, float] = {
        "randomisation.n_permutations": float(null.n_permutations),
        "randomisation.null_networks": float(null.n_networks),
        "randomisation.null_networks_planned": float(null.n_planned),
        "randomisation.tested_seeds": float(len(runs)),
    }
    for name, layout in meta.methods.items():
        method_rows, method_views, medians = _test_method(
            name, layout, feats, runs, null, groups, alternative, alpha, best
        )
        rows += method_rows
        views.update(method_views)
        metrics.update(_significant_counts(name, layout, medians, alpha))
    table = pd.DataFrame(rows)
    conn, best_connections = _connection_table(meta, runs, null, groups, alternative, alpha, best)
    metrics["randomisation.null_train_score_mean"] = float(np.nanmean(null.train_score))
    summary = _summary(table, record, runs, best, null, alternative, alpha, chance)
    tables = {"randomisation.csv": table, "randomisation_connections.csv": conn}
    metrics = {k: v for k, v in metrics.items() if np.isfinite(v)}
    return RandomisationResult(
        tables=tables,
        metrics=metrics,
        summary=summary,
        views=views,
        best=tested[best],
        best_connections=best_connections,
        design=design,
    )


def _tested(record, null) -> list[int]:
    """The indices of the study's runs that the test compares with their null networks."""
    # with fresh weights one null serves any seed: those the design picks; with the tested
    # seeds' weights, the seeds that have null networks (study-aggregate then tests the same)
    if null.design.init == "fresh":
        return null.design.tested_indices(record.runs)
    return [i for i, r in enumerate(record.runs) if null.group_of(r.seed) is not None]


def _test_method(name, layout, feats, runs, null, groups, alternative, alpha, best):
    """One method's rows of ``randomisation.csv``, its views for the charts (``{(method,
    output): (observed, null, groups)}``) and, per output, each variable's median p."""
    obs_all = np.stack([r.importances[name][layout.primary] for r in runs]).astype(float)
    null_all = null.values[name]  # (G, B, p, K)
    rows, views, medians = [], {}, {}
    for c, col in enumerate(layout.columns):
        obs, nul = obs_all[:, :, c], null_all[..., c]  # (m, p), (G, B, p)
        p = grouped_p_values(obs, nul, groups, alternative)  # (m, p)
        views[(name, col)] = (obs, nul, groups)
        rows += _view_rows(name, col, feats, obs, nul, p, alpha, best, null.n_permutations)
        medians[col] = np.nanmedian(p, axis=0)
    return rows, views, medians


def _view_rows(name, col, feats, obs, nul, p, alpha, best, B) -> list[dict]:
    """``randomisation.csv``'s rows of one view: per variable the tested seeds' mean importance,
    the null's mean and spread, the median p (raw, Holm's, Benjamini-Hochberg's) over the
    tested seeds, the share of seeds with p <= ``alpha`` and the best-scoring seed's p."""
    p_holm, q_bh = holm(p, axis=1), benjamini_hochberg(p, axis=1)
    rows = []
    with np.errstate(all="ignore"):
        # the spread the test sees: within each group (the tested seed's own null)
        sd = (
            np.sqrt(np.nanmean(np.nanvar(nul, axis=1, ddof=1), axis=0))
            if B > 1
            else np.full(len(feats), np.nan)
        )
        n_null = np.isfinite(nul).sum(axis=1).min(axis=0)
        for i, feat in enumerate(feats):
            pi = p[:, i]
            rows.append(
                {
                    "method": name,
                    "output": col,
                    "feature": feat,
                    "observed": np.nanmean(obs[:, i]),
                    "null_mean": np.nanmean(nul[:, :, i]),
                    "null_sd": sd[i],
                    "p_value": np.nanmedian(pi),
                    "share_significant": float(np.mean(pi[np.isfinite(pi)] <= alpha))
                    if np.isfinite(pi).any()
                    else np.nan,
                    "p_best": pi[best],
                    "p_holm": np.nanmedian(p_holm[:, i]),
                    "q_bh": np.nanmedian(q_bh[:, i]),
                    "n_runs": int(np.isfinite(pi).sum()),
                    "n_permutations": int(n_null[i]),
                }
            )
    return rows


def _significant_counts(name, layout, medians, alpha) -> dict[str, float]:
    """Per view, how many variables the test finds (their p-values are in randomisation.csv);
    one key where every output column gives the same test (Garson, weight sums)."""
    from study.training.naming import metric_names

    safe_cols = metric_names(layout.columns)
    cols = list(medians)
    same = all(np.array_equal(medians[c], medians[cols[0]], equal_nan=True) for c in cols)
    out = {}
    for c, col in enumerate(cols[:1] if same else cols):
        part = "" if same or col == "all" else f".{safe_cols[c]}"
        out[f"randomisation.{name}{part}.significant"] = float(np.sum(medians[col] <= alpha))
    return out


def _connection_table(meta, runs, null, groups, alternative, alpha, best):
    obs = np.stack([connection_products(r.coefs) for r in runs])  # (m, p, H, K)
    nul = null.connections  # (G, B, p, H, K)
    p = grouped_p_values(obs, nul, groups, alternative)
    _, n_in, H, K = obs.shape
    i, j, k = (a.ravel() for a in np.indices((n_in, H, K)))
    with np.errstate(all="ignore"):
        sd = (
            np.sqrt(np.nanmean(np.nanvar(nul, axis=1, ddof=1), axis=0))
            if null.n_permutations > 1
            else np.full(obs.shape[1:], np.nan)
        )
        table = pd.DataFrame(
            {
                "feature": np.asarray(meta.feature_names)[i],
                "hidden_unit": j + 1,
                "output": np.asarray(meta.output_names)[k],
                "observed": np.nanmean(obs, axis=0).ravel(),
                "null_mean": np.nanmean(nul, axis=(0, 1)).ravel(),
                "null_sd": sd.ravel(),
                "p_value": np.nanmedian(p, axis=0).ravel(),
                "share_significant": np.mean(p <= alpha, axis=0).ravel(),
                "p_best": p[best].ravel(),
            }
        )
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


def _summary(table, record, runs, best, null, alternative, alpha, chance) -> list[str]:
    """The report's lines: what was tested and how, each variable's median p per view, what the
    best-scoring seed alone finds, the null networks' training score and the warnings."""
    views = _views(table)
    feats = list(record.meta.feature_names)
    lines = _head(null, len(runs), alternative, alpha)
    lines += _p_value_lines(table, views, feats)
    lines.append(
        f"  The best-scoring tested seed alone (seed {runs[best].seed}: the paper's "
        f"one-network protocol) at p <= {alpha}:"
    )
    for method, output, label in views:
        rows = table[(table["method"] == method) & (table["output"] == output)]
        found = rows[rows["p_best"] <= alpha].sort_values("p_best")["feature"].tolist()
        lines.append(f"    {label}: " + (", ".join(found) if found else "none"))
    return lines + _null_fit_lines(record.meta.score_name, runs, null, chance)


def _head(null, m: int, alternative: str, alpha: float) -> list[str]:
    """The test, its design, the null networks trained and the seeds tested, in words."""
    design, B = null.design, null.n_permutations
    which = {"all": f"all {m} seeds", "best": "the best-scoring seed (the paper's one network)"}
    trained = (
        f"{null.n_networks:,} null networks"
        if null.n_networks == null.n_planned
        else f"{null.n_networks:,} null networks (of {null.n_planned:,}: Besag & Clifford's "
        "sequential rule stopped the variables whose p-values were decided)"
    )
    head = (
        f"Randomisation test (Olden & Jackson 2002), {alternative} p: null networks with "
        f"{design.describe(B, sequential=null.n_networks < null.n_planned)}; {trained}; "
        f"{which.get(str(design.tested), f'the first {m} seeds')} tested."
    )
    return _wrapped(head, indent="  ") + _wrapped(
        f"  Design: randomisation.permute={design.permute} randomisation.init={design.init} "
        f"randomisation.tested={design.tested}. Median p over the {m} tested seed(s), the share of "
        f"seeds with p <= {alpha} in brackets, * where that share is at least half:"
    )


def _p_value_lines(table, views, feats) -> list[str]:
    """A grid of each variable's median p (share significant) per view, one line per variable."""
    width = max(len(f) for f in feats) + 2
    cells = {}
    for method, output, label in views:
        rows = table[(table["method"] == method) & (table["output"] == output)].set_index("feature")
        cells[label] = [
            "–"
            if not np.isfinite(r.p_value)
            else f"{r.p_value:.3f} ({r.share_significant:.0%})"
            + ("*" if r.share_significant >= 0.5 else "")
            for r in rows.reindex(feats).itertuples()
        ]
    widths = {label: max(len(label), 12) + 2 for label in cells}
    lines = ["  " + "variable".ljust(width) + "".join(lab.rjust(widths[lab]) for lab in cells)]
    for i, feat in enumerate(feats):
        lines.append(
            "  " + feat.ljust(width) + "".join(cells[lab][i].rjust(widths[lab]) for lab in cells)
        )
    return lines


def _null_fit_lines(score_name: str, runs, null, chance) -> list[str]:
    """The null and real networks' mean training scores, the design's validity warning, and a
    warning when the null networks fit their permuted response well (they memorise noise)."""
    design = null.design
    real = float(np.nanmean([r.train_score for r in runs]))
    null_score = float(np.nanmean(null.train_score))
    lines = [
        f"  Null networks' mean training {score_name} {null_score:.3f} (real networks {real:.3f})."
    ]
    lines += validity_warning(design)
    # a quarter of the real networks' gain over chance: on a regression trained to convergence
    # the null networks reached R² 0.32 (real 0.90) and the null's spread doubled; with a
    # variable permuted the null networks keep the others' signal, so there is no such check
    if (
        design.permute == "response"
        and chance is not None
        and np.isfinite(null_score)
        and null_score - chance > 0.25 * (real - chance)
    ):
        lines += _wrapped(
            f"  Warning: the null networks fit their permuted training data well "
            f"({null_score:.3f}, chance {chance:.3f}): they memorise noise, which widens the null "
            "and costs power. Train with early stopping or fewer units (see the "
            "randomisation_test preset)."
        )
    return lines


def validity_warning(design) -> list[str]:
    """The report's warning for a design whose per-variable p-values are not valid when other
    variables carry signal (the partial null); none for a valid one."""
    if design.valid_per_variable:
        return []
    why = (
        "networks fit to a permuted response stay near the tested seed's initial weights "
        "while the real network moves away from them wherever any variable carries signal, "
        "so every weight that moved looks significant"
        if design.init == "tested"
        else "the null keeps nothing the network learns from the informative variables"
    )
    return _wrapped(
        f"  Warning: permuting the response tests the global null (no variable "
        f"matters); its per-variable p-values are not valid when other variables carry "
        f"signal ({why}; the calibration table in docs/randomisation.md measures it). For a claim "
        "about one variable use randomisation.permute=variable "
        "randomisation.init=tested."
    )


def _wrapped(text: str, indent: str | None = None) -> list[str]:
    """A long report line as lines of at most 100 characters (the study page shows them as
    preformatted text), continued with ``indent`` (default: the line's own, two more)."""
    import textwrap

    own = text[: len(text) - len(text.lstrip())]
    return textwrap.wrap(
        text, width=100, subsequent_indent=indent or own + "  ", break_on_hyphens=False
    )
