"""Tests for study.analysis.agreement: closed-form cases and brute-force oracles."""

from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from study.analysis.agreement import MEASURES, agreement, mean_agreement


def _brute_force(a, b, k):
    """Krishna et al.'s set and rank measures written out with Python sorts."""
    n = len(a)
    order_a = sorted(range(n), key=lambda i: -abs(a[i]))  # sorted() is stable
    order_b = sorted(range(n), key=lambda i: -abs(b[i]))
    top_a, top_b = order_a[:k], order_b[:k]
    same_sign = [np.sign(a[i]) == np.sign(b[i]) for i in range(n)]
    shared = set(top_a) & set(top_b)
    pos_a = {v: p for p, v in enumerate(order_a)}
    pos_b = {v: p for p, v in enumerate(order_b)}
    pairs = list(combinations(range(n), 2))
    return {
        "feature_agreement": len(shared) / k,
        "rank_agreement": sum(x == y for x, y in zip(top_a, top_b)) / k,
        "sign_agreement": sum(same_sign[i] for i in shared) / k,
        "signed_rank_agreement": sum(x == y and same_sign[x] for x, y in zip(top_a, top_b)) / k,
        "pairwise_rank_agreement": sum(
            (pos_a[i] < pos_a[j]) == (pos_b[i] < pos_b[j]) for i, j in pairs
        )
        / len(pairs),
    }


def test_agreement_keys_are_measures():
    assert tuple(agreement([0.3, 0.2, 0.1], [0.1, 0.2, 0.3], k=2)) == MEASURES
    assert len(set(MEASURES)) == 6


def test_agreement_identical_vectors_all_one():
    a = np.random.default_rng(0).standard_normal(9)
    res = agreement(a, a.copy(), k=4)
    assert res == pytest.approx(dict.fromkeys(MEASURES, 1.0))


def test_agreement_negated_vector_disagrees_on_sign_only():
    a = np.random.default_rng(1).standard_normal(7)
    res = agreement(a, -a, k=3)
    assert res == pytest.approx(
        {
            "feature_agreement": 1.0,
            "rank_agreement": 1.0,
            "sign_agreement": 0.0,
            "signed_rank_agreement": 0.0,
            "rank_correlation": 1.0,
            "pairwise_rank_agreement": 1.0,
        }
    )


def test_agreement_reversed_order_at_full_k():
    a = np.arange(1.0, 8.0)
    res = agreement(a, a[::-1], k=7)
    assert res["rank_correlation"] == pytest.approx(-1.0)
    assert res["pairwise_rank_agreement"] == 0.0
    assert res["feature_agreement"] == 1.0
    assert res["rank_agreement"] == pytest.approx(1 / 7)  # only the middle variable stays put


@pytest.mark.parametrize("seed", range(6))
def test_agreement_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 12))
    if seed % 2:  # small integers: ties in |value|, zeros, and signs that differ
        a, b = rng.integers(-3, 4, size=(2, n)).astype(float)
    else:
        a, b = rng.standard_normal((2, n))
    for k in range(1, n + 1):
        res = agreement(a, b, k=k)
        for name, value in _brute_force(a, b, k).items():
            assert res[name] == pytest.approx(value, abs=1e-12), (name, k)
        assert res["rank_correlation"] == pytest.approx(
            stats.spearmanr(np.abs(a), np.abs(b)).statistic, abs=1e-12, nan_ok=True
        )


@pytest.mark.parametrize("seed", range(5))
def test_agreement_pairwise_equals_kendall_tau_without_ties(seed):
    a, b = np.random.default_rng(seed).standard_normal((2, 15))
    tau = stats.kendalltau(np.abs(a), np.abs(b)).statistic
    assert agreement(a, b, k=5)["pairwise_rank_agreement"] == pytest.approx((tau + 1) / 2)


def test_agreement_ties_broken_by_variable_order():
    res = agreement([1.0, 1.0, 0.5], [1.0, 0.9, 0.5], k=1)
    assert res["rank_agreement"] == 1.0 and res["feature_agreement"] == 1.0
    assert agreement([1.0, 1.0, 0.5], [0.9, 1.0, 0.5], k=1)["feature_agreement"] == 0.0


def test_agreement_k_clipped_and_validated():
    a, b = np.array([0.3, -0.2, 0.1]), np.array([0.1, 0.2, 0.3])
    assert agreement(a, b, k=10) == agreement(a, b, k=3)
    with pytest.raises(ValueError, match="k must be at least 1"):
        agreement(a, b, k=0)
    with pytest.raises(ValueError, match="same length"):
        agreement(a, b[:2], k=1)


def test_agreement_nan_or_constant_input():
    res = agreement([0.3, np.nan, 0.1], [0.1, 0.2, 0.3], k=2)
    assert all(np.isnan(v) for v in res.values())
    res = agreement([0.3, 0.2, 0.1], [0.5, 0.5, 0.5], k=2)
    assert np.isnan(res["rank_correlation"]) and res["feature_agreement"] == 1.0


def test_mean_agreement_averages_runs():
    rng = np.random.default_rng(6)
    A, B = rng.standard_normal((2, 8, 6))
    res = mean_agreement(A, B, k=3)
    for name in MEASURES:
        per_run = [agreement(a, b, k=3)[name] for a, b in zip(A, B)]
        assert res[name] == pytest.approx(np.mean(per_run))


def test_mean_agreement_skips_nan_runs():
    rng = np.random.default_rng(7)
    A, B = rng.standard_normal((2, 5, 4))
    A[2, 1] = np.nan
    assert mean_agreement(A, B, k=2) == pytest.approx(
        mean_agreement(np.delete(A, 2, axis=0), np.delete(B, 2, axis=0), k=2)
    )
    all_nan = mean_agreement(np.full((3, 4), np.nan), B[:3], k=2)
    assert all(np.isnan(v) for v in all_nan.values())


# --- the vectorised mean against agreement() run by run ------------------------------------


def _tied_pair(seed, m=40, n=9):
    """Two importance matrices with ties in |value|, exact zeros and sign flips."""
    rng = np.random.default_rng(seed)
    A = rng.integers(-3, 4, (m, n)).astype(float)  # many ties and zeros
    B = np.where(rng.random((m, n)) < 0.5, A, rng.integers(-3, 4, (m, n))).astype(float)
    B[0] = 1.0  # a constant run: no rank correlation
    return A, B


@pytest.mark.parametrize("make", ["random", "tied", "nan"])
@pytest.mark.parametrize("k", [1, 3, 9])
def test_mean_agreement_equals_loop_over_runs(make, k):
    if make == "random":
        A, B = np.random.default_rng(11).standard_normal((2, 50, 9))
    else:
        A, B = _tied_pair(12)
    if make == "nan":
        A[[3, 7], 2] = np.nan
    fast = mean_agreement(A, B, k=k)
    runs = np.array([[agreement(a, b, k=k)[name] for name in MEASURES] for a, b in zip(A, B)])
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            slow = np.nanmean(runs, axis=0)
    np.testing.assert_allclose([fast[name] for name in MEASURES], slow, rtol=0, atol=1e-12)
