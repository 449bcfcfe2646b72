"""The mean-matched Fano factor (Churchland et al. 2010) against closed forms.

Counts are Poisson (Fano factor 1) or Poisson with a gamma-distributed gain of
mean 1 and shape k on each trial: the count then has mean m and variance
m + m²/k (a negative binomial), so its Fano factor is 1 + m/k. With the
regression weights n/m² (epsilon 0) the weighted slope through the origin over
points of means m_i is mean_i(1 + m_i/k) = 1 + mean(m)/k.
"""

import numpy as np
import pytest

from ipvae_snn.stats import mean_matched_fano, onset_aligned_counts, variance_mean_slope
from ipvae_snn.validation import InputError


def _gamma_poisson(rng, lam, k, n_trials):
    """Counts (trials, bins, points) with per-trial gamma gain (mean 1, shape k)."""
    lam = np.asarray(lam, dtype=float)
    gain = rng.gamma(k, 1.0 / k, size=(n_trials,) + lam.shape)
    return rng.poisson(lam * gain)


def test_poisson_counts_give_one_with_and_without_matching():
    rng = np.random.default_rng(3)
    lam = np.stack([rng.uniform(0.5, 3.0, 300), rng.uniform(0.5, 6.0, 300),
                    rng.uniform(2.0, 6.0, 300)])
    r = mean_matched_fano(rng.poisson(lam, size=(300, 3, 300)), seed=0)
    np.testing.assert_allclose(r.fano, 1.0, atol=0.05)
    np.testing.assert_allclose(r.fano_all, 1.0, atol=0.05)
    assert np.all(r.ci[:, 0] < r.fano) and np.all(r.fano < r.ci[:, 1])
    assert 0 < r.kept < 1 and r.n_points == 300


def test_gamma_modulated_poisson_gives_one_plus_mean_over_shape():
    rng = np.random.default_rng(4)
    lam, k = 4.0, 8.0
    counts = _gamma_poisson(rng, np.full((2, 200), lam), k, 1000)
    r = mean_matched_fano(counts, seed=0)
    np.testing.assert_allclose(r.fano_all, 1 + lam / k, atol=0.05)
    np.testing.assert_allclose(r.fano, 1 + lam / k, atol=0.05)


def test_mean_matching_removes_a_change_that_only_the_mean_makes():
    # Bin 0: means uniform on [1, 4]; bin 1: uniform on [1, 8]; the same
    # variance-mean relation m + m²/4. Raw: 1 + 2.5/4 and 1 + 4.5/4. The
    # common distribution is uniform on [1, 4] (mean 2.5): 1 + 2.5/4 in both.
    rng = np.random.default_rng(5)
    n, k = 700, 4.0
    lam = np.stack([rng.uniform(1, 4, n), rng.uniform(1, 8, n)])
    r = mean_matched_fano(_gamma_poisson(rng, lam, k, 400), epsilon=0.0, seed=1)
    np.testing.assert_allclose(r.fano_all, [1 + 2.5 / k, 1 + 4.5 / k], atol=0.07)
    np.testing.assert_allclose(r.fano, [1 + 2.5 / k] * 2, atol=0.07)
    # the kept points' mean is that of the common distribution in both bins
    np.testing.assert_allclose(r.mean, 2.5, atol=0.15)
    # and the matched slope is 1 + (kept mean)/k, the closed form for these weights
    np.testing.assert_allclose(r.fano, 1 + r.mean / k, atol=0.07)


def test_conditions_axis_is_pooled_with_neurons():
    rng = np.random.default_rng(6)
    c4 = rng.poisson(2.0, size=(50, 3, 10, 4))
    a = mean_matched_fano(c4, seed=2)
    b = mean_matched_fano(c4.reshape(50, 3, 40), seed=2)
    np.testing.assert_array_equal(a.fano, b.fano)
    np.testing.assert_array_equal(a.fano_all, b.fano_all)


def test_weighted_slope_by_hand():
    # w = n/(m + eps)² with n = 1, eps = 0: weights 1 and 1/4;
    # slope = (1*1*2 + 0.25*2*3) / (1*1 + 0.25*4) = 3.5 / 2 = 1.75
    assert variance_mean_slope([1.0, 2.0], [2.0, 3.0], 1, epsilon=0.0)[0] == \
        pytest.approx(1.75)
    # ordinary least squares through the origin: (2 + 6) / (1 + 4)
    assert variance_mean_slope([1.0, 2.0], [2.0, 3.0], 1, weighted=False)[0] == \
        pytest.approx(1.6)
    assert np.isnan(variance_mean_slope([0.0], [0.0], 5)[0])


@pytest.mark.parametrize("counts", [np.ones((1, 3, 4)), -np.ones((3, 3, 4)),
                                    np.ones((3, 4))])
def test_bad_counts_are_input_errors(counts):
    with pytest.raises(InputError):
        mean_matched_fano(counts)


def test_onset_drop_of_a_gain_that_stops_fluctuating_at_onset():
    # Before each onset every window's count is Poisson with a gamma gain of
    # shape k drawn per trial and window (mean r, variance r + r²/k), from the
    # onset on plain Poisson with the same means. A count of two windows has
    # mean 2r and variance 2r + 2r²/k: Fano 1 + r/k before, 1 after; with the
    # weights n/m² the population slope is 1 + mean(r)/k before the onset.
    rng = np.random.default_rng(7)
    n_trials, n_windows, k, lam = 400, 40, 2.0, 0.5
    rates = rng.uniform(0.5, 1.5, size=30) * lam
    onsets = [10, 30]
    gain = rng.gamma(k, 1 / k, size=(n_trials, n_windows, 1))
    gain[:, 10:20] = 1.0
    gain[:, 30:] = 1.0
    counts = rng.poisson(rates * gain)
    width = 2
    aligned, offsets = onset_aligned_counts(counts, onsets, before=4, after=4, width=width)
    assert aligned.shape == (n_trials, 8, 30, 2)
    r = mean_matched_fano(aligned, epsilon=0.0, seed=0)
    np.testing.assert_allclose(r.fano[offsets < 0], 1 + rates.mean() / k, atol=0.06)
    # from the onset on the gain is gone from both windows of a count (offset >= 1)
    np.testing.assert_allclose(r.fano[offsets >= width - 1], 1.0, atol=0.06)


def test_onset_alignment_refuses_windows_outside_the_run():
    with pytest.raises(InputError):
        onset_aligned_counts(np.ones((2, 10, 3)), [1], before=2, after=2)
    with pytest.raises(InputError):
        onset_aligned_counts(np.ones((2, 10, 3)), [9], before=2, after=2)
