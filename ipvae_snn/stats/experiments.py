"""
Experiments on a network (or the reference algorithm) whose statistics go into
the cortex comparison: repeated trials of natural patches and gratings.

Examples
--------
>>> import numpy as np
>>> from ipvae_snn.stats import repeat_trials
>>> repeat_trials(np.array([[1.0], [2.0]]), 3).ravel().tolist()
[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
"""

from typing import NamedTuple

import numpy as np

from ..defaults import ANALYSIS_START, DEFAULT_WINDOW_S, min_analysis_windows
from ..metrics import lifetime_sparseness, population_sparseness
from .._memory import check_memory
from ..validation import InvalidValueError, check_callable, check_int, check_recorded
from ._common import nanmedian as _nanmedian
from .counts import fano_factor, firing_rates, lognormal_fit, noise_correlation, pair_values
from .tuning import (RINGACH_SMOOTHING, OrientationTuning, orientation_summary,
                     orientation_tuning)

__all__ = ["repeat_trials", "trial_counts", "network_statistics", "cortex_experiment",
           "CortexExperiment", "TUNING_ORIENTATIONS"]

#: Orientations of the tuning experiment's gratings (degrees): 3° apart, so
#: that bandwidths from 6° up are resolved (`orientation_summary` marks a
#: bandwidth below twice the step as unresolved).
TUNING_ORIENTATIONS = np.arange(60) * 3.0


def repeat_trials(patches, n_trials):
    """
    Stack ``n_trials`` copies of each patch, stimulus-major (patch i, trial j
    at row ``i * n_trials + j``), the layout `trial_counts` and
    `network_statistics` expect.
    """
    x = np.asarray(patches)
    n_trials = check_int(n_trials, "n_trials")
    if x.ndim < 1 or x.shape[0] == 0:
        raise InvalidValueError(f"patches: expected at least one patch, got shape {x.shape}")
    return np.repeat(x, n_trials, axis=0)


def _analysis_windows(result, windows):
    rec = np.asarray(result.windows)
    if windows is None:
        # Skip the transient from u_init when the run is long enough for it.
        start = (ANALYSIS_START if rec.max() >= 2 * ANALYSIS_START
                 else 1 if rec.max() >= 2 else 0)
        windows = rec[rec >= start]
    return check_recorded(windows, rec, name="windows")


def trial_counts(result, n_trials, windows=None):
    """
    Counts of a run over repeated trials, as (n_stimuli, n_trials, n_windows,
    n_neurons).

    Parameters
    ----------
    result : InferenceResult
        A run on ``repeat_trials(patches, n_trials)``.
    n_trials : int
    windows : sequence of int, optional
        Recorded windows to use (default: the recorded windows from 16 on,
        after the transient from ``u_init``).

    Raises
    ------
    ValueError
        If the patches are not grouped as `repeat_trials` makes them.
    """
    if result.counts is None:
        raise InvalidValueError("result: no counts were recorded (record_counts=False)")
    n_trials = check_int(n_trials, "n_trials", 2)
    n = result.n_patches
    if n % n_trials:
        raise InvalidValueError(f"result has {n} patches, not a multiple of n_trials={n_trials}")
    x = result.x.reshape(n // n_trials, n_trials, -1)
    if not np.array_equal(x, np.broadcast_to(x[:, :1], x.shape)):
        raise InvalidValueError(f"result: the patches are not {n_trials} repeats of each "
                         f"stimulus in a row; build the input with "
                         f"repeat_trials(patches, {n_trials})")
    windows = _analysis_windows(result, windows)
    idx = np.searchsorted(result.windows, windows)
    c = result.counts[:, idx]
    return c.reshape(n // n_trials, n_trials, windows.size, c.shape[-1])


def _result_spike_trains(result, patch, window_s, seed):
    # A SpikingResult returns its simulated spike times (and ignores window_s
    # and seed); counts-only results place each window's spikes uniformly.
    return result.spike_trains(patch, window_s=window_s, seed=seed)


# The highest mean rate over all neurons, windows and trials that the
# statistics accept: 1 kHz, the ceiling a refractory period of 1 ms sets on
# any neuron (cortical means are a few Hz). Above it the network is
# saturated — unwhitened 0-255 pixels drive every neuron to its clamp, about
# 10,000 spikes per window — and its spike trains, sorted one trial at a
# time, take minutes and gigabytes per trial for no meaningful statistic.
_MAX_MEAN_RATE_HZ = 1000.0
# Bytes per spike while a trial's train is made and sorted (times, neurons,
# the sort order, masks and the intervals).
_BYTES_PER_SPIKE = 160


def _check_spike_volume(result, window_s):
    """
    Refuse, before any spike train is made, a result whose spike volume is
    beyond a neuron's rates (`_MAX_MEAN_RATE_HZ`) or whose busiest trial's
    spike train would not fit in memory.
    """
    if result.counts.size == 0:
        return
    mean = float(result.counts.mean(dtype=np.float64))
    hint = ("check that the patches are whitened (raw 0-255 pixels drive every neuron "
            "to its clamp), or bound activity with max_count (--max-count)")
    if mean / window_s > _MAX_MEAN_RATE_HZ:
        raise InvalidValueError(
            f"the network's mean count is {mean:.3g} spikes per neuron and window "
            f"({mean / window_s:.3g} Hz), above the {_MAX_MEAN_RATE_HZ:g} Hz that any "
            f"neuron can fire: no spike statistics of it; {hint}")
    top = int(result.counts.sum(axis=(1, 2), dtype=np.int64).max())
    check_memory(_BYTES_PER_SPIKE * top, f"spike statistics of {top:,} spikes in one "
                 f"trial", hint + ", or analyse fewer windows")


def _pooled_isi_by_stimulus(result, n_trials, k, t0, t1, window_s, min_intervals,
                            seed):
    """Pooled ISI CV and LV per (stimulus, neuron), vectorised over neurons."""
    n_stim = result.n_patches // n_trials
    s1 = np.zeros((n_stim, k))
    s2 = np.zeros((n_stim, k))
    n_int = np.zeros((n_stim, k))
    lv_sum = np.zeros((n_stim, k))
    lv_n = np.zeros((n_stim, k))
    seeds = np.random.SeedSequence(seed).generate_state(result.n_patches)
    for p in range(result.n_patches):
        st = p // n_trials
        neuron, t = _result_spike_trains(result, p, window_s, int(seeds[p]))
        neuron, t = np.asarray(neuron), np.asarray(t, dtype=np.float64)
        keep = (t >= t0) & (t < t1)
        neuron, t = neuron[keep], t[keep]
        order = np.lexsort((t, neuron))
        neuron, t = neuron[order], t[order]
        same = neuron[1:] == neuron[:-1]
        d = np.diff(t)
        owner = neuron[1:][same]
        ints = d[same]
        s1[st] += np.bincount(owner, ints, minlength=k)
        s2[st] += np.bincount(owner, ints * ints, minlength=k)
        n_int[st] += np.bincount(owner, minlength=k)
        # Consecutive intervals of one neuron: three spikes of that neuron.
        both = same[:-1] & same[1:]
        a, b = d[:-1][both], d[1:][both]
        ok = (a + b) > 0
        pair_owner = neuron[1:-1][both][ok]
        terms = 3.0 * ((a[ok] - b[ok]) / (a[ok] + b[ok])) ** 2
        lv_sum[st] += np.bincount(pair_owner, terms, minlength=k)
        lv_n[st] += np.bincount(pair_owner, minlength=k)
    enough = n_int >= max(2, int(min_intervals))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / n_int
        var = np.maximum(s2 / n_int - mean * mean, 0.0)
        cv = np.where(enough & (mean > 0), np.sqrt(var) / mean, np.nan)
        lv = np.where(enough & (lv_n > 0), lv_sum / lv_n, np.nan)
    return cv, lv


def network_statistics(result, n_trials, windows=None, count_windows=5,
                       window_s=None, min_mean_count=1.0, min_intervals=20, seed=0):
    """
    The cortex-comparable spike statistics of a run over repeated trials.

    Parameters
    ----------
    result : InferenceResult
        A run on ``repeat_trials(patches, n_trials)`` with counts recorded at
        consecutive windows.
    n_trials : int
        Trials per stimulus (≥ 2; 20 or more for noise correlations).
    windows : sequence of int, optional
        Consecutive recorded windows to analyse (default: those from window
        16 on, after the transient from ``u_init``).
    count_windows : int
        Windows per spike count for the Fano factor and noise correlations
        (default 5: 0.5 s at the default ``T_w`` of 0.1 s, within the counting
        windows of the cortical studies). The analysed windows are cut into
        consecutive blocks of this length; each block of each stimulus is one
        condition.
    window_s : float, optional
        Window length in seconds (default: ``result.info['window_s']`` or
        `DEFAULT_WINDOW_S`).
    min_mean_count : float
        Fano factors are reported for (condition, neuron) pairs with at least
        this mean count per counting window (responsive neurons).
    min_intervals : int
        ISI CV and LV are computed per (stimulus, neuron) from the intervals
        of all its trials within the analysed windows (`pooled_isi_cv`,
        `pooled_isi_lv`, computed here in one vectorised pass), where at least
        this many intervals are pooled.
    seed : int
        Seeds the placement of spike times inside windows for results that
        hold counts only.

    Returns
    -------
    dict
        Measure keys of the cortex reference: ``fano_factor`` (median),
        ``noise_correlation`` (mean r_sc over pairs), ``isi_cv``, ``isi_lv``
        (medians over (stimulus, neuron)), ``lifetime_sparseness``,
        ``population_sparseness`` (means,
        of the trial- and window-averaged responses), ``log10_rate_sd``,
        ``median_rate_hz``, ``mean_rate_hz``, ``lognormal_ks``; and the
        settings and sample sizes (keys starting with ``n_`` or ending in
        ``_s``).
    """
    counts = trial_counts(result, n_trials, windows)      # (S, R, W, K)
    windows = _analysis_windows(result, windows)
    if np.any(np.diff(windows) != 1):
        raise InvalidValueError("windows: the analysed windows must be consecutive")
    if window_s is None:
        window_s = float(result.info.get("window_s", DEFAULT_WINDOW_S))
    _check_spike_volume(result, window_s)
    count_windows = check_int(count_windows, "count_windows", 1, windows.size)
    n_stim, _, n_win, k = counts.shape
    n_blocks = n_win // count_windows
    blocks = counts[:, :, :n_blocks * count_windows].reshape(
        n_stim, n_trials, n_blocks, count_windows, k).sum(axis=3, dtype=np.int64)
    # (S, R, B, K) -> conditions (S*B) x trials x neurons
    cond = blocks.transpose(0, 2, 1, 3).reshape(n_stim * n_blocks, n_trials, k)

    fano = fano_factor(cond, axis=1)
    responsive = cond.mean(axis=1) >= min_mean_count
    r_sc = pair_values(noise_correlation(cond))

    mean_resp = counts.mean(axis=(1, 2))                  # (S, K)
    rates = firing_rates(counts, window_s)
    fit = lognormal_fit(rates) if np.count_nonzero(rates) >= 2 else None

    t0, t1 = windows[0] * window_s, (windows[-1] + 1) * window_s
    cvs, lvs = _pooled_isi_by_stimulus(result, n_trials, k, t0, t1, window_s,
                                       min_intervals, seed)

    out = dict(
        fano_factor=_nanmedian(fano[responsive]),
        noise_correlation=float(np.mean(r_sc)) if r_sc.size else float("nan"),
        isi_cv=_nanmedian(cvs),
        isi_lv=_nanmedian(lvs),
        lifetime_sparseness=float(np.nanmean(lifetime_sparseness(mean_resp)))
        if n_stim > 1 else float("nan"),
        population_sparseness=float(np.nanmean(population_sparseness(mean_resp))),
        log10_rate_sd=fit.sigma_log10 if fit else float("nan"),
        median_rate_hz=float(np.median(rates)),
        mean_rate_hz=float(np.mean(rates)),
        lognormal_ks=fit.ks_statistic if fit else float("nan"),
        n_stimuli=int(n_stim), n_trials=int(n_trials),
        n_fano_pairs=int(responsive.sum()), n_correlation_pairs=int(r_sc.size),
        n_isi_neurons=int(np.isfinite(cvs).sum()), n_silent_neurons=int(np.sum(rates == 0)),
        counting_window_s=float(count_windows * window_s),
        analysis_s=float(n_win * window_s), window_s=float(window_s),
    )
    return out


class CortexExperiment(NamedTuple):
    """
    What `cortex_experiment` measured.

    ``values`` holds the network's values keyed as the cortex reference (pass
    it to `cortex_table`); ``natural`` and ``gratings`` are the two runs'
    results, ``grating_conditions`` the grating parameters (`stimuli.grating_set`)
    and ``tuning`` the grating tuning (`orientation_tuning`), whose responses
    are mean counts per window over the analysed windows.
    """

    values: dict
    natural: object
    gratings: object
    grating_conditions: dict
    tuning: OrientationTuning


def cortex_experiment(run, patches, n_trials=20, n_windows=101, gratings=None,
                      count_windows=5, min_peak=0.5, smoothing=RINGACH_SMOOTHING,
                      seed=0):
    """
    The two experiments behind the network-vs-cortex table: repeated trials
    of natural patches (variability, sparseness, rates, correlations) and
    static gratings (orientation tuning).

    Parameters
    ----------
    run : callable
        ``run(patches, n_windows, seed=..., record_windows=...)`` returning an
        `InferenceResult`: ``SpikingIPVAE(params).run`` for the spiking
        network, ``functools.partial(ipvae_snn.infer, params)`` for the
        reference algorithm.
    patches : array_like, shape (n_stimuli, n_pixels)
        Natural patches, each shown ``n_trials`` times (`repeat_trials`).
    n_trials : int
        Trials per patch (≥ 2; 20 or more for noise correlations).
    n_windows : int
        Windows per trial (≥ 33). Windows 16 onwards are analysed, after the
        transient from ``u_init``; only they are recorded.
    gratings : (patches, conditions), optional
        Default `ipvae_snn.stimuli.grating_set` at `TUNING_ORIENTATIONS`
        (60 orientations, 3° apart: fine enough for bandwidths of 6° and
        more, `orientation_summary`) × 8 phases at 0.25 cycles/pixel, RMS
        contrast 1; one trial each.
    count_windows : int
        Windows per spike count of the Fano factor and noise correlations
        (`network_statistics`).
    min_peak : float
        Neurons enter the tuning medians when their peak mean count per window
        exceeds this (0.5: 5 spikes/s at the default T_w of 100 ms).
    smoothing : float or None
        Hanning smoothing (HWHH, degrees) of the tuning curves before the
        bandwidth is read (`RINGACH_SMOOTHING`, as Ringach et al. 2002); the
        unsmoothed bandwidth is reported beside it.
    seed : int
        Seeds the natural-patch run (the grating run uses ``seed + 1``).

    Returns
    -------
    CortexExperiment

    Examples
    --------
    The experiments on the reference algorithm (the network runs the same way
    with ``SpikingIPVAE(params).run``):

    >>> import functools, ipvae_snn
    >>> from ipvae_snn.data import natural_patches
    >>> run = functools.partial(ipvae_snn.infer, ipvae_snn.default_params(), warn=False)
    >>> exp = cortex_experiment(run, natural_patches(n_patches=3, seed=0), n_trials=4,
    ...                         n_windows=41)
    >>> exp.values["n_stimuli"], exp.gratings.n_patches, "fano_factor" in exp.values
    (3, 480, True)
    """
    from ..stimuli import grating_set
    n_windows = check_int(n_windows, "n_windows", min_analysis_windows(),
                          reason=f"the statistics start at window {ANALYSIS_START}, after "
                                 f"the transient from u_init")
    check_callable(run, "run", "run(patches, n_windows, seed=..., record_windows=...)")
    x = np.asarray(patches)
    windows = np.arange(ANALYSIS_START, n_windows)
    natural = run(repeat_trials(x, n_trials), n_windows, seed=seed,
                  record_windows=windows)
    values = network_statistics(natural, n_trials, count_windows=count_windows)
    stim, conditions = (grating_set(orientations=TUNING_ORIENTATIONS) if gratings is None
                        else gratings)
    grating_result = run(np.asarray(stim), n_windows, seed=seed + 1,
                         record_windows=windows)
    response = grating_result.counts.mean(axis=1)
    tuning = orientation_tuning(response, conditions["orientation"],
                                smoothing=smoothing)
    values.update(orientation_summary(tuning, min_peak=min_peak))
    return CortexExperiment(values, natural, grating_result, dict(conditions), tuning)
