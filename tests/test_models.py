"""
The bundled models: the registry, the provenance each file carries, the
official model kept byte for byte, and the network reproducing the default
model's read-outs (window realization, ``cpp_standalone``, against the
reference algorithm on the same patches).
"""

import hashlib
import json
import shlex

import numpy as np
import pytest

import ipvae_snn
from ipvae_snn import BUNDLED_MODELS, load_model
from ipvae_snn.params import DEFAULT_MODEL_NAME, bundled_model_path
from ipvae_snn.validation import InvalidValueError

#: SHA-256 of the official-code model: a file that must never change (the
#: step-exact tests compare the official code's traces against it).
OFFICIAL_SHA256 = "29bc07fd482d32c9ad5d94519282cbf5f4e81bc192a1e05a7ada6138d7c6b690"


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_every_bundled_model_loads_by_name():
    assert set(BUNDLED_MODELS) == {"natural", "official", "digits"}
    for name in BUNDLED_MODELS:
        params = load_model(name)
        assert (params.n_pixels, params.n_latents) == (256, 512)
    assert DEFAULT_MODEL_NAME == "natural"
    assert ipvae_snn.default_params() == load_model("natural")
    assert load_model(bundled_model_path("digits")) == load_model("digits")


def test_unknown_model_name_lists_the_bundled_ones():
    with pytest.raises(InvalidValueError, match="official"):
        bundled_model_path("nonsense")
    with pytest.raises(FileNotFoundError, match="nonsense"):
        load_model("nonsense")


def test_the_official_model_file_never_changes():
    assert _sha256(bundled_model_path("official")) == OFFICIAL_SHA256


@pytest.mark.parametrize("name", ["natural", "digits"])
def test_trained_models_carry_their_provenance(name):
    from ipvae_snn.cli import build_parser
    meta = json.loads(str(load_model(name).metadata["provenance"]))
    for key in ("command", "seed", "package_version", "training_seconds",
                "hyper_parameters", "operating_point", "prior_cap", "n_batches"):
        assert key in meta, key
    words = shlex.split(meta["command"])
    assert words[:2] == ["ipvae-snn", "fit"]
    args = build_parser().parse_args(words[1:])   # the documented command parses
    assert args.seed == meta["seed"] == 0
    assert 0 < meta["training_seconds"] <= 3600   # trained in at most an hour
    if name == "digits":
        assert args.digits
    else:
        assert not args.digits and args.augment


@pytest.mark.standalone
@pytest.mark.slow
def test_network_reproduces_the_default_model(params, cxx_compiler, snn_cache,
                                              monkeypatch, tmp_path):
    """
    Window realization on cpp_standalone vs the reference algorithm, 200
    held-out patches, the same dynamics: mean R² and zero fraction at T = 16
    and T = 1000 agree within 0.01.
    """
    from ipvae_snn.data import HELD_OUT_IMAGES, natural_patches
    from ipvae_snn.network import SpikingIPVAE
    monkeypatch.setenv("IPVAE_SNN_CACHE", snn_cache)
    x = natural_patches(HELD_OUT_IMAGES, 200, seed=11)
    windows = [16, 1000]
    net = SpikingIPVAE(params, realization="window", device="cpp_standalone")
    spiking = net.run(x, 1001, seed=3, record_windows=windows, progress=False,
                      warn=False)
    reference = ipvae_snn.infer(params, x, 1001, seed=4, record_windows=windows,
                                progress=False, warn=False)
    for t in windows:
        for what in ("r2", "zero_fraction"):
            a = float(np.nanmean(getattr(spiking, what)[:, t]))
            b = float(np.nanmean(getattr(reference, what)[:, t]))
            assert abs(a - b) <= 0.01, (t, what, a, b)
