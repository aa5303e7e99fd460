"""The study's answer (study.analysis.answer) and the comparison of studies
(study.analysis.compare): planted signals, closed forms, and the same numbers wherever they are
shown."""

import html

import numpy as np
import pandas as pd
import pytest

from study.analysis import answer as ans
from study.analysis import compare, stability
from study.report import overview
from study.training.record import MethodLayout, RunRecord, StudyMeta, StudyRecord


def _record(methods: dict, *, n_out=1, name="t", seed=0):
    """A study with the given ``{method: (m, n, K) importances}``."""
    first = next(iter(methods.values()))
    m, n, _ = first.shape
    outputs = tuple(f"y{k}" for k in range(n_out))
    layouts = {}
    for meth, vals in methods.items():
        cols = (
            outputs if vals.shape[2] == n_out and n_out > 1 else ("y0",) if n_out == 1 else ("all",)
        )
        layouts[meth] = MethodLayout(
            meth, "value", ("value",), meth in ("olden", "garson_signed"), cols
        )
    meta = StudyMeta(
        name=name,
        dataset="t",
        task="regression",
        feature_names=tuple(f"v{i}" for i in range(n)),
        output_names=outputs,
        layer_sizes=(n, 3, n_out),
        methods=layouts,
        score_name="R²",
        top_k=2,
        seed=seed,
    )
    runs = [
        RunRecord(
            seed=r,
            train_score=1.0,
            test_score=0.8 + 0.01 * r,
            n_iter=5,
            converged=True,
            coefs=[np.ones((n, 3)), np.ones((3, n_out))],
            intercepts=[np.zeros(3), np.zeros(n_out)],
            importances={k: {"value": v[r]} for k, v in methods.items()},
        )
        for r in range(m)
    ]
    return StudyRecord(meta, runs, run_id=f"{name:0<32}"[:32], experiment_id="1")


def _planted(m=40, n=6, seed=0, order=None):
    """Importances whose expected order is ``order`` (default v0 > v1 > ...), with noise."""
    rng = np.random.default_rng(seed)
    strength = np.linspace(3, 0.5, n) if order is None else np.asarray(order, float)
    return (strength + rng.normal(scale=0.6, size=(m, n)))[:, :, None]


def test_answer_puts_the_planted_order_on_top_with_closed_form_numbers():
    vals = _planted()
    rec = _record({"olden": vals, "garson": np.abs(vals)})
    a = ans.answer(rec, k=2, n_bootstrap=300, seed=1)
    assert a.method == "olden" and a.top == ["v0", "v1"]
    ranks = stability.rank_matrix(np.abs(vals[:, :, 0]), signed=True)
    mean = ranks.mean(axis=0)
    t = a.table.set_index("feature")
    np.testing.assert_allclose(t.loc[[f"v{i}" for i in range(6)], "mean_rank"], mean)
    np.testing.assert_allclose(
        t.loc[[f"v{i}" for i in range(6)], "top_share"], stability.topk_frequency(ranks, 2)
    )
    assert (t.ci_low <= t.mean_rank).all() and (t.mean_rank <= t.ci_high).all()
    assert a.kendall_w == pytest.approx(stability.kendall_w(ranks).statistic)
    assert list(a.table.mean_rank) == sorted(a.table.mean_rank)


def test_answer_agreement_identical_method_agrees_reversed_one_does_not():
    vals = _planted(n=6)
    rec = _record({"olden": vals, "permutation": vals.copy(), "garson": -vals + 10})
    a = ans.answer(rec, k=2, n_bootstrap=100)
    rows = a.methods.set_index("method")
    assert rows.loc["permutation", "overlap"] == 2 and rows.loc[
        "permutation", "tau"
    ] == pytest.approx(1)
    assert rows.loc["garson", "overlap"] == 0 and rows.loc["garson", "tau"] == pytest.approx(-1)
    assert rows.loc["garson", "blind"] == "blind to the output layer"
    assert rows.loc["permutation", "blind"] == ""
    assert a.agreeing == ["permutation"]
    sentence = a.agreement_sentence()
    assert "Same top 2: permutation." in sentence
    assert "0 of these 2 in the top 2 of garson (blind to the output layer)" in sentence


def test_reference_method_prefers_olden_then_model_based_methods():
    assert ans.reference_method(["garson", "olden", "permutation"]) == "olden"
    assert ans.reference_method(["garson", "weight_sums", "permutation"]) == "permutation"
    assert ans.reference_method(["weight_sums", "garson"]) == "garson"


@pytest.mark.parametrize(
    "w, word",
    [
        (0.05, "very weak"),
        (0.3, "weak"),
        (0.5, "moderate"),
        (0.7, "strong"),
        (0.95, "very strong"),
        (np.nan, "undefined"),
    ],
)
def test_strength_words_follow_schmidt(w, word):
    assert ans.strength(w) == word


def test_answer_lines_name_the_top_variables_with_their_interval():
    rec = _record({"olden": _planted()})
    a = ans.answer(rec, k=2, n_bootstrap=100)
    lines = a.lines()
    assert len(lines) == 5 and lines[0].startswith("Answer: the top 2 by olden")
    first = a.table.iloc[0]
    assert (
        f"v0 {first.mean_rank:.1f} [{first.ci_low:.1f}, {first.ci_high:.1f}], "
        f"{first.top_share:.0%}" in lines[1]
    )
    # the seeds' interval is named for what it is, never a confidence interval of the rank
    assert "seeds' 95% interval" in lines[1] and "CI" not in "\n".join(lines)
    assert "cover the seeds only" in lines[2] and "study.resample=bootstrap" in lines[2]
    assert "Kendall's W" in lines[3]
    assert not set(ans.DATA_COLUMNS) & set(a.frame().columns)


def _with_resamples(rec, values, n_resamples=30, seed=7):
    """``rec`` with resample networks whose importances scatter about ``values``' mean."""
    import dataclasses

    rng = np.random.default_rng(seed)
    mean = values.mean(axis=0)
    spread = values.std(axis=0)
    runs = [
        dataclasses.replace(
            rec.runs[0],
            seed=2**32 + b,
            importances={"olden": {"value": mean + spread * rng.normal(size=mean.shape)}},
        )
        for b in range(n_resamples)
    ]
    return dataclasses.replace(rec, resamples=runs)


def test_answer_with_resamples_leads_with_the_rank_sets():
    vals = _planted(order=[12, 4, 2, 1, 0.5, 0.25])
    rec = _with_resamples(_record({"olden": vals}), vals)
    a = ans.answer(rec, k=2, n_bootstrap=100)
    t = a.table
    assert a.n_resamples == 30
    cols = list(a.frame().columns)
    assert cols[cols.index("rank_low") :][:5] == list(ans.DATA_COLUMNS)
    assert cols[-3:] == ["k", "n_seeds", "n_resamples"]
    assert (t.rank_low <= t.rank_high).all()
    assert (t.rank_low_simultaneous <= t.rank_low).all()
    assert (t.rank_high <= t.rank_high_simultaneous).all()
    assert set(t.top_k) <= {"surely", "possibly", "no"}
    v0 = t.set_index("feature").loc["v0"]
    assert v0.rank_low == 1 and v0.top_k == "surely"  # planted far ahead of the rest
    assert t.set_index("feature").loc["v5"].top_k == "no"
    lines = a.lines()
    assert lines[1].startswith("  95% rank sets over data and seeds (30 resample networks")
    assert "v0 rank 1, surely top 2" in lines[1] or "v0 rank 1–" in lines[1]
    assert lines[2].startswith("  Seeds or data: more ")
    assert "of one network's variance" in lines[2] and "of the data's standard error" in lines[2]
    assert "seeds' 95% interval" in lines[3] and "cover the seeds only" not in "\n".join(lines)
    # the estimate the sets rank: each variable's mean share of its seed's total, in order
    np.testing.assert_allclose(t.share.sum(), 1.0)
    assert list(t.sort_values("share", ascending=False).feature[:2]) == ["v0", "v1"]
    assert ((t.data_share >= 0) & (t.data_share <= 1)).all()
    # the same seed, the same sets: study-aggregate reproduces them
    again = ans.answer(rec, k=2, n_bootstrap=100).frame()
    pd.testing.assert_frame_equal(again, a.frame())


def test_answer_of_several_outputs_ranks_the_mean_absolute_value():
    rng = np.random.default_rng(3)
    vals = rng.normal(size=(20, 5, 2))
    vals[:, 3, :] = [8.0, -8.0]  # huge with opposite signs: first by |value|, nothing by the mean
    rec = _record({"olden": vals}, n_out=2)
    assert ans.answer(rec, k=1, n_bootstrap=50).top == ["v3"]


def test_description_and_overview_show_the_same_numbers_as_the_report():
    from study.analysis import aggregate

    rec = _record({"olden": _planted(), "garson": np.abs(_planted(seed=5))})
    analysis = aggregate.analyse(rec, top_k=2, n_bootstrap=100)
    md = overview.description(analysis, links={"Overview": "#/x"})
    a = analysis.answer
    row = a.table.iloc[0]
    cell = f"{row.mean_rank:.1f} [{row.ci_low:.1f}, {row.ci_high:.1f}]"
    assert f"| 1 | v0 | {cell} | {row.top_share:.0%} |" in md
    assert "[Overview](#/x)" in md
    page = overview.overview_html(analysis, warnings=["a <warning>"], settings={"model.alpha": "1"})
    assert cell.split(" ")[0] in page and "[" + cell.split("[")[1] in page
    assert "a &lt;warning&gt;" in page and "model.alpha" in page
    assert "<script" not in page and "http" not in page  # nothing external


def test_compare_agreeing_and_reversed_studies():
    base = _planted(n=6)
    a = _record({"olden": base}, name="a")
    same = _record({"olden": _planted(n=6, seed=9)}, name="b")
    rev = _record({"olden": _planted(n=6, order=np.linspace(0.5, 3, 6))}, name="c")
    params = [
        {"model.name": "m1", "study.n_runs": "40"},
        {"model.name": "m2", "study.n_runs": "9"},
        {"model.name": "m3"},
    ]
    c = compare.compare([a, same, rev], params, labels=["a", "b", "c"], k=2)
    pairs = c.pairs.set_index(["study_a", "study_b"])
    assert pairs.loc[("a", "b"), "tau"] > 0.7 and pairs.loc[("a", "b"), "overlap"] == 2
    assert pairs.loc[("a", "c"), "tau"] < -0.7 and pairs.loc[("a", "c"), "overlap"] == 0
    assert c.common_top == []
    # the number of seeds is not a setting of a study's numbers: not a difference
    assert c.settings == ["model.name"]
    assert list(c.studies.settings) == ["model.name=m1", "model.name=m2", "model.name=m3"]
    text = "\n".join(c.lines())
    assert "a vs c: tau" in text and "On top in every study: none." in text
    c2 = compare.compare([a, same], params[:2], labels=["a", "b"], k=2)
    assert c2.common_top == ["v0", "v1"]
    # the tau of the pair is Kendall's tau of the two answers' mean-rank vectors
    ma = ans.mean_ranks(a, "olden")
    mb = ans.mean_ranks(same, "olden")
    from scipy import stats

    assert c2.pairs.tau.iloc[0] == pytest.approx(stats.kendalltau(ma, mb).statistic)


def test_compare_shows_each_studys_rank_sets_or_that_it_has_none():
    vals = _planted(order=[12, 4, 2, 1, 0.5, 0.25])
    with_b = _with_resamples(_record({"olden": vals}, name="r"), vals)
    plain = _record({"olden": vals}, name="p")
    c = compare.compare(
        [with_b, plain], [{"model.name": "m1"}, {"model.name": "m2"}], labels=["r", "p"], k=2
    )
    mine = ans.answer(with_b, k=2, n_bootstrap=1000, seed=with_b.meta.seed).table.head(2)
    sets = ", ".join(f"{r.feature} {r.rank_low}–{r.rank_high}" for r in mine.itertuples())
    assert sets.startswith("v0 1")
    assert list(c.studies.rank_sets) == [sets, ""]
    text = "\n".join(c.lines())
    assert f"95% rank sets over data and seeds: {sets}" in text
    assert "no rank sets over data (no resample networks)" in text
    md = c.markdown()
    assert "95% rank sets over data and seeds |" in md and f"| {sets} |" in md
    assert "| — |" in md


def test_compare_refuses_one_study_and_no_shared_method():
    a = _record({"olden": _planted()}, name="a")
    b = _record({"garson": _planted()}, name="b")
    with pytest.raises(ValueError, match="at least two"):
        compare.compare([a], [{}], labels=["a"])
    with pytest.raises(ValueError, match="no importance method in common"):
        compare.compare([a, b], [{}, {}], labels=["a", "b"])


def test_metrics_are_few_and_w_has_a_history_ending_at_the_study_value():
    from study.analysis import aggregate

    vals = _planted(m=30, n=5)
    rec = _record(
        {
            "olden": np.concatenate([vals, vals * 2], axis=2),
            "garson": np.repeat(np.abs(vals), 2, axis=2),
        },
        n_out=2,
    )
    analysis = aggregate.analyse(rec, top_k=2, n_bootstrap=100)
    assert set(analysis.same_ranking) == {"olden", "garson"}  # outputs x and 2x rank alike
    metrics, series = analysis.metrics(), analysis.series()
    # garson (identical outputs) logs one view, not one per output
    assert not any(k.startswith("stability.garson.y") for k in list(metrics) + list(series))
    assert not any(k.startswith("agreement.") for k in metrics)
    st = analysis.stability.set_index(["method", "output"])
    w = (
        series["stability.olden.y0.kendall_w"]
        if "stability.olden.y0.kendall_w" in series
        else series["stability.olden.kendall_w"]
    )
    assert [s for s, _ in w] == list(range(2, 31))
    assert w[-1][1] == pytest.approx(st.loc[("olden", "y0"), "kendall_w"])
    assert set(pd.Series([k.rsplit(".", 1)[-1] for k in metrics])) <= {
        "runs",
        "runs_converged",
        "test_score_mean",
        "test_score_sd",
        "top2_stability_ci",
    }
    thin = analysis.series(max_points=5)["stability.garson.kendall_w"]
    assert len(thin) == 5 and thin[0][0] == 2 and thin[-1][0] == 30


def test_description_and_overview_lead_with_the_rank_sets_or_say_they_are_the_seeds():
    from study.analysis import aggregate

    vals = _planted(order=[12, 4, 2, 1, 0.5, 0.25])
    plain = aggregate.analyse(_record({"olden": vals}), top_k=2, n_bootstrap=100)
    md = overview.description(plain)
    assert md.startswith(
        "**Answer**, the top 2 by olden (mean rank over 40 seeds [seeds' 95% interval]"
    )  # the UI shows the first lines: the answer opens them
    assert "cover the seeds only" in md and "CI]" not in md
    assert "cover the seeds only" in overview.overview_html(plain)
    rich = aggregate.analyse(
        _with_resamples(_record({"olden": vals}), vals), top_k=2, n_bootstrap=100
    )
    a = rich.answer
    md = overview.description(rich)
    assert md.startswith("**Answer**, the top 2 by olden, 95% rank sets over data and seeds")
    assert a.rank_set(a.table.iloc[0]) in md and "cover the seeds only" not in md
    page = overview.overview_html(rich)
    r = a.table.iloc[0]
    assert f"<td class=n>{r.rank_low}–{r.rank_high}</td>" in page and "resample networks" in page
    # the seeds-or-data sentence, the report's two lines in one, in both
    flat = a.seeds_or_data(flat=True)
    assert flat.startswith("Seeds or data: more ") and flat.endswith(").")
    assert a.seeds_or_data().split(":\n    ")[1] in flat
    assert overview.for_markdown(flat) in md
    assert html.escape(flat) in page


def test_auto_runs_stops_goes_on_or_hits_its_cap_by_the_seeds_error_against_the_datas():
    """study.n_runs=auto's rule (lifecycle._auto_runs) on planted importances: resamples that
    scatter 30 times as much as the seeds (the data's error dwarfs the seeds') stop it;
    resamples that scatter as the seeds do (no data variance to see) ask for more, at most
    twice as many, and at the cap it stops saying no number of seeds would do."""
    import dataclasses

    from study import config
    from study.config.settings import AUTO_RUNS, Settings
    from study.lifecycle.auto import auto_runs as _auto_runs

    s = Settings.from_config(config.compose(["study.n_runs=auto"]))
    vals = _planted(order=[6, 5, 4, 3, 2, 1])
    rec = _record({"olden": vals})  # 40 seeds
    wide = _with_resamples(rec, (vals - vals.mean(axis=0)) * 30 + vals.mean(axis=0), seed=3)
    n, line = _auto_runs(s, wide)
    assert n is None and line.startswith(
        "stopped at 40 seeds: the seeds' Monte Carlo error is "
        "below 0.1 of the data's standard error"
    )
    same = dataclasses.replace(
        rec, resamples=[dataclasses.replace(r, seed=2**32 + i) for i, r in enumerate(rec.runs)]
    )
    n, line = _auto_runs(s, same)  # V_data = 0: the seeds' error is all there is
    assert n == 80 and line == (
        "at 40 seeds the data's standard error is 0 for v0 (its resample "
        "networks vary no more than its seeds)"
    )
    n, line = _auto_runs(dataclasses.replace(s, n_runs=AUTO_RUNS[1]), same)
    assert n is None and line.startswith(f"stopped at 40 seeds, its cap being {AUTO_RUNS[1]}")
    assert line.endswith("its data's standard error is 0: no number of seeds gets below it)")
