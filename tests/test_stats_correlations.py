"""Noise correlation against signal correlation and RF overlap (Cohen & Kohn
2011), against closed forms.

Neurons with tuning cos(θ_s − φ_i) over stimuli evenly spaced on the circle
have signal correlation cos(φ_i − φ_j) exactly; Gaussian trial noise with
correlation matrix (1 − c) I + c cos(φ_i − φ_j) (positive semi-definite) gives
r_sc = c · r_signal for every pair, so each bin's mean r_sc is c times its mean
r_signal.
"""

import numpy as np
import pytest

from ipvae_snn.stats import binned_mean, pair_correlations, rf_overlap, signal_correlation
from ipvae_snn.validation import InputError


def _tuned_population(rng, n_neurons=24, n_stimuli=12, n_trials=4000, c=0.3):
    phi = rng.uniform(0, 2 * np.pi, n_neurons)
    theta = np.arange(n_stimuli) * 2 * np.pi / n_stimuli
    tuning = 20 + 5 * np.cos(theta[:, None] - phi[None, :])           # (S, K)
    corr = (1 - c) * np.eye(n_neurons) + c * np.cos(phi[:, None] - phi[None, :])
    noise = rng.multivariate_normal(np.zeros(n_neurons), corr,
                                    size=(n_stimuli, n_trials))
    return tuning[:, None, :] + noise, phi


def test_signal_correlation_of_cosine_tuning_is_the_cosine_of_the_offset():
    rng = np.random.default_rng(0)
    phi = rng.uniform(0, 2 * np.pi, 6)
    theta = np.arange(10) * 2 * np.pi / 10
    r = signal_correlation(np.cos(theta[:, None] - phi[None, :]))
    np.testing.assert_allclose(r, np.cos(phi[:, None] - phi[None, :]), atol=1e-12)


def test_binned_r_sc_follows_c_times_signal_correlation():
    rng = np.random.default_rng(1)
    c = 0.3
    counts, phi = _tuned_population(rng, c=c)
    pc = pair_correlations(counts)
    i, j = pc.pairs.T
    # means over 4000 trials: r_signal within sampling error of the cosine
    np.testing.assert_allclose(pc.signal, np.cos(phi[i] - phi[j]), atol=0.01)
    np.testing.assert_allclose(pc.noise, c * pc.signal, atol=0.03)
    b = pc.by_signal
    expected = binned_mean(pc.signal, c * pc.signal, b.edges).mean
    ok = b.count > 0
    np.testing.assert_allclose(b.mean[ok], expected[ok], atol=0.02)
    assert b.count.sum() == i.size


def test_binned_mean_and_sem_by_hand():
    # bin [0, 1]: values 1, 2, 3 -> mean 2, SD 1, SEM 1/sqrt(3); bin [-1, 0): one value
    b = binned_mean([0.1, 0.5, 0.9, -0.5], [1.0, 2.0, 3.0, 7.0], edges=[-1, 0, 1])
    np.testing.assert_allclose(b.mean, [7.0, 2.0])
    assert np.isnan(b.sem[0]) and b.sem[1] == pytest.approx(1 / np.sqrt(3))
    assert b.count.tolist() == [1, 3] and b.centers.tolist() == [-0.5, 0.5]
    # the upper edge belongs to the last bin; NaNs are left out
    assert binned_mean([1.0, np.nan], [4.0, 1.0], edges=[0, 1]).count.tolist() == [1]


def test_rf_overlap_of_known_atoms():
    a = np.array([1.0, 0.0, -1.0, 0.0])
    b = np.array([1.0, -1.0, 1.0, -1.0])                  # orthogonal to a, zero mean
    phi = np.stack([a, 2 * a + 3, -a, b], axis=1)         # scale and offset do not count
    r = rf_overlap(phi)
    np.testing.assert_allclose(r[0], [1.0, 1.0, -1.0, 0.0], atol=1e-12)


def test_overlap_bins_with_phi():
    rng = np.random.default_rng(2)
    counts, _ = _tuned_population(rng, n_neurons=5, n_trials=200)
    phi = rng.normal(size=(16, 5))
    pc = pair_correlations(counts, phi=phi)
    np.testing.assert_allclose(pc.overlap, rf_overlap(phi)[tuple(pc.pairs.T)])
    assert pc.by_overlap.count.sum() == 10
    with pytest.raises(InputError):
        pair_correlations(counts, phi=phi[:, :4])
    with pytest.raises(InputError):
        pair_correlations(counts[:1])
