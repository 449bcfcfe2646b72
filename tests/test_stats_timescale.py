"""The rate rows against the window length: rate = count / window."""

import numpy as np
import pytest

from ipvae_snn.stats import DOCUMENTED_WINDOW_S, load_cortex_reference, rates_by_window
from ipvae_snn.validation import InputError


def test_rates_scale_as_one_over_the_window_and_log_width_does_not_move():
    rng = np.random.default_rng(0)
    counts = rng.poisson(rng.lognormal(0.0, 1.0, size=200), size=(50, 200))
    mean = counts.mean(axis=0)
    rows = rates_by_window(counts, [0.01, 0.1, 1.0])
    for r in rows:
        assert r["median_rate_hz"] == pytest.approx(np.median(mean) / r["window_s"])
        assert r["mean_rate_hz"] == pytest.approx(mean.mean() / r["window_s"])
    sds = [r["log10_rate_sd"] for r in rows]
    np.testing.assert_allclose(sds, sds[0], rtol=1e-9)
    # a rate change of units shifts log10 rates by log10(1/w): the SD is that of log10(mean)
    pos = mean[mean > 0]
    assert sds[0] == pytest.approx(np.std(np.log10(pos)))


def test_inside_flags_follow_the_reference_ranges():
    low, high = load_cortex_reference()["measures"]["median_rate_hz"]["range"]
    counts = np.full((4, 3), 2.0)                      # 2 spikes per window
    rows = rates_by_window(counts, [2.0 / (high * 2), 2.0 / ((low + high) / 2),
                                    2.0 / (low / 2)])
    assert [r["inside"]["median_rate_hz"] for r in rows] == [False, True, False]


def test_documented_window_is_a_membrane_time_scale():
    assert 0.005 <= DOCUMENTED_WINDOW_S <= 0.05


@pytest.mark.parametrize("lengths", [[], [0.0], [-0.1], [float("nan")]])
def test_bad_window_lengths(lengths):
    with pytest.raises(InputError):
        rates_by_window(np.ones((2, 3)), lengths)
