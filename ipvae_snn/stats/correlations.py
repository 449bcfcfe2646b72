"""
Noise correlations against signal correlation and receptive-field overlap,
binned as Cohen & Kohn (2011) show them.

``r_sc`` (the noise correlation, `noise_correlation`) of a pair is the
correlation of its counts over repeated trials of one stimulus;
``r_signal`` (`signal_correlation`) is the correlation of its mean responses
over stimuli (its tuning similarity); the receptive-field overlap of two model
neurons (`rf_overlap`) is the correlation of their dictionary atoms (columns
of Φ). Cohen & Kohn's review shows the mean r_sc of the pairs in bins of
r_signal, with its standard error (`binned_mean`).

Examples
--------
>>> import numpy as np
>>> from ipvae_snn.stats import binned_mean
>>> b = binned_mean([-0.5, -0.4, 0.4, 0.6], [0.0, 0.2, 0.1, 0.3], edges=[-1, 0, 1])
>>> np.round(b.mean, 2).tolist(), b.count.tolist()
([0.1, 0.2], [2, 2])
"""

from typing import NamedTuple

import numpy as np

from ..validation import InvalidValueError
from .counts import noise_correlation

__all__ = ["signal_correlation", "rf_overlap", "binned_mean", "BinnedMean",
           "pair_correlations", "PairCorrelations", "SIGNAL_BINS"]

#: Bins of r_signal (and of RF overlap): eight bins of 0.25 over [-1, 1].
SIGNAL_BINS = np.linspace(-1.0, 1.0, 9)


def _pearson_columns(a, name):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise InvalidValueError(f"{name}: expected a 2-D array with at least 2 rows, "
                                f"got shape {a.shape}")
    if not np.isfinite(a).all():
        raise InvalidValueError(f"{name}: non-finite values")
    centred = a - a.mean(axis=0)
    norm = np.sqrt(np.sum(centred ** 2, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (centred.T @ centred) / np.outer(norm, norm)
    r[norm == 0, :] = np.nan
    r[:, norm == 0] = np.nan
    return np.clip(r, -1.0, 1.0)


def signal_correlation(mean_responses):
    """
    Pairwise signal correlations: Pearson correlations of two neurons' mean
    responses (trial-averaged) over stimuli.

    Parameters
    ----------
    mean_responses : array_like, shape (n_stimuli, n_neurons)

    Returns
    -------
    ndarray, shape (n_neurons, n_neurons)
        NaN for neurons whose mean response does not vary over stimuli.

    References
    ----------
    Cohen, M. R. & Kohn, A. (2011). Measuring and interpreting neuronal
    correlations. Nat. Neurosci. 14(7), 811–819 (Box 1: r_signal).

    Examples
    --------
    >>> theta = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    >>> tuning = np.stack([np.cos(theta), np.cos(theta - np.pi / 3)], axis=1)
    >>> round(float(signal_correlation(tuning)[0, 1]), 6)     # cos(60°)
    0.5
    """
    return _pearson_columns(mean_responses, "mean_responses")


def rf_overlap(phi):
    """
    Receptive-field overlap of model neurons: the Pearson correlation over
    pixels of two neurons' dictionary atoms (columns of Φ), 1 for identical
    atoms, −1 for opposite ones, 0 for unrelated ones.

    Parameters
    ----------
    phi : array_like, shape (n_pixels, n_neurons)

    Returns
    -------
    ndarray, shape (n_neurons, n_neurons)

    Examples
    --------
    >>> phi = np.array([[1.0, -1.0, 1.0], [0.0, 0.0, -2.0], [-1.0, 1.0, 1.0]])
    >>> np.round(rf_overlap(phi)[0, 1:], 6).tolist()
    [-1.0, 0.0]
    """
    return _pearson_columns(phi, "phi")


class BinnedMean(NamedTuple):
    """Mean (``mean``) and standard error (``sem``) of ``y`` in bins of ``x``
    (``edges``, ``centers``), with the number of values per bin (``count``);
    NaN in empty bins, ``sem`` NaN where a bin holds one value."""

    edges: np.ndarray
    centers: np.ndarray
    mean: np.ndarray
    sem: np.ndarray
    count: np.ndarray


def binned_mean(x, y, edges=SIGNAL_BINS):
    """
    The mean of ``y`` with its standard error (SD / √n, ddof 1) in bins of
    ``x``: how Cohen & Kohn (2011) show r_sc against r_signal.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        E.g. the pairs' r_signal and r_sc (`pair_correlations`); pairs with a
        NaN on either side are left out.
    edges : array_like
        Increasing bin edges; the last bin includes its upper edge.

    Returns
    -------
    BinnedMean
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    edges = np.asarray(edges, dtype=np.float64)
    if x.shape != y.shape:
        raise InvalidValueError(f"x and y: expected the same length, got {x.size} and "
                                f"{y.size}")
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise InvalidValueError("edges: expected at least two increasing bin edges")
    ok = np.isfinite(x) & np.isfinite(y) & (x >= edges[0]) & (x <= edges[-1])
    x, y = x[ok], y[ok]
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
    n_bins = edges.size - 1
    count = np.bincount(idx, minlength=n_bins)
    total = np.bincount(idx, weights=y, minlength=n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
        sq = np.bincount(idx, weights=(y - mean[idx]) ** 2, minlength=n_bins)
        sem = np.where(count > 1, np.sqrt(sq / np.maximum(count - 1, 1)) / np.sqrt(count),
                       np.nan)
    return BinnedMean(edges, 0.5 * (edges[:-1] + edges[1:]), mean, sem, count)


class PairCorrelations(NamedTuple):
    """
    Per pair (upper triangle, ``pairs`` the neuron indices): ``noise`` (r_sc),
    ``signal`` (r_signal) and ``overlap`` (RF overlap, None without Φ);
    ``by_signal`` and ``by_overlap`` the binned means of r_sc
    (`binned_mean`).
    """

    pairs: np.ndarray
    noise: np.ndarray
    signal: np.ndarray
    overlap: object
    by_signal: BinnedMean
    by_overlap: object


def pair_correlations(counts, phi=None, edges=SIGNAL_BINS, method="zscore"):
    """
    r_sc of every pair beside its signal correlation (and RF overlap), and
    the binned means.

    Parameters
    ----------
    counts : array_like, shape (n_stimuli, n_trials, n_neurons)
        Counts per trial (over one counting window) of each stimulus; at
        least 2 stimuli (for r_signal) and 2 trials.
    phi : array_like, shape (n_pixels, n_neurons), optional
        The dictionary, for the RF overlap.
    edges : array_like
        Bins of r_signal and RF overlap.
    method : {'zscore', 'mean'}
        How `noise_correlation` removes the signal.

    Returns
    -------
    PairCorrelations

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.normal(size=(6, 500, 1))
    >>> counts = 10 + np.arange(6)[:, None, None] * [1, 1, -1] + shared * [1, 1, -1] \\
    ...     + rng.normal(size=(6, 500, 3))
    >>> pc = pair_correlations(counts)
    >>> pc.signal.round(2).tolist(), pc.noise.round(1).tolist()
    ([1.0, -1.0, -1.0], [0.5, -0.5, -0.5])
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 3 or c.shape[0] < 2:
        raise InvalidValueError(f"counts: expected (n_stimuli >= 2, n_trials, n_neurons), "
                                f"got shape {c.shape}")
    k = c.shape[-1]
    noise_m = noise_correlation(c, method=method)
    signal_m = signal_correlation(c.mean(axis=1))
    i, j = np.triu_indices(k, k=1)
    noise, signal = noise_m[i, j], signal_m[i, j]
    overlap = by_overlap = None
    if phi is not None:
        phi = np.asarray(phi)
        if phi.ndim != 2 or phi.shape[1] != k:
            raise InvalidValueError(f"phi: expected (n_pixels, {k}), got shape {phi.shape}")
        overlap = rf_overlap(phi)[i, j]
        by_overlap = binned_mean(overlap, noise, edges)
    return PairCorrelations(np.stack([i, j], axis=1), noise, signal, overlap,
                            binned_mean(signal, noise, edges), by_overlap)
