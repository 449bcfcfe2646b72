"""
Stimulus sequences: stimuli shown one after another with blanks between them.

A `StimulusSequence` is the protocol of a cortical recording: a blank, the
first stimulus for some windows, a blank, the second stimulus, ..., a blank;
repeated over ``trials`` independent trials (each trial starts from the prior,
``u = u_init``, with its own random stream). `SequenceResult` holds the counts
of every window of every trial with the timeline (which stimulus is shown in
each window), the per-stimulus read-outs at T windows after each onset, and
the onset transient (the mean count around each onset).

**The blank.** During a blank the network receives no observation and its
beliefs relax to the learned prior: each blank window moves the potentials
``u ← u_init + (u − u_init) · exp(−1/τ_blank)`` (``τ_blank`` in windows), with
no feed-forward drive and no lateral inhibition, while the neurons keep firing
Poisson samples of ``exp(u)``. Spontaneous activity is thus a sample of the
prior, as Berkes, Orbán, Lengyel & Fiser (2011, Science 331:83) proposed for
V1. After a blank of many ``τ_blank`` the next stimulus starts from the prior,
as a separate run does. ``blank="zero"`` keeps the plain FOND update with the
input ``x = 0`` instead: the leak ``b ≥ 0`` then drives ``u`` to the lower clamp
and the network falls silent, and the next stimulus starts from there
(`docs/brian2-embedding.md` gives the measured difference).

Window indices follow `ipvae_snn.infer`: window t draws its counts from the
potential after t updates, and the update of window t uses that window's
input. A stimulus with onset ``o`` therefore reads "after T steps" at window
``o + T``, as a separate run reads window T.

Examples
--------
>>> import numpy as np
>>> seq = StimulusSequence(np.ones((2, 4)), stimulus_windows=3, blank_windows=2)
>>> seq.n_windows, seq.onsets.tolist()
(12, [2, 7])
>>> seq.stimulus_index.tolist()
[-1, -1, 0, 0, 0, -1, -1, 1, 1, 1, -1, -1]
"""

import json
import warnings

import numpy as np

from . import metrics
from .contrast import normalize_input
from .defaults import DEFAULT_WINDOW_S, MAX_ABS_VALUE, SUMMARY_WINDOWS
from .io import atomic_savez, json_dumps
from .results import RunawayWarning
from .validation import (InvalidTypeError, InvalidValueError, check_choice, check_int,
                         check_number)

__all__ = ["StimulusSequence", "SequenceResult", "check_sequence", "BLANK_MODES",
           "DEFAULT_TAU_BLANK"]

#: What a blank does: ``"prior"`` relaxes the potentials to the prior (the
#: default), ``"zero"`` runs the FOND update on the input ``x = 0``.
BLANK_MODES = ("prior", "zero")
#: Default relaxation time of a blank, in windows: a blank of 16 windows leaves
#: e^-8 (3e-4) of the distance from the prior.
DEFAULT_TAU_BLANK = 2.0


def _as_windows(value, n_stimuli, name):
    """An int or one int per stimulus, as an int array (n_stimuli,)."""
    if np.ndim(value) == 0:
        return np.full(n_stimuli, check_int(value, name), np.int64)
    values = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else list(value)
    if len(values) != n_stimuli:
        raise InvalidValueError(f"{name}: expected one value per stimulus ({n_stimuli}), "
                                f"got {len(values)}")
    return np.array([check_int(v, name) for v in values], np.int64)


class StimulusSequence:
    """
    Stimuli shown one after another with blanks between them, over trials.

    Parameters
    ----------
    stimuli : array_like, shape (n_stimuli, n_pixels) or (n_trials, n_stimuli, n_pixels)
        The stimuli, in order; a 3-D array gives each trial its own stimuli
        (e.g. a different patch per trial at each position).
    stimulus_windows : int or sequence of int
        Windows each stimulus is shown for (one value, or one per stimulus).
    blank_windows : int
        Windows of the blank before the first stimulus and after each one
        (0: the stimuli follow each other without a blank).
    trials : int, optional
        Independent repeats (default 1, or the first axis of 3-D ``stimuli``).
    tau_blank : float
        Relaxation time of the potentials to the prior during a blank, in
        windows (default `DEFAULT_TAU_BLANK`).
    blank : {"prior", "zero"}
        What a blank does (`BLANK_MODES`; see the module's description).

    Raises
    ------
    InvalidValueError, InvalidTypeError
        One line naming the argument.

    Examples
    --------
    >>> import numpy as np
    >>> seq = StimulusSequence(np.zeros((3, 256)), [4, 4, 8], blank_windows=2, trials=5)
    >>> seq.n_trials, seq.n_stimuli, seq.n_windows
    (5, 3, 24)
    >>> seq.stimulus_on[:4].tolist(), seq.relax[:4].tolist()
    ([False, False, True, True], [True, True, False, False])
    >>> StimulusSequence(np.zeros((3, 256)), 4, blank_windows=-1)
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: blank_windows must be an integer >= 0, got -1
    """

    def __init__(self, stimuli, stimulus_windows, blank_windows, trials=None,
                 tau_blank=DEFAULT_TAU_BLANK, blank="prior"):
        try:
            x = np.asarray(stimuli, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidTypeError("stimuli must be a numeric array (n_stimuli, n_pixels) "
                                   "or (n_trials, n_stimuli, n_pixels)") from None
        if x.ndim not in (2, 3) or 0 in x.shape:
            raise InvalidValueError(f"stimuli must have shape (n_stimuli, n_pixels) or "
                                    f"(n_trials, n_stimuli, n_pixels), got {x.shape}")
        if not np.isfinite(x).all():
            raise InvalidValueError("stimuli contain NaN or infinite values")
        if np.abs(x).max() > MAX_ABS_VALUE:      # as data.check_patches: overflows the model
            raise InvalidValueError(f"stimuli: values up to {np.abs(x).max():.3g} exceed "
                                    f"{MAX_ABS_VALUE:g}; the model expects whitened patches")
        if x.ndim == 3:
            if trials is not None and check_int(trials, "trials") != x.shape[0]:
                raise InvalidValueError(f"trials={trials} but stimuli hold {x.shape[0]} "
                                        f"trials (first axis of a 3-D array)")
            trials = x.shape[0]
        trials = 1 if trials is None else check_int(trials, "trials")
        self.stimuli = x
        self.n_trials = trials
        self.n_stimuli = x.shape[-2]
        self.n_pixels = x.shape[-1]
        self.stimulus_windows = _as_windows(stimulus_windows, self.n_stimuli,
                                            "stimulus_windows")
        self.blank_windows = check_int(blank_windows, "blank_windows", minimum=0)
        self.tau_blank = check_number(tau_blank, "tau_blank", low=0, low_open=True)
        self.blank = check_choice(blank, "blank", BLANK_MODES)
        index = [np.full(self.blank_windows, -1)]
        for s, n in enumerate(self.stimulus_windows):
            index += [np.full(n, s), np.full(self.blank_windows, -1)]
        #: The stimulus shown in each window (-1 in blanks), shape (n_windows,).
        self.stimulus_index = np.concatenate(index).astype(np.int64)
        starts = np.cumsum(np.concatenate([[0], self.stimulus_windows[:-1]]))
        #: The window of each stimulus's onset, shape (n_stimuli,).
        self.onsets = (starts + self.blank_windows * np.arange(1, self.n_stimuli + 1)
                       ).astype(np.int64)

    @property
    def n_windows(self):
        """Windows of one trial: the stimuli and every blank."""
        return int(self.stimulus_index.size)

    @property
    def stimulus_on(self):
        """Whether a stimulus is shown in each window, shape (n_windows,)."""
        return self.stimulus_index >= 0

    @property
    def relax(self):
        """
        Whether each window's update is the blank's relaxation to the prior,
        shape (n_windows,): the blank windows with ``blank="prior"``.
        """
        return (~self.stimulus_on) & (self.blank == "prior")

    @property
    def relax_factor(self):
        """``exp(−1/τ_blank)``: the part of ``u − u_init`` a blank window leaves."""
        return float(np.exp(-1.0 / self.tau_blank))

    def window_input(self, t, x, ss_tot):
        """
        What window t of the trials with stimuli ``x`` (n, n_stimuli, n_pixels)
        and their total sums of squares ``ss_tot`` (n, n_stimuli) gets: its input,
        that input's total sum of squares and the blank's relaxation factor
        (None: the FOND update), for `ipvae_snn.reference.infer_chunk`.
        """
        s = self.stimulus_index[t]
        if s >= 0:
            return x[:, s], ss_tot[:, s], None
        relax = self.relax_factor if self.relax[t] else None
        return np.zeros_like(x[:, 0]), np.zeros(len(x)), relax

    def trial_stimuli(self, trials=slice(None)):
        """The stimuli of each trial, shape (n_trials, n_stimuli, n_pixels) (a view)."""
        x = self.stimuli if self.stimuli.ndim == 3 else np.broadcast_to(
            self.stimuli, (self.n_trials,) + self.stimuli.shape)
        return x[trials]

    def drives(self, params, trials=slice(None), dtype=np.float64):
        """
        The feed-forward drive ``Φᵀ Σ⁻¹ x`` of every window of the trials
        ``trials``, shape (n, n_windows, n_latents); zero in blanks. Trials that
        share their stimuli share one array (a read-only broadcast view).
        """
        shared = self.stimuli.ndim == 2
        x = self.stimuli[None] if shared else self.stimuli[trials]
        per_stimulus = params.feedforward(x, dtype=dtype)
        out = np.zeros(per_stimulus.shape[:1] + (self.n_windows, params.n_latents), dtype)
        on = self.stimulus_on
        out[:, on] = per_stimulus[:, self.stimulus_index[on]]
        if shared:
            n = len(range(self.n_trials)[trials])
            return np.broadcast_to(out, (n,) + out.shape[1:])
        return out

    def seen_by(self, params):
        """
        The sequence as the network of ``params`` sees it: for a model with a
        contrast normalisation (`ipvae_snn.contrast`), each stimulus divided by
        its gain (blanks stay blank); otherwise this sequence.
        """
        stimuli, gain = normalize_input(params, self.stimuli)
        if gain is None:
            return self
        return StimulusSequence(stimuli, self.stimulus_windows, self.blank_windows,
                                trials=self.n_trials, tau_blank=self.tau_blank,
                                blank=self.blank)

    def to_arrays(self):
        """The sequence as arrays (for `SequenceResult.save`)."""
        return dict(seq_stimuli=self.stimuli, seq_stimulus_windows=self.stimulus_windows,
                    seq_blank_windows=np.int64(self.blank_windows),
                    seq_trials=np.int64(self.n_trials),
                    seq_tau_blank=np.float64(self.tau_blank),
                    seq_blank=np.array(self.blank))

    @classmethod
    def from_arrays(cls, arrays):
        """The sequence that `to_arrays` wrote."""
        return cls(arrays["seq_stimuli"], arrays["seq_stimulus_windows"],
                   int(arrays["seq_blank_windows"]), trials=int(arrays["seq_trials"]),
                   tau_blank=float(arrays["seq_tau_blank"]), blank=str(arrays["seq_blank"]))

    def __repr__(self):
        return (f"StimulusSequence({self.n_stimuli} stimuli x {self.n_trials} trials, "
                f"windows {self.stimulus_windows.tolist()}, blanks of {self.blank_windows}, "
                f"tau_blank={self.tau_blank:g}, blank={self.blank!r})")


def check_sequence(sequence, params):
    """
    ``sequence`` when it is a `StimulusSequence` whose stimuli fit ``params``;
    otherwise an `InputError` of one line.

    Examples
    --------
    >>> import numpy as np, ipvae_snn
    >>> check_sequence(np.zeros((2, 256)), ipvae_snn.default_params())
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidTypeError: sequence must be a StimulusSequence, got ndarray
    """
    if not isinstance(sequence, StimulusSequence):
        raise InvalidTypeError(f"sequence must be a StimulusSequence, got "
                               f"{type(sequence).__name__}")
    if sequence.n_pixels != params.n_pixels:
        raise InvalidValueError(f"stimuli: each stimulus must have {params.n_pixels} "
                                f"pixels to match the model, got {sequence.n_pixels}")
    return sequence


class SequenceResult:
    """
    The spike counts of a `StimulusSequence` run, with its timeline.

    Made by `ipvae_snn.reference.infer_sequence`,
    `ipvae_snn.network.SpikingIPVAE.run_sequence` and
    `ipvae_snn.network.IPVAENetwork.result`.

    Attributes
    ----------
    params : IPVAEParams
    sequence : StimulusSequence
    counts : ndarray of int, shape (n_trials, n_windows, n_latents)
        The spike count of every neuron in every window of every trial.
    stimulus_on, stimulus_index, onsets : ndarray
        The timeline (`StimulusSequence`): shape (n_windows,), (n_windows,)
        with -1 in blanks, and (n_stimuli,).
    window_s : float
        The window length in seconds.
    u : ndarray, shape (n_trials, n_windows, n_recorded) or None
        The potential of the neurons ``u_neurons`` at the start of each window.
    u_final : ndarray, shape (n_trials, n_latents) or None
    info : dict
        Provenance (realization, seed, ...).
    spikes : list of (neuron, t) per trial, or None
        Spike times from the trial's start (the network's continuous
        realization; not saved).
    runaway_onset : ndarray of int, shape (n_trials, n_latents) or None
        The first window whose potential came near the upper clamp (-1: never).
    """

    def __init__(self, params, sequence, counts, window_s=DEFAULT_WINDOW_S, u=None,
                 u_neurons=None, u_final=None, info=None, spikes=None,
                 runaway_onset=None):
        self.params, self.sequence = params, sequence
        self.counts = counts
        self.window_s = float(window_s)
        self.u, self.u_final = u, u_final
        self.u_neurons = (np.zeros(0, np.int64) if u_neurons is None
                          else np.asarray(u_neurons, np.int64))
        self.info = dict(info or {})
        self.spikes = spikes
        self.runaway_onset = runaway_onset

    stimulus_on = property(lambda self: self.sequence.stimulus_on)
    stimulus_index = property(lambda self: self.sequence.stimulus_index)
    onsets = property(lambda self: self.sequence.onsets)

    @property
    def n_trials(self):
        """Trials (independent repeats)."""
        return self.counts.shape[0]

    def warn_runaway(self, stacklevel=2):
        """Issue a `RunawayWarning` when neurons of some trial ran away."""
        if self.runaway_onset is None or not (self.runaway_onset >= 0).any():
            return
        hit = self.runaway_onset >= 0
        first = int(self.runaway_onset[hit].min())
        stim = int(self.stimulus_index[min(max(first - 1, 0), len(self.stimulus_index) - 1)])
        warnings.warn(f"{int(hit.any(axis=1).sum())} of {self.n_trials} trials drove "
                      f"{int(hit.any(axis=0).sum())} neurons to the upper clamp of u, first "
                      f"in window {first} ({'a blank' if stim < 0 else f'stimulus {stim}'}); "
                      f"check the stimuli's scale or bound activity with max_count",
                      RunawayWarning, stacklevel=stacklevel + 1)

    def stimulus_metrics(self, T):
        """
        Per-stimulus read-outs after ``T`` steps of it: those of window
        ``onset + T`` (as ``ipvae_snn.infer``'s metrics at T), over trials.

        Returns
        -------
        list of dict
            One row per stimulus: ``stimulus``, ``onset``, ``T``, ``r2`` (mean
            R² of ``Φz`` against the trial's stimulus), ``r2_median``,
            ``zero_fraction``, ``mean_count`` (per neuron).

        Raises
        ------
        InvalidValueError
            When ``T`` is not inside every stimulus (``0 <= T <`` its windows).
        """
        seq = self.sequence
        T = check_int(T, "T", minimum=0)
        if T >= seq.stimulus_windows.min():
            raise InvalidValueError(f"T={T} is past the end of a stimulus shown for "
                                    f"{seq.stimulus_windows.min()} windows (T must be "
                                    f"below each stimulus's windows)")
        x = seq.trial_stimuli()
        phi_t = self.params.phi.T.astype(np.float64)
        rows = []
        for s, onset in enumerate(seq.onsets):
            z = self.counts[:, onset + T]
            with metrics.one_blas_thread():
                resid = x[:, s] - z.astype(np.float64) @ phi_t
            r2 = metrics.r2_from_sums(np.einsum("nm,nm->n", resid, resid),
                                      metrics.total_sum_of_squares(x[:, s]))
            with warnings.catch_warnings():     # NaN for constant stimuli, reported so
                warnings.simplefilter("ignore", RuntimeWarning)
                rows.append(dict(stimulus=s, onset=int(onset), T=T,
                                 r2=float(np.nanmean(r2)), r2_median=float(np.nanmedian(r2)),
                                 zero_fraction=float(np.mean(z == 0)),
                                 mean_count=float(np.mean(z))))
        return rows

    def onset_transient(self, before=None, after=None):
        """
        The mean count per neuron and window aligned to each stimulus onset.

        Parameters
        ----------
        before, after : int, optional
            Windows before the onset (default the blank's length) and from the
            onset on (default the shortest stimulus plus the blank after it).

        Returns
        -------
        lags : ndarray of int, shape (n_lags,)
            Windows from the onset (``lags * window_s`` in seconds).
        mean_count : ndarray, shape (n_stimuli, n_lags)
            Mean over trials and neurons; NaN where a lag leaves the trial.
        """
        seq = self.sequence
        before = seq.blank_windows if before is None else check_int(before, "before", 0)
        after = (int(seq.stimulus_windows.min()) + seq.blank_windows if after is None
                 else check_int(after, "after"))
        lags = np.arange(-before, after)
        per_window = self.counts.mean(axis=(0, 2))
        out = np.full((seq.n_stimuli, lags.size), np.nan)
        for s, onset in enumerate(seq.onsets):
            w = onset + lags
            inside = (w >= 0) & (w < seq.n_windows)
            out[s, inside] = per_window[w[inside]]
        return lags, out

    def summary(self, windows=SUMMARY_WINDOWS):
        """
        `stimulus_metrics` at the windows of ``windows`` inside every stimulus
        and at the last window of the shortest: one row per stimulus and T.
        """
        last = int(self.sequence.stimulus_windows.min()) - 1
        ts = sorted({int(t) for t in windows if 0 <= t < last} | {last})
        return [row for t in ts for row in self.stimulus_metrics(t)]

    def format_summary(self, windows=SUMMARY_WINDOWS):
        """`summary` as a text table."""
        lines = [f"{'stimulus':>8} {'T':>5} {'R2':>7} {'zero':>6} {'count':>7}"]
        for r in self.summary(windows):
            lines.append(f"{r['stimulus']:>8} {r['T']:>5} {r['r2']:>7.3f} "
                         f"{r['zero_fraction']:>6.3f} {r['mean_count']:>7.4f}")
        return "\n".join(lines)

    # ---------------------------------------------------------------- I/O
    def save(self, path):
        """Save to ``.npz`` atomically (model and sequence included)."""
        out = dict(self.sequence.to_arrays(), counts=self.counts,
                   window_s=np.float64(self.window_s), u_neurons=self.u_neurons,
                   info_json=np.array(json_dumps(self.info)))
        out.update({k: v for k, v in dict(u=self.u, u_final=self.u_final,
                                          runaway_onset=self.runaway_onset).items()
                    if v is not None})
        for k, v in self.params.to_arrays().items():
            out["params__" + k] = v
        atomic_savez(path, compress=True, **out)

    @classmethod
    def load(cls, path):
        """Load a result written by `save`."""
        from .params import IPVAEParams
        with np.load(path, allow_pickle=False) as data:
            a = {k: data[k] for k in data.files}
        params = IPVAEParams.from_arrays(
            {k[len("params__"):]: v for k, v in a.items() if k.startswith("params__")},
            source=f"result file '{path}'")
        return cls(params, StimulusSequence.from_arrays(a), a["counts"],
                   float(a["window_s"]), u=a.get("u"), u_neurons=a["u_neurons"],
                   u_final=a.get("u_final"), info=json.loads(str(a["info_json"])),
                   runaway_onset=a.get("runaway_onset"))

    def __repr__(self):
        return (f"SequenceResult({self.n_trials} trials x {self.counts.shape[1]} windows, "
                f"{self.sequence.n_stimuli} stimuli, "
                f"realization={self.info.get('realization')!r})")
