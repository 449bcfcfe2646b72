"""
Gratings and bars: geometry and scaling conventions, validation, and the
bundled model's orientation tuning to them.
"""

import numpy as np
import pytest

from ipvae_snn import stats, stimuli


@pytest.mark.parametrize("orientation", [0.0, 22.5, 90.0, 137.0])
@pytest.mark.parametrize("contrast", [0.5, 1.0])
def test_grating_has_zero_mean_and_rms_contrast(orientation, contrast):
    g = stimuli.grating(orientation, 0.2, phase=33.0, contrast=contrast)
    assert g.shape == (16, 16)
    assert g.mean() == pytest.approx(0.0, abs=1e-12)
    assert np.sqrt(np.mean(g ** 2)) == pytest.approx(contrast, rel=1e-12)


def test_grating_orientation_convention():
    # 0°: horizontal stripes, constant along each row.
    g0 = stimuli.grating(0.0, 0.25)
    assert np.ptp(g0, axis=1).max() < 1e-12 and np.ptp(g0[:, 0]) > 1
    # 90°: vertical stripes, constant along each column.
    g90 = stimuli.grating(90.0, 0.25)
    assert np.ptp(g90, axis=0).max() < 1e-12
    # 45°: stripes from bottom-left to top-right (y points up): pixel (i, j)
    # equals pixel (i - 1, j + 1).
    g45 = stimuli.grating(45.0, 0.2)
    np.testing.assert_allclose(g45[1:, :-1], g45[:-1, 1:], atol=1e-12)
    # Orientation is modulo 180°.
    np.testing.assert_allclose(stimuli.grating(200.0, 0.2, 10.0),
                               stimuli.grating(20.0, 0.2, -10.0), atol=1e-12)


def test_grating_spatial_frequency_and_phase():
    # 4 cycles across 16 pixels: the Fourier power sits at 0.25 cycles/pixel.
    g = stimuli.grating(90.0, 0.25, phase=10.0)
    power = np.abs(np.fft.fft(g[0])) ** 2
    assert np.argmax(power[:9]) == 4
    # Half a cycle of phase inverts the grating.
    np.testing.assert_allclose(stimuli.grating(30.0, 0.2, 180.0),
                               -stimuli.grating(30.0, 0.2, 0.0), atol=1e-12)


def test_drifting_grating_moves_perpendicular_to_its_stripes():
    # Vertical stripes (90°) drift towards 180° (-x, to the left) by default:
    # 0.25 cycles/px at 2.5 Hz with 0.1 s frames moves one pixel per frame.
    frames = stimuli.drifting_grating(90.0, 0.25, temporal_frequency=2.5,
                                      n_frames=5, window_s=0.1)
    assert frames.shape == (5, 16, 16)
    for k in range(4):
        np.testing.assert_allclose(frames[k + 1], np.roll(frames[k], -1, axis=1),
                                   atol=1e-12)
    back = stimuli.drifting_grating(90.0, 0.25, 2.5, n_frames=2, reverse=True)
    np.testing.assert_allclose(back[1], np.roll(back[0], 1, axis=1), atol=1e-12)
    # Horizontal stripes (0°) drift upwards (90°): rows move to smaller indices.
    up = stimuli.drifting_grating(0.0, 0.25, 2.5, n_frames=2)
    np.testing.assert_allclose(up[1], np.roll(up[0], -1, axis=0), atol=1e-12)


def test_bar_geometry():
    b = stimuli.bar(0.0, width=2.0)
    assert b.mean() == pytest.approx(0.0, abs=1e-12)
    assert np.sqrt(np.mean(b ** 2)) == pytest.approx(1.0)
    bright = np.flatnonzero(b[:, 8] > 0)
    np.testing.assert_array_equal(bright, [7, 8])          # centred, 2 px wide
    # Positive position moves a horizontal bar up (along the normal, 90°).
    up = stimuli.bar(0.0, width=2.0, position=3.0)
    np.testing.assert_array_equal(np.flatnonzero(up[:, 8] > 0), [4, 5])
    # A vertical bar, and a dark one.
    assert np.ptp(stimuli.bar(90.0), axis=0).max() < 1e-12
    np.testing.assert_allclose(stimuli.bar(30.0, polarity=-1), -stimuli.bar(30.0))
    # A short bar leaves the ends of its axis dark.
    short = stimuli.bar(0.0, width=2.0, length=6.0)
    assert short[7, 0] < 0 < short[7, 8]


def test_circular_aperture_is_flat_outside():
    g = stimuli.grating(20.0, 0.2, aperture="circle")
    corners = g[[0, 0, -1, -1], [0, -1, 0, -1]]
    np.testing.assert_allclose(corners, corners[0])
    assert np.sqrt(np.mean(g ** 2)) == pytest.approx(1.0)


def test_stimulus_sets_are_factorial():
    x, cond = stimuli.grating_set(orientations=[0, 45, 90], spatial_frequencies=[0.2, 0.3],
                                  phases=[0, 90], contrasts=1.0)
    assert x.shape == (12, 256)
    assert set(cond) == {"orientation", "spatial_frequency", "phase", "contrast"}
    np.testing.assert_array_equal(cond["orientation"][:4], [0, 0, 0, 0])
    i = 7
    np.testing.assert_allclose(
        x[i], stimuli.grating(cond["orientation"][i], cond["spatial_frequency"][i],
                              cond["phase"][i]).ravel())
    x, cond = stimuli.grating_set()
    assert x.shape == (16 * 8, 256) and np.unique(cond["orientation"]).size == 16
    b, cond = stimuli.bar_set(orientations=[0, 90], positions=[-2, 0, 2], flatten=False)
    assert b.shape == (2 * 3 * 2, 16, 16)
    np.testing.assert_array_equal(np.unique(cond["polarity"]), [-1, 1])
    j = 5
    np.testing.assert_allclose(b[j], stimuli.bar(cond["orientation"][j],
                                                 position=cond["position"][j],
                                                 polarity=int(cond["polarity"][j])))


@pytest.mark.parametrize("call, match", [
    (lambda: stimuli.grating(0, 0.6), "Nyquist"),
    (lambda: stimuli.grating(0, 0.0), "spatial_frequency"),
    (lambda: stimuli.grating(np.nan), "orientation"),
    (lambda: stimuli.grating(0, contrast=-1), "contrast"),
    (lambda: stimuli.grating(0, aperture="square"), "aperture"),
    (lambda: stimuli.grating(0, size=1), "size"),
    (lambda: stimuli.bar(0, polarity=0), "polarity"),
    (lambda: stimuli.bar(0, position=100.0), "uniform"),
    (lambda: stimuli.drifting_grating(0, temporal_frequency=-1), "temporal_frequency"),
    (lambda: stimuli.drifting_grating(0, n_frames=0), "n_frames"),
    (lambda: stimuli.grating_set(orientations=[]), "orientations"),
    (lambda: stimuli.bar_set(polarities=[2]), "polarities"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_zero_contrast_is_a_blank_patch():
    assert not stimuli.grating(10.0, contrast=0.0).any()


def test_bundled_model_is_orientation_tuned(params):
    """
    Gratings at the dictionary's typical spatial frequency drive the bundled
    model's neurons selectively: their preferred orientation follows the
    orientation of their receptive field (an independent, stimulus-free
    estimate) far more often than chance.
    """
    from ipvae_snn import infer
    x, cond = stimuli.grating_set(orientations=np.arange(12) * 15.0,
                                  phases=[0, 90, 180, 270])
    res = infer(params, x, 48, seed=0, record_windows=range(16, 48), progress=False)
    tuning = stats.orientation_tuning(res.counts.mean(axis=1), cond["orientation"])
    responsive = tuning.peak > 0.5
    assert responsive.sum() > params.n_latents // 2
    rf_orientation, _ = stats.receptive_field_tuning(params.phi)
    diff = np.abs(np.mod(tuning.preferred - rf_orientation + 90, 180) - 90)
    # Uniformly random preferences would agree within 22.5° for 25 % of neurons.
    assert np.mean(diff[responsive] < 22.5) > 0.5
    # Tuned, not flat: a flat curve has circular variance 1.
    assert np.median(tuning.circular_variance[responsive]) < 0.9
