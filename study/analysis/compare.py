"""Several studies side by side: does the answer depend on the settings that differ between them?

Each study's answer is :mod:`study.analysis.answer`'s (the reference method's mean rank per
variable over seeds). Across studies:

- **Kendall's tau** between the mean-rank vectors of every pair of studies (over the variables
  they share), and the **top-k overlap**: how many of the k variables on top are the same;
- the variables in the **top k of every study**.

Pure: records and their settings in, tables and text out; ``study-compare`` and the sweep's
callback read the studies from the store and log what this returns.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from study.analysis import answer as ans
from study.config.identity import identity_keys
from study.config.spec import N_BOOTSTRAP
from study.escape import for_markdown, for_terminal

__all__ = ["Compared", "compare", "differing_settings"]

_SHOWN_SETTINGS = 4  # differing settings printed per study (all are in compare.csv)


def differing_settings(params: Sequence[Mapping[str, str]]) -> list[str]:
    """The identity keys (:mod:`study.config.identity`) whose values are not the same in every
    study."""
    params = [identity_keys(p) for p in params]
    keys = sorted(set().union(*map(set, params)))
    # the name labels the study already; what differs is what decides its numbers
    return [k for k in keys if k != "study.name" and len({p.get(k, "absent") for p in params}) > 1]


@dataclass
class Compared:
    """``studies``: one row per study (label, run id, differing settings, score, W, top k, the
    top k's rank sets over data and seeds where the study has resample networks);
    ``ranks``: one row per study and variable (the answer's table); ``pairs``: one row per pair
    of studies (``tau``, ``overlap``); ``common_top``: the variables in every study's top k."""

    method: str
    k: int
    studies: pd.DataFrame
    ranks: pd.DataFrame
    pairs: pd.DataFrame
    common_top: list[str]
    settings: list[str] = field(default_factory=list)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "compare.csv": self.studies,
            "compare_ranks.csv": self.ranks,
            "compare_pairs.csv": self.pairs,
        }

    def lines(self) -> list[str]:
        """The comparison in a few lines, for the terminal and ``compare.txt``."""
        out = [
            f"Comparison of {len(self.studies)} studies: top {self.k} by {self.method} "
            f"(mean rank over seeds), Kendall's W of each study's ranking over its seeds."
        ]
        for r in self.studies.itertuples():
            diff = r.settings if r.settings else "same settings"
            out.append(
                f"  {r.study} ({diff}): {r.score_name} {r.score:.3f}, "
                f"{r.n_seeds} seeds, W {r.kendall_w:.2f}; top {self.k}: {r.top}"
            )
            out.append(
                f"    95% rank sets over data and seeds: {r.rank_sets}"
                if r.rank_sets
                else "    no rank sets over data (no resample networks): its intervals "
                "cover the seeds only"
            )
        out.append(
            "Agreement of their rankings (Kendall's tau between mean-rank vectors; top-"
            f"{self.k} overlap):"
        )
        for r in self.pairs.itertuples():
            if r.n_common < 2:
                out.append(
                    f"  {r.study_a} vs {r.study_b}: not comparable ({r.n_common} variables "
                    "in common)"
                )
                continue
            out.append(
                f"  {r.study_a} vs {r.study_b}: tau {_f(r.tau)}, {r.overlap} of {self.k} "
                f"on top in both ({r.n_common} variables in common)"
            )
        top = ", ".join(self.common_top) if self.common_top else "none"
        out.append(f"On top in every study: {top}.")
        return [for_terminal(line) for line in out]

    def markdown(self, links: Mapping[str, str] = ()) -> str:
        """The comparison run's description: a table of the studies, their agreement, links."""
        links, md = dict(links), for_markdown  # names as typed: no tag, link or cell break
        rows = [
            f"| [{md(r.study)}]({links[r.run_id]}) |" if r.run_id in links else f"| {md(r.study)} |"
            for r in self.studies.itertuples()
        ]
        rows = [
            f"{head} {md(r.settings or '—')} | {r.score:.3f} | {r.kendall_w:.2f} | "
            f"{md(r.top)} | {md(r.rank_sets) or '—'} |"
            for head, r in zip(rows, self.studies.itertuples())
        ]
        pairs = [
            f"- {md(r.study_a)} vs {md(r.study_b)}: Kendall's tau {_f(r.tau)}, {r.overlap} "
            f"of {self.k} on top in both"
            for r in self.pairs.itertuples()
        ]
        return "\n".join(
            [
                f"**Comparison of {len(self.studies)} studies** (top {self.k} by {self.method}, "
                "mean rank over seeds)",
                "",
                f"| study | differing settings | score | W | top {self.k} | 95% rank sets over "
                "data and seeds |",
                "|---|---|---|---|---|---|",
                *rows,
                "",
                *pairs,
                "",
                f"On top in every study: {md(', '.join(self.common_top)) or 'none'}.",
            ]
        )


def _rank_sets(a: ans.Answer) -> str:
    """``"proline 1–2, alcohol 1–4"``: the top k's 95% rank sets, or "" without resamples."""
    if not a.n_resamples:
        return ""
    return ", ".join(
        f"{r.feature} {r.rank_low}–{r.rank_high}" for r in a.table.head(a.k).itertuples()
    )


def _f(x) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.2f}"


def compare(
    records: Sequence,
    params: Sequence[Mapping[str, str]],
    *,
    labels: Sequence[str],
    k: int | None = None,
    n_bootstrap: int = N_BOOTSTRAP,
) -> Compared:
    """Compare studies (``records``: :class:`~study.training.record.StudyRecord`, ``params``: their
    flattened settings, ``labels``: their names as printed) on their answers."""
    if len(records) < 2:
        raise ValueError("a comparison needs at least two studies")
    shared = set.intersection(*(set(r.meta.methods) for r in records))
    if not shared:
        raise ValueError("the studies have no importance method in common")
    method = ans.reference_method([m for m in records[0].meta.methods if m in shared])
    k = int(k or min(r.meta.top_k for r in records))
    keys = differing_settings(params)
    answers = [
        ans.answer(r, k=k, n_bootstrap=n_bootstrap, seed=r.meta.seed, method=method)
        for r in records
    ]
    studies = [
        _study_row(label, rec, p, a, keys, method=method, k=k)
        for label, rec, p, a in zip(labels, records, params, answers)
    ]
    ranks = [
        a.table.assign(study=label, run_id=rec.run_id or "")
        for label, rec, a in zip(labels, records, answers)
    ]
    common_top = [f for f in answers[0].top if all(f in a.top for a in answers[1:])]
    return Compared(
        method,
        k,
        pd.DataFrame(studies),
        pd.concat(ranks, ignore_index=True),
        pd.DataFrame(_pair_rows(answers, labels, k)),
        common_top,
        keys,
    )


def _study_row(label, rec, p, a: ans.Answer, keys, *, method: str, k: int) -> dict:
    """``compare.csv``'s row of one study: its differing settings (``keys``, from its flattened
    settings ``p``), mean test score, stability and top ``k`` from its answer ``a``."""
    test = np.array([x.test_score for x in rec.runs], float)
    shown = [f"{key}={p.get(key, 'absent')}" for key in keys]
    return {
        "study": label,
        "run_id": rec.run_id or "",
        "settings": ", ".join(shown[:_SHOWN_SETTINGS])
        + (", ..." if len(shown) > _SHOWN_SETTINGS else ""),
        "all_settings": "; ".join(shown),
        "score_name": rec.meta.score_name,
        "score": float(np.nanmean(test)),
        "n_seeds": a.n_seeds,
        "kendall_w": a.kendall_w,
        "topk_stability": a.topk_stability,
        "method": method,
        "k": k,
        "top": ", ".join(a.top),
        "rank_sets": _rank_sets(a),
    }


def _pair_rows(answers, labels, k: int) -> list[dict]:
    """``compare_pairs.csv``: per pair of studies, Kendall's tau between their mean ranks over
    the variables they share, and how many of their top ``k`` are the same."""
    pairs = []
    for (i, a), (j, b) in itertools.combinations(enumerate(answers), 2):
        common = [f for f in a.table.feature if f in set(b.table.feature)]
        ra = a.table.set_index("feature").mean_rank.reindex(common)
        rb = b.table.set_index("feature").mean_rank.reindex(common)
        pairs.append(
            {
                "study_a": labels[i],
                "study_b": labels[j],
                "tau": ans.kendall_tau(ra, rb) if len(common) > 1 else np.nan,
                "overlap": len(set(a.top) & set(b.top)),
                "k": k,
                "n_common": len(common),
            }
        )
    return pairs


def figure(compared: Compared):
    """Mean rank [the seeds' 95% interval] of each variable in each study, variables by their
    average mean rank: lines that cross are rankings that disagree."""
    import matplotlib.pyplot as plt

    ranks = compared.ranks
    order = ranks.groupby("feature").mean_rank.mean().sort_values().index.tolist()
    studies = list(dict.fromkeys(ranks.study))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(order) + 2), 4.2), layout="constrained")
    width = 0.7 / max(len(studies), 1)
    for s, name in enumerate(studies):
        t = ranks[ranks.study == name].set_index("feature").reindex(order)
        x = np.arange(len(order)) + (s - (len(studies) - 1) / 2) * width
        err = np.vstack([t.mean_rank - t.ci_low, t.ci_high - t.mean_rank])
        ax.errorbar(
            x, t.mean_rank, yerr=np.nan_to_num(err), fmt="o-", ms=4, lw=1, capsize=2, label=name
        )
    ax.set_xticks(np.arange(len(order)), order, rotation=45, ha="right", fontsize=8)
    ax.invert_yaxis()
    ax.set_ylabel(f"mean rank by {compared.method} (1 = most important)")
    ax.set_title(
        f"{len(studies)} studies: the variables' mean rank over seeds [the seeds' 95% interval]",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    plt.close(fig)
    return fig
