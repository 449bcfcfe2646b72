"""
Input data: whitened natural-image patches, digits and user arrays.

The bundled model was trained on 16×16 patches of natural images prepared
like the paper's ``vH16-wht`` data set (``shared/reference/README.md``, "Data
and preprocessing"). `natural_patches` re-implements that preprocessing with
numpy/scipy, on photographs that ship *as files* with scikit-image and
scikit-learn (nothing is downloaded):

1. grayscale in [0, 1] (``rgb2gray`` for colour, ``/255`` for 8-bit gray),
2. anti-aliased 2× downsampling (``skimage.transform.rescale(0.5)``),
3. random 64×64 frames,
4. the official "whitening" filter ``f·exp(-(f/0.5)^4)`` multiplied onto the
   *unshifted* 2-D FFT with the official frequency grid
   ``linspace(-0.5, 0.5, N)`` — kept as the official code has it. In true
   frequency it is still a rising ramp (DC kept at about 5 % of the peak
   gain, a broad peak near 0.4 cycles/pixel), but anisotropic and cut off
   only towards the corners of the spectrum, unlike the radially symmetric
   classical filter; the model was trained on data filtered this way,
5. local contrast normalisation (Jarrett et al. 2009): 13×13 Gaussian
   ``exp(-r²/0.5)`` on a ``[-1, 1]²`` grid, zero padding, subtractive then
   divisive step, the divisor floored at its frame mean,
6. per-frame z-score (unbiased std), 4-pixel border crop (56×56),
7. random 16×16 patches,
8. the global shift/rescale ``(x - SHIFT_MU) / SHIFT_SD`` of the training
   patch file, so new patches are on the model's input scale.

`patches_from_images` runs the same pipeline on the user's own photographs
(image files or arrays). `check_input_scale` compares input patches with the
scale of the model's training data before a run, and warns (or refuses) where
the patches are far outside it, as raw 0–255 pixels are.

`digit_patches` prepares scikit-learn's 8×8 digits as 16×16 inputs and
`load_patches` reads and validates user ``.npy``/``.npz`` files.

Examples
--------
>>> from ipvae_snn.data import natural_patches, HELD_OUT_IMAGES
>>> x = natural_patches(HELD_OUT_IMAGES, n_patches=4, seed=0)
>>> x.shape
(4, 256)
>>> bool(abs(x.std() - 1) < 0.5)          # on the model's input scale
True
"""

import os

import numpy as np

from ._memory import check_memory
from .defaults import MAX_ABS_VALUE, PATCH_SIZE
from .io import load_array_file
from .images import _image_path, available_images, load_image, read_image
from .scale import (OFFSET_LIMIT, SCALE_LIMIT, TRAIN_PATCH_RMS, InputScaleWarning,
                    check_input_scale, input_scale_problem)
from .validation import InvalidTypeError, InvalidValueError, check_int

__all__ = ["check_patches", "load_patches", "available_images", "load_image",
           "natural_patches", "patches_from_images", "check_input_scale",
           "input_scale_problem", "InputScaleWarning", "TRAIN_PATCH_RMS",
           "SCALE_LIMIT", "OFFSET_LIMIT", "dihedral_augment", "digit_patches", "digit_split",
           "DIGITS_TEST_SIZE",
           "DIGITS_SPLIT_SEED", "preprocess_frames",
           "whitening_filter", "contrast_normalize", "TRAIN_IMAGES",
           "HELD_OUT_IMAGES", "SHIFT_MU", "SHIFT_SD", "FRAME_SIZE"]

#: The documented train/test split of scikit-learn's digits (`digit_split`):
#: a stratified 80/20 split by `sklearn.model_selection.train_test_split`
#: with this seed. The bundled digits model saw only the training part.
DIGITS_TEST_SIZE = 0.2
DIGITS_SPLIT_SEED = 0

#: Global mean and std of the model's training patch file (before the final
#: shift/rescale), as stored with the reference patches (``shift_mu``,
#: ``shift_sd`` of ``patches_shared.npz``).
SHIFT_MU = -0.07741324603557587
SHIFT_SD = 0.8887775540351868

#: Images the bundled model was trained on.
TRAIN_IMAGES = ("camera", "astronaut", "coffee", "rocket", "grass", "brick",
                "moon", "coins")
#: Held-out images of the reference ``shared`` split (the default input).
HELD_OUT_IMAGES = ("chelsea", "gravel")

FRAME_SIZE = 64
_CROP = 4


def check_patches(x, n_pixels, name="patches", allow_single=True):
    """
    Validate input patches and return them as a float64 array (n, n_pixels).

    Accepts (n, n_pixels), (n, side, side) with ``side * side == n_pixels``
    and, when ``allow_single``, one patch (n_pixels,) or (side, side). Other
    3-D shapes with as many pixels, such as (n, 8, 32) for 256, are refused:
    flattening them would scramble the patches.
    Values must be finite and within ±`~ipvae_snn.defaults.MAX_ABS_VALUE`
    (1e6): the model works on whitened patches of unit scale, and larger
    values overflow its arithmetic.

    Raises
    ------
    InvalidValueError
        (a `ValueError`) Naming ``name`` and the problem: not numeric, empty,
        wrong size, NaN/inf, values too large.

    Examples
    --------
    >>> import numpy as np
    >>> check_patches(np.zeros((2, 4, 4)), 16).shape
    (2, 16)
    >>> check_patches(np.zeros((4, 4)), 16).shape           # one square patch
    (1, 16)
    >>> check_patches(np.zeros((2, 15)), 16)
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: patches: each patch must have 16 pixels
    (4x4) to match the model, got shape (2, 15)
    >>> check_patches(np.zeros((2, 2, 8)), 16)             # 16 pixels, not 4x4
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: patches: expected shape (n_patches, 16) or ...
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:      # ragged nested lists, objects numpy cannot take
        raise InvalidValueError(f"{name}: not an array of numbers ({exc})") from None
    if arr.dtype.kind not in "fiub":
        raise InvalidValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    shape = arr.shape
    side = int(round(np.sqrt(n_pixels)))
    square = side * side == n_pixels
    expected = (f"(n_patches, {n_pixels})" + (f" or (n_patches, {side}, {side})"
                                               if square else ""))
    if allow_single and (arr.ndim == 1 or (square and shape == (side, side))):
        arr = arr.reshape(1, -1)
    if arr.ndim == 3:
        # images of patches must be square and of the model's side: (n, 8, 32)
        # has 256 pixels too, but flattening it would scramble the patches
        if shape[1] * shape[2] == n_pixels and not (square and shape[1:] == (side, side)):
            raise InvalidValueError(f"{name}: expected shape {expected}, got {shape}"
                                    + ("" if square else "; models of non-square "
                                       "patches take flat (n_patches, pixels) arrays"))
        arr = arr.reshape(arr.shape[0], arr.shape[1] * arr.shape[2])
    if arr.ndim != 2:
        raise InvalidValueError(f"{name}: expected shape {expected}, got {shape}")
    if arr.shape[0] == 0:
        raise InvalidValueError(f"{name}: no patches (shape {shape})")
    if arr.shape[1] != n_pixels:
        hint = f" ({side}x{side})" if square else ""
        raise InvalidValueError(f"{name}: each patch must have {n_pixels} pixels{hint} "
                                f"to match the model, got shape {shape}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise InvalidValueError(f"{name}: {int(bad.sum())} non-finite value(s) (NaN or "
                                f"inf) in patch(es) {rows[:10].tolist()}"
                                + (" ..." if rows.size > 10 else ""))
    big = np.abs(arr) > MAX_ABS_VALUE
    if big.any():
        rows = np.flatnonzero(big.any(axis=1))
        raise InvalidValueError(
            f"{name}: {int(big.sum())} value(s) beyond ±{MAX_ABS_VALUE:g} (largest "
            f"{np.abs(arr).max():.3g}) in patch(es) {rows[:10].tolist()}"
            + (" ..." if rows.size > 10 else "")
            + "; the model expects whitened patches of unit scale (z-score them)")
    return arr


def load_patches(path, n_pixels=PATCH_SIZE * PATCH_SIZE):
    """
    Load and validate patches from a ``.npy`` or ``.npz`` file.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` file, or a ``.npz`` holding its array under ``patches`` or
        under any single key. Shapes (n, n_pixels), (n, h, w) and a single
        patch are accepted (see `check_patches`).
    n_pixels : int
        Pixels per patch the model expects (256 for the bundled model).

    Returns
    -------
    ndarray of float64, shape (n_patches, n_pixels)

    Raises
    ------
    MissingFileError, MissingKeyError, InvalidValueError
        (`FileNotFoundError`, `KeyError`, `ValueError`) Naming the file and
        the problem (missing, several keys, not numeric, wrong patch size,
        NaN/inf).

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "mine.npz")
    >>> np.savez(path, patches=np.zeros((3, 16, 16)))
    >>> load_patches(path).shape
    (3, 256)
    >>> load_patches("missing.npy")
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.MissingFileError: patches file 'missing.npy' does not exist
    """
    arr = load_array_file(path, default_key="patches", what="patches")
    return check_patches(arr, n_pixels, name=f"patches file '{os.fspath(path)}'")


# ------------------------------------------------------------ preprocessing
def whitening_filter(shape, f0=0.5, n=4):
    """
    The official frequency filter ``f·exp(-(f/f0)^n)``, shape ``shape``.

    ``f = sqrt(fx² + fy²)`` on the official grid ``fx = linspace(-0.5, 0.5,
    height)`` (rows), ``fy = linspace(-0.5, 0.5, width)`` (columns). It is
    multiplied onto the *unshifted* FFT (DC at index 0), as the official code
    does; the model was trained on data filtered this way.
    """
    height, width = shape
    fx = np.linspace(-0.5, 0.5, height)[:, None]
    fy = np.linspace(-0.5, 0.5, width)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    return f * np.exp(-(f / f0) ** n)


def _gaussian_blur(img, kernel_1d):
    from scipy.ndimage import correlate1d

    # The 2-D Gaussian is separable, and zero padding commutes with the two
    # passes, so this equals the official zero-padded 13×13 convolution.
    out = correlate1d(img, kernel_1d, axis=-1, mode="constant", cval=0.0)
    return correlate1d(out, kernel_1d, axis=-2, mode="constant", cval=0.0)


def contrast_normalize(frames, kernel_size=13, sigma=0.5):
    """
    Local contrast normalisation as in the official code (Jarrett et al. 2009).

    Kernel ``exp(-r²/sigma)`` on a ``linspace(-1, 1, kernel_size)`` grid,
    normalised to sum 1; zero padding. Subtract the local mean, then divide
    by the local std floored at its mean over the frame.

    Parameters
    ----------
    frames : ndarray, shape (..., height, width)
    """
    if kernel_size % 2 == 0:
        raise InvalidValueError(f"kernel_size must be odd, got {kernel_size}")
    grid = np.linspace(-1.0, 1.0, kernel_size)
    k = np.exp(-grid ** 2 / sigma)
    k /= k.sum()
    sub = frames - _gaussian_blur(frames, k)
    local_sd = np.sqrt(np.maximum(_gaussian_blur(sub ** 2, k), 0.0))
    floor = local_sd.mean(axis=(-2, -1), keepdims=True)
    local_sd = np.maximum(local_sd, floor)
    # An all-zero frame has nothing to normalise; keep it zero, not NaN.
    return sub / np.where(local_sd > 0, local_sd, 1.0)


def preprocess_frames(frames, crop=_CROP):
    """
    The official per-frame pipeline: filter, contrast normalisation, z-score,
    border crop.

    Parameters
    ----------
    frames : array_like, shape (..., height, width)
        Grayscale frames (64×64 for the bundled model's data).
    crop : int
        Pixels removed at each border after normalisation.

    Returns
    -------
    ndarray of float64, shape (..., height - 2 crop, width - 2 crop)
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim < 2 or min(frames.shape[-2:]) <= 2 * crop:
        raise InvalidValueError(f"frames: expected shape (..., height, width) larger "
                         f"than 2*crop={2 * crop}, got {frames.shape}")
    filt = whitening_filter(frames.shape[-2:])
    filtered = np.fft.ifft2(np.fft.fft2(frames) * filt).real
    normed = contrast_normalize(filtered)
    mean = normed.mean(axis=(-2, -1), keepdims=True)
    sd = normed.std(axis=(-2, -1), ddof=1, keepdims=True)
    normed = (normed - mean) / np.where(sd > 0, sd, 1.0)
    if crop:
        normed = normed[..., crop:-crop, crop:-crop]
    return normed


def _image_patches(img, n, rng, patches_per_frame, patch_size):
    height, width = img.shape
    n_frames = -(-n // patches_per_frame)
    top = rng.integers(0, height - FRAME_SIZE + 1, size=n_frames)
    left = rng.integers(0, width - FRAME_SIZE + 1, size=n_frames)
    span = np.arange(FRAME_SIZE)
    frames = img[(top[:, None] + span)[:, :, None], (left[:, None] + span)[:, None, :]]
    processed = preprocess_frames(frames)
    side = processed.shape[-1]
    frame = np.repeat(np.arange(n_frames), patches_per_frame)[:n]
    # The official patch cutter draws offsets in [0, side - patch_size), one
    # short of the last position; kept for identical statistics.
    rows = rng.integers(0, side - patch_size, size=n)
    cols = rng.integers(0, side - patch_size, size=n)
    span = np.arange(patch_size)
    patches = processed[frame[:, None, None], (rows[:, None] + span)[:, :, None],
                        (cols[:, None] + span)[:, None, :]]
    return patches.reshape(n, -1)


def natural_patches(images=HELD_OUT_IMAGES, n_patches=1000, seed=None,
                    patches_per_frame=16, patch_size=PATCH_SIZE,
                    return_source=False):
    """
    Whitened natural-image patches prepared like the bundled model's data.

    Parameters
    ----------
    images : str or sequence of str
        Names from `available_images`. Default: the held-out images
        (chelsea, gravel) the model never saw; `TRAIN_IMAGES` are the ones
        it was trained on. For your own photographs use `patches_from_images`.
    n_patches : int
        Total number of patches, split evenly over ``images`` (the first
        images get one more when it does not divide).
    seed : int, numpy.random.Generator or None
        Seeds frame and patch positions.
    patches_per_frame : int
        Patches cut from each random 64×64 frame.
    patch_size : int
        Side of the square patches (16 for the bundled model).
    return_source : bool
        Also return the index into ``images`` of each patch's image.

    Returns
    -------
    patches : ndarray of float64, shape (n_patches, patch_size**2)
        Row-major flattened patches on the model's input scale.
    source : ndarray of int, shape (n_patches,)
        Only with ``return_source``.

    See Also
    --------
    preprocess_frames : the per-frame pipeline (module docstring lists the steps).
    patches_from_images : the same pipeline on image files and arrays.

    Examples
    --------
    >>> x, source = natural_patches(("camera", "moon"), n_patches=5, seed=0,
    ...                             return_source=True)
    >>> x.shape, source.tolist()
    ((5, 256), [0, 0, 0, 1, 1])
    """
    if isinstance(images, str):
        images = (images,)
    images = tuple(images)
    for name in images:
        _image_path(name)                       # bundled names only, checked early
    return patches_from_images(images, n_patches=n_patches, seed=seed,
                               patches_per_frame=patches_per_frame,
                               patch_size=patch_size, return_source=return_source)


def patches_from_images(images, n_patches=1000, seed=None, patches_per_frame=16,
                        patch_size=PATCH_SIZE, return_source=False):
    """
    Whitened patches of your own photographs, prepared like the training data.

    Every image goes through the pipeline of the bundled model's training
    data (module docstring: grayscale, 2× downsampling, random 64×64 frames,
    whitening, contrast normalisation, z-score, crop, random patches, the
    global shift/rescale), so the patches are on the model's input scale
    whatever the brightness and contrast of the photograph. `natural_patches`
    is this function on bundled images.

    Parameters
    ----------
    images : str, path, ndarray or a sequence of them
        Image files (PNG, JPEG, TIFF and whatever else
        ``skimage.io.imread`` reads; colour is converted to gray), names of
        bundled images (`available_images`), or arrays: gray (height, width)
        or colour (height, width, 3 or 4), integer (scaled by the dtype's
        maximum) or float (colour in [0, 1]). One array is one image. Each
        image must be at least 128×128 pixels (one 64×64 frame after the 2×
        downsampling).
    n_patches, seed, patches_per_frame, patch_size, return_source
        As in `natural_patches`: ``n_patches`` in total, split evenly over
        the images.

    Returns
    -------
    patches : ndarray of float64, shape (n_patches, patch_size**2)
    source : ndarray of int, shape (n_patches,)
        Only with ``return_source``: the index into ``images`` of each patch.

    Raises
    ------
    MissingFileError, InvalidValueError, InvalidTypeError
        In one line naming the image: a missing or unreadable file, an array
        that is not an image, an image smaller than one frame.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from skimage import io
    >>> photo = os.path.join(tempfile.mkdtemp(), "photo.png")
    >>> io.imsave(photo, (np.random.default_rng(0).random((200, 300)) * 255
    ...                   ).astype(np.uint8))
    >>> x = patches_from_images(photo, n_patches=8, seed=0)
    >>> x.shape, check_input_scale(None, x) is x
    ((8, 256), True)
    >>> patches_from_images(np.zeros((100, 100)), n_patches=8)
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: image images[0] (an array) is 50x50 ...
    """
    if isinstance(images, (str, os.PathLike, np.ndarray)):
        images = [images]
    try:
        images = list(images)
    except TypeError:
        raise InvalidTypeError(f"images: expected image files, bundled image names or "
                               f"arrays, got {type(images).__name__}") from None
    if not images:
        raise InvalidValueError("images: give at least one image")
    n_patches = check_int(n_patches, "n_patches")
    patches_per_frame = check_int(patches_per_frame, "patches_per_frame")
    patch_size = check_int(patch_size, "patch_size")
    if patch_size >= FRAME_SIZE - 2 * _CROP:
        raise InvalidValueError(f"patch_size must be smaller than "
                         f"{FRAME_SIZE - 2 * _CROP}, got {patch_size}")
    n_frames = -(-n_patches // patches_per_frame)
    check_memory(8 * (3 * n_patches * patch_size ** 2 + 8 * n_frames * FRAME_SIZE ** 2),
                 f"n_patches={n_patches}", "cut fewer patches at a time")
    grey = []
    for i, item in enumerate(images):
        img, what = read_image(item, i, downsample=True)
        if min(img.shape) < FRAME_SIZE:
            height, width = img.shape
            raise InvalidValueError(
                f"image {what} is {height}x{width} after the 2x downsampling of the "
                f"training data, smaller than one {FRAME_SIZE}x{FRAME_SIZE} frame; "
                f"give images of at least {2 * FRAME_SIZE}x{2 * FRAME_SIZE} pixels")
        grey.append(img)
    rng = np.random.default_rng(seed)
    per_image = [n_patches // len(grey) + (i < n_patches % len(grey))
                 for i in range(len(grey))]
    parts, source = [], []
    for i, (img, n) in enumerate(zip(grey, per_image)):
        if n == 0:
            continue
        parts.append(_image_patches(img, n, rng, patches_per_frame, patch_size))
        source.append(np.full(n, i, dtype=np.int64))
    patches = (np.concatenate(parts) - SHIFT_MU) / SHIFT_SD
    if return_source:
        return patches, np.concatenate(source)
    return patches


def digit_patches(n_patches=None, seed=None, size=PATCH_SIZE):
    """
    scikit-learn's handwritten digits as inputs for the natural-image model.

    The 8×8 images (values 0..16) are upsampled to ``size``×``size`` with
    bilinear interpolation and each image is z-scored (zero mean, unit std
    over its pixels). That puts them on the scale of the model's training
    patches (per-pixel std ≈ 1) without the natural-image filtering, which
    needs larger frames than a digit; they are out-of-distribution inputs.
    Much higher contrast (twice this scale) drives some neurons of the
    bundled model to the upper clamp (`RunawayWarning`).

    Parameters
    ----------
    n_patches : int, optional
        A random subset of this many digits (default: all 1,797 in order).
    seed : int, numpy.random.Generator or None
        Seeds the subset.
    size : int
        Output side length.

    Returns
    -------
    patches : ndarray of float64, shape (n, size**2)
    labels : ndarray of int, shape (n,)

    Examples
    --------
    >>> x, labels = digit_patches(n_patches=3, seed=0)
    >>> x.shape, labels.shape
    ((3, 256), (3,))
    """
    from skimage.transform import resize
    from sklearn.datasets import load_digits

    size = check_int(size, "size")
    digits = load_digits()
    images, labels = digits.images, digits.target
    if n_patches is not None:
        n_patches = check_int(n_patches, "n_patches")
        if n_patches > len(images):
            raise InvalidValueError(f"n_patches must be <= {len(images)} (the number of "
                             f"digits), got {n_patches}")
        pick = np.sort(np.random.default_rng(seed).choice(len(images), n_patches,
                                                           replace=False))
        images, labels = images[pick], labels[pick]
    up = resize(images / 16.0, (len(images), size, size), order=1,
                anti_aliasing=False, mode="edge")
    flat = up.reshape(len(images), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    sd = flat.std(axis=1, keepdims=True)
    return flat / np.where(sd > 0, sd, 1.0), labels.astype(np.int64)


def digit_split(size=PATCH_SIZE):
    """
    scikit-learn's digits cut into the documented train and test splits.

    The 1,797 digits of `digit_patches` are split 80/20, stratified by class,
    by `sklearn.model_selection.train_test_split` with ``random_state =
    DIGITS_SPLIT_SEED`` (0): 1,437 training and 360 test digits. The bundled
    digits model (``ipvae_snn.load_model("digits")``) was trained on the
    training split only; its benchmark scores the test split.

    Returns
    -------
    x_train, x_test : ndarray of float64, shape (n, size**2)
    y_train, y_test : ndarray of int

    Examples
    --------
    >>> x_train, x_test, y_train, y_test = digit_split()
    >>> x_train.shape, x_test.shape
    ((1437, 256), (360, 256))
    """
    from sklearn.model_selection import train_test_split
    x, y = digit_patches(size=size)
    return train_test_split(x, y, test_size=DIGITS_TEST_SIZE, stratify=y,
                            random_state=DIGITS_SPLIT_SEED)


def dihedral_augment(patches, seed=None):
    """
    Each square patch turned by a random multiple of 90° and mirrored with
    probability 1/2 (the eight symmetries of the square), as training data.

    The whitening filter of `natural_patches` is symmetric under these
    transforms, so the augmented patches have the statistics of whitened
    photographs; the bundled default model was trained on them (eight
    training photographs are few, and their edges favour some orientations).

    Parameters
    ----------
    patches : array_like, shape (n, side**2)
    seed : int, numpy.random.Generator or None

    Returns
    -------
    ndarray of float64, shape (n, side**2)
        A new array; ``patches`` is not modified.

    Examples
    --------
    >>> x = np.arange(4.0).reshape(1, 4)
    >>> dihedral_augment(x, seed=0).shape
    (1, 4)
    >>> sorted(dihedral_augment(x, seed=0)[0]) == sorted(x[0])
    True
    """
    shape = np.shape(patches)
    if len(shape) != 2:
        raise InvalidValueError(f"patches: expected shape (n, pixels), got {shape}")
    x = check_patches(patches, shape[1], name="patches", allow_single=False)
    side = int(round(np.sqrt(x.shape[1])))
    if side * side != x.shape[1]:
        raise InvalidValueError(f"patches must be square to be turned: {x.shape[1]} "
                                f"pixels is not a square number")
    rng = np.random.default_rng(seed)
    turns = rng.integers(0, 4, len(x))
    mirror = rng.integers(0, 2, len(x)).astype(bool)
    img = x.reshape(-1, side, side)
    out = np.empty_like(img)
    for k in range(4):
        for flip in (False, True):
            pick = (turns == k) & (mirror == flip)
            turned = np.rot90(img[pick], k, axes=(1, 2))
            out[pick] = turned[:, :, ::-1] if flip else turned
    return out.reshape(len(x), -1)
