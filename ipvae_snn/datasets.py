"""
Locate the project's shared reference data.

The reference folder holds what the tests and benchmarks compare against: the
model trained with the paper's official code (``ipvae_k512.npz``), held-out
patches (``patches_shared.npz``), official inference traces (``traces.npz``)
and metrics (``metrics.json``). It lives beside a checkout as
``../shared/reference``; the environment variable ``IPVAE_SNN_REFERENCE``
points elsewhere. It is not part of the installed package.

Examples
--------
>>> from ipvae_snn.datasets import find_reference_dir, REFERENCE_FILES
>>> path = find_reference_dir()       # None where the data is absent
>>> path is None or all(os.path.exists(os.path.join(path, f)) for f in REFERENCE_FILES)
True
"""

import os

__all__ = ["find_reference_dir", "REFERENCE_FILES", "REFERENCE_ENV"]

#: The files a reference folder must hold.
REFERENCE_FILES = ("ipvae_k512.npz", "patches_shared.npz", "traces.npz", "metrics.json")

#: Environment variable naming the reference folder.
REFERENCE_ENV = "IPVAE_SNN_REFERENCE"


def find_reference_dir():
    """
    The reference folder, or None where it is not available.

    Looks at ``$IPVAE_SNN_REFERENCE``, then at ``shared/reference`` beside the
    checkout this package was imported from; a folder counts when it holds
    every file of `REFERENCE_FILES`.

    Returns
    -------
    str or None
        An absolute path.
    """
    env = os.environ.get(REFERENCE_ENV)
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [env] if env else []
    candidates.append(os.path.join(here, os.pardir, os.pardir, "shared", "reference"))
    for path in candidates:
        if path and all(os.path.exists(os.path.join(path, f)) for f in REFERENCE_FILES):
            return os.path.abspath(path)
    return None
