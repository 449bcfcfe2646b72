"""
Shared fixtures. The reference data (model trained with the official code,
its traces and metrics, held-out patches) is located with
`ipvae_snn.datasets.find_reference_dir`; tests that need it are skipped
where it is absent.
"""

import json
import os

import numpy as np
import pytest

from ipvae_snn import IPVAEParams, default_params
from ipvae_snn.datasets import find_reference_dir


@pytest.fixture(scope="session")
def reference_dir():
    """The shared reference folder (skips the test where it is missing)."""
    path = find_reference_dir()
    if path is None:
        pytest.skip("shared reference data not found (expected ../shared/reference "
                    "beside the checkout, or set IPVAE_SNN_REFERENCE)")
    return path


def _load_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def reference_params(reference_dir):
    """The reference model as written by the official code's export."""
    return IPVAEParams.load(os.path.join(reference_dir, "ipvae_k512.npz"))


@pytest.fixture(scope="session")
def reference_model_arrays(reference_dir):
    """The raw arrays of the reference model file."""
    return _load_npz(os.path.join(reference_dir, "ipvae_k512.npz"))


@pytest.fixture(scope="session")
def traces(reference_dir):
    """Step-by-step official inference traces (64 patches x 64 steps)."""
    return _load_npz(os.path.join(reference_dir, "traces.npz"))


@pytest.fixture(scope="session")
def metrics(reference_dir):
    """Official metrics on the 2,000 shared patches (``metrics.json``)."""
    with open(os.path.join(reference_dir, "metrics.json")) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def shared_patches(reference_dir):
    """``patches_shared.npz`` as a dict of arrays."""
    return _load_npz(os.path.join(reference_dir, "patches_shared.npz"))


@pytest.fixture(scope="session")
def params():
    """The bundled default model (needs no reference data)."""
    return default_params()


@pytest.fixture(scope="session")
def cxx_compiler():
    """
    Skips the test where no C++ compiler is found: ``cpp_standalone`` networks
    are compiled (`ipvae_snn.network.check_compiler`).
    """
    from ipvae_snn.network import check_compiler
    try:
        check_compiler()
    except RuntimeError as exc:
        pytest.skip(f"cpp_standalone needs a C++ compiler: {exc}")


@pytest.fixture(scope="session")
def snn_cache(tmp_path_factory):
    """
    One folder of compiled networks for the whole test session (the user's
    ``$IPVAE_SNN_CACHE`` when set), so each network shape compiles once.
    """
    return os.environ.get("IPVAE_SNN_CACHE") or str(tmp_path_factory.mktemp("builds"))
