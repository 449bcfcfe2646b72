"""
The numpy reference algorithm against the official code:
step-exact replay of the official traces, statistics of the official metrics,
and the properties of the fast sampler and the diagnostics.
"""

import warnings

import numpy as np
import pytest
from scipy import stats

from ipvae_snn import RunawayWarning, fond_update, infer, replay
from ipvae_snn.data import natural_patches
from ipvae_snn.reference import poisson_counts


# ------------------------------------------------------------ step-exact
def test_teacher_forced_steps_match_official(reference_params, traces):
    """Each official step u_t -> u_{t+1}, fed its recorded counts, to 1e-5."""
    u, z, x = traces["u"], traces["z"], traces["x"]
    target = np.concatenate([u[:, 1:], traces["u_final"][:, None]], axis=1)
    pred = fond_update(reference_params, u, z, x[:, None, :], dtype=np.float64)
    assert pred.shape == target.shape == (len(x), 64, 512)
    err = np.abs(pred - target).max(axis=(0, 2))          # per step
    assert err.max() <= 1e-5, f"worst step {err.argmax()}: {err.max():.2e}"


def test_free_running_replay_matches_official(reference_params, traces):
    """64 steps from u_init driven by the recorded counts, to 1e-4."""
    u = replay(reference_params, traces["x"], traces["z"], dtype=np.float64)
    target = np.concatenate([traces["u"], traces["u_final"][:, None]], axis=1)
    n = len(traces["x"])
    assert u.shape == target.shape == (n, 65, 512)
    np.testing.assert_array_equal(u[:, 0], np.broadcast_to(reference_params.u_init,
                                                           (n, 512)))
    assert np.abs(u - target).max() <= 1e-4


def test_replay_rejects_bad_counts(params):
    x = np.zeros((2, params.n_pixels))
    with pytest.raises(ValueError, match="counts"):
        replay(params, x, np.zeros((3, 4, params.n_latents)))


# ------------------------------------------------------------ statistical
@pytest.mark.slow
def test_metrics_match_official_on_shared_patches(reference_params, shared_patches,
                                                  metrics):
    """Mean R², zero fraction (and mean count) at T = 16 and 1000 within 0.01."""
    x = shared_patches["shared"]
    assert x.shape == (2000, 256)
    res = infer(reference_params, x, 1001, seed=2024, record_counts=False,
                progress=False)
    official = metrics["results"]["temp=0"]["by_T"]
    for T in (16, 1000):
        ref = official[str(T)]
        r2 = float(np.nanmean(res.r2[:, T]))
        zf = float(res.zero_fraction[:, T].mean())
        count = float(res.mean_count[:, T].mean())
        assert abs(r2 - ref["r2"]) <= 0.01, (T, r2, ref["r2"])
        assert abs(zf - ref["frac_zero_counts_at_T"]) <= 0.01, (T, zf)
        assert abs(count - ref["spike_mean_at_T"]) <= 0.02, (T, count)


def test_float32_and_float64_agree(params):
    """Same distribution of read-outs: a paired test per patch (R² and zero
    fraction averaged over windows 16..64) must not reject at 4 standard errors."""
    x = natural_patches(n_patches=300, seed=11)
    r32 = infer(params, x, 65, seed=1, dtype=np.float32, record_counts=False,
                progress=False)
    r64 = infer(params, x, 65, seed=2, dtype=np.float64, record_counts=False,
                progress=False)
    assert r32.u_final.dtype == np.float32 and r64.u_final.dtype == np.float64
    for key in ("r2", "zero_fraction"):
        a = getattr(r32, key)[:, 16:65].mean(axis=1)
        b = getattr(r64, key)[:, 16:65].mean(axis=1)
        d = a.astype(np.float64) - b
        se = d.std(ddof=1) / np.sqrt(d.size)
        assert abs(d.mean()) < 4 * se + 1e-6, (key, d.mean(), se)
        assert abs(d.mean()) < 0.01, key


# ------------------------------------------------------------ determinism
def test_seeded_runs_are_reproducible(params):
    x = natural_patches(n_patches=40, seed=0)
    a = infer(params, x, 20, seed=7, progress=False)
    b = infer(params, x, 20, seed=7, progress=False)
    c = infer(params, x, 20, seed=8, progress=False)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.u_final, b.u_final)
    np.testing.assert_array_equal(a.r2, b.r2)
    assert not np.array_equal(a.counts, c.counts)


def test_results_do_not_depend_on_thread_count(params):
    x = natural_patches(n_patches=70, seed=1)
    runs = [infer(params, x, 20, seed=3, block_size=16, n_jobs=n, progress=False)
            for n in (1, 2, 3)]
    assert [r.info["n_jobs"] for r in runs] == [1, 2, 3]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.counts, runs[0].counts)
        np.testing.assert_array_equal(r.u_final, runs[0].u_final)


# ------------------------------------------------------------ sampler
RATES = np.array([0.002, 0.05, 0.4, 1.0, 2.5, 7.9, 8.1, 15.0, 60.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_poisson_counts_distribution(dtype):
    """Closed-form mean, variance and P(0), and a chi-square fit, for small
    rates (CDF inversion) and rates > 8 (numpy's sampler), mixed in one call."""
    n = 100_000
    rate = np.tile(RATES.astype(dtype), (n, 1))
    counts = poisson_counts(rate, np.random.default_rng(123))
    assert counts.shape == rate.shape
    assert np.all(counts >= 0) and np.all(counts == np.round(counts))
    for j, lam in enumerate(RATES):
        z = counts[:, j].astype(np.int64)
        assert abs(z.mean() - lam) < 5 * np.sqrt(lam / n), lam
        # var of the sample variance of a Poisson: (λ + 2λ²) / n
        assert abs(z.var(ddof=1) - lam) < 5 * np.sqrt((lam + 2 * lam ** 2) / n), lam
        p0 = np.exp(-lam)
        assert abs(np.mean(z == 0) - p0) < 5 * np.sqrt(p0 * (1 - p0) / n) + 1e-9, lam
        # chi-square over the values with enough expected counts, tails pooled
        k = np.arange(z.max() + 1)
        expected = n * stats.poisson.pmf(k, lam)
        keep = np.flatnonzero(expected >= 20)
        lo, hi = keep[0], keep[-1]
        observed = np.bincount(z, minlength=k.size)
        obs = np.r_[observed[:lo + 1].sum(), observed[lo + 1:hi], observed[hi:].sum()]
        exp = np.r_[n * stats.poisson.cdf(lo, lam), expected[lo + 1:hi],
                    n * stats.poisson.sf(hi - 1, lam)]
        if obs.size > 1:
            p = stats.chisquare(obs, exp * n / exp.sum()).pvalue
            assert p > 1e-3, (lam, p)


def test_poisson_counts_zero_rate_and_out_buffer():
    rate = np.zeros((3, 4))
    out = np.full((3, 4), 99, dtype=np.int32)
    poisson_counts(rate, np.random.default_rng(0), out=out)
    assert np.all(out == 0)


# ------------------------------------------------------------ runaway
def _atom_input(params, k=7, contrast=30.0):
    atom = params.phi[:, k] / np.linalg.norm(params.phi[:, k])
    return contrast * atom


def test_runaway_diagnostic(raw_params):
    """A huge-contrast copy of one dictionary atom drives neurons to the clamp
    (of a model that takes its inputs as given); the reported onsets equal the
    first window whose recorded potential is within the margin of the clamp."""
    params = raw_params
    x = np.stack([_atom_input(params), natural_patches(n_patches=1, seed=0)[0]])
    with pytest.warns(RunawayWarning, match="patch 0"):
        res = infer(params, x, 20, seed=0, record_u=True, progress=False)
    u = np.concatenate([res.u, res.u_final[:, None]], axis=1)   # u_0 .. u_20
    above = u > params.clamp_u - 1.0
    expected = np.where(above.any(axis=1), above.argmax(axis=1), -1)
    np.testing.assert_array_equal(res.runaway_onset, expected)
    assert res.runaway_onset[0, 7] >= 1                  # the driven neuron
    assert np.all(res.runaway_onset[1] == -1)            # an ordinary patch
    events = res.runaway_events()
    assert events and all(p == 0 for p, _, _ in events)
    assert (0, 7, int(res.runaway_onset[0, 7])) in events
    assert [e[2] for e in events] == sorted(e[2] for e in events)
    assert "max_count" in res.runaway_message()


def test_ordinary_patches_do_not_warn(params):
    x = natural_patches(n_patches=50, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RunawayWarning)
        res = infer(params, x, 65, seed=0, record_counts=False, progress=False)
    assert res.runaway_events() == [] and res.runaway_message() == ""


def test_max_count_bounds_counts(raw_params):
    params = raw_params                 # the inputs as given: a huge-contrast atom
    x = np.repeat(_atom_input(params)[None], 200, axis=0)
    free = infer(params, x, 16, seed=0, warn=False, progress=False)
    bounded = infer(params, x, 16, seed=0, max_count=3, warn=False, progress=False)
    assert free.counts.max() > 1000
    assert bounded.counts.max() < 20
    # the rate λ/(1 + λ/3) stays below 3, so the mean count does too
    assert bounded.counts[:, 4:].mean(axis=(0, 1)).max() < 3.2
    with pytest.raises(ValueError, match="max_count"):
        infer(params, x[:1], 2, max_count=-1)


# ------------------------------------------------------------ recording, inputs
def test_record_windows(params):
    x = natural_patches(n_patches=5, seed=2)
    res = infer(params, x, 30, seed=0, record_windows=[29, 0, 7, 7], record_u=True,
                progress=False)
    np.testing.assert_array_equal(res.windows, [0, 7, 29])
    assert res.counts.shape == (5, 3, params.n_latents)
    assert res.u.shape == (5, 3, params.n_latents)
    np.testing.assert_array_equal(res.u[:, 0], np.broadcast_to(
        params.u_init.astype(np.float32), (5, params.n_latents)))
    assert res.r2.shape == (5, 30)               # read-outs of every window
    # R² of the reconstruction against the input as the network saw it (res.x:
    # divided by its contrast, for a model with a contrast normalisation)
    seen = res.x
    np.testing.assert_allclose(
        res.r2[:, 7], 1 - ((seen - res.reconstruction(7)) ** 2).sum(1)
        / ((seen - seen.mean(1, keepdims=True)) ** 2).sum(1), rtol=1e-4, atol=1e-4)
    with pytest.raises(KeyError, match="window 8"):
        res.counts_at(8)
    assert [row["T"] for row in res.summary()] == [1, 4, 16, 29]
    with pytest.raises(ValueError, match="record_windows"):
        infer(params, x, 30, record_windows=[30])


def test_memory_guard(params):
    x = natural_patches(n_patches=5, seed=2)
    with pytest.raises(ValueError, match="record_windows"):
        infer(params, x, 100, max_record_bytes=100_000)
    res = infer(params, x, 100, record_windows=[99], max_record_bytes=100_000,
                progress=False)
    assert res.counts.shape == (5, 1, params.n_latents)


@pytest.mark.parametrize("x, needle", [
    (np.zeros((2, 255)), "x: each patch must have 256 pixels"),
    (np.zeros((2, 15, 15)), "x: each patch must have 256 pixels"),
    (np.zeros((0, 256)), "x: no patches"),
    (np.array([["a"] * 256]), "x: expected a numeric array"),
])
def test_bad_patches(params, x, needle):
    with pytest.raises(ValueError, match=needle):
        infer(params, x, 3)


def test_non_finite_patches(params):
    x = np.zeros((3, 256))
    x[2, 10] = np.nan
    with pytest.raises(ValueError, match=r"x: 1 non-finite.*\[2\]"):
        infer(params, x, 3)


@pytest.mark.parametrize("n_windows", [0, -1, 2.5, True, "3"])
def test_bad_n_windows(params, n_windows):
    with pytest.raises(ValueError, match="n_windows"):
        infer(params, np.zeros(256), n_windows)


@pytest.mark.parametrize("kwargs, needle", [
    (dict(dtype=np.int32), "dtype"), (dict(block_size=0), "block_size"),
])
def test_bad_options(params, kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        infer(params, np.zeros(256), 3, **kwargs)
