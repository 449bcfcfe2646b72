"""
Patches side by side (``SpikingIPVAE(batch=B)``): B copies of the network in
one neuron group, lateral synapses only within a copy. Checked against the
official recorded traces (replay: the potentials of every copy follow the
official ones), the reference algorithm's statistics and the layout written
out by hand.
"""

import os

import numpy as np
import pytest

from ipvae_snn import IPVAEParams
from ipvae_snn.network import SpikingIPVAE, builder
from ipvae_snn.reference import infer
from ipvae_snn.validation import InputError


@pytest.fixture(scope="module")
def build_cache(tmp_path_factory):
    """Compiled networks of this module (or a persistent $IPVAE_SNN_CACHE)."""
    return os.environ.get("IPVAE_SNN_CACHE") or str(tmp_path_factory.mktemp("builds"))


def _spec(batch, inputs_per_run, n_latents=3, n_windows=2, **kw):
    return builder.NetworkSpec("window", n_latents, n_windows, inputs_per_run, 0.1, 1,
                               (), kw.get("replay", False), "float64", batch=batch)


def test_layout_by_hand():
    """Input s * B + c of a run is slot s of copy c, neurons c * K .. c * K + K - 1."""
    spec = _spec(batch=2, inputs_per_run=4, n_latents=3, n_windows=2)
    assert (spec.slots, spec.n_neurons) == (2, 6)
    drive = np.arange(9.0).reshape(3, 3)              # 3 inputs, padded to 4
    np.testing.assert_array_equal(builder.drive_layout(spec, drive),
                                  [[0, 1, 2, 3, 4, 5], [6, 7, 8, 0, 0, 0]])
    replay = np.arange(12).reshape(3, 2, 2)           # (inputs, windows, K=2)
    spec2 = _spec(batch=2, inputs_per_run=4, n_latents=2, n_windows=2)
    # row = slot * n_windows + window; columns: copy 0's K latents, then copy 1's
    np.testing.assert_array_equal(builder.replay_layout(spec2, replay),
                                  [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 0, 0],
                                   [10, 11, 0, 0]])


def test_spec_needs_whole_slots():
    with pytest.raises(ValueError, match="multiple of batch"):
        _spec(batch=4, inputs_per_run=6)
    assert _spec(batch=1, inputs_per_run=6).key() != _spec(batch=2, inputs_per_run=6).key()


@pytest.mark.parametrize("bad", [0, -2, 1.5])
def test_bad_batch_is_a_user_error(bad):
    params = IPVAEParams.random(16, 8, random_state=0)
    with pytest.raises(InputError, match="batch"):
        SpikingIPVAE(params, device="runtime", batch=bad)


@pytest.mark.runtime
def test_synapses_are_block_diagonal():
    """Synapse j -> i exists only within a copy and carries W[i, j] of the model."""
    from brian2.devices.device import reset_device
    reset_device("runtime")
    params = IPVAEParams.random(16, 5, random_state=1)
    k, b = params.n_latents, 3
    spec = _spec(batch=b, inputs_per_run=b, n_latents=k)
    values = builder.run_values(params, "window", 0.1)
    _, group, lateral, _ = builder.build_objects(spec, values, np.zeros((b, k)), None)
    pre, post = np.asarray(lateral.i[:]), np.asarray(lateral.j[:])
    assert len(group) == b * k and pre.size == b * k * k
    assert np.all(pre // k == post // k)
    # every pair within a copy once
    assert len(set(zip(pre.tolist(), post.tolist()))) == b * k * k
    w = params.lateral_weights()
    np.testing.assert_array_equal(np.asarray(lateral.w[:]), w[post % k, pre % k])
    np.testing.assert_array_equal(np.asarray(group.bias[:]), np.tile(params.bias, b))


def _check_replay(net, traces, n_patches=8, n_windows=64):
    """The official counts replayed: every copy follows the official potentials."""
    x, z = traces["x"][:n_patches], traces["z"][:n_patches, :n_windows]
    res = net.run(x, n_windows, replay_counts=z, seed=0)
    np.testing.assert_array_equal(res.counts, z)
    u = res.u_trace.transpose(0, 2, 1)
    assert np.abs(u - traces["u"][:n_patches, :n_windows]).max() <= 1e-4
    assert np.abs(res.u_final - traces["u_final"][:n_patches]).max() <= 1e-4
    return res


@pytest.mark.runtime
def test_replay_runtime_batched_matches_official(reference_params, traces):
    """5 patches on 2 copies (3 slots, one padded): runtime device."""
    one = _check_replay(SpikingIPVAE(reference_params, device="runtime", record_u=True),
                        traces, n_patches=5, n_windows=64)
    res = _check_replay(SpikingIPVAE(reference_params, device="runtime", record_u=True,
                                     batch=2), traces, n_patches=5, n_windows=64)
    # bit for bit the layout one after another
    for name in ("u_trace", "u_final", "r2", "runaway_onset"):
        np.testing.assert_array_equal(getattr(res, name), getattr(one, name))


@pytest.mark.standalone
@pytest.mark.slow
def test_replay_standalone_batched_matches_official(reference_params, traces, build_cache):
    """8 official patches on 4 copies side by side, 2 slots each, one run."""
    net = SpikingIPVAE(reference_params, record_u=True, batch=4, inputs_per_run=8,
                       n_jobs=1, cache_dir=build_cache)
    res = _check_replay(net, traces, n_patches=8, n_windows=64)
    assert res.info["batch"] == 4 and res.info["timing"]["n_runs"] == 1


@pytest.mark.standalone
@pytest.mark.slow
def test_batched_statistics_match(reference_params, shared_patches, build_cache):
    """
    Own draws, 128 shared patches at T = 16: the window realization side by
    side gives the reference's mean R² and zero fraction; the continuous one
    side by side gives what it gives one after another (paired over patches).
    """
    x = shared_patches["shared"][:128]
    t = 16
    ref = infer(reference_params, x, t + 1, seed=3, record_windows=[t])
    kw = dict(batch=4, inputs_per_run=32, cache_dir=build_cache)
    win = SpikingIPVAE(reference_params, **kw).run(x, t + 1, seed=3, warn=False)
    assert abs(np.nanmean(win.r2[:, t]) - np.nanmean(ref.r2[:, t])) <= 0.01
    assert abs(win.zero_fraction[:, t].mean() - ref.zero_fraction[:, t].mean()) <= 0.01
    cont = {b: SpikingIPVAE(reference_params, realization="continuous", **dict(kw, batch=b))
            .run(x, t + 1, seed=3, warn=False) for b in (1, 4)}
    for name in ("r2", "zero_fraction"):
        d = getattr(cont[4], name)[:, t] - getattr(cont[1], name)[:, t]
        d = d[np.isfinite(d)]
        se = d.std(ddof=1) / np.sqrt(d.size)
        assert abs(d.mean()) <= max(4 * se, 1e-3), (name, d.mean(), se)
