"""
Locate the project's shared reference data (tests and benchmarks only).

The reference folder (model trained with the official code, held-out patches,
official traces and metrics) lives beside the checkout as
``../shared/reference``; ``IPVAE_SNN_REFERENCE`` overrides that.
"""

import os

__all__ = ["find_reference_dir"]

_FILES = ("ipvae_k512.npz", "patches_shared.npz", "traces.npz", "metrics.json")


def find_reference_dir():
    """The reference folder, or None where it is not available."""
    env = os.environ.get("IPVAE_SNN_REFERENCE")
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [env] if env else []
    candidates.append(os.path.join(here, os.pardir, os.pardir, "shared", "reference"))
    for path in candidates:
        if path and all(os.path.exists(os.path.join(path, f)) for f in _FILES):
            return os.path.abspath(path)
    return None
