"""The short text a study prints at the end: scores, rank stability per method, where to look."""

from __future__ import annotations

import numpy as np

from study.analysis.aggregate import Analysis
from study.escape import for_terminal
from study.tracking import mask_uri

__all__ = ["render", "stability_lines", "not_learned"]


def _fmt(x, spec=".2f") -> str:
    return "  nan" if x is None or not np.isfinite(x) else format(x, spec)


def _architecture(meta) -> str:
    return " → ".join(str(s) for s in meta.layer_sizes)


def stability_lines(analysis: Analysis, *, n_top: int = 3) -> list[str]:
    """Per method (per output where outputs differ): W, top-k stability [95% CI], top variables."""
    rec, k = analysis.record, analysis.top_k
    n_runs = len(rec.runs)
    st = analysis.stability.set_index(["method", "output"])
    freq = analysis.topk_frequency
    rows = []
    for method, layout in rec.meta.methods.items():
        outputs = layout.columns
        if method in analysis.same_ranking:
            outputs = outputs[:1]
            label = "(all outputs)"
        else:
            label = None
        for out in outputs:
            s = st.loc[(method, out)]
            f = freq[(freq.method == method) & (freq.output == out)].nlargest(n_top, "frequency")
            top = ", ".join(f"{r.feature} {r.count}" for r in f.itertuples() if r.count > 0)
            interval = (
                f"{_fmt(s.topk_stability)} "
                f"[{_fmt(s.topk_stability_low)}, {_fmt(s.topk_stability_high)}]"
            )
            rows.append(
                (method, label or ("" if out == "all" else out), _fmt(s.kendall_w), interval, top)
            )
    w_m = max(len(r[0]) for r in rows)
    w_o = max([len(r[1]) for r in rows] + [6])
    head = (
        f"{'method':<{w_m}}  {'output':<{w_o}}  {'W':>5}  {f'top-{k} stability':<20}  "
        f"most often in the top {k} (runs of {n_runs})"
    )
    lines = [head, "-" * len(head)]
    lines += [f"{m:<{w_m}}  {o:<{w_o}}  {w:>5}  {i:<20}  {t}" for m, o, w, i, t in rows]
    return lines


def _training(timings) -> str:
    n, seconds = timings.get("trained_runs", 0), timings.get("training_seconds", 0.0)
    if not n or not seconds:
        return ""
    return f", training {seconds:.1f} s ({n / seconds:.0f} networks per second)"


def _trained_by(meta) -> str:
    return {
        "batched": ", trained by the batched backend",
        "sklearn": ", trained one at a time by scikit-learn",
    }.get(meta.backend or "", "")


def not_learned(record) -> str | None:
    """Why the study gives no answer, in one line, when its networks learned nothing; else None.

    A network that learned nothing scores chance on the test rows (``meta.chance_score``: the
    most frequent class's share of them, or R² 0), some seeds a little above it by luck, some
    below. So the criterion is the mean test score over seeds, not above chance: the rankings
    of such networks order noise. Convergence alone does not decide: a network stopped by
    ``max_iter`` may have learned well, and a diverged one can end "converged" at chance."""
    meta = record.meta
    chance = (
        meta.chance_score
        if meta.chance_score is not None
        else (0.0 if meta.task == "regression" else None)
    )
    test = np.array([r.test_score for r in record.runs], float)
    if chance is None or not len(test):
        return None
    mean = np.nanmean(test) if np.isfinite(test).any() else float("nan")
    if mean > chance:
        return None
    what = (
        "R² of predicting the mean"
        if meta.task == "regression"
        else "always the most frequent class"
    )
    return (
        f"No network learned: the mean test {meta.score_name} {mean:.3f} is not above chance "
        f"({chance:.3f}, {what}). Their rankings order noise, so there is no answer: look at "
        "the model's options (learning_rate_init, max_iter, solver) and the data."
    )


def _answer_lines(analysis: Analysis) -> list[str]:
    why = not_learned(analysis.record)
    if why is not None:
        return [why]
    return analysis.answer.lines() if analysis.answer is not None else []


def render(
    analysis: Analysis,
    *,
    run_id=None,
    uri=None,
    experiment=None,
    experiment_id=None,
    output_dir=None,
    timings=None,
    extras=(),
) -> str:
    """The end-of-study report: a reader sees at once whether the ranking is stable. Printed and
    kept as ``report.txt``: names cannot drive a terminal, a URI's password is masked."""
    lines = [
        *_headline(analysis),
        *_answer_lines(analysis),
        "",
        f"Rank stability. W = Kendall's concordance of the rankings across runs (0 random, "
        f"1 identical); top-{analysis.top_k} stability = Nogueira et al. [95% CI].",
        *stability_lines(analysis),
        *_blind_lines(analysis),
        *_weight_sums_lines(analysis),
        *_truth_lines(analysis),
    ]
    for block in extras:
        lines += ["", *block]
    if analysis.notes:
        lines += ["", "Notes:"] + [f"  - {note}" for note in analysis.notes]
    lines.append("")
    if timings:
        lines += _time_lines(timings)
    lines += _where_lines(
        analysis.record.meta.name,
        run_id=run_id,
        uri=uri,
        experiment=experiment,
        experiment_id=experiment_id,
        output_dir=output_dir,
    )
    return for_terminal(mask_uri("\n".join(lines)))


def _headline(analysis: Analysis) -> list[str]:
    """Two lines: the study (data, network, seeds, backend), then its scores and convergence."""
    rec = analysis.record
    meta = rec.meta
    test = np.array([r.test_score for r in rec.runs], float)
    train = np.array([r.train_score for r in rec.runs], float)
    converged = sum(r.converged for r in rec.runs)
    n = len(rec.runs)
    seeds = rec.seeds
    sd = np.nanstd(test, ddof=1) if n > 1 else float("nan")
    return [
        f"Study {meta.name}: {meta.dataset}, {_architecture(meta)} ({meta.task}), {n} runs "
        f"(seeds {seeds[0]}–{seeds[-1]})"
        + (f" and {len(rec.resamples)} resample networks" if rec.resamples else "")
        + _trained_by(meta),
        f"Test {meta.score_name} {np.nanmean(test):.3f} ± {sd:.3f} "
        f"(train {np.nanmean(train):.3f}); "
        f"{converged}/{n} runs converged (mean {np.mean([r.n_iter for r in rec.runs]):.0f} "
        "iterations)",
    ]


def _blind_lines(analysis: Analysis) -> list[str]:
    """The methods that rank every output alike, and why (none: no line)."""
    blind = analysis.same_ranking
    if not blind:
        return []
    return [
        f"{', '.join(blind)}: the same ranking for every output, since these formulas "
        "ignore the output layer."
    ]


def _weight_sums_lines(analysis: Analysis) -> list[str]:
    """How far the input weights' positive and negative sums cancel, with the ``weight_sums``
    method (else no line)."""
    if "weight_sums" not in analysis.record.meta.methods:
        return []
    ws = analysis.weight_sums[analysis.weight_sums.view == "input"]
    ratio = ws.net_sum.abs().sum() / ws.abs_sum.sum()
    degree = "nearly cancel" if ratio < 0.1 else "partly cancel" if ratio < 0.5 else "do not cancel"
    return [
        f"Input-weight sums over {len(analysis.record.runs)} runs: positive and negative sums "
        f"{degree} (sum |net| / sum abs = {ratio:.2f}). With tanh or logistic hidden units, "
        "flipping the signs of a unit's incoming and outgoing weights gives the same network, so "
        "signed input sums are arbitrary from run to run; compare absolute sums, or "
        "connection weights (weight_sums.csv, view=connection), which see the output layer."
    ]


def _truth_lines(analysis: Analysis) -> list[str]:
    """Each method's recovery of a known true order, where the data have one."""
    if analysis.truth is None:
        return []
    lines = [
        "",
        "Recovery of the known true order (fraction of informative variables at "
        "their true rank; Spearman with the truth):",
    ]
    for r in analysis.truth.itertuples():
        lines.append(
            f"  {r.method:<22} accuracy {_fmt(r.accuracy)}  Spearman {_fmt(r.spearman_mean)}"
        )
    return lines


def _time_lines(timings) -> list[str]:
    """Where the time went: in all, per run, MLflow's share; the null networks' if any."""
    lines = [
        f"Time: {timings['total_seconds']:.1f} s in all{_training(timings)}; per run: fit "
        f"{timings['fit_seconds_per_run']:.2f} s, importance "
        f"{timings['importance_seconds_per_run']:.3f} s. MLflow: "
        f"{timings['log_seconds_per_run'] * 1000:.2f} ms per run on the training path; "
        f"the background writer took {timings['writer_busy_seconds']:.1f} s, "
        f"{timings['writer_wait_seconds']:.1f} s of it after training."
    ]
    if timings.get("null_seconds"):
        lines.append(
            f"Null networks of the randomisation test: {timings['null_seconds']:.1f} s for "
            f"{timings['null_runs']:,} ({timings['null_runs'] / timings['null_seconds']:.0f} "
            "networks per second)."
        )
    return lines


def _where_lines(name, *, run_id, uri, experiment, experiment_id, output_dir) -> list[str]:
    """Where to look: the parent run, the folder of tables and charts, the MLflow UI's pages of
    the study ``name``."""
    lines = []
    if run_id:
        lines.append(
            f"Parent run: {run_id}" + (f" (experiment '{experiment}')" if experiment else "")
        )
    if output_dir:
        lines.append(f"Tables and charts: {output_dir}")
    if uri:
        from study.tracking import ui_command, ui_url

        lines.append(f"Open the MLflow UI: {ui_command(uri)}")
        lines.append(f"  then this study: {ui_url(experiment_id, run_id, uri=uri)}")
        lines.append(f"  and all its runs: {ui_url(experiment_id, uri=uri, study=name)}")
    return lines
