"""Tests for study.analysis.ranks: csranks' own numbers, closed-form oracles and the sets' order."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from study.analysis.ranks import confidence_sets, tau_best

REFERENCE = json.loads((Path(__file__).parent / "data" / "csranks_reference.json").read_text())
CASES = REFERENCE["cases"]


def _all_bounds(x, sigma, level, tau, **kw):
    marg = confidence_sets(x, sigma, level=level, **kw)
    simul = confidence_sets(x, sigma, level=level, simultaneous=True, **kw)
    best = tau_best(x, sigma, tau=tau, level=level, **kw)
    return {
        "marg_L": marg[0],
        "marg_U": marg[1],
        "simul_L": simul[0],
        "simul_U": simul[1],
        "taubest": best,
    }


def _random_case(p, seed, spread=1.0):
    """Estimates and a dense covariance (a Wishart draw scaled to variances ~0.05)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((p, p + 3))
    return spread * rng.standard_normal(p), a @ a.T / (20 * (p + 3))


# --- csranks' own numbers ----------------------------------------------------------------------


def test_reference_file_is_csranks_with_stepdown():
    assert REFERENCE["package"] == "csranks" and len(CASES) == 24
    assert all(c["stepdown"] for c in CASES)


@pytest.mark.parametrize("i", range(len(CASES)))
def test_confidence_sets_match_csranks_every_bound(i):
    case = CASES[i]
    got = _all_bounds(np.array(case["x"]), np.array(case["Sigma"]), case["coverage"], case["tau"])
    for key, value in got.items():
        assert value.tolist() == case[key], key


@pytest.mark.parametrize("i", range(len(CASES)))
def test_confidence_sets_match_csranks_in_any_order_of_the_variables(i):
    case = CASES[i]
    x, sigma = np.array(case["x"]), np.array(case["Sigma"])
    perm = np.random.default_rng(i).permutation(x.size)
    got = _all_bounds(x[perm], sigma[np.ix_(perm, perm)], case["coverage"], case["tau"])
    for key, value in got.items():
        assert value.tolist() == np.array(case[key])[perm].tolist(), key


# --- closed-form oracles -----------------------------------------------------------------------


@pytest.mark.parametrize("simultaneous", [False, True])
def test_confidence_sets_separated_estimates_each_get_their_own_rank(simultaneous):
    x = np.array([3.0, -40.0, 50.0, 10.0, -7.0])
    low, high = confidence_sets(x, np.diag([1.0, 2.0, 0.5, 1.0, 3.0]), simultaneous=simultaneous)
    np.testing.assert_array_equal(low, [3, 5, 1, 2, 4])
    np.testing.assert_array_equal(high, [3, 5, 1, 2, 4])
    best = tau_best(x, np.diag([1.0, 2.0, 0.5, 1.0, 3.0]), tau=2)
    assert best.tolist() == [False, False, True, True, False]


@pytest.mark.parametrize("simultaneous", [False, True])
def test_confidence_sets_equal_estimates_give_the_full_range(simultaneous):
    x, sigma = np.full(6, 0.3), _random_case(6, seed=1)[1]
    low, high = confidence_sets(x, sigma, simultaneous=simultaneous)
    np.testing.assert_array_equal(low, np.ones(6))
    np.testing.assert_array_equal(high, np.full(6, 6))
    assert tau_best(x, sigma, tau=1).all()


@pytest.mark.parametrize("simultaneous", [False, True])
def test_confidence_sets_zero_covariance_gives_the_ranks_ties_sharing_their_range(simultaneous):
    # no uncertainty: every difference is known, tied values cannot be ordered
    x = np.array([3.0, 1.0, 3.0, 0.0, 1.0])
    low, high = confidence_sets(x, np.zeros((5, 5)), simultaneous=simultaneous)
    np.testing.assert_array_equal(low, [1, 3, 1, 5, 3])
    np.testing.assert_array_equal(high, [2, 4, 2, 5, 4])
    assert tau_best(x, np.zeros((5, 5)), tau=1).tolist() == [True, False, True, False, False]


def test_confidence_sets_one_variable_has_rank_one():
    low, high = confidence_sets([2.0], [[0.1]])
    assert (low.tolist(), high.tolist()) == ([1], [1])
    assert tau_best([2.0], [[0.1]], tau=1).tolist() == [True]


def test_confidence_sets_returns_integer_arrays_and_leaves_input_alone():
    x, sigma = _random_case(7, seed=2)
    x0, sigma0 = x.copy(), sigma.copy()
    low, high = confidence_sets(x, sigma)
    best = tau_best(x, sigma, tau=3)
    assert low.shape == high.shape == best.shape == (7,)
    assert low.dtype.kind == high.dtype.kind == "i" and best.dtype == bool
    assert np.all((1 <= low) & (low <= high) & (high <= 7))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(sigma, sigma0)


def test_confidence_sets_cover_the_estimated_rank():
    # the estimated rank is never ruled out: x_j - x_k <= 0 is never "surely" > 0
    for seed in range(5):
        x, sigma = _random_case(8, seed)
        rank = 1 + (x[None, :] > x[:, None]).sum(axis=1)
        for simultaneous in (False, True):
            low, high = confidence_sets(x, sigma, simultaneous=simultaneous, n_draws=4096)
            assert np.all((low <= rank) & (rank <= high))


# --- how the sets are ordered ------------------------------------------------------------------


@pytest.mark.parametrize("simultaneous", [False, True])
def test_confidence_sets_higher_level_never_narrows(simultaneous):
    for seed in range(4):
        x, sigma = _random_case(9, seed)
        sets = [
            confidence_sets(x, sigma, level=lv, simultaneous=simultaneous, n_draws=4096)
            for lv in (0.5, 0.8, 0.9, 0.95, 0.99)
        ]
        for (low_a, high_a), (low_b, high_b) in zip(sets, sets[1:]):
            assert np.all(low_b <= low_a) and np.all(high_b >= high_a)


def test_confidence_sets_simultaneous_contain_marginal_and_single_step_contains_stepdown():
    for seed in range(4):
        x, sigma = _random_case(9, seed)
        marg = confidence_sets(x, sigma, level=0.9, n_draws=4096)
        simul = confidence_sets(x, sigma, level=0.9, simultaneous=True, n_draws=4096)
        assert np.all(simul[0] <= marg[0]) and np.all(simul[1] >= marg[1])
        for simultaneous, (low, high) in ((False, marg), (True, simul)):
            one_step = confidence_sets(
                x, sigma, level=0.9, simultaneous=simultaneous, stepdown=False, n_draws=4096
            )
            assert np.all(one_step[0] <= low) and np.all(one_step[1] >= high)


def test_tau_best_grows_with_tau_and_level():
    x, sigma = _random_case(9, seed=3)
    best = [tau_best(x, sigma, tau=tau, n_draws=4096) for tau in range(1, 10)]
    assert all(np.all(a <= b) for a, b in zip(best, best[1:])) and best[-1].all()
    narrow, wide = (tau_best(x, sigma, tau=2, level=lv, n_draws=4096) for lv in (0.8, 0.99))
    assert np.all(narrow <= wide)


# --- seeds ---------------------------------------------------------------------------------------


def test_confidence_sets_same_seed_same_answer_and_no_global_rng():
    x, sigma = _random_case(10, seed=4, spread=0.4)
    np.random.seed(1)
    random.seed(1)
    before = (np.random.get_state()[1].copy(), random.getstate())
    first = confidence_sets(x, sigma, seed=7), tau_best(x, sigma, tau=3, seed=7)
    after = (np.random.get_state()[1], random.getstate())
    np.testing.assert_array_equal(before[0], after[0])
    assert before[1] == after[1]
    np.random.seed(2)  # another global state changes nothing
    second = confidence_sets(x, sigma, seed=7), tau_best(x, sigma, tau=3, seed=7)
    for a, b in zip(first[0] + (first[1],), second[0] + (second[1],)):
        np.testing.assert_array_equal(a, b)


def test_confidence_sets_seed_reaches_the_draws():
    # with few draws the critical value moves with the seed; its sets then may differ
    x, sigma = _random_case(10, seed=5, spread=0.4)
    answers = {
        tuple(np.concatenate(confidence_sets(x, sigma, n_draws=8, seed=s))) for s in range(20)
    }
    assert len(answers) > 1


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, sigma, kw, message",
    [
        (
            [[1.0, 2.0]],
            np.eye(2),
            {},
            r"estimates must be a non-empty 1-D array; got shape \(1, 2\)",
        ),
        ([], np.eye(0), {}, r"estimates must be a non-empty 1-D array; got shape \(0,\)"),
        (
            [1.0, 2.0],
            np.ones((2, 3)),
            {},
            r"covariance must be a square matrix; got shape \(2, 3\)",
        ),
        ([1.0, 2.0], np.ones(2), {}, r"covariance must be a square matrix; got shape \(2,\)"),
        (
            [1.0, 2.0, 3.0],
            np.eye(2),
            {},
            r"covariance has shape \(2, 2\) but estimates has length 3",
        ),
        (
            [1.0, np.nan],
            np.eye(2),
            {},
            r"estimates must be finite \(no NaN or infinity\); leave out the variables whose "
            r"estimate or variance is unknown",
        ),
        ([1.0, 2.0], [[1.0, np.nan], [np.nan, 1.0]], {}, r"covariance must be finite"),
        (
            [1.0, 2.0],
            [[1.0, 0.5], [0.2, 1.0]],
            {},
            r"covariance must be symmetric; largest \|C - C.T\| is 0.3",
        ),
        (
            [1.0, 2.0],
            [[1.0, 2.0], [2.0, 1.0]],
            {},
            r"covariance must be positive semi-definite; smallest eigenvalue is -1",
        ),
        (
            [1.0, 2.0],
            -np.eye(2),
            {},
            r"covariance must be positive semi-definite; smallest eigenvalue is -1",
        ),
        ([1.0, 2.0], np.eye(2), {"level": 1.0}, r"level must be strictly between 0 and 1; got 1.0"),
        ([1.0, 2.0], np.eye(2), {"level": 0}, r"level must be strictly between 0 and 1; got 0"),
        (
            [1.0, 2.0],
            np.eye(2),
            {"level": True},
            r"level must be strictly between 0 and 1; got True",
        ),
        ([1.0, 2.0], np.eye(2), {"n_draws": 0}, r"n_draws must be a positive integer; got 0"),
        ([1.0, 2.0], np.eye(2), {"seed": None}, r"seed must be an integer; got None"),
    ],
)
def test_confidence_sets_refuses_bad_arguments(x, sigma, kw, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        confidence_sets(x, sigma, **kw)
    with pytest.raises(ValueError, match=f"^{message}"):
        tau_best(x, sigma, tau=1, **kw)


@pytest.mark.parametrize("tau", [0, 4, 1.5, True, None])
def test_tau_best_refuses_tau_outside_one_to_p(tau):
    with pytest.raises(ValueError, match=rf"^tau must be an integer from 1 to p = 3; got {tau}$"):
        tau_best([1.0, 2.0, 3.0], np.eye(3), tau=tau)


def test_confidence_sets_accepts_rounding_level_asymmetry_and_negative_eigenvalues():
    x, sigma = _random_case(6, seed=6)
    w, v = np.linalg.eigh(sigma)
    singular = (v * np.where(np.arange(6) == 0, -1e-17, w)) @ v.T  # rank 5, an eigenvalue < 0
    singular[0, 1] += 1e-18
    low, high = confidence_sets(x, singular)
    assert np.all(low <= high)
