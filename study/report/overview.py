"""A study's page: ``overview.html`` (one self-contained file) and the parent run's description.

Both open with the study's answer (:mod:`study.analysis.answer`), the same numbers as the report's
first lines. ``overview.html`` needs nothing beside it: the charts are inlined as ``data:`` URIs,
the style is inline, there is no script, so it renders as an MLflow artifact, from a folder, or sent
by mail. Pure: it reads an :class:`~study.analysis.aggregate.Analysis` and chart files, and writes
text.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from study.analysis import answer as ans
from study.analysis import run_metrics
from study.escape import for_markdown

__all__ = ["description", "overview_html", "CHARTS_SHOWN"]

# the charts the page shows, in its order, with a caption each (others stay in charts/)
CHARTS_SHOWN = {
    "importance_boxplots.png": "Importance over seeds, per method and output",
    "rank_heatmap.png": "How often each variable takes each rank",
    "stability_curve.png": "Kendall's W against the number of seeds: has the ranking settled?",
    "agreement_matrix.png": "Agreement between methods",
    "network_diagram.png": "The best seed's network (Olden's interpretation diagram)",
    "rank_sets.png": "Where each variable ranks over data and seeds: 95% rank sets",
}

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:1100px;color:#1a1a1a;line-height:1.45;padding:0 16px}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #d0d0d0;padding:3px 8px;text-align:left}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.top td{background:#eef5ff;font-weight:600}
.context{color:#444}.warn{background:#fff7e0;border-left:4px solid #e0a800;padding:6px 10px}
figure{margin:1em 0}figcaption{color:#555;font-size:.9em}img{max-width:100%;height:auto}
pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:.85em}
"""


def _e(x) -> str:
    return html.escape(str(x))


def _n(x, spec=".2f") -> str:
    return "nan" if x is None or not np.isfinite(x) else format(x, spec)


def _context(analysis) -> str:
    """One line: dataset, network, seeds, test score."""
    rec, meta = analysis.record, analysis.record.meta
    test = np.array([r.test_score for r in rec.runs], float)
    sd = np.nanstd(test, ddof=1) if len(test) > 1 else float("nan")
    net = " → ".join(str(s) for s in meta.layer_sizes)
    by = {"batched": " (batched backend)", "sklearn": " (scikit-learn)"}.get(meta.backend or "", "")
    more = f" and {len(rec.resamples)} resample networks" if rec.resamples else ""
    return (
        f"{meta.dataset}, {net} ({meta.task}), {len(rec.runs)} seeds{more}{by}; test "
        f"{meta.score_name} {np.nanmean(test):.3f} ± {_n(sd, '.3f')}"
    )


def description(analysis, *, links: Mapping[str, str] = ()) -> str:
    """The parent run's description (markdown, MLflow's ``mlflow.note.content``): the answer in
    one line and the links first (the UI shows only the first lines until "Show more"), then the
    answer as a small table and two lines of context. Names are the user's: they show as typed
    (:func:`~study.escape.for_markdown`), never as HTML, a link or a broken table."""
    a = analysis.answer
    meta = analysis.record.meta
    lines = []
    if a is not None:
        top = " · ".join(
            f"**{for_markdown(r.feature)}** {r.mean_rank:.1f} [{r.ci_low:.1f}, "
            f"{r.ci_high:.1f}] "
            f"{r.top_share:.0%}"
            for r in a.table.head(a.k).itertuples()
        )
        if a.n_resamples:  # the data first: what holds on other samples of the same size
            sets = " · ".join(for_markdown(a.rank_set(r)) for r in a.table.head(a.k).itertuples())
            lines += [
                f"**Answer**, the top {a.k} by {a.method}, 95% rank sets over data and "
                f"seeds ({a.n_resamples} resample networks): {sets}",
                "",
            ]
            split = a.seeds_or_data(flat=True)
            if split:
                lines += [for_markdown(split), ""]
        seeds = (
            f"mean rank over {a.n_seeds} seeds [seeds' 95% interval], share of seeds with "
            f"it in the top {a.k}"
        )
        lines += [
            f"**Seeds**: {seeds}: {top}"
            if a.n_resamples
            else f"**Answer**, the top {a.k} by {a.method} ({seeds}): {top}",
            "",
        ]
        if not a.n_resamples:
            lines += [a.data_line().strip(), ""]
    if links:
        lines += [
            " · ".join(f"[{for_markdown(text)}]({url})" for text, url in dict(links).items()),
            "",
        ]
    lines += [f"**{for_markdown(meta.name)}**: {for_markdown(_context(analysis))}.", ""]
    if a is not None:
        lines += [a.markdown(), "", a.stability_sentence() + " " + a.agreement_sentence()]
    return "\n".join(lines)


def _sets_cells(r) -> str:
    """A variable's 95% rank sets (marginal, simultaneous) and top-k verdict, as cells."""
    return (
        f"<td class=n>{r.rank_low}–{r.rank_high}</td>"
        f"<td class=n>{r.rank_low_simultaneous}–{r.rank_high_simultaneous}</td>"
        f"<td>{_e(r.top_k)}</td>"
    )


def _answer_table(a: ans.Answer) -> str:
    rows = []
    for i, r in enumerate(a.table.itertuples(), 1):
        cls = ' class="top"' if i <= a.k else ""
        rows.append(
            f"<tr{cls}><td class=n>{i}</td><td>{_e(r.feature)}</td>"
            f"<td class=n>{_n(r.mean_rank, '.1f')}</td>"
            f"<td class=n>[{_n(r.ci_low, '.1f')}, {_n(r.ci_high, '.1f')}]</td>"
            f"<td class=n>{_n(100 * r.top_share, '.0f')}%</td>"
            + (_sets_cells(r) if a.n_resamples else "")
            + "</tr>"
        )
    sets = f"<th>rank set</th><th>simultaneous</th><th>top {a.k}</th>" if a.n_resamples else ""
    head = (
        f"<tr><th></th><th>variable</th><th>mean rank</th><th>seeds' 95% interval</th>"
        f"<th>in the top {a.k}</th>{sets}</tr>"
    )
    return f'<table id="answer">{head}{"".join(rows)}</table>'


def _ranking_table(analysis) -> str:
    """Mean rank of every variable under every method (rows in the answer's order)."""
    a, rec = analysis.answer, analysis.record
    methods = list(rec.meta.methods)
    ranks = {m: ans.mean_ranks(rec, m) for m in methods}
    feats = list(rec.meta.feature_names)
    order = [feats.index(f) for f in a.table.feature]
    head = "".join(
        f"<th>{_e(m)}"
        f"{'<br><small>' + _e(ans.blindness(m)) + '</small>' if ans.blindness(m) else ''}</th>"
        for m in methods
    )
    rows = "".join(
        f"<tr><td>{_e(feats[i])}</td>"
        + "".join(f"<td class=n>{_n(ranks[m][i], '.1f')}</td>" for m in methods)
        + "</tr>"
        for i in order
    )
    return f'<table id="ranking"><tr><th>variable</th>{head}</tr>{rows}</table>'


def _methods_table(a: ans.Answer) -> str:
    rows = "".join(
        f"<tr><td>{_e(r.method)}</td><td>{_e(r.blind or 'uses it')}</td>"
        f"<td>{_e(r.top)}</td><td class=n>{r.overlap} of {a.k}</td>"
        f"<td class=n>{_n(r.tau)}</td></tr>"
        for r in a.methods.itertuples()
    )
    return (
        '<table id="methods"><tr><th>method</th><th>output layer</th><th>its top '
        f"{a.k}</th><th>shared with {_e(a.method)}</th><th>Kendall's τ of mean ranks</th></tr>"
        f"{rows}</table>"
    )


def _stability_table(analysis) -> str:
    k = analysis.top_k
    rows = []
    for _, row in run_metrics.stability_rows(analysis):
        out = "(all outputs)" if row.method in analysis.same_ranking else row.output
        rows.append(
            f"<tr><td>{_e(row.method)}</td><td>{_e('' if out == 'all' else out)}</td>"
            f"<td class=n>{_n(row.kendall_w)}</td><td class=n>{_n(row.topk_stability)} "
            f"[{_n(row.topk_stability_low)}, {_n(row.topk_stability_high)}]</td></tr>"
        )
    return (
        f'<table id="stability"><tr><th>method</th><th>output</th><th>Kendall\'s W</th>'
        f"<th>top-{k} stability [95% CI]</th></tr>{''.join(rows)}</table>"
    )


def _figure(path: Path, caption: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _sets_words(a: ans.Answer) -> str:
    if not a.n_resamples:
        return a.data_line().strip() + " "
    return (
        f"95% rank sets over data and seeds ({a.n_resamples} resample networks), marginal "
        f"and simultaneous, and whether each is in the top {a.k} (surely: all of those at "
        f"once). "
    )


def overview_html(
    analysis,
    *,
    charts: Sequence[Path] = (),
    warnings: Sequence[str] = (),
    randomisation: Sequence[str] = (),
    settings: Mapping[str, str] = (),
    links: Mapping[str, str] = (),
) -> str:
    """The whole page as one HTML string (see the module docstring). ``charts``: the study's PNG
    files (those in :data:`CHARTS_SHOWN` and any ``randomisation_*.png`` are inlined);
    ``warnings``: the report's notes; ``randomisation``: the test's report lines, if it ran;
    ``settings``: the study's flattened config; ``links``: ``{text: url}`` shown at the top."""
    a, meta = analysis.answer, analysis.record.meta
    by_name = {Path(p).name: Path(p) for p in charts}
    parts = [f"<h1>{_e(meta.name)}</h1><p class=context>{_e(_context(analysis))}</p>"]
    if links:
        parts.append(_links_html(links))
    parts += _answer_section(a)
    if warnings:
        parts.append(
            "<h2>Warnings and notes</h2>" + "".join(f"<p class=warn>{_e(w)}</p>" for w in warnings)
        )
    parts += [
        "<h2>The ranking per method</h2><p>Mean rank of each variable under each method "
        "(overall importance: the mean |value| over outputs).</p>",
        _ranking_table(analysis),
        _methods_table(a),
        "<h2>Stability per method and output</h2>",
        _stability_table(analysis),
    ]
    parts += _charts_section(by_name, drawn=bool(charts))
    if randomisation:
        parts.append(_randomisation_section(randomisation, by_name))
    if settings:
        parts.append(_settings_section(settings))
    body = "\n".join(parts)
    return (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_e(meta.name)}"
        f"</title><style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def _links_html(links: Mapping[str, str]) -> str:
    return (
        "<p>"
        + " · ".join(f'<a href="{_e(u)}">{_e(t)}</a>' for t, u in dict(links).items())
        + "</p>"
    )


def _answer_section(a: ans.Answer) -> list[str]:
    """The answer: its heading, what its columns mean, its table, and the sentences on seeds or
    data, stability and agreement."""
    split = a.seeds_or_data(flat=True)
    return [
        f"<h2>Answer: the top {a.k} by {_e(a.method)}</h2>",
        f"<p>{_e(_sets_words(a))}Mean rank over {a.n_seeds} seeds (1 = most important) "
        f"with the seeds' 95% interval (a bootstrap over seeds), and the share of seeds that "
        f"put the variable in the top {a.k}.</p>",
        _answer_table(a),
        f"<p>{_e(split)}</p>" if split else "",
        f"<p>{_e(a.stability_sentence())}</p><p>{_e(a.agreement_sentence())}</p>",
    ]


def _charts_section(by_name: Mapping[str, Path], *, drawn: bool) -> list[str]:
    """The charts of :data:`CHARTS_SHOWN` there are, in its order; where no chart was drawn at
    all, a line saying so."""
    shown = [(by_name[n], c) for n, c in CHARTS_SHOWN.items() if n in by_name]
    if shown:
        return ["<h2>Charts</h2>" + "".join(_figure(p, c) for p, c in shown)]
    if not drawn:
        return ["<p>Charts were not drawn (<code>study.charts=false</code>).</p>"]
    return []


def _randomisation_section(randomisation: Sequence[str], by_name: Mapping[str, Path]) -> str:
    """The randomisation test's report lines and its charts (by name: each method's, then the
    pruned network)."""
    rand = [
        p
        for n, p in sorted(by_name.items())
        if n.startswith("randomisation_") or n == "network_diagram_pruned.png"
    ]
    return (
        "<h2>Randomisation test</h2><pre>"
        + _e("\n".join(randomisation))
        + "</pre>"
        + "".join(_figure(p, p.stem.replace("_", " ")) for p in rand)
    )


def _settings_section(settings: Mapping[str, str]) -> str:
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in sorted(dict(settings).items())
    )
    return f'<h2>Settings</h2><table id="settings">{rows}</table>'
