"""
Spike statistics with the standard definitions used for cortical recordings,
and the comparison of a network's values with V1 reference ranges.

One function per measure (Elephant's convention). Where Elephant provides a
measure on spike times (`isi`, `cv`, `lv`), it is used when importable
(``pip install ipvae-snn[stats]``) and a numpy implementation with the same
definition is used otherwise (``backend="numpy"`` forces it). Measures on
spike *counts* (Fano factor, noise correlations, sparseness) are computed
from the counts directly: they are what the network's windows produce, and
Elephant's `fanofactor` would only count the spikes of trains built from
them (the tests check that it gives the same number).

Input layouts:

- a *spike train* is a 1-D array of spike times (or a `neo.SpikeTrain`); a
  *list of trains* is a list of those. ``(neuron, t)`` arrays, as returned by
  ``InferenceResult.spike_trains(patch)``, become a list with
  `split_spike_trains` or `to_neo`.
- *counts* are spike counts with neurons on the last axis.
- *tuning curves* have orientations on the first axis; orientations are in
  degrees and follow `ipvae_snn.stimuli` (stripe orientation, 0° horizontal,
  counter-clockwise).

Cortical reference values live in ``cortex_v1.json`` beside this module
(`load_cortex_reference`), and `cortex_table` puts a network's values next
to them.
"""

import json
import math
from importlib import resources
from typing import NamedTuple

import numpy as np

from .metrics import lifetime_sparseness, population_sparseness, sparseness
from .results import DEFAULT_WINDOW_S

__all__ = [
    # spike trains
    "split_spike_trains", "to_neo", "from_neo", "isi", "isi_cv", "isi_lv",
    "pooled_isi_cv", "pooled_isi_lv",
    # counts
    "fano_factor", "noise_correlation", "pair_values", "firing_rates",
    "lognormal_fit", "LognormalFit", "sparseness", "lifetime_sparseness",
    "population_sparseness",
    # orientation tuning
    "tuning_curves", "preferred_orientation", "circular_variance",
    "orientation_selectivity_index", "tuning_half_width", "orientation_tuning",
    "OrientationTuning", "receptive_field_tuning", "orientation_summary",
    "RINGACH_LEVEL", "RINGACH_SMOOTHING",
    # experiments and the cortex comparison
    "repeat_trials", "trial_counts", "network_statistics", "cortex_experiment",
    "CortexExperiment",
    "load_cortex_reference", "cortex_table", "format_cortex_table",
]

_STATS_EXTRA = ("the 'stats' extra is needed for this: pip install "
                "'ipvae-snn[stats]' (Elephant and neo)")

#: The response level, relative to the peak, at which Ringach, Shapley &
#: Hawken (2002) measured the orientation bandwidth (half-width at 1/√2 height).
RINGACH_LEVEL = 1.0 / math.sqrt(2.0)

#: Half-width at half-height (degrees) of the Hanning window that smooths a
#: tuning curve before its bandwidth is read, in the published description of
#: the analysis of Ringach, Shapley & Hawken's macaque V1 data (curves
#: interpolated at 1°, smoothed, then the half-width at 1/√2 of the peak).
RINGACH_SMOOTHING = 13.5


# ---------------------------------------------------------------- back-ends
def _elephant_statistics():
    try:
        import elephant.statistics as es
    except ImportError:
        return None
    return es


def _backend(backend):
    if backend not in ("auto", "elephant", "numpy"):
        raise ValueError(f"backend must be 'auto', 'elephant' or 'numpy', got "
                         f"{backend!r}")
    if backend == "numpy":
        return None
    es = _elephant_statistics()
    if es is None and backend == "elephant":
        raise ImportError(f"backend='elephant': {_STATS_EXTRA}")
    return es


def _import_neo():
    try:
        import neo
        import quantities as pq
    except ImportError as exc:
        raise ImportError(f"{_STATS_EXTRA} ({exc})") from None
    return neo, pq


# ---------------------------------------------------------------- spike trains
def _times(train, name="spiketrain"):
    """One train as a float64 array (a neo/quantities train in its own units)."""
    if hasattr(train, "magnitude") and hasattr(train, "units"):
        train = train.magnitude
    arr = np.asarray(train, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name}: a spike train must be 1-D spike times, got shape "
                         f"{arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: non-finite spike times")
    if arr.size > 1 and np.any(np.diff(arr) < 0):
        raise ValueError(f"{name}: spike times are not sorted ascending")
    return arr


def _is_train_list(obj):
    if isinstance(obj, np.ndarray):
        return obj.dtype == object
    if hasattr(obj, "magnitude"):
        return False
    if isinstance(obj, (list, tuple)):
        return len(obj) > 0 and all(np.ndim(item) == 1 or hasattr(item, "magnitude")
                                    for item in obj)
    return False


def _per_train(func, spiketrains):
    if _is_train_list(spiketrains):
        return np.array([func(_times(t, f"spiketrains[{i}]"))
                         for i, t in enumerate(spiketrains)], dtype=np.float64)
    return func(_times(spiketrains))


def split_spike_trains(neuron, t, n_neurons=None):
    """
    Split ``(neuron, t)`` spike arrays into one sorted train per neuron.

    Parameters
    ----------
    neuron : array_like of int, shape (n_spikes,)
    t : array_like of float, shape (n_spikes,)
    n_neurons : int, optional
        Number of trains (default ``max(neuron) + 1``).

    Returns
    -------
    list of ndarray
        ``trains[k]`` holds neuron k's spike times, ascending.
    """
    neuron, t = _check_spikes(neuron, t, n_neurons)
    if n_neurons is None:
        n_neurons = int(neuron.max()) + 1 if neuron.size else 0
    order = np.lexsort((t, neuron))
    neuron, t = neuron[order], t[order]
    bounds = np.searchsorted(neuron, np.arange(n_neurons + 1))
    return [t[bounds[k]:bounds[k + 1]] for k in range(n_neurons)]


def _check_spikes(neuron, t, n_neurons):
    neuron = np.asarray(neuron)
    t = np.asarray(t, dtype=np.float64)
    if neuron.ndim != 1 or t.ndim != 1 or neuron.shape != t.shape:
        raise ValueError(f"neuron and t must be 1-D arrays of equal length, got "
                         f"shapes {neuron.shape} and {t.shape}")
    if neuron.size and (neuron.dtype.kind not in "iu"):
        raise ValueError(f"neuron: expected integer indices, got dtype {neuron.dtype}")
    neuron = neuron.astype(np.int64)
    if neuron.size and neuron.min() < 0:
        raise ValueError("neuron: negative indices")
    if n_neurons is not None and neuron.size and neuron.max() >= n_neurons:
        raise ValueError(f"neuron: index {int(neuron.max())} >= n_neurons={n_neurons}")
    if not np.isfinite(t).all():
        raise ValueError("t: non-finite spike times")
    return neuron, t


def to_neo(neuron, t, n_neurons=None, t_start=0.0, t_stop=None, units="s",
           **annotations):
    """
    Export ``(neuron, t)`` spike arrays as a list of `neo.SpikeTrain`.

    Parameters
    ----------
    neuron, t : array_like
        As returned by ``InferenceResult.spike_trains(patch)`` (times in
        seconds unless ``units`` says otherwise).
    n_neurons : int, optional
        Number of trains (default ``max(neuron) + 1``); silent neurons get
        empty trains.
    t_start, t_stop : float, optional
        Recording interval in ``units``; ``t_stop`` defaults to the last spike
        (or ``t_start`` when there is none). Spikes outside it are an error.
    units : str
        Time units of ``t``, ``t_start`` and ``t_stop``.
    **annotations
        Added to every train (e.g. ``patch=3``); each train is also annotated
        with its ``neuron`` index.

    Returns
    -------
    list of neo.SpikeTrain

    Raises
    ------
    ImportError
        If neo is not installed (the ``stats`` extra).
    """
    neo, _ = _import_neo()
    trains = split_spike_trains(neuron, t, n_neurons)
    t = np.asarray(t, dtype=np.float64)
    if t_stop is None:
        t_stop = float(t.max()) if t.size else float(t_start)
    if t.size and (t.min() < t_start or t.max() > t_stop):
        raise ValueError(f"t: spike times span [{t.min()}, {t.max()}], outside "
                         f"[t_start={t_start}, t_stop={t_stop}]")
    return [neo.SpikeTrain(times, t_start=t_start, t_stop=t_stop, units=units,
                           neuron=k, **annotations)
            for k, times in enumerate(trains)]


def from_neo(spiketrains, units="s"):
    """
    ``(neuron, t)`` arrays from a list of `neo.SpikeTrain` (list position =
    neuron index), times in ``units``, sorted by time.
    """
    neuron, t = [], []
    for k, st in enumerate(spiketrains):
        times = st.rescale(units).magnitude if hasattr(st, "rescale") else np.asarray(st)
        t.append(np.asarray(times, dtype=np.float64))
        neuron.append(np.full(len(times), k, dtype=np.int32))
    if not t:
        return np.zeros(0, np.int32), np.zeros(0)
    neuron, t = np.concatenate(neuron), np.concatenate(t)
    order = np.argsort(t, kind="stable")
    return neuron[order], t[order]


def isi(spiketrain, backend="auto"):
    """
    Inter-spike intervals ``I_i = t_{i+1} - t_i`` of one train.

    Uses `elephant.statistics.isi` when available.

    Parameters
    ----------
    spiketrain : array_like or neo.SpikeTrain
        Sorted spike times.
    backend : {'auto', 'elephant', 'numpy'}

    Returns
    -------
    ndarray
        Intervals in the units of the input.
    """
    times = _times(spiketrain)
    es = _backend(backend)
    if es is not None:
        return np.asarray(es.isi(times), dtype=np.float64)
    return np.diff(times)


def isi_cv(spiketrains, min_spikes=3, backend="auto"):
    r"""
    Coefficient of variation of the inter-spike intervals.

    ``CV = std(I) / mean(I)`` (population std, ``ddof=0``, as Elephant and
    scipy define it). 1 for a Poisson process, 0 for a regular train
    (Softky & Koch 1993).

    Parameters
    ----------
    spiketrains : array_like, neo.SpikeTrain, or list of them
        One train (returns a float) or a list (returns one value per train).
    min_spikes : int
        Trains with fewer spikes give NaN (at least 3: two intervals).
    backend : {'auto', 'elephant', 'numpy'}
        ``'auto'`` uses `elephant.statistics.cv` when importable.

    Returns
    -------
    float or ndarray

    References
    ----------
    Softky, W. R. & Koch, C. (1993). The highly irregular firing of cortical
    cells is inconsistent with temporal integration of random EPSPs.
    J. Neurosci. 13(1), 334–350.
    """
    return _per_train_intervals(_cv, spiketrains, min_spikes, backend)


def isi_lv(spiketrains, min_spikes=3, backend="auto"):
    r"""
    Local variation of the inter-spike intervals (Shinomoto et al. 2003).

    .. math::
        L_V = \frac{3}{n-1} \sum_{i=1}^{n-1}
              \left(\frac{I_i - I_{i+1}}{I_i + I_{i+1}}\right)^2

    for ``n`` intervals. It compares each interval with the next, so slow
    rate changes (e.g. from window to window) affect it much less than the
    CV. 1 for a Poisson process, 0 for a regular train, > 1 for bursty
    firing.

    Parameters
    ----------
    spiketrains : array_like, neo.SpikeTrain, or list of them
    min_spikes : int
        Trains with fewer spikes give NaN (at least 3: two intervals).
    backend : {'auto', 'elephant', 'numpy'}
        ``'auto'`` uses `elephant.statistics.lv` when importable.

    Returns
    -------
    float or ndarray

    References
    ----------
    Shinomoto, S., Shima, K. & Tanji, J. (2003). Differences in spiking
    patterns among cortical neurons. Neural Comput. 15(12), 2823–2842.
    """
    return _per_train_intervals(_lv, spiketrains, min_spikes, backend)


def _cv(intervals, es):
    """CV of ``intervals`` (NaN for a zero mean); ``es``: Elephant or None."""
    mean = intervals.mean()
    if mean <= 0:
        return np.nan
    if es is not None:
        return float(es.cv(intervals))
    return float(intervals.std() / mean)


def _lv(intervals, es):
    """LV of ``intervals`` (NaN where two consecutive ones sum to 0)."""
    pair = intervals[:-1] + intervals[1:]
    if np.any(pair <= 0):
        return np.nan
    if es is not None:
        return float(es.lv(intervals, with_nan=False))
    return float(3.0 * np.mean((np.diff(intervals) / pair) ** 2))


def _per_train_intervals(measure, spiketrains, min_spikes, backend):
    """
    ``measure(intervals, es)`` of each train's inter-spike intervals; NaN for
    trains with fewer than ``min_spikes`` spikes.
    """
    min_spikes = _check_min_spikes(min_spikes)
    es = _backend(backend)

    def one(times):
        if times.size < min_spikes:
            return np.nan
        return measure(np.diff(times), es)
    return _per_train(one, spiketrains)


def _check_min_spikes(min_spikes):
    if isinstance(min_spikes, bool) or not isinstance(min_spikes, (int, np.integer)) \
            or min_spikes < 3:
        raise ValueError(f"min_spikes must be an integer >= 3 (two intervals), got "
                         f"{min_spikes!r}")
    return int(min_spikes)


def pooled_isi_cv(trials, min_intervals=20, backend="auto"):
    """
    ISI CV of one neuron from repeated trials: the CV of all intervals pooled
    (intervals are taken within each trial, never across trial boundaries).

    Short trains bias the per-train CV downwards (for Poisson trains
    conditioned on their spike count, the median `isi_cv` is about 0.85 at
    10 spikes and 0.96 at 50); pooling the trials of a neuron avoids that,
    while trial-to-trial rate changes count as irregularity.

    Parameters
    ----------
    trials : list of array_like or neo.SpikeTrain
        The neuron's spike trains, one per trial.
    min_intervals : int
        NaN when fewer intervals are pooled (at least 2).
    backend : {'auto', 'elephant', 'numpy'}
        ``'auto'`` uses Elephant's `isi` and `cv` when importable.

    Returns
    -------
    float
    """
    es = _backend(backend)
    intervals = _pooled_intervals(trials, es)
    if intervals.size < max(2, int(min_intervals)):
        return np.nan
    return _cv(intervals, es)


def pooled_isi_lv(trials, min_intervals=20, backend="auto"):
    """
    LV of one neuron from repeated trials: the mean of the LV terms of all
    pairs of consecutive intervals within each trial (the per-trial LVs
    weighted by their number of pairs).

    Parameters
    ----------
    trials : list of array_like or neo.SpikeTrain
    min_intervals : int
        NaN when fewer intervals are pooled (at least 2).
    backend : {'auto', 'elephant', 'numpy'}
        ``'auto'`` uses Elephant's `lv` when importable.

    Returns
    -------
    float
    """
    es = _backend(backend)
    total, n_pairs, n_intervals = 0.0, 0, 0
    for i, train in enumerate(trials):
        times = _times(train, f"trials[{i}]")
        n_intervals += max(times.size - 1, 0)
        if times.size < 3:
            continue
        lv = isi_lv(times, backend="numpy" if es is None else "elephant")
        if np.isfinite(lv):
            total += lv * (times.size - 2)
            n_pairs += times.size - 2
    if n_intervals < max(2, int(min_intervals)) or n_pairs == 0:
        return np.nan
    return total / n_pairs


def _pooled_intervals(trials, es):
    if not isinstance(trials, (list, tuple)) or not trials:
        raise ValueError("trials: expected a non-empty list of spike trains (one per "
                         "trial)")
    parts = []
    for i, train in enumerate(trials):
        times = _times(train, f"trials[{i}]")
        if times.size >= 2:
            parts.append(np.asarray(es.isi(times), dtype=np.float64) if es is not None
                         else np.diff(times))
    return np.concatenate(parts) if parts else np.zeros(0)


# ---------------------------------------------------------------- counts
def _counts(counts, name="counts", min_ndim=1):
    arr = np.asarray(counts)
    if arr.dtype.kind not in "iuf" or arr.ndim < min_ndim:
        raise ValueError(f"{name}: expected a numeric array with at least {min_ndim} "
                         f"dimension(s), got dtype {arr.dtype}, shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: non-finite values")
    if (arr < 0).any():
        raise ValueError(f"{name}: negative values")
    return arr


def fano_factor(counts, axis=0, ddof=1):
    """
    Fano factor of spike counts across repeated trials of one stimulus.

    ``F = Var(N) / E(N)`` over ``axis`` (the trials). 1 for Poisson counts.

    Parameters
    ----------
    counts : array_like, shape (n_trials, ...)
        Counts of the same neurons for repeated presentations of the same
        input (e.g. counts in one window, or summed over a counting window).
    axis : int
        The trial axis.
    ddof : int
        Delta degrees of freedom of the variance; 1 (default) is the unbiased
        sample variance. Elephant's `fanofactor` uses 0.

    Returns
    -------
    ndarray
        One value per neuron (the other axes); NaN where the mean count is 0.

    References
    ----------
    Tolhurst, D. J., Movshon, J. A. & Dean, A. F. (1983). The statistical
    reliability of signals in single neurons in cat and monkey visual cortex.
    Vision Res. 23(8), 775–785.
    Churchland, M. M. et al. (2010). Stimulus onset quenches neural
    variability: a widespread cortical phenomenon. Nat. Neurosci. 13(3),
    369–378.
    """
    c = _counts(counts)
    n = c.shape[axis]
    if n - ddof < 1:
        raise ValueError(f"counts: {n} trial(s) on axis {axis} is too few for ddof={ddof}")
    mean = c.mean(axis=axis)
    var = c.var(axis=axis, ddof=ddof)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean > 0, var / np.where(mean > 0, mean, 1.0), np.nan)


def noise_correlation(counts, method="zscore"):
    """
    Pairwise noise correlations ``r_sc``: Pearson correlations of spike counts
    across repeated trials of the same stimulus (Cohen & Kohn 2011).

    Parameters
    ----------
    counts : array_like, shape (n_trials, n_neurons) or
             (n_stimuli, n_trials, n_neurons)
        Counts per trial (e.g. summed over a counting window). With several
        stimuli, the stimulus-driven (signal) part is removed first.
    method : {'zscore', 'mean'}
        For several stimuli: ``'zscore'`` (default) z-scores each neuron's
        counts within each stimulus and correlates the pooled z-scores (a
        neuron's stimuli without trial-to-trial variance contribute nothing);
        ``'mean'`` averages the per-stimulus correlation matrices, ignoring
        undefined entries.

    Returns
    -------
    ndarray, shape (n_neurons, n_neurons)
        Symmetric, 1 on the diagonal; NaN for neurons whose counts never vary.
        `pair_values` extracts the distinct pairs.

    References
    ----------
    Cohen, M. R. & Kohn, A. (2011). Measuring and interpreting neuronal
    correlations. Nat. Neurosci. 14(7), 811–819.
    """
    c = _counts(counts, min_ndim=2)
    if c.ndim == 2:
        c = c[None]
    if c.ndim != 3:
        raise ValueError(f"counts: expected shape (n_trials, n_neurons) or (n_stimuli, "
                         f"n_trials, n_neurons), got {np.shape(counts)}")
    if c.shape[1] < 2:
        raise ValueError(f"counts: need at least 2 trials per stimulus, got {c.shape[1]}")
    if method not in ("zscore", "mean"):
        raise ValueError(f"method must be 'zscore' or 'mean', got {method!r}")
    centred = c - c.mean(axis=1, keepdims=True)
    std = np.sqrt(np.mean(centred ** 2, axis=1, keepdims=True))
    varies = std > 0
    z = np.where(varies, centred / np.where(varies, std, 1.0), 0.0)
    if method == "zscore":
        flat = z.reshape(-1, z.shape[-1])
        num = flat.T @ flat
        norm = np.sqrt(np.diag(num))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = num / np.outer(norm, norm)
        r[norm == 0, :] = np.nan
        r[:, norm == 0] = np.nan
    else:
        n_trials = c.shape[1]
        per = np.einsum("sti,stj->sij", z, z) / n_trials
        defined = varies[:, 0, :, None] & varies[:, 0, None, :]
        per = np.where(defined, per, np.nan)
        with np.errstate(invalid="ignore"):
            r = np.nanmean(per, axis=0) if defined.any() else per[0]
    np.clip(r, -1.0, 1.0, out=r)
    idx = np.arange(r.shape[0])
    finite_diag = np.isfinite(r[idx, idx])
    r[idx[finite_diag], idx[finite_diag]] = 1.0
    return r


def pair_values(matrix):
    """The distinct off-diagonal entries (upper triangle) of a pairwise matrix,
    NaNs dropped."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix: expected a square 2-D array, got shape {m.shape}")
    vals = m[np.triu_indices(m.shape[0], k=1)]
    return vals[np.isfinite(vals)]


def firing_rates(counts, window_s=DEFAULT_WINDOW_S):
    """
    Mean firing rate of each neuron in spikes/s: the mean count per window
    over all leading axes, divided by the window length.

    Parameters
    ----------
    counts : array_like, shape (..., n_neurons)
    window_s : float
        Window length in seconds (the network's ``T_w``).

    Returns
    -------
    ndarray, shape (n_neurons,)
    """
    if not (np.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s must be a positive number of seconds, got {window_s!r}")
    c = _counts(counts)
    return c.reshape(-1, c.shape[-1]).mean(axis=0) / float(window_s)


class LognormalFit(NamedTuple):
    """
    Maximum-likelihood log-normal fit of positive rates.

    ``mu`` and ``sigma`` are the mean and (ddof 0) standard deviation of
    ``ln(rate)``; ``median = exp(mu)``. ``ks_statistic`` is the
    Kolmogorov–Smirnov distance between the rates and the fitted
    distribution; ``ks_pvalue`` is scipy's p-value for a *fully specified*
    distribution, which is too large when the parameters were fitted to the
    same data (a Lilliefors correction would be needed), so read it as a
    rough guide only. ``n_fit`` rates were positive; ``n_zero`` were zero and
    left out (a log-normal has no zeros).
    """

    mu: float
    sigma: float
    median: float
    ks_statistic: float
    ks_pvalue: float
    n_fit: int
    n_zero: int

    @property
    def sigma_log10(self):
        """Standard deviation of ``log10(rate)`` (decades)."""
        return self.sigma / math.log(10.0)


def lognormal_fit(rates):
    """
    Fit a log-normal distribution to firing rates (zeros excluded).

    Cortical firing rates are approximately log-normally distributed across
    neurons (Buzsáki & Mizuseki 2014): ``ln(rate)`` is roughly normal and
    rates span orders of magnitude.

    Parameters
    ----------
    rates : array_like
        Non-negative rates (any units).

    Returns
    -------
    LognormalFit

    References
    ----------
    Buzsáki, G. & Mizuseki, K. (2014). The log-dynamic brain: how skewed
    distributions affect network operations. Nat. Rev. Neurosci. 15(4),
    264–278.
    """
    from scipy import stats as sstats

    r = _counts(rates, name="rates").ravel()
    pos = r[r > 0]
    if pos.size < 2:
        raise ValueError(f"rates: need at least 2 positive rates to fit, got {pos.size}")
    logs = np.log(pos)
    mu, sigma = float(logs.mean()), float(logs.std())
    if sigma == 0:
        ks = (0.0, 1.0)
    else:
        res = sstats.kstest(pos, "lognorm", args=(sigma, 0.0, math.exp(mu)))
        ks = (float(res.statistic), float(res.pvalue))
    return LognormalFit(mu, sigma, math.exp(mu), ks[0], ks[1], int(pos.size),
                        int(r.size - pos.size))


# ---------------------------------------------------------------- orientation
def _orientations(orientations, n=None, name="orientations"):
    o = np.asarray(orientations, dtype=np.float64)
    if o.ndim != 1 or o.size < 2:
        raise ValueError(f"{name}: expected a 1-D array of at least 2 orientations "
                         f"(degrees), got shape {o.shape}")
    if not np.isfinite(o).all():
        raise ValueError(f"{name}: non-finite values")
    if n is not None and o.size != n:
        raise ValueError(f"{name}: {o.size} orientations for tuning curves with {n} "
                         f"rows (orientations are the first axis)")
    o = np.mod(o, 180.0)
    if np.unique(o).size != o.size:
        raise ValueError(f"{name}: repeated orientations (modulo 180°); average them "
                         f"first with tuning_curves")
    return o


def _curves(curves, orientations):
    c = np.asarray(curves, dtype=np.float64)
    if c.ndim < 1:
        raise ValueError("curves: expected an array with orientations on axis 0")
    o = _orientations(orientations, c.shape[0])
    if not np.isfinite(c).all():
        raise ValueError("curves: non-finite values")
    if (c < 0).any():
        raise ValueError("curves: negative responses (tuning measures need rates or "
                         "counts ≥ 0; subtract a baseline only after clipping at 0)")
    return c, o


def tuning_curves(responses, orientations):
    """
    Average responses over all stimuli of the same orientation.

    Parameters
    ----------
    responses : array_like, shape (n_stimuli, ...)
        E.g. mean counts per neuron, shape (n_stimuli, n_neurons).
    orientations : array_like, shape (n_stimuli,)
        Orientation of each stimulus in degrees (taken modulo 180°); the other
        stimulus parameters (phase, position, polarity) are averaged over.

    Returns
    -------
    unique_orientations : ndarray, shape (n_orientations,)
        Sorted, in [0, 180).
    curves : ndarray, shape (n_orientations, ...)
    """
    r = np.asarray(responses, dtype=np.float64)
    o = np.asarray(orientations, dtype=np.float64)
    if o.ndim != 1 or r.ndim < 1 or r.shape[0] != o.size:
        raise ValueError(f"responses (shape {r.shape}) and orientations (shape "
                         f"{o.shape}) must have one stimulus per row")
    o = np.round(np.mod(o, 180.0), 9)
    uniq, inv = np.unique(o, return_inverse=True)
    if uniq.size < 2:
        raise ValueError("orientations: need at least 2 different orientations")
    sums = np.zeros((uniq.size,) + r.shape[1:])
    np.add.at(sums, inv, r)
    return uniq, sums / np.bincount(inv).reshape((-1,) + (1,) * (r.ndim - 1))


def _resultant(c, o):
    """Σ r_k e^{2iθ_k} and Σ r_k over axis 0."""
    phase = np.exp(2j * np.deg2rad(o)).reshape((-1,) + (1,) * (c.ndim - 1))
    return (c * phase).sum(axis=0), c.sum(axis=0)


def preferred_orientation(curves, orientations, method="vector"):
    """
    Preferred orientation in degrees, in [0, 180).

    Parameters
    ----------
    curves : array_like, shape (n_orientations, ...)
    orientations : array_like, shape (n_orientations,)
    method : {'vector', 'peak'}
        ``'vector'``: half the angle of the resultant ``Σ r_k e^{2iθ_k}``
        (robust to noise and to the sampling grid); ``'peak'``: the sampled
        orientation of the largest response.

    Returns
    -------
    ndarray (NaN for silent neurons with ``'vector'``)
    """
    c, o = _curves(curves, orientations)
    if method == "peak":
        return np.where(c.max(axis=0) > 0, o[np.argmax(c, axis=0)], np.nan)
    if method != "vector":
        raise ValueError(f"method must be 'vector' or 'peak', got {method!r}")
    vec, total = _resultant(c, o)
    pref = np.mod(np.rad2deg(np.angle(vec)) / 2.0, 180.0)
    return np.where(total > 0, pref, np.nan)


def circular_variance(curves, orientations):
    r"""
    Circular variance of orientation tuning (Ringach, Shapley & Hawken 2002).

    .. math::
        CV = 1 - \frac{\left|\sum_k r_k e^{2 i \theta_k}\right|}{\sum_k r_k}

    0 for a neuron that responds at one orientation only, 1 for a flat
    curve. Needs orientations sampled evenly over [0°, 180°). ``1 - CV`` is
    the vector ("global") orientation selectivity index.

    Returns
    -------
    ndarray (NaN for silent neurons)

    References
    ----------
    Ringach, D. L., Shapley, R. M. & Hawken, M. J. (2002). Orientation
    selectivity in macaque V1: diversity and laminar dependence. J. Neurosci.
    22(13), 5639–5651.
    """
    c, o = _curves(curves, orientations)
    vec, total = _resultant(c, o)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = 1.0 - np.abs(vec) / np.where(total > 0, total, 1)
    return np.where(total > 0, cv, np.nan)


def _periodic_interp(c, o, grid):
    """Periodic cubic-spline interpolation of curves (axis 0) onto ``grid``."""
    from scipy.interpolate import CubicSpline
    order = np.argsort(o)
    o, c = o[order], c[order]
    x = np.concatenate([o, [o[0] + 180.0]])
    y = np.concatenate([c, c[:1]], axis=0)
    return CubicSpline(x, y, axis=0, bc_type="periodic")(np.mod(grid - o[0], 180.0) + o[0])


def orientation_selectivity_index(curves, orientations, method="pref_orth"):
    """
    Orientation selectivity index.

    Parameters
    ----------
    curves : array_like, shape (n_orientations, ...)
    orientations : array_like, shape (n_orientations,)
    method : {'pref_orth', 'vector'}
        ``'pref_orth'``: ``(R_pref - R_orth) / (R_pref + R_orth)`` with
        ``R_pref`` the largest sampled response and ``R_orth`` the response
        90° away (interpolated with a periodic cubic spline when not sampled).
        Common in mouse and cat studies; between 0 and 1 (1: no response
        orthogonal to the preference). ``'vector'``: ``1 - circular_variance``,
        the global index behind Ringach et al. (2002)'s values.

    Returns
    -------
    ndarray (NaN for silent neurons)
    """
    c, o = _curves(curves, orientations)
    if method == "vector":
        return 1.0 - circular_variance(c, o)
    if method != "pref_orth":
        raise ValueError(f"method must be 'pref_orth' or 'vector', got {method!r}")
    k = np.argmax(c, axis=0)
    r_pref = np.take_along_axis(c, k[None], axis=0)[0]
    orth = np.mod(o[k] + 90.0, 180.0)
    flat = c.reshape(c.shape[0], -1)
    orth_flat = orth.reshape(-1)
    r_orth = np.empty(orth_flat.size)
    for j in range(orth_flat.size):
        hit = np.flatnonzero(np.isclose(o, orth_flat[j]))
        r_orth[j] = flat[hit[0], j] if hit.size else \
            float(_periodic_interp(flat[:, j], o, np.array([orth_flat[j]]))[0])
    r_orth = np.maximum(r_orth.reshape(orth.shape), 0.0)
    total = r_pref + r_orth
    with np.errstate(divide="ignore", invalid="ignore"):
        osi = (r_pref - r_orth) / np.where(total > 0, total, 1)
    return np.where(total > 0, osi, np.nan)


def tuning_half_width(curves, orientations, level=0.5, resolution=0.1,
                      smoothing=None):
    """
    Half-width of the tuning curve at ``level`` × its peak.

    The curve is interpolated periodically (cubic spline) on a grid of
    ``resolution`` degrees, optionally smoothed, and followed from its peak to
    either side until it falls to ``level`` × peak; the half-width is half
    the distance between the two crossings. A side that never falls that low
    within 90° counts 90° (untuned neurons give 90°).

    Parameters
    ----------
    curves : array_like, shape (n_orientations, ...)
    orientations : array_like, shape (n_orientations,)
    level : float in (0, 1)
        0.5: half-width at half-height (HWHH). Ringach, Shapley & Hawken
        (2002) report the "bandwidth" at ``1/√2`` of the peak (`RINGACH_LEVEL`),
        without subtracting a baseline, after smoothing the interpolated curve
        with a Hanning window.
    resolution : float
        Grid step of the interpolation in degrees.
    smoothing : float, optional
        Half-width at half-height (degrees) of a Hanning window applied to
        the interpolated curve (circularly), as in Ringach et al.; default
        none.

    Returns
    -------
    ndarray of degrees in (0, 90] (NaN for silent neurons)
    """
    c, o = _curves(curves, orientations)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if not (np.isfinite(resolution) and 0 < resolution <= 5):
        raise ValueError(f"resolution must be in (0, 5] degrees, got {resolution!r}")
    n_grid = int(round(180.0 / resolution))
    grid = np.arange(n_grid) * (180.0 / n_grid)
    step = 180.0 / n_grid
    shape = c.shape[1:]
    fine = _periodic_interp(c.reshape(c.shape[0], -1), o, grid)     # (n_grid, m)
    if smoothing is not None:
        if not (np.isfinite(smoothing) and smoothing > 0):
            raise ValueError(f"smoothing must be a positive number of degrees, got "
                             f"{smoothing!r}")
        # A Hanning window of total width 4·HWHH has half-width at half-height HWHH.
        half = max(1, int(round(2 * smoothing / step)))
        win = np.hanning(2 * half + 1)
        win /= win.sum()
        spec = np.fft.rfft(fine, axis=0)
        kernel = np.zeros(n_grid)
        kernel[:half + 1] = win[half:]
        kernel[-half:] = win[:half]
        fine = np.fft.irfft(spec * np.fft.rfft(kernel)[:, None], n=n_grid, axis=0)
    out = np.full(fine.shape[1], np.nan)
    half_circle = n_grid // 2
    offsets = np.arange(1, half_circle + 1)
    for j in range(fine.shape[1]):
        y = fine[:, j]
        peak_i = int(np.argmax(y))
        peak = y[peak_i]
        if not peak > 0:
            continue
        target = level * peak
        widths = []
        for sign in (1, -1):
            idx = np.mod(peak_i + sign * offsets, n_grid)
            below = np.flatnonzero(y[idx] <= target)
            if below.size == 0:
                widths.append(90.0)
                continue
            b = below[0]
            y1 = y[idx[b]]
            y0 = peak if b == 0 else y[idx[b - 1]]
            # Linear interpolation of the crossing between the two grid points.
            frac = (y0 - target) / (y0 - y1) if y0 != y1 else 1.0
            widths.append(min(90.0, (b + frac) * step))
        out[j] = 0.5 * (widths[0] + widths[1])
    return out.reshape(shape) if shape else float(out[0])


class OrientationTuning(NamedTuple):
    """
    Orientation tuning of a population (`orientation_tuning`).

    Arrays have one entry per neuron; ``curves`` has shape
    (n_orientations, n_neurons). ``half_width`` is taken at ``level`` of the
    peak (`RINGACH_LEVEL` by default, Ringach's bandwidth), ``hwhh`` at 0.5.
    ``osi`` is ``(R_pref - R_orth) / (R_pref + R_orth)``; ``1 -
    circular_variance`` is the vector index.
    """

    orientations: np.ndarray
    curves: np.ndarray
    preferred: np.ndarray
    circular_variance: np.ndarray
    osi: np.ndarray
    half_width: np.ndarray
    hwhh: np.ndarray
    peak: np.ndarray
    level: float
    #: Hanning smoothing (HWHH, degrees) applied before the widths were read.
    smoothing: float = None


def orientation_tuning(responses, orientations, level=RINGACH_LEVEL, smoothing=None):
    """
    Tuning curves and their standard measures from responses to oriented
    stimuli (gratings over phases, bars over positions).

    Parameters
    ----------
    responses : array_like, shape (n_stimuli, n_neurons)
        Mean response (count or rate) of each neuron to each stimulus.
    orientations : array_like, shape (n_stimuli,)
        Stimulus orientations in degrees; stimuli of equal orientation are
        averaged (`tuning_curves`).
    level : float
        Level of `tuning_half_width` reported as ``half_width``.
    smoothing : float, optional
        Passed to `tuning_half_width`.

    Returns
    -------
    OrientationTuning
    """
    uniq, curves = tuning_curves(responses, orientations)
    if curves.ndim != 2:
        raise ValueError(f"responses: expected shape (n_stimuli, n_neurons), got "
                         f"{np.shape(responses)}")
    return OrientationTuning(
        orientations=uniq, curves=curves,
        preferred=preferred_orientation(curves, uniq),
        circular_variance=circular_variance(curves, uniq),
        osi=orientation_selectivity_index(curves, uniq),
        half_width=tuning_half_width(curves, uniq, level=level, smoothing=smoothing),
        hwhh=tuning_half_width(curves, uniq, level=0.5, smoothing=smoothing),
        peak=curves.max(axis=0), level=float(level),
        smoothing=None if smoothing is None else float(smoothing))


def orientation_summary(tuning, min_peak=0.0):
    """
    Population medians of the tuning measures, keyed as in the cortex
    reference (`cortex_table`).

    Parameters
    ----------
    tuning : OrientationTuning
    min_peak : float
        Only neurons whose peak response exceeds this are included (e.g. a
        minimum mean count, so that silent neurons do not enter).

    Returns
    -------
    dict
        ``circular_variance``, ``orientation_bandwidth_deg`` (half-width at
        ``tuning.level``, after ``tuning.smoothing``),
        ``orientation_bandwidth_raw_deg`` (the same without smoothing),
        ``orientation_smoothing_deg`` (None when unsmoothed),
        ``orientation_hwhh_deg``, ``osi``, ``n_tuning_neurons``.
    """
    keep = tuning.peak > min_peak
    smoothing = getattr(tuning, "smoothing", None)
    if smoothing is None:
        raw = tuning.half_width[keep]
    else:
        raw = tuning_half_width(tuning.curves[:, keep], tuning.orientations,
                                level=tuning.level) if keep.any() else np.zeros(0)
    return dict(
        circular_variance=_nanmedian(tuning.circular_variance[keep]),
        orientation_bandwidth_deg=_nanmedian(tuning.half_width[keep]),
        orientation_bandwidth_raw_deg=_nanmedian(raw),
        orientation_smoothing_deg=smoothing,
        orientation_hwhh_deg=_nanmedian(tuning.hwhh[keep]),
        osi=_nanmedian(tuning.osi[keep]),
        n_tuning_neurons=int(keep.sum()))


def receptive_field_tuning(phi, size=None, pad=64):
    """
    Preferred orientation and spatial frequency of each dictionary atom
    (receptive field), from the peak of its zero-padded Fourier power.

    Cheap, stimulus-free estimates (e.g. to sort a raster by preferred
    orientation); `orientation_tuning` of the responses to gratings is the
    physiological measure.

    Parameters
    ----------
    phi : array_like, shape (n_pixels, n_latents)
        Dictionary (``IPVAEParams.phi``); columns are square images.
    size : int, optional
        Side of the patches (default ``sqrt(n_pixels)``).
    pad : int
        FFT size (≥ ``size``); larger gives a finer frequency grid.

    Returns
    -------
    orientation : ndarray, shape (n_latents,)
        Degrees in [0, 180), the stripe orientation of the best grating
        (`ipvae_snn.stimuli` convention).
    spatial_frequency : ndarray, shape (n_latents,)
        Cycles per pixel.
    """
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim != 2:
        raise ValueError(f"phi: expected shape (n_pixels, n_latents), got {phi.shape}")
    if size is None:
        size = int(round(math.sqrt(phi.shape[0])))
    if size * size != phi.shape[0]:
        raise ValueError(f"phi: {phi.shape[0]} pixels are not a {size}x{size} patch")
    if pad < size:
        raise ValueError(f"pad must be >= size ({size}), got {pad}")
    imgs = phi.T.reshape(-1, size, size)
    imgs = imgs - imgs.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(imgs, s=(pad, pad))) ** 2
    f = np.fft.fftfreq(pad)
    best = power.reshape(power.shape[0], -1).argmax(axis=1)
    f_row, f_col = f[best // pad], f[best % pad]
    # Rows grow downwards: the wave vector in (x right, y up) is (f_col, -f_row).
    direction = np.rad2deg(np.arctan2(-f_row, f_col))
    return np.mod(direction - 90.0, 180.0), np.hypot(f_row, f_col)


# ---------------------------------------------------------------- experiments
def repeat_trials(patches, n_trials):
    """
    Stack ``n_trials`` copies of each patch, stimulus-major (patch i, trial j
    at row ``i * n_trials + j``), the layout `trial_counts` and
    `network_statistics` expect.
    """
    x = np.asarray(patches)
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) \
            or n_trials < 1:
        raise ValueError(f"n_trials must be a positive integer, got {n_trials!r}")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"patches: expected at least one patch, got shape {x.shape}")
    return np.repeat(x, int(n_trials), axis=0)


def _analysis_windows(result, windows):
    rec = np.asarray(result.windows)
    if windows is None:
        # Skip the transient from u_init: start at window 16 when the run has it.
        start = 16 if rec.max() >= 32 else 1 if rec.max() >= 2 else 0
        windows = rec[rec >= start]
    windows = np.asarray(windows, dtype=np.int64).ravel()
    if windows.size == 0:
        raise ValueError("windows: no windows to analyse")
    missing = np.setdiff1d(windows, rec)
    if missing.size:
        raise ValueError(f"windows: {missing[:10].tolist()} were not recorded "
                         f"(recorded: {rec.tolist()[:20]}...)")
    return windows


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
        raise ValueError("result: no counts were recorded (record_counts=False)")
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) \
            or n_trials < 2:
        raise ValueError(f"n_trials must be an integer >= 2, got {n_trials!r}")
    n = result.n_patches
    if n % n_trials:
        raise ValueError(f"result has {n} patches, not a multiple of n_trials={n_trials}")
    x = result.x.reshape(n // n_trials, n_trials, -1)
    if not np.array_equal(x, np.broadcast_to(x[:, :1], x.shape)):
        raise ValueError(f"result: the patches are not {n_trials} repeats of each "
                         f"stimulus in a row; build the input with "
                         f"repeat_trials(patches, {n_trials})")
    windows = _analysis_windows(result, windows)
    idx = np.searchsorted(result.windows, windows)
    c = result.counts[:, idx]
    return c.reshape(n // n_trials, n_trials, windows.size, c.shape[-1])


def _nanmedian(values):
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


def _result_spike_trains(result, patch, window_s, seed):
    # A SpikingResult returns its simulated spike times (and ignores window_s
    # and seed); counts-only results place each window's spikes uniformly.
    return result.spike_trains(patch, window_s=window_s, seed=seed)


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
        raise ValueError("windows: the analysed windows must be consecutive")
    if window_s is None:
        window_s = float(result.info.get("window_s", DEFAULT_WINDOW_S))
    if isinstance(count_windows, bool) or not isinstance(count_windows, (int, np.integer)) \
            or not 1 <= count_windows <= windows.size:
        raise ValueError(f"count_windows must be an integer in [1, {windows.size}], got "
                         f"{count_windows!r}")
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
        Default `ipvae_snn.stimuli.grating_set()`: 16 orientations × 8 phases
        at 0.25 cycles/pixel, RMS contrast 1; one trial each.
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
    """
    from .stimuli import grating_set
    if isinstance(n_windows, bool) or not isinstance(n_windows, (int, np.integer)) \
            or n_windows < 33:
        raise ValueError(f"n_windows must be an integer >= 33 (the statistics start at "
                         f"window 16, after the transient from u_init), got "
                         f"{n_windows!r}")
    if not callable(run):
        raise ValueError(f"run must be callable as run(patches, n_windows, seed=..., "
                         f"record_windows=...), got {type(run).__name__}")
    x = np.asarray(patches)
    windows = np.arange(16, int(n_windows))
    natural = run(repeat_trials(x, n_trials), int(n_windows), seed=seed,
                  record_windows=windows)
    values = network_statistics(natural, n_trials, count_windows=count_windows)
    stim, conditions = grating_set() if gratings is None else gratings
    grating_result = run(np.asarray(stim), int(n_windows), seed=seed + 1,
                         record_windows=windows)
    response = grating_result.counts.mean(axis=1)
    tuning = orientation_tuning(response, conditions["orientation"],
                                smoothing=smoothing)
    values.update(orientation_summary(tuning, min_peak=min_peak))
    return CortexExperiment(values, natural, grating_result, dict(conditions), tuning)


# ---------------------------------------------------------------- cortex data
def load_cortex_reference(path=None):
    """
    The V1 reference ranges with their sources.

    Parameters
    ----------
    path : str, optional
        A JSON file of the same format (default: ``cortex_v1.json`` shipped
        with the package).

    Returns
    -------
    dict
        ``{"about": ..., "measures": {key: {...}}, "references": {...}}``;
        each measure has ``label``, ``definition``, ``units``, ``range``
        (``[low, high]`` or None), ``approximate`` and ``sources``.

    Raises
    ------
    FileNotFoundError, ValueError
        For a missing file or one without the expected fields.
    """
    if path is None:
        text = resources.files("ipvae_snn").joinpath("cortex_v1.json").read_text(
            encoding="utf-8")
        where = "cortex_v1.json (package data)"
    else:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"cortex reference file '{path}' does not exist") \
                from None
        where = f"'{path}'"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"cortex reference {where} is not valid JSON: {exc}") from None
    measures = data.get("measures") if isinstance(data, dict) else None
    if not isinstance(measures, dict) or not measures:
        raise ValueError(f"cortex reference {where}: no 'measures' object")
    refs = data.get("references", {})
    for key, m in measures.items():
        for field in ("label", "definition", "units", "range", "sources"):
            if field not in m:
                raise ValueError(f"cortex reference {where}: measure '{key}' has no "
                                 f"'{field}'")
        rng = m["range"]
        if rng is not None and not (isinstance(rng, list) and len(rng) == 2
                                    and all(isinstance(v, (int, float)) for v in rng)
                                    and rng[0] <= rng[1]):
            raise ValueError(f"cortex reference {where}: measure '{key}': range must be "
                             f"[low, high] with low <= high or null, got {rng!r}")
        for s in m["sources"]:
            if s.get("reference") not in refs:
                raise ValueError(f"cortex reference {where}: measure '{key}' cites "
                                 f"unknown reference {s.get('reference')!r}")
    return data


def cortex_table(network, reference=None):
    """
    The network's statistics beside the cortical V1 ranges.

    Parameters
    ----------
    network : dict
        Measure key -> the network's value (e.g. `network_statistics` merged
        with `orientation_summary`); keys the reference does not know are
        ignored, reference measures missing here get ``network = None``.
    reference : dict, optional
        From `load_cortex_reference` (default: the shipped file).

    Returns
    -------
    list of dict
        One row per reference measure, in the file's order: ``measure``,
        ``label``, ``units``, ``network``, ``low``, ``high``, ``inside``
        (True/False, None where either side is missing), ``typical`` (or
        None), ``approximate``,
        ``sources`` (short citations), ``raw`` and ``note`` (None except for
        the orientation bandwidth of smoothed tuning curves: ``network`` is
        then Ringach's smoothed bandwidth, ``raw`` the unsmoothed one, and
        the label and note say so).
    """
    reference = load_cortex_reference() if reference is None else reference
    refs = reference.get("references", {})
    rows = []
    for key, m in reference["measures"].items():
        value = _finite_or_none(network.get(key))
        low, high = (m["range"] or (None, None))
        inside = None if value is None or low is None else bool(low <= value <= high)
        row = dict(
            measure=key, label=m["label"], units=m["units"], network=value,
            low=low, high=high, inside=inside, typical=m.get("typical"),
            approximate=bool(m.get("approximate", True)),
            sources="; ".join(refs[s["reference"]]["short"] for s in m["sources"]),
            raw=None, note=None)
        smoothing = _finite_or_none(network.get("orientation_smoothing_deg"))
        if key == "orientation_bandwidth_deg" and smoothing is not None:
            # The cortical range was read from smoothed curves, so the network's
            # value is too; the unsmoothed value shows what the smoothing adds.
            row["label"] = f"{m['label']}, smoothed*"
            row["raw"] = _finite_or_none(network.get("orientation_bandwidth_raw_deg"))
            row["note"] = (f"{m['label']}, smoothed: each tuning curve is "
                           f"interpolated at 0.1° "
                           f"and smoothed with a Hanning window of {smoothing:g}° "
                           f"half-width at half-height before the half-width at "
                           f"1/√2 of its peak is read, as Ringach et al. 2002 "
                           f"describe; 'raw' is the same measure without smoothing.")
        rows.append(row)
    return rows


def _finite_or_none(value):
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def format_cortex_table(rows):
    """
    A plain-text table of `cortex_table` rows: a row's ``raw`` value in
    parentheses beside its network value, the rows' notes below the table.
    """
    head = ("measure", "network", "V1 range", "inside", "source")
    lines = []
    for r in rows:
        value = "n/a" if r["network"] is None else f"{r['network']:.3g}"
        if r.get("raw") is not None:
            value += f" (raw {r['raw']:.3g})"
        if r["low"] is None:
            rng = "(no range)"
        else:
            units = "" if r["units"] == "dimensionless" else " " + r["units"]
            rng = (f"{r['low']:.3g} - {r['high']:.3g}{units}"
                   + (" ~" if r["approximate"] else ""))
        inside = {True: "yes", False: "no", None: "-"}[r["inside"]]
        lines.append((r["label"], value, rng, inside, r["sources"]))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    out = [line.rstrip() for line in out]
    out.append("~ approximate summary of the literature range (see cortex_v1.json)")
    out += [f"* {r['note']}" for r in rows if r.get("note")]   # the labels' '*'
    return "\n".join(out)
