"""
The result of an inference run (reference algorithm or spiking network).

Window t of a run holds the counts ``z_t ~ Poisson(exp(u_t))`` drawn from the
potential after t FOND updates (window 0 is drawn from ``u_init``). The paper's
metric "after T steps" is therefore the read-out of window T (the documentation's model page).

Examples
--------
>>> import ipvae_snn
>>> from ipvae_snn.data import natural_patches
>>> result = ipvae_snn.infer(ipvae_snn.default_params(), natural_patches(n_patches=4, seed=0),
...                          n_windows=20, seed=0)
>>> result
InferenceResult(n_patches=4, n_windows=20, recorded=20, realization='reference')
>>> [row["T"] for row in result.summary()]          # SUMMARY_WINDOWS inside the run
[1, 4, 16, 19]
>>> result.reconstruction(16).shape
(4, 256)
"""

import json
import warnings

import numpy as np

from . import metrics
from .defaults import DEFAULT_WINDOW_S, SUMMARY_WINDOWS
from .io import atomic_savez, json_dumps
from .validation import InvalidValueError, check_recorded

__all__ = ["InferenceResult", "SpikingResult", "RunawayWarning", "window_metrics",
           "summary_windows", "figure_windows", "spike_times_from_counts", "SummaryTable",
           "format_summary_table"]


class RunawayWarning(UserWarning):
    """Some neurons were driven to the upper clamp of the membrane potential."""


def summary_windows(n_windows, windows=SUMMARY_WINDOWS):
    """
    The windows of ``windows`` that a run of ``n_windows`` contains, plus its last.

    Examples
    --------
    >>> summary_windows(65).tolist()
    [1, 4, 16, 64]
    """
    out = sorted({int(w) for w in windows if 0 <= w < n_windows} | {n_windows - 1})
    return np.array(out, dtype=np.int64)


def figure_windows(recorded, n_windows=None, max_windows=6):
    """
    The windows a figure of a run shows: one rule for the API and the command line.

    The summary windows (`summary_windows`: 1, 4, 16, 64, 256, 1000 and the
    last) that were recorded; where fewer than two of them were, up to
    ``max_windows`` recorded windows spaced evenly on a log axis from the first
    recorded window after window 0. Always the last recorded window, at most
    ``max_windows`` (the latest ones kept).

    Parameters
    ----------
    recorded : array_like of int
        The recorded windows (``result.windows``), ascending.
    n_windows : int, optional
        Windows of the run (default: the last recorded + 1).
    max_windows : int

    Examples
    --------
    >>> figure_windows(range(65)).tolist()                 # every window recorded
    [1, 4, 16, 64]
    >>> figure_windows([1, 4, 16, 64, 256, 1000], 1001).tolist()
    [1, 4, 16, 64, 256, 1000]
    >>> figure_windows(range(16, 101)).tolist()            # those recorded, and the last
    [16, 64, 100]
    >>> figure_windows([0, 10, 20, 30]).tolist()           # none recorded: log-spaced
    [10, 20, 30]
    """
    rec = np.unique(np.asarray(recorded, dtype=np.int64).ravel())
    if rec.size == 0:
        raise InvalidValueError("recorded: no windows")
    n_windows = int(rec[-1]) + 1 if n_windows is None else int(n_windows)
    max_windows = max(int(max_windows), 1)
    pick = np.intersect1d(summary_windows(n_windows), rec)
    pick = np.union1d(pick, rec[-1:])
    if pick.size < 2 and rec.size > 1:
        later = rec[rec >= 1] if (rec >= 1).sum() > 1 else rec
        goal = np.geomspace(max(later[0], 1), later[-1], min(max_windows, later.size))
        pick = np.unique(later[np.abs(later[None, :] - goal[:, None]).argmin(axis=1)])
    return pick[-max_windows:]


#: Columns of `format_summary_table`: key, header, number format.
SUMMARY_COLUMNS = (
    ("T", "T", "d"),
    ("r2", "R² mean", ".4f"),
    ("r2_median", "R² median", ".4f"),
    ("zero_fraction", "zero frac", ".4f"),
    ("mean_count", "count/neuron", ".4f"),
    ("mean_count_1_to_T", "mean 1..T", ".4f"),
    ("mse", "MSE/patch", ".2f"),
    ("lifetime_sparseness", "lifetime S", ".3f"),
    ("population_sparseness", "population S", ".3f"),
)


def _cell(value, spec):
    if value is None:
        return "-"
    if spec != "d" and np.isfinite(value) and abs(value) >= 1e5:
        return f"{value:.3e}"          # a runaway's R² of -1e7: still a column
    return format(value, spec)


def format_summary_table(rows):
    """
    Summary rows (`InferenceResult.summary`) as an aligned text table: mean
    and median R², zero-count fraction, mean count per neuron per window at T
    and averaged over windows 1..T, squared error per patch and, where
    recorded, the lifetime and population sparseness.

    Examples
    --------
    >>> print(format_summary_table([dict(T=1, r2=0.5, r2_median=0.25, zero_fraction=0.75,
    ...                                  mean_count=1.0, mean_count_1_to_T=1.0, mse=12.0)]))
    T  R² mean  R² median  zero frac  count/neuron  mean 1..T  MSE/patch
    1   0.5000     0.2500     0.7500        1.0000     1.0000      12.00
    """
    columns = [c for c in SUMMARY_COLUMNS if any(c[0] in row for row in rows)]
    cells = [[h for _, h, _ in columns]]
    cells += [[_cell(row.get(key), spec) for key, _, spec in columns] for row in rows]
    widths = [max(len(line[j]) for line in cells) for j in range(len(columns))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths)).rstrip()
                     for line in cells)


class SummaryTable(list):
    """
    The rows of `InferenceResult.summary`: a list of dict (one per window T)
    that prints as an aligned table (`format_summary_table`).
    """

    def __str__(self):
        return format_summary_table(self)

    __repr__ = __str__


def window_metrics(x, counts, phi_t):
    """
    Per-window read-outs of dense counts, in float64 on one BLAS thread (so
    that they do not depend on where they are computed).

    Parameters
    ----------
    x : ndarray, shape (n, n_pixels)
    counts : ndarray, shape (n, n_windows, n_latents)
    phi_t : ndarray, shape (n_latents, n_pixels)
        The transposed dictionary Φᵀ.

    Returns
    -------
    r2, mse, zero_fraction, mean_count : ndarray, shape (n, n_windows)
    """
    # float64 from the integer counts, on one BLAS thread: the same bits
    # whichever process, thread or BLAS setting computes them
    with metrics.one_blas_thread():
        recon = counts.astype(np.float64) @ np.asarray(phi_t, dtype=np.float64)
    resid = np.asarray(x, dtype=np.float64)[:, None, :] - recon
    ss_res = np.einsum("ntm,ntm->nt", resid, resid)
    r2 = metrics.r2_from_sums(ss_res, metrics.total_sum_of_squares(x)[:, None])
    k = counts.shape[2]
    return (r2, ss_res, 1.0 - np.count_nonzero(counts, axis=2) / k,
            counts.sum(axis=2) / k)


def spike_times_from_counts(counts, window_s=DEFAULT_WINDOW_S, windows=None,
                            seed=None):
    """
    Spike times for counts per window: each window's spikes placed uniformly
    at random inside it (a Poisson process conditioned on its count).

    Parameters
    ----------
    counts : array_like of int, shape (n_windows, n_neurons)
    window_s : float
        Window length in seconds.
    windows : array_like of int, optional
        Index of each row's window (default ``0 .. n_windows-1``).
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    neuron : ndarray of int32
    t : ndarray of float64, seconds, sorted ascending

    Examples
    --------
    >>> neuron, t = spike_times_from_counts([[0, 2], [1, 0]], window_s=0.1, seed=0)
    >>> sorted(neuron.tolist()), bool(t.max() < 0.2)
    ([0, 1, 1], True)
    """
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise InvalidValueError(f"counts: expected shape (n_windows, n_neurons), got "
                                f"{counts.shape}")
    if (counts < 0).any():
        raise InvalidValueError("counts: negative values")
    rng = np.random.default_rng(seed)
    windows = np.arange(counts.shape[0]) if windows is None else np.asarray(windows)
    rows, neurons = np.nonzero(counts)
    reps = counts[rows, neurons].astype(np.int64)
    neuron = np.repeat(neurons, reps).astype(np.int32)
    start = np.repeat(windows[rows], reps) * window_s
    t = start + rng.random(neuron.size) * window_s
    order = np.argsort(t, kind="stable")
    return neuron[order], t[order]


class InferenceResult:
    """
    Spike counts and read-outs of an inference run over a batch of patches.

    Attributes
    ----------
    x : ndarray, shape (n_patches, n_pixels)
        The input patches as the network saw them: divided by ``input_gain``
        for a model with a contrast normalisation (`ipvae_snn.contrast`).
    input_gain : ndarray, shape (n_patches,) or None
        That normalisation's gain per patch (None: none); ``x`` and the
        reconstructions times it are in the input's own units (R² is the same).
    n_windows : int
        Number of simulated windows.
    windows : ndarray of int, shape (n_recorded,)
        Windows whose counts (and potentials) were stored.
    counts : ndarray of int32, shape (n_patches, n_recorded, n_latents) or None
        Spike counts of the recorded windows: the posterior samples.
    u : ndarray, shape (n_patches, n_recorded, n_u) or None
        Membrane potential during the recorded windows (``u_t``) of the
        neurons ``u_neurons``, if asked (``record_u``).
    u_neurons : ndarray of int, shape (n_u,)
        The neurons of ``u``'s last axis (empty when ``u`` is None).
    u_final : ndarray, shape (n_patches, n_latents)
        Potential after the last update.
    r2, mse, zero_fraction, mean_count : ndarray, shape (n_patches, n_windows)
        Per patch and window: R² and summed squared error of the count
        reconstruction ``Φ z_t``, fraction of silent neurons, mean count per
        neuron.
    runaway_onset : ndarray of int32, shape (n_patches, n_latents)
        First window whose potential is within ``runaway_margin`` of the upper
        clamp, -1 where that never happened.
    info : dict
        Provenance: realization, seed, dtype, device, timing, window length.
    """

    def __init__(self, params, x, n_windows, windows, counts, u, u_final, r2, mse,
                 zero_fraction, mean_count, runaway_onset, info=None, u_neurons=None,
                 input_gain=None):
        self.params = params
        self.x, self.input_gain = x, input_gain
        self.n_windows = int(n_windows)
        self.windows = np.asarray(windows, dtype=np.int64)
        self.counts = counts
        self.u = u
        if u_neurons is None:                 # all neurons, as before record_u took indices
            u_neurons = np.arange(0 if u is None else np.shape(u)[-1])
        self.u_neurons = np.asarray(u_neurons, dtype=np.int64)
        self.u_final = u_final
        self.r2 = r2
        self.mse = mse
        self.zero_fraction = zero_fraction
        self.mean_count = mean_count
        self.runaway_onset = runaway_onset
        self.info = dict(info or {})

    @property
    def n_patches(self):
        """Number of input patches."""
        return self.x.shape[0]

    def _recorded_index(self, window):
        check_recorded(window, self.windows, name="window")
        return int(np.flatnonzero(self.windows == window)[0])

    def _require_counts(self):
        if self.counts is None:
            raise InvalidValueError("this result stores no counts (record_counts=False)")
        return self.counts

    def counts_at(self, window):
        """
        Counts of one recorded window, shape (n_patches, n_latents).

        Raises
        ------
        NotRecordedError
            (a `KeyError`) When the window was not recorded.
        """
        return self._require_counts()[:, self._recorded_index(window)]

    def reconstruction(self, window):
        """Reconstructions ``Φ z`` of one recorded window, shape (n_patches, n_pixels)."""
        return self.counts_at(window) @ self.params.phi.T

    @property
    def reconstructions(self):
        """Reconstructions of all recorded windows, shape (n_patches, n_recorded, n_pixels)."""
        return self._require_counts() @ self.params.phi.T

    def spike_trains(self, patch, window_s=DEFAULT_WINDOW_S, seed=None):
        """
        Spike times of one patch from its recorded counts, ``(neuron, t)``.

        Times are placed uniformly inside each recorded window (see
        `spike_times_from_counts`); the spiking network's result overrides this
        with the simulated spike times.
        """
        return spike_times_from_counts(self._require_counts()[patch], window_s,
                                       windows=self.windows, seed=seed)

    # ---------------------------------------------------------- runaways
    def runaway_events(self):
        """``(patch, neuron, first_window)`` triples, sorted by patch then window."""
        patches, neurons = np.nonzero(self.runaway_onset >= 0)
        onset = self.runaway_onset[patches, neurons]
        order = np.lexsort((neurons, onset, patches))
        return [(int(p), int(n), int(w)) for p, n, w in
                zip(patches[order], neurons[order], onset[order])]

    def runaway_message(self, max_patches=5):
        """A human-readable account of the runaway neurons, or '' if none."""
        events = self.runaway_events()
        if not events:
            return ""
        by_patch = {}
        for p, n, w in events:
            by_patch.setdefault(p, []).append((n, w))
        parts = []
        for p in list(by_patch)[:max_patches]:
            items = by_patch[p]
            neurons = ", ".join(str(n) for n, _ in items[:6])
            more = f" and {len(items) - 6} more" if len(items) > 6 else ""
            parts.append(f"patch {p}: neuron(s) {neurons}{more} from window "
                         f"{min(w for _, w in items)}")
        more = (f"; {len(by_patch) - max_patches} more patch(es)"
                if len(by_patch) > max_patches else "")
        cap = self.info.get("max_count")
        if cap is not None:       # the activity stayed bounded: not a runaway
            return (f"{len(by_patch)} of {self.n_patches} patch(es) drove neurons to "
                    f"the upper clamp of u, their activity capped at max_count={cap:g} "
                    f"spikes per window: " + "; ".join(parts) + more + ". (A cap "
                    "below the counts an input needs winds u up to the clamp.)")
        return (f"{len(by_patch)} of {self.n_patches} patch(es) drove neurons to the "
                f"upper clamp of u (runaway activity, the official code does the "
                "same): " + "; ".join(parts) + more + ". max_count (spikes per "
                "window) bounds the counts of such a run.")

    def warn_runaway(self, stacklevel=3):
        """Issue a `RunawayWarning` if any neuron ran away."""
        msg = self.runaway_message()
        if msg:
            warnings.warn(msg, RunawayWarning, stacklevel=stacklevel)

    # ---------------------------------------------------------- summaries
    def summary(self, windows=SUMMARY_WINDOWS):
        """
        Mean read-outs at the given windows (those inside the run, plus the last).

        Returns
        -------
        SummaryTable
            A list of dict that prints as an aligned table (``print(result.summary())``);
            one row per window T: ``T``, ``r2`` (mean), ``r2_median``,
            ``mse`` (per patch, summed over pixels), ``zero_fraction``,
            ``mean_count`` (per neuron per window at T), ``mean_count_1_to_T``
            and, where counts were recorded at T, ``lifetime_sparseness`` and
            ``population_sparseness``.
        """
        rows = SummaryTable()
        with warnings.catch_warnings():
            # NaN where R² is undefined (constant patches): reported as NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            for t in summary_windows(self.n_windows, windows):
                rows.append(self._summary_row(t))
        return rows

    def _summary_row(self, t):
        """One row of `summary`."""
        row = dict(
            T=int(t),
            r2=float(np.nanmean(self.r2[:, t])),
            r2_median=float(np.nanmedian(self.r2[:, t])),
            mse=float(np.mean(self.mse[:, t])),
            zero_fraction=float(np.mean(self.zero_fraction[:, t])),
            mean_count=float(np.mean(self.mean_count[:, t])),
            mean_count_1_to_T=float(np.mean(self.mean_count[:, 1:t + 1]))
            if t >= 1 else float(np.mean(self.mean_count[:, 0])),
        )
        if self.counts is not None and t in self.windows and self.n_patches > 1:
            z = self.counts_at(t)
            row["lifetime_sparseness"] = float(np.nanmean(
                metrics.lifetime_sparseness(z)))
            row["population_sparseness"] = float(np.nanmean(
                metrics.population_sparseness(z)))
        return row

    # ---------------------------------------------------------------- I/O
    _ARRAYS = ("x", "input_gain", "windows", "counts", "u", "u_neurons", "u_final", "r2", "mse",
               "zero_fraction", "mean_count", "runaway_onset")

    def to_arrays(self):
        """The ``.npz`` layout of `save`: the arrays, ``info`` as JSON, the parameters."""
        out = {k: getattr(self, k) for k in self._ARRAYS if getattr(self, k) is not None}
        out["n_windows"] = np.int64(self.n_windows)
        out["info_json"] = np.array(json_dumps(self.info))
        for k, v in self.params.to_arrays().items():
            out["params__" + k] = v
        return out

    def save(self, path):
        """Save to ``.npz`` atomically (parameters included)."""
        atomic_savez(path, compress=True, **self.to_arrays())

    @classmethod
    def load(cls, path):
        """Load a result written by `save`."""
        from .params import IPVAEParams
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        params = IPVAEParams.from_arrays(
            {k[len("params__"):]: v for k, v in arrays.items()
             if k.startswith("params__")}, source=f"result file '{path}'")
        kwargs = {k: arrays.get(k) for k in cls._ARRAYS}
        info = json.loads(str(arrays["info_json"]))
        result = cls(params=params, n_windows=int(arrays["n_windows"]), info=info,
                     **kwargs)
        return result

    def __repr__(self):
        return (f"{type(self).__name__}(n_patches={self.n_patches}, "
                f"n_windows={self.n_windows}, recorded={len(self.windows)}, "
                f"realization={self.info.get('realization')!r})")


class SpikingResult(InferenceResult):
    """
    `InferenceResult` of the spiking network, with its spike times and traces.

    Its attributes are those of `InferenceResult` and the following.

    Attributes
    ----------
    u_trace : ndarray, shape (n_patches, n_recorded_neurons, n_steps) or None
        Membrane potential of the neurons ``u_trace_neurons`` at every time
        step (at the start of the step: the potential the draws use).
    u_trace_t : ndarray, shape (n_steps,)
        Time of each sample from the input's onset, in seconds.
    u_trace_neurons : ndarray of int
        The neurons of ``record_u``; ``u`` (the potential at the start of each
        recorded window) and ``u_neurons`` hold the same neurons.
    spikes : list of (neuron, t) per patch, or None
        Simulated spike times (continuous realization) of the recorded windows.
        The window realization simulates counts; its spike times are placed
        uniformly inside each window (`spike_times_from_counts`).
    """

    def __init__(self, *args, spikes=None, u_trace=None, u_trace_t=None,
                 u_trace_neurons=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.spikes = spikes
        self.u_trace = u_trace
        self.u_trace_t = u_trace_t
        self.u_trace_neurons = (np.zeros(0, np.int64) if u_trace_neurons is None
                                else np.asarray(u_trace_neurons))

    @property
    def window_s(self):
        """The window length T_w in seconds."""
        return float(self.info.get("window_s", DEFAULT_WINDOW_S))

    def spike_trains(self, patch, window_s=None, seed=None):
        """
        Spike times of one patch, ``(neuron, t)`` with t in seconds from the
        input's onset, sorted by time.
        """
        if self.spikes is not None:
            return self.spikes[patch]
        if seed is None:   # reproducible placement: the run's seed and the patch
            base = self.info.get("seed")
            seed = [abs(base) if isinstance(base, int) else 0, int(patch)]
        return super().spike_trains(patch, self.window_s if window_s is None
                                    else window_s, seed=seed)

    def to_arrays(self):
        out = super().to_arrays()
        if self.u_trace is not None:
            out.update(u_trace=self.u_trace, u_trace_t=self.u_trace_t,
                       u_trace_neurons=self.u_trace_neurons)
        if self.spikes is not None:
            sizes = np.array([len(i) for i, _ in self.spikes])
            out.update(spikes_i=np.concatenate([i for i, _ in self.spikes]),
                       spikes_t=np.concatenate([t for _, t in self.spikes]),
                       spikes_n=sizes)
        return out

    @classmethod
    def load(cls, path):
        base = InferenceResult.load(path)
        with np.load(path, allow_pickle=False) as data:
            extra = {k: data[k] for k in ("u_trace", "u_trace_t", "u_trace_neurons",
                                          "spikes_i", "spikes_t", "spikes_n")
                     if k in data.files}
        spikes = None
        if "spikes_n" in extra:
            edges = np.concatenate([[0], np.cumsum(extra["spikes_n"])])
            spikes = [(extra["spikes_i"][a:b], extra["spikes_t"][a:b])
                      for a, b in zip(edges[:-1], edges[1:])]
        kwargs = {k: getattr(base, k) for k in ("params", "x", "input_gain", "n_windows",
                                                "windows",
                                                "counts", "u", "u_neurons", "u_final",
                                                "r2", "mse", "zero_fraction", "mean_count",
                                                "runaway_onset", "info")}
        return cls(**kwargs, spikes=spikes, u_trace=extra.get("u_trace"),
                   u_trace_t=extra.get("u_trace_t"),
                   u_trace_neurons=extra.get("u_trace_neurons"))
