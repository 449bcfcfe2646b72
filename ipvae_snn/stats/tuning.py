"""
Orientation tuning: tuning curves and their standard measures, and the
orientation of each receptive field of a dictionary.

Tuning curves have orientations on the first axis; orientations are in
degrees and follow `ipvae_snn.stimuli` (stripe orientation, 0° horizontal,
counter-clockwise).

Examples
--------
>>> import numpy as np
>>> from ipvae_snn.stats import orientation_tuning
>>> ori = np.arange(16) * 11.25
>>> responses = np.exp(np.cos(np.deg2rad(2 * (ori - 45.0))))[:, None]   # one neuron
>>> tuning = orientation_tuning(responses, ori)
>>> round(float(tuning.preferred[0]), 6), round(float(tuning.circular_variance[0]), 2)
(45.0, 0.55)
>>> tuning.sampling_deg                 # the orientation step the curves resolve
11.25
"""

import math
from typing import NamedTuple

import numpy as np

from ..validation import InvalidValueError, check_choice, check_number
from ._common import nanmedian as _nanmedian

__all__ = ["tuning_curves", "preferred_orientation", "circular_variance",
           "orientation_selectivity_index", "tuning_half_width", "orientation_tuning",
           "OrientationTuning", "receptive_field_tuning", "orientation_summary",
           "RINGACH_LEVEL", "RINGACH_SMOOTHING", "sampling_step"]

#: The response level, relative to the peak, at which Ringach, Shapley &
#: Hawken (2002) measured the orientation bandwidth (half-width at 1/√2 height).
RINGACH_LEVEL = 1.0 / math.sqrt(2.0)

#: Half-width at half-height (degrees) of the Hanning window that smooths a
#: tuning curve before its bandwidth is read, in the published description of
#: the analysis of Ringach, Shapley & Hawken's macaque V1 data (curves
#: interpolated at 1°, smoothed, then the half-width at 1/√2 of the peak).
RINGACH_SMOOTHING = 13.5


def _orientations(orientations, n=None, name="orientations"):
    o = np.asarray(orientations, dtype=np.float64)
    if o.ndim != 1 or o.size < 2:
        raise InvalidValueError(f"{name}: expected a 1-D array of at least 2 orientations "
                         f"(degrees), got shape {o.shape}")
    if not np.isfinite(o).all():
        raise InvalidValueError(f"{name}: non-finite values")
    if n is not None and o.size != n:
        raise InvalidValueError(f"{name}: {o.size} orientations for tuning curves with {n} "
                         f"rows (orientations are the first axis)")
    o = np.mod(o, 180.0)
    if np.unique(o).size != o.size:
        raise InvalidValueError(f"{name}: repeated orientations (modulo 180°); average them "
                         f"first with tuning_curves")
    return o


def _curves(curves, orientations):
    c = np.asarray(curves, dtype=np.float64)
    if c.ndim < 1:
        raise InvalidValueError("curves: expected an array with orientations on axis 0")
    o = _orientations(orientations, c.shape[0])
    if not np.isfinite(c).all():
        raise InvalidValueError("curves: non-finite values")
    if (c < 0).any():
        raise InvalidValueError("curves: negative responses (tuning measures need rates or "
                         "counts ≥ 0; subtract a baseline only after clipping at 0)")
    return c, o


def tuning_curves(responses, orientations):
    """
    Average responses over all stimuli of the same orientation.

    Parameters
    ----------
    responses : array_like, shape (n_stimuli, ...)
        E.g. mean counts per neuron, shape (n_stimuli, n_neurons).
    orientations : array_like, shape (n_stimuli,)
        Orientation of each stimulus in degrees (taken modulo 180°); the other
        stimulus parameters (phase, position, polarity) are averaged over.

    Returns
    -------
    unique_orientations : ndarray, shape (n_orientations,)
        Sorted, in [0, 180).
    curves : ndarray, shape (n_orientations, ...)
    """
    r = np.asarray(responses, dtype=np.float64)
    o = np.asarray(orientations, dtype=np.float64)
    if o.ndim != 1 or r.ndim < 1 or r.shape[0] != o.size:
        raise InvalidValueError(f"responses (shape {r.shape}) and orientations (shape "
                         f"{o.shape}) must have one stimulus per row")
    o = np.round(np.mod(o, 180.0), 9)
    uniq, inv = np.unique(o, return_inverse=True)
    if uniq.size < 2:
        raise InvalidValueError("orientations: need at least 2 different orientations")
    sums = np.zeros((uniq.size,) + r.shape[1:])
    np.add.at(sums, inv, r)
    return uniq, sums / np.bincount(inv).reshape((-1,) + (1,) * (r.ndim - 1))


def _resultant(c, o):
    """Σ r_k e^{2iθ_k} and Σ r_k over axis 0."""
    phase = np.exp(2j * np.deg2rad(o)).reshape((-1,) + (1,) * (c.ndim - 1))
    return (c * phase).sum(axis=0), c.sum(axis=0)


def preferred_orientation(curves, orientations, method="vector"):
    """
    Preferred orientation in degrees, in [0, 180).

    Parameters
    ----------
    curves : array_like, shape (n_orientations, ...)
    orientations : array_like, shape (n_orientations,)
    method : {'vector', 'peak'}
        ``'vector'``: half the angle of the resultant ``Σ r_k e^{2iθ_k}``
        (robust to noise and to the sampling grid); ``'peak'``: the sampled
        orientation of the largest response.

    Returns
    -------
    ndarray (NaN for silent neurons with ``'vector'``)
    """
    c, o = _curves(curves, orientations)
    if check_choice(method, "method", ("vector", "peak")) == "peak":
        return np.where(c.max(axis=0) > 0, o[np.argmax(c, axis=0)], np.nan)
    vec, total = _resultant(c, o)
    pref = np.mod(np.rad2deg(np.angle(vec)) / 2.0, 180.0)
    return np.where(total > 0, pref, np.nan)


def circular_variance(curves, orientations):
    r"""
    Circular variance of orientation tuning (Ringach, Shapley & Hawken 2002).

    .. math::
        V_\mathrm{circ} = 1 - \frac{\left|\sum_k r_k e^{2 i \theta_k}\right|}{\sum_k r_k}

    0 for a neuron that responds at one orientation only, 1 for a flat
    curve. Needs orientations sampled evenly over [0°, 180°). ``1 -
    circular variance`` is the vector ("global") orientation selectivity
    index. (Not the ISI CV, the coefficient of variation of inter-spike
    intervals, `ipvae_snn.stats.isi_cv`.)

    Returns
    -------
    ndarray (NaN for silent neurons)

    References
    ----------
    Ringach, D. L., Shapley, R. M. & Hawken, M. J. (2002). Orientation
    selectivity in macaque V1: diversity and laminar dependence. J. Neurosci.
    22(13), 5639–5651.
    """
    c, o = _curves(curves, orientations)
    vec, total = _resultant(c, o)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = 1.0 - np.abs(vec) / np.where(total > 0, total, 1)
    return np.where(total > 0, cv, np.nan)


def _periodic_interp(c, o, grid):
    """Periodic cubic-spline interpolation of curves (axis 0) onto ``grid``."""
    from scipy.interpolate import CubicSpline
    order = np.argsort(o)
    o, c = o[order], c[order]
    x = np.concatenate([o, [o[0] + 180.0]])
    y = np.concatenate([c, c[:1]], axis=0)
    return CubicSpline(x, y, axis=0, bc_type="periodic")(np.mod(grid - o[0], 180.0) + o[0])


def orientation_selectivity_index(curves, orientations, method="pref_orth"):
    """
    Orientation selectivity index.

    Parameters
    ----------
    curves : array_like, shape (n_orientations, ...)
    orientations : array_like, shape (n_orientations,)
    method : {'pref_orth', 'vector'}
        ``'pref_orth'``: ``(R_pref - R_orth) / (R_pref + R_orth)`` with
        ``R_pref`` the largest sampled response and ``R_orth`` the response
        90° away (interpolated with a periodic cubic spline when not sampled).
        Common in mouse and cat studies; between 0 and 1 (1: no response
        orthogonal to the preference). ``'vector'``: ``1 - circular_variance``,
        the global index behind Ringach et al. (2002)'s values.

    Returns
    -------
    ndarray (NaN for silent neurons)
    """
    c, o = _curves(curves, orientations)
    if check_choice(method, "method", ("pref_orth", "vector")) == "vector":
        return 1.0 - circular_variance(c, o)
    k = np.argmax(c, axis=0)
    r_pref = np.take_along_axis(c, k[None], axis=0)[0]
    orth = np.mod(o[k] + 90.0, 180.0)
    flat = c.reshape(c.shape[0], -1)
    orth_flat = orth.reshape(-1)
    r_orth = np.empty(orth_flat.size)
    for j in range(orth_flat.size):
        hit = np.flatnonzero(np.isclose(o, orth_flat[j]))
        r_orth[j] = flat[hit[0], j] if hit.size else \
            float(_periodic_interp(flat[:, j], o, np.array([orth_flat[j]]))[0])
    r_orth = np.maximum(r_orth.reshape(orth.shape), 0.0)
    total = r_pref + r_orth
    with np.errstate(divide="ignore", invalid="ignore"):
        osi = (r_pref - r_orth) / np.where(total > 0, total, 1)
    return np.where(total > 0, osi, np.nan)


def tuning_half_width(curves, orientations, level=0.5, resolution=0.1,
                      smoothing=None):
    """
    Half-width of the tuning curve at ``level`` × its peak.

    The curve is interpolated periodically (cubic spline) on a grid of
    ``resolution`` degrees, optionally smoothed, and followed from its peak to
    either side until it falls to ``level`` × peak; the half-width is half
    the distance between the two crossings. A side that never falls that low
    within 90° counts 90° (untuned neurons give 90°).

    Parameters
    ----------
    curves : array_like, shape (n_orientations, ...)
    orientations : array_like, shape (n_orientations,)
    level : float in (0, 1)
        0.5: half-width at half-height (HWHH). Ringach, Shapley & Hawken
        (2002) report the "bandwidth" at ``1/√2`` of the peak (`RINGACH_LEVEL`),
        without subtracting a baseline, after smoothing the interpolated curve
        with a Hanning window.
    resolution : float
        Grid step of the interpolation in degrees.
    smoothing : float, optional
        Half-width at half-height (degrees) of a Hanning window applied to
        the interpolated curve (circularly), as in Ringach et al.; default
        none.

    Returns
    -------
    ndarray of degrees in (0, 90] (NaN for silent neurons)
    """
    c, o = _curves(curves, orientations)
    check_number(level, "level", 0, 1, low_open=True, high_open=True)
    check_number(resolution, "resolution", 0, 5, low_open=True, units=" degrees")
    n_grid = int(round(180.0 / resolution))
    grid = np.arange(n_grid) * (180.0 / n_grid)
    step = 180.0 / n_grid
    shape = c.shape[1:]
    fine = _periodic_interp(c.reshape(c.shape[0], -1), o, grid)     # (n_grid, m)
    if smoothing is not None:
        check_number(smoothing, "smoothing", low=0, low_open=True, units=" of degrees")
        # A Hanning window of total width 4·HWHH has half-width at half-height HWHH.
        half = max(1, int(round(2 * smoothing / step)))
        win = np.hanning(2 * half + 1)
        win /= win.sum()
        spec = np.fft.rfft(fine, axis=0)
        kernel = np.zeros(n_grid)
        kernel[:half + 1] = win[half:]
        kernel[-half:] = win[:half]
        fine = np.fft.irfft(spec * np.fft.rfft(kernel)[:, None], n=n_grid, axis=0)
    out = np.full(fine.shape[1], np.nan)
    half_circle = n_grid // 2
    offsets = np.arange(1, half_circle + 1)
    for j in range(fine.shape[1]):
        y = fine[:, j]
        peak_i = int(np.argmax(y))
        peak = y[peak_i]
        if not peak > 0:
            continue
        target = level * peak
        widths = []
        for sign in (1, -1):
            idx = np.mod(peak_i + sign * offsets, n_grid)
            below = np.flatnonzero(y[idx] <= target)
            if below.size == 0:
                widths.append(90.0)
                continue
            b = below[0]
            y1 = y[idx[b]]
            y0 = peak if b == 0 else y[idx[b - 1]]
            # Linear interpolation of the crossing between the two grid points.
            frac = (y0 - target) / (y0 - y1) if y0 != y1 else 1.0
            widths.append(min(90.0, (b + frac) * step))
        out[j] = 0.5 * (widths[0] + widths[1])
    return out.reshape(shape) if shape else float(out[0])


class OrientationTuning(NamedTuple):
    """
    Orientation tuning of a population (`orientation_tuning`).

    Arrays have one entry per neuron; ``curves`` has shape
    (n_orientations, n_neurons); ``sampling_deg`` is the orientation step.
    ``half_width`` is taken at ``level`` of the peak (`RINGACH_LEVEL` by
    default, Ringach's bandwidth), ``hwhh`` at 0.5.
    ``osi`` is ``(R_pref - R_orth) / (R_pref + R_orth)``; ``1 -
    circular_variance`` is the vector index.
    """

    orientations: np.ndarray
    curves: np.ndarray
    preferred: np.ndarray
    circular_variance: np.ndarray
    osi: np.ndarray
    half_width: np.ndarray
    hwhh: np.ndarray
    peak: np.ndarray
    level: float
    #: Hanning smoothing (HWHH, degrees) applied before the widths were read.
    smoothing: float = None
    #: The largest step between neighbouring sampled orientations (degrees):
    #: a half-width below about twice this is not resolved by the sampling.
    sampling_deg: float = None


def orientation_tuning(responses, orientations, level=RINGACH_LEVEL, smoothing=None):
    """
    Tuning curves and their standard measures from responses to oriented
    stimuli (gratings over phases, bars over positions).

    Parameters
    ----------
    responses : array_like, shape (n_stimuli, n_neurons)
        Mean response (count or rate) of each neuron to each stimulus.
    orientations : array_like, shape (n_stimuli,)
        Stimulus orientations in degrees; stimuli of equal orientation are
        averaged (`tuning_curves`).
    level : float
        Level of `tuning_half_width` reported as ``half_width``.
    smoothing : float, optional
        Passed to `tuning_half_width`.

    Returns
    -------
    OrientationTuning

    Examples
    --------
    >>> from ipvae_snn.stimuli import grating, grating_set
    >>> patches, conditions = grating_set(phases=[0.0, 90.0])
    >>> responses = np.maximum(patches @ grating(45.0).ravel(), 0)[:, None]   # one cell
    >>> tuning = orientation_tuning(responses, conditions["orientation"])
    >>> tuning.curves.shape, round(float(tuning.preferred[0]))
    ((16, 1), 45)
    """
    uniq, curves = tuning_curves(responses, orientations)
    if curves.ndim != 2:
        raise InvalidValueError(f"responses: expected shape (n_stimuli, n_neurons), got "
                         f"{np.shape(responses)}")
    return OrientationTuning(
        orientations=uniq, curves=curves,
        preferred=preferred_orientation(curves, uniq),
        circular_variance=circular_variance(curves, uniq),
        osi=orientation_selectivity_index(curves, uniq),
        half_width=tuning_half_width(curves, uniq, level=level, smoothing=smoothing),
        hwhh=tuning_half_width(curves, uniq, level=0.5, smoothing=smoothing),
        peak=curves.max(axis=0), level=float(level),
        smoothing=None if smoothing is None else float(smoothing),
        sampling_deg=sampling_step(uniq))


def sampling_step(orientations):
    """
    The largest step between neighbouring orientations on the 180° circle, in degrees.

    Examples
    --------
    >>> sampling_step(np.arange(16) * 11.25), sampling_step([0, 10, 90])
    (11.25, 90.0)
    """
    o = np.sort(np.mod(np.asarray(orientations, dtype=np.float64), 180.0))
    return float(np.max(np.diff(np.append(o, o[0] + 180.0))))


def orientation_summary(tuning, min_peak=0.0):
    """
    Population medians of the tuning measures, keyed as in the cortex
    reference (`cortex_table`).

    Parameters
    ----------
    tuning : OrientationTuning
    min_peak : float
        Only neurons whose peak response exceeds this are included (e.g. a
        minimum mean count, so that silent neurons do not enter).

    Returns
    -------
    dict
        ``circular_variance``, ``orientation_bandwidth_deg`` (half-width at
        ``tuning.level``, after ``tuning.smoothing``),
        ``orientation_bandwidth_raw_deg`` (the same without smoothing),
        ``orientation_smoothing_deg`` (None when unsmoothed),
        ``orientation_hwhh_deg``, ``osi``, ``n_tuning_neurons``,
        ``orientation_sampling_deg`` (the step between sampled orientations:
        a bandwidth below about twice it is limited by the sampling).
    """
    keep = tuning.peak > min_peak
    smoothing = getattr(tuning, "smoothing", None)
    if smoothing is None:
        raw = tuning.half_width[keep]
    else:
        raw = tuning_half_width(tuning.curves[:, keep], tuning.orientations,
                                level=tuning.level) if keep.any() else np.zeros(0)
    return dict(
        circular_variance=_nanmedian(tuning.circular_variance[keep]),
        orientation_bandwidth_deg=_nanmedian(tuning.half_width[keep]),
        orientation_bandwidth_raw_deg=_nanmedian(raw),
        orientation_smoothing_deg=smoothing,
        orientation_hwhh_deg=_nanmedian(tuning.hwhh[keep]),
        osi=_nanmedian(tuning.osi[keep]),
        n_tuning_neurons=int(keep.sum()),
        orientation_sampling_deg=getattr(tuning, "sampling_deg", None))


def receptive_field_tuning(phi, size=None, pad=64):
    """
    Preferred orientation and spatial frequency of each dictionary atom
    (receptive field), from the peak of its zero-padded Fourier power.

    Cheap, stimulus-free estimates (e.g. to sort a raster by preferred
    orientation); `orientation_tuning` of the responses to gratings is the
    physiological measure.

    Parameters
    ----------
    phi : array_like, shape (n_pixels, n_latents)
        Dictionary (``IPVAEParams.phi``); columns are square images.
    size : int, optional
        Side of the patches (default ``sqrt(n_pixels)``).
    pad : int
        FFT size (≥ ``size``); larger gives a finer frequency grid.

    Returns
    -------
    orientation : ndarray, shape (n_latents,)
        Degrees in [0, 180), the stripe orientation of the best grating
        (`ipvae_snn.stimuli` convention).
    spatial_frequency : ndarray, shape (n_latents,)
        Cycles per pixel.
    """
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim != 2:
        raise InvalidValueError(f"phi: expected shape (n_pixels, n_latents), got {phi.shape}")
    if size is None:
        size = int(round(math.sqrt(phi.shape[0])))
    if size * size != phi.shape[0]:
        raise InvalidValueError(f"phi: {phi.shape[0]} pixels are not a {size}x{size} patch")
    if pad < size:
        raise InvalidValueError(f"pad must be >= size ({size}), got {pad}")
    imgs = phi.T.reshape(-1, size, size)
    imgs = imgs - imgs.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(imgs, s=(pad, pad))) ** 2
    f = np.fft.fftfreq(pad)
    best = power.reshape(power.shape[0], -1).argmax(axis=1)
    f_row, f_col = f[best // pad], f[best % pad]
    # Rows grow downwards: the wave vector in (x right, y up) is (f_col, -f_row).
    direction = np.rad2deg(np.arctan2(-f_row, f_col))
    return np.mod(direction - 90.0, 180.0), np.hypot(f_row, f_col)
