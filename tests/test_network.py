"""
The spiking network against independent truth: the official recorded traces
(replay), the reference algorithm's statistics, and its own promises (compile
once, clear errors, runaway handling). Tests are marked per code-generation
target (``runtime``, ``standalone``) as Brian2's own suite does.
"""

import os
import warnings

import numpy as np
import pytest
from brian2 import Hz, ms, second

from ipvae_snn import network
from ipvae_snn.network import SpikingIPVAE
from ipvae_snn.reference import infer
from ipvae_snn.results import RunawayWarning, SpikingResult


@pytest.fixture(scope="session")
def build_cache(tmp_path_factory):
    """Compiled networks for this session (or a persistent $IPVAE_SNN_CACHE)."""
    return os.environ.get("IPVAE_SNN_CACHE") or str(tmp_path_factory.mktemp("builds"))


def _check_replay(net, traces, n_patches=8, n_windows=64):
    x, z = traces["x"][:n_patches], traces["z"][:n_patches, :n_windows]
    res = net.run(x, n_windows, replay_counts=z, seed=0)
    assert isinstance(res, SpikingResult)
    # the replayed counts went through the synapses unchanged
    np.testing.assert_array_equal(res.counts, z)
    # u_trace[:, :, t] is the potential of window t, the official u[:, t]
    u = res.u_trace.transpose(0, 2, 1)
    err = np.abs(u - traces["u"][:n_patches, :n_windows])
    assert err.max() <= 1e-4, err.max()
    assert np.abs(res.u_final - traces["u_final"][:n_patches]).max() <= 1e-4
    return err.max()


@pytest.mark.runtime
def test_replay_runtime_matches_official(reference_params, traces):
    net = SpikingIPVAE(reference_params, device="runtime", record_u=True)
    _check_replay(net, traces, n_patches=8, n_windows=64)


@pytest.mark.standalone
def test_replay_standalone_matches_official(reference_params, traces, build_cache):
    net = SpikingIPVAE(reference_params, device="cpp_standalone", record_u=True,
                       cache_dir=build_cache)
    _check_replay(net, traces, n_patches=8, n_windows=64)


@pytest.fixture(scope="session")
def window_runs(reference_params, shared_patches, build_cache):
    """Window realization and reference on the same 1,000 shared patches."""
    x = shared_patches["shared"][::2]
    net = SpikingIPVAE(reference_params, device="cpp_standalone", cache_dir=build_cache)
    snn = net.run(x, 1001, seed=1, record_windows=[16, 1000])
    ref = infer(reference_params, x, 1001, seed=1, record_windows=[16, 1000])
    return snn, ref


@pytest.mark.standalone
@pytest.mark.slow
@pytest.mark.parametrize("T", [16, 1000])
def test_window_realization_equals_reference_in_distribution(window_runs, T):
    snn, ref = window_runs
    assert snn.n_patches >= 200
    for name in ("r2", "zero_fraction"):
        a = float(np.nanmean(getattr(snn, name)[:, T]))
        b = float(np.nanmean(getattr(ref, name)[:, T]))
        assert abs(a - b) <= 0.01, (name, T, a, b)
    # the posterior samples have the reference's distribution, not just its mean
    za, zb = snn.counts_at(T).ravel(), ref.counts_at(T).ravel()
    for k in range(4):
        assert abs(np.mean(za == k) - np.mean(zb == k)) <= 0.005


@pytest.mark.standalone
def test_compile_once_run_many(reference_params, few_shared_patches, tmp_path):
    net = SpikingIPVAE(reference_params, device="cpp_standalone",
                       cache_dir=str(tmp_path), inputs_per_run=1)
    x = few_shared_patches["shared"][:50]
    results = [net.run(x[i:i + 1], 16, seed=i) for i in range(50)]
    assert net.n_builds == 1
    assert results[0].info["timing"]["compiled"]
    assert not any(r.info["timing"]["compiled"] for r in results[1:])
    # and one batch of all 50 through the same program, in parallel processes
    batch = net.run(x, 16, seed=0)
    assert net.n_builds == 1 and batch.n_patches == 50
    # a new process (new object) finds the build on disk
    again = SpikingIPVAE(reference_params, device="cpp_standalone",
                         cache_dir=str(tmp_path), inputs_per_run=1)
    again.run(x[:1], 16)
    assert again.n_builds == 0
    # running the cached program costs a small part of compiling it
    per_run = np.median([r.info["timing"]["per_run_s"] for r in results[1:]])
    assert 0 < per_run < results[0].info["timing"]["build_s"] / 5, \
        (per_run, results[0].info["timing"]["build_s"])


@pytest.mark.standalone
def test_new_parameters_need_no_rebuild(reference_params, few_shared_patches,
                                        build_cache):
    x = few_shared_patches["shared"][:4]
    base = SpikingIPVAE(reference_params, device="cpp_standalone", cache_dir=build_cache)
    other = reference_params.replace(bias=reference_params.bias * 3)
    changed = SpikingIPVAE(other, device="cpp_standalone", cache_dir=build_cache)
    a = base.run(x, 30, seed=3)
    b = changed.run(x, 30, seed=3)
    # base compiled the program or found it; either way changed finds it
    assert changed.n_builds == 0
    # a larger spike cost makes the network sparser: the parameters did arrive
    assert b.mean_count[:, 10:].mean() < a.mean_count[:, 10:].mean()


# ------------------------------------------------------------- bad input
def test_unknown_device_and_realization(params):
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        SpikingIPVAE(params, device="gpu")
    with pytest.raises(ValueError, match="unknown realization"):
        SpikingIPVAE(params, realization="rate")


def test_missing_compiler_is_reported_before_brian2(params, monkeypatch):
    monkeypatch.setattr(network.standalone.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="C\\+\\+ compiler"):
        SpikingIPVAE(params, device="cpp_standalone")


def test_brian2cuda_absent(params, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "brian2cuda", None)   # import fails
    with pytest.raises(RuntimeError, match="brian2cuda"):
        SpikingIPVAE(params, device="cuda_standalone")


def test_window_is_a_time(params):
    assert SpikingIPVAE(params, device="runtime", window=0.1).window_s == 0.1
    with pytest.raises(ValueError, match="units of time"):
        SpikingIPVAE(params, device="runtime", window=5 * Hz)
    with pytest.raises(ValueError, match="window must be positive"):
        SpikingIPVAE(params, device="runtime", window=-2 * ms)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((3, 255)), "256 pixels"),
    (np.full((2, 256), np.nan), "non-finite"),
    (np.zeros((0, 256)), "no patches"),
])
def test_bad_patches_rejected_before_brian2(params, bad, match, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("Brian2 was entered")
    monkeypatch.setattr(network.builder, "build_objects", fail)
    monkeypatch.setattr(network.ProgramCache, "load_or_build", fail)
    net = SpikingIPVAE(params, device="cpp_standalone")
    with pytest.raises(ValueError, match=match):
        net.run(bad, 10)


def test_bad_run_arguments(params, monkeypatch):
    net = SpikingIPVAE(params, device="runtime")
    x = np.zeros((1, 256))
    with pytest.raises(ValueError, match="n_windows"):
        net.run(x, 0)
    with pytest.raises(ValueError, match="replay_counts"):
        net.run(x, 5, replay_counts=np.zeros((1, 4, 512), int))
    with pytest.raises(ValueError, match="record_windows"):
        net.run(x, 5, record_windows=[7])


# ------------------------------------------------------------- runaways
def _runaway_patch(params, neuron=7, contrast=60.0):
    """A patch along one receptive field, far outside the training contrast."""
    phi = params.phi[:, neuron]
    return contrast * phi / np.linalg.norm(phi)


@pytest.mark.standalone
def test_runaway_detected_bounded_and_comparable(raw_params, build_cache):
    params = raw_params                 # the inputs as given: 60 times an atom
    x = np.stack([_runaway_patch(params), np.zeros(256) + 1e-3 * np.arange(256)])
    net = SpikingIPVAE(params, device="cpp_standalone", cache_dir=build_cache)
    with pytest.warns(RunawayWarning, match="patch 0: neuron"):
        res = net.run(x, 40, seed=0)
    events = res.runaway_events()
    assert events and all(p == 0 for p, _, _ in events)
    assert res.counts.max() > 5000                 # ~exp(10) spikes per window
    assert np.isfinite(res.r2[1]).all()             # the other patch is untouched
    # the reference algorithm reports the same diagnostic for the same input:
    # the instability spreads through the lateral weights to most neurons,
    # starting a few windows after onset
    with pytest.warns(RunawayWarning):
        ref = infer(params, x, 40, seed=0)
    ref_events = ref.runaway_events()
    assert all(p == 0 for p, _, _ in ref_events)
    assert len(events) > 0.8 * params.n_latents and len(ref_events) > 0.8 * params.n_latents
    first = min(w for _, _, w in events)
    assert abs(first - min(w for _, _, w in ref_events)) <= 3
    # the opt-in refractory-like cap bounds activity
    capped = SpikingIPVAE(params, device="cpp_standalone", cache_dir=build_cache,
                          max_count=20)     # 200 spikes/s at the 100 ms window
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RunawayWarning)
        bounded = capped.run(x, 40, seed=0)
    max_count = 200 * 0.1
    assert bounded.counts.max() <= max_count + 6 * np.sqrt(max_count)


@pytest.fixture(scope="module")
def runaway_natural_patches():
    """Three high-contrast patches of scikit-learn's 'china' photograph that run
    away within 300 windows under the reference model (found by scanning 1,000
    patches: 34 ran away within 1,000 windows), and one held-out patch."""
    from ipvae_snn.data import natural_patches
    china = natural_patches(("china",), n_patches=1000, seed=0)
    calm = natural_patches(("chelsea",), n_patches=1, seed=0)
    return np.concatenate([china[[936, 119, 258]], calm])


@pytest.mark.standalone
def test_runaway_on_natural_patches(official_params, build_cache, runaway_natural_patches):
    """High-contrast patches on which the official-code model runs away."""
    params, x = official_params, runaway_natural_patches
    net = SpikingIPVAE(params, device="cpp_standalone", cache_dir=build_cache)
    with pytest.warns(RunawayWarning, match=r"3 of 4 patch\(es\)"):
        res = net.run(x, 301, seed=0, record_windows=[300])
    # detected per patch and neuron, with the window it started
    onsets = {}
    for p, _, w in res.runaway_events():
        onsets[p] = min(w, onsets.get(p, w))
    assert set(onsets) == {0, 1, 2}
    assert all(80 <= w <= 300 for w in onsets.values())
    # ran to the end without overflow: ~exp(10) spikes per window, finite read-outs
    assert 5000 < res.counts.max() < 10 * np.exp(params.clamp_u)
    assert np.isfinite(res.r2[3]).all() and res.runaway_onset[3].max() == -1
    # the reference algorithm flags the same patches
    ref = infer(params, x, 301, seed=0, record_windows=[300], warn=False)
    assert {p for p, _, _ in ref.runaway_events()} == {0, 1, 2}


@pytest.mark.runtime
def test_continuous_realization_runs_and_records(params):
    net = SpikingIPVAE(params, realization="continuous", device="runtime",
                       dt=10 * ms, record_u=[0, 5])
    x = np.random.default_rng(0).standard_normal((2, 256))
    res = net.run(x, 12, seed=0)
    assert res.u_trace.shape == (2, 2, 120)
    neuron, t = res.spike_trains(0)
    assert np.all(np.diff(t) >= 0) and t.max() < 12 * 0.1
    # the counts are the spikes of each window
    counts = np.zeros((12, params.n_latents), int)
    np.add.at(counts, (np.floor(t / 0.1 + 1e-9).astype(int), neuron), 1)
    np.testing.assert_array_equal(counts, res.counts[0])
    assert res.info["window_s"] == pytest.approx(float(100 * ms / second))


@pytest.mark.standalone
def test_seeded_runs_are_reproducible(params, build_cache):
    x = np.random.default_rng(1).standard_normal((3, 256))
    net = SpikingIPVAE(params, device="cpp_standalone", cache_dir=build_cache)
    a = net.run(x, 30, seed=5)
    b = net.run(x, 30, seed=5)
    np.testing.assert_array_equal(a.counts, b.counts)
    # the first input of a run draws the same stream whatever follows it
    first = net.run(x[:1], 30, seed=5)
    np.testing.assert_array_equal(first.counts[0], a.counts[0])
    assert not np.array_equal(net.run(x, 30, seed=6).counts, a.counts)
