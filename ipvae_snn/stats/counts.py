"""
Spike-count statistics: Fano factor, noise correlations, firing rates and
their log-normal fit, sparseness.

Counts have neurons on the last axis. These measures are computed from the
counts directly: they are what the network's windows produce (Elephant's
``fanofactor`` would only count the spikes of trains built from them; the
tests check that it gives the same number).

Examples
--------
>>> import numpy as np
>>> from ipvae_snn.stats import fano_factor, firing_rates
>>> counts = np.random.default_rng(0).poisson(3.0, size=(2000, 4))   # trials x neurons
>>> np.round(fano_factor(counts), 1).tolist()                      # Poisson: 1
[1.0, 1.0, 1.0, 1.0]
>>> np.round(firing_rates(counts, window_s=0.1), -1).tolist()      # 3 per 100 ms
[30.0, 30.0, 30.0, 30.0]
"""

import math
from typing import NamedTuple

import numpy as np

from ..defaults import DEFAULT_WINDOW_S
from ..metrics import lifetime_sparseness, population_sparseness, sparseness
from ..validation import InvalidValueError, check_choice, check_number

__all__ = ["fano_factor", "noise_correlation", "pair_values", "firing_rates",
           "lognormal_fit", "LognormalFit", "sparseness", "lifetime_sparseness",
           "population_sparseness"]


def _counts(counts, name="counts", min_ndim=1):
    arr = np.asarray(counts)
    if arr.dtype.kind not in "iuf" or arr.ndim < min_ndim:
        raise InvalidValueError(f"{name}: expected a numeric array with at least {min_ndim} "
                         f"dimension(s), got dtype {arr.dtype}, shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InvalidValueError(f"{name}: non-finite values")
    if (arr < 0).any():
        raise InvalidValueError(f"{name}: negative values")
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
        raise InvalidValueError(f"counts: {n} trial(s) on axis {axis} is too few for ddof={ddof}")
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
    counts : array_like, shape (n_trials, n_neurons) or (n_stimuli, n_trials, n_neurons)
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

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.poisson(3.0, size=(4000, 1))           # common input
    >>> counts = shared + rng.poisson(3.0, size=(4000, 2))  # two neurons
    >>> round(float(pair_values(noise_correlation(counts))[0]), 1)
    0.5
    """
    c = _counts(counts, min_ndim=2)
    if c.ndim == 2:
        c = c[None]
    if c.ndim != 3:
        raise InvalidValueError(f"counts: expected shape (n_trials, n_neurons) or (n_stimuli, "
                         f"n_trials, n_neurons), got {np.shape(counts)}")
    if c.shape[1] < 2:
        raise InvalidValueError(f"counts: need at least 2 trials per stimulus, got {c.shape[1]}")
    check_choice(method, "method", ("zscore", "mean"))
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
        raise InvalidValueError(f"matrix: expected a square 2-D array, got shape {m.shape}")
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
    window_s = check_number(window_s, "window_s", low=0, low_open=True, units=" of seconds")
    c = _counts(counts)
    return c.reshape(-1, c.shape[-1]).mean(axis=0) / window_s


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
        raise InvalidValueError(f"rates: need at least 2 positive rates to fit, got {pos.size}")
    logs = np.log(pos)
    mu, sigma = float(logs.mean()), float(logs.std())
    if sigma == 0:
        ks = (0.0, 1.0)
    else:
        res = sstats.kstest(pos, "lognorm", args=(sigma, 0.0, math.exp(mu)))
        ks = (float(res.statistic), float(res.pvalue))
    return LognormalFit(mu, sigma, math.exp(mu), ks[0], ks[1], int(pos.size),
                        int(r.size - pos.size))
