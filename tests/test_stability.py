"""Tests for study.analysis.stability: each measure against an independent oracle."""

from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from study.analysis.stability import (
    bootstrap_mean_ci,
    kendall_w,
    nogueira_curve,
    nogueira_stability,
    rank_distribution,
    rank_matrix,
    spearman_mean,
    stability_curve,
    stability_notes,
    topk_frequency,
    topk_membership,
)


def _noisy_runs(m, n, noise, seed):
    """m runs of importances: a planted order (variable 0 first) plus noise."""
    rng = np.random.default_rng(seed)
    return np.linspace(1.0, 0.0, n) + noise * rng.standard_normal((m, n))


def _friedman_w(values):
    """Kendall's W by way of scipy's tie-corrected Friedman test."""
    m, n = values.shape
    res = stats.friedmanchisquare(*values.T)
    return res.statistic / (m * (n - 1)), res.pvalue


# --- rank_matrix ------------------------------------------------------------


def test_rank_matrix_recovers_planted_order():
    rng = np.random.default_rng(0)
    order = rng.permutation(8)
    values = np.empty((3, 8))
    values[:, order] = np.arange(8, 0, -1.0)  # variable order[0] largest
    ranks = rank_matrix(values)
    np.testing.assert_array_equal(ranks[:, order], np.tile(np.arange(1.0, 9.0), (3, 1)))


def test_rank_matrix_signed_ranks_by_magnitude():
    values = np.array([[0.2, -0.9, 0.5, -0.1]])
    np.testing.assert_array_equal(rank_matrix(values, signed=True), [[3.0, 1.0, 2.0, 4.0]])
    np.testing.assert_array_equal(rank_matrix(values), [[2.0, 4.0, 1.0, 3.0]])


def test_rank_matrix_ties_get_average_rank():
    np.testing.assert_array_equal(
        rank_matrix([[3.0, 1.0, 3.0, 3.0, 0.0]]), [[2.0, 4.0, 2.0, 2.0, 5.0]]
    )


def test_rank_matrix_nan_row_becomes_nan_and_input_untouched():
    values = np.array([[0.3, 0.1, 0.2], [0.5, np.nan, 0.1]])
    before = values.copy()
    ranks = rank_matrix(values)
    assert np.isnan(ranks[1]).all()
    np.testing.assert_array_equal(ranks[0], [1.0, 3.0, 2.0])
    np.testing.assert_array_equal(values, before)


def test_rank_matrix_one_run_as_vector():
    assert rank_matrix([0.1, 0.3, 0.2]).shape == (1, 3)


# --- top-k ------------------------------------------------------------------


def test_topk_membership_includes_ties_at_boundary():
    ranks = rank_matrix([[5.0, 3.0, 3.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
    np.testing.assert_array_equal(
        topk_membership(ranks, 2), [[True, True, True, False], [True, True, True, True]]
    )
    np.testing.assert_array_equal(topk_membership(ranks, 1)[0], [True, False, False, False])


def test_topk_membership_equals_min_rank_oracle():
    values = np.random.default_rng(1).integers(0, 4, size=(40, 7)).astype(float)
    ranks = rank_matrix(values)
    for k in range(1, 8):
        expected = stats.rankdata(-values, method="min", axis=1) <= k
        np.testing.assert_array_equal(topk_membership(ranks, k), expected)


def test_topk_membership_nan_row_clips_k_and_rejects_zero():
    ranks = rank_matrix([[0.1, 0.2, 0.3], [np.nan, 0.2, 0.3]])
    Z = topk_membership(ranks, 10)
    np.testing.assert_array_equal(Z, [[True] * 3, [False] * 3])
    with pytest.raises(ValueError, match="k must be at least 1"):
        topk_membership(ranks, 0)


def test_topk_frequency_skips_nan_runs():
    values = np.array([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [np.nan, 1.0, 1.0], [3.0, 3.0, 1.0]])
    freq = topk_frequency(rank_matrix(values), k=1)
    usable = rank_matrix(values[[0, 1, 3]])
    np.testing.assert_allclose(freq, topk_membership(usable, 1).mean(axis=0))
    np.testing.assert_allclose(freq, [2 / 3, 2 / 3, 0.0])


# --- rank_distribution -------------------------------------------------------


def test_rank_distribution_counts_ranks_without_ties():
    ranks = rank_matrix(_noisy_runs(25, 6, 0.5, seed=2))
    expected = np.zeros((6, 6))
    for row in ranks.astype(int):
        expected[np.arange(6), row - 1] += 1
    np.testing.assert_array_equal(rank_distribution(ranks), expected)


def test_rank_distribution_matches_min_max_rank_oracle():
    # A tie group spans its 'min' to its 'max' rank; each member counts 1/t there.
    values = np.random.default_rng(22).integers(0, 3, size=(30, 8)).astype(float)
    lo = stats.rankdata(-values, method="min", axis=1).astype(int)
    hi = stats.rankdata(-values, method="max", axis=1).astype(int)
    expected = np.zeros((8, 8))
    for r, i in np.ndindex(values.shape):
        expected[i, lo[r, i] - 1 : hi[r, i]] += 1 / (hi[r, i] - lo[r, i] + 1)
    np.testing.assert_allclose(rank_distribution(rank_matrix(values)), expected, atol=1e-12)


def test_rank_distribution_splits_ties_and_sums_to_runs():
    ranks = np.array([[1.0, 2.5, 2.5, 4.0], [2.0, 2.0, 2.0, 4.0], [np.nan] * 4])
    D = rank_distribution(ranks)
    np.testing.assert_allclose(D[1], [1 / 3, 1 / 2 + 1 / 3, 1 / 2 + 1 / 3, 0.0])
    np.testing.assert_allclose(D[0], [1 + 1 / 3, 1 / 3, 1 / 3, 0.0])
    np.testing.assert_allclose(D[3], [0.0, 0.0, 0.0, 2.0])
    values = np.random.default_rng(3).integers(0, 3, size=(30, 5)).astype(float)
    D = rank_distribution(rank_matrix(values))
    np.testing.assert_allclose(D.sum(axis=1), 30)
    np.testing.assert_allclose(D.sum(axis=0), 30)


# --- Kendall's W and Spearman ------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 4), (12, 9), (40, 3)])
def test_kendall_w_matches_friedman_continuous(shape):
    values = np.random.default_rng(sum(shape)).standard_normal(shape)
    res = kendall_w(rank_matrix(values))
    w, p = _friedman_w(values)
    np.testing.assert_allclose(res.statistic, w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.pvalue, p, rtol=1e-12, atol=1e-12)
    assert (res.n_runs, res.n_variables, res.df) == (shape[0], shape[1], shape[1] - 1)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_kendall_w_matches_friedman_with_ties(seed):
    values = np.random.default_rng(seed).integers(0, 4, size=(15, 6)).astype(float)
    res = kendall_w(rank_matrix(values))
    w, p = _friedman_w(values)
    np.testing.assert_allclose(res.statistic, w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.pvalue, p, rtol=1e-12, atol=1e-12)


def test_kendall_w_is_one_for_identical_rankings():
    values = np.tile(np.random.default_rng(7).standard_normal(6), (10, 1))
    assert kendall_w(rank_matrix(values)).statistic == pytest.approx(1.0, abs=1e-12)


def test_kendall_w_small_for_independent_rankings():
    m, n = 50, 10
    res = kendall_w(rank_matrix(np.random.default_rng(8).standard_normal((m, n))))
    assert res.statistic < 0.1
    assert res.chi2 == pytest.approx(m * (n - 1) * res.statistic, rel=1e-12)
    assert res.pvalue == pytest.approx(stats.chi2.sf(res.chi2, n - 1), rel=1e-12)
    assert kendall_w(rank_matrix(_noisy_runs(m, n, 0.05, seed=8))).pvalue < res.pvalue


def test_spearman_mean_closed_form_without_ties():
    ranks = rank_matrix(_noisy_runs(20, 8, 0.4, seed=9))
    m = ranks.shape[0]
    w = kendall_w(ranks).statistic
    assert spearman_mean(ranks) == pytest.approx((m * w - 1) / (m - 1), rel=1e-12)


def _spearman_loop(ranks):
    rhos = []
    for i, j in combinations(range(ranks.shape[0]), 2):
        if np.ptp(ranks[i]) > 0 and np.ptp(ranks[j]) > 0:
            rhos.append(stats.spearmanr(ranks[i], ranks[j]).statistic)
    return np.mean(rhos)


def test_spearman_mean_matches_pairwise_loop_with_ties():
    values = np.random.default_rng(10).integers(0, 4, size=(12, 6)).astype(float)
    values[3] = 1.0  # a fully tied run: its pairs are undefined and ignored
    ranks = rank_matrix(values)
    assert spearman_mean(ranks) == pytest.approx(_spearman_loop(ranks), rel=1e-12)


def test_spearman_mean_two_runs_and_nan_run():
    ranks = rank_matrix([[0.3, 0.2, 0.1], [0.1, 0.3, 0.2], [np.nan, 0.0, 0.0]])
    expected = stats.spearmanr(ranks[0], ranks[1]).statistic
    assert spearman_mean(ranks) == pytest.approx(expected)
    assert np.isnan(spearman_mean(ranks[:1]))


# --- Nogueira -----------------------------------------------------------------


def _nogueira_direct(Z):
    """The formula of methods.md and the authors' per-run variance, as loops."""
    m, n = Z.shape
    p = [sum(Z[r, i] for r in range(m)) / m for i in range(n)]
    kbar = sum(p)
    denom = (kbar / n) * (1 - kbar / n)
    phi_hat = 1 - sum(m / (m - 1) * pi * (1 - pi) for pi in p) / n / denom
    phi = []
    for r in range(m):
        k_r = sum(Z[r])
        zp = sum(Z[r, i] * p[i] for i in range(n)) / n
        phi.append(
            (
                zp
                - k_r * kbar / n**2
                + phi_hat / 2 * (2 * k_r * kbar / n**2 - k_r / n - kbar / n + 1)
            )
            / denom
        )
    variance = 4 / m**2 * sum((x - np.mean(phi)) ** 2 for x in phi)
    return phi_hat, variance


def _random_topk(m, n, k, seed):
    Z = np.zeros((m, n), dtype=bool)
    rng = np.random.default_rng(seed)
    for r in range(m):
        Z[r, rng.choice(n, k, replace=False)] = True
    return Z


def test_nogueira_stability_is_one_for_identical_sets():
    Z = np.tile([True, False, True, False, False], (8, 1))
    res = nogueira_stability(Z)
    assert res.statistic == pytest.approx(1.0)
    assert res.low == pytest.approx(1.0) and res.high == pytest.approx(1.0)


def test_nogueira_stability_matches_direct_formula():
    Z = topk_membership(rank_matrix(np.random.default_rng(11).integers(0, 5, (25, 8))), 3)
    res = nogueira_stability(Z, alpha=0.1)
    phi_hat, variance = _nogueira_direct(Z.astype(float))
    assert res.statistic == pytest.approx(phi_hat, rel=1e-12)
    assert res.variance == pytest.approx(variance, rel=1e-12)
    half = stats.norm.ppf(0.95) * np.sqrt(variance)
    assert (res.low, res.high) == pytest.approx((phi_hat - half, phi_hat + half), rel=1e-12)


def test_nogueira_stability_equals_mean_kuncheva_for_fixed_k():
    # Nogueira et al. (2018): with a fixed set size Phi is the mean pairwise Kuncheva index.
    m, n, k = 9, 10, 4
    Z = _random_topk(m, n, k, seed=12)
    kuncheva = [
        ((Z[i] & Z[j]).sum() * n - k**2) / (k * (n - k)) for i, j in combinations(range(m), 2)
    ]
    assert nogueira_stability(Z).statistic == pytest.approx(np.mean(kuncheva), rel=1e-12)


def test_nogueira_stability_hand_worked_example():
    Z = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]], dtype=bool)
    m, n = 3, 4
    p = [Fraction(3, 3), Fraction(2, 3), Fraction(1, 3), Fraction(0, 3)]  # column means by eye
    kbar = sum(p)
    s2 = [Fraction(m, m - 1) * pi * (1 - pi) for pi in p]
    expected = 1 - (sum(s2) / n) / ((kbar / n) * (1 - kbar / n))
    assert nogueira_stability(Z).statistic == pytest.approx(float(expected), rel=1e-12)


def test_nogueira_stability_near_zero_for_random_sets():
    res = nogueira_stability(_random_topk(400, 12, 3, seed=13))
    assert abs(res.statistic) < 0.1
    assert res.low <= 0.0 <= res.high


def test_nogueira_stability_interval_contains_estimate_and_narrows():
    widths = []
    for m in (20, 500):
        Z = topk_membership(rank_matrix(_noisy_runs(m, 10, 0.3, seed=14)), 3)
        res = nogueira_stability(Z)
        assert res.low < res.statistic < res.high
        widths.append(res.high - res.low)
    assert widths[1] < widths[0] / 2


def test_nogueira_stability_degenerate_is_nan():
    for Z in (
        np.ones((5, 4), bool),
        np.zeros((5, 4), bool),
        np.ones((1, 4), bool),
        np.ones((5, 1), bool),
    ):
        res = nogueira_stability(Z)
        assert np.isnan([res.statistic, res.low, res.high, res.variance]).all()


# --- bootstrap -----------------------------------------------------------------


def test_bootstrap_mean_ci_contains_mean_and_is_seeded():
    values = _noisy_runs(30, 5, 0.5, seed=15)
    ci = bootstrap_mean_ci(values, seed=0)
    np.testing.assert_allclose(ci.mean, values.mean(axis=0))
    assert np.all(ci.low < ci.mean) and np.all(ci.mean < ci.high)
    again, other = bootstrap_mean_ci(values, seed=0), bootstrap_mean_ci(values, seed=1)
    np.testing.assert_array_equal(again.low, ci.low)
    np.testing.assert_array_equal(again.high, ci.high)
    assert not np.array_equal(other.low, ci.low)


def test_bootstrap_mean_ci_memory_stays_flat_in_the_runs_and_the_interval_exact():
    """SciPy holds every resample at once unless told to batch: 1000 x 3,400 seeds x 13
    variables was 350 MB an interval. Batched, the same draws give the same bounds."""
    import tracemalloc

    from scipy import stats as st

    values = _noisy_runs(3400, 13, 0.5, seed=3)
    tracemalloc.start()
    ci = bootstrap_mean_ci(values, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 60e6, f"{peak / 1e6:.0f} MB"
    whole = st.bootstrap(
        (values,),
        np.mean,
        axis=0,
        vectorized=True,
        paired=False,
        n_resamples=1000,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    np.testing.assert_array_equal(ci.low, whole.confidence_interval.low)
    np.testing.assert_array_equal(ci.high, whole.confidence_interval.high)


def test_bootstrap_mean_ci_constant_column_and_nan_run():
    values = _noisy_runs(20, 3, 0.5, seed=16)
    values[:, 1] = 0.1
    values[4, 0] = np.nan
    ci = bootstrap_mean_ci(values, seed=2, confidence=0.9)
    assert ci.low[1] == ci.high[1] == ci.mean[1] == 0.1
    np.testing.assert_allclose(ci.mean, np.delete(values, 4, axis=0).mean(axis=0))


def test_bootstrap_mean_ci_one_run_gives_nan_interval():
    ci = bootstrap_mean_ci([[0.1, 0.2], [np.nan, 0.3]], seed=0)
    np.testing.assert_array_equal(ci.mean, [0.1, 0.2])
    assert np.isnan(ci.low).all() and np.isnan(ci.high).all()


# --- stability_curve ---------------------------------------------------------


def test_stability_curve_ends_at_full_w():
    ranks = rank_matrix(_noisy_runs(12, 6, 0.5, seed=17))
    m_values, w = stability_curve(ranks)
    np.testing.assert_array_equal(m_values, np.arange(2, 13))
    assert w.shape == (11,)
    assert w[-1] == kendall_w(ranks).statistic
    assert w[3] == kendall_w(ranks[:5]).statistic
    assert all(a.size == 0 for a in stability_curve(ranks[:1]))


# --- degenerate input and notes ----------------------------------------------


def test_kendall_w_two_runs_is_finite():
    values = _noisy_runs(2, 5, 0.5, seed=18)
    assert np.isfinite(kendall_w(rank_matrix(values)).statistic)
    assert stability_notes(values) == []


def test_kendall_w_single_variable_is_nan_with_note():
    values = np.random.default_rng(19).random((10, 1))
    res = kendall_w(rank_matrix(values))
    assert np.isnan([res.statistic, res.chi2, res.df, res.pvalue]).all()
    assert (res.n_runs, res.n_variables) == (10, 1)
    assert np.isnan(spearman_mean(rank_matrix(values)))
    assert stability_notes(values) == ["one variable only: ranking stability is undefined"]


def test_kendall_w_all_equal_importances_is_nan_with_note():
    values = np.full((6, 4), 0.25)
    assert np.isnan(kendall_w(rank_matrix(values)).statistic)
    assert np.isnan(spearman_mean(rank_matrix(values)))
    notes = stability_notes(values)
    assert len(notes) == 1 and "all equal in every run" in notes[0]
    values[:4] = _noisy_runs(4, 4, 0.3, seed=20)
    assert np.isfinite(kendall_w(rank_matrix(values)).statistic)
    assert stability_notes(values) == [
        "importances are all equal in 2 of 6 runs: their ranks are all tied"
    ]


def test_kendall_w_nan_run_is_left_out_with_note():
    values = _noisy_runs(8, 5, 0.5, seed=21)
    values[3, 2] = np.nan
    res = kendall_w(rank_matrix(values))
    assert res.statistic == kendall_w(rank_matrix(np.delete(values, 3, axis=0))).statistic
    assert res.n_runs == 7
    assert stability_notes(values) == ["run 3 has NaN importances (diverged?) and is left out"]


def test_stability_notes_too_few_runs():
    notes = stability_notes([[0.1, 0.2, 0.3], [np.nan, 0.1, 0.1]])
    assert notes == [
        "run 1 has NaN importances (diverged?) and is left out",
        "stability needs at least 2 runs; got 1",
    ]
    assert np.isnan(kendall_w(rank_matrix([[0.1, 0.2, 0.3]])).statistic)


def test_stability_notes_signed_judges_ties_on_magnitude():
    values = np.array([[0.5, -0.5], [0.2, 0.1]])
    assert stability_notes(values) == []
    assert stability_notes(values, signed=True) == [
        "importances are all equal in 1 of 2 runs: their ranks are all tied"
    ]


# --- the fast (vectorised, one-pass) versions against the straightforward formulas --------


def _tie_sum_slow(row):
    _, t = np.unique(row, return_counts=True)
    return float(np.sum(t**3 - t))


def _kendall_w_slow(R):
    m, n = R.shape
    S = np.sum((R.sum(axis=0) - m * (n + 1) / 2) ** 2)
    denom = m**2 * (n**3 - n) - m * sum(_tie_sum_slow(r) for r in R)
    return 12 * S / denom if denom > 0 else np.nan


def _rank_inputs():
    """Random continuous ranks, heavily tied ranks (few distinct values), and a mix with an
    all-tied run and a NaN run."""
    rng = np.random.default_rng(31)
    continuous = rank_matrix(rng.standard_normal((60, 11)))
    tied = rank_matrix(rng.integers(0, 3, (60, 11)))
    mixed = tied.copy()
    mixed[5] = 6.0  # every variable tied
    mixed[9] = np.nan
    return {"continuous": continuous, "tied": tied, "mixed": mixed}


@pytest.mark.parametrize("kind", ["continuous", "tied", "mixed"])
def test_stability_curve_equals_kendall_w_of_each_prefix(kind):
    R = _rank_inputs()[kind]
    usable = R[~np.isnan(R).any(axis=1)]
    m_values, w = stability_curve(R)
    slow = [_kendall_w_slow(usable[:m]) for m in m_values]
    np.testing.assert_allclose(w, slow, rtol=1e-12, atol=0, equal_nan=True)
    assert w[-1] == kendall_w(R).statistic


@pytest.mark.parametrize("kind", ["continuous", "tied", "mixed"])
def test_spearman_mean_equals_mean_of_scipy_pairs(kind):
    R = _rank_inputs()[kind]
    usable = R[~np.isnan(R).any(axis=1)]
    usable = usable[np.ptp(usable, axis=1) > 0]
    rhos = [stats.spearmanr(a, b).statistic for a, b in combinations(usable, 2)]
    assert spearman_mean(R) == pytest.approx(np.mean(rhos), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("kind", ["continuous", "tied", "mixed"])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_topk_membership_equals_searchsorted_per_run(kind, k):
    R = _rank_inputs()[kind]
    slow = np.zeros(R.shape, bool)
    for r, row in enumerate(R):
        if not np.isnan(row).any():
            slow[r] = np.searchsorted(np.sort(row), row, side="left") < k
    np.testing.assert_array_equal(topk_membership(R, k), slow)


@pytest.mark.parametrize("kind", ["continuous", "tied", "mixed"])
def test_rank_distribution_equals_loop_over_runs(kind):
    R = _rank_inputs()[kind]
    usable = R[~np.isnan(R).any(axis=1)]
    n = R.shape[1]
    slow = np.zeros((n, n))
    for row in usable:  # the straightforward loop: each tie member 1/t at each position spanned
        _, inverse, counts = np.unique(row, return_inverse=True, return_counts=True)
        t = counts[inverse]
        first = np.rint(row - (t - 1) / 2).astype(int) - 1
        for i in range(n):
            for j in range(t[i]):
                slow[i, first[i] + j] += 1.0 / t[i]
    np.testing.assert_allclose(rank_distribution(R), slow, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["continuous", "tied", "mixed"])
def test_kendall_w_equals_slow_tie_sums(kind):
    R = _rank_inputs()[kind]
    usable = R[~np.isnan(R).any(axis=1)]
    assert kendall_w(R).statistic == pytest.approx(_kendall_w_slow(usable), rel=1e-12)


def test_spearman_rows_equals_scipy_per_row():
    from study.analysis.stability import spearman_rows

    rng = np.random.default_rng(32)
    A = rng.integers(0, 4, (30, 7)).astype(float)
    B = rng.standard_normal((30, 7))
    A[2] = 1.0  # constant row: NaN
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            slow = [stats.spearmanr(a, b).statistic for a, b in zip(A, B)]
            one = [stats.spearmanr(a, B[0]).statistic for a in A]
    np.testing.assert_allclose(spearman_rows(A, B), slow, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(spearman_rows(A, B[0]), one, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("n, k", [(13, 3), (30, 5), (2, 1), (5, 5)])
def test_nogueira_curve_is_the_statistic_of_every_prefix(n, k):
    # the fast formula (running counts) against one nogueira_stability call per prefix, bit for
    # bit; k = n selects everything: undefined (NaN) at every m, as the slow one says
    rng = np.random.default_rng(n)
    ranks = np.array([rng.permutation(n) + 1 for _ in range(200)], float)
    Z = topk_membership(ranks, k)
    m = np.array([1, 2, 3, 10, 57, 200])
    slow = np.array([nogueira_stability(Z[:i]).statistic for i in m])
    np.testing.assert_array_equal(nogueira_curve(Z, m), slow)
    assert np.isfinite(slow[1:]).all() == (k < n)
