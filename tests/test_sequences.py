"""
Stimulus sequences (`ipvae_snn.sequences`): stimuli with blanks between them,
in the reference (`reference.infer_sequence`), the network
(`SpikingIPVAE.run_sequence`) and a user's Brian2 model (`ipvae_network(...,
sequence=...)`), against independent truth: separate runs of each stimulus
from the prior (`ipvae_snn.infer`, `SpikingIPVAE.run`), the closed form of the
blank's relaxation, the timeline counted by hand.
"""

import numpy as np
import pytest

from ipvae_snn import IPVAEParams, infer
from ipvae_snn.data import natural_patches
from ipvae_snn.reference import infer_sequence
from ipvae_snn.sequences import SequenceResult, StimulusSequence, check_sequence
from ipvae_snn.validation import InputError

#: The acceptance: per-stimulus metrics at T = 64 within this of separate runs.
TOLERANCE = 0.02
T = 64
#: Blanks of 16 windows at tau_blank = 2 leave e^-8 (3e-4) of u - u_init.
BLANK = 16


@pytest.fixture(scope="module")
def stimuli():
    """Three positions x 64 trials: a different held-out patch in each (192 patches)."""
    x = natural_patches(n_patches=192, seed=5)
    return x.reshape(64, 3, -1)


def _metrics_of_run(r2, zero_fraction):
    return dict(r2=float(np.nanmean(r2)), zero_fraction=float(np.mean(zero_fraction)))


def _assert_close(seq_rows, separate, what):
    # the numbers of docs/brian2-embedding.md (pytest -s shows them)
    print(f"\n{what}, T = {T}: stimulus, R² and zero fraction in the sequence | separate")
    for row, ref in zip(seq_rows, separate):
        print(f"  {row['stimulus']}  {row['r2']:.3f} {row['zero_fraction']:.3f} | "
              f"{ref['r2']:.3f} {ref['zero_fraction']:.3f}")
    for row, ref in zip(seq_rows, separate):
        for key in ("r2", "zero_fraction"):
            assert abs(row[key] - ref[key]) <= TOLERANCE, (
                f"{what}, stimulus {row['stimulus']}: {key} {row[key]:.4f} in the sequence, "
                f"{ref[key]:.4f} in a separate run")


# ------------------------------------------------------------------ timeline
def test_timeline_counted_by_hand():
    seq = StimulusSequence(np.ones((3, 4)), [2, 3, 1], blank_windows=2, trials=4)
    # blank 2, stimulus 0 for 2, blank 2, stimulus 1 for 3, blank 2, stimulus 2 for 1, blank 2
    assert seq.stimulus_index.tolist() == [-1, -1, 0, 0, -1, -1, 1, 1, 1, -1, -1, 2, -1, -1]
    assert seq.onsets.tolist() == [2, 6, 11]
    assert seq.n_windows == 14 and seq.n_trials == 4
    assert seq.stimulus_on.sum() == 6
    assert seq.relax.tolist() == (~seq.stimulus_on).tolist()
    assert not StimulusSequence(np.ones((3, 4)), 2, 2, blank="zero").relax.any()
    assert seq.relax_factor == pytest.approx(np.exp(-0.5))


def test_drives_are_the_stimuli_in_their_windows_and_zero_in_blanks(params):
    x = natural_patches(n_patches=4, seed=0).reshape(2, 2, -1)       # 2 trials x 2 stimuli
    seq = StimulusSequence(x, 3, 1)
    d = seq.drives(params)
    assert d.shape == (2, seq.n_windows, params.n_latents)
    for trial in range(2):
        for w, s in enumerate(seq.stimulus_index):
            expected = 0 if s < 0 else x[trial, s] * params.precision @ params.phi
            np.testing.assert_allclose(d[trial, w], expected, atol=1e-12)


@pytest.mark.parametrize("args, kwargs, match", [
    ((np.ones(4), 2, 2), {}, "stimuli must have shape"),
    ((np.full((2, 4), np.nan), 2, 2), {}, "NaN"),
    ((np.full((2, 4), 1e9), 2, 2), {}, "exceed"),
    ((np.ones((2, 4)), [2, 2, 2], 2), {}, "one value per stimulus"),
    ((np.ones((2, 4)), 0, 2), {}, "stimulus_windows must be a positive integer"),
    ((np.ones((2, 4)), 2, -1), {}, "blank_windows must be an integer >= 0"),
    ((np.ones((2, 4)), 2, 2), dict(tau_blank=0), "tau_blank"),
    ((np.ones((2, 4)), 2, 2), dict(blank="grey"), "blank"),
    ((np.ones((3, 2, 4)), 2, 2), dict(trials=4), "trials=4 but stimuli hold 3"),
])
def test_invalid_sequences_are_one_line_errors(args, kwargs, match):
    with pytest.raises(InputError, match=match) as info:
        StimulusSequence(*args, **kwargs)
    assert "\n" not in str(info.value)


def test_sequence_checks_against_the_model(params):
    with pytest.raises(InputError, match="sequence must be a StimulusSequence"):
        check_sequence(np.ones((2, 256)), params)
    with pytest.raises(InputError, match="must have 256 pixels"):
        infer_sequence(params, StimulusSequence(np.ones((2, 100)), 2, 2))


# ---------------------------------------------------------------- reference
def test_one_stimulus_without_blank_is_infer_bit_for_bit(params, stimuli):
    """The sequence runs infer's kernel: one stimulus and no blank is an infer run."""
    x = stimuli[:, 0]
    seq = StimulusSequence(x[:, None], 20, blank_windows=0)
    got = infer_sequence(params, seq, seed=7)
    ref = infer(params, x, 20, seed=7, progress=False)
    np.testing.assert_array_equal(got.counts, ref.counts)
    np.testing.assert_array_equal(got.u_final, ref.u_final)


def test_reference_blank_relaxes_to_the_prior_in_closed_form(params, stimuli):
    """In a blank u_n = u_init + (u_0 - u_init) e^(-n/tau), whatever the counts."""
    seq = StimulusSequence(stimuli[:8, :2], 10, blank_windows=12, tau_blank=3.0)
    res = infer_sequence(params, seq, seed=0, dtype=np.float64, record_u=True)
    start = seq.onsets[0] + 10                # the first window of the blank after stimulus 0
    d0 = res.u[:, start] - params.u_init
    assert np.abs(d0).max() > 0.5             # the stimulus moved u away from the prior
    for n in range(1, 13):
        np.testing.assert_allclose(res.u[:, start + n],
                                   params.u_init + d0 * np.exp(-n / 3.0), rtol=0, atol=1e-12)
    assert res.counts[:, start:start + 12].sum() > 0        # spontaneous activity


def test_reference_sequence_matches_separate_runs(params, stimuli):
    """The acceptance in the reference: 3 stimuli, 64 patches each, T = 64."""
    seq = StimulusSequence(stimuli, T + 1, BLANK)
    rows = [[], [], []]
    separate = [[], [], []]
    for seed in (0, 1):
        for row in infer_sequence(params, seq, seed=seed).stimulus_metrics(T):
            rows[row["stimulus"]].append(row)
        for s in range(3):
            run = infer(params, stimuli[:, s], T + 1, seed=10 * seed + s,
                        record_windows=[T], progress=False)
            separate[s].append(_metrics_of_run(run.r2[:, T], run.zero_fraction[:, T]))
    mean = [{k: np.mean([r[k] for r in runs]) for k in ("r2", "zero_fraction")}
            for runs in separate]
    seq_mean = [dict(stimulus=s, **{k: np.mean([r[k] for r in rows[s]])
                                    for k in ("r2", "zero_fraction")}) for s in range(3)]
    _assert_close(seq_mean, mean, "reference")


def test_zero_blank_leaves_the_network_silent_at_the_floor(params, stimuli):
    """blank="zero" (FOND with x = 0): the leak b >= 0 drives u to the lower clamp."""
    assert (params.bias >= 0).all()
    seq = StimulusSequence(stimuli[:16, :1], 8, blank_windows=64, blank="zero")
    res = infer_sequence(params, seq, seed=0, record_u=True, dtype=np.float64)
    end = res.u[:, -1]
    assert np.median(end) < params.u_init.min() - 1
    prior = infer_sequence(params, StimulusSequence(stimuli[:16, :1], 8, 64), seed=0,
                           record_u=True, dtype=np.float64)
    np.testing.assert_allclose(prior.u[:, -1], np.broadcast_to(params.u_init, end.shape),
                               atol=1e-6)
    # spontaneous activity: the prior's rate after a "prior" blank, far less after "zero"
    assert res.counts[:, -16:].mean() < 0.25 * prior.counts[:, -16:].mean()


def test_onset_transient_and_metrics_by_hand():
    """counts[trial, w, :] = w: the transient reads the window index around each onset."""
    params = IPVAEParams.random(4, 3, random_state=0)
    seq = StimulusSequence(np.eye(4)[:2], 3, blank_windows=2, trials=2)
    w = seq.n_windows
    counts = np.broadcast_to(np.arange(w)[None, :, None], (2, w, 3)).astype(np.int32)
    res = SequenceResult(params, seq, counts, window_s=0.05)
    lags, mean = res.onset_transient()
    assert lags.tolist() == [-2, -1, 0, 1, 2, 3, 4]
    np.testing.assert_array_equal(mean[0], seq.onsets[0] + lags)
    np.testing.assert_array_equal(mean[1], seq.onsets[1] + lags)
    lags, mean = res.onset_transient(before=0, after=6)
    assert np.isnan(mean[1, -1]) and mean[1, -2] == w - 1     # past the trial's end
    rows = res.stimulus_metrics(1)
    assert [r["onset"] for r in rows] == seq.onsets.tolist()
    assert [r["mean_count"] for r in rows] == [seq.onsets[0] + 1, seq.onsets[1] + 1]
    # R² against the stimulus: x = e_s, reconstruction Φ z with z = (o+1) * ones
    for s, row in enumerate(rows):
        x = np.eye(4)[s]
        recon = params.phi @ np.full(3, seq.onsets[s] + 1.0)
        r2 = 1 - np.sum((x - recon) ** 2) / np.sum((x - x.mean()) ** 2)
        assert row["r2"] == pytest.approx(r2)
    with pytest.raises(InputError, match="past the end of a stimulus"):
        res.stimulus_metrics(3)


def test_result_saves_and_loads(params, stimuli, tmp_path):
    seq = StimulusSequence(stimuli[:4, :2], 5, 3, tau_blank=1.5)
    res = infer_sequence(params, seq, seed=0, record_u=[0, 7])
    res.save(tmp_path / "seq.npz")
    back = SequenceResult.load(tmp_path / "seq.npz")
    np.testing.assert_array_equal(back.counts, res.counts)
    np.testing.assert_array_equal(back.u, res.u)
    assert back.sequence.tau_blank == 1.5 and back.onsets.tolist() == res.onsets.tolist()
    assert back.stimulus_metrics(4) == res.stimulus_metrics(4)


# ------------------------------------------------------------------ network
@pytest.mark.runtime
@pytest.mark.parametrize("realization", ["window", "continuous"])
def test_network_blank_relaxes_to_the_prior_in_closed_form(realization):
    """
    In a blank the potentials follow the relaxation's closed form: e^(-1/tau)
    per window in the window realization, the Euler step (1 - dt/(tau T_w))
    per time step in the continuous one, whatever the spikes.
    """
    from ipvae_snn.network import SpikingIPVAE
    params = IPVAEParams.random(16, 8, random_state=0)
    x = np.random.default_rng(0).standard_normal((2, 16))
    seq = StimulusSequence(x, 5, 6, trials=2, tau_blank=1.5)
    net = SpikingIPVAE(params, realization=realization, device="runtime", record_u=True,
                       dt=None if realization == "window" else 0.001)
    res = net.run_sequence(seq, seed=0)
    start = seq.onsets[0] + 5
    d0 = res.u[:, start] - params.u_init
    assert np.abs(d0).max() > 0.3
    per_window = np.exp(-1 / 1.5) if realization == "window" else (1 - 1 / 150) ** 100
    for n in range(1, 7):
        np.testing.assert_allclose(res.u[:, start + n], params.u_init + d0 * per_window ** n,
                                   rtol=0, atol=1e-12)
    assert res.counts.shape == (2, seq.n_windows, 8)


def _network_acceptance(params, stimuli, realization, cache):
    from ipvae_snn.network import SpikingIPVAE
    net = SpikingIPVAE(params, realization=realization, device="cpp_standalone",
                       cache_dir=cache, n_jobs=2)
    seq = StimulusSequence(stimuli, T + 1, BLANK)
    rows = net.run_sequence(seq, seed=1).stimulus_metrics(T)
    separate = []
    for s in range(3):
        run = net.run(stimuli[:, s], T + 1, seed=20 + s, record_windows=[T])
        separate.append(_metrics_of_run(run.r2[:, T], run.zero_fraction[:, T]))
    _assert_close(rows, separate, realization)
    return rows, separate


@pytest.mark.standalone
@pytest.mark.slow
def test_window_network_sequence_matches_separate_runs(params, stimuli, snn_cache,
                                                        cxx_compiler):
    """The acceptance in the network (window realization, cpp_standalone)."""
    _network_acceptance(params, stimuli, "window", snn_cache)


@pytest.mark.standalone
@pytest.mark.slow
def test_continuous_network_sequence_matches_its_separate_runs(params, stimuli, snn_cache,
                                                               cxx_compiler):
    """
    The continuous realization against its own separate runs (its R² differs from
    the reference's by design).
    """
    _network_acceptance(params, stimuli, "continuous", snn_cache)


@pytest.mark.runtime
def test_embedded_sequence_gives_a_sequence_result():
    """ipvae_network(sequence=...): trials one after another, counts by window."""
    from brian2 import Network, NeuronGroup, Synapses, ms, prefs, start_scope
    from ipvae_snn.network import ipvae_network
    saved = prefs.codegen.target
    try:
        start_scope()
        prefs.codegen.target = "numpy"
        params = IPVAEParams.random(16, 8, random_state=0)
        seq = StimulusSequence(np.random.default_rng(0).standard_normal((2, 16)), 4, 3,
                               trials=2)
        v1 = ipvae_network(params, sequence=seq, window=50 * ms)
        cells = NeuronGroup(1, "n : 1")
        syn = Synapses(v1.group, cells, on_pre="n_post += z_pre")
        syn.connect()
        Network(v1, cells, syn).run(v1.duration)
        res = v1.result()
        assert isinstance(res, SequenceResult)
        assert res.counts.shape == (2, seq.n_windows, 8)
        assert int(cells.n[0]) == int(res.counts.sum())
        with pytest.raises(InputError, match="either patches and n_windows or a sequence"):
            ipvae_network(params, np.zeros((1, 16)), 3, sequence=seq)
    finally:
        prefs.codegen.target = saved


def test_runaway_in_a_sequence_is_reported(raw_params, stimuli):
    """Stimuli far above the training scale drive neurons to the clamp: a warning names it."""
    from ipvae_snn.results import RunawayWarning
    seq = StimulusSequence(30 * stimuli[:4, :1], 10, 4)
    with pytest.warns(RunawayWarning, match="stimulus 0"):
        res = infer_sequence(raw_params, seq, seed=0)
    hit = res.runaway_onset[res.runaway_onset >= 0]
    assert hit.size and (seq.stimulus_index[hit - 1] == 0).all()
