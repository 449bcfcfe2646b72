"""
Divisive contrast normalisation in front of the network.

Cortex divides each input by its local contrast before it reaches the cells
that code it (Heeger 1992; Carandini & Heeger 2012, "Normalization as a
canonical neural computation"). A model that carries a `ContrastNormalization`
does the same: every patch ``x`` reaches the network as ``x / g`` with the gain

    g = sqrt(c² + (s·c_ref)²) / c_ref,    c = RMS contrast of x,

where ``c_ref`` is the RMS contrast of the training patches and ``s`` the
semi-saturation constant (a fraction of ``c_ref``). High-contrast patches are
brought to the training contrast; patches far below ``s·c_ref`` are amplified
by at most ``1/s``, so that the pixel noise of a flat patch is not blown up to
a full-contrast input. For the iP-VAE this is the same as a spike cost that
grows with the input's contrast: the fixed point of its dynamics is a
non-negative Lasso in the amplitudes, and a Lasso on ``x / g`` equals one on
``x`` with its penalty times ``g`` (scale invariance).

R² and the zero fraction, the rate–distortion score, do not depend on the
units the reconstruction is measured in, so a result's R² of ``x / g`` is the
R² of ``x``: results keep what the network saw (``result.x``) and the gain
(``result.input_gain``); ``result.x * input_gain[:, None]`` is the input in
its own units, and so is a reconstruction times the gain.

Examples
--------
>>> import numpy as np
>>> norm = ContrastNormalization(reference=1.0, semi_saturation=0.3)
>>> x = np.array([[3.0, -3.0, 3.0, -3.0], [0.0, 0.0, 0.0, 0.0]])
>>> seen, gain = norm(x)
>>> gain.round(4).tolist()                       # sqrt(3² + 0.3²), and 0.3 for a blank
[3.015, 0.3]
>>> seen[0].round(4).tolist()
[0.995, -0.995, 0.995, -0.995]
"""

import numpy as np

from .validation import InvalidTypeError, InvalidValueError, check_number

__all__ = ["ContrastNormalization", "normalize_input", "patch_contrast",
           "DEFAULT_SEMI_SATURATION", "CONTRAST_KEYS"]

#: The semi-saturation constant ``s`` of a normalisation (a fraction of the
#: reference contrast). At 0.1 and below, flat patches of the training
#: photographs amplified to full contrast drove neurons of the default model to
#: the clamp (1 of 400 patches of brick); 0.3 kept every patch bounded and
#: scored best of 0.2–0.5 on the training photographs (docs/rate-distortion.md).
DEFAULT_SEMI_SATURATION = 0.3
#: Keys of a normalisation in a model ``.npz`` (absent: no normalisation).
CONTRAST_KEYS = ("contrast_reference", "contrast_semi_saturation")


def patch_contrast(x):
    """
    The RMS contrast of each patch: ``sqrt(mean(x²))`` over its pixels.

    The patches are whitened and zero-mean on average, so this is their
    standard deviation about zero, the contrast the network's drive scales with.

    Examples
    --------
    >>> patch_contrast(np.array([[1.0, -1.0], [0.0, 2.0]])).round(4).tolist()
    [1.0, 1.4142]
    """
    x = np.asarray(x, dtype=np.float64)
    return np.sqrt(np.mean(np.square(x), axis=-1))


class ContrastNormalization:
    """
    Divide each input by its contrast gain before the network (see the module).

    Parameters
    ----------
    reference : float
        The RMS contrast the dictionary was trained at (> 0): of the training
        patches (`from_patches`).
    semi_saturation : float
        ``s`` (≥ 0), the contrast below which inputs are no longer brought up
        to the reference, as a fraction of it.

    Examples
    --------
    >>> ContrastNormalization.from_patches(np.full((4, 9), 2.0))
    ContrastNormalization(reference=2, semi_saturation=0.3)
    >>> ContrastNormalization(reference=0.0)
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: contrast_reference must be a positive number, got 0.0
    """

    def __init__(self, reference, semi_saturation=DEFAULT_SEMI_SATURATION):
        self.reference = check_number(reference, "contrast_reference", low=0, low_open=True)
        self.semi_saturation = check_number(semi_saturation, "contrast_semi_saturation",
                                            low=0)

    @classmethod
    def check(cls, value, name="contrast"):
        """``value`` if it is a normalisation or None; else `InvalidTypeError`."""
        if value is not None and not isinstance(value, cls):
            raise InvalidTypeError(f"{name} must be a ContrastNormalization or None, got "
                                   f"{type(value).__name__}")
        return value

    @classmethod
    def from_patches(cls, x, semi_saturation=DEFAULT_SEMI_SATURATION):
        """The normalisation to the RMS contrast of the patches ``x`` (training patches)."""
        reference = float(np.sqrt(np.mean(np.square(np.asarray(x, dtype=np.float64)))))
        if not reference > 0:
            raise InvalidValueError("the training patches have no contrast (all zero); "
                                    "a contrast normalisation needs a reference above 0")
        return cls(reference, semi_saturation)

    def gain(self, x):
        """``g = sqrt(c² + (s·c_ref)²) / c_ref`` per patch (``c``: `patch_contrast`)."""
        floor = self.semi_saturation * self.reference
        return np.sqrt(np.square(patch_contrast(x)) + floor * floor) / self.reference

    def __call__(self, x):
        """
        ``(x / g, g)``: what the network sees, and the gain per patch.

        A blank patch with ``semi_saturation`` 0 has gain 0; it stays a blank
        (gain 1 stands in, so that nothing is divided by zero).
        """
        x = np.asarray(x, dtype=np.float64)
        gain = self.gain(x)
        gain = np.where(gain > 0, gain, 1.0)
        return x / gain[..., None], gain

    def to_arrays(self):
        """The model-file entries (`CONTRAST_KEYS`)."""
        return dict(zip(CONTRAST_KEYS, (np.float64(self.reference),
                                        np.float64(self.semi_saturation))))

    @classmethod
    def from_arrays(cls, arrays, source="model"):
        """The normalisation of a model file's arrays, or None when it has none."""
        present = [k for k in CONTRAST_KEYS if k in arrays]
        if not present:
            return None
        if len(present) < len(CONTRAST_KEYS):
            missing = sorted(set(CONTRAST_KEYS) - set(present))
            raise InvalidValueError(f"{source}: has {present[0]!r} but not {missing[0]!r}")
        try:
            return cls(*(float(np.asarray(arrays[k], dtype=np.float64)) for k in CONTRAST_KEYS))
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(f"{source}: {exc}") from None

    def __eq__(self, other):
        if not isinstance(other, ContrastNormalization):
            return NotImplemented
        return (self.reference, self.semi_saturation) == (other.reference,
                                                          other.semi_saturation)

    def __repr__(self):
        return (f"ContrastNormalization(reference={self.reference:.4g}, "
                f"semi_saturation={self.semi_saturation:.4g})")


def normalize_input(params, x):
    """
    What a model's network sees of the patches ``x``, and the gain per patch.

    ``(x / g, g)`` for a model with a `ContrastNormalization` (``params.contrast``),
    ``(x, None)`` for one without: the one place where every run (the
    reference, both network realizations, an embedded network, a stimulus
    sequence) meets the normalisation.

    Examples
    --------
    >>> from ipvae_snn import load_model
    >>> params = load_model("official")
    >>> normalize_input(params, np.ones((2, 256)))[1] is None
    True
    >>> seen, gain = normalize_input(params.replace(contrast=ContrastNormalization(1.0)),
    ...                              np.full((1, 256), 2.0))
    >>> round(float(seen[0, 0]), 4), gain.round(4).tolist()
    (0.9889, [2.0224])
    """
    if params.contrast is None:
        return x, None
    return params.contrast(x)
