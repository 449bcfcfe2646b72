"""
Figures and printed summaries that say what they show: colourbars that run
with their axes, membrane traces over a spread of activity with readable
spikes and units, one rule for the windows a figure shows, summaries as
tables.
"""

import numpy as np
import pytest

import ipvae_snn
from ipvae_snn.data import natural_patches
from ipvae_snn.plotting import (plot_membrane_traces, plot_raster, plot_reconstructions,
                                plot_tuning_curves)
from ipvae_snn.plotting.figure import pyplot
from ipvae_snn.results import figure_windows, summary_windows


@pytest.fixture(scope="module")
def result():
    params = ipvae_snn.default_params()
    return ipvae_snn.infer(params, natural_patches(n_patches=6, seed=0), n_windows=65,
                           seed=0, record_u=True, progress=False)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    pyplot().close("all")


def test_the_orientation_colourbar_runs_the_way_the_raster_does(result):
    fig = plot_raster(result, patch=0, sort_by="orientation")
    raster = next(c for ax in fig.axes for c in ax.collections
                  if c.get_array() is not None and len(c.get_offsets()) > 100)
    y = raster.get_offsets()[:, 1]
    ori = np.asarray(raster.get_array())
    # rows: orientation grows upwards (the row of each spike against its colour)
    assert np.corrcoef(np.argsort(np.argsort(y)), np.argsort(np.argsort(ori)))[0, 1] > 0.99
    cbar_ax = raster.colorbar.ax
    lo, hi = cbar_ax.get_ylim()
    assert lo < hi and np.isclose(lo, 0) and np.isclose(hi, 180)   # 0° at the bottom too
    assert not cbar_ax.yaxis_inverted()


def test_membrane_traces_spread_over_activity_with_units_and_a_readable_zoom(result):
    fig = plot_membrane_traces(result, patch=0, max_neurons=5)
    rates = result.counts[0].mean(axis=0) / 0.1
    grid = np.array([ax for ax in fig.axes if ax.get_subplotspec() is not None])
    grid = grid.reshape(-1, 2)
    labels = [ax.get_ylabel() for ax in grid[:, 0]]
    shown = [int(label.split()[1]) for label in labels]
    assert len(shown) == 5
    # from the most active neuron down to the median one
    assert rates[shown[0]] == rates.max()
    assert rates[shown[-1]] <= np.median(rates)
    assert np.all(np.diff(rates[shown]) < 0)                      # distinct levels
    for label, n in zip(labels, shown):
        assert f"{rates[n]:.3g} sp/s" in label
    # every axis has its units: time in s on x, the rate axis in spikes/s
    assert grid[-1, 0].get_xlabel() == "time (s)" == grid[-1, 1].get_xlabel()
    secondary = [c for ax in grid[:, 1] for c in ax.child_axes]
    assert len(secondary) == 5 and all("spikes/s" in ax.get_ylabel() for ax in secondary)
    assert "natural log of the expected spike count" in fig._supxlabel.get_text()
    # the zoom: 3 windows, where the most active neuron's spikes are 1-2 ms
    # apart on average instead of merging over 6.5 s
    t_lo, t_hi = grid[0, 1].get_xlim()
    assert np.isclose(t_hi - t_lo, 0.3) and np.isclose(t_hi, 6.5)
    ticks = [line for line in grid[0, 1].lines if line.get_marker() == "|"][0]
    x = ticks.get_xdata()
    assert x.size == result.counts[0, -3:, shown[0]].sum()
    width_px = grid[0, 1].get_window_extent().width
    assert width_px * 0.3 / max(x.size, 1) / (t_hi - t_lo) > 1.0  # > 1 px per spike


def test_the_api_and_the_command_line_show_the_same_windows(result):
    from ipvae_snn.cli.common import record_windows_for
    fig = plot_reconstructions(result, n_patches=2, curves=False)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["input", "T = 1", "T = 4", "T = 16", "T = 64"]
    # the command line records fewer windows and picks the same ones
    assert figure_windows(record_windows_for(65), 65).tolist() == [1, 4, 16, 64]
    assert figure_windows(range(1001), 1001).tolist() == summary_windows(1001).tolist()


def test_reconstructions_have_an_intensity_scale_in_the_input_units(result):
    fig = plot_reconstructions(result, patches=[0, 3], curves=False)
    bars = [ax for ax in fig.axes if ax.get_ylabel().startswith("pixel value")]
    assert len(bars) == 2                                           # one per row
    for bar, p in zip(bars, (0, 3)):
        vmax = np.abs(result.x[p]).max()
        assert np.allclose(bar.get_ylim(), (-vmax, vmax))


def test_summary_prints_as_an_aligned_table(result):
    rows = result.summary()
    assert [row["T"] for row in rows] == [1, 4, 16, 64]
    lines = str(rows).splitlines()
    assert repr(rows) == str(rows)
    assert lines[0].split()[:3] == ["T", "R²", "mean"]
    assert len(lines) == 1 + len(rows)
    # aligned: every column ends at the same character in every line
    assert len({len(line) for line in lines}) == 1
    for line, t in zip(lines[1:], (1, 4, 16, 64)):
        cells = line.split()
        assert int(cells[0]) == t
        assert cells[1] == f"{np.nanmean(result.r2[:, t]):.4f}"      # 4 decimals, no 16
        assert all(len(c.split(".")[-1]) <= 4 for c in cells[1:])


def test_tuning_plot_names_circular_variance_and_its_sampling():
    from ipvae_snn.stats import orientation_tuning
    ori = np.arange(60) * 3.0
    prefs = np.arange(6) * 30.0
    curves = np.exp(8.96 * (np.cos(np.deg2rad(2 * (ori[:, None] - prefs))) - 1))
    fig = plot_tuning_curves(orientation_tuning(curves, ori))
    texts = " ".join(ax.get_title() for ax in fig.axes)
    assert "circ. var." in texts and "CV" not in texts
    assert "sampled every 3°" in fig.subfigs[0]._supxlabel.get_text()
