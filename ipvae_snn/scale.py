"""
Is the input on the scale of the model's training data? A check before a run.

The models take whitened patches of unit scale (`ipvae_snn.data`); raw pixel
values (0–255, or grey levels in [0, 1]) or much higher contrast drive their
neurons to the upper clamp or give reconstructions far below R² = 0.
`input_scale_problem` holds the rule; `check_input_scale` warns (or refuses)
on it, and `ipvae_snn.infer`, `SpikingIPVAE.run` and the command line call it
before every run. ``docs/own-images.md`` gives the measurements behind the
limits.

Examples
--------
>>> import numpy as np
>>> from ipvae_snn.data import natural_patches
>>> x = natural_patches(n_patches=20, seed=0)
>>> input_scale_problem(None, x) is None
True
>>> input_scale_problem(None, 255 * np.ones((2, 256)))[:40]
'patches: 2 of 2 patches have pixel RMS a'
"""

import warnings

import numpy as np

from .contrast import normalize_input, patch_contrast
from .validation import InputScaleError

__all__ = ["check_input_scale", "input_scale_problem", "InputScaleWarning",
           "TRAIN_PATCH_RMS", "SCALE_LIMIT", "OFFSET_LIMIT"]

#: Median per-patch pixel RMS (``sqrt(mean(x**2))`` over a patch's pixels) of
#: the bundled model's training data, ``natural_patches(TRAIN_IMAGES)``
#: (4,000 patches, seed 0; a test recomputes it). `check_input_scale` uses it
#: for any model whose ``metadata`` has no ``train_patch_rms`` of its own; the
#: digits model's per-patch z-scored inputs have RMS 1, the same scale.
TRAIN_PATCH_RMS = 1.04
#: A patch whose RMS exceeds this many times the training median is out of
#: scale. Measured on the default model (``docs/own-images.md``): the training
#: patches reach at most 2.0 times it; held-out patches at 2.5× contrast (RMS
#: up to 3.3 times) still reconstruct, at 3× contrast the first patches run
#: away, and raw 0–255 pixels are about 170 times it.
SCALE_LIMIT = 3.0
#: Inputs whose median patch has a mean above this fraction of its RMS are not
#: centred like whitened patches (training data: median 0.05; raw grey
#: levels in [0, 1] or 0–255: close to 1). Reconstructions of such patches
#: fail (R² far below 0) even where nothing runs away.
OFFSET_LIMIT = 0.5



class InputScaleWarning(UserWarning):
    """Input patches are far from the scale of the model's training data."""


def _training_rms(params):
    """The median patch RMS of ``params``' training data (the rule: `check_input_scale`)."""
    value = None if params is None else getattr(params, "metadata", {}).get(
        "train_patch_rms")
    return TRAIN_PATCH_RMS if value is None else float(np.asarray(value))


def _times(ratio):
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def input_scale_problem(params, x, name="patches"):
    """
    What is wrong with the scale of ``x`` for the model ``params``, or None.

    The rule (the one place of it; `check_input_scale` acts on it): each
    patch's pixel RMS, ``sqrt(mean(x**2))``, is compared with the median
    patch RMS of the model's training data, ``params.metadata
    ["train_patch_rms"]`` where the model records it, else `TRAIN_PATCH_RMS`
    (that of ``natural_patches(TRAIN_IMAGES)``, the bundled models' scale).

    * out of scale: some patch's RMS is above `SCALE_LIMIT` (3) times the
      training median; such patches drive neurons to the upper clamp;
    * not centred: the median patch's mean is above `OFFSET_LIMIT` (0.5) of
      its RMS, as for raw grey levels; whitened patches have about 0.05.

    Parameters
    ----------
    params : IPVAEParams or None
        The model (None: the bundled models' training scale).
    x : ndarray, shape (n_patches, n_pixels)
        Validated patches (`check_patches`).
    name : str
        How the message names the patches.

    Returns
    -------
    str or None
        One line naming the problem and the remedy.

    Examples
    --------
    >>> from ipvae_snn.data import natural_patches
    >>> x = natural_patches(n_patches=20, seed=0)
    >>> input_scale_problem(None, x) is None
    True
    >>> print(input_scale_problem(None, 10 * x))
    patches: 20 of 20 patches have pixel RMS above 3.12 (median 10.6, about 10x the
    model's training patches, 1.04): the model would run away; whiten them with
    ipvae_snn.data.patches_from_images (ipvae-snn --images FILE) or scale them down
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if params is not None:       # the scale the network sees (a contrast normalisation's)
        x = normalize_input(params, x)[0]
    reference = _training_rms(params)
    rms = patch_contrast(x)
    limit = SCALE_LIMIT * reference
    high = int(np.count_nonzero(rms > limit))
    median = float(np.median(rms))
    means = np.abs(x.mean(axis=1))
    offset = float(np.median(np.where(rms > 0, means / np.where(rms > 0, rms, 1), 0)))
    remedy = ("whiten them with ipvae_snn.data.patches_from_images (ipvae-snn "
              "--images FILE)")
    if high:
        centred = ("" if offset <= OFFSET_LIMIT else
                   f", and they are not centred (mean {offset:.2f} of the RMS)")
        return (f"{name}: {high} of {len(x)} patches have pixel RMS above {limit:.3g} "
                f"(median {median:.3g}, about {_times(median / reference)} the model's "
                f"training patches, {reference:.3g}){centred}: the model would run "
                f"away; {remedy} or scale them down")
    if offset > OFFSET_LIMIT:
        return (f"{name}: the patches are not centred like whitened ones (median "
                f"patch mean {offset:.2f} of its RMS, training patches about 0.05): "
                f"reconstructions will fail; {remedy} or subtract each patch's mean")
    return None


def check_input_scale(params, x, strict=False, name="patches"):
    """
    Warn, or with ``strict`` refuse, before a run on patches out of scale.

    `infer`, `SpikingIPVAE.run` and the command line call it; the rule is
    `input_scale_problem`'s.

    Parameters
    ----------
    params : IPVAEParams or None
    x : ndarray, shape (n_patches, n_pixels)
        Validated patches.
    strict : bool
        Raise `~ipvae_snn.validation.InputScaleError` instead of warning.
    name : str
        How the message names the patches.

    Returns
    -------
    ndarray
        ``x`` itself.

    Warns
    -----
    InputScaleWarning
        The one-line message of `input_scale_problem`.

    Examples
    --------
    >>> import numpy as np
    >>> from ipvae_snn.data import natural_patches
    >>> x = natural_patches(n_patches=20, seed=0)
    >>> check_input_scale(None, x) is x
    True
    >>> check_input_scale(None, 255 * np.ones((2, 256)), strict=True)
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InputScaleError: patches: 2 of 2 patches have pixel RMS ...
    """
    problem = input_scale_problem(params, x, name=name)
    if problem is not None:
        if strict:
            raise InputScaleError(problem)
        warnings.warn(problem, InputScaleWarning, stacklevel=3)
    return x
