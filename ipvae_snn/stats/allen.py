"""
The natural-scenes metrics of the Allen Brain Observatory (de Vries et al.
2020), with the AllenSDK's definitions: lifetime sparseness, trial-to-trial
reliability and image selectivity.

Input layout: ``counts`` of shape (n_images, n_trials, n_windows, n_neurons),
the windows being the time course of one presentation (the AllenSDK's
frames of a 250 ms presentation); a neuron's response to an image is its mean
count over trials and windows.

Examples
--------
>>> import numpy as np
>>> from ipvae_snn.stats import image_selectivity
>>> round(float(image_selectivity([0.0, 1.0, 3.0])), 6)     # worked in the tests
0.110667
"""

from typing import NamedTuple

import numpy as np

from ..metrics import lifetime_sparseness
from ..validation import InvalidValueError, check_int

__all__ = ["image_selectivity", "reliability", "natural_scenes_metrics",
           "NaturalScenesMetrics", "allen_lifetime_sparseness", "ALLEN_THRESHOLDS"]

#: Thresholds of the AllenSDK's image selectivity.
ALLEN_THRESHOLDS = 1000


def allen_lifetime_sparseness(mean_responses):
    """
    Lifetime sparseness as the Allen Brain Observatory computes it: the
    Vinje–Gallant (Treves–Rolls) index ``(1 − (Σ r)² / (n Σ r²)) / (1 − 1/n)``
    of each neuron's mean responses ``r`` to the n images (0 dense, 1 one image).

    Parameters
    ----------
    mean_responses : array_like, shape (n_images, n_neurons)

    Returns
    -------
    ndarray, shape (n_neurons,)

    References
    ----------
    de Vries, S. E. J. et al. (2020). A large-scale standardized physiological
    survey reveals functional organization of the mouse visual cortex. Nat.
    Neurosci. 23, 138–151 (Methods: lifetime sparseness). Vinje, W. E. &
    Gallant, J. L. (2000). Science 287, 1273–1276.

    Examples
    --------
    >>> np.round(allen_lifetime_sparseness([[0.0], [1.0], [3.0]]), 6).tolist()
    [0.7]
    """
    r = np.asarray(mean_responses, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 2:
        raise InvalidValueError(f"mean_responses: expected (n_images >= 2, n_neurons), "
                                f"got shape {r.shape}")
    return np.asarray(lifetime_sparseness(r), dtype=np.float64)


def image_selectivity(mean_responses, n_thresholds=ALLEN_THRESHOLDS):
    """
    Image selectivity as the AllenSDK defines it (``image_sel``): for
    ``n_thresholds`` thresholds ``t_j = f_min + j (f_max − f_min) / n``,
    ``j = 0 … n−1``, between a neuron's smallest and largest mean response,
    the fraction of images whose response exceeds ``t_j``; the selectivity is
    ``1 − 2 A`` with ``A`` the mean of those fractions (a discrete area under
    the curve): near 1 for a neuron driven by one image, near 0 for responses
    spread evenly, negative when most images drive it near its maximum.

    Parameters
    ----------
    mean_responses : array_like, shape (n_images,) or (n_images, n_neurons)
        Trial-averaged responses to the images (the blank left out).
    n_thresholds : int
        The AllenSDK uses 1000.

    Returns
    -------
    float or ndarray, shape (n_neurons,)
        NaN for a neuron with the same response to every image.

    References
    ----------
    AllenSDK, ``brain_observatory.natural_scenes`` (``get_image_selectivity``)
    and de Vries et al. (2020), Methods ("image selectivity").

    Examples
    --------
    >>> round(float(image_selectivity([0.0, 0.0, 0.0, 5.0])), 3)
    0.5
    """
    r = np.asarray(mean_responses, dtype=np.float64)
    one = r.ndim == 1
    if one:
        r = r[:, None]
    if r.ndim != 2 or r.shape[0] < 2:
        raise InvalidValueError(f"mean_responses: expected (n_images >= 2[, n_neurons]), "
                                f"got shape {np.shape(mean_responses)}")
    n = check_int(n_thresholds, "n_thresholds", 1)
    fmin, fmax = r.min(axis=0), r.max(axis=0)
    t = fmin + np.arange(n)[:, None] * ((fmax - fmin) / n)       # (thresholds, neurons)
    frac = (r[None, :, :] > t[:, None, :]).mean(axis=1)          # (thresholds, neurons)
    sel = 1.0 - 2.0 * frac.mean(axis=0)
    sel = np.where(fmax > fmin, sel, np.nan)
    return float(sel[0]) if one else sel


def reliability(time_courses):
    """
    Trial-to-trial reliability as the AllenSDK defines it for natural scenes:
    the mean, over all pairs of trials, of the Pearson correlation between the
    two trials' response time courses (at the neuron's preferred image).

    Parameters
    ----------
    time_courses : array_like, shape (n_trials, n_time[, n_neurons])
        The response over the presentation on each trial.

    Returns
    -------
    float or ndarray, shape (n_neurons,)
        Pairs with a constant time course on either trial are left out (their
        correlation is undefined); NaN where no pair is left.

    References
    ----------
    AllenSDK, ``brain_observatory.natural_scenes`` (``get_reliability``);
    de Vries et al. (2020), Methods ("reliability").

    Examples
    --------
    >>> round(float(reliability([[1, 2, 3], [2, 4, 6], [3, 2, 1]])), 6)
    -0.333333
    """
    x = np.asarray(time_courses, dtype=np.float64)
    one = x.ndim == 2
    if one:
        x = x[..., None]
    if x.ndim != 3 or x.shape[0] < 2 or x.shape[1] < 2:
        raise InvalidValueError(f"time_courses: expected (n_trials >= 2, n_time >= 2"
                                f"[, n_neurons]), got shape {np.shape(time_courses)}")
    c = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.sum(c * c, axis=1))                         # (trials, neurons)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = c / norm[:, None, :]
    r = np.einsum("itk,jtk->kij", z, z)                           # (neurons, trials, trials)
    i, j = np.triu_indices(x.shape[0], k=1)
    pairs = r[:, i, j]
    with np.errstate(invalid="ignore"):
        out = np.array([np.mean(p[np.isfinite(p)]) if np.isfinite(p).any() else np.nan
                        for p in pairs])
    return float(out[0]) if one else out


class NaturalScenesMetrics(NamedTuple):
    """Per neuron: ``lifetime_sparseness``, ``reliability`` (at the preferred
    image), ``image_selectivity`` and ``preferred_image``; ``mean_responses``
    (n_images, n_neurons); ``responsive`` (a positive mean response to the
    preferred image)."""

    lifetime_sparseness: np.ndarray
    reliability: np.ndarray
    image_selectivity: np.ndarray
    preferred_image: np.ndarray
    mean_responses: np.ndarray
    responsive: np.ndarray

    def summary(self):
        """Medians over responsive neurons (and their number), as a dict."""
        ok = self.responsive
        med = {k: float(np.nanmedian(getattr(self, k)[ok])) if ok.any() else float("nan")
               for k in ("lifetime_sparseness", "reliability", "image_selectivity")}
        return dict(med, n_responsive=int(ok.sum()), n_neurons=int(ok.size))


def natural_scenes_metrics(counts):
    """
    The three natural-scenes metrics of every neuron.

    Parameters
    ----------
    counts : array_like, shape (n_images, n_trials, n_windows, n_neurons)

    Returns
    -------
    NaturalScenesMetrics

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> m = natural_scenes_metrics(rng.poisson(2.0, size=(5, 4, 6, 3)))
    >>> m.lifetime_sparseness.shape, int(m.responsive.sum())
    ((3,), 3)
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 4 or c.shape[0] < 2:
        raise InvalidValueError(f"counts: expected (n_images >= 2, n_trials, n_windows, "
                                f"n_neurons), got shape {c.shape}")
    mean = c.mean(axis=(1, 2))                                    # (images, neurons)
    pref = np.argmax(mean, axis=0)
    k = c.shape[-1]
    at_pref = c[pref, :, :, np.arange(k)]                         # (neurons, trials, windows)
    rel = reliability(np.transpose(at_pref, (1, 2, 0)))
    return NaturalScenesMetrics(allen_lifetime_sparseness(mean), np.atleast_1d(rel),
                                image_selectivity(mean), pref, mean,
                                mean[pref, np.arange(k)] > 0)
