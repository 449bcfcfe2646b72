"""
Spike statistics with the standard definitions used for cortical recordings,
and the comparison of a network's values with V1 reference ranges.

One function per measure (Elephant's convention), one module per family:

`ipvae_snn.stats.spiketrains`
    spike-train conversion (neo) and inter-spike-interval measures
    (`isi`, `isi_cv`, `isi_lv`, pooled over trials);
`ipvae_snn.stats.counts`
    spike-count measures (Fano factor, noise correlations, firing rates and
    their log-normal fit, sparseness);
`ipvae_snn.stats.tuning`
    orientation tuning curves and their measures, receptive-field orientation;
`ipvae_snn.stats.recordings`
    recorded spike trains cut into trials (any NWB file with a Units table)
    and their statistics;
`ipvae_snn.stats.experiments`
    repeated-trial and grating experiments on a network and the statistics
    the cortex comparison reads from them;
`ipvae_snn.stats.fano`
    the mean-matched Fano factor over time (Churchland et al. 2010);
`ipvae_snn.stats.correlations`
    noise correlation against signal correlation and receptive-field
    overlap (Cohen & Kohn 2011);
`ipvae_snn.stats.allen`
    the Allen Brain Observatory's natural-scenes metrics (lifetime
    sparseness, reliability, image selectivity);
`ipvae_snn.stats.protocols`
    the experimenters' protocols run on a model (contrast, noise
    correlation, natural scenes) and the literature values they compare to;
`ipvae_snn.stats.timescale`
    the rate-based measures as the window length (one FOND step in
    biological time) varies;
`ipvae_snn.stats.cortex`
    the V1 reference ranges (``cortex_v1.json`` in the package) and the
    network-vs-cortex table.

Every name is importable from ``ipvae_snn.stats`` itself.

Input layouts:

- a *spike train* is a 1-D array of spike times (or a `neo.SpikeTrain`); a
  *list of trains* is a list of those. ``(neuron, t)`` arrays, as returned by
  ``InferenceResult.spike_trains(patch)``, become a list with
  `split_spike_trains` or `to_neo`.
- *counts* are spike counts with neurons on the last axis.
- *tuning curves* have orientations on the first axis; orientations are in
  degrees and follow `ipvae_snn.stimuli` (stripe orientation, 0° horizontal,
  counter-clockwise).

Examples
--------
>>> import numpy as np
>>> from ipvae_snn import stats
>>> counts = np.random.default_rng(0).poisson(2.0, size=(20000, 3))   # trials x neurons
>>> np.round(stats.fano_factor(counts), 1).tolist()
[1.0, 1.0, 1.0]
>>> sorted(stats.load_cortex_reference()["measures"])[:2]
['circular_variance', 'fano_factor']
"""

from .allen import (ALLEN_THRESHOLDS, NaturalScenesMetrics, allen_lifetime_sparseness,
                    image_selectivity, natural_scenes_metrics, reliability)
from .correlations import (SIGNAL_BINS, BinnedMean, PairCorrelations, binned_mean,
                           pair_correlations, rf_overlap, signal_correlation)
from .fano import (MeanMatchedFano, mean_matched_fano, onset_aligned_counts,
                   variance_mean_slope)
from .protocols import (DEFAULT_CONTRASTS, ContrastProtocol, NaturalScenesProtocol,
                        NoiseCorrelationProtocol, confirmed_ranges, contrast_protocol,
                        load_protocol_reference, natural_scenes_protocol,
                        noise_correlation_protocol, OnsetProtocol, onset_protocol,
                        protocol_stimuli)
from .sensitivity import (SENSITIVITY_COSTS, SENSITIVITY_GAINS, SENSITIVITY_WINDOWS_S,
                          cortex_sensitivity, inside_summary)
from .timescale import (DOCUMENTED_WINDOW_S, TIMESCALE_SOURCES, WINDOW_LENGTHS_S,
                        rates_by_window)
from .cortex import cortex_table, format_cortex_table, load_cortex_reference
from .counts import (LognormalFit, fano_factor, firing_rates, lifetime_sparseness,
                     lognormal_fit, noise_correlation, pair_values,
                     population_sparseness, sparseness)
from .experiments import (TUNING_ORIENTATIONS, CortexExperiment, cortex_experiment,
                          network_statistics, repeat_trials, trial_counts)
from .spiketrains import (from_neo, isi, isi_cv, isi_lv, pooled_isi_cv, pooled_isi_lv,
                          result_to_neo, split_spike_trains, to_neo)
from .recordings import STIMULUS_COLUMNS, NWBTrials, read_trials, trial_statistics
from .tuning import (RINGACH_LEVEL, RINGACH_SMOOTHING, OrientationTuning,
                     circular_variance, orientation_selectivity_index,
                     orientation_summary, orientation_tuning, preferred_orientation,
                     receptive_field_tuning, tuning_curves, tuning_half_width)

__all__ = [
    # spike trains
    "split_spike_trains", "to_neo", "result_to_neo", "from_neo", "isi", "isi_cv",
    "isi_lv", "pooled_isi_cv", "pooled_isi_lv",
    # recorded trials (NWB files)
    "read_trials", "NWBTrials", "STIMULUS_COLUMNS", "trial_statistics",
    # counts
    "fano_factor", "noise_correlation", "pair_values", "firing_rates",
    "lognormal_fit", "LognormalFit", "sparseness", "lifetime_sparseness",
    "population_sparseness",
    # orientation tuning
    "tuning_curves", "preferred_orientation", "circular_variance",
    "orientation_selectivity_index", "tuning_half_width", "orientation_tuning",
    "OrientationTuning", "receptive_field_tuning", "orientation_summary",
    "RINGACH_LEVEL", "RINGACH_SMOOTHING",
    # mean-matched Fano factor, correlations, Allen natural-scenes metrics
    "mean_matched_fano", "MeanMatchedFano", "variance_mean_slope", "onset_aligned_counts",
    "signal_correlation", "rf_overlap", "binned_mean", "BinnedMean",
    "pair_correlations", "PairCorrelations", "SIGNAL_BINS",
    "image_selectivity", "reliability", "allen_lifetime_sparseness",
    "natural_scenes_metrics", "NaturalScenesMetrics", "ALLEN_THRESHOLDS",
    # protocols and the time scale
    "onset_protocol", "OnsetProtocol", "contrast_protocol", "ContrastProtocol",
    "noise_correlation_protocol",
    "NoiseCorrelationProtocol", "natural_scenes_protocol", "NaturalScenesProtocol",
    "protocol_stimuli", "load_protocol_reference", "confirmed_ranges",
    "DEFAULT_CONTRASTS", "rates_by_window", "DOCUMENTED_WINDOW_S", "WINDOW_LENGTHS_S",
    "TIMESCALE_SOURCES", "cortex_sensitivity", "inside_summary", "SENSITIVITY_GAINS",
    "SENSITIVITY_WINDOWS_S", "SENSITIVITY_COSTS",
    # experiments and the cortex comparison
    "repeat_trials", "trial_counts", "network_statistics", "cortex_experiment",
    "TUNING_ORIENTATIONS",
    "CortexExperiment",
    "load_cortex_reference", "cortex_table", "format_cortex_table",
]
