"""
Shared fixtures.

Reference data comes from two places:

* ``tests/data/reference`` (always present, ~3 MB): the official traces of 8
  patches x 64 steps, the official checkpoint folder, the official metrics
  by T and a few held-out patches. The step-exact tests use only these, so
  they run on any fresh clone.
* the full shared folder (``../shared/reference`` beside the checkout, or
  ``$IPVAE_SNN_REFERENCE``, located by `ipvae_snn.datasets.find_reference_dir`):
  the 2,000 held-out patches and training samples that the statistical tests
  and the benchmarks need. Tests that need it skip where it is absent, unless
  ``IPVAE_SNN_REQUIRE_REFERENCE=1`` (CI, which has it) turns the skip into a
  failure.

The model trained with the official code is the package's bundled
``ipvae_k512.npz`` (``load_model("official")``, the same file as the shared
one); tests about the official model name it (``reference_params``,
``official_params``). The default model (``params``) is the one this package
trains (``load_model("natural")``).
"""

import json
import os

import numpy as np
import pytest

from ipvae_snn import IPVAEParams, default_params, load_model
from ipvae_snn.datasets import find_reference_dir
from ipvae_snn.params import bundled_model_path

#: The trimmed copy of the reference data that ships with the tests.
TEST_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "reference")
#: The official checkpoint folder's name.
OFFICIAL_FOLDER = "ipvae_vh16like_k512"


def _load_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def reference_dir():
    """
    The full shared reference folder: skips the test where it is missing, or
    fails when ``IPVAE_SNN_REQUIRE_REFERENCE`` is set.
    """
    path = find_reference_dir()
    if path is None:
        message = ("full shared reference data not found (expected ../shared/reference "
                   "beside the checkout, or set IPVAE_SNN_REFERENCE)")
        if os.environ.get("IPVAE_SNN_REQUIRE_REFERENCE"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def test_data_dir():
    """``tests/data/reference``: the trimmed reference data (always present)."""
    return TEST_DATA


@pytest.fixture(scope="session")
def official_dir():
    """The official checkpoint folder (trimmed copy, identical to the shared one)."""
    return os.path.join(TEST_DATA, OFFICIAL_FOLDER)


@pytest.fixture(scope="session")
def reference_model_path():
    """
    The reference model file: the package's copy of the shared ``ipvae_k512.npz``
    (the bundled model named ``"official"``).
    """
    return bundled_model_path("official")


@pytest.fixture(scope="session")
def reference_params(reference_model_path):
    """The reference model as written by the official code's export."""
    return IPVAEParams.load(reference_model_path)


@pytest.fixture(scope="session")
def reference_model_arrays(reference_model_path):
    """The raw arrays of the reference model file."""
    return _load_npz(reference_model_path)


@pytest.fixture(scope="session")
def traces():
    """Step-by-step official inference traces (8 patches x 64 steps, trimmed copy)."""
    return _load_npz(os.path.join(TEST_DATA, "traces.npz"))


@pytest.fixture(scope="session")
def metrics():
    """Official metrics on the 2,000 shared patches, by T (trimmed ``metrics.json``)."""
    with open(os.path.join(TEST_DATA, "metrics.json")) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def few_shared_patches():
    """The first 64 held-out patches and the preprocessing scalars (trimmed copy)."""
    return _load_npz(os.path.join(TEST_DATA, "patches_shared.npz"))


@pytest.fixture(scope="session")
def shared_patches(reference_dir):
    """The full ``patches_shared.npz`` (2,000 held-out patches) as a dict of arrays."""
    return _load_npz(os.path.join(reference_dir, "patches_shared.npz"))


@pytest.fixture(scope="session")
def params():
    """The bundled default model (needs no reference data)."""
    return default_params()


@pytest.fixture(scope="session")
def raw_params():
    """
    The default model's dictionary without its contrast normalisation: it sees
    its inputs as given, so high-contrast inputs drive it to the clamp (the
    tests of runaways, caps and the scale rule; the normalisation would take
    the contrast away).
    """
    return default_params().replace(contrast=None)


@pytest.fixture(scope="session")
def official_params():
    """The bundled model trained with the official code (``"official"``)."""
    return load_model("official")


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
