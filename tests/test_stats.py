"""
Spike statistics against closed forms (Poisson and regular trains, shared-
component correlations, von Mises tuning, log-normal rates), Elephant/neo
agreement, and the cortex reference table.
"""

import json
import math
import sys

import numpy as np
import pytest
from scipy import special
from scipy import stats as sstats

from ipvae_snn import IPVAEParams, metrics, stats
from ipvae_snn.results import InferenceResult, spike_times_from_counts
from ipvae_snn.stimuli import grating

try:
    import elephant.statistics
except ImportError:      # the numpy fallbacks are still tested
    elephant = None

needs_elephant = pytest.mark.skipif(elephant is None, reason="the 'stats' extra "
                                    "(Elephant, neo) is not installed")
BACKENDS = ["numpy", pytest.param("elephant", marks=needs_elephant)]


def poisson_train(rate, duration, rng):
    n = rng.poisson(rate * duration)
    return np.sort(rng.uniform(0.0, duration, n))


# ---------------------------------------------------------------- Fano factor
def test_fano_factor_of_poisson_counts_is_one():
    rng = np.random.default_rng(0)
    n_trials, n_neurons, lam = 200, 400, 4.0
    counts = rng.poisson(lam, size=(n_trials, n_neurons))
    f = stats.fano_factor(counts)
    # Var(s²/λ) ≈ 2/(n-1) + 1/(nλ) for Poisson counts; averaged over neurons.
    se = math.sqrt((2.0 / (n_trials - 1) + 1.0 / (n_trials * lam)) / n_neurons)
    assert f.shape == (n_neurons,)
    assert abs(f.mean() - 1.0) < 5 * se


def test_fano_factor_of_constant_counts_is_zero_and_silent_is_nan():
    counts = np.array([[3, 0], [3, 0], [3, 0]])
    f = stats.fano_factor(counts)
    assert f[0] == 0.0
    assert np.isnan(f[1])


@needs_elephant
def test_fano_factor_matches_elephant():
    neo = pytest.importorskip("neo")
    import quantities as pq
    rng = np.random.default_rng(1)
    counts = rng.poisson(3.0, size=30)
    trains = [neo.SpikeTrain(np.sort(rng.uniform(0, 1, c)), t_stop=1.0, units="s")
              for c in counts]
    expected = elephant.statistics.fanofactor(trains, warn_tolerance=1 * pq.ms)
    assert stats.fano_factor(counts, ddof=0) == pytest.approx(expected, rel=1e-12)
    # The default (ddof=1) is the unbiased variance over the mean.
    assert stats.fano_factor(counts) == pytest.approx(
        np.var(counts, ddof=1) / np.mean(counts), rel=1e-12)


def test_fano_factor_rejects_bad_counts():
    with pytest.raises(ValueError, match="negative"):
        stats.fano_factor([[1, -1], [2, 2]])
    with pytest.raises(ValueError, match="too few"):
        stats.fano_factor([[1, 2]])


# ---------------------------------------------------------------- ISI CV / LV
@pytest.mark.parametrize("backend", BACKENDS)
def test_poisson_train_has_cv_and_lv_one(backend):
    rng = np.random.default_rng(2)
    t = poisson_train(50.0, 200.0, rng)
    n = t.size - 1                                   # intervals
    # Exponential intervals: Var(CV̂) ≈ 1/n (delta method).
    assert abs(stats.isi_cv(t, backend=backend) - 1.0) < 4 / math.sqrt(n)
    # (I1 - I2)/(I1 + I2) is uniform on [-1, 1] for i.i.d. exponentials, so each
    # LV term 3U² has mean 1 and variance 0.8; neighbouring terms share an
    # interval, |cov| <= 0.8 bounds the variance of the mean by 2.4/(n-1).
    assert abs(stats.isi_lv(t, backend=backend) - 1.0) < 4 * math.sqrt(2.4 / (n - 1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_regular_train_has_cv_and_lv_zero(backend):
    t = np.arange(100) * 0.025 + 0.01
    assert stats.isi_cv(t, backend=backend) == pytest.approx(0.0, abs=1e-12)
    assert stats.isi_lv(t, backend=backend) == pytest.approx(0.0, abs=1e-12)


@needs_elephant
def test_elephant_and_numpy_backends_agree():
    rng = np.random.default_rng(3)
    trains = [poisson_train(r, 5.0, rng) for r in rng.uniform(1, 40, 25)]
    trains.append(np.array([0.5]))                   # too few spikes: NaN
    for func in (stats.isi_cv, stats.isi_lv):
        a = func(trains, backend="numpy")
        b = func(trains, backend="elephant")
        assert a.shape == (26,)
        np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)
        assert np.isnan(a[-1])
    np.testing.assert_array_equal(stats.isi(trains[0], backend="numpy"),
                                  stats.isi(trains[0], backend="elephant"))
    np.testing.assert_allclose(stats.isi(trains[0]), np.diff(trains[0]))


def test_isi_measures_accept_neo_trains_and_validate():
    neo = pytest.importorskip("neo")
    t = np.array([0.1, 0.3, 0.4, 0.8, 0.9])
    st = neo.SpikeTrain(t * 1000, t_stop=1000, units="ms")
    # Ratios do not depend on the time unit.
    assert stats.isi_cv(st) == pytest.approx(stats.isi_cv(t))
    assert stats.isi_lv([st, st])[1] == pytest.approx(stats.isi_lv(t))
    with pytest.raises(ValueError, match="not sorted"):
        stats.isi_cv(np.array([0.3, 0.1, 0.5]))
    with pytest.raises(ValueError, match="min_spikes"):
        stats.isi_lv(t, min_spikes=2)
    with pytest.raises(ValueError, match="backend"):
        stats.isi_cv(t, backend="torch")


# ---------------------------------------------------------------- noise correlations
def test_noise_correlation_recovers_shared_poisson_component():
    rng = np.random.default_rng(4)
    n_trials, n_neurons, lam_shared, lam_private = 4000, 12, 2.0, 6.0
    shared = rng.poisson(lam_shared, size=(n_trials, 1))
    counts = shared + rng.poisson(lam_private, size=(n_trials, n_neurons))
    rho = lam_shared / (lam_shared + lam_private)    # Cov = λs, Var = λs + λp
    r = stats.noise_correlation(counts)
    assert r.shape == (n_neurons, n_neurons)
    np.testing.assert_allclose(np.diag(r), 1.0)
    np.testing.assert_allclose(r, r.T)
    pairs = stats.pair_values(r)
    assert pairs.size == n_neurons * (n_neurons - 1) // 2
    se = (1 - rho ** 2) / math.sqrt(n_trials)        # one pair's standard error
    assert abs(pairs.mean() - rho) < 4 * se


@pytest.mark.parametrize("method", ["zscore", "mean"])
def test_noise_correlation_removes_the_stimulus_driven_part(method):
    rng = np.random.default_rng(5)
    n_stim, n_trials, n_neurons = 30, 60, 8
    # All neurons follow the stimulus (strong signal correlation), but their
    # trial-to-trial fluctuations are independent: r_sc = 0.
    drive = rng.uniform(1, 20, size=(n_stim, 1, 1))
    counts = rng.poisson(drive * np.ones((n_stim, n_trials, n_neurons)))
    pooled = np.corrcoef(counts.reshape(-1, n_neurons).T)
    assert stats.pair_values(pooled).mean() > 0.5          # what pooling would say
    r = stats.noise_correlation(counts, method=method)
    assert abs(stats.pair_values(r).mean()) < 4 / math.sqrt(n_stim * n_trials)


def test_noise_correlation_of_silent_neuron_is_nan():
    rng = np.random.default_rng(6)
    counts = rng.poisson(3.0, size=(50, 3))
    counts[:, 1] = 0
    r = stats.noise_correlation(counts)
    assert np.isnan(r[1]).all() and np.isnan(r[:, 1]).all()
    assert stats.pair_values(r).size == 1
    with pytest.raises(ValueError, match="at least 2 trials"):
        stats.noise_correlation(counts[:1])


# ---------------------------------------------------------------- sparseness and rates
def test_sparseness_is_reused_from_metrics():
    assert stats.lifetime_sparseness is metrics.lifetime_sparseness
    assert stats.population_sparseness is metrics.population_sparseness
    one_hot = np.zeros((1, 10))
    one_hot[0, 3] = 5
    assert stats.population_sparseness(one_hot)[0] == pytest.approx(1.0)
    assert stats.population_sparseness(np.full((1, 10), 2.0))[0] == pytest.approx(0.0)
    assert stats.lifetime_sparseness(one_hot.T)[0] == pytest.approx(1.0)
    assert stats.lifetime_sparseness(np.full((10, 1), 2.0))[0] == pytest.approx(0.0)


def test_firing_rates_divide_mean_counts_by_window():
    counts = np.array([[[1, 0], [3, 2]], [[2, 0], [2, 2]]])   # (2, 2, 2 neurons)
    np.testing.assert_allclose(stats.firing_rates(counts, 0.1), [20.0, 10.0])
    with pytest.raises(ValueError, match="window_s"):
        stats.firing_rates(counts, 0.0)


def test_lognormal_fit_recovers_parameters():
    rng = np.random.default_rng(7)
    mu, sigma, n = 1.2, 0.8, 20000
    rates = np.concatenate([rng.lognormal(mu, sigma, n), np.zeros(37)])
    fit = stats.lognormal_fit(rates)
    assert fit.n_fit == n and fit.n_zero == 37
    assert abs(fit.mu - mu) < 4 * sigma / math.sqrt(n)
    assert abs(fit.sigma - sigma) < 4 * sigma / math.sqrt(2 * n)
    assert fit.median == pytest.approx(math.exp(fit.mu))
    assert fit.sigma_log10 == pytest.approx(fit.sigma / math.log(10))
    # The maximum-likelihood fit is scipy's with the location fixed at 0.
    s, loc, scale = sstats.lognorm.fit(rates[rates > 0], floc=0)
    assert fit.sigma == pytest.approx(s, rel=1e-6)
    assert fit.median == pytest.approx(scale, rel=1e-6)
    # A correct model sits well inside the 1 % Kolmogorov band; a uniform sample
    # does not.
    assert fit.ks_statistic < 1.63 / math.sqrt(n)
    assert stats.lognormal_fit(rng.uniform(1, 2, n)).ks_statistic > 5 / math.sqrt(n)
    with pytest.raises(ValueError, match="positive"):
        stats.lognormal_fit([0.0, 0.0, 1.0])


# ---------------------------------------------------------------- orientation tuning
def von_mises(theta, pref, kappa, amp=2.0):
    return amp * np.exp(kappa * (np.cos(2 * np.deg2rad(theta - pref)) - 1))


def von_mises_half_width(kappa, level):
    return 0.5 * np.rad2deg(np.arccos(1 + np.log(level) / kappa))


@pytest.mark.parametrize("pref", [30.0, 92.5, 178.0])
@pytest.mark.parametrize("kappa", [1.0, 3.0])
def test_von_mises_tuning_gives_known_measures(pref, kappa):
    ori = np.arange(36) * 5.0
    curve = von_mises(ori, pref, kappa)
    assert stats.preferred_orientation(curve, ori) == pytest.approx(pref, abs=1e-6)
    # Evenly sampled, the discrete resultant equals the continuous one up to
    # aliasing of the 35th harmonic: CV = 1 - I1(κ)/I0(κ).
    cv = 1 - special.i1e(kappa) / special.i0e(kappa)
    assert stats.circular_variance(curve, ori) == pytest.approx(cv, abs=1e-9)
    assert stats.orientation_selectivity_index(curve, ori, "vector") == \
        pytest.approx(1 - cv, abs=1e-9)
    for level in (0.5, stats.RINGACH_LEVEL):
        assert stats.tuning_half_width(curve, ori, level=level) == pytest.approx(
            von_mises_half_width(kappa, level), abs=0.3)


def test_osi_pref_orth_of_von_mises_is_tanh_kappa():
    ori = np.arange(12) * 15.0
    for kappa in (0.5, 2.0):
        curve = von_mises(ori, 45.0, kappa)
        # (e^0 - e^{-2κ}) / (e^0 + e^{-2κ}) = tanh(κ)
        assert stats.orientation_selectivity_index(curve, ori) == pytest.approx(
            math.tanh(kappa), rel=1e-12)
    # Orthogonal orientation not sampled: interpolated.
    ori = np.array([0.0, 20, 45, 70, 100, 120, 150])
    assert stats.orientation_selectivity_index(von_mises(ori, 45.0, 2.0), ori) == \
        pytest.approx(math.tanh(2.0), abs=0.02)


def test_flat_and_silent_tuning_curves():
    ori = np.arange(8) * 22.5
    flat = np.full(8, 3.0)
    assert stats.circular_variance(flat, ori) == pytest.approx(1.0)
    assert stats.tuning_half_width(flat, ori) == 90.0
    assert stats.orientation_selectivity_index(flat, ori) == pytest.approx(0.0)
    silent = np.zeros((8, 2))
    assert np.isnan(stats.circular_variance(silent, ori)).all()
    assert np.isnan(stats.tuning_half_width(silent, ori)).all()
    assert np.isnan(stats.preferred_orientation(silent, ori, method="peak")).all()


def test_smoothing_broadens_a_sharp_curve():
    ori = np.arange(36) * 5.0
    curve = von_mises(ori, 60.0, 8.0)
    plain = stats.tuning_half_width(curve, ori, level=stats.RINGACH_LEVEL)
    smooth = stats.tuning_half_width(curve, ori, level=stats.RINGACH_LEVEL, smoothing=10.0)
    assert smooth > plain + 2.0
    # Smoothing a flat curve keeps it flat.
    assert stats.tuning_half_width(np.ones(36), ori, smoothing=10.0) == 90.0


def test_tuning_curves_average_over_other_parameters():
    ori = np.array([0.0, 0.0, 90.0, 90.0, 180.0, 270.0])   # 180 ≡ 0, 270 ≡ 90
    resp = np.array([[1.0], [3.0], [10.0], [20.0], [5.0], [0.0]])
    uniq, curves = stats.tuning_curves(resp, ori)
    np.testing.assert_allclose(uniq, [0.0, 90.0])
    np.testing.assert_allclose(curves[:, 0], [3.0, 10.0])


def test_orientation_tuning_and_summary():
    ori = np.repeat(np.arange(18) * 10.0, 4)                 # 4 phases each
    prefs = np.array([20.0, 100.0, 150.0])
    resp = np.stack([von_mises(ori, p, 2.0) for p in prefs], axis=1)
    resp = np.concatenate([resp, np.zeros((ori.size, 1))], axis=1)  # a silent neuron
    tu = stats.orientation_tuning(resp, ori)
    assert tu.curves.shape == (18, 4)
    np.testing.assert_allclose(tu.preferred[:3], prefs, atol=1e-6)
    np.testing.assert_allclose(tu.hwhh[:3], von_mises_half_width(2.0, 0.5), atol=0.3)
    summary = stats.orientation_summary(tu, min_peak=0.1)
    assert summary["n_tuning_neurons"] == 3
    assert summary["circular_variance"] == pytest.approx(
        1 - special.i1e(2.0) / special.i0e(2.0), abs=1e-9)
    assert summary["orientation_bandwidth_deg"] == pytest.approx(
        von_mises_half_width(2.0, stats.RINGACH_LEVEL), abs=0.3)


def test_tuning_inputs_are_validated():
    with pytest.raises(ValueError, match="negative"):
        stats.circular_variance([1.0, -1.0], [0.0, 90.0])
    with pytest.raises(ValueError, match="repeated"):
        stats.circular_variance([1.0, 2.0], [0.0, 180.0])
    with pytest.raises(ValueError, match="rows"):
        stats.circular_variance(np.ones((3, 2)), [0.0, 90.0])
    with pytest.raises(ValueError, match="level"):
        stats.tuning_half_width([1.0, 2.0], [0.0, 90.0], level=1.0)


def test_receptive_field_tuning_of_gratings():
    oris = np.array([0.0, 30.0, 75.0, 90.0, 135.0, 160.0])
    sfs = np.array([0.125, 0.25, 0.2, 0.3, 0.25, 0.15])
    phi = np.stack([grating(o, f, phase=17.0).ravel() for o, f in zip(oris, sfs)],
                   axis=1)
    ori, sf = stats.receptive_field_tuning(phi, pad=256)
    diff = np.abs(np.mod(ori - oris + 90, 180) - 90)
    assert diff.max() < 2.0
    np.testing.assert_allclose(sf, sfs, atol=0.01)


# ---------------------------------------------------------------- neo export
def test_neo_export_round_trips_spike_times():
    neo = pytest.importorskip("neo")
    counts = np.array([[2, 0, 1], [0, 0, 3], [1, 0, 0]])
    neuron, t = spike_times_from_counts(counts, window_s=0.1, seed=0)
    trains = stats.to_neo(neuron, t, n_neurons=4, t_stop=0.3, patch=7)
    assert len(trains) == 4 and all(isinstance(s, neo.SpikeTrain) for s in trains)
    assert [len(s) for s in trains] == [3, 0, 4, 0]
    assert trains[2].annotations["neuron"] == 2 and trains[2].annotations["patch"] == 7
    assert float(trains[0].t_stop.rescale("s")) == pytest.approx(0.3)
    n2, t2 = stats.from_neo(trains)
    np.testing.assert_array_equal(n2, neuron)
    np.testing.assert_array_equal(t2, t)
    # Other units.
    n3, t3 = stats.from_neo(stats.to_neo(neuron, t * 1000, units="ms", t_stop=300))
    np.testing.assert_allclose(t3, t, rtol=1e-12)
    with pytest.raises(ValueError, match="outside"):
        stats.to_neo(neuron, t, t_stop=0.1)


def test_split_spike_trains():
    neuron = np.array([2, 0, 2, 0])
    t = np.array([0.4, 0.1, 0.2, 0.3])
    trains = stats.split_spike_trains(neuron, t, n_neurons=3)
    np.testing.assert_array_equal(trains[0], [0.1, 0.3])
    assert trains[1].size == 0
    np.testing.assert_array_equal(trains[2], [0.2, 0.4])
    with pytest.raises(ValueError, match="n_neurons"):
        stats.split_spike_trains(neuron, t, n_neurons=2)


def test_to_neo_without_neo_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "neo", None)
    with pytest.raises(ImportError, match=r"ipvae-snn\[stats\]"):
        stats.to_neo([0], [0.1])
    monkeypatch.setitem(sys.modules, "elephant", None)
    monkeypatch.setitem(sys.modules, "elephant.statistics", None)
    with pytest.raises(ImportError, match=r"ipvae-snn\[stats\]"):
        stats.isi_cv([0.1, 0.2, 0.4], backend="elephant")
    # 'auto' falls back to numpy.
    assert stats.isi_cv([0.1, 0.2, 0.4]) == pytest.approx(1 / 3)


# ---------------------------------------------------------------- network statistics
def synthetic_result(counts_by_trial, window_s=0.1):
    """An InferenceResult holding given counts (n_stim, n_trials, n_win, K)."""
    n_stim, n_trials, n_win, k = counts_by_trial.shape
    params = IPVAEParams.random(4, k, random_state=0, template=None)
    x = np.repeat(np.arange(n_stim, dtype=float)[:, None] * np.ones(4), n_trials, axis=0)
    n = n_stim * n_trials
    zeros = np.zeros((n, n_win), np.float32)
    return InferenceResult(
        params=params, x=x, n_windows=n_win, windows=np.arange(n_win),
        counts=counts_by_trial.reshape(n, n_win, k).astype(np.int32), u=None,
        u_final=np.zeros((n, k)), r2=zeros, mse=zeros, zero_fraction=zeros,
        mean_count=zeros, runaway_onset=np.full((n, k), -1, np.int32),
        info=dict(window_s=window_s))


def test_network_statistics_of_independent_poisson_neurons():
    rng = np.random.default_rng(8)
    n_stim, n_trials, n_win, k = 6, 30, 40, 60
    mu, sigma = np.log(2.0), 0.6                   # log-normal rates across neurons
    lam = rng.lognormal(mu, sigma, k) * 0.1         # mean count per 0.1 s window
    counts = rng.poisson(lam, size=(n_stim, n_trials, n_win, k))
    res = synthetic_result(counts)
    out = stats.network_statistics(res, n_trials, windows=np.arange(n_win),
                                   count_windows=5, min_mean_count=0.5)
    # Constant-rate Poisson neurons: Fano 1, no noise correlation, CV = LV = 1.
    assert out["fano_factor"] == pytest.approx(1.0, abs=0.06)
    assert abs(out["noise_correlation"]) < 0.01
    assert out["isi_cv"] == pytest.approx(1.0, abs=0.08)
    assert out["isi_lv"] == pytest.approx(1.0, abs=0.08)
    np.testing.assert_allclose(out["log10_rate_sd"], sigma / math.log(10), atol=0.05)
    assert out["median_rate_hz"] == pytest.approx(np.median(
        counts.mean(axis=(0, 1, 2)) / 0.1))
    assert out["counting_window_s"] == pytest.approx(0.5)
    assert out["n_stimuli"] == n_stim and out["n_trials"] == n_trials
    # Identical stimuli: every neuron's mean response is flat across stimuli.
    assert out["lifetime_sparseness"] < 0.05


class FixedSpikesResult(InferenceResult):
    """A result with given spike times (as the spiking network's result has)."""

    spikes = None

    def spike_trains(self, patch, window_s=None, seed=None):
        return self.spikes[patch]


@pytest.mark.parametrize("backend", BACKENDS)
def test_network_isi_statistics_pool_trials_like_the_public_functions(backend):
    rng = np.random.default_rng(11)
    n_stim, n_trials, n_win, k = 2, 5, 30, 4
    counts = rng.poisson(1.0, size=(n_stim, n_trials, n_win, k))
    base = synthetic_result(counts)
    res = FixedSpikesResult(**{a: getattr(base, a) for a in (
        "params", "x", "n_windows", "windows", "counts", "u", "u_final", "r2", "mse",
        "zero_fraction", "mean_count", "runaway_onset", "info")})
    # Gamma-distributed intervals (CV 1/sqrt(shape) = 0.5), one train per
    # neuron and trial, plus spikes outside the analysed windows 10..29.
    res.spikes = []
    for _ in range(n_stim * n_trials):
        neuron, t = [], []
        for j in range(k):
            times = np.cumsum(rng.gamma(4.0, 0.0125 / (j + 1), 400))
            times = times[times < 3.2]
            neuron.append(np.full(times.size, j))
            t.append(times)
        res.spikes.append((np.concatenate(neuron), np.concatenate(t)))
    cv, lv = stats.experiments._pooled_isi_by_stimulus(res, n_trials, k, 1.0, 3.0, 0.1, 20, 0)
    for s in range(n_stim):
        for j in range(k):
            trials = []
            for r in range(n_trials):
                neuron, t = res.spikes[s * n_trials + r]
                trials.append(t[(neuron == j) & (t >= 1.0) & (t < 3.0)])
            assert cv[s, j] == pytest.approx(
                stats.pooled_isi_cv(trials, backend=backend), rel=1e-9, nan_ok=True)
            assert lv[s, j] == pytest.approx(
                stats.pooled_isi_lv(trials, backend=backend), rel=1e-9, nan_ok=True)
    # Gamma(4) intervals: CV = 0.5, LV = 3/(2·4 + 1) = 1/3 (Shinomoto et al. 2003).
    assert np.median(cv) == pytest.approx(0.5, abs=0.1)
    assert np.median(lv) == pytest.approx(1 / 3, abs=0.1)
    out = stats.network_statistics(res, n_trials, windows=np.arange(10, 30))
    assert out["isi_cv"] == pytest.approx(np.median(cv))


def test_trial_layout_is_checked():
    rng = np.random.default_rng(9)
    res = synthetic_result(rng.poisson(1.0, size=(3, 4, 5, 2)))
    with pytest.raises(ValueError, match="repeat_trials"):
        stats.trial_counts(res, 3)              # 12 patches, but not 4 x 3 repeats
    with pytest.raises(ValueError, match="multiple"):
        stats.trial_counts(res, 5)
    c = stats.trial_counts(res, 4, windows=[1, 2, 3])
    assert c.shape == (3, 4, 3, 2)
    np.testing.assert_array_equal(stats.repeat_trials(np.eye(2), 3)[:, 0],
                                  [1, 1, 1, 0, 0, 0])


def test_network_statistics_on_the_reference_model(params):
    from ipvae_snn import infer
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 256))
    res = infer(params, stats.repeat_trials(x, 6), 40, seed=0, progress=False,
                warn=False)
    out = stats.network_statistics(res, 6, count_windows=4)
    for key in ("fano_factor", "noise_correlation", "isi_cv", "isi_lv",
                "lifetime_sparseness", "population_sparseness", "log10_rate_sd",
                "median_rate_hz"):
        assert np.isfinite(out[key]), key
    assert out["analysis_s"] == pytest.approx(24 * 0.1)      # windows 16..39
    rows = stats.cortex_table(out)
    assert any(r["measure"] == "fano_factor" and r["inside"] is not None for r in rows)


# ---------------------------------------------------------------- cortex reference
def test_cortex_reference_is_complete():
    ref = stats.load_cortex_reference()
    measures = ref["measures"]
    for key in ("fano_factor", "isi_cv", "isi_lv", "lifetime_sparseness",
                "noise_correlation", "log10_rate_sd", "circular_variance",
                "orientation_bandwidth_deg"):
        m = measures[key]
        assert m["range"][0] < m["range"][1]
        assert m["sources"]
        for s in m["sources"]:
            for field in ("species", "area", "condition", "finding", "location"):
                assert s[field]
    cited = {s["reference"] for m in measures.values() for s in m["sources"]}
    assert cited == set(ref["references"])
    for r in ref["references"].values():
        assert r["citation"] and r["doi"] and r["short"]


def test_cortex_table_marks_inside_and_outside():
    ref = stats.load_cortex_reference()
    low, high = ref["measures"]["fano_factor"]["range"]
    rows = {r["measure"]: r for r in stats.cortex_table(
        {"fano_factor": (low + high) / 2, "isi_cv": 10.0, "osi": 0.5,
         "isi_lv": float("nan"), "unknown": 1.0})}
    assert rows["fano_factor"]["inside"] is True
    assert rows["isi_cv"]["inside"] is False
    assert rows["osi"]["inside"] is None and rows["osi"]["network"] == 0.5
    assert rows["isi_lv"]["network"] is None and rows["isi_lv"]["inside"] is None
    assert "unknown" not in rows
    text = stats.format_cortex_table(list(rows.values()))
    assert "Fano factor" in text and "Tolhurst et al. 1983" in text


def test_cortex_reference_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        stats.load_cortex_reference(tmp_path / "missing.json")
    ref = stats.load_cortex_reference()
    ref["measures"]["fano_factor"]["range"] = [2.0, 1.0]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(ref))
    with pytest.raises(ValueError, match="fano_factor"):
        stats.load_cortex_reference(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        stats.load_cortex_reference(bad)


# ---------------------------------------------------------------- figures
@pytest.fixture(autouse=True)
def _close_figures():
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture()
def small_run():
    from ipvae_snn import infer
    params = IPVAEParams.random(256, 24, random_state=1, template=None)
    x = np.random.default_rng(12).standard_normal((2, 256))
    return infer(params, x, 30, seed=0, record_u=True, progress=False, warn=False)


def test_plot_raster_shows_every_spike_in_the_span(small_run, tmp_path):
    from ipvae_snn import plotting
    fig = plotting.plot_raster(small_run, patch=1, windows=range(5, 20), sort_by="index",
                               seed=3, path=tmp_path / "raster.png")
    assert (tmp_path / "raster.png").stat().st_size > 0
    neuron, t = small_run.spike_trains(1, seed=3)
    in_span = (t >= 0.5) & (t < 2.0)
    offsets = fig.axes[1].collections[0].get_offsets()
    assert len(offsets) == in_span.sum()
    np.testing.assert_allclose(np.sort(offsets[:, 0]), np.sort(t[in_span]))
    # Orientation sorting colours the spikes and adds a colour bar.
    fig = plotting.plot_raster(small_run, sort_by="orientation", population_rate=False)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="sort_by"):
        plotting.plot_raster(small_run, sort_by="size")
    with pytest.raises(ValueError, match="patch"):
        plotting.plot_raster(small_run, patch=2)
    with pytest.raises(ValueError, match="not recorded"):
        plotting.plot_raster(small_run, windows=[40])


def test_plot_membrane_traces_draws_the_recorded_potential(small_run):
    from ipvae_snn import plotting
    fig = plotting.plot_membrane_traces(small_run, patch=0, neurons=[3, 7])
    assert len([a for a in fig.axes if a.get_ylabel().startswith("neuron")]) == 2
    drawn = [c for c in fig.axes[0].get_children() if type(c).__name__ == "StepPatch"]
    assert len(drawn) == 1
    np.testing.assert_allclose(drawn[0].get_data().values, small_run.u[0, :, 3])
    no_u = InferenceResult(**{**{a: getattr(small_run, a) for a in (
        "params", "x", "n_windows", "windows", "counts", "u_final", "r2", "mse",
        "zero_fraction", "mean_count", "runaway_onset", "info")}, "u": None})
    with pytest.raises(ValueError, match="record_u"):
        plotting.plot_membrane_traces(no_u)


def test_plot_dictionary_tiles_the_atoms(small_run):
    from ipvae_snn import plotting
    fig = plotting.plot_dictionary(small_run.params, n_cols=6)
    mosaic = fig.axes[0].images[0].get_array()
    atom = small_run.params.phi[:, 7].reshape(16, 16)
    r, c = divmod(7, 6)
    np.testing.assert_allclose(mosaic[1 + 17 * r:17 + 17 * r, 1 + 17 * c:17 + 17 * c],
                               atom / np.abs(atom).max())
    with pytest.raises(ValueError, match="order"):
        plotting.plot_dictionary(small_run.params, order="size")


def test_plot_window_curves_and_cortex_comparison(small_run):
    from ipvae_snn import plotting
    fig = plotting.plot_window_curves({"a": small_run, "b": small_run})
    r2_lines = fig.axes[0].get_lines()
    assert len(r2_lines) == 2
    np.testing.assert_allclose(r2_lines[0].get_ydata(),
                               np.nanmean(small_run.r2[:, 1:], axis=0), rtol=1e-6)
    ref = stats.load_cortex_reference()
    low, high = ref["measures"]["fano_factor"]["range"]
    fig = plotting.plot_cortex_comparison({"fano_factor": (low + high) / 2,
                                           "isi_cv": 100.0})
    assert len(fig.axes) == len(ref["measures"])
    colours = {}
    for ax in fig.axes[:3]:
        label = ax.get_yticklabels()[0].get_text()
        dots = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
        colours[label] = dots[0].get_color() if dots else None
    assert colours["Fano factor"] == "tab:green"
    assert colours["ISI CV"] == "tab:red"
    assert colours["noise correlation r_sc"] is None


def test_plot_tuning_curves():
    from ipvae_snn import plotting
    ori = np.arange(18) * 10.0
    resp = np.stack([von_mises(ori, p, 2.0) for p in (10.0, 80.0, 130.0)], axis=1)
    tu = stats.orientation_tuning(resp, ori)
    fig = plotting.plot_tuning_curves(tu)
    curves = [ax for ax in fig.axes if ax.get_lines() and ax.get_xlim() == (0, 180)]
    assert len(curves) == 3
    np.testing.assert_allclose(curves[0].get_lines()[0].get_ydata()[:-1], resp[:, 0])
