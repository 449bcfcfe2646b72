"""
The spiking LCA's dictionary options.

``"ipvae"``
    The default iP-VAE's Φ (`ipvae_snn.default_params`): both spiking
    networks then share their receptive fields, and differ only in how they
    infer.
``"learnt"``
    The LCA's own: scikit-learn's non-negative dictionary learning
    (`ipvae_snn.ratedistortion.sparse_coding_dictionary`, 512 unit-norm
    atoms, the sparse-coding baseline's recipe) on patches of the training
    photographs (`ipvae_snn.data.TRAIN_IMAGES`). It takes about a minute,
    so it is cached as ``.npz`` in the folder of compiled programs.

λ and the spike rate per unit of code scale with a dictionary's atom norm
(Φ → cΦ takes the Lasso codes at cλ to a/c: the same reconstruction and
zeros), so the sweeps here are in units of its mean atom norm
(`mean_atom_norm`): they mean the same on a rescaled Φ.
"""

import os

import numpy as np

from ..io import atomic_savez
from ..validation import InvalidTypeError, check_choice, check_int
from .solver import check_dictionary

__all__ = ["lca_dictionary", "learnt_dictionary", "mean_atom_norm", "DICTIONARIES",
           "LAMBDA_SWEEPS", "RATE_PER_NORM"]

#: The named dictionaries.
DICTIONARIES = ("ipvae", "learnt")
#: λ sweeps per dictionary, in units of its mean atom norm. The optima
#: differ (near 0.5 on the default iP-VAE's Φ, 0.3 on the learnt one): the
#: atoms' shapes and overlaps differ, not only their norms.
LAMBDA_SWEEPS = dict(ipvae=(0.35, 0.5, 0.7, 1.0), learnt=(0.2, 0.3, 0.5))
#: Spikes per second per unit of code, in units of the mean atom norm (codes
#: scale inversely with it, so a spike carries the same share of the drive on
#: any dictionary): about 100 Hz per unit of code on the default's Φ.
RATE_PER_NORM = 800.0


def mean_atom_norm(phi):
    """
    The mean Euclidean norm of a dictionary's atoms (columns).

    Examples
    --------
    >>> mean_atom_norm(np.array([[3.0, 0.0], [4.0, 2.0]]))
    3.5
    """
    return float(np.linalg.norm(check_dictionary(phi), axis=0).mean())


def learnt_dictionary(n_atoms=512, n_train=10240, epochs=3, seed=0, cache_dir=None):
    """
    A non-negative sparse-coding dictionary learnt on training patches,
    shape (n_pixels, n_atoms), unit-norm columns; cached.

    Parameters
    ----------
    n_atoms, n_train, epochs, seed : int
        Atoms, training patches (`~ipvae_snn.data.natural_patches` of
        `~ipvae_snn.data.TRAIN_IMAGES`), passes, seed.
    cache_dir : str, optional
        Default `ipvae_snn.network.default_cache_dir`; the file goes into its
        ``lca-dictionaries`` folder.
    """
    from ..data import TRAIN_IMAGES, natural_patches
    from ..network.program import default_cache_dir
    from ..ratedistortion import sparse_coding_dictionary
    n_atoms, n_train, epochs = (check_int(v, name) for v, name in
                                ((n_atoms, "n_atoms"), (n_train, "n_train"),
                                 (epochs, "epochs")))
    folder = os.path.join(cache_dir or default_cache_dir(), "lca-dictionaries")
    path = os.path.join(folder, f"sc_k{n_atoms}_n{n_train}_e{epochs}_s{seed}.npz")
    if os.path.exists(path):
        with np.load(path) as data:
            return data["phi"]
    x = natural_patches(TRAIN_IMAGES, n_train, seed=seed)
    phi = sparse_coding_dictionary(x, n_atoms, epochs, seed=seed).T.copy()
    os.makedirs(folder, exist_ok=True)
    atomic_savez(path, phi=phi, n_train=n_train, epochs=epochs, seed=seed)
    return phi


def lca_dictionary(dictionary):
    """
    A dictionary by name (`DICTIONARIES`) or array, shape (n_pixels, n_atoms).

    Examples
    --------
    >>> lca_dictionary("ipvae").shape
    (256, 512)
    >>> lca_dictionary("pca")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: unknown dictionary 'pca'; choose one of ...
    """
    if isinstance(dictionary, str):
        name = check_choice(dictionary, "dictionary", DICTIONARIES)
        if name == "ipvae":
            from ..params import default_params
            return check_dictionary(default_params().phi)
        return check_dictionary(learnt_dictionary())
    if isinstance(dictionary, (bool, int, float)) or dictionary is None:
        raise InvalidTypeError(f"dictionary must be a name ({', '.join(DICTIONARIES)}) "
                               f"or an array, got {type(dictionary).__name__}")
    return check_dictionary(dictionary)
