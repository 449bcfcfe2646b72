"""
Figures of inference runs (matplotlib).

Every function returns its `matplotlib.figure.Figure` and, given ``path``,
also writes it atomically (`save_figure`). Without a display (a server, CI,
the command line) the non-interactive Agg backend is selected before pyplot
is first imported, so nothing tries to open a window.

Modules: `figure` (files and formats), `readout` (reconstructions, read-out
curves, the dictionary), `spikes` (rasters, membrane traces), `cortex` (the
network-vs-V1 comparison, tuning curves), `protocols` (the experimenters'
protocols: mean-matched Fano factor, contrast, noise correlation, Allen
metrics, rates against the window length). Every name is importable from
``ipvae_snn.plotting`` itself.

Examples
--------
>>> import ipvae_snn
>>> from ipvae_snn.data import natural_patches
>>> from ipvae_snn.plotting import plot_reconstructions, plot_raster
>>> result = ipvae_snn.infer(ipvae_snn.default_params(), natural_patches(n_patches=4, seed=0),
...                          n_windows=17, seed=0)
>>> fig = plot_reconstructions(result, n_patches=2)
>>> fig = plot_raster(result, patch=0)
"""

from .cortex import plot_cortex_comparison, plot_tuning_curves
from .figure import check_figure_path, save_figure
from .protocols import (plot_contrast_protocol, plot_mean_matched_fano, plot_onset_protocol,
                        plot_sensitivity,
                        plot_natural_scenes_protocol, plot_noise_correlation_protocol,
                        plot_rates_by_window)
from .readout import plot_dictionary, plot_reconstructions, plot_window_curves
from .spikes import plot_membrane_traces, plot_raster

__all__ = ["plot_reconstructions", "save_figure", "check_figure_path", "plot_raster",
           "plot_membrane_traces", "plot_dictionary", "plot_window_curves",
           "plot_cortex_comparison", "plot_tuning_curves", "plot_mean_matched_fano",
           "plot_contrast_protocol", "plot_onset_protocol", "plot_sensitivity",
           "plot_noise_correlation_protocol",
           "plot_natural_scenes_protocol", "plot_rates_by_window"]
