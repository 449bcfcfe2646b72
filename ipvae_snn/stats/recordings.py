"""
Recorded spike trains cut into trials, e.g. from any NWB file with a Units
table (`read_trials`), and their cortex-comparable statistics
(`trial_statistics`): what ``ipvae-snn stats --from-nwb`` prints.

Examples
--------
>>> import numpy as np
>>> from ipvae_snn.stats import trial_statistics
>>> rng = np.random.default_rng(0)
>>> trains = [[np.sort(rng.uniform(0, 4, rng.poisson(40))) for _ in range(3)]
...           for _ in range(10)]                     # 10 trials of 3 units at 10 Hz
>>> round(trial_statistics(trains, t_stop=4.0)["mean_rate_hz"])
10
"""

from typing import NamedTuple

import numpy as np

from ..validation import InvalidValueError, check_int
from .experiments import network_statistics
from .spiketrains import _times

__all__ = ["read_trials", "NWBTrials", "STIMULUS_COLUMNS", "trial_statistics"]


class NWBTrials(NamedTuple):
    """
    The spike trains of an NWB file's Units table, cut into its trials
    (`read_trials`).

    ``trains[trial][unit]`` holds spike times in seconds from the trial's
    start; ``stimulus`` the stimulus of each trial (None when the trials
    table names none); ``duration`` the shortest trial's length;
    ``observed`` the ``(start, stop)`` part of every trial that every unit's
    ``obs_intervals`` cover (the whole trial without them); ``unit_ids`` the
    units' ids; ``window_s`` the window of a file written by `write_nwb`
    (None for other files); ``stimulus_column`` the trials column read as
    ``stimulus``.
    """

    trains: list
    stimulus: object
    duration: float
    observed: tuple
    unit_ids: np.ndarray
    window_s: object
    stimulus_column: object


#: Trials columns naming the stimulus of a trial, in the order they are looked for.
STIMULUS_COLUMNS = ("stimulus_index", "input_image", "stimulus", "stimulus_id",
                    "condition")


def read_trials(path, stimulus_column=None):
    """
    The spike trains of any NWB file with a Units table and trials, cut into
    its trials (files of other tools as well as `write_nwb`'s).

    Parameters
    ----------
    path : str or os.PathLike
    stimulus_column : str, optional
        The trials column saying which stimulus each trial shows (default
        the first of `STIMULUS_COLUMNS` the table has; none: every trial
        repeats one stimulus).

    Returns
    -------
    NWBTrials

    Raises
    ------
    InvalidValueError
        When the file has no Units table with spike times, or no trials.

    Examples
    --------
    >>> trials = read_trials("run.nwb")                   # doctest: +SKIP
    >>> len(trials.trains), len(trials.trains[0])         # doctest: +SKIP
    (6, 512)
    """
    from ..nwb import MODULE, require_pynwb
    from ..validation import check_file
    pynwb = require_pynwb()
    path = check_file(path, "NWB file")
    with pynwb.NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        units = nwbfile.units
        if units is None or "spike_times" not in units.colnames:
            raise InvalidValueError(f"NWB file '{path}' has no Units table with spike "
                                    f"times")
        if nwbfile.trials is None or not len(nwbfile.trials):
            raise InvalidValueError(f"NWB file '{path}' has no trials: the statistics "
                                    f"compare repeated trials")
        n_units = len(units)
        spikes = [np.asarray(units["spike_times"][j], dtype=np.float64)
                  for j in range(n_units)]
        observed = ([np.asarray(units["obs_intervals"][j], dtype=np.float64).reshape(-1, 2)
                     for j in range(n_units)] if "obs_intervals" in units.colnames
                    else None)
        trials = nwbfile.trials
        start = np.asarray(trials["start_time"].data[:], dtype=np.float64)
        stop = np.asarray(trials["stop_time"].data[:], dtype=np.float64)
        names = trials.colnames
        if stimulus_column is None:
            stimulus_column = next((c for c in STIMULUS_COLUMNS if c in names), None)
        elif stimulus_column not in names:
            raise InvalidValueError(f"NWB file '{path}': the trials have no column "
                                    f"{stimulus_column!r} (they have: "
                                    f"{', '.join(names)})")
        stimulus = None
        if stimulus_column is not None:
            _, stimulus = np.unique(np.asarray(trials[stimulus_column].data[:]).astype(str),
                                    return_inverse=True)
        window_s = None
        ours = nwbfile.processing.get(MODULE)
        if ours is not None and "run" in ours.data_interfaces:
            window_s = float(ours["run"]["window_s"].data[0])
        unit_ids = np.asarray(units.id[:])
    duration = float(np.min(stop - start))
    spikes = [np.sort(t) for t in spikes]
    cuts = [(np.searchsorted(t, start), np.searchsorted(t, stop)) for t in spikes]
    trains = [[t[i[p]:j[p]] - a for t, (i, j) in zip(spikes, cuts)]
              for p, a in enumerate(start)]
    if observed and all(np.array_equal(o, observed[0]) for o in observed):
        observed = observed[:1]              # every unit observed alike (ours)
    lo, hi = 0.0, duration
    for a, b in zip(start, stop):
        for intervals in observed or ():
            inside = intervals[(intervals[:, 1] > a) & (intervals[:, 0] < b)]
            if not len(inside):
                lo, hi = 0.0, 0.0
                continue
            # the first observed stretch of this trial bounds the analysed part
            lo, hi = max(lo, inside[0, 0] - a), min(hi, inside[0, 1] - a)
    if hi <= lo:
        raise InvalidValueError(f"NWB file '{path}': no part of a trial is observed in "
                                f"every unit (obs_intervals)")
    return NWBTrials(trains, None if stimulus is None else stimulus.ravel(), duration,
                     (lo, hi), unit_ids, window_s, stimulus_column)


class _BinnedTrials:
    """
    Spike trains of repeated trials in the layout `network_statistics` reads
    from a run: counts per bin (the windows), spike times per trial, and the
    stimulus of each trial as its input.
    """

    def __init__(self, trains, stimulus, t_start, bin_s, n_bins):
        self.n_patches = len(trains)
        self.x = np.asarray(stimulus, dtype=np.float64)[:, None]
        self.windows = np.arange(n_bins)
        self.n_windows = n_bins
        self.info = {"window_s": float(bin_s)}
        self._spikes = []
        self.counts = np.zeros((self.n_patches, n_bins, len(trains[0]) if trains else 0),
                               dtype=np.int64)
        for p, units in enumerate(trains):
            neuron, t = [], []
            for k, times in enumerate(units):
                times = _times(times, f"trial {p}, unit {k}") - t_start
                times = times[(times >= 0) & (times < n_bins * bin_s)]
                bins = np.minimum((times // bin_s).astype(np.int64), n_bins - 1)
                self.counts[p, :, k] = np.bincount(bins, minlength=n_bins)
                neuron.append(np.full(times.size, k, dtype=np.int64))
                t.append(times)
            neuron = np.concatenate(neuron) if neuron else np.zeros(0, np.int64)
            t = np.concatenate(t) if t else np.zeros(0)
            order = np.argsort(t, kind="stable")
            self._spikes.append((neuron[order], t[order]))

    def spike_trains(self, patch, window_s=None, seed=None):
        return self._spikes[patch]


def trial_statistics(trains, stimulus=None, t_start=0.0, t_stop=None, bin_s=0.1,
                     count_bins=5, min_intervals=20):
    """
    The cortex-comparable statistics (`network_statistics`) of recorded spike
    trains over repeated trials, e.g. read from an NWB file.

    Parameters
    ----------
    trains : list of list of array_like
        ``trains[trial][unit]``: spike times in seconds from the trial's
        onset (every trial has the same units).
    stimulus : array_like of int, optional
        The stimulus of each trial (default: all trials repeat one stimulus).
        Each stimulus enters with the same number of trials, its first ones;
        with one trial per stimulus, the Fano factor and noise correlation
        are NaN (not defined without repeats).
    t_start, t_stop : float
        The analysed part of every trial, in seconds from its onset
        (``t_stop`` required).
    bin_s : float
        Bin of the spike counts, the "window" of the rates and of the counts
        of the Fano factor and noise correlations.
    count_bins : int
        Bins per spike count of the Fano factor and noise correlations.
    min_intervals : int
        As `network_statistics`.

    Returns
    -------
    dict
        As `network_statistics` (no orientation measures: the trials hold no
        gratings).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> trains = [[np.sort(rng.uniform(0, 4, rng.poisson(40))) for _ in range(3)]
    ...           for _ in range(10)]                         # 10 Hz Poisson
    >>> values = trial_statistics(trains, t_stop=4.0)
    >>> round(values["mean_rate_hz"]), round(values["fano_factor"], 1)
    (10, 1.0)
    """
    if not trains:
        raise InvalidValueError("trains: no trials")
    if t_stop is None:
        raise InvalidValueError("t_stop: give the end of the analysed part of a trial")
    stimulus = (np.zeros(len(trains), np.int64) if stimulus is None
                else np.asarray(stimulus))
    if stimulus.shape != (len(trains),):
        raise InvalidValueError(f"stimulus: expected {len(trains)} values, got shape "
                                f"{stimulus.shape}")
    n_bins = int(np.floor((t_stop - t_start) / bin_s + 1e-9))
    if n_bins < 1:
        raise InvalidValueError(f"[t_start, t_stop] = [{t_start}, {t_stop}] s is shorter "
                                f"than one bin of {bin_s} s")
    # stimulus-major, the same number of trials per stimulus
    values, counts = np.unique(stimulus, return_counts=True)
    n_trials = int(counts.min())
    order = np.concatenate([np.flatnonzero(stimulus == s)[:n_trials] for s in values])
    count_bins = check_int(count_bins, "count_bins", 1, n_bins)
    if n_trials >= 2:
        binned = _BinnedTrials([trains[i] for i in order], stimulus[order], t_start,
                               bin_s, n_bins)
        return network_statistics(binned, n_trials, windows=np.arange(n_bins),
                                  count_windows=count_bins, window_s=bin_s,
                                  min_intervals=min_intervals)
    # One trial per stimulus: every trial counted twice gives the same rates,
    # sparseness and ISI measures (pooled intervals twice: the same CV and LV,
    # twice the threshold); trial-to-trial measures are not defined.
    order = np.repeat(order, 2)
    binned = _BinnedTrials([trains[i] for i in order], stimulus[order], t_start, bin_s,
                           n_bins)
    out = network_statistics(binned, 2, windows=np.arange(n_bins),
                             count_windows=count_bins, window_s=bin_s,
                             min_intervals=2 * min_intervals)
    out.update(fano_factor=float("nan"), noise_correlation=float("nan"), n_trials=1,
               n_fano_pairs=0, n_correlation_pairs=0)
    return out
