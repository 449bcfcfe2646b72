"""
Spike trains: conversion to and from neo, and inter-spike-interval measures.

A *spike train* is a 1-D array of sorted spike times (or a `neo.SpikeTrain`);
a *list of trains* is a list of those. ``(neuron, t)`` arrays, as returned by
``InferenceResult.spike_trains(patch)``, become a list with
`split_spike_trains` or `to_neo`. Where Elephant provides a measure (`isi`,
`isi_cv`, `isi_lv`), it is used when importable (``pip install
ipvae-snn[stats]``), and a numpy implementation with the same definition
otherwise (``backend="numpy"`` forces it).

Examples
--------
>>> import numpy as np
>>> from ipvae_snn.stats import split_spike_trains, isi_cv, isi_lv
>>> trains = split_spike_trains([0, 1, 0, 0, 1], [0.1, 0.15, 0.2, 0.3, 0.4])
>>> [t.tolist() for t in trains]
[[0.1, 0.2, 0.3], [0.15, 0.4]]
>>> round(float(isi_cv(np.arange(10.0), backend="numpy")), 6)   # a regular train
0.0
>>> t = np.cumsum(np.random.default_rng(0).exponential(0.1, 5000))   # Poisson
>>> round(float(isi_lv(t, backend="numpy")), 1)
1.0
"""

import numpy as np

from ..defaults import DEFAULT_WINDOW_S
from ..validation import InvalidValueError, check_int
from ._common import backend as _backend
from ._common import import_neo as _import_neo

__all__ = ["split_spike_trains", "to_neo", "result_to_neo", "from_neo", "isi", "isi_cv",
           "isi_lv", "pooled_isi_cv", "pooled_isi_lv"]


def _times(train, name="spiketrain"):
    """One train as a float64 array (a neo/quantities train in its own units)."""
    if hasattr(train, "magnitude") and hasattr(train, "units"):
        train = train.magnitude
    arr = np.asarray(train, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidValueError(f"{name}: a spike train must be 1-D spike times, got shape "
                         f"{arr.shape}")
    if not np.isfinite(arr).all():
        raise InvalidValueError(f"{name}: non-finite spike times")
    if arr.size > 1 and np.any(np.diff(arr) < 0):
        raise InvalidValueError(f"{name}: spike times are not sorted ascending")
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
        raise InvalidValueError(f"neuron and t must be 1-D arrays of equal length, got "
                         f"shapes {neuron.shape} and {t.shape}")
    if neuron.size and (neuron.dtype.kind not in "iu"):
        raise InvalidValueError(f"neuron: expected integer indices, got dtype {neuron.dtype}")
    neuron = neuron.astype(np.int64)
    if neuron.size and neuron.min() < 0:
        raise InvalidValueError("neuron: negative indices")
    if n_neurons is not None and neuron.size and neuron.max() >= n_neurons:
        raise InvalidValueError(f"neuron: index {int(neuron.max())} >= n_neurons={n_neurons}")
    if not np.isfinite(t).all():
        raise InvalidValueError("t: non-finite spike times")
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
    t_start, t_stop : float
        Recording interval in ``units``; ``t_stop`` is required: the end of
        the trial, not its last spike, or rates and binned counts (Elephant
        drops spikes at a bin edge equal to ``t_stop``) come out wrong. Spikes
        outside it are an error.
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

    Examples
    --------
    >>> trains = to_neo([0, 1, 0], [0.01, 0.02, 0.05], t_stop=0.1)  # doctest: +SKIP
    >>> [len(st) for st in trains], float(trains[0].t_stop)          # doctest: +SKIP
    ([2, 1], 0.1)
    """
    neo, _ = _import_neo()
    if t_stop is None:
        raise InvalidValueError("t_stop: give the end of the recording (the trial's "
                                "end, not its last spike)")
    trains = split_spike_trains(neuron, t, n_neurons)
    t = np.asarray(t, dtype=np.float64)
    if t.size and (t.min() < t_start or t.max() > t_stop):
        raise InvalidValueError(f"t: spike times span [{t.min()}, {t.max()}], outside "
                         f"[t_start={t_start}, t_stop={t_stop}]")
    return [neo.SpikeTrain(times, t_start=t_start, t_stop=t_stop, units=units,
                           neuron=k, **annotations)
            for k, times in enumerate(trains)]


def result_to_neo(result, patches=None, window_s=None, seed=None):
    """
    A result's spike trains as a `neo.Block`: one `neo.Segment` per input
    (trial), one `neo.SpikeTrain` per neuron, times from the input's onset.

    Each train spans the recorded windows, which must be consecutive: from
    the first one's start to the last one's end (with every window recorded,
    the whole trial), so rates and Elephant's binned counts hold every spike.

    Parameters
    ----------
    result : InferenceResult or SpikingResult
    patches : sequence of int, optional
        The inputs (default all).
    window_s, seed : optional
        Passed to ``result.spike_trains`` (the window length and the placement
        of spikes inside windows for results that hold counts only).

    Returns
    -------
    neo.Block

    Examples
    --------
    >>> import ipvae_snn                                          # doctest: +SKIP
    >>> result = ipvae_snn.infer(ipvae_snn.default_params(), x, 64)  # doctest: +SKIP
    >>> block = result_to_neo(result)                             # doctest: +SKIP
    >>> len(block.segments) == result.n_patches                   # doctest: +SKIP
    True
    """
    neo, _ = _import_neo()
    windows = np.asarray(result.windows)
    if windows.size and np.any(np.diff(windows) != 1):
        raise InvalidValueError(f"result: the recorded windows {windows.tolist()} are "
                                f"not consecutive, so no interval holds all their "
                                f"spikes; record every window (record_windows=None)")
    if window_s is None:
        window_s = float(getattr(result, "window_s", None) or result.info.get(
            "window_s", DEFAULT_WINDOW_S))
    t_start, t_stop = windows[0] * window_s, (windows[-1] + 1) * window_s
    n_neurons = result.params.n_latents
    block = neo.Block(name="ipvae-snn", description="one segment per input, one "
                      "spike train per neuron", realization=result.info.get("realization"))
    for p in (range(result.n_patches) if patches is None else patches):
        neuron, t = result.spike_trains(int(p), window_s=window_s, seed=seed)
        segment = neo.Segment(name=f"input {int(p)}", index=int(p), patch=int(p))
        segment.spiketrains.extend(to_neo(neuron, t, n_neurons, t_start=t_start,
                                          t_stop=t_stop, patch=int(p)))
        block.segments.append(segment)
    return block


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

    Examples
    --------
    >>> t = np.cumsum(np.random.default_rng(1).exponential(0.05, 20000))  # Poisson
    >>> round(float(isi_cv(t, backend="numpy")), 1), isi_cv([np.arange(5.0), [0.3]]).tolist()
    (1.0, [0.0, nan])
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
    return check_int(min_spikes, "min_spikes", 3, reason="two intervals")


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
        raise InvalidValueError("trials: expected a non-empty list of spike trains (one per "
                         "trial)")
    parts = []
    for i, train in enumerate(trials):
        times = _times(train, f"trials[{i}]")
        if times.size >= 2:
            parts.append(np.asarray(es.isi(times), dtype=np.float64) if es is not None
                         else np.diff(times))
    return np.concatenate(parts) if parts else np.zeros(0)

