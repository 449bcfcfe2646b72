"""
Photographs as gray images: bundled names, image files and arrays.

Steps 1–2 of the training data's pipeline (`ipvae_snn.data`): grayscale in
[0, 1] (``rgb2gray`` for colour, ``/max`` for integer gray) and the
anti-aliased 2× downsampling, in one place for the bundled photographs
(`load_image`) and the user's own (`read_image`).

Examples
--------
>>> load_image("camera").shape
(256, 256)
"""

import os
from importlib import resources

import numpy as np

from .validation import InvalidTypeError, InvalidValueError, MissingFileError

__all__ = ["available_images", "load_image", "read_image"]

# name -> (package, file). Only photographs that ship inside the wheels;
# scikit-image's pooch-fetched images are left out on purpose.
_IMAGES = {
    "camera": ("skimage", "camera.png"),
    "astronaut": ("skimage", "astronaut.png"),
    "coffee": ("skimage", "coffee.png"),
    "rocket": ("skimage", "rocket.jpg"),
    "grass": ("skimage", "grass.png"),
    "brick": ("skimage", "brick.png"),
    "moon": ("skimage", "moon.png"),
    "coins": ("skimage", "coins.png"),
    "chelsea": ("skimage", "chelsea.png"),
    "gravel": ("skimage", "gravel.png"),
    "hubble_deep_field": ("skimage", "hubble_deep_field.jpg"),
    "motorcycle_left": ("skimage", "motorcycle_left.png"),
    "motorcycle_right": ("skimage", "motorcycle_right.png"),
    "china": ("sklearn", "china.jpg"),
    "flower": ("sklearn", "flower.jpg"),
}



def available_images():
    """
    Names of the bundled photographs `load_image` and `natural_patches` accept.

    Examples
    --------
    >>> available_images()[:4]
    ['astronaut', 'brick', 'camera', 'chelsea']
    """
    return sorted(_IMAGES)


def _image_path(name):
    if not isinstance(name, str) or name not in _IMAGES:
        raise InvalidValueError(f"image {name!r} is not available; choose from "
                         f"{', '.join(available_images())}")
    package, filename = _IMAGES[name]
    if package == "skimage":
        path = resources.files("skimage") / "data" / filename
    else:
        path = resources.files("sklearn.datasets") / "images" / filename
    path = str(path)
    if not os.path.exists(path):
        raise MissingFileError(
            f"image {name!r}: file '{path}' is missing from the installed "
            f"{'scikit-image' if package == 'skimage' else 'scikit-learn'}")
    return path


def load_image(name, downsample=True):
    """
    A bundled photograph as a grayscale float64 image in [0, 1].

    Parameters
    ----------
    name : str
        One of `available_images`.
    downsample : bool
        Apply the anti-aliased 2× downsampling of the training data
        (``skimage.transform.rescale(image, 0.5, anti_aliasing=True)``).

    Returns
    -------
    ndarray of float64, shape (height, width)
    """
    from skimage import io
    return _grey(io.imread(_image_path(name)), repr(name), downsample)


def _grey(img, what, downsample=True):
    """
    Steps 1–2 of the pipeline: grayscale in [0, 1] (``rgb2gray`` for colour,
    ``/max`` for integer gray), then the 2× downsampling. The one place of
    this rule for bundled and user images.
    """
    from skimage import color, transform

    img = np.asarray(img)
    if img.dtype.kind not in "fiub" or img.ndim not in (2, 3) or (
            img.ndim == 3 and img.shape[-1] not in (3, 4)):
        raise InvalidValueError(f"image {what}: expected a gray (height, width) or "
                                f"colour (height, width, 3 or 4) image of numbers, got "
                                f"shape {img.shape} of {img.dtype}")
    if img.dtype == bool:
        img = img.astype(np.float64)
    if not np.isfinite(img).all():
        raise InvalidValueError(f"image {what}: has NaN or infinite pixels")
    if img.ndim == 3:
        if img.shape[-1] == 4:
            img = color.rgba2rgb(img)
        img = color.rgb2gray(img)
    elif np.issubdtype(img.dtype, np.integer):
        img = img / float(np.iinfo(img.dtype).max)
    img = np.asarray(img, dtype=np.float64)
    if downsample:
        img = transform.rescale(img, 0.5, anti_aliasing=True)
    return img


def read_image(item, index=0, downsample=True):
    """
    One image of `ipvae_snn.data.patches_from_images` as a gray image.

    Parameters
    ----------
    item : str, os.PathLike or ndarray
        A bundled image's name (`available_images`), an image file (anything
        ``skimage.io.imread`` reads) or an array (gray or colour).
    index : int
        Its position among the images, for messages about arrays.
    downsample : bool
        Apply the 2× downsampling of the training data.

    Returns
    -------
    image : ndarray of float64, shape (height, width)
    what : str
        How messages name it (``file 'photo.png'``).

    Raises
    ------
    MissingFileError, InvalidValueError, InvalidTypeError
        A missing or unreadable file, an array that is not an image, another
        type.

    Examples
    --------
    >>> import numpy as np
    >>> image, what = read_image(np.full((10, 12, 3), 255, np.uint8), downsample=False)
    >>> image.shape, float(image.max()), what
    ((10, 12), 1.0, 'images[0] (an array)')
    >>> read_image("no-such-photo.png")
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.MissingFileError: image file 'no-such-photo.png' does not exist
    """
    if isinstance(item, np.ndarray):
        what = f"images[{index}] (an array)"
        return _grey(item, what, downsample), what
    if isinstance(item, str) and item in _IMAGES:
        return load_image(item, downsample), repr(item)
    if not isinstance(item, (str, os.PathLike)):
        raise InvalidTypeError(f"images[{index}]: expected an image file, a bundled "
                               f"image name or an array, got {type(item).__name__}")
    path = os.fspath(item)
    what = f"file '{path}'"
    if not os.path.exists(path):
        if os.path.splitext(path)[1] or os.sep in path:
            raise MissingFileError(f"image file '{path}' does not exist")
        raise MissingFileError(f"image {path!r} is not available: no bundled image of "
                               f"that name ({', '.join(available_images())}) and no "
                               f"such file")
    if os.path.isdir(path):
        raise InvalidValueError(f"image file '{path}' is a folder; name image files")
    from skimage import io
    try:
        img = io.imread(path)
    except Exception as exc:          # every reader's own error: not an image
        reason = str(exc).strip().splitlines()
        raise InvalidValueError(f"image file '{path}' cannot be read as an image "
                                f"(PNG, JPEG, TIFF, ...): "
                                f"{reason[0] if reason else type(exc).__name__}") from None
    return _grey(img, what, downsample), what
