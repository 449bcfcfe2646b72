"""
Input data: validation of user arrays (more to come: bundled natural-image
patches and digits).
"""

import numpy as np

__all__ = ["check_patches"]


def check_patches(x, n_pixels, name="patches", allow_single=True):
    """
    Validate input patches and return them as a float64 array (n, n_pixels).

    Accepts (n, n_pixels), (n, h, w) with ``h * w == n_pixels`` and, when
    ``allow_single``, one patch (n_pixels,) or (h, w).

    Raises
    ------
    ValueError
        Naming ``name`` and the problem: not numeric, empty, wrong size,
        NaN/inf.
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if allow_single and (arr.ndim == 1 or (arr.ndim == 2 and arr.size == n_pixels
                                           and arr.shape[-1] != n_pixels)):
        arr = arr.reshape(1, -1)
    if arr.ndim == 3:
        arr = arr.reshape(arr.shape[0], -1)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected shape (n_patches, {n_pixels}), got "
                         f"{arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: no patches (shape {arr.shape})")
    if arr.shape[1] != n_pixels:
        side = int(round(np.sqrt(n_pixels)))
        hint = f" ({side}x{side})" if side * side == n_pixels else ""
        raise ValueError(f"{name}: each patch must have {n_pixels} pixels{hint} "
                         f"to match the model, got shape {np.asarray(x).shape}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ValueError(f"{name}: {int(bad.sum())} non-finite value(s) (NaN or "
                         f"inf) in patch(es) {rows[:10].tolist()}"
                         + (" ..." if rows.size > 10 else ""))
    return arr
