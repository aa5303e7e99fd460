"""study.analysis.uncertainty: the estimator of the answer's covariance (V_data + V_seed / S), the
nearest PSD matrix, the scale-free shares and the top-k verdict, against known answers."""

import numpy as np
import pytest

from study.analysis import uncertainty as unc


def _simulate(rng, mu, v_data, v_seed, n_seeds, n_resamples):
    """Seeds on one sample: mu + d0 + seed noise; resamples: each its own data draw and seed."""
    p = len(mu)
    d0 = rng.multivariate_normal(np.zeros(p), v_data)
    seeds = mu + d0 + rng.multivariate_normal(np.zeros(p), v_seed, size=n_seeds)
    resamples = (
        mu
        + rng.multivariate_normal(np.zeros(p), v_data, size=n_resamples)
        + rng.multivariate_normal(np.zeros(p), v_seed, size=n_resamples)
    )
    return seeds, resamples


def test_recovers_known_data_and_seed_covariances():
    rng = np.random.default_rng(28)
    a = rng.normal(size=(4, 4))
    v_data = a @ a.T / 4 * 0.01
    v_seed = np.diag([0.02, 0.01, 0.03, 0.005])
    n = 4000
    seeds, resamples = _simulate(rng, np.array([0.4, 0.3, 0.2, 0.1]), v_data, v_seed, n, n)
    u = unc.covariance(seeds, resamples)
    # sampling error of a covariance entry ~ sqrt((s_ii s_jj + s_ij^2) / n): 5 of them at most
    total = v_data + v_seed
    se = np.sqrt((np.outer(np.diag(total), np.diag(total)) + total**2) / n)
    assert np.all(np.abs(u.v_seed - v_seed) < 5 * se)
    assert np.all(np.abs(u.v_data - v_data) < 5 * np.sqrt(2) * se)
    assert np.allclose(u.covariance, u.v_data + u.v_seed / n)
    assert (u.n_seeds, u.n_resamples) == (n, n)


def test_no_data_variance_gives_a_psd_near_zero_and_the_seeds_own():
    rng = np.random.default_rng(1)
    v_seed = np.diag([0.01, 0.02, 0.03])
    seeds, resamples = _simulate(rng, np.zeros(3), np.zeros((3, 3)), v_seed, 2000, 2000)
    u = unc.covariance(seeds, resamples)
    assert np.linalg.eigvalsh(u.v_data).min() >= -1e-12
    assert np.abs(u.v_data).max() < 0.005


def test_nearest_psd_clips_negative_eigenvalues_only():
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))
    m = (q * np.array([-1.0, 0.5, 2.0])) @ q.T
    out = unc.nearest_psd(m)
    assert np.allclose(np.linalg.eigvalsh(out), [0.0, 0.5, 2.0])
    psd = (q * np.array([0.1, 0.5, 2.0])) @ q.T
    assert np.allclose(unc.nearest_psd(psd), psd)


def test_shares_are_scale_free_and_handle_signs_and_zeros():
    v = np.array([[[2.0], [-6.0], [0.0]], [[0.0], [0.0], [0.0]]])
    assert np.allclose(unc.shares(v, signed=True)[0, :, 0], [0.25, 0.75, 0.0])
    assert np.allclose(unc.shares(10 * v, signed=True)[0], unc.shares(v, signed=True)[0])
    assert np.allclose(unc.shares(v, signed=False)[0, :, 0], [1.0, 0.0, 0.0])
    assert np.isnan(unc.shares(v, signed=True)[1]).all()


def test_separated_estimates_give_singletons_and_surely():
    cov = np.eye(4) * 1e-4
    v = unc.verdicts([0.5, 0.3, 0.15, 0.05], cov, k=2, level=0.95, seed=0)
    assert v["rank_low"].tolist() == v["rank_high"].tolist() == [1, 2, 3, 4]
    simultaneous = v["rank_low_simultaneous"], v["rank_high_simultaneous"]
    assert [s.tolist() for s in simultaneous] == [[1, 2, 3, 4]] * 2
    assert v["top_k"].tolist() == ["surely", "surely", "no", "no"]


def test_equal_estimates_give_the_full_range_and_possibly():
    v = unc.verdicts([0.25] * 4, np.eye(4) * 1e-3, k=2, level=0.95, seed=0)
    for lo, hi in (("rank_low", "rank_high"), ("rank_low_simultaneous", "rank_high_simultaneous")):
        assert v[lo].tolist() == [1] * 4 and v[hi].tolist() == [4] * 4
    assert v["top_k"].tolist() == ["possibly"] * 4


def test_invariant_to_the_order_of_variables():
    rng = np.random.default_rng(3)
    seeds, resamples = _simulate(
        rng, np.array([0.35, 0.3, 0.2, 0.1, 0.05]), np.eye(5) * 0.002, np.eye(5) * 0.004, 20, 40
    )
    perm = np.array([3, 0, 4, 2, 1])
    u = unc.covariance(seeds, resamples)
    up = unc.covariance(seeds[:, perm], resamples[:, perm])
    assert np.allclose(up.estimates, u.estimates[perm])
    assert np.allclose(up.covariance, u.covariance[np.ix_(perm, perm)])
    v = unc.verdicts(u.estimates, u.covariance, k=2, level=0.95, seed=0)
    vp = unc.verdicts(up.estimates, up.covariance, k=2, level=0.95, seed=0)
    for key in v:
        assert vp[key].tolist() == v[key][perm].tolist()


def test_estimate_uses_shares_and_needs_two_of_each():
    rng = np.random.default_rng(4)
    seeds = rng.uniform(1, 2, size=(6, 3, 2))
    resamples = rng.uniform(1, 2, size=(8, 3, 2))
    u = unc.estimate(seeds * 100, resamples, signed=False)
    assert np.isclose(u.estimates.sum(), 1.0)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        unc.estimate(seeds[:1], resamples, signed=False)


def test_seeds_or_data_splits_one_networks_variance_and_the_answers_errors():
    """Closed forms: V_data = diag(4, 1, 0) / 100, V_seed = diag(1, 1, 1) / 100, S = 25."""
    v_data, v_seed = np.diag([4.0, 1.0, 0.0]) / 100, np.eye(3) / 100
    u = unc.Uncertainty(np.zeros(3), v_data + v_seed / 25, v_data, v_seed, 25, 20)
    parts = unc.seeds_or_data(u)
    np.testing.assert_allclose(parts.data_share, [0.8, 0.5, 0.0])
    np.testing.assert_allclose(parts.data_error, [0.2, 0.1, 0.0])
    np.testing.assert_allclose(parts.seed_error, [0.02, 0.02, 0.02])
    np.testing.assert_allclose(parts.ratio[:2], [0.1, 0.2])
    assert parts.ratio[2] == np.inf  # no data variance: no number of seeds is enough
    assert parts.more_data  # 0.05 of data variance against 0.0012 of the seeds'
    assert unc.seeds_needed(parts) == np.inf
    two = unc.seeds_or_data(
        unc.Uncertainty(np.zeros(2), v_data[:2, :2], v_data[:2, :2], v_seed[:2, :2], 25, 20)
    )
    # the error falls as 1/sqrt(S): 0.2 of the data's at 25 seeds is 0.1 at 100
    assert unc.seeds_needed(two) == pytest.approx(100)
    assert unc.seeds_needed(two, target=0.2) == pytest.approx(25)


def test_more_seeds_or_more_data_follows_the_larger_part():
    v = np.eye(2) / 100
    few = unc.seeds_or_data(unc.Uncertainty(np.zeros(2), v, v / 10, v, 2, 20))
    assert not few.more_data  # seeds' part 0.005 > the data's 0.001
    many = unc.seeds_or_data(unc.Uncertainty(np.zeros(2), v, v / 10, v, 1000, 20))
    assert many.more_data


def test_simulated_seeds_and_data_give_the_planted_shares():
    rng = np.random.default_rng(5)
    v_data, v_seed = np.diag([0.03, 0.01]), np.diag([0.01, 0.03])
    seeds, resamples = _simulate(rng, np.array([0.6, 0.4]), v_data, v_seed, 3000, 3000)
    parts = unc.seeds_or_data(unc.covariance(seeds, resamples))
    np.testing.assert_allclose(parts.data_share, [0.75, 0.25], atol=0.05)
