"""A study's answer: which variables come out on top, how sure it is, and which methods agree.

One statistic, used everywhere the answer is shown (the report's first lines, the parent run's
description, ``overview.html``, ``study-compare``):

- The **reference method** ranks the variables: Olden's connection weights when the study
  computed them (the method of the paper our users follow, and it uses every layer), else the
  first of :data:`REFERENCE_ORDER` that it did. With several outputs a variable's importance in
  one seed is its mean ``|value|`` over outputs (as
  :func:`study.analysis.views.overall_importance`).
- **The data first**, when the study trained resample networks (``study.resample``): per
  variable its 95% confidence set of ranks, marginal and simultaneous, and its top-``k`` verdict
  (``surely``/``possibly``/``no``), from the seeds' mean scale-free importance and a covariance
  that counts the data's variance as well as the seeds' (:mod:`study.analysis.uncertainty`). Without
  them the answer says in one line that its intervals cover the seeds only.
- Per variable: its **mean rank** over seeds (1 = most important) with the seeds' 95% interval
  (a percentile bootstrap over seeds: how well the seeds pin down their own average, not how the
  rank would move with other data), and the **share of seeds** that put it in the top ``k``.
- **Stability** of that ranking: Kendall's W over seeds, read in Schmidt's (1997) words, and
  Nogueira's top-``k`` stability with its 95% interval.
- **Agreement** of every other method with it: the variables of its own top ``k`` by mean rank,
  how many of them are the reference's, and Kendall's tau between the two mean-rank vectors.
  Methods blind to the output layer (or that keep only its signs) are marked as such.

References: Schmidt, R. C. (1997). Managing Delphi surveys using nonparametric statistical
techniques. Decision Sciences 28(3), 763-774 (W: 0.1 very weak ... 0.7 strong, 0.9 unusually
strong). Nogueira, Sechidis & Brown (2018), JMLR 18(174).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from study.analysis import stability as stab
from study.analysis import uncertainty as unc
from study.config.spec import N_BOOTSTRAP
from study.escape import for_markdown
from study.importance import get_method
from study.training.record import StudyRecord

__all__ = [
    "REFERENCE_ORDER",
    "DATA_COLUMNS",
    "Answer",
    "answer",
    "reference_method",
    "mean_ranks",
    "strength",
    "kendall_tau",
]

# Olden first: it reads every layer and is the paper's; then the model-based methods; the
# formulas that ignore (part of) the output layer last.
REFERENCE_ORDER = (
    "olden",
    "permutation",
    "partial_derivatives",
    "lek",
    "garson_signed",
    "garson",
    "weight_sums",
)

_BLIND = {"ignored": "blind to the output layer", "signs": "output-weight signs only"}


def reference_method(methods) -> str:
    """The method whose ranking is the answer: the first of :data:`REFERENCE_ORDER` in
    ``methods`` (else the first of ``methods``)."""
    methods = list(methods)
    return next((m for m in REFERENCE_ORDER if m in methods), methods[0])


def blindness(method: str) -> str:
    """``""`` for a method that uses the output layer, else what it misses, in words."""
    return _BLIND.get(get_method(method).output_layer, "")


def strength(w: float) -> str:
    """Kendall's W in words (Schmidt 1997): very weak, weak, moderate, strong, very strong."""
    if not np.isfinite(w):
        return "undefined"
    for bound, word in ((0.2, "very weak"), (0.4, "weak"), (0.6, "moderate"), (0.8, "strong")):
        if w < bound:
            return word
    return "very strong"


def overall_ranks(record: StudyRecord, method: str) -> np.ndarray:
    """``(n_seeds, n_features)`` ranks of ``method``'s overall importance (mean |value| over
    outputs for signed methods, mean over outputs otherwise); seeds with a NaN are dropped."""
    signed = record.meta.methods[method].signed
    values = record.values(method)
    overall = (np.abs(values) if signed else values).mean(axis=2)
    ranks = stab.rank_matrix(overall, signed=signed)
    return ranks[~np.isnan(ranks).any(axis=1)]


def mean_ranks(record: StudyRecord, method: str) -> np.ndarray:
    """Each variable's mean rank over seeds under ``method`` (see :func:`overall_ranks`)."""
    ranks = overall_ranks(record, method)
    return ranks.mean(axis=0) if len(ranks) else np.full(len(record.meta.feature_names), np.nan)


def kendall_tau(a, b) -> float:
    """Kendall's tau-b between two mean-rank vectors (NaN when either is constant)."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.kendalltau(a, b).statistic)


def top_of(mean_rank, k: int) -> list[int]:
    """Indices of the ``k`` smallest mean ranks, best first (ties in variable order)."""
    return list(np.argsort(np.asarray(mean_rank, float), kind="stable")[:k])


@dataclass
class Answer:
    """The answer of one study. ``table``: every variable, best first, with ``mean_rank``,
    ``ci_low``, ``ci_high`` (the seeds' 95% interval), ``top_share`` (share of seeds with the
    variable in the top ``k``) and, with resample networks (``n_resamples`` > 0), the rank sets
    :data:`DATA_COLUMNS`;
    ``methods``: one row per other method (``top``: its top ``k``, ``overlap``: how many are the
    reference's, ``tau``, ``blind``)."""

    method: str
    k: int
    n_seeds: int
    table: pd.DataFrame
    methods: pd.DataFrame
    kendall_w: float
    topk_stability: float
    topk_low: float
    topk_high: float
    n_resamples: int = 0  # resample networks behind the rank sets (0: the seeds' alone)
    parts: unc.SeedsOrData | None = None  # seeds or data, in the order of ``names``
    names: tuple = ()  # the variables in the study's order

    @property
    def top(self) -> list[str]:
        return list(self.table.feature[: self.k])

    @property
    def agreeing(self) -> list[str]:
        return list(self.methods.method[self.methods.overlap == self.k])

    @property
    def differing(self) -> pd.DataFrame:
        """The methods whose top k differ, most shared first."""
        rest = self.methods[self.methods.overlap < self.k]
        return rest.sort_values("overlap", ascending=False, kind="stable")

    # -- words -----------------------------------------------------------------------------

    def rank_set(self, row) -> str:
        """``"proline rank 1–2, surely top 3"``: the marginal set and the verdict."""
        lo, hi = int(row.rank_low), int(row.rank_high)
        ranks = f"rank {lo}" if lo == hi else f"rank {lo}–{hi}"
        verdict = {"surely": "surely", "possibly": "possibly", "no": "not"}[row.top_k]
        return f"{row.feature} {ranks}, {verdict} top {self.k}"

    def data_line(self) -> str:
        """What the rank sets cover, or that there are none."""
        if not self.n_resamples:
            return (
                "  These intervals cover the seeds only, not other data: "
                "study.resample=bootstrap adds the data's."
            )
        return (
            f"  95% rank sets over data and seeds ({self.n_resamples} resample networks; "
            f"'surely' holds for all at once):\n    "
            + ";  ".join(self.rank_set(r) for r in self.table.head(self.k).itertuples())
        )

    def seeds_or_data(self, *, flat: bool = False) -> str:
        """Which would narrow the rank sets more, more seeds or more data, and the numbers it
        rests on ("" without resamples): the report's two lines, or (``flat``) one sentence
        for the description and ``overview.html``."""
        p = self.parts
        if p is None or not np.isfinite(p.data_share).any():
            return ""
        share = p.data_share[np.isfinite(p.data_share)]
        ratio = p.ratio
        worst = int(np.argmax(ratio))
        name = self.names[worst] if worst < len(self.names) else ""
        more = (
            "more data would narrow these sets more than more seeds"
            if p.more_data
            else "more seeds would narrow these sets more than more data "
            "(study.n_runs=auto trains until they would not)"
        )
        detail = (
            f"the data make {np.median(share):.0%} of one network's variance (median over "
            f"variables; {share.min():.0%}-{share.max():.0%}); the seeds' Monte Carlo error "
            f"over {p.n_seeds} seeds is at most {ratio[worst]:.2f} of the data's standard "
            f"error ({name})"
        )
        if flat:
            return f"Seeds or data: {more}: {detail}."
        return f"  Seeds or data: {more}:\n    {detail}"

    def variable(self, row) -> str:
        return (
            f"{row.feature} {row.mean_rank:.1f} [{row.ci_low:.1f}, {row.ci_high:.1f}], "
            f"{row.top_share:.0%}"
        )

    def stability_sentence(self) -> str:
        word = strength(self.kendall_w)
        how = "of undefined stability" if word == "undefined" else f"{word}ly stable"
        return (
            f"The ranking is {how} over {self.n_seeds} seeds: Kendall's W = "
            f"{_f(self.kendall_w)}; top-{self.k} stability {_f(self.topk_stability)} "
            f"[{_f(self.topk_low)}, {_f(self.topk_high)}]."
        )

    def agreement_sentence(self) -> str:
        """Which methods have the same top k, and how many of it the others share."""
        if self.methods.empty:
            return "No other method to compare with."
        parts = []
        if self.agreeing:
            parts.append(f"Same top {self.k}: {', '.join(self.agreeing)}.")
        for n, group in self.differing.groupby("overlap", sort=False):
            names = ", ".join(
                f"{r.method}{f' ({r.blind})' if r.blind else ''}" for r in group.itertuples()
            )
            parts.append(f"{n} of these {self.k} in the top {self.k} of {names}.")
        return " ".join(parts)

    def lines(self) -> list[str]:
        """The report's answer, in five items (right after the title and the score line; the
        rank sets and the seeds' values each on a line below their heading): with resample
        networks their rank sets first, else the line that the intervals are the seeds'."""
        head = self.table.head(self.k)
        seeds = [
            f"  Seeds: mean rank over {self.n_seeds} seeds [seeds' 95% interval]; share of "
            f"seeds with it in the top {self.k}:\n    "
            + ";  ".join(self.variable(r) for r in head.itertuples())
        ]
        first = f"Answer: the top {self.k} by {self.method}"
        if self.n_resamples:
            split = self.seeds_or_data()
            return [
                first + ":",
                self.data_line(),
                *([split] if split else []),
                *seeds,
                "  " + self.stability_sentence(),
                "  " + self.agreement_sentence(),
            ]
        return [
            first + ":",
            *seeds,
            self.data_line(),
            "  " + self.stability_sentence(),
            "  " + self.agreement_sentence(),
        ]

    def markdown(self, *, n: int | None = None) -> str:
        """The answer as a markdown table of the top ``n`` variables (default: ``max(k, 5)``)."""
        n = n or max(self.k, 5)
        rows = [
            f"| {i} | {for_markdown(r.feature)} | {r.mean_rank:.1f} [{r.ci_low:.1f}, "
            f"{r.ci_high:.1f}] | {r.top_share:.0%} |"
            for i, r in enumerate(self.table.head(n).itertuples(), 1)
        ]
        head = [
            f"| | variable | mean rank [seeds' 95% interval] | in the top {self.k} |",
            "|---|---|---|---|",
        ]
        return "\n".join(head + rows)

    def frame(self) -> pd.DataFrame:
        """``answer.csv``: the reference's table, one row per variable, with the method."""
        out = self.table.copy()
        out.insert(0, "method", self.method)
        out.insert(1, "position", np.arange(1, len(out) + 1))
        out["k"], out["n_seeds"] = self.k, self.n_seeds
        if self.n_resamples:
            out["n_resamples"] = self.n_resamples
        return out


# the rank sets' coverage, as the report words them ("95% rank sets")
SET_LEVEL = 0.95
# answer.csv's columns from the resample networks (study.analysis.uncertainty.verdicts' keys)
DATA_COLUMNS = ("rank_low", "rank_high", "rank_low_simultaneous", "rank_high_simultaneous", "top_k")


def _data_sets(record: StudyRecord, method: str, k: int, seed: int) -> dict | None:
    """The rank sets and verdicts of :mod:`study.analysis.uncertainty`, or None without at least two
    seeds and two resample networks with finite importances (then the seeds' alone answer)."""
    if len(record.resamples) < 2:
        return None
    signed = record.meta.methods[method].signed
    try:
        u = unc.estimate(record.values(method), record.resample_values(method), signed=signed)
    except ValueError:
        return None
    sets = unc.verdicts(u.estimates, u.covariance, k=k, level=SET_LEVEL, seed=seed)
    sets["n_resamples"] = u.n_resamples
    sets["parts"] = unc.seeds_or_data(u)
    sets["estimates"] = u.estimates
    return sets


def _f(x) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.2f}"


def answer(
    record: StudyRecord,
    *,
    k: int,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
    method: str | None = None,
) -> Answer:
    """The study's answer (see the module docstring) for its top ``k`` variables."""
    feats = list(record.meta.feature_names)
    method = method or reference_method(record.meta.methods)
    ranks = overall_ranks(record, method)
    m = len(ranks)
    mean = ranks.mean(axis=0) if m else np.full(len(feats), np.nan)
    order = np.argsort(mean, kind="stable")
    table = _seeds_table(feats, ranks, mean, order, k=k, n_bootstrap=n_bootstrap, seed=seed)
    data = _data_sets(record, method, k, seed)
    if data is not None:
        for col in DATA_COLUMNS:
            table[col] = data[col][order]
        table["share"] = data["estimates"][order]
        table["data_share"] = data["parts"].data_share[order]
    w = stab.kendall_w(ranks).statistic if m >= 2 else np.nan
    nog = stab.nogueira_stability(stab.topk_membership(ranks, k)) if m >= 2 else None
    return Answer(
        method,
        k,
        m,
        table,
        _other_methods(record, method, mean, k),
        float(w),
        *((nog.statistic, nog.low, nog.high) if nog else (np.nan,) * 3),
        n_resamples=data["n_resamples"] if data is not None else 0,
        parts=data["parts"] if data is not None else None,
        names=tuple(feats),
    )


def _seeds_table(feats, ranks, mean, order, *, k: int, n_bootstrap: int, seed: int):
    """The answer's table from the seeds alone, best first (``order``): each variable's mean rank
    over the seeds' ``ranks`` with the seeds' 95% bootstrap interval, and the share of seeds that
    put it in the top ``k``."""
    m = len(ranks)
    if m >= 2:
        boot = stab.bootstrap_mean_ci(ranks, n_resamples=n_bootstrap, seed=seed)
        low, high = boot.low, boot.high
    else:
        low = high = np.full(len(feats), np.nan)
    share = stab.topk_frequency(ranks, k) if m else np.full(len(feats), np.nan)
    return pd.DataFrame(
        {
            "feature": np.asarray(feats)[order],
            "mean_rank": mean[order],
            "ci_low": low[order],
            "ci_high": high[order],
            "top_share": share[order],
        }
    )


def _other_methods(record: StudyRecord, method: str, mean, k: int) -> pd.DataFrame:
    """One row per method other than the reference ``method`` (whose mean ranks are ``mean``):
    its top ``k`` by mean rank, how many of them are the reference's, Kendall's tau between the
    two mean-rank vectors, and what it is blind to."""
    feats = list(record.meta.feature_names)
    ref_top = set(top_of(mean, k))
    rows = []
    for other in record.meta.methods:
        if other == method:
            continue
        theirs = mean_ranks(record, other)
        top = top_of(theirs, k)
        rows.append(
            {
                "method": other,
                "top": ", ".join(feats[i] for i in top),
                "overlap": len(ref_top & set(top)),
                "tau": kendall_tau(mean, theirs),
                "blind": blindness(other),
            }
        )
    return pd.DataFrame(rows, columns=["method", "top", "overlap", "tau", "blind"])
