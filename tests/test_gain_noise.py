"""The shared-gain variant (``gain_noise``): closed forms, the default unchanged,
and the reference and the network agreeing on its statistics."""

import numpy as np
import pytest

import ipvae_snn
from ipvae_snn.data import natural_patches
from ipvae_snn.reference import infer
from ipvae_snn.sampling import gain_fano, gain_process
from ipvae_snn.stats import fano_factor, noise_correlation, pair_values
from ipvae_snn.stats.experiments import repeat_trials, trial_counts
from ipvae_snn.validation import InputError


@pytest.fixture(scope="module")
def params():
    return ipvae_snn.default_params()


def test_gain_process_is_gamma_with_the_asked_moments_and_correlation():
    sigma, tau = 0.6, 4.0
    g = gain_process(40000, 12, sigma, tau=tau, seed=3)
    k, theta = 1 / sigma ** 2, sigma ** 2
    # gamma moments: mean kθ = 1, var kθ² = σ², skewness 2/√k = 2σ
    assert abs(g.mean() - 1) < 0.01
    assert abs(g.std() - sigma) < 0.01
    skew = ((g - 1) ** 3).mean() / g.std() ** 3
    assert abs(skew - 2 / np.sqrt(k)) < 0.1
    assert abs(g.var() - k * theta ** 2) < 0.01
    for lag in (1, 3, 8):
        r = np.corrcoef(g[:, 0], g[:, lag])[0, 1]
        assert abs(r - np.exp(-lag / tau)) < 0.02
    assert np.array_equal(gain_process(3, 4, 0.0), np.ones((3, 4)))


def test_window_counts_follow_the_gamma_poisson_mixture(params):
    # window 0 draws every trial from u_init: rate λ_i = exp(u_init_i) + eps,
    # so z_i ~ Poisson(g λ_i) with g ~ Gamma(mean 1, SD σ): Fano 1 + λσ² and
    # Cov(z_i, z_j) = λ_i λ_j σ² (the gain is the only shared term)
    sigma, n = 1.5, 8000
    x = repeat_trials(natural_patches(n_patches=1, seed=0), n)
    run = infer(params, x, 1, seed=1, gain_noise=sigma, warn=False, dtype=np.float64)
    z = run.counts[:, 0].astype(float)
    lam = np.exp(params.u_init) + params.rate_eps
    ok = lam > 0.1                    # the default model: u_init = -0.5 for all
    assert ok.sum() > 5
    fano = z.var(axis=0, ddof=1)[ok] / z.mean(axis=0)[ok]   # 1 + 0.61 * 2.25 = 2.36
    assert abs(np.mean(fano) / np.mean(gain_fano(lam[ok], sigma)) - 1) < 0.02
    np.testing.assert_allclose(fano, gain_fano(lam[ok], sigma), rtol=0.15)
    cov = np.cov(z[:, ok].T)[np.triu_indices(ok.sum(), 1)]
    want = (lam[ok, None] * lam[None, ok] * sigma ** 2)[np.triu_indices(ok.sum(), 1)]
    assert abs(cov.mean() / want.mean() - 1) < 0.05
    # without the variant: Poisson, Fano 1, no covariance
    off = infer(params, x, 1, seed=1, warn=False, dtype=np.float64).counts[:, 0]
    off_fano = off.var(axis=0, ddof=1)[ok] / off.mean(axis=0)[ok]
    assert abs(off_fano.mean() - 1) < 0.01
    np.testing.assert_allclose(off_fano, 1, rtol=0.1)


def test_gain_noise_zero_is_the_default_bit_for_bit(params):
    x = natural_patches(n_patches=8, seed=2)
    a = infer(params, x, 9, seed=4, warn=False)
    b = infer(params, x, 9, seed=4, warn=False, gain_noise=0.0)
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.u_final, b.u_final)
    assert "gain_noise" not in b.info
    c = infer(params, x, 9, seed=4, warn=False, gain_noise=0.3)
    assert c.info["gain_noise"] == 0.3 and not np.array_equal(a.counts, c.counts)


def test_gain_noise_is_refused_when_negative(params):
    with pytest.raises(InputError, match="gain_noise"):
        infer(params, natural_patches(n_patches=1, seed=0), 2, gain_noise=-0.1)


def test_the_default_program_key_does_not_see_the_variant():
    from ipvae_snn.network.builder import NetworkSpec
    args = ("window", 512, 10, 4, 0.02, 1, (), False, "float64")
    off, on = NetworkSpec(*args), NetworkSpec(*args, gain=True)
    assert off.key() != on.key()
    spec = NetworkSpec(*args)
    del spec.gain           # a spec as the code before the variant made it
    assert "gain" not in vars(spec)


def _fano_and_rsc(counts, count_windows):
    s, r, w, k = counts.shape
    b = w // count_windows
    blocks = counts[:, :, :b * count_windows].reshape(s, r, b, count_windows, k).sum(3)
    blocks = blocks.transpose(0, 2, 1, 3).reshape(s * b, r, k)
    fano = np.nanmean([np.nanmean(fano_factor(c)) for c in blocks])
    rsc = np.nanmean(pair_values(noise_correlation(blocks)))
    return fano, rsc


@pytest.mark.standalone
@pytest.mark.slow
def test_reference_and_network_agree_on_the_variant(params):
    """The acceptance: Fano factor and mean noise correlation within 10 %."""
    from ipvae_snn.network import SpikingIPVAE
    sigma, n_stim, n_trials, n_windows, cw = 0.5, 24, 25, 36, 5
    x = repeat_trials(natural_patches(n_patches=n_stim, seed=5), n_trials)
    windows = np.arange(16, n_windows)
    ref = infer(params, x, n_windows, seed=6, record_windows=windows, warn=False,
                gain_noise=sigma, dtype=np.float64)
    net = SpikingIPVAE(params, gain_noise=sigma, window=0.02).run(
        x, n_windows, seed=7, record_windows=windows, warn=False)
    f_ref, r_ref = _fano_and_rsc(trial_counts(ref, n_trials, windows), cw)
    f_net, r_net = _fano_and_rsc(trial_counts(net, n_trials, windows), cw)
    print(f"Fano reference {f_ref:.4f} network {f_net:.4f}; "
          f"r_sc reference {r_ref:.4f} network {r_net:.4f}")
    assert f_ref > 1.2 and r_ref > 0.01         # the variant is on in both
    assert abs(f_net - f_ref) < 0.1 * f_ref
    assert abs(r_net - r_ref) < 0.1 * r_ref


def test_protocols_take_the_gain_noise(params):
    from ipvae_snn.stats import noise_correlation_protocol
    kw = dict(n_stimuli=4, n_trials=12, n_windows=41)
    off = noise_correlation_protocol(params, **kw).to_dict()["mean_r_sc"]
    on = noise_correlation_protocol(params, gain_noise=0.4, **kw).to_dict()["mean_r_sc"]
    assert abs(off) < 0.01 and on > 0.03      # the shared gain: positive r_sc
