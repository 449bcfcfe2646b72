"""
The experimenters' protocols run on a model: contrast dependence, noise
correlation against signal correlation and receptive-field overlap, and the
Allen Brain Observatory's natural-scenes metrics; and the literature values
they compare to (``protocol_measures`` in ``cortex_v1.json``).

Each protocol takes the model's parameters and, optionally, ``run`` — any
``run(patches, n_windows, seed=..., record_windows=...)`` returning an
`InferenceResult`, as `cortex_experiment` takes it. The default is the
reference algorithm (`ipvae_snn.reference.infer`); pass
``SpikingIPVAE(params).run`` for the spiking network.

Examples
--------
>>> import ipvae_snn
>>> from ipvae_snn.stats import contrast_protocol
>>> p = contrast_protocol(ipvae_snn.default_params(), contrasts=(0.25, 1.0), n_stimuli=4,
...                       n_trials=4, n_windows=41)
>>> p.contrasts.tolist(), bool(p.mean_rate_hz[1] > p.mean_rate_hz[0])
([0.25, 1.0], True)
"""

import functools
import json
from importlib import resources
from typing import NamedTuple

import numpy as np

from ..defaults import ANALYSIS_START, DEFAULT_WINDOW_S, min_analysis_windows
from ..validation import InvalidValueError, check_callable, check_choice, check_int
from ._common import nanmedian
from .allen import NaturalScenesMetrics, natural_scenes_metrics
from .correlations import SIGNAL_BINS, PairCorrelations, pair_correlations
from .counts import fano_factor, firing_rates, noise_correlation, pair_values
from .experiments import repeat_trials, trial_counts
from .fano import MeanMatchedFano, mean_matched_fano, onset_aligned_counts

__all__ = ["onset_protocol", "OnsetProtocol", "contrast_protocol", "ContrastProtocol",
           "noise_correlation_protocol",
           "NoiseCorrelationProtocol", "natural_scenes_protocol", "NaturalScenesProtocol",
           "protocol_stimuli", "load_protocol_reference", "confirmed_ranges",
           "DEFAULT_CONTRASTS"]

#: Contrasts of `contrast_protocol` (RMS contrast in the model's input units;
#: 1 is a typical whitened natural patch, see `ipvae_snn.stimuli`).
DEFAULT_CONTRASTS = (0.125, 0.25, 0.5, 1.0)


def _runner(params, run, gain_noise=0.0):
    if run is None:
        from ..reference import infer
        return functools.partial(infer, params, warn=False, gain_noise=gain_noise)
    return check_callable(run, "run", "run(patches, n_windows, seed=..., record_windows=...)")


def protocol_stimuli(stimulus="gratings", n_stimuli=16, contrast=1.0, seed=0,
                     patches=None):
    """
    The stimuli of a protocol, scaled to an RMS contrast.

    Parameters
    ----------
    stimulus : {'gratings', 'natural'}
        ``'gratings'``: ``n_stimuli`` orientations evenly over [0°, 180°) at
        phase 0 and 0.25 cycles/pixel (`ipvae_snn.stimuli.grating_set`);
        ``'natural'``: held-out natural patches (`ipvae_snn.data.natural_patches`)
        or ``patches``, each with its mean removed and scaled to the contrast.
    n_stimuli : int
    contrast : float
        RMS contrast (`ipvae_snn.stimuli`: 1 is a typical natural patch).
    seed : int
        Seeds the natural patches' positions.
    patches : array_like, shape (n, n_pixels), optional
        Your own patches for ``'natural'`` (the first ``n_stimuli``).

    Returns
    -------
    ndarray, shape (n_stimuli, n_pixels)

    Examples
    --------
    >>> x = protocol_stimuli("gratings", n_stimuli=4, contrast=0.5)
    >>> x.shape, np.round(x.std(axis=1), 6).tolist()
    ((4, 256), [0.5, 0.5, 0.5, 0.5])
    """
    check_choice(stimulus, "stimulus", ("gratings", "natural"))
    n_stimuli = check_int(n_stimuli, "n_stimuli", 2)
    if stimulus == "gratings":
        from ..stimuli import grating_set
        x, _ = grating_set(orientations=np.arange(n_stimuli) * 180.0 / n_stimuli,
                           phases=0.0, contrasts=contrast)
        return x
    if patches is None:
        from ..data import natural_patches
        patches = natural_patches(n_patches=n_stimuli, seed=seed)
    x = np.asarray(patches, dtype=np.float64).reshape(len(patches), -1)[:n_stimuli]
    x = x - x.mean(axis=1, keepdims=True)
    rms = np.sqrt(np.mean(x * x, axis=1, keepdims=True))
    if np.any(rms < 1e-12):
        raise InvalidValueError("patches: a patch is uniform, so it cannot be scaled to "
                                "a contrast")
    return x * (contrast / rms)


def _trial_blocks(run, x, n_trials, n_windows, count_windows, seed):
    """Counts (S, R, W, K) of the analysed windows and the counting-window
    blocks as conditions (S*B, R, K)."""
    n_windows = check_int(n_windows, "n_windows", min_analysis_windows(),
                          reason=f"the statistics start at window {ANALYSIS_START}, "
                                 f"after the transient from u_init")
    count_windows = check_int(count_windows, "count_windows", 1,
                              n_windows - ANALYSIS_START)
    windows = np.arange(ANALYSIS_START, n_windows)
    result = run(repeat_trials(x, n_trials), n_windows, seed=seed, record_windows=windows)
    counts = trial_counts(result, n_trials, windows)
    s, r, w, k = counts.shape
    b = w // count_windows
    blocks = counts[:, :, :b * count_windows].reshape(s, r, b, count_windows, k).sum(
        axis=3)
    window_s = float(result.info.get("window_s", DEFAULT_WINDOW_S))
    return counts, blocks.transpose(0, 2, 1, 3).reshape(s * b, r, k), window_s


class ContrastProtocol(NamedTuple):
    """
    What `contrast_protocol` measured, one entry per contrast: ``fano``
    (median over responsive (stimulus, counting window, neuron) triples),
    ``fano_matched`` (the mean-matched Fano factor across contrasts,
    `mean_matched_fano` with the contrasts as its time bins),
    ``noise_correlation`` (mean r_sc over pairs), ``mean_rate_hz``,
    ``median_rate_hz``, ``n_responsive``; and the settings.
    """

    contrasts: np.ndarray
    fano: np.ndarray
    fano_matched: np.ndarray
    noise_correlation: np.ndarray
    mean_rate_hz: np.ndarray
    median_rate_hz: np.ndarray
    n_responsive: np.ndarray
    matched: MeanMatchedFano
    settings: dict

    def to_dict(self):
        """JSON-ready values."""
        out = {k: np.asarray(getattr(self, k)).tolist() for k in
               ("contrasts", "fano", "fano_matched", "noise_correlation", "mean_rate_hz",
                "median_rate_hz", "n_responsive")}
        out["matched_kept_fraction"] = self.matched.kept
        return dict(out, settings=self.settings)


def contrast_protocol(params, run=None, contrasts=DEFAULT_CONTRASTS, stimulus="gratings",
                      n_stimuli=16, n_trials=20, n_windows=101, count_windows=5,
                      min_mean_count=1.0, seed=0, patches=None, progress=None,
                      gain_noise=0.0):
    """
    Fano factor, noise correlation and rate at several contrasts.

    Each contrast's stimuli (`protocol_stimuli`) are shown ``n_trials`` times
    for ``n_windows`` windows; windows 16 on are analysed and cut into
    counting windows of ``count_windows`` windows, each (stimulus, counting
    window) a condition, as in `network_statistics`.

    Parameters
    ----------
    params : IPVAEParams
    run : callable, optional
        Default: the reference algorithm (with ``gain_noise``, the shared-gain
        variant of `ipvae_snn.sampling`; a ``run`` of your own sets its own).
    contrasts : sequence of float
        At least 2 (the issue asks for 4+); default `DEFAULT_CONTRASTS`.
    stimulus, n_stimuli, patches
        See `protocol_stimuli`.
    n_trials, n_windows, count_windows, min_mean_count
        As `network_statistics`.
    seed : int
        Seeds the runs (contrast i uses ``seed + i``) and the natural patches.
    progress : callable, optional
        Called with a line of text after each contrast.

    Returns
    -------
    ContrastProtocol

    References
    ----------
    Churchland et al. (2010) for the mean matching; Cohen & Kohn (2011) for
    r_sc and its dependence on firing rate.
    """
    run = _runner(params, run, gain_noise)
    contrasts = np.asarray(contrasts, dtype=np.float64).ravel()
    if contrasts.size < 2 or np.any(contrasts <= 0) or not np.isfinite(contrasts).all():
        raise InvalidValueError(f"contrasts: expected at least 2 positive contrasts, got "
                                f"{contrasts.tolist()}")
    fano, nc, mean_rate, median_rate, n_resp, blocks_all = [], [], [], [], [], []
    window_s = DEFAULT_WINDOW_S
    for i, c in enumerate(contrasts):
        x = protocol_stimuli(stimulus, n_stimuli, c, seed=seed, patches=patches)
        counts, cond, window_s = _trial_blocks(run, x, n_trials, n_windows, count_windows,
                                               seed + i)
        f = fano_factor(cond, axis=1)
        responsive = cond.mean(axis=1) >= min_mean_count
        r_sc = pair_values(noise_correlation(cond))
        rates = firing_rates(counts, window_s)
        fano.append(nanmedian(f[responsive]))
        nc.append(float(np.mean(r_sc)) if r_sc.size else float("nan"))
        mean_rate.append(float(np.mean(rates)))
        median_rate.append(float(np.median(rates)))
        n_resp.append(int(responsive.sum()))
        blocks_all.append(cond)
        if progress is not None:
            progress(f"contrast {c:g}: Fano {fano[-1]:.3g}, r_sc {nc[-1]:.3g}, "
                     f"mean rate {mean_rate[-1]:.3g} sp/s")
    # (trials, contrasts, conditions x neurons): the contrasts as Churchland's time bins
    stacked = np.stack([b.transpose(1, 0, 2).reshape(b.shape[1], -1) for b in blocks_all],
                       axis=1)
    matched = mean_matched_fano(stacked, seed=seed)
    settings = dict(stimulus=stimulus, n_stimuli=int(n_stimuli), n_trials=int(n_trials),
                    n_windows=int(n_windows), count_windows=int(count_windows),
                    window_s=float(window_s), min_mean_count=float(min_mean_count),
                    seed=int(seed))
    return ContrastProtocol(contrasts, np.array(fano), matched.fano, np.array(nc),
                            np.array(mean_rate), np.array(median_rate), np.array(n_resp),
                            matched, settings)


class NoiseCorrelationProtocol(NamedTuple):
    """What `noise_correlation_protocol` measured: the pairs
    (`PairCorrelations`), the mean r_sc, and the settings."""

    pairs: PairCorrelations
    mean_r_sc: float
    settings: dict

    def to_dict(self):
        """JSON-ready values: the binned means (not every pair)."""
        def binned(b):
            return None if b is None else dict(
                edges=b.edges.tolist(), mean=_nan_none(b.mean), sem=_nan_none(b.sem),
                count=b.count.tolist())
        p = self.pairs
        slope = _slope(p.signal, p.noise)
        return dict(mean_r_sc=self.mean_r_sc, n_pairs=int(p.noise.size),
                    slope_r_sc_on_r_signal=slope,
                    by_signal=binned(p.by_signal), by_overlap=binned(p.by_overlap),
                    settings=self.settings)


def _nan_none(a):
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, dtype=float)]


def _slope(x, y):
    """Least-squares slope of y on x over finite pairs (NaN with fewer than 3)."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0:
        return float("nan")
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def noise_correlation_protocol(params, run=None, stimulus="natural", n_stimuli=30,
                               n_trials=20, n_windows=101, count_windows=5,
                               edges=SIGNAL_BINS, seed=0, patches=None, gain_noise=0.0):
    """
    Noise correlation against signal correlation and against receptive-field
    overlap (the correlation of two neurons' columns of Φ), binned as Cohen &
    Kohn (2011) show them.

    Parameters
    ----------
    params : IPVAEParams
    run : callable, optional
        Default: the reference algorithm (with ``gain_noise``, the shared-gain
        variant of `ipvae_snn.sampling`; a ``run`` of your own sets its own).
    stimulus, n_stimuli, patches
        See `protocol_stimuli` (contrast 1); r_signal is the correlation of
        the mean responses over these stimuli.
    n_trials, n_windows, count_windows
        As `network_statistics`: r_sc is computed within each (stimulus,
        counting window) condition and pooled (z-scores).
    edges : array_like
        Bins of r_signal and of RF overlap (`SIGNAL_BINS`).
    seed : int

    Returns
    -------
    NoiseCorrelationProtocol
    """
    run = _runner(params, run, gain_noise)
    x = protocol_stimuli(stimulus, n_stimuli, 1.0, seed=seed, patches=patches)
    _, cond, window_s = _trial_blocks(run, x, n_trials, n_windows, count_windows, seed)
    pairs = pair_correlations(cond, phi=params.phi, edges=edges)
    mean = float(np.nanmean(pairs.noise)) if np.isfinite(pairs.noise).any() else float("nan")
    settings = dict(stimulus=stimulus, n_stimuli=int(n_stimuli), n_trials=int(n_trials),
                    n_windows=int(n_windows), count_windows=int(count_windows),
                    window_s=float(window_s), seed=int(seed))
    return NoiseCorrelationProtocol(pairs, mean, settings)


class NaturalScenesProtocol(NamedTuple):
    """What `natural_scenes_protocol` measured: the per-neuron metrics
    (`NaturalScenesMetrics`), their medians over responsive neurons
    (``summary``) and the settings."""

    metrics: NaturalScenesMetrics
    summary: dict
    settings: dict

    def to_dict(self):
        """JSON-ready values: the medians and the settings."""
        return dict(self.summary, settings=self.settings)


def natural_scenes_protocol(params, run=None, n_images=30, n_trials=20, n_windows=12,
                            seed=0, patches=None, gain_noise=0.0):
    """
    The Allen Brain Observatory's natural-scenes metrics of the model's
    neurons: each image is flashed ``n_trials`` times and the windows of each
    presentation, from the model's start at ``u_init`` (the state without
    input, as after a grey screen), are its time course.

    Parameters
    ----------
    params : IPVAEParams
    run : callable, optional
        Default: the reference algorithm (with ``gain_noise``, the shared-gain
        variant of `ipvae_snn.sampling`; a ``run`` of your own sets its own).
    n_images : int
        Held-out natural patches (or ``patches``), each at its own contrast.
    n_trials : int
        Presentations per image (the Allen Observatory shows each of its 118
        images 50 times, for 250 ms).
    n_windows : int
        Windows per presentation, all recorded (12: 240 ms at 20 ms per
        window, the time scale `ipvae_snn.stats.timescale` proposes).
    seed : int
    patches : array_like, optional

    Returns
    -------
    NaturalScenesProtocol
    """
    run = _runner(params, run, gain_noise)
    n_images = check_int(n_images, "n_images", 2)
    n_trials = check_int(n_trials, "n_trials", 2)
    n_windows = check_int(n_windows, "n_windows", 2)
    if patches is None:
        from ..data import natural_patches
        patches = natural_patches(n_patches=n_images, seed=seed)
    x = np.asarray(patches, dtype=np.float64).reshape(len(patches), -1)[:n_images]
    windows = np.arange(n_windows)
    result = run(repeat_trials(x, n_trials), n_windows, seed=seed, record_windows=windows)
    counts = trial_counts(result, n_trials, windows)
    metrics = natural_scenes_metrics(counts)
    settings = dict(n_images=int(x.shape[0]), n_trials=int(n_trials),
                    n_windows=int(n_windows), seed=int(seed),
                    window_s=float(result.info.get("window_s", DEFAULT_WINDOW_S)))
    return NaturalScenesProtocol(metrics, metrics.summary(), settings)


class OnsetProtocol(NamedTuple):
    """
    What `onset_protocol` measured, one entry per time bin around onset:
    ``times_s`` (the end of each bin's count, relative to onset),
    ``matched`` (`MeanMatchedFano` over the bins, onsets as conditions),
    ``rate_hz`` (mean rate over every neuron and onset); ``fano_before`` /
    ``fano_after`` (mean of the mean-matched Fano factor over the bins whose
    count lies wholly in the blank before onset / wholly in the stimulus),
    ``change`` (after − before) and the same without matching
    (``fano_all_before``, ``fano_all_after``); and the settings.
    """

    times_s: np.ndarray
    matched: MeanMatchedFano
    rate_hz: np.ndarray
    fano_before: float
    fano_after: float
    change: float
    fano_all_before: float
    fano_all_after: float
    settings: dict

    def to_dict(self):
        """JSON-ready values."""
        m = self.matched
        return dict(times_s=self.times_s.tolist(), fano=_nan_none(m.fano),
                    fano_all=_nan_none(m.fano_all), rate_hz=self.rate_hz.tolist(),
                    mean_count_kept=_nan_none(m.mean), kept_fraction=m.kept,
                    n_points=m.n_points, fano_before=self.fano_before,
                    fano_after=self.fano_after, change=self.change,
                    fano_all_before=self.fano_all_before,
                    fano_all_after=self.fano_all_after, settings=self.settings)


def onset_protocol(params, run_sequence=None, n_stimuli=8, n_trials=50, stimulus_windows=30,
                   blank_windows=30, before=20, count_windows=3, stimulus="natural",
                   contrast=1.0, bin_width=0.25, seed=0, patches=None, gain_noise=0.0,
                   window_s=None):
    """
    The mean-matched Fano factor and the rate around stimulus onset
    (Churchland et al. 2010): blank, stimulus, blank, over many trials.

    One `~ipvae_snn.sequences.StimulusSequence` shows ``n_stimuli`` stimuli
    (`protocol_stimuli`), each for ``stimulus_windows`` windows after a blank
    of ``blank_windows`` (the beliefs relax to the prior), ``n_trials`` times.
    Counts over ``count_windows`` windows, aligned to each onset
    (`onset_aligned_counts`; each onset a condition, as Churchland et al. take
    each stimulus), go to `mean_matched_fano`.

    Parameters
    ----------
    params : IPVAEParams
    run_sequence : callable, optional
        ``run_sequence(sequence, seed=...)`` returning a `SequenceResult`;
        default the reference algorithm (`ipvae_snn.reference.infer_sequence`
        with ``gain_noise``); ``SpikingIPVAE(params).run_sequence`` for the
        spiking network.
    n_stimuli, n_trials, stimulus_windows, blank_windows : int
    before : int
        Time bins before onset (at most ``blank_windows - count_windows + 1``).
    count_windows : int
        Windows per count (Churchland et al.: 50 ms; 3 windows are 60 ms at the
        documented 20 ms per window).
    stimulus, contrast, seed, patches
        As `protocol_stimuli` (``seed`` also seeds the run).
    bin_width : float
        Of the mean matching (`mean_matched_fano`).
    gain_noise : float
        The shared-gain variant of the default reference run (`ipvae_snn.sampling`).
    window_s : float, optional
        Seconds per window for the times and rates (default: the result's
        ``window_s``; the reference has no time scale of its own).

    Returns
    -------
    OnsetProtocol

    Examples
    --------
    >>> import ipvae_snn
    >>> p = onset_protocol(ipvae_snn.default_params(), n_stimuli=2, n_trials=8,
    ...                    stimulus_windows=12, blank_windows=8, before=4)
    >>> p.times_s.shape, bool(p.rate_hz[-1] > p.rate_hz[0])   # onset raises the rate
    ((16,), True)
    """
    from ..sequences import StimulusSequence
    if run_sequence is None:
        from ..reference import infer_sequence
        run_sequence = functools.partial(infer_sequence, params, warn=False,
                                         gain_noise=gain_noise)
    else:
        run_sequence = check_callable(run_sequence, "run_sequence",
                                      "run_sequence(sequence, seed=...)")
    n_trials = check_int(n_trials, "n_trials", 2)
    count_windows = check_int(count_windows, "count_windows", 1)
    stimulus_windows = check_int(stimulus_windows, "stimulus_windows", count_windows)
    blank_windows = check_int(blank_windows, "blank_windows", count_windows)
    before = check_int(before, "before", 1, blank_windows - count_windows + 1)
    x = protocol_stimuli(stimulus, check_int(n_stimuli, "n_stimuli", 1), contrast, seed,
                         patches)
    seq = StimulusSequence(x, stimulus_windows, blank_windows, trials=n_trials)
    result = run_sequence(seq, seed=seed)
    aligned, offsets = onset_aligned_counts(result.counts, seq.onsets, before,
                                            stimulus_windows, count_windows)
    matched = mean_matched_fano(aligned, bin_width=bin_width, seed=seed)
    window_s = float(result.window_s if window_s is None else window_s)
    pre, post = offsets < 0, offsets >= count_windows - 1

    def mean(a, where):            # NaN where matching kept no point
        v = a[where][np.isfinite(a[where])]
        return float(v.mean()) if v.size else float("nan")

    settings = dict(n_stimuli=int(x.shape[0]), n_trials=n_trials,
                    stimulus_windows=stimulus_windows, blank_windows=blank_windows,
                    before=before, count_windows=count_windows, stimulus=stimulus,
                    contrast=float(contrast), bin_width=float(bin_width), seed=int(seed),
                    window_s=window_s, gain_noise=float(result.info.get("gain_noise", 0.0)),
                    realization=result.info.get("realization"))
    before_f, after_f = mean(matched.fano, pre), mean(matched.fano, post)
    return OnsetProtocol((offsets + 1) * window_s, matched,
                         matched.mean_all / (count_windows * window_s), before_f, after_f,
                         after_f - before_f, mean(matched.fano_all, pre),
                         mean(matched.fano_all, post), settings)


def load_protocol_reference():
    """
    The literature values of the protocols' measures (``protocol_measures``
    of ``cortex_v1.json``): key -> {label, definition, units, range (or
    None), expected (the confirmed direction of an effect, or None),
    confirmed, note, sources}; the sources cite ``references`` or
    ``protocol_references`` of the same file.

    Examples
    --------
    >>> ref = load_protocol_reference()
    >>> "fano_onset_drop" in ref
    True
    """
    data = json.loads(resources.files("ipvae_snn").joinpath("cortex_v1.json").read_text(
        encoding="utf-8"))
    return data.get("protocol_measures", {})


def confirmed_ranges():
    """
    Measure key -> ``confirmed`` (True, False) of the cortex table's ranges,
    as the added ``confirmed`` fields of ``cortex_v1.json`` say.

    Examples
    --------
    >>> c = confirmed_ranges()
    >>> c["fano_factor"] in (True, False)
    True
    """
    data = json.loads(resources.files("ipvae_snn").joinpath("cortex_v1.json").read_text(
        encoding="utf-8"))
    return {k: bool(m.get("confirmed", False)) for k, m in data["measures"].items()}
