"""The checks that tell users which ranking to believe: the output-layer check, exact negations
between outputs (signed Garson vs Olden), and validation by retraining on top-k variables."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from study import config, importance
from study.analysis import checks as validation
from study.analysis import retraining as retrain
from study.datasets import load_dataset
from study.importance import garson_signed, olden
from study.lifecycle import pipeline
from study.training.record import RunRecord, StudyMeta, StudyRecord, method_layouts
from study.training.runner import Plan

WEIGHT_METHODS = [m for m in importance.METHODS if not importance.get_method(m).needs_data]
DATA_METHODS = [m for m in importance.METHODS if importance.get_method(m).needs_data]
TINY_MODEL = {
    "hidden_layer_sizes": [4],
    "activation": "tanh",
    "learning_rate_init": 0.01,
    "max_iter": 500,
}


def _net(sizes, rng):
    return [rng.normal(size=(a, b)) for a, b in zip(sizes, sizes[1:])]


def _away_from_zero(rng, size):
    """Random weights with |w| in [0.5, 2] and random signs: no sign is ever 0 or ambiguous."""
    return rng.choice([-1.0, 1.0], size=size) * rng.uniform(0.5, 2.0, size=size)


def _record(coefs_per_run, output_names, methods=("garson_signed", "olden"), *, importances=None):
    """A study record built by hand: importances computed from the given weights (or given)."""
    n_in = np.asarray(coefs_per_run[0][0]).shape[0] if coefs_per_run else 0
    layouts = method_layouts(methods, task="regression", output_names=output_names)
    meta = StudyMeta(
        name="t",
        dataset="t",
        task="regression",
        feature_names=tuple(f"v{i}" for i in range(n_in)),
        output_names=tuple(output_names),
        layer_sizes=(n_in, *(np.asarray(w).shape[1] for w in coefs_per_run[0])),
        methods=layouts,
        score_name="R²",
    )
    runs = []
    for r, coefs in enumerate(coefs_per_run):
        values = (
            importances[r]
            if importances is not None
            else importance.compute(methods, importance.Network(coefs=coefs, intercepts=[]))
        )
        runs.append(
            RunRecord(
                seed=r,
                train_score=1.0,
                test_score=0.9,
                n_iter=10,
                converged=True,
                coefs=coefs,
                intercepts=[np.zeros(np.asarray(w).shape[1]) for w in coefs],
                importances=values,
            )
        )
    return StudyRecord(meta, runs)


# ---------------------------------------------------------------------------------------------
# output_layer_sensitivity


@pytest.fixture(scope="module")
def random_networks():
    rng = np.random.default_rng(11)
    one = [_net((5, 4, 3), rng) for _ in range(3)]
    two = [_net((5, 6, 4, 3), rng) for _ in range(3)]
    return one + two


def test_output_layer_sensitivity_verdicts_follow_the_formulas(random_networks):
    table = validation.output_layer_sensitivity(random_networks, list(importance.METHODS), seed=3)
    verdicts = dict(zip(table.method, table.verdict))
    assert verdicts == {
        "garson": "ignores the output layer",
        "weight_sums": "ignores the output layer",
        "garson_signed": "uses only the signs of output weights",
        "olden": "uses the output weights",
    }
    assert list(table.columns) == ["method", "rescaled", "sign_flipped", "replaced", "verdict"]


def test_output_layer_sensitivity_skips_methods_that_need_data(random_networks):
    table = validation.output_layer_sensitivity(random_networks, list(importance.METHODS))
    assert list(table.method) == WEIGHT_METHODS
    assert not set(DATA_METHODS) & set(table.method)
    empty = validation.output_layer_sensitivity(random_networks, DATA_METHODS)
    assert empty.empty
    assert list(empty.columns) == ["method", "rescaled", "sign_flipped", "replaced", "verdict"]


def test_output_layer_sensitivity_changes_are_zero_where_the_verdict_says_so(random_networks):
    table = validation.output_layer_sensitivity(random_networks, WEIGHT_METHODS, seed=0)
    t = table.set_index("method")
    changes = ["rescaled", "sign_flipped", "replaced"]
    for m in ("garson", "weight_sums"):
        np.testing.assert_allclose(t.loc[m, changes].astype(float), 0.0, rtol=0, atol=1e-12)
    assert t.loc["garson_signed", "rescaled"] <= 1e-12
    assert (t.loc["garson_signed", ["sign_flipped", "replaced"]].astype(float) > 1e-3).all()
    assert (t.loc["olden", changes].astype(float) > 1e-3).all()


def test_output_layer_sensitivity_sign_flip_change_is_the_closed_form(random_networks):
    """Negating output 0's weights negates column 0 of signed Garson and of Olden (both are odd in
    v_j0), leaving the others: the largest change is twice the largest |value| in column 0,
    relative to the largest |value| of the network."""
    t = validation.output_layer_sensitivity(random_networks, ["garson_signed", "olden"])
    t = t.set_index("method")
    for name, fn in (("garson_signed", garson_signed), ("olden", olden)):
        expected = max(2 * np.abs(fn(c)[:, 0]).max() / np.abs(fn(c)).max() for c in random_networks)
        assert t.loc[name, "sign_flipped"] == pytest.approx(expected, rel=1e-12)


def test_output_layer_sensitivity_single_output_networks():
    rng = np.random.default_rng(4)
    nets = [_net((4, 3, 1), rng) for _ in range(3)]
    table = validation.output_layer_sensitivity(nets, WEIGHT_METHODS)
    verdicts = dict(zip(table.method, table.verdict))
    assert verdicts["garson"] == verdicts["weight_sums"] == "ignores the output layer"
    assert verdicts["garson_signed"] == "uses only the signs of output weights"
    assert verdicts["olden"] == "uses the output weights"


def test_output_layer_sensitivity_seed_fixes_the_random_changes(random_networks):
    a = validation.output_layer_sensitivity(random_networks, ["olden"], seed=1)
    b = validation.output_layer_sensitivity(random_networks, ["olden"], seed=1)
    c = validation.output_layer_sensitivity(random_networks, ["olden"], seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert a.rescaled.iloc[0] != c.rescaled.iloc[0]
    assert a.sign_flipped.iloc[0] == c.sign_flipped.iloc[0]  # deterministic change


def test_output_layer_sensitivity_does_not_modify_the_networks(random_networks):
    before = [[w.copy() for w in c] for c in random_networks]
    validation.output_layer_sensitivity(random_networks, WEIGHT_METHODS)
    for b, a in zip(before, random_networks):
        for wb, wa in zip(b, a):
            np.testing.assert_array_equal(wb, wa)


def test_output_layer_sensitivity_olden_verdict_does_not_depend_on_weight_scale(random_networks):
    small = [[w * 1e-6 for w in c] for c in random_networks]  # CW ~ 1e-11
    t = validation.output_layer_sensitivity(small, ["olden"])
    assert t.verdict.iloc[0] == "uses the output weights"


def test_checks_change_the_first_networks_only_and_say_so(monkeypatch):
    # the output-layer check is of each formula: past SENSITIVITY_RUNS networks it changes the
    # first ones only (its table is then that of those networks) and its summary says so
    rng = np.random.default_rng(5)
    nets, methods = [_net((5, 4, 3), rng) for _ in range(4)], ["garson", "garson_signed", "olden"]
    record = _record(nets, ["a", "b", "c"], methods=tuple(methods))

    def sensitivity(networks):
        return validation.output_layer_sensitivity(networks, methods, seed=record.meta.seed)

    monkeypatch.setattr(validation, "SENSITIVITY_RUNS", 3)
    out = validation.checks(record)
    pd.testing.assert_frame_equal(out.tables["output_layer_check.csv"], sensitivity(nets[:3]))
    assert not out.tables["output_layer_check.csv"].equals(sensitivity(nets))
    assert "on the first 3 networks" in out.summary[0][0]
    monkeypatch.setattr(validation, "SENSITIVITY_RUNS", 4)
    every = validation.checks(record)
    pd.testing.assert_frame_equal(every.tables["output_layer_check.csv"], sensitivity(nets))
    assert "first" not in every.summary[0][0]


# ---------------------------------------------------------------------------------------------
# relation


def test_relation_negated_identical_different():
    a = np.array([0.5, -0.25, 0.0, 0.125])
    assert validation.relation(a, -a) == "negated"
    assert validation.relation(a, a.copy()) == "identical"
    assert validation.relation(a, a[::-1]) == "different"
    assert validation.relation(a, np.abs(a)) == "different"
    zero = np.zeros(4)
    assert validation.relation(zero, -zero) == "identical"  # two zero vectors are copies


def test_relation_tolerance_is_relative_to_the_vectors():
    a = np.array([0.3, -0.7, 0.1])
    eps = np.finfo(float).eps
    assert validation.relation(a, -a * (1 + 4 * eps)) == "negated"  # rounding: still negated
    assert validation.relation(a, a * (1 + 4 * eps)) == "identical"
    assert validation.relation(a, -(a + 1e-9)) == "different"  # far beyond rounding
    tiny = a * 1e-200
    assert validation.relation(tiny, -tiny) == "negated"
    assert validation.relation(tiny, tiny[::-1]) == "different"
    assert validation.relation(a, -(a + 1e-9), tol=1e-6) == "negated"


def test_relation_nan_is_undefined():
    a = np.array([0.5, -0.5])
    assert validation.relation(np.array([np.nan, 0.5]), a) == "undefined"
    assert validation.relation(a, np.array([0.5, np.nan])) == "undefined"


# ---------------------------------------------------------------------------------------------
# output_relations


def _two_output_net(kind, rng, sizes=(5, 6)):
    """A network whose two outputs' weights are, per hidden unit: 'opposite' (opposite signs,
    unequal magnitudes), 'equal' (same signs, unequal magnitudes), 'mixed' (both kinds of unit),
    or 'exact' (v_j2 = -v_j1)."""
    hidden = _net(sizes, rng)
    h = sizes[-1]
    v1 = _away_from_zero(rng, h)
    u = rng.uniform(1.5, 3.0, size=h)  # magnitudes of output 2 differ from output 1 everywhere
    if kind == "opposite":
        v2 = -v1 * u
    elif kind == "equal":
        v2 = v1 * u
    elif kind == "mixed":
        v2 = v1 * u * np.where(np.arange(h) < h // 3, -1.0, 1.0)
    else:
        v2 = -v1
    return hidden + [np.column_stack([v1, v2])]


@pytest.mark.parametrize("sizes", [(5, 6), (5, 7, 6)], ids=["one-hidden", "two-hidden"])
def test_output_relations_opposite_signs_everywhere_negate_signed_garson_not_olden(sizes):
    rng = np.random.default_rng(5)
    nets = [_two_output_net("opposite", rng, sizes) for _ in range(3)]
    rel = validation.output_relations(_record(nets, ("a", "b")))
    assert len(rel) == 3 and list(rel.seed) == [0, 1, 2]
    assert (rel.hidden_units == sizes[-1]).all()
    assert (rel.opposite_sign_units == rel.hidden_units).all() and (rel.same_sign_units == 0).all()
    assert (rel.garson_signed == "negated").all() and rel.garson_signed_same_magnitude.all()
    assert (rel.olden == "different").all() and not rel.olden_same_magnitude.any()
    for c in nets:  # the oracle: the formula itself gives exactly negated vectors
        gs = garson_signed(c)
        np.testing.assert_allclose(gs[:, 1], -gs[:, 0], rtol=1e-12, atol=0)


def test_output_relations_equal_signs_everywhere_give_identical_signed_garson():
    rng = np.random.default_rng(6)
    nets = [_two_output_net("equal", rng) for _ in range(2)]
    rel = validation.output_relations(_record(nets, ("a", "b")))
    assert (rel.garson_signed == "identical").all()
    assert (rel.same_sign_units == rel.hidden_units).all() and (rel.opposite_sign_units == 0).all()
    assert (rel.olden == "different").all()


def test_output_relations_mixed_signs_give_different_vectors_and_count_units():
    rng = np.random.default_rng(7)
    net = _two_output_net("mixed", rng)
    rel = validation.output_relations(_record([net], ("a", "b")))
    v = net[-1]
    assert rel.opposite_sign_units.iloc[0] == np.sum(np.sign(v[:, 0]) != np.sign(v[:, 1])) == 6 // 3
    assert rel.same_sign_units.iloc[0] == 6 - 6 // 3
    assert rel.garson_signed.iloc[0] == "different" and rel.olden.iloc[0] == "different"
    assert not rel.garson_signed_same_magnitude.iloc[0]


def test_output_relations_exact_negation_of_output_weights_negates_olden_too():
    rng = np.random.default_rng(8)
    rel = validation.output_relations(_record([_two_output_net("exact", rng)], ("a", "b")))
    row = rel.iloc[0]
    assert row.garson_signed == "negated" and row.olden == "negated"
    assert row.olden_same_magnitude and row.garson_signed_same_magnitude


def test_output_relations_every_pair_of_three_outputs():
    rng = np.random.default_rng(9)
    w = rng.normal(size=(4, 5))
    v = _away_from_zero(rng, 5)
    u1, u2 = rng.uniform(1.5, 3.0, size=(2, 5))
    net = [w, np.column_stack([v, -v * u1, v * u2])]  # b opposite a, c equal to a, so c opposite b
    rel = validation.output_relations(_record([net], ("a", "b", "c")))
    assert list(zip(rel.output_a, rel.output_b)) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert list(rel.garson_signed) == ["negated", "identical", "negated"]
    assert list(rel.opposite_sign_units) == [5, 0, 5]
    assert list(rel.olden) == ["different"] * 3


def test_output_relations_zero_output_weight_is_neither_opposite_nor_same():
    rng = np.random.default_rng(15)
    net = _two_output_net("opposite", rng)
    net[-1][0, 1] = 0.0  # unit 0 does not reach output b
    rel = validation.output_relations(_record([net], ("a", "b")))
    assert rel.opposite_sign_units.iloc[0] == 5 and rel.same_sign_units.iloc[0] == 0
    assert rel.garson_signed.iloc[0] == "different"


def test_output_relations_reads_the_recorded_importances():
    """The relation is that of the vectors the study recorded, not recomputed from the weights."""
    rng = np.random.default_rng(10)
    net = _two_output_net("opposite", rng)
    recorded = importance.compute(["garson_signed", "olden"], importance.Network(net, []))
    recorded["garson_signed"]["value"] = recorded["garson_signed"]["value"][:, [0, 0]]
    rel = validation.output_relations(_record([net], ("a", "b"), importances=[recorded]))
    assert rel.garson_signed.iloc[0] == "identical"
    assert rel.opposite_sign_units.iloc[0] == 6


def test_output_relations_single_output_or_no_signed_method_is_none():
    rng = np.random.default_rng(12)
    assert validation.output_relations(_record([_net((4, 3, 1), rng)], ("y",))) is None
    two = [_two_output_net("opposite", rng)]
    unsigned = _record(two, ("a", "b"), methods=("garson", "weight_sums"))
    assert validation.output_relations(unsigned) is None
    only_olden = validation.output_relations(_record(two, ("a", "b"), methods=("olden",)))
    assert "olden" in only_olden and "garson_signed" not in only_olden


# ---------------------------------------------------------------------------------------------
# relations_summary


def test_relations_summary_counts_match_the_table():
    # 5 runs of one pair, 4 hidden units: all opposite in runs 0, 1, 3 (3/5; median of
    # [4, 4, 2, 4, 1] = 4); signed Garson negated in runs 0, 1, 2 (3/5, 2 of them all-opposite),
    # copies in run 4 (1/5); Olden negated in run 0 (1/5), same magnitudes in runs 0, 2 (2/5).
    rel = pd.DataFrame(
        {
            "seed": [0, 1, 2, 3, 4],
            "output_a": "a",
            "output_b": "b",
            "hidden_units": 4,
            "opposite_sign_units": [4, 4, 2, 4, 1],
            "same_sign_units": [0, 0, 2, 0, 3],
            "garson_signed": ["negated", "negated", "negated", "different", "identical"],
            "garson_signed_same_magnitude": [True, True, True, False, True],
            "olden": ["negated", "different", "different", "different", "different"],
            "olden_same_magnitude": [True, False, True, False, False],
        }
    )
    lines = validation.relations_summary(rel)
    pair = [line for line in lines if line.startswith("  a vs b:")]
    assert len(pair) == 1
    line = pair[0]
    assert "opposite sign on all 4 hidden units in 3/5 runs (median 4)" in line
    assert "signed Garson exactly negated in 3/5 (2 of them all-opposite runs)" in line
    assert "copies in 1/5" in line
    assert "Olden negated in 1/5, same magnitudes in 2/5" in line
    assert any(line.startswith("  Why:") for line in lines)


def test_relations_summary_one_line_per_pair_from_output_relations():
    rng = np.random.default_rng(13)
    w = rng.normal(size=(4, 5))
    nets = []
    for kind in ("opposite", "opposite", "mixed"):
        v = _away_from_zero(rng, 5)
        u = rng.uniform(1.5, 3.0, size=5)
        second = {"opposite": -v * u, "mixed": v * u * np.array([-1, 1, 1, 1, 1])}[kind]
        nets.append([w, np.column_stack([v, second, v * u])])
    rel = validation.output_relations(_record(nets, ("a", "b", "c")))
    lines = validation.relations_summary(rel)
    by_pair = {line.split(":")[0].strip(): line for line in lines if " vs " in line}
    assert set(by_pair) == {"a vs b", "a vs c", "b vs c"}
    # a vs b: all opposite in the two 'opposite' runs; a vs c: never (same signs everywhere)
    assert "in 2/3 runs" in by_pair["a vs b"]
    assert "exactly negated in 2/3 (2 of them" in by_pair["a vs b"]
    assert "in 0/3 runs" in by_pair["a vs c"] and "copies in 3/3" in by_pair["a vs c"]
    assert "Olden negated in 0/3" in by_pair["a vs b"]


def test_relations_summary_without_signed_garson_has_no_explanation():
    rng = np.random.default_rng(14)
    rec = _record([_two_output_net("exact", rng)], ("a", "b"), methods=("olden",))
    rel = validation.output_relations(rec)
    lines = validation.relations_summary(rel)
    assert "Olden negated in 1/1, same magnitudes in 1/1" in lines[1]
    assert "signed Garson" not in lines[1]
    assert not any(line.startswith("  Why:") for line in lines)


# ---------------------------------------------------------------------------------------------
# retraining: consensus order, curves, areas


def test_consensus_order_is_argsort_of_mean_rank_not_of_mean_value():
    # v0 is huge in one run and last in the two others: the largest mean value, a poor mean rank.
    vals = np.array([[100.0, 3.0, 2.0, 1.0], [0.1, 3.0, 2.0, 1.0], [0.1, 2.0, 3.0, 1.0]])
    rec = _record(
        [_net((4, 2, 1), np.random.default_rng(0))] * 3,
        ("y",),
        methods=("garson",),
        importances=[{"garson": {"value": v[:, None]}} for v in vals],
    )
    mean_rank = rankdata(-vals, axis=1).mean(axis=0)
    order = retrain.consensus_order(rec, "garson")
    np.testing.assert_array_equal(order, np.argsort(mean_rank, kind="stable"))
    assert order[0] != np.argmax(vals.mean(axis=0))


def test_consensus_order_signed_multi_output_uses_mean_magnitude_and_breaks_ties_by_index():
    # Signed method, two outputs: overall importance = mean over outputs of |value|.
    # Run 0 orders v0 > v1 > v2 > v3, run 1 orders v1 > v0 > v2 > v3: v0 and v1 tie on mean rank.
    vals = np.array(
        [
            [[-4.0, 0.0], [1.5, -1.5], [1.0, 0.0], [0.2, 0.2]],
            [[0.5, -2.0], [-3.0, 3.0], [0.0, 1.0], [0.1, -0.1]],
        ]
    )  # (runs, variables, outputs)
    rec = _record(
        [_net((4, 2, 2), np.random.default_rng(0))] * 2,
        ("a", "b"),
        methods=("olden",),
        importances=[{"olden": {"value": v}} for v in vals],
    )
    mean_rank = rankdata(-np.abs(vals).mean(axis=2), axis=1).mean(axis=0)
    assert mean_rank[0] == mean_rank[1]
    order = retrain.consensus_order(rec, "olden")
    np.testing.assert_array_equal(order, np.argsort(mean_rank, kind="stable"))
    np.testing.assert_array_equal(order, [0, 1, 2, 3])


def test_consensus_order_ties_keep_index_order_among_many_variables():
    # 20 variables in two tied groups; the more important group (v10..v19) first, each in index
    # order (an unstable sort reorders ties once there are more than 16 elements).
    vals = np.concatenate([np.ones((1, 10)), np.full((1, 10), 2.0)], axis=1)
    rec = _record(
        [_net((20, 2, 1), np.random.default_rng(0))],
        ("y",),
        methods=("garson",),
        importances=[{"garson": {"value": vals[0][:, None]}}],
    )
    np.testing.assert_array_equal(
        retrain.consensus_order(rec, "garson"), [*range(10, 20), *range(10)]
    )


def _fake_plan(n_features):
    ds = load_dataset("iris")
    ds = dataclasses.replace(
        ds, X=ds.X[:, :n_features], feature_names=ds.feature_names[:n_features]
    )
    return Plan(ds, TINY_MODEL, ())


def _closed_form_score(plan, cols, seed):
    """A score with a closed form: 10 per kept variable index + 1, plus the seed / 100."""
    return float(sum(10 * (c + 1) for c in cols) + seed / 100)


def test_retrain_curves_trains_identical_variable_sets_once(monkeypatch):
    # Two variables, k = 1: every set of columns is (0,) or (1,), whoever asks for it.
    calls = []

    def counting(plan, cols, seed):
        calls.append((cols, seed))
        return _closed_form_score(plan, cols, seed)

    monkeypatch.setattr(retrain, "_score", counting)
    orders = {"a": np.array([0, 1]), "b": np.array([1, 0]), "a_again": np.array([0, 1])}
    curves = retrain.retrain_curves(_fake_plan(2), orders, k_max=5, n_seeds=2, n_random=5, seed=0)
    assert len(calls) == len(set(calls)) == 2 * 2  # 2 column sets x 2 seeds
    assert {c for c, _ in calls} == {(0,), (1,)}
    assert curves.k.max() == 1  # k_max clipped to p - 1
    a = curves[curves.method == "a"].reset_index(drop=True)
    b = curves[curves.method == "a_again"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a.drop(columns="method"), b.drop(columns="method"))


def test_retrain_curves_aggregates_scores_by_closed_form(monkeypatch):
    monkeypatch.setattr(retrain, "_score", _closed_form_score)
    order = np.array([2, 0, 3, 1])
    n_seeds, n_random, K = 3, 4, 2
    curves = retrain.retrain_curves(
        _fake_plan(4), {"m": order}, k_max=K, n_seeds=n_seeds, n_random=n_random, seed=5
    )
    seeds = np.arange(5, 5 + n_seeds)
    assert list(curves.columns) == ["method", "mode", "k", "score_mean", "score_sd", "n"]
    assert len(curves) == 2 * 2 * K  # (m, random) x (keep, remove) x k
    c = curves.set_index(["method", "mode", "k"])
    for k in range(1, K + 1):
        kept = order[:k]
        removed = [i for i in range(4) if i not in kept]
        for mode, cols in (("keep", kept), ("remove", removed)):
            scores = [_closed_form_score(None, cols, s) for s in seeds]
            assert c.loc[("m", mode, k), "score_mean"] == pytest.approx(np.mean(scores))
            assert c.loc[("m", mode, k), "score_sd"] == pytest.approx(np.std(scores, ddof=1))
            assert c.loc[("m", mode, k), "n"] == n_seeds
            assert c.loc[("random", mode, k), "n"] == n_random * n_seeds
        # random keep: k variables drawn without replacement, so the score lies between the
        # k smallest and the k largest; its sd is over the draws' means (seed part cancels)
        lo = sum(10 * (i + 1) for i in range(k)) + seeds.mean() / 100
        hi = sum(10 * (i + 1) for i in range(4 - k, 4)) + seeds.mean() / 100
        assert lo - 1e-9 <= c.loc[("random", "keep", k), "score_mean"] <= hi + 1e-9


def test_retrain_curves_needs_two_variables(monkeypatch):
    monkeypatch.setattr(retrain, "_score", _closed_form_score)
    with pytest.raises(ValueError, match="at least 2 variables"):
        retrain.retrain_curves(
            _fake_plan(1), {"m": np.array([0])}, k_max=3, n_seeds=1, n_random=1, seed=0
        )


@pytest.fixture(scope="module")
def planted_curves():
    """Real retraining on y = X @ beta + noise: the true order against the worst-first order."""
    ds = load_dataset("known_truth_regression", n_samples=300)
    true = np.argsort(-ds.truth, kind="stable")
    orders = {"truth": true, "worst_first": true[::-1].copy()}
    calls = []
    real = retrain._score

    def counting(plan, cols, seed):
        calls.append((cols, seed))
        return real(plan, cols, seed)

    mp = pytest.MonkeyPatch()
    mp.setattr(retrain, "_score", counting)
    try:
        curves = retrain.retrain_curves(
            Plan(ds, TINY_MODEL, ()), orders, k_max=2, n_seeds=2, n_random=3, seed=0, n_jobs=1
        )
    finally:
        mp.undo()
    return ds, orders, curves, calls


def test_retrain_curves_true_order_beats_random_at_every_k(planted_curves):
    _, _, curves, _ = planted_curves
    w = curves.pivot_table(index=["mode", "k"], columns="method", values="score_mean")
    assert (w.loc["keep", "truth"] > w.loc["keep", "random"]).all()
    assert (w.loc["remove", "truth"] < w.loc["remove", "random"]).all()


def test_retrain_curves_worst_first_order_does_worse_than_the_true_order(planted_curves):
    _, _, curves, _ = planted_curves
    w = curves.pivot_table(index=["mode", "k"], columns="method", values="score_mean")
    assert (w.loc["keep", "worst_first"] < w.loc["keep", "truth"]).all()
    assert (w.loc["remove", "worst_first"] > w.loc["remove", "truth"]).all()
    areas = retrain.retrain_areas(curves).set_index("method")
    assert areas.loc["truth", "area"] > 0 > areas.loc["worst_first", "area"]


def test_retrain_curves_table_shape_and_unique_jobs(planted_curves):
    ds, orders, curves, calls = planted_curves
    K, n_seeds, n_random = 2, 2, 3
    assert len(curves) == (len(orders) + 1) * 2 * K
    assert set(curves.method) == {*orders, "random"} and set(curves["mode"]) == {"keep", "remove"}
    assert sorted(curves.k.unique()) == list(range(1, K + 1))
    assert (curves[curves.method != "random"].n == n_seeds).all()
    assert (curves[curves.method == "random"].n == n_seeds * n_random).all()
    assert len(calls) == len(set(calls))
    method_sets = {tuple(sorted(o[:k])) for o in orders.values() for k in range(1, K + 1)}
    method_sets |= {tuple(sorted(set(range(ds.n_features)) - set(s))) for s in method_sets}
    assert {(s, seed) for s in method_sets for seed in (0, 1)} <= set(calls)


def test_retrain_areas_is_the_closed_form():
    k = [1, 2, 3]
    table = {
        ("a", "keep"): [0.5, 0.7, 0.8],
        ("a", "remove"): [0.6, 0.4, 0.3],
        ("b", "keep"): [0.2, 0.3, 0.5],
        ("b", "remove"): [0.9, 0.8, 0.6],
        ("random", "keep"): [0.3, 0.4, 0.6],
        ("random", "remove"): [0.8, 0.7, 0.5],
    }
    curves = pd.DataFrame(
        [
            {"method": m, "mode": mode, "k": kk, "score_mean": s, "score_sd": 0.0, "n": 1}
            for (m, mode), scores in table.items()
            for kk, s in zip(k, scores)
        ]
    )
    areas = retrain.retrain_areas(curves).set_index("method")
    assert set(areas.index) == {"a", "b"}
    for m in ("a", "b"):
        keep = np.mean(np.subtract(table[(m, "keep")], table[("random", "keep")]))
        remove = np.mean(np.subtract(table[("random", "remove")], table[(m, "remove")]))
        assert areas.loc[m, "keep_area"] == pytest.approx(keep)
        assert areas.loc[m, "remove_area"] == pytest.approx(remove)
        assert areas.loc[m, "area"] == pytest.approx((keep + remove) / 2)
    assert list(retrain.retrain_areas(curves).method) == ["a", "b"]  # best first


# ---------------------------------------------------------------------------------------------
# run_checks: a whole study


@pytest.fixture(scope="module")
def checked_study(mlflow_store):
    cfg = config.compose(
        [
            f"tracking.uri=sqlite:///{mlflow_store / 'mlflow.db'}",
            f"paths.root={mlflow_store}",
            "tracking.experiment=validation-checks",
            "dataset=iris",
            "study.n_runs=2",
            "study.n_jobs=1",
            "study.progress=false",
            "study.resample=none",
            "study.charts=false",
            "importance.methods=[garson,olden,permutation]",
            "importance.options.permutation.n_repeats=2",
            "stability.n_bootstrap=200",
            "validate.retrain=true",
            "validate.k_max=2",
            "validate.n_seeds=1",
            "validate.n_random=2",
        ]
    )
    return pipeline.run(cfg)


@pytest.mark.slow
def test_run_checks_logs_tables_to_the_parent_run(checked_study, tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(checked_study.uri)
    assert client.get_run(checked_study.run_id).info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(checked_study.run_id)}
    assert {
        "retrain_curves.csv",
        "retrain_areas.csv",
        "output_layer_check.csv",
        "output_relations.csv",
    } <= artifacts
    check = pd.read_csv(
        client.download_artifacts(checked_study.run_id, "output_layer_check.csv", str(tmp_path))
    )
    assert dict(zip(check.method, check.verdict)) == {
        "garson": "ignores the output layer",
        "olden": "uses the output weights",
    }
    curves = pd.read_csv(
        client.download_artifacts(checked_study.run_id, "retrain_curves.csv", str(tmp_path))
    )
    assert set(curves.method) == {"garson", "olden", "permutation", "random"}
    assert len(curves) == 4 * 2 * 2
    for name in ("retrain_curves.csv", "retrain_areas.csv", "output_layer_check.csv"):
        assert (checked_study.output_dir / name).is_file()


def test_run_checks_logs_retrain_metrics_and_step_series(checked_study):
    from mlflow import MlflowClient

    client = MlflowClient(checked_study.uri)
    metrics = client.get_run(checked_study.run_id).data.metrics
    tables = checked_study.tables
    areas = tables["retrain_areas.csv"].set_index("method")
    curves = tables["retrain_curves.csv"]
    for m in ("garson", "olden", "permutation"):
        assert metrics[f"retrain.{m}.area"] == pytest.approx(areas.loc[m, "area"])
        assert metrics[f"retrain.{m}.keep_area"] == pytest.approx(areas.loc[m, "keep_area"])
        for mode in ("keep", "remove"):
            history = client.get_metric_history(checked_study.run_id, f"retrain.{m}.{mode}_score")
            got = sorted((h.step, h.value) for h in history)
            want = curves[(curves.method == m) & (curves["mode"] == mode)].sort_values("k")
            assert [s for s, _ in got] == [1, 2]
            np.testing.assert_allclose([v for _, v in got], want.score_mean)


def test_run_checks_adds_the_summary_lines(checked_study):
    blocks = checked_study.report
    heads = [b[0] for b in blocks]
    assert any(h.startswith("Output-layer check") for h in heads)
    assert any(h.startswith("Several outputs") for h in heads)
    assert any(
        h.startswith("Retraining on top-k variables vs k random ones (k = 1..2") for h in heads
    )
    retrain_block = next(b for b in blocks if b[0].startswith("Retraining"))
    assert (
        sum(
            line.strip().split()[0] in {"garson", "olden", "permutation"}
            for line in retrain_block[2:]
        )
        == 3
    )
    assert retrain_block[-1].startswith("  Best: ")
    check_block = next(b for b in blocks if b[0].startswith("Output-layer check"))
    assert any("garson" in line and "ignores the output layer" in line for line in check_block)


@pytest.mark.parametrize("bad", ["validate.k_max=0", "validate.n_seeds=0", "validate.n_random=0"])
def test_run_checks_bad_retrain_settings_are_user_errors_before_any_run(bad, mlflow_store):
    from mlflow import MlflowClient

    from study.errors import StudyError

    experiment = f"validation-bad-{bad.split('.')[1].split('=')[0]}"
    cfg = config.compose(
        [
            f"tracking.uri=sqlite:///{mlflow_store / 'mlflow.db'}",
            f"paths.root={mlflow_store}",
            f"tracking.experiment={experiment}",
            "dataset=iris",
            "study.n_runs=1",
            "study.n_jobs=1",
            "study.progress=false",
            "study.resample=none",
            "study.charts=false",
            "importance.methods=[olden]",
            "stability.n_bootstrap=200",
            "model.max_iter=50",
            "validate.retrain=true",
            "validate.k_max=1",
            "validate.n_seeds=1",
            "validate.n_random=1",
            bad,
        ]
    )
    with pytest.raises(StudyError, match=bad.split("=")[0]):
        pipeline.run(cfg)
    exp = MlflowClient(f"sqlite:///{mlflow_store / 'mlflow.db'}").get_experiment_by_name(experiment)
    assert exp is None or not MlflowClient(f"sqlite:///{mlflow_store / 'mlflow.db'}").search_runs(
        [exp.experiment_id]
    )
