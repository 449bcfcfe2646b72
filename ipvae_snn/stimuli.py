"""
Synthetic stimuli for tuning experiments: sinusoidal gratings and bars.

Conventions (shared with `ipvae_snn.stats`):

- Patches are ``size × size`` images, row 0 at the top. Angles are in
  **degrees**; the image x axis points right and y points *up*, so angles turn
  counter-clockwise on screen.
- ``orientation`` is the orientation of the stripes (or of the bar's long
  axis): 0° horizontal, 90° vertical; orientations are taken modulo 180°.
  A drifting grating of orientation θ moves in ``direction`` θ + 90° or θ + 270°
  (modulo 360°).
- ``spatial_frequency`` is in cycles per pixel (the Nyquist limit is 0.5).
- ``phase`` is in degrees: the grating is ``cos(2π f d + phase)`` where ``d``
  is the signed distance from the patch centre along the grating's direction of
  motion.
- ``contrast`` is the **RMS contrast in the model's input units**: each
  stimulus has its mean removed and is scaled to a pixel standard deviation of
  ``contrast``. The bundled model's inputs are z-scored whitened patches whose
  per-patch standard deviation has a median of about 1.0 (training sample:
  quartiles 0.76 and 1.16), so ``contrast=1`` is a typical natural patch.
  The mean is removed because the preprocessed natural patches have
  (nearly) zero mean; a grating with a non-integer number of cycles in the
  patch would otherwise carry a phase-dependent DC offset.

  Keep the contrast at or below about 1.25 for long runs of the bundled
  model: over 500 windows of the reference algorithm, none of 384 gratings
  (16 orientations × 8 phases × 0.125/0.25/0.375 cycles/px) drove neurons to
  the upper clamp at contrast 1.0 or 1.25, 19 did at 1.5, and at contrast 2
  92 of the 128 gratings of 0.25 cycles/px did within 100 windows (the FOND
  dynamics are not stable for every input, see ``RunawayWarning``).

The bundled dictionary's atoms peak at spatial frequencies between about 0.14
and 0.36 cycles/pixel (10th–90th percentile, median 0.25; periods of 3 to 7
pixels), which is where gratings drive the model best
(`ipvae_snn.stats.receptive_field_tuning` gives each neuron's peak).

Examples
--------
>>> from ipvae_snn import stimuli
>>> g = stimuli.grating(45.0, spatial_frequency=0.25)
>>> g.shape, round(float(g.std()), 6)
((16, 16), 1.0)
>>> patches, conditions = stimuli.grating_set()
>>> patches.shape, sorted(conditions)
((128, 256), ['contrast', 'orientation', 'phase', 'spatial_frequency'])
"""

import itertools

import numpy as np

from .defaults import DEFAULT_WINDOW_S, PATCH_SIZE
from .validation import InvalidValueError, check_choice, check_int, check_number

__all__ = ["grating", "bar", "drifting_grating", "grating_set", "bar_set",
           "DEFAULT_SPATIAL_FREQUENCY"]

#: Median peak spatial frequency of the bundled dictionary's atoms (cycles/px).
DEFAULT_SPATIAL_FREQUENCY = 0.25


def _coords(size):
    size = _check_size(size)
    centre = (size - 1) / 2.0
    col = np.arange(size) - centre
    x = col[None, :].repeat(size, 0)
    y = -col[:, None].repeat(size, 1)        # rows grow downwards, y points up
    return x, y


def _check_size(size):
    return check_int(size, "size", 2)


def _check_positive(value, name):
    return check_number(value, name, low=0, low_open=True)


def _check_contrast(contrast):
    return check_number(contrast, "contrast", low=0, units=" (RMS contrast)")


def _normalize(img, contrast, name):
    img = img - img.mean()
    rms = float(np.sqrt(np.mean(img * img)))
    if contrast == 0:
        return np.zeros_like(img)
    if rms < 1e-12:
        raise InvalidValueError(f"{name}: the stimulus is uniform inside the patch, so it "
                         f"cannot be scaled to an RMS contrast (check its "
                         f"position, size and spatial frequency)")
    return img * (contrast / rms)


def _aperture_mask(size, aperture):
    if check_choice(aperture, "aperture", (None, "circle")) is None:
        return None
    x, y = _coords(size)
    r = np.hypot(x, y)
    radius = size / 2.0
    # A raised-cosine edge one pixel wide, so the aperture adds no sharp edge.
    return np.clip(0.5 + 0.5 * np.cos(np.pi * np.clip(r - (radius - 1.0), 0, 1.0)),
                   0.0, 1.0)


def grating(orientation, spatial_frequency=DEFAULT_SPATIAL_FREQUENCY, phase=0.0,
            contrast=1.0, size=PATCH_SIZE, aperture=None):
    """
    A static sinusoidal grating.

    Parameters
    ----------
    orientation : float
        Orientation of the stripes in degrees (0 horizontal, 90 vertical).
    spatial_frequency : float
        Cycles per pixel, in (0, 0.5] (0.5 is the Nyquist limit).
    phase : float
        Spatial phase in degrees (0: a bright stripe through the centre).
    contrast : float
        RMS contrast in the model's input units (see the module notes).
    size : int
        Side of the patch in pixels.
    aperture : {None, 'circle'}
        ``'circle'``: multiply by a disc of diameter ``size`` with a soft edge
        (removes the corners, whose extent depends on orientation).

    Returns
    -------
    ndarray, shape (size, size)

    Examples
    --------
    >>> g = grating(90.0, spatial_frequency=0.25)       # vertical stripes
    >>> bool(np.allclose(g[0], g[-1])), round(float(np.sqrt(np.mean(g ** 2))), 6)
    (True, 1.0)
    """
    theta = np.deg2rad(check_number(orientation, "orientation"))
    f = check_number(spatial_frequency, "spatial_frequency", low=0, high=0.5,
                     low_open=True, units=" cycles/pixel (0.5: the Nyquist limit)")
    phi = np.deg2rad(check_number(phase, "phase"))
    contrast = _check_contrast(contrast)
    x, y = _coords(size)
    # The wave vector is perpendicular to the stripes.
    d = -x * np.sin(theta) + y * np.cos(theta)
    img = np.cos(2 * np.pi * f * d + phi)
    mask = _aperture_mask(size, aperture)
    if mask is not None:
        img = img * mask
    return _normalize(img, contrast, "grating")


def bar(orientation, width=2.0, length=None, position=0.0, contrast=1.0,
        polarity=1, size=PATCH_SIZE):
    """
    A bar (a light or dark line segment) with anti-aliased edges.

    Parameters
    ----------
    orientation : float
        Orientation of the bar's long axis in degrees (0 horizontal).
    width : float
        Width in pixels (> 0).
    length : float, optional
        Length in pixels; default ``size`` (the bar crosses the patch).
    position : float
        Offset of the bar's axis from the patch centre, in pixels, along the
        bar's normal (the direction ``orientation + 90°``): sweeping it moves
        the bar across the receptive fields as in a Hubel–Wiesel experiment.
    contrast : float
        RMS contrast after mean removal (see the module notes).
    polarity : {1, -1}
        Light (+1) or dark (-1) bar.
    size : int

    Returns
    -------
    ndarray, shape (size, size)
    """
    theta = np.deg2rad(check_number(orientation, "orientation"))
    width = _check_positive(width, "width")
    size = _check_size(size)
    length = float(size) if length is None else _check_positive(length, "length")
    position = check_number(position, "position")
    contrast = _check_contrast(contrast)
    check_choice(polarity, "polarity", (1, -1))
    x, y = _coords(size)
    along = x * np.cos(theta) + y * np.sin(theta)
    across = -x * np.sin(theta) + y * np.cos(theta) - position
    # Fraction of each pixel covered (1-pixel linear ramp at the edges).
    cover = (np.clip(width / 2 + 0.5 - np.abs(across), 0, 1)
             * np.clip(length / 2 + 0.5 - np.abs(along), 0, 1))
    return polarity * _normalize(cover, contrast, "bar")


def drifting_grating(orientation, spatial_frequency=DEFAULT_SPATIAL_FREQUENCY,
                     temporal_frequency=2.0, n_frames=10, window_s=DEFAULT_WINDOW_S, phase=0.0,
                     contrast=1.0, reverse=False, size=PATCH_SIZE, aperture=None):
    """
    Frames of a drifting grating, one per inference window.

    The phase advances by ``360° · temporal_frequency · window_s`` per frame,
    so the grating moves in the direction ``orientation + 90°`` (``+ 270°``
    with ``reverse``). The reference algorithm and the spiking network take
    one static input per run; to present a drifting grating, run the frames
    as a sequence of inputs or use the phase average of static gratings (the
    F0 response; `grating_set` over phases), which is what a slowly drifting
    grating gives.

    Parameters
    ----------
    orientation, spatial_frequency, phase, contrast, size, aperture
        As for `grating`.
    temporal_frequency : float
        Cycles per second (Hz), ≥ 0.
    n_frames : int
        Number of frames.
    window_s : float
        Duration of one frame (the inference window) in seconds.
    reverse : bool
        Drift the opposite way.

    Returns
    -------
    ndarray, shape (n_frames, size, size)
    """
    tf = check_number(temporal_frequency, "temporal_frequency", low=0, units=" Hz")
    window_s = _check_positive(window_s, "window_s")
    n_frames = check_int(n_frames, "n_frames")
    step = 360.0 * tf * window_s * (1 if reverse else -1)
    phase = check_number(phase, "phase")
    # With the phase decreasing, cos(2π f d + φ) moves towards +d, i.e. along
    # orientation + 90°.
    return np.stack([grating(orientation, spatial_frequency, phase + k * step,
                             contrast, size, aperture) for k in range(n_frames)])


def _as_1d(values, name):
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidValueError(f"{name} must be a number or a non-empty 1-D sequence, got "
                         f"shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InvalidValueError(f"{name} contains non-finite values")
    return arr


def _factorial(make, axes, size, flatten):
    names = list(axes)
    combos = list(itertools.product(*(axes[n] for n in names)))
    imgs = np.stack([make(**dict(zip(names, c))) for c in combos])
    conditions = {n: np.array([c[i] for c in combos]) for i, n in enumerate(names)}
    if flatten:
        imgs = imgs.reshape(len(combos), size * size)
    return imgs, conditions


def grating_set(orientations=None, spatial_frequencies=DEFAULT_SPATIAL_FREQUENCY,
                phases=None, contrasts=1.0, size=PATCH_SIZE, aperture=None,
                flatten=True):
    """
    All combinations of orientation, spatial frequency, phase and contrast.

    Parameters
    ----------
    orientations : float or sequence, optional
        Degrees; default 16 orientations in steps of 11.25° over [0, 180).
    spatial_frequencies : float or sequence
        Cycles per pixel.
    phases : float or sequence, optional
        Degrees; default 8 phases in steps of 45° (averaging over them gives
        the phase-invariant, F0-like response of a drifting grating).
    contrasts : float or sequence
        RMS contrasts.
    size : int
    aperture : {None, 'circle'}
    flatten : bool
        Return patches as rows of ``size²`` pixels (the models' input layout).

    Returns
    -------
    patches : ndarray, shape (n, size*size) or (n, size, size)
    conditions : dict of ndarray, shape (n,)
        ``orientation``, ``spatial_frequency``, ``phase``, ``contrast`` of each
        patch (orientation varies slowest).
    """
    orientations = (np.arange(16) * 180.0 / 16 if orientations is None
                    else _as_1d(orientations, "orientations"))
    phases = np.arange(8) * 45.0 if phases is None else _as_1d(phases, "phases")
    axes = dict(orientation=orientations,
                spatial_frequency=_as_1d(spatial_frequencies, "spatial_frequencies"),
                phase=phases, contrast=_as_1d(contrasts, "contrasts"))
    return _factorial(lambda **kw: grating(size=size, aperture=aperture, **kw),
                      axes, _check_size(size), flatten)


def bar_set(orientations=None, positions=None, widths=2.0, contrasts=1.0,
            polarities=(1, -1), length=None, size=PATCH_SIZE, flatten=True):
    """
    Bars at all combinations of orientation, position, width, contrast and
    polarity (a Hubel–Wiesel style sweep).

    Parameters
    ----------
    orientations : float or sequence, optional
        Degrees; default 16 orientations over [0, 180).
    positions : float or sequence, optional
        Offsets from the centre along the bar's normal, in pixels; default
        ``-6 .. 6`` in steps of 1.5 px.
    widths, contrasts : float or sequence
    polarities : sequence of {1, -1}
    length : float, optional
        Bar length (default: the patch side).
    size : int
    flatten : bool

    Returns
    -------
    patches : ndarray, shape (n, size*size) or (n, size, size)
    conditions : dict of ndarray, shape (n,)
        ``orientation``, ``position``, ``width``, ``contrast``, ``polarity``.
    """
    orientations = (np.arange(16) * 180.0 / 16 if orientations is None
                    else _as_1d(orientations, "orientations"))
    positions = (np.arange(-6.0, 6.01, 1.5) if positions is None
                 else _as_1d(positions, "positions"))
    pol = np.atleast_1d(np.asarray(polarities))
    if pol.size == 0 or not np.isin(pol, (1, -1)).all():
        raise InvalidValueError(f"polarities must be a sequence of 1 and/or -1, got "
                         f"{np.asarray(polarities).tolist()}")
    axes = dict(orientation=orientations, position=positions,
                width=_as_1d(widths, "widths"), contrast=_as_1d(contrasts, "contrasts"),
                polarity=pol.astype(int))
    return _factorial(lambda polarity, **kw: bar(polarity=int(polarity), length=length,
                                                 size=size, **kw),
                      axes, _check_size(size), flatten)
