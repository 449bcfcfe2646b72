"""The rate-distortion score and the sparse-coding baseline, against closed forms."""

import numpy as np
import pytest

from ipvae_snn.params import IPVAEParams
from ipvae_snn.ratedistortion import (distance, ipvae_points, rate_reconstruction,
                                      sparse_coding_dictionary, sparse_coding_points)


def test_distance_is_the_euclidean_distance_to_the_ideal_corner():
    assert distance(1.0, 1.0) == 0.0
    assert distance(0.7, 0.6) == pytest.approx(0.5)
    assert distance(0.0, 0.0) == pytest.approx(np.sqrt(2))


def test_sparse_coding_points_at_the_extremes():
    rng = np.random.default_rng(0)
    d = np.eye(16)[:8]                     # 8 atoms on the first 8 pixels
    x = np.abs(rng.standard_normal((20, 16)))
    silent, dense = sparse_coding_points(d, x, alphas=(1e6, 1e-9))
    assert silent["zero_fraction"] == 1.0
    # no code: the reconstruction is 0, R² = 1 - Σx² / Σ(x - mean)² <= 0
    assert silent["r2"] <= 1e-12
    # with no penalty the positive codes are the first 8 pixels themselves
    resid = x[:, 8:]
    centred = x - x.mean(axis=1, keepdims=True)
    r2 = 1 - (resid ** 2).sum(1) / (centred ** 2).sum(1)
    assert dense["r2"] == pytest.approx(r2.mean(), abs=1e-6)
    assert dense["zero_fraction"] == 0.0


def test_sparse_coding_dictionary_has_unit_atoms():
    x = np.random.default_rng(1).standard_normal((200, 16))
    d = sparse_coding_dictionary(x, n_components=6, epochs=1)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, rtol=1e-6)


def test_ipvae_points_read_each_window(official_params):
    x = np.random.default_rng(2).standard_normal((16, 256))
    points = ipvae_points(official_params, x, windows=(4, 1, 16), seed=0)
    assert [p["T"] for p in points] == [1, 4, 16]
    for p in points:
        assert p["distance"] == pytest.approx(distance(p["r2"], p["zero_fraction"]))
        assert 0 <= p["runaway_fraction"] <= 1 and 0 <= p["zero_fraction"] <= 1
        assert p["distance_rate"] == pytest.approx(
            distance(p["r2_rate"], p["zero_fraction"]))


def test_rate_read_out_is_the_dictionary_times_the_poisson_means():
    # two atoms on disjoint pixels; the Poisson mean of a window is
    # exp(u) + rate_eps, and with a dead time λ / (1 + λ / max_count)
    phi = np.zeros((4, 2))
    phi[:2, 0], phi[2:, 1] = 1.0, 2.0
    params = IPVAEParams(phi=phi, sigma=np.ones(4), bias=np.zeros(2), lr=0.1, u_init=np.zeros(2),
                         rate_eps=0.0)
    u = np.log([[3.0, 0.5]])
    np.testing.assert_allclose(rate_reconstruction(params, u), [[3, 3, 1, 1]])
    # at λ = max_count the saturated rate is max_count / 2
    np.testing.assert_allclose(rate_reconstruction(params, np.log([[4.0, 4.0]]), max_count=4),
                               [[2, 2, 4, 4]])


def test_rate_read_out_beats_the_counts_on_natural_patches(params):
    # the rates are the counts' expectation: without the Poisson noise of one
    # window the reconstruction is better (the paper: 0.220 against 0.284)
    from ipvae_snn.data import natural_patches
    x = natural_patches(n_patches=64, seed=4)
    (p,) = ipvae_points(params, x, windows=(64,), seed=0)
    assert p["r2_rate"] > p["r2"] + 0.02
    assert p["distance_rate"] < p["distance"]
