"""
The mean-matched Fano factor over time (Churchland et al. 2010).

The Fano factor of a population at one time is the slope of the spike-count
variance against the spike-count mean over the population's (neuron,
condition) points. Because the variance of cortical counts grows faster than
the mean, a change of the mean alone (at stimulus onset, say) changes that
slope; mean matching removes it by keeping, at every time, only points whose
means follow the distribution common to all times.

Examples
--------
>>> import numpy as np
>>> from ipvae_snn.stats import mean_matched_fano
>>> rng = np.random.default_rng(0)
>>> lam = rng.uniform(0.5, 4.0, size=(1, 60))             # 60 neurons' means
>>> counts = rng.poisson(lam, size=(200, 5, 60))          # trials x bins x neurons
>>> np.round(mean_matched_fano(counts, seed=0).fano, 1).tolist()
[1.0, 1.0, 1.0, 1.0, 1.0]
"""

from typing import NamedTuple

import numpy as np

from ..validation import InvalidValueError, check_int, check_number

__all__ = ["MeanMatchedFano", "mean_matched_fano", "variance_mean_slope",
           "onset_aligned_counts"]


class MeanMatchedFano(NamedTuple):
    """
    What `mean_matched_fano` measured, one entry per time bin.

    ``fano`` is the mean-matched Fano factor (averaged over the random
    down-samplings), ``ci`` its approximate 95 % interval (slope ± 2 standard
    errors, averaged likewise), ``mean`` the mean count of the points kept;
    ``fano_all``, ``ci_all`` and ``mean_all`` are the same without matching
    (all points). ``kept`` is the fraction of points each time bin keeps and
    ``n_points`` the number of (neuron, condition) points.
    """

    fano: np.ndarray
    ci: np.ndarray
    mean: np.ndarray
    fano_all: np.ndarray
    ci_all: np.ndarray
    mean_all: np.ndarray
    kept: float
    n_points: int


def variance_mean_slope(mean, variance, n_trials, epsilon=0.1, weighted=True):
    """
    Slope of variance against mean by least squares through the origin,
    weighted by the inverse sampling variance of each variance estimate.

    The sampling variance of a count variance grows with the square of the
    count mean and falls with the number of trials, so Churchland et al.
    weight each point by ``n_trials / (mean + epsilon)²``; ``epsilon`` (a
    count) keeps points with means near zero from dominating.

    Parameters
    ----------
    mean, variance : array_like, shape (n_points,)
    n_trials : int or array_like
        Trials behind each point.
    epsilon : float
        Count added to the mean in the weights (Churchland's toolbox: the
        count of 1 spike/s in the counting window; 0.1 for 100 ms).
    weighted : bool
        False: ordinary least squares through the origin.

    Returns
    -------
    slope, standard_error : float
        NaN where no point has a positive mean.

    Examples
    --------
    >>> slope, se = variance_mean_slope([1.0, 2.0], [1.5, 3.0], 10)
    >>> round(slope, 6), round(se, 6)
    (1.5, 0.0)
    """
    x = np.asarray(mean, dtype=np.float64)
    y = np.asarray(variance, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise InvalidValueError(f"mean and variance: expected two 1-D arrays of one "
                                f"length, got shapes {x.shape} and {y.shape}")
    w = (np.broadcast_to(np.asarray(n_trials, dtype=np.float64), x.shape)
         / (x + epsilon) ** 2 if weighted else np.ones_like(x))
    sxx = float(np.sum(w * x * x))
    if x.size == 0 or sxx <= 0:
        return float("nan"), float("nan")
    slope = float(np.sum(w * x * y) / sxx)
    dof = max(x.size - 1, 1)
    mse = float(np.sum(w * (y - slope * x) ** 2)) / dof
    return slope, float(np.sqrt(mse / sxx))


def _points(counts):
    c = np.asarray(counts)
    if c.dtype.kind not in "iuf" or c.ndim not in (3, 4):
        raise InvalidValueError(f"counts: expected a numeric array (trials, time bins, "
                                f"neurons[, conditions]), got dtype {c.dtype}, shape "
                                f"{c.shape}")
    c = c.astype(np.float64)
    if not np.isfinite(c).all() or (c < 0).any():
        raise InvalidValueError("counts: expected finite, non-negative counts")
    if c.shape[0] < 2:
        raise InvalidValueError(f"counts: need at least 2 trials, got {c.shape[0]}")
    c = c.reshape(c.shape[0], c.shape[1], -1)            # trials, bins, points
    return c.mean(axis=0), c.var(axis=0, ddof=1), c.shape[0]


def mean_matched_fano(counts, bin_width=0.25, n_repeats=10, epsilon=0.1,
                      weighted=True, seed=0):
    """
    The Fano factor at each time bin, with and without mean matching.

    Churchland et al. (2010, Methods and Supplementary Fig. 2): for each time
    bin, every (neuron, condition) point has the mean and the variance of its
    count over trials. The means at each time are binned (``bin_width``
    counts); the *greatest common distribution* holds, per bin, the smallest
    number of points any time has in it. At each time, points are drawn at
    random within each bin down to that number, and the Fano factor is the
    slope of variance against mean over the kept points (regression through
    the origin, weighted as `variance_mean_slope`). The random down-sampling
    is repeated ``n_repeats`` times and the slopes averaged. The same slope
    over all points is the raw population Fano factor.

    Parameters
    ----------
    counts : array_like, shape (n_trials, n_bins, n_neurons[, n_conditions])
        Spike counts in one counting window per time bin (Churchland: 50 ms
        windows, 80 ms in their toolbox), e.g. `SequenceResult.counts`
        summed over sliding windows.
    bin_width : float
        Width of the bins of the mean count used for matching (the toolbox's
        0.25 spikes).
    n_repeats : int
        Random down-samplings averaged (the toolbox's 10).
    epsilon : float
        See `variance_mean_slope`.
    weighted : bool
        Weighted regression (the default, as Churchland et al.).
    seed : int
        Seeds the down-sampling.

    Returns
    -------
    MeanMatchedFano
        ``fano`` is NaN where no point survives the matching (the time bins
        share no mean count: widen ``bin_width`` or compare fewer bins).

    References
    ----------
    Churchland, M. M., Yu, B. M., Cunningham, J. P. et al. (2010). Stimulus
    onset quenches neural variability: a widespread cortical phenomenon.
    Nat. Neurosci. 13(3), 369–378 (Methods, "Mean matching"; the authors'
    Variability toolbox, ``VarVsMean``, documents the defaults used here).

    Examples
    --------
    Means that double at the second time bin, variance = mean + mean²/4
    (Fano factor 1 + mean/4): the raw Fano factor rises, the matched one
    does not, because only means both bins share are kept.

    >>> rng = np.random.default_rng(1)
    >>> lam = np.stack([rng.uniform(1, 4, 400), rng.uniform(1, 8, 400)])
    >>> gain = rng.gamma(4.0, 1 / 4.0, size=(400, 2, 400))
    >>> r = mean_matched_fano(rng.poisson(lam * gain), seed=0)
    >>> bool(r.fano_all[1] - r.fano_all[0] > 0.4), bool(abs(r.fano[1] - r.fano[0]) < 0.1)
    (True, True)
    """
    bin_width = check_number(bin_width, "bin_width", low=0, low_open=True)
    n_repeats = check_int(n_repeats, "n_repeats", 1)
    epsilon = check_number(epsilon, "epsilon", low=0)
    mean, var, n_trials = _points(counts)               # (bins, points)
    n_bins, n_points = mean.shape
    raw = [variance_mean_slope(mean[t], var[t], n_trials, epsilon, weighted)
           for t in range(n_bins)]
    fano_all = np.array([s for s, _ in raw])
    ci_all = np.array([[s - 2 * e, s + 2 * e] for s, e in raw])
    which = np.floor(mean / bin_width).astype(np.int64)  # histogram bin of each mean
    n_hist = int(which.max()) + 1 if which.size else 1
    hist = np.stack([np.bincount(which[t], minlength=n_hist) for t in range(n_bins)])
    target = hist.min(axis=0)                            # greatest common distribution
    rng = np.random.default_rng(seed)
    fano = np.zeros(n_bins)
    ci = np.zeros((n_bins, 2))
    kept_mean = np.zeros(n_bins)
    for _ in range(n_repeats):
        for t in range(n_bins):
            # a random order inside each histogram bin; keep the first target[b]
            order = np.lexsort((rng.random(n_points), which[t]))
            b = which[t][order]
            first = np.searchsorted(b, b, side="left")
            rank = np.arange(n_points) - first
            keep = order[rank < target[b]]
            s, e = variance_mean_slope(mean[t, keep], var[t, keep], n_trials,
                                       epsilon, weighted)
            fano[t] += s / n_repeats
            ci[t] += np.array([s - 2 * e, s + 2 * e]) / n_repeats
            kept_mean[t] += (mean[t, keep].mean() if keep.size else np.nan) / n_repeats
    kept = float(target.sum() / n_points) if n_points else 0.0
    return MeanMatchedFano(fano, ci, kept_mean, fano_all, ci_all, mean.mean(axis=1),
                           kept, int(n_points))


def onset_aligned_counts(counts, onsets, before, after, width=1):
    """
    Counts in a sliding counting window, aligned to stimulus onsets: the
    layout `mean_matched_fano` takes, each onset a condition.

    Parameters
    ----------
    counts : array_like, shape (n_trials, n_windows, n_neurons)
        Counts per window of a sequence of blanks and stimuli (e.g.
        ``SequenceResult.counts``).
    onsets : sequence of int
        Window index of each stimulus onset.
    before, after : int
        Time bins before the onset and from it on: offsets ``-before …
        after - 1``.
    width : int
        Windows per count; the bin at offset ``d`` counts windows
        ``onset + d - width + 1 … onset + d`` (it ends at its time, so no bin
        at or before the onset sees the stimulus).

    Returns
    -------
    counts : ndarray, shape (n_trials, before + after, n_neurons, n_onsets)
    offsets : ndarray, shape (before + after,)

    Examples
    --------
    >>> c = np.arange(10).reshape(1, 10, 1)             # one trial, one neuron
    >>> a, d = onset_aligned_counts(c, [5], before=2, after=2, width=2)
    >>> d.tolist(), a[0, :, 0, 0].tolist()               # windows 2+3, 3+4, 4+5, 5+6
    ([-2, -1, 0, 1], [5, 7, 9, 11])
    """
    c = np.asarray(counts)
    if c.ndim != 3 or c.dtype.kind not in "iuf":
        raise InvalidValueError(f"counts: expected a numeric array (n_trials, n_windows, "
                                f"n_neurons), got shape {c.shape}")
    before = check_int(before, "before", 0)
    after = check_int(after, "after", 1)
    width = check_int(width, "width", 1)
    onsets = np.asarray(onsets, dtype=np.int64).ravel()
    n_windows = c.shape[1]
    if onsets.size == 0 or np.any(onsets - before - width + 1 < 0) or \
            np.any(onsets + after - 1 >= n_windows):
        raise InvalidValueError(f"onsets: each onset needs {before + width - 1} windows "
                                f"before it and {after} from it within the "
                                f"{n_windows} windows, got {onsets.tolist()}")
    csum = np.concatenate([np.zeros_like(c[:, :1]), np.cumsum(c, axis=1)], axis=1)
    offsets = np.arange(-before, after)
    end = onsets[None, :] + offsets[:, None] + 1             # (bins, onsets), exclusive
    summed = csum[:, end] - csum[:, end - width]             # (trials, bins, onsets, K)
    return np.moveaxis(summed, 3, 2), offsets
