"""Checks that tell users which ranking to believe.

- :func:`output_layer_sensitivity`: does a weight-based method change when the output layer's
  weights change? (Garson and weight sums: never; signed Garson: only with their signs; Olden:
  yes.) Computed numerically on the study's own networks, not declared.
- :func:`output_relations`: with several outputs, is each run's signed-Garson vector of one output
  an exact negation or an exact copy of another's, and are the output weights of the two outputs
  of opposite (or equal) sign on every hidden unit? The same for Olden, which does not have the
  pattern.
- :func:`checks`: both, as tables, metrics and lines for the report (``study-run`` and
  ``study-aggregate``); retraining on the top-k variables is :mod:`study.analysis.retraining`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from study.importance import get_method

__all__ = ["output_layer_sensitivity", "output_relations", "relation", "checks", "Checks"]

_TOL = 1e-12


def _weight_methods(names):
    return [n for n in names if not get_method(n).needs_data]


def _values(name, coefs):
    from study.importance import Network, compute

    out = compute([name], Network(coefs=coefs, intercepts=[]))[name]
    return out[get_method(name).primary]


def output_layer_sensitivity(coefs_per_run, methods, *, seed: int = 0) -> pd.DataFrame:
    """How each weight-based method responds to three changes of the output layer's weights.

    For every network: ``rescaled`` multiplies each output weight by a random factor in
    [0.1, 10] (signs kept), ``sign_flipped`` negates the weights of one output, ``replaced`` draws
    new weights. The columns give the largest change of the importance over all networks, relative
    to the largest |importance| of the unchanged network (so the verdict does not depend on the
    units of the weights); ``verdict`` reads them: "ignores the output layer", "uses only the
    signs of output weights" or "uses the output weights".
    """
    rng = np.random.default_rng(seed)
    rows = []
    for name in _weight_methods(methods):
        change = {"rescaled": 0.0, "sign_flipped": 0.0, "replaced": 0.0}
        for coefs in coefs_per_run:
            coefs = [np.asarray(w, float) for w in coefs]
            last = coefs[-1]
            base = _values(name, coefs)
            flipped = last.copy()
            flipped[:, 0] *= -1
            variants = {
                "rescaled": last * rng.uniform(0.1, 10.0, size=last.shape),
                "sign_flipped": flipped,
                "replaced": rng.standard_normal(last.shape) * np.abs(last).mean(),
            }
            scale = np.nanmax(np.abs(base)) or 1.0
            for key, new_last in variants.items():
                diff = np.nanmax(np.abs(_values(name, coefs[:-1] + [new_last]) - base)) / scale
                change[key] = max(change[key], float(diff))
        tol = 1e-9  # relative: floating-point noise, not a dependence
        if max(change.values()) <= tol:
            verdict = "ignores the output layer"
        elif change["rescaled"] <= tol:
            verdict = "uses only the signs of output weights"
        else:
            verdict = "uses the output weights"
        rows.append({"method": name, **change, "verdict": verdict})
    return pd.DataFrame(rows, columns=["method", "rescaled", "sign_flipped", "replaced", "verdict"])


def relation(a: np.ndarray, b: np.ndarray, *, tol: float = _TOL) -> str:
    """'identical' if a == b, 'negated' if a == -b (to ``tol``, relative), else 'different'.

    Identity is tested first: two zero vectors are copies.
    """
    if np.isnan(a).any() or np.isnan(b).any():
        return "undefined"
    scale = max(np.abs(a).max(), np.abs(b).max(), 1e-300)
    if np.abs(a - b).max() <= tol * scale:
        return "identical"
    if np.abs(a + b).max() <= tol * scale:
        return "negated"
    return "different"


def output_relations(record) -> pd.DataFrame | None:
    """Per run and pair of outputs (a, b): how many hidden units have output weights of opposite
    sign, and whether signed Garson's and Olden's vectors are exact negations or copies.

    None when the network has a single output or neither method was computed.
    """
    meta = record.meta
    if len(meta.output_names) < 2:
        return None
    methods = [m for m in ("garson_signed", "olden") if m in meta.methods]
    if not methods:
        return None
    rows = []
    for run in record.runs:
        signs = np.sign(np.asarray(run.coefs[-1]))
        for a, b in itertools.combinations(range(len(meta.output_names)), 2):
            row = {
                "seed": run.seed,
                "output_a": meta.output_names[a],
                "output_b": meta.output_names[b],
                "hidden_units": signs.shape[0],
                "opposite_sign_units": int(np.sum(signs[:, a] * signs[:, b] < 0)),
                "same_sign_units": int(np.sum(signs[:, a] * signs[:, b] > 0)),
            }
            for m in methods:
                v = run.importances[m][meta.methods[m].primary]
                row[m] = relation(v[:, a], v[:, b])
                row[f"{m}_same_magnitude"] = (
                    relation(np.abs(v[:, a]), np.abs(v[:, b])) == "identical"
                )
            rows.append(row)
    return pd.DataFrame(rows)


def relations_summary(rel: pd.DataFrame) -> list[str]:
    """Plain-language lines: how often the pattern occurs, and why."""
    n = rel.seed.nunique()
    lines = ["Several outputs: signed Garson vectors of two outputs, exact negations or copies?"]
    for (a, b), g in rel.groupby(["output_a", "output_b"], sort=False):
        units = g.hidden_units.iloc[0]
        opposite = g.opposite_sign_units.eq(g.hidden_units)
        line = (
            f"  {a} vs {b}: output weights of opposite sign on all {units} hidden units in "
            f"{opposite.sum()}/{n} runs (median {g.opposite_sign_units.median():.0f})"
        )
        if "garson_signed" in g:
            neg, same = g.garson_signed.eq("negated"), g.garson_signed.eq("identical")
            line += (
                f"; signed Garson exactly negated in {neg.sum()}/{n} "
                f"({neg[opposite].sum()} of them all-opposite runs), copies in {same.sum()}/{n}"
            )
        if "olden" in g:
            line += (
                f"; Olden negated in {g.olden.eq('negated').sum()}/{n}, same magnitudes in "
                f"{g.olden_same_magnitude.sum()}/{n}"
            )
        lines.append(line + ".")
    if "garson_signed" in rel:
        lines.append(
            "  Why: signed Garson is RI_ik ∝ S_ik = sum_j sign(v_jk) w_ij / sum_i |w_ij|: only the "
            "signs of the output weights v_jk survive. Split the hidden units into those whose "
            "weights to outputs a and b have equal signs (sum A) and opposite signs (sum B): "
            "S_a = A + B, S_b = A - B. All units opposite => A = 0 => S_b = -S_a exactly: "
            "identical magnitudes, flipped signs. A property of the formula, not a bug; "
            "complementary outputs (two classes with one unit each, like a two-unit softmax) "
            "put every unit there. Olden's CW = W1 @ V keeps the magnitudes of V, so its vectors "
            "are not negations unless |v_ja| = |v_jb| on every unit."
        )
    return lines


def sensitivity_summary(table: pd.DataFrame, *, first: int | None = None) -> list[str]:
    """The check's lines; ``first``: it changed only the first that many networks."""
    on = f", on the first {first} networks" if first else ""
    lines = [f"Output-layer check (output weights rescaled, sign-flipped, replaced{on}):"]
    for r in table.itertuples():
        lines.append(
            f"  {r.method:<14} {r.verdict:<38} (largest relative change: rescaled "
            f"{r.rescaled:.2g}, sign-flipped {r.sign_flipped:.2g}, replaced {r.replaced:.2g})"
        )
    return lines


@dataclass
class Checks:
    """What the checks add to a study: tables (file name -> DataFrame) and blocks of lines for
    the summary."""

    tables: dict = field(default_factory=dict)
    summary: list = field(default_factory=list)


SENSITIVITY_RUNS = 100  # networks the output-layer check changes (the first ones, by seed)


def checks(record) -> Checks:
    """The checks of a study's networks as they are (no training: ``study-run`` and
    ``study-aggregate`` both add them); the caller writes and logs what they return."""
    out = Checks()
    weight_methods = _weight_methods(record.meta.methods)
    if weight_methods:
        # a check of each formula, not of the study's networks: the first SENSITIVITY_RUNS
        # networks settle the verdicts (the table is the same at that many seeds or fewer) and
        # its cost stays bounded (16,000 importance computations took 0.7 s at 1000 seeds)
        sens = output_layer_sensitivity(
            [r.coefs for r in record.runs[:SENSITIVITY_RUNS]], weight_methods, seed=record.meta.seed
        )
        out.tables["output_layer_check.csv"] = sens
        first = SENSITIVITY_RUNS if len(record.runs) > SENSITIVITY_RUNS else None
        out.summary.append(sensitivity_summary(sens, first=first))
    rel = output_relations(record)
    if rel is not None:
        out.tables["output_relations.csv"] = rel
        out.summary.append(relations_summary(rel))
    return out
