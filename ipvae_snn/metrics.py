"""
Read-out metrics, as the paper and its official code define them.

One function per measure (Elephant's convention). Reconstruction quality is
per patch; sparsity measures take counts with neurons on the last axis. R² is
computed here only (`r2_from_sums`): the reference algorithm, the network's
result collection and `r2_score` all call it.

Examples
--------
>>> import numpy as np
>>> from ipvae_snn import metrics
>>> x = np.array([[1.0, 2.0, 3.0, 4.0]])
>>> metrics.r2_score(x, x + [0.5, -0.5, 0.5, -0.5]).round(3).tolist()
[0.8]
>>> float(metrics.sparseness([0, 0, 3, 0])), float(metrics.sparseness([1, 1, 1, 1]))
(1.0, 0.0)
"""

import threading

import numpy as np

__all__ = ["one_blas_thread", "mse", "r2_score", "r2_from_sums", "total_sum_of_squares",
           "zero_fraction", "mean_count", "sparseness", "lifetime_sparseness",
           "population_sparseness"]


_BLAS = []
_BLAS_LOCK = threading.Lock()


def one_blas_thread():
    """
    A context in which BLAS uses one thread (threadpoolctl; the controller,
    slow to create, is made once per process).

    Every kernel of `ipvae_snn.executor` and every read-out runs inside it: a
    matrix product split over several BLAS threads may round differently
    from one on a single thread, so results would depend on the machine's
    BLAS settings (Dask's nanny, for one, limits its workers to one thread).

    Examples
    --------
    >>> with one_blas_thread():
    ...     float((np.ones((2, 3)) @ np.ones(3)).sum())
    6.0
    """
    with _BLAS_LOCK:
        if not _BLAS:
            from threadpoolctl import ThreadpoolController
            _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


def mse(x, x_hat):
    """
    Squared error per patch, summed over pixels: ``Σ_m (x_m - x̂_m)²``.

    Parameters
    ----------
    x, x_hat : array_like, shape (..., n_pixels)

    Returns
    -------
    ndarray, shape (...)
    """
    x = np.asarray(x, dtype=np.float64)
    diff = x - np.asarray(x_hat, dtype=np.float64)
    return np.einsum("...m,...m->...", diff, diff)


def total_sum_of_squares(x):
    """
    ``Σ_m (x_m - mean(x))²`` per patch, the denominator of R².

    Parameters
    ----------
    x : array_like, shape (..., n_pixels)

    Returns
    -------
    ndarray, shape (...)
    """
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=-1, keepdims=True)
    return np.einsum("...m,...m->...", centred, centred)


def r2_from_sums(ss_res, ss_tot):
    """
    ``1 - ss_res / ss_tot``: R² from the residual and total sums of squares.

    Broadcasts; NaN where ``ss_tot`` is 0 (a constant patch).

    Examples
    --------
    >>> r2_from_sums(np.array([1.0, 2.0]), np.array([4.0, 0.0])).tolist()
    [0.75, nan]
    """
    ss_tot = np.asarray(ss_tot, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, np.nan)


def r2_score(x, x_hat):
    """
    Coefficient of determination per patch,
    ``1 - Σ(x - x̂)² / Σ(x - mean(x))²`` (the mean over that patch's pixels).

    Constant patches (zero variance) give NaN.
    """
    return r2_from_sums(mse(x, x_hat), total_sum_of_squares(x))


def zero_fraction(counts, axis=None):
    """Fraction of zero spike counts (over ``axis``, default all entries)."""
    counts = np.asarray(counts)
    return np.mean(counts == 0, axis=axis)


def mean_count(counts, axis=None):
    """Mean spike count per neuron per window (divide by ``T_w`` for spikes/s)."""
    return np.mean(np.asarray(counts, dtype=np.float64), axis=axis)


def sparseness(values, axis=-1):
    """
    Treves–Rolls / Vinje–Gallant sparseness normalised to [0, 1]:
    ``S = (1 - (Σz)² / (n Σz²)) / (1 - 1/n)`` over ``axis``.

    1 for a one-hot vector, 0 for a constant one; NaN where all values are 0
    or ``n < 2``.
    """
    z = np.asarray(values, dtype=np.float64)
    n = z.shape[axis]
    s1 = z.sum(axis=axis)
    s2 = np.square(z).sum(axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = s1 ** 2 / (n * s2)
        s = (1.0 - a) / (1.0 - 1.0 / n) if n > 1 else np.full_like(a, np.nan)
    return np.where(s2 > 0, s, np.nan)


def lifetime_sparseness(counts):
    """
    Lifetime sparseness of each neuron across stimuli: `sparseness` over axis
    0 of counts of shape (n_stimuli, n_neurons); one value per neuron.
    """
    return sparseness(np.asarray(counts), axis=0)


def population_sparseness(counts):
    """
    Population sparseness of each stimulus across neurons: `sparseness` over
    the last axis of counts of shape (n_stimuli, n_neurons); one value per
    stimulus.
    """
    return sparseness(np.asarray(counts), axis=-1)
