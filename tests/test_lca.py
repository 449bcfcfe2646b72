"""
The spiking LCA (`ipvae_snn.lca`): the numpy LCA against scikit-learn's
Lasso, the spiking network against a closed-form spike count and against the
Lasso codes, synaptic events, validation.
"""

import math

import numpy as np
import pytest

from ipvae_snn import default_params
from ipvae_snn.data import HELD_OUT_IMAGES, natural_patches
from ipvae_snn.lca import (RATE_PER_NORM, SpikingLCA, code_points, lasso_codes,
                           lasso_objective, lca_codes, lca_dictionary, mean_atom_norm,
                           synaptic_events)
from ipvae_snn.results import SpikingResult
from ipvae_snn.validation import InputError, InvalidValueError


@pytest.fixture(scope="module")
def patches():
    return natural_patches(HELD_OUT_IMAGES, 16, seed=3)


@pytest.fixture(scope="module")
def phi():
    return default_params().phi


# ------------------------------------------------------------ the numpy LCA
def test_lca_soft_thresholds_orthonormal_atoms():
    # orthonormal atoms decouple the neurons: the code is max(Φᵀx − λ, 0) by hand
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 4)))
    x = np.random.default_rng(1).standard_normal((3, 6))
    codes = lca_codes(q, x, 0.3)
    np.testing.assert_allclose(codes, np.maximum(x @ q - 0.3, 0), atol=1e-6)


def test_lca_matches_sklearn_lasso_on_the_ipvae_dictionary(patches, phi):
    patches = patches[:8]
    for lam in (1.0 * mean_atom_norm(phi), 1.6 * mean_atom_norm(phi)):   # scale-free λ
        a_lca = lca_codes(phi, patches, lam, tol=1e-8)
        a_sk = lasso_codes(phi, patches, lam)
        e_lca = lasso_objective(phi, patches, a_lca, lam)
        e_sk = lasso_objective(phi, patches, a_sk, lam)
        # the same optimum: objectives agree to 1e-6 relative, codes to 1e-3
        np.testing.assert_allclose(e_lca, e_sk, rtol=1e-6)
        assert np.abs(a_lca - a_sk).max() < 1e-3 * a_sk.max()
        assert np.array_equal(a_lca > 1e-6, a_sk > 1e-6)
        # optimality (KKT) of the LCA's codes, checked directly
        grad = (patches - a_lca @ phi.T) @ phi
        active = a_lca > 0
        np.testing.assert_allclose(grad[active], lam, atol=1e-5)
        assert grad[~active].max() <= lam + 1e-5


def test_code_points_by_hand():
    x = np.array([[1.0, 0.0, -1.0]])
    p = code_points(np.eye(3), x, np.array([[1.0, 0.0, 0.0]]))
    # R² = 1 − 1/2 (residual 1, total 2), a third of the codes nonzero
    assert p["r2"] == pytest.approx(0.5)
    assert p["zero_fraction"] == pytest.approx(2 / 3)
    assert p["distance"] == pytest.approx(math.hypot(0.5, 1 / 3))


def test_lambda_scales_with_the_atom_norm(patches, phi):
    # Φ → cΦ: the Lasso codes at cλ are a/c (substitute a' = a/c into
    # ½‖x − cΦa'‖² + cλ‖a'‖₁: the same objective), the reconstruction the same
    lam, c = 0.06, 3.0
    a = lasso_codes(phi, patches[:4], lam)
    a_scaled = lasso_codes(c * phi, patches[:4], c * lam)
    np.testing.assert_allclose(a_scaled, a / c, atol=1e-4 * a.max())
    assert mean_atom_norm(c * phi) == pytest.approx(c * mean_atom_norm(phi))
    assert mean_atom_norm(np.eye(3)) == 1.0


@pytest.mark.runtime
@pytest.mark.slow
def test_spiking_lca_rescaled_dictionary_spikes_alike():
    # λ and the rate per unit of code scaled with the atoms (cλ, cρ on cΦ):
    # the same drive per spike, so the same spike counts (up to a spike where
    # rounding moves a threshold crossing across a step)
    rng = np.random.default_rng(4)
    phi = rng.standard_normal((6, 4)) * 0.2
    x = rng.standard_normal((2, 6))
    runs = [SpikingLCA(c * phi, lam=0.1 * c, rate_per_code=200.0 * c, window=0.02)
            .run(x, n_windows=3, record_spikes=False).counts for c in (1.0, 4.0)]
    assert runs[0].sum() > 20
    assert np.abs(runs[0].astype(int) - runs[1]).max() <= 1


# --------------------------------------------------------------- validation
def test_synaptic_events_closed_form():
    assert synaptic_events([0, 1, 7], 512).tolist() == [0, 511, 7 * 511]


@pytest.mark.parametrize("kwargs, match", [
    (dict(dictionary="pca"), "unknown dictionary"),
    (dict(dictionary=np.zeros((4, 2))), "atom 0 is all zeros"),
    (dict(dictionary=np.ones(3)), "expected shape"),
    (dict(dictionary=3), "dictionary must be a name"),
    (dict(lam=0), "lam"),
    (dict(device="gpu"), "unknown device"),
    (dict(window=0.1, dt=0.03), "does not divide"),
    (dict(tau=1e-4), "below two time steps"),
    (dict(rate_per_code=-1), "rate_per_code"),
])
def test_invalid_arguments(kwargs, match):
    kwargs = dict(dict(dictionary=np.eye(4, 3)), **kwargs)
    with pytest.raises(InputError, match=match):
        SpikingLCA(**kwargs)


def test_invalid_patches():
    lca = SpikingLCA(np.eye(4, 3))
    with pytest.raises(InvalidValueError, match=r"expected shape \(n_patches, 4\)"):
        lca.run(np.ones((2, 5)), n_windows=2)
    with pytest.raises(InvalidValueError, match="NaN"):
        lca.run(np.full((1, 4), np.nan), n_windows=2)
    with pytest.raises(InvalidValueError, match="lam"):
        lca_codes(np.eye(2), np.ones((1, 2)), -1.0)


def test_dictionary_options(phi):
    np.testing.assert_array_equal(lca_dictionary("ipvae"), phi)
    assert lca_dictionary(phi[:, :5]).shape == (256, 5)


# ------------------------------------------------------ the spiking network
def _expected_spikes(b, lam, tau, rate, t_end):
    """Spikes of an uninhibited neuron (unit atom) by t_end: ρ ∫ (u − λ)₊ dt."""
    if b <= lam:
        return 0
    t0 = -tau * math.log(1 - lam / b)        # u(t) = b (1 − e^(−t/τ)) crosses λ
    integral = (b - lam) * (t_end - t0) - b * tau * (math.exp(-t0 / tau)
                                                     - math.exp(-t_end / tau))
    return rate * integral


@pytest.mark.runtime
def test_spike_count_closed_form_and_events():
    # orthonormal atoms: no inhibition, each neuron's count has a closed form
    lca = SpikingLCA(np.eye(4, 3), lam=0.2, device="runtime", window=0.05,
                     tau=0.01, rate_per_code=200.0)
    x = np.array([[1.0, 0.5, 0.1, 0.0], [2.0, 0.0, 0.3, 0.0]])
    res = lca.run(x, n_windows=4)
    assert isinstance(res, SpikingResult)
    totals = res.counts.sum(axis=1)          # all windows recorded
    for p in range(2):
        for i in range(3):
            expected = _expected_spikes(x[p, i], 0.2, 0.01, 200.0, 0.2)
            assert abs(totals[p, i] - expected) <= 1 + 0.01 * expected, (p, i)
        neuron, t = res.spike_trains(p)
        assert len(neuron) == totals[p].sum() and np.all(np.diff(t) >= 0)
    assert res.info["spikes_total"] == totals.sum(axis=1).tolist()
    assert res.info["synaptic_events"] == (totals.sum(axis=1) * 2).tolist()
    # the read-out: code = count / (rate · window), so the last window's
    # reconstruction approaches the soft-thresholded patch
    np.testing.assert_allclose(res.reconstruction(3)[:, :3],
                               np.maximum(x[:, :3] - 0.2, 0), atol=0.1 + 1e-9)


def _spiking_vs_lasso(device, patches, phi, lams_rel):
    rows = []
    norm = mean_atom_norm(phi)            # λ and the rate scale with the atoms' norm
    for lam in (rel * norm for rel in lams_rel):
        res = SpikingLCA(phi, lam=lam, device=device, window=0.1,
                         rate_per_code=RATE_PER_NORM * norm).run(
            patches, n_windows=3, record_spikes=False)
        spk = np.hypot(1 - np.nanmean(res.r2[:, 2]), 1 - res.zero_fraction[:, 2].mean())
        rows.append((spk, code_points(phi, patches, lasso_codes(phi, patches, lam))))
    best = int(np.argmin([r[0] for r in rows]))
    return rows, best


@pytest.mark.standalone
@pytest.mark.slow
def test_spiking_lca_at_best_lambda_matches_lasso_standalone(patches, phi):
    rows, best = _spiking_vs_lasso("cpp_standalone", patches, phi, (0.35, 0.7, 1.0))
    spk, lasso = rows[best]
    assert abs(spk - lasso["distance"]) <= 0.02, rows
    # and the best λ of the spiking LCA is within 0.02 of the best Lasso
    assert spk <= min(r[1]["distance"] for r in rows) + 0.02, rows


@pytest.mark.runtime
@pytest.mark.slow
def test_result_works_with_statistics_plots_and_files(tmp_path):
    from ipvae_snn.plotting import plot_raster
    from ipvae_snn.stats import network_statistics, repeat_trials
    lca = SpikingLCA(np.eye(4, 3), lam=0.2, device="runtime", window=0.01,
                     rate_per_code=200.0)
    x = np.array([[1.0, 0.5, 0.1, 0.0], [0.3, 1.5, 0.0, 0.0]])
    res = lca.run(repeat_trials(x, 3), n_windows=34, seed=1)
    stats = network_statistics(res, 3)
    # a deterministic network: identical trials, no count variance at all
    assert stats["fano_factor"] == 0.0 and stats["n_fano_pairs"] > 0
    # the uninhibited neurons fire regularly: ISI CV well below Poisson's 1
    assert stats["isi_cv"] < 0.1
    plot_raster(res, patch=0, path=str(tmp_path / "raster.png"))
    assert (tmp_path / "raster.png").stat().st_size > 0
    res.save(tmp_path / "lca.npz")
    back = SpikingResult.load(tmp_path / "lca.npz")
    np.testing.assert_array_equal(back.counts, res.counts)
    np.testing.assert_allclose(back.reconstruction(20), res.reconstruction(20))
    assert back.info["synaptic_events"] == res.info["synaptic_events"]
