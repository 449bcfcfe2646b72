"""
Rows of the network-vs-cortex table that say when a number means nothing:
ISI measures of spike times placed inside windows, a bandwidth the
orientation sampling cannot resolve.
"""

import re

import numpy as np
import pytest

from ipvae_snn.plotting import plot_cortex_comparison
from ipvae_snn.plotting.figure import pyplot
from ipvae_snn.stats import (cortex_table, format_cortex_table, orientation_summary,
                             orientation_tuning, tuning_half_width)

VALUES = dict(fano_factor=1.2, isi_cv=1.0, isi_lv=1.0, circular_variance=0.3)


def _row(rows, key):
    return next(r for r in rows if r["measure"] == key)


def test_isi_measures_of_placed_spike_times_are_not_compared():
    placed = cortex_table(VALUES, placed_spike_times=True)
    simulated = cortex_table(VALUES)
    for key in ("isi_cv", "isi_lv"):
        assert _row(simulated, key)["inside"] is True
        row = _row(placed, key)
        assert row["network"] is None and row["inside"] is None and row["raw"] == 1.0
        assert row["meaningful"] is False and "placed uniformly" in row["note"]
    # the other rows are untouched
    assert _row(placed, "fano_factor") == _row(simulated, "fano_factor")
    text = format_cortex_table(placed)
    line = next(line for line in text.splitlines() if line.startswith("ISI CV"))
    assert "n/a (placed: 1)" in line and " yes " not in line
    assert text.count("† not meaningful here") == 1           # one note for both rows
    fig = plot_cortex_comparison(placed)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert sum(t.endswith("(† not compared)") for t in texts) == 2
    assert "placed uniformly" in fig._supxlabel.get_text()
    pyplot().close(fig)


def _von_mises(orientations, preferred, kappa):
    o = np.asarray(orientations)[:, None]
    return np.exp(kappa * (np.cos(np.deg2rad(2 * (o - preferred))) - 1.0))


RINGACH = 1 / np.sqrt(2)


def _half_width(kappa, level=RINGACH):
    # exp(κ(cos 2Δ − 1)) = level  ⇔  Δ = ½ arccos(1 + ln(level)/κ)
    return 0.5 * np.rad2deg(np.arccos(1 + np.log(level) / kappa))


@pytest.mark.parametrize("step", [2.0, 3.0])
def test_fine_sampling_resolves_a_narrow_bandwidth(step):
    kappa = 8.96                                  # half-width at 1/√2: 8.0°
    truth = _half_width(kappa)
    assert abs(truth - 8.0) < 0.05
    ori = np.arange(0, 180, step)
    prefs = np.array([0.0, 37.0, 91.5, 140.2])
    tuning = orientation_tuning(_von_mises(ori, prefs, kappa), ori)
    assert tuning.sampling_deg == step
    assert np.allclose(tuning.half_width, truth, atol=0.25)
    summary = orientation_summary(tuning)
    assert summary["orientation_sampling_deg"] == step
    row = _row(cortex_table(summary), "orientation_bandwidth_deg")
    assert row["inside"] is not None and row["note"] is None


def test_coarse_sampling_is_not_compared():
    # 11.25° steps cannot resolve an 8° half-width: the spline between samples,
    # not the curve, sets the number, which then depends on the preferred
    # orientation's place between samples
    kappa, ori = 8.96, np.arange(16) * 11.25
    prefs = np.linspace(0, 11.25, 6, endpoint=False)
    widths = tuning_half_width(_von_mises(ori, prefs, kappa), ori, level=1 / np.sqrt(2))
    assert np.ptp(widths) > 1.0 or np.max(np.abs(widths - _half_width(kappa))) > 1.0
    summary = orientation_summary(orientation_tuning(_von_mises(ori, prefs, kappa), ori))
    row = _row(cortex_table(summary), "orientation_bandwidth_deg")
    assert row["inside"] is None and row["resolved"] is False
    assert "not resolved" in row["note"] and row["note"].startswith("‡")
    line = next(line for line in format_cortex_table(cortex_table(summary)).splitlines()
                if line.startswith("orientation bandwidth"))
    assert re.search(r"\d ‡\s+10 - 45 degrees ~\s+-\s", line), line  # marked, not compared
