"""Tests for study.importance: NeuralNetTools reference values, closed forms, finite differences,
neuralsens, planted signals, and contract tests over every registered method."""

import json
import types
from fractions import Fraction
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance
from sklearn.neural_network import MLPClassifier, MLPRegressor

from study.importance import (
    METHODS,
    Network,
    compute,
    from_neuralnettools,
    garson,
    garson_signed,
    get_method,
    jacobian,
    method_names,
    olden,
    partial_derivatives,
    permutation,
    to_neuralnettools,
    weight_sums,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "neuralnettools_reference.json").read_text()
)
CASES = REFERENCE["cases"]
GARSON_CASES = [i for i, c in enumerate(CASES) if c["garson"] is not None]
REFUSED_CASES = [i for i, c in enumerate(CASES) if c["garson"] is None]
ORDERS = ("sklearn", "neuralnettools")
HIDDEN = ("tanh", "logistic", "relu", "identity")


def _coefs(case, order):
    c = CASES[case]
    if order == "sklearn":
        return [np.array(w, dtype=float) for w in c["coefs"]]
    return from_neuralnettools(c["neuralnettools_wts"], c["struct"])[0]


def _random_net(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((a, b)) for a, b in zip(sizes, sizes[1:])]


def _classic_garson(W, V, k):
    """methods.md's loop formula for output k, written out with Python sums."""
    p, H = W.shape
    P = [[abs(W[i, j]) * abs(V[j, k]) for j in range(H)] for i in range(p)]
    Q = [[P[i][j] / sum(P[r][j] for r in range(p)) for j in range(H)] for i in range(p)]
    S = [sum(Q[i]) for i in range(p)]
    return np.array([s / sum(S) for s in S])


def _signed_garson_loops(W, V, k):
    p, H = W.shape
    P = [[W[i, j] * V[j, k] for j in range(H)] for i in range(p)]
    Q = [[P[i][j] / sum(abs(P[r][j]) for r in range(p)) for j in range(H)] for i in range(p)]
    S = [sum(Q[i]) for i in range(p)]
    return np.array([s / sum(abs(t) for t in S) for s in S])


# ---------------------------------------------------------------------------------------------
# NeuralNetTools reference values


def test_reference_file_null_garson_exactly_where_neuralnettools_refuses():
    assert len(CASES) == 41
    for c in CASES:
        refuses = len(c["struct"]) > 3 or c["struct"][-1] > 1
        assert (c["garson"] is None) == refuses


@pytest.mark.parametrize("case", range(len(CASES)))
def test_from_neuralnettools_matches_reference_sklearn_order(case):
    c = CASES[case]
    coefs, intercepts = from_neuralnettools(c["neuralnettools_wts"], c["struct"])
    assert len(coefs) == len(c["coefs"]) and len(intercepts) == len(c["intercepts"])
    for got, want in zip(coefs, c["coefs"]):
        np.testing.assert_array_equal(got, np.array(want, dtype=float), strict=True)
    for got, want in zip(intercepts, c["intercepts"]):
        np.testing.assert_array_equal(got, np.array(want, dtype=float), strict=True)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_to_neuralnettools_inverts_from_neuralnettools(case):
    c = CASES[case]
    wts, struct = to_neuralnettools(c["coefs"], c["intercepts"])
    np.testing.assert_array_equal(wts, np.array(c["neuralnettools_wts"]), strict=True)
    assert list(struct) == list(c["struct"])
    again = from_neuralnettools(wts, struct)
    for got, want in zip(again[0], c["coefs"]):
        np.testing.assert_array_equal(got, np.array(want, dtype=float))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("case", GARSON_CASES)
def test_garson_matches_neuralnettools(case, order):
    c = CASES[case]
    ri = garson(_coefs(case, order))
    assert ri.shape == (c["struct"][0], c["struct"][-1])
    for k in range(ri.shape[1]):
        np.testing.assert_allclose(ri[:, k], c["garson"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_olden_matches_neuralnettools(case, order):
    c = CASES[case]
    cw = olden(_coefs(case, order))
    want = np.array(c["olden"], dtype=float)
    assert cw.shape == want.shape == (c["struct"][0], c["struct"][-1])
    np.testing.assert_allclose(cw, want, rtol=0, atol=1e-9)


@pytest.mark.parametrize("case", REFUSED_CASES)
def test_garson_where_neuralnettools_refuses_gives_distribution_per_column(case):
    c = CASES[case]
    ri = garson(_coefs(case, "sklearn"))
    assert ri.shape == (c["struct"][0], c["struct"][-1])
    assert np.isfinite(ri).all() and (ri >= 0).all()
    np.testing.assert_allclose(ri.sum(axis=0), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ri, np.repeat(ri[:, :1], ri.shape[1], axis=1))


def test_from_neuralnettools_wrong_length_raises():
    with pytest.raises(ValueError, match="needs 9 weights"):
        from_neuralnettools(np.zeros(8), [2, 2, 1])


# ---------------------------------------------------------------------------------------------
# Garson


def test_garson_docstring_example_by_hand():
    # Q = [[1/4, 2/4], [3/4, 2/4]] -> S = [3/4, 5/4] -> RI = [3/8, 5/8]
    w, v = np.array([[1.0, -2.0], [3.0, 2.0]]), np.array([[0.5], [-4.0]])
    np.testing.assert_allclose(garson([w, v]).ravel(), [3 / 8, 5 / 8], rtol=1e-15)


def test_garson_one_hidden_layer_is_classic_formula():
    W, V = _random_net([6, 5, 3], seed=1)
    ri = garson([W, V])
    for k in range(3):
        np.testing.assert_allclose(ri[:, k], _classic_garson(W, V, k), rtol=1e-12)


def test_garson_ignores_output_layer_magnitudes_and_signs():
    rng = np.random.default_rng(2)
    W, V = _random_net([5, 4, 3], seed=2)
    base = garson([W, V])
    scaled = V * rng.uniform(0.01, 100.0, size=V.shape)
    flipped = V * rng.choice([-1.0, 1.0], size=V.shape)
    np.testing.assert_allclose(garson([W, scaled]), base, rtol=1e-12)
    np.testing.assert_allclose(garson([W, flipped]), base, rtol=1e-12)


def test_garson_columns_identical_and_sum_to_one():
    ri = garson(_random_net([7, 6, 4], seed=3))
    assert ri.shape == (7, 4)
    assert (ri >= 0).all()
    np.testing.assert_array_equal(ri, np.repeat(ri[:, :1], 4, axis=1))
    np.testing.assert_allclose(ri.sum(axis=0), 1.0, rtol=1e-14)


def test_garson_invariant_to_rescaling_incoming_weights_of_a_hidden_unit():
    # Q_ij = |w_ij| / sum_i |w_ij|: a factor on column j of W cancels (any sign).
    W, V = _random_net([5, 4, 1], seed=4)
    base = garson([W, V])
    for c in (7.5, 0.01, -3.0):
        W2 = W.copy()
        W2[:, 2] *= c
        np.testing.assert_allclose(garson([W2, V]), base, rtol=1e-12)


def test_garson_rescaling_one_input_row_raises_its_share():
    W, V = _random_net([5, 4, 1], seed=5)
    base = garson([W, V])
    W2 = W.copy()
    W2[3] *= 3.0
    assert garson([W2, V])[3, 0] > base[3, 0]


def test_garson_deep_reduces_to_shallow_with_identity_like_layer():
    # A signed, rescaled permutation between two hidden layers: |W2| / colsum |W2| is the
    # permutation matrix, which only reorders the hidden units, so row sums are unchanged.
    rng = np.random.default_rng(6)
    W1, V = _random_net([6, 5, 2], seed=6)
    perm = np.eye(5)[rng.permutation(5)] * rng.uniform(0.1, 10, 5) * rng.choice([-1, 1], 5)
    deep = garson([W1, perm, rng.standard_normal((5, 2))])
    np.testing.assert_allclose(deep, garson([W1, V]), rtol=1e-12)
    np.testing.assert_allclose(deep[:, 0], _classic_garson(W1, V, 0), rtol=1e-12)


def test_garson_deep_hand_computed_two_hidden_layers():
    # Layer 1 shares: x1 gets 1/4 of h1 and 2/4 of h2; layer 2: h1 gives 1/4, h2 gives 3/4.
    # x1 = 1/4*1/4 + 2/4*3/4 = 7/16, x2 = 3/4*1/4 + 2/4*3/4 = 9/16.
    W1 = np.array([[1.0, -2.0], [3.0, 2.0]])
    W2 = np.array([[1.0], [-3.0]])
    V = np.array([[5.0, -0.1]])
    want = [float(Fraction(7, 16)), float(Fraction(9, 16))]
    ri = garson([W1, W2, V])
    assert ri.shape == (2, 2)
    for k in range(2):
        np.testing.assert_allclose(ri[:, k], want, rtol=1e-15)


def test_garson_dead_hidden_unit_contributes_nothing():
    W, V = _random_net([4, 5, 2], seed=7)
    W[:, 1] = 0.0
    keep = [0, 2, 3, 4]
    for f in (garson, garson_signed, olden):
        got = f([W, V])
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, f([W[:, keep], V[keep]]), rtol=1e-12, atol=1e-15)


def test_garson_rejects_single_matrix_and_mismatched_shapes():
    with pytest.raises(ValueError, match="at least two"):
        garson([np.ones((3, 2))])
    with pytest.raises(ValueError, match="shape"):
        garson([np.ones((3, 2)), np.ones((3, 1))])


# ---------------------------------------------------------------------------------------------
# signed Garson


def test_garson_signed_is_loop_formula():
    W, V = _random_net([6, 5, 3], seed=8)
    ri = garson_signed([W, V])
    for k in range(3):
        np.testing.assert_allclose(ri[:, k], _signed_garson_loops(W, V, k), rtol=1e-12)


def test_garson_signed_depends_only_on_signs_of_output_weights():
    rng = np.random.default_rng(9)
    W, V = _random_net([5, 4, 3], seed=9)
    base = garson_signed([W, V])
    np.testing.assert_allclose(
        garson_signed([W, V * rng.uniform(0.01, 100, V.shape)]), base, rtol=1e-12
    )
    V2 = V.copy()
    V2[:, 1] *= -1
    got = garson_signed([W, V2])
    np.testing.assert_allclose(got[:, 1], -base[:, 1], rtol=1e-12)
    np.testing.assert_allclose(got[:, [0, 2]], base[:, [0, 2]], rtol=1e-12)


def test_garson_signed_opposite_outputs_negated_and_proportional_outputs_identical():
    rng = np.random.default_rng(10)
    W, v1 = _random_net([6, 5, 1], seed=10)
    opposite = garson_signed([W, np.column_stack([v1, -v1])])
    np.testing.assert_array_equal(opposite[:, 1], -opposite[:, 0])
    same = garson_signed([W, np.column_stack([v1, v1 * rng.uniform(0.1, 10, (5, 1))])])
    np.testing.assert_allclose(same[:, 1], same[:, 0], rtol=1e-12)


def test_garson_signed_absolute_values_sum_to_one():
    ri = garson_signed(_random_net([8, 6, 3], seed=11))
    np.testing.assert_allclose(np.abs(ri).sum(axis=0), 1.0, rtol=1e-14)
    assert (ri < 0).any() and (ri > 0).any()


# ---------------------------------------------------------------------------------------------
# Olden


def test_olden_is_linear_in_last_layer():
    W, V1 = _random_net([5, 4, 2], seed=12)
    V2 = np.random.default_rng(13).standard_normal(V1.shape)
    a, b = 2.5, -0.7
    np.testing.assert_allclose(
        olden([W, a * V1 + b * V2]), a * olden([W, V1]) + b * olden([W, V2]), rtol=1e-12
    )


def test_olden_one_hidden_layer_is_sum_over_hidden_units():
    W, V = _random_net([4, 6, 3], seed=14)
    want = np.array(
        [[sum(W[i, j] * V[j, k] for j in range(6)) for k in range(3)] for i in range(4)]
    )
    np.testing.assert_allclose(olden([W, V]), want, rtol=1e-12)


def test_olden_deep_is_sum_over_paths():
    W1, W2, W3 = _random_net([4, 5, 3, 2], seed=15)
    np.testing.assert_allclose(
        olden([W1, W2, W3]), np.einsum("ij,jl,lk->ik", W1, W2, W3), rtol=1e-12
    )


# ---------------------------------------------------------------------------------------------
# input-weight sums


def test_weight_sums_identities():
    coefs = _random_net([6, 5, 3], seed=16)
    W = coefs[0]
    ws = weight_sums(coefs)
    for arr in (ws.pos, ws.neg, ws.net, ws.abs):
        assert arr.shape == (6, 3)
        np.testing.assert_array_equal(arr, np.repeat(arr[:, :1], 3, axis=1))
    assert (ws.pos >= 0).all() and (ws.neg <= 0).all()
    np.testing.assert_allclose(ws.pos[:, 0], [sum(w for w in row if w > 0) for row in W])
    np.testing.assert_allclose(ws.neg[:, 0], [sum(w for w in row if w < 0) for row in W])
    np.testing.assert_allclose(ws.net[:, 0], W.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(ws.net, ws.pos + ws.neg, rtol=1e-14)
    np.testing.assert_allclose(ws.abs, ws.pos - ws.neg, rtol=1e-14)
    np.testing.assert_allclose(ws.abs[:, 0], np.abs(W).sum(axis=1), rtol=1e-12)


def test_weight_sums_unaffected_by_later_layers():
    W1, W2, W3 = _random_net([5, 4, 3, 2], seed=17)
    a = weight_sums([W1, W2, W3])
    b = weight_sums([W1, -10 * W2, np.random.default_rng(0).standard_normal(W3.shape)])
    for f in ("pos", "neg", "net", "abs"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


def test_weight_sums_dead_unit_finite():
    W, V = _random_net([4, 3, 1], seed=18)
    W[:, 0] = 0.0
    ws = weight_sums([W, V])
    assert all(np.isfinite(getattr(ws, f)).all() for f in ("pos", "neg", "net", "abs"))
    np.testing.assert_allclose(ws.abs[:, 0], np.abs(W[:, 1:]).sum(axis=1))


# ---------------------------------------------------------------------------------------------
# partial derivatives


@cache
def _fitted(kind, activation, hidden=(6,)):
    rng = np.random.default_rng(19)
    X = rng.standard_normal((120, 4))
    if kind == "regressor":
        Y = np.column_stack([np.sin(X[:, 0]) + X[:, 1] * X[:, 2], X[:, 3] - X[:, 0] ** 2])
        model = MLPRegressor(
            hidden_layer_sizes=hidden, activation=activation, max_iter=100, random_state=0
        )
    else:
        score = X[:, 0] + X[:, 1] * X[:, 2]
        n_classes = 3 if kind == "multiclass" else 2
        Y = np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1]))
        model = MLPClassifier(
            hidden_layer_sizes=hidden, activation=activation, max_iter=100, random_state=0
        )
    model.fit(X, Y)
    return model, X, Y


def _forward(model, kind):
    if kind == "regressor":
        return model.predict
    if kind == "multiclass":
        return model.predict_proba
    return lambda X: model.predict_proba(X)[:, 1:]


def _finite_differences(f, X, h=1e-5):
    cols = []
    for i in range(X.shape[1]):
        step = np.zeros(X.shape[1])
        step[i] = h
        cols.append((f(X + step) - f(X - step)) / (2 * h))
    return np.stack(cols, axis=1)  # (n, p, K)


def _away_from_kinks(model, X, margin=1e-3):
    """Rows whose hidden pre-activations all lie further than margin from 0 (relu kinks)."""
    a, keep = X, np.ones(len(X), bool)
    for w, b in zip(model.coefs_[:-1], model.intercepts_[:-1]):
        z = a @ w + b
        keep &= (np.abs(z) > margin).all(axis=1)
        a = np.maximum(z, 0) if model.activation == "relu" else z  # only used for relu
    return X[keep]


@pytest.mark.parametrize("activation", HIDDEN)
@pytest.mark.parametrize("kind", ["regressor", "multiclass", "binary"])
def test_jacobian_equals_finite_differences_of_sklearn_forward_pass(kind, activation):
    hidden = (6, 5) if kind == "regressor" else (6,)
    model, X, _ = _fitted(kind, activation, hidden)
    if activation == "relu":
        X = _away_from_kinks(model, X)
        assert len(X) > 20
    jac = jacobian(
        model.coefs_,
        model.intercepts_,
        X,
        activation=activation,
        out_activation=model.out_activation_,
    )
    fd = _finite_differences(_forward(model, kind), X)
    n_out = {"regressor": 2, "multiclass": 3, "binary": 1}[kind]
    assert jac.shape == fd.shape == (len(X), 4, n_out)
    assert np.abs(fd).max() > 1e-3  # not a flat network
    np.testing.assert_allclose(jac, fd, rtol=0, atol=1e-6)


def test_jacobian_of_linear_network_is_olden_everywhere():
    coefs = _random_net([4, 5, 3, 2], seed=20)
    intercepts = [np.random.default_rng(21).standard_normal(w.shape[1]) for w in coefs]
    X = np.random.default_rng(22).standard_normal((7, 4))
    jac = jacobian(coefs, intercepts, X, activation="identity", out_activation="identity")
    np.testing.assert_allclose(jac, np.broadcast_to(olden(coefs), jac.shape), rtol=1e-12)


def test_jacobian_rejects_bad_arguments():
    coefs = _random_net([3, 2, 1])
    intercepts = [np.zeros(2), np.zeros(1)]
    with pytest.raises(ValueError, match="activation"):
        jacobian(coefs, intercepts, np.zeros((2, 3)), activation="swish")
    with pytest.raises(ValueError, match="out_activation"):
        jacobian(coefs, intercepts, np.zeros((2, 3)), out_activation="tanh")
    with pytest.raises(ValueError, match="2-D"):
        jacobian(coefs, intercepts, np.zeros(3))


def _neuralsens_sens(model, X, monkeypatch):
    """neuralsens' jacobian_mlp(...).sens as arrays (p, K) for mean, std, mean_squared."""
    import neuralsens.partial_derivatives as nsp

    # neuralsens 0.0.26 evaluates the softmax derivative on a 1-D row and fails in matmul for more
    # than one class; it expects a column vector. Feed it one; the formula stays neuralsens'.
    original = nsp.der_activation_function

    def der_activation_function(func, use_torch=False):
        der = original(func, use_torch)
        if func == "softmax":
            return lambda z: der(np.asarray(z, dtype=float).reshape(-1, 1))
        return der

    monkeypatch.setattr(nsp, "der_activation_function", der_activation_function)
    K = model.coefs_[-1].shape[1]
    # jacobian_mlp reads y.columns, and for several outputs y.name and y.unique(); labels only.
    y = types.SimpleNamespace(
        columns=pd.Index([f"y{k}" for k in range(K)]),
        name="y",
        unique=lambda: [str(k) for k in range(K)],
    )
    actfunc = ["identity"] + [model.activation] * (len(model.coefs_) - 1) + [model.out_activation_]
    X_df = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    res = nsp.jacobian_mlp(model.coefs_, model.intercepts_, actfunc, X_df, y)
    return {
        m: np.column_stack([s[m].to_numpy() for s in res.sens])
        for m in ("mean", "std", "mean_squared")
    }


@pytest.mark.parametrize(
    "kind,activation,hidden",
    [
        ("regressor", "tanh", (6, 5)),
        ("regressor", "relu", (6,)),
        ("multiclass", "logistic", (6,)),
        ("multiclass", "tanh", (6, 4)),
    ],
)
def test_partial_derivatives_match_neuralsens(kind, activation, hidden, monkeypatch):
    model, X, _ = _fitted(kind, activation, hidden)
    want = _neuralsens_sens(model, X, monkeypatch)
    got = partial_derivatives(
        model.coefs_,
        model.intercepts_,
        X,
        activation=activation,
        out_activation=model.out_activation_,
    )
    assert got.mean.shape == want["mean"].shape == (4, 2 if kind == "regressor" else 3)
    np.testing.assert_allclose(got.mean, want["mean"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.std, want["std"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.rms, want["mean_squared"], rtol=0, atol=1e-10)
    # Gevrey's SSD share: SSD_i = n * rms_i**2
    ms2 = want["mean_squared"] ** 2
    np.testing.assert_allclose(got.ssd_share, ms2 / ms2.sum(axis=0), rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# permutation importance


@cache
def _planted_regression():
    rng = np.random.default_rng(23)
    X = rng.standard_normal((400, 4))
    y = 2.0 * X[:, 2] + 0.1 * rng.standard_normal(400)
    model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=300, random_state=0)
    model.fit(X[:300], y[:300])
    return model, X[300:], y[300:]


@cache
def _planted_two_targets():
    rng = np.random.default_rng(24)
    X = rng.standard_normal((400, 3))
    Y = np.column_stack([X[:, 0], X[:, 1]]) + 0.05 * rng.standard_normal((400, 2))
    model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=300, random_state=0)
    model.fit(X[:300], Y[:300])
    return model, X[300:], Y[300:]


@cache
def _planted_classifier():
    rng = np.random.default_rng(25)
    X = rng.standard_normal((400, 4))
    y = (X[:, 1] > 0).astype(int) + (X[:, 1] > 1).astype(int)  # three classes, x1 only
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0)
    model.fit(X[:300], y[:300])
    return model, X[300:], y[300:]


def test_permutation_regression_planted_column_ranks_first():
    model, X, y = _planted_regression()
    res = permutation(model, X, y, n_repeats=5, seed=0)
    assert res.mean.shape == res.std.shape == (4, 1)
    assert res.raw.shape == (4, 1, 5)
    assert np.argmax(res.mean[:, 0]) == 2
    assert res.mean[2, 0] > 1.0 and np.abs(np.delete(res.mean[:, 0], 2)).max() < 0.1


def test_permutation_classifier_informative_column_first_one_column():
    model, X, y = _planted_classifier()
    res = permutation(model, X, y, n_repeats=5, seed=0)
    assert res.mean.shape == (4, 1)
    assert np.argmax(res.mean[:, 0]) == 1
    assert res.mean[1, 0] > 0.2


def test_permutation_summaries_are_raw_mean_and_std():
    model, X, y = _planted_classifier()
    res = permutation(model, X, y, n_repeats=4, seed=3)
    np.testing.assert_allclose(res.mean, res.raw.mean(axis=2), rtol=1e-12)
    np.testing.assert_allclose(res.std, res.raw.std(axis=2), rtol=1e-12, atol=1e-15)
    ref = permutation_importance(model, X, y, n_repeats=4, random_state=3)
    np.testing.assert_array_equal(res.raw[:, 0, :], ref.importances)


def test_permutation_two_target_regressor_one_column_per_target():
    # Guards a fixed bug: the check for a regressor used model._estimator_type, which
    # scikit-learn >= 1.6 no longer sets, so several targets were pooled into one column.
    model, X, Y = _planted_two_targets()
    res = permutation(model, X, Y, n_repeats=5, seed=0)
    assert res.mean.shape == (3, 2)
    assert np.argmax(res.mean[:, 0]) == 0
    assert np.argmax(res.mean[:, 1]) == 1


@cache
def _planted_multilabel():
    rng = np.random.default_rng(27)
    X = rng.standard_normal((300, 3))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0.5]).astype(int)
    model = MLPClassifier(hidden_layer_sizes=(6,), max_iter=300, random_state=0)
    model.fit(X[:200], Y[:200])
    return model, X[200:], Y[200:]


def _sklearn_permutation(model, X, y, *, n_repeats, seed):
    """The straightforward reference: scikit-learn itself, one target at a time for a regressor
    with several targets (as ``permutation`` documents), raw drops ``(p, n_columns, n_repeats)``."""
    from sklearn.base import is_regressor
    from sklearn.metrics import make_scorer, r2_score

    y = np.asarray(y)
    if is_regressor(model) and y.ndim == 2 and y.shape[1] > 1:
        parts = []
        for k in range(y.shape[1]):
            scorer = make_scorer(lambda t, p, k=k: r2_score(t[:, k], p[:, k]))
            parts.append(
                permutation_importance(
                    model, X, y, scoring=scorer, n_repeats=n_repeats, random_state=seed
                )
            )
    else:
        parts = [permutation_importance(model, X, y, n_repeats=n_repeats, random_state=seed)]
    return np.stack([p.importances for p in parts], axis=1)


@pytest.mark.parametrize(
    "make", [_planted_regression, _planted_two_targets, _planted_classifier, _planted_multilabel]
)
@pytest.mark.parametrize("seed, n_repeats", [(0, 5), (3, 1), (12345, 7)])
def test_permutation_equals_scikit_learn(make, seed, n_repeats):
    model, X, y = make()
    res = permutation(model, X, y, n_repeats=n_repeats, seed=seed)
    ref = _sklearn_permutation(model, X, y, n_repeats=n_repeats, seed=seed)
    np.testing.assert_allclose(res.raw, ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.mean, ref.mean(axis=2), rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.std, ref.std(axis=2), rtol=0, atol=1e-12)


def test_permutation_in_several_passes_equals_one(monkeypatch):
    from study.importance import _permutation as module

    model, X, y = _planted_two_targets()
    whole = permutation(model, X, y, n_repeats=3, seed=5)
    monkeypatch.setattr(module, "_ROWS_PER_PASS", 1)  # one variable per pass
    np.testing.assert_array_equal(permutation(model, X, y, n_repeats=3, seed=5).raw, whole.raw)


def test_shuffle_orders_are_scikit_learns():
    # A column holding its row numbers, scored by a stand-in "model" that reports what it saw:
    # scikit-learn's shuffled copies must be exactly X[order] for each repeat.
    from study.importance._permutation import shuffle_orders

    seen = []

    class Recorder:
        def fit(self, X, y):
            return self

        def score(self, X, y):
            seen.append(X[:, 0].astype(int).copy())
            return 0.0

    X = np.arange(20, dtype=float)[:, None]
    permutation_importance(Recorder(), X, np.zeros(20), n_repeats=4, random_state=9)
    np.testing.assert_array_equal(np.array(seen[1:]), shuffle_orders(20, 4, 9))


def test_permutation_seed_reproducible_and_seed_sensitive():
    model, X, y = _planted_regression()
    a = permutation(model, X, y, n_repeats=3, seed=1)
    b = permutation(model, X, y, n_repeats=3, seed=1)
    c = permutation(model, X, y, n_repeats=3, seed=2)
    np.testing.assert_array_equal(a.raw, b.raw)
    assert not np.array_equal(a.raw, c.raw)


# ---------------------------------------------------------------------------------------------
# registry contract


@cache
def _contract_network(kind):
    rng = np.random.default_rng(26)
    X = rng.standard_normal((90, 5))
    if kind == "regressor":
        y = np.column_stack([X[:, 0] + X[:, 1], X[:, 2] - X[:, 3]])
        model = MLPRegressor(
            hidden_layer_sizes=(6,), activation="logistic", max_iter=200, random_state=0
        )
        task, n_outputs = "regression", 2
    else:
        n_classes = 3 if kind == "multiclass" else 2
        y = np.arange(90) % n_classes
        X[:, 0] += y
        # not relu, the default: the registry must pass the model's own activation on
        activation = "tanh" if n_classes == 3 else "relu"
        model = MLPClassifier(
            hidden_layer_sizes=(6,), activation=activation, max_iter=200, random_state=0
        )
        task, n_outputs = "classification", (3 if n_classes == 3 else 1)
    model.fit(X[:60], y[:60])
    return model, X[60:], y[60:], task, n_outputs


@pytest.mark.parametrize("kind", ["multiclass", "regressor", "binary"])
@pytest.mark.parametrize("name", list(METHODS))
def test_registered_method_contract(name, kind):
    method = METHODS[name]
    model, X, y, task, n_outputs = _contract_network(kind)
    coefs = [w.copy() for w in model.coefs_]
    intercepts = [b.copy() for b in model.intercepts_]
    X_in, y_in = X.copy(), y.copy()
    net = Network(coefs, intercepts, model=model, X=X_in, y=y_in, seed=0)
    out = compute([name], net, options={"permutation": {"n_repeats": 2}})
    assert list(out) == [name]
    values = out[name]
    assert method.primary in method.measures
    assert set(values) == set(method.measures) | set(method.extras)
    shape = (X.shape[1], method.n_columns(task, n_outputs))
    for measure, arr in ((k, values[k]) for k in method.measures):
        assert arr.shape == shape, measure
        assert np.isfinite(arr).all(), measure
    for got, want in zip(coefs + intercepts, model.coefs_ + model.intercepts_):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(X_in, X)
    np.testing.assert_array_equal(y_in, y)


def test_registry_names_and_records_consistent():
    assert method_names() == list(METHODS)
    assert len(METHODS) >= 6
    for name, method in METHODS.items():
        assert method.name == name
        assert get_method(name) is method
        assert method.measures[0] == method.primary
        assert len(set(method.measures)) == len(method.measures)
        assert method.summary and "\n" not in method.summary


def test_registry_matches_public_functions():
    model, X, y, _, _ = _contract_network("multiclass")
    net = Network(model.coefs_, model.intercepts_, model=model, X=X, y=y, seed=4)
    out = compute(method_names(), net, options={"permutation": {"n_repeats": 3}})
    np.testing.assert_array_equal(out["garson"]["value"], garson(model.coefs_))
    np.testing.assert_array_equal(out["garson_signed"]["value"], garson_signed(model.coefs_))
    np.testing.assert_array_equal(out["olden"]["value"], olden(model.coefs_))
    ws = weight_sums(model.coefs_)
    for m in ("abs", "pos", "neg", "net"):
        np.testing.assert_array_equal(out["weight_sums"][m], getattr(ws, m))
    pd_ = partial_derivatives(
        model.coefs_,
        model.intercepts_,
        X,
        activation=model.activation,
        out_activation=model.out_activation_,
    )
    for m in ("rms", "mean", "std"):
        np.testing.assert_array_equal(out["partial_derivatives"][m], getattr(pd_, m))
    perm = permutation(model, X, y, n_repeats=3, seed=4)
    np.testing.assert_array_equal(out["permutation"]["mean"], perm.mean)
    np.testing.assert_array_equal(out["permutation"]["std"], perm.std)


def test_get_method_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown importance method 'nope'") as err:
        get_method("nope")
    for name in METHODS:
        assert name in str(err.value)


def test_compute_data_method_without_model_raises():
    coefs = _random_net([3, 4, 2])
    intercepts = [np.zeros(4), np.zeros(2)]
    needy = [name for name, m in METHODS.items() if m.needs_data]
    assert needy
    for name in needy:
        with pytest.raises(ValueError, match=name):
            compute([name], Network(coefs, intercepts))
    free = [name for name, m in METHODS.items() if not m.needs_data]
    out = compute(free, Network(coefs, intercepts))
    assert set(out) == set(free)


def test_connection_sums_add_up_to_olden_and_match_the_loop():
    from study.importance import connection_sums

    rng = np.random.default_rng(3)
    for shapes in ([(5, 4), (4, 3)], [(6, 4), (4, 3), (3, 2)]):
        coefs = [rng.normal(size=s) for s in shapes]
        pos, neg = connection_sums(coefs)
        np.testing.assert_allclose(pos + neg, olden(coefs), rtol=1e-12, atol=1e-12)
        a = coefs[0]
        for w in coefs[1:-1]:
            a = a @ w
        v = coefs[-1]
        for i in range(a.shape[0]):
            for k in range(v.shape[1]):
                terms = [a[i, j] * v[j, k] for j in range(a.shape[1])]
                assert pos[i, k] == pytest.approx(sum(t for t in terms if t > 0), abs=1e-12)
                assert neg[i, k] == pytest.approx(sum(t for t in terms if t < 0), abs=1e-12)
        assert (pos >= 0).all() and (neg <= 0).all()
