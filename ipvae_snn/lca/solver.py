"""
The non-spiking LCA and the sparse-coding problem it solves.

The locally competitive algorithm (LCA; Rozell, Johnson, Baraniuk & Olshausen,
*Sparse coding via thresholding and local competition in neural circuits*,
Neural Computation 20, 2008) finds non-negative codes ``a`` of a patch ``x``
on a dictionary ``Φ`` (columns = atoms) minimising::

    E(a) = ½‖x − Φa‖² + λ‖a‖₁,   a ≥ 0

with one leaky state ``u_i`` per neuron::

    τ u̇ = Φᵀx − u − (ΦᵀΦ − D) a,    a = max(u − λ, 0) / D

(``D`` the diagonal of ``ΦᵀΦ``: Rozell's unit-norm atoms have ``D = I``; the
division keeps the fixed point the optimum for atoms of any norm). At its
fixed point ``Φᵢᵀ(x − Φa) = λ`` where ``aᵢ > 0`` and ``≤ λ`` where ``aᵢ = 0``:
the optimality condition of the non-negative Lasso, which scikit-learn solves
by coordinate descent (`lasso_codes`; its ``alpha`` is this λ). `lca_codes`
integrates the dynamics in numpy: the reference of the spiking LCA
(`ipvae_snn.lca.SpikingLCA`) and a cross-check of scikit-learn.
"""

import warnings

import numpy as np

from ..metrics import r2_score
from ..ratedistortion import distance
from ..validation import InvalidValueError, check_int, check_number

__all__ = ["lca_codes", "lasso_codes", "lasso_objective", "code_points",
           "check_dictionary", "check_patches"]


def check_dictionary(phi):
    """
    ``phi`` as a float64 array of shape (n_pixels, n_atoms) without empty atoms.

    Raises
    ------
    InvalidValueError
        Naming the problem (shape, non-finite values, an all-zero atom).

    Examples
    --------
    >>> check_dictionary(np.eye(3, 2)).shape
    (3, 2)
    >>> check_dictionary(np.zeros((3, 2)))
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: dictionary: atom 0 is all zeros
    """
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim != 2 or 0 in phi.shape:
        raise InvalidValueError(f"dictionary: expected shape (n_pixels, n_atoms), got "
                                f"{phi.shape}")
    if not np.isfinite(phi).all():
        raise InvalidValueError("dictionary: contains NaN or infinite values")
    empty = np.flatnonzero(~np.any(phi != 0, axis=0))
    if empty.size:
        raise InvalidValueError(f"dictionary: atom {empty[0]} is all zeros")
    return phi


def check_patches(x, n_pixels):
    """
    ``x`` as a float64 array of shape (n_patches, n_pixels).

    Examples
    --------
    >>> check_patches(np.ones((2, 3)), 3).shape
    (2, 3)
    >>> check_patches(np.ones((2, 4)), 3)
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: patches: expected shape (n_patches, 3), got (2, 4)
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != n_pixels or x.shape[0] == 0:
        raise InvalidValueError(f"patches: expected shape (n_patches, {n_pixels}), got "
                                f"{x.shape}")
    if not np.isfinite(x).all():
        raise InvalidValueError("patches: contain NaN or infinite values")
    return x


def lasso_objective(phi, x, codes, lam):
    """
    ``½‖x − Φa‖² + λ‖a‖₁`` per patch.

    Examples
    --------
    >>> lasso_objective(np.eye(2), np.array([[1.0, 0.0]]), np.array([[0.5, 0.0]]), 0.5)
    array([0.375])
    """
    phi, x, codes = (np.asarray(a, dtype=np.float64) for a in (phi, x, codes))
    resid = x - codes @ phi.T
    return 0.5 * np.einsum("np,np->n", resid, resid) + lam * np.abs(codes).sum(axis=1)


def _step_size(gram, diag):
    """A stable Euler step (in units of τ) for the LCA: 1 / the largest rate."""
    # the active set's Jacobian is −G D⁻¹ (similar to the symmetric
    # D^-½ G D^-½), whose largest eigenvalue bounds the stable step
    scaled = gram / np.sqrt(np.outer(diag, diag))
    # power iteration (a full eigendecomposition costs seconds at K = 512);
    # from a positive start it approaches the top eigenvalue from below, so
    # the step keeps a 10 % margin
    v = np.ones(len(diag)) / np.sqrt(len(diag))
    top = 1.0
    for _ in range(100):
        w = scaled @ v
        top = float(np.linalg.norm(w))
        v = w / top
    return float(min(1.0, 1.0 / (1.1 * top)))


def lca_codes(phi, x, lam, max_steps=20000, tol=1e-7, return_steps=False):
    """
    Non-negative LCA codes of patches at their fixed point.

    Integrates ``τ u̇ = Φᵀx − u − (ΦᵀΦ − D)a`` with ``a = max(u − λ, 0)/D``
    by Euler steps of a stable size (the largest rate of the linearised
    dynamics), all patches at once, from ``u = 0`` until the largest change
    of a state in a step falls below ``tol`` (times the largest drive).

    Parameters
    ----------
    phi : array_like, shape (n_pixels, n_atoms)
    x : array_like, shape (n_patches, n_pixels)
    lam : float
        The threshold λ (> 0).
    max_steps : int
    tol : float
    return_steps : bool
        Also return the number of steps taken.

    Returns
    -------
    codes : ndarray, shape (n_patches, n_atoms)

    Examples
    --------
    Orthonormal atoms: the codes are the soft-thresholded projections.

    >>> lca_codes(np.eye(2), np.array([[1.0, -1.0]]), 0.25).round(6).tolist()
    [[0.75, 0.0]]
    """
    phi = check_dictionary(phi)
    x = check_patches(x, phi.shape[0])
    lam = check_number(lam, "lam", low=0, low_open=True)
    max_steps = check_int(max_steps, "max_steps", minimum=1)
    gram = phi.T @ phi
    diag = np.diag(gram).copy()
    off = gram - np.diag(diag)
    eta = _step_size(gram, diag)
    drive = x @ phi
    u = np.zeros_like(drive)
    a = np.zeros_like(drive)
    scale = max(1.0, float(np.abs(drive).max()))
    steps = 0
    while steps < max_steps:
        steps += 1
        du = eta * (drive - u - a @ off)
        u += du
        a = np.maximum(u - lam, 0.0) / diag
        if np.abs(du).max() <= tol * scale:
            break
    return (a, steps) if return_steps else a


def lasso_codes(phi, x, lam, max_iter=5000):
    """
    scikit-learn's non-negative Lasso codes (`~sklearn.decomposition.SparseCoder`,
    coordinate descent) of ``½‖x − Φa‖² + λ‖a‖₁``.

    Examples
    --------
    >>> lasso_codes(np.eye(2), np.array([[1.0, -1.0]]), 0.25).round(6).tolist()
    [[0.75, 0.0]]
    """
    from sklearn.decomposition import SparseCoder
    phi = check_dictionary(phi)
    x = check_patches(x, phi.shape[0])
    lam = check_number(lam, "lam", low=0, low_open=True)
    coder = SparseCoder(phi.T, transform_algorithm="lasso_cd", transform_alpha=lam,
                        positive_code=True, transform_max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # convergence chatter
        codes = coder.transform(x)
    return codes


def code_points(phi, x, codes, zero_codes=None):
    """
    Mean R², zero fraction and rate–distortion distance of codes.

    Parameters
    ----------
    phi : array_like, shape (n_pixels, n_atoms)
    x : array_like, shape (n_patches, n_pixels)
    codes : array_like, shape (n_patches, n_atoms)
        The reconstruction is ``codes @ Φᵀ``.
    zero_codes : array_like, optional
        Whose zeros count (default ``codes``; the spiking networks count the
        zeros of their spike counts).

    Returns
    -------
    dict
        ``r2`` (mean), ``r2_median``, ``zero_fraction``, ``distance``.

    Examples
    --------
    >>> code_points(np.eye(2), np.array([[1.0, -1.0]]), np.array([[1.0, 0.0]]))["distance"]
    0.7071067811865476
    """
    phi = np.asarray(phi, dtype=np.float64)
    codes = np.asarray(codes, dtype=np.float64)
    r2 = r2_score(np.asarray(x, dtype=np.float64), codes @ phi.T)
    zeros = codes if zero_codes is None else np.asarray(zero_codes)
    zf = float(np.mean(zeros == 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # constant patches: NaN R²
        mean, median = float(np.nanmean(r2)), float(np.nanmedian(r2))
    return dict(r2=mean, r2_median=median, zero_fraction=zf, distance=distance(mean, zf))
