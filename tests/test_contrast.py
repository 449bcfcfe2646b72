"""
The contrast normalisation in front of the network (`ipvae_snn.contrast`)
against its closed form, and its one promise to every run: the network of a
model that carries it sees each input divided by its gain, wherever the input
enters (reference, replay, sequences, the Brian2 network, the learner).
"""

import numpy as np
import pytest

from ipvae_snn import IPVAEParams, infer, load_model
from ipvae_snn.contrast import ContrastNormalization, normalize_input, patch_contrast
from ipvae_snn.learning import SpikingDictionaryLearner
from ipvae_snn.reference import infer_sequence, replay
from ipvae_snn.sequences import StimulusSequence
from ipvae_snn.validation import InputError


@pytest.fixture(scope="module")
def official():
    return load_model("official")


@pytest.fixture(scope="module")
def patches():
    # whitened-like patches at contrasts from 0.05 to 5 (the model's scale is 1)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 256))
    return x * np.geomspace(0.05, 5.0, 12)[:, None]


def test_gain_is_the_closed_form():
    x = np.array([[3.0, -3.0, 3.0, -3.0],          # RMS 3
                  [0.0, 0.0, 0.0, 0.0],            # blank
                  [1.0, 1.0, -1.0, -1.0]])         # RMS 1
    norm = ContrastNormalization(reference=2.0, semi_saturation=0.5)
    # g = sqrt(c² + (s·c_ref)²) / c_ref with s·c_ref = 1
    expected = np.sqrt(np.array([9.0, 0.0, 1.0]) + 1.0) / 2.0
    np.testing.assert_allclose(norm.gain(x), expected, rtol=1e-15)
    seen, gain = norm(x)
    np.testing.assert_allclose(seen, x / expected[:, None], rtol=1e-15)
    np.testing.assert_allclose(patch_contrast(x), [3.0, 0.0, 1.0])
    # without semi-saturation every patch reaches the reference contrast; a
    # blank stays a blank instead of dividing by zero
    seen, gain = ContrastNormalization(2.0, 0.0)(x)
    np.testing.assert_allclose(patch_contrast(seen), [2.0, 0.0, 2.0])
    assert gain[1] == 1.0 and not np.isnan(seen).any()


def test_reference_is_the_rms_of_the_training_patches():
    x = np.random.default_rng(0).standard_normal((50, 16)) * 1.7
    norm = ContrastNormalization.from_patches(x)
    assert norm.reference == pytest.approx(np.sqrt(np.mean(x ** 2)), rel=1e-12)
    with pytest.raises(InputError, match="no contrast"):
        ContrastNormalization.from_patches(np.zeros((3, 16)))
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(InputError, match="contrast_reference"):
            ContrastNormalization(bad)
    with pytest.raises(InputError, match="contrast_semi_saturation"):
        ContrastNormalization(1.0, -0.1)


def test_model_file_keeps_the_normalisation(official, tmp_path):
    assert official.contrast is None                 # the official model has none
    assert normalize_input(official, np.ones((1, 256)))[1] is None
    model = official.replace(contrast=ContrastNormalization(1.25, 0.2))
    path = tmp_path / "m.npz"
    model.save(path)
    back = IPVAEParams.load(path)
    assert back.contrast == ContrastNormalization(1.25, 0.2)
    assert back == model and back != official
    # a half-written normalisation is named, not ignored
    arrays = dict(np.load(path))
    del arrays["contrast_semi_saturation"]
    with pytest.raises(InputError, match="contrast_semi_saturation"):
        IPVAEParams.from_arrays(arrays)
    with pytest.raises(InputError, match="ContrastNormalization"):
        official.replace(contrast=1.0)


def test_infer_sees_the_normalised_input_and_r2_is_that_of_the_input(official, patches):
    model = official.replace(contrast=ContrastNormalization(1.0, 0.3))
    res = infer(model, patches, 17, seed=4, record_windows=[16], warn=False)
    gain = np.sqrt(np.mean(patches ** 2, axis=1) + 0.09)
    np.testing.assert_allclose(res.input_gain, gain, rtol=1e-12)
    np.testing.assert_allclose(res.x * gain[:, None], patches, rtol=1e-12)
    # R² of the reconstruction in the input's own units (reconstruction × g
    # against the patch as given), computed here from the counts
    rec = res.counts_at(16) @ model.phi.T * gain[:, None]
    resid = ((patches - rec) ** 2).sum(1)
    total = ((patches - patches.mean(1, keepdims=True)) ** 2).sum(1)
    np.testing.assert_allclose(res.r2[:, 16], 1 - resid / total, rtol=1e-4, atol=1e-5)
    # the model without a normalisation sees the patches as given
    assert infer(official, patches, 2, seed=4, warn=False).input_gain is None


def test_result_file_keeps_the_gain(official, patches, tmp_path):
    from ipvae_snn.results import InferenceResult
    model = official.replace(contrast=ContrastNormalization(1.0, 0.3))
    res = infer(model, patches, 3, seed=0, warn=False)
    res.save(tmp_path / "r.npz")
    back = InferenceResult.load(tmp_path / "r.npz")
    np.testing.assert_array_equal(back.input_gain, res.input_gain)
    assert back.params.contrast == model.contrast


def test_without_semi_saturation_the_code_ignores_contrast(official, patches):
    # s = 0: a patch at 10× the contrast reaches the network unchanged, so the
    # same seed draws the same spikes (the cost follows the contrast)
    model = official.replace(contrast=ContrastNormalization(1.0, 0.0))
    low = infer(model, patches, 9, seed=2, warn=False)
    high = infer(model, patches * 10.0, 9, seed=2, warn=False)
    np.testing.assert_array_equal(low.counts, high.counts)
    plain = infer(official, patches * 10.0, 9, seed=2, warn=False)
    assert not np.array_equal(plain.counts, high.counts)


def test_replay_and_sequences_normalise_as_infer_does(official, patches):
    model = official.replace(contrast=ContrastNormalization(1.0, 0.3))
    x = patches[:4]
    run = infer(model, x, 6, seed=0, record_u=True, dtype=np.float64, warn=False)
    np.testing.assert_allclose(replay(model, x, run.counts)[:, :6], run.u, atol=1e-9)
    seq = StimulusSequence(x, stimulus_windows=3, blank_windows=2, trials=2)
    res = infer_sequence(model, seq, seed=0, warn=False)
    seen = res.sequence.stimuli
    np.testing.assert_allclose(seen, normalize_input(model, x)[0], rtol=1e-12)
    # a model without the normalisation runs the sequence as given
    assert infer_sequence(official, seq, seed=0, warn=False).sequence is seq


def test_learner_trains_on_normalised_patches_and_ships_the_normalisation():
    x = np.random.default_rng(1).standard_normal((96, 16)) * np.geomspace(
        0.2, 3.0, 96)[:, None]
    learner = SpikingDictionaryLearner(8, max_iter=1, batch_size=32, random_state=0,
                                       normalize_contrast=True, progress=False).fit(x)
    assert learner.params_.contrast == learner.contrast_
    assert learner.contrast_.reference == pytest.approx(np.sqrt(np.mean(x ** 2)))
    # a random start scales σ to the data the training loop sees: the normalised
    # patches, whose RMS is below the reference's (the semi-saturation)
    seen = learner.contrast_(x)[0]
    np.testing.assert_allclose(learner.params_.sigma, np.sqrt(np.mean(seen ** 2)),
                               rtol=1e-12)
    plain = SpikingDictionaryLearner(8, max_iter=1, batch_size=32, random_state=0,
                                     progress=False).fit(x)
    assert plain.params_.contrast is None and plain.contrast_ is None
    # a warm start from a normalised model without normalize_contrast drops it
    warm = SpikingDictionaryLearner(8, init=learner.params_, max_iter=1, batch_size=32,
                                    random_state=0, progress=False).fit(x)
    assert warm.params_.contrast is None


@pytest.mark.runtime
def test_network_sees_what_the_reference_sees(official, patches):
    from ipvae_snn.network import SpikingIPVAE
    model = official.replace(contrast=ContrastNormalization(1.0, 0.3))
    x = patches[:3]
    ref = infer(model, x, 8, seed=0, dtype=np.float64, warn=False)
    net = SpikingIPVAE(model, device="runtime", record_u=True)
    res = net.run(x, 8, replay_counts=ref.counts, seed=0, warn=False)
    np.testing.assert_allclose(res.input_gain, ref.input_gain, rtol=1e-12)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12)
    # driven by the reference's counts, the network's potentials are the
    # reference's replay of the same normalised input
    u = res.u_trace.transpose(0, 2, 1)
    np.testing.assert_allclose(u, replay(model, x, ref.counts)[:, :8], atol=1e-4)
