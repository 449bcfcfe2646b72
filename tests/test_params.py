"""The parameter object (`IPVAEParams`) and its .npz format."""

import os

import numpy as np
import pytest

from ipvae_snn import IPVAEParams
from ipvae_snn.params import default_model_path


def _small(rng=None, **changes):
    rng = np.random.default_rng(0 if rng is None else rng)
    kwargs = dict(phi=rng.standard_normal((9, 5)), sigma=np.full(9, 0.9),
                  bias=np.full(5, 0.05), lr=0.5, u_init=np.full(5, -3.0))
    kwargs.update(changes)
    return IPVAEParams(**kwargs)


def test_official_model_is_the_reference_model(official_params, reference_model_arrays):
    """The bundled "official" model is the official code's exported model."""
    params, ref = official_params, reference_model_arrays
    assert (params.n_pixels, params.n_latents) == ref["phi"].shape == (256, 512)
    np.testing.assert_array_equal(params.phi, ref["phi"])
    np.testing.assert_allclose(params.sigma, ref["dec_sigma"], rtol=1e-6)
    np.testing.assert_allclose(params.bias, ref["bias"], rtol=1e-6)
    np.testing.assert_allclose(params.lr, ref["lr"], rtol=1e-6)
    np.testing.assert_array_equal(params.u_init, ref["u_init"])
    assert params.clamp_u == float(ref["c_u"]) and params.clamp_du == float(ref["c_du"])
    assert params.clamp_min == float(ref["hard_clamp_min"])
    assert params.rate_eps == float(ref["rate_eps"])


def test_default_model_ships_inside_the_package():
    path = default_model_path()
    assert os.path.isfile(path)
    assert os.path.dirname(path).endswith(os.path.join("ipvae_snn", "models"))


def test_derived_arrays(params):
    w = params.lateral_weights()
    np.testing.assert_allclose(w, w.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(w), (params.phi ** 2 / params.sigma[:, None] ** 2)
                               .sum(axis=0), rtol=1e-12)
    x = np.random.default_rng(1).standard_normal((3, params.n_pixels))
    np.testing.assert_allclose(params.feedforward(x),
                               (x / params.sigma ** 2) @ params.phi, rtol=1e-12)


def test_save_load_round_trip(params, tmp_path):
    path = tmp_path / "model.npz"
    params.save(path)
    loaded = IPVAEParams.load(path)
    assert loaded == params
    assert loaded.fingerprint() == params.fingerprint()
    # the official raw parameters travel along in the metadata
    assert set(params.metadata) <= set(loaded.metadata)
    assert os.listdir(tmp_path) == ["model.npz"]      # no temporary files left
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_save_replaces_existing_file_atomically(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    a = _small()
    a.save(path)
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        with open(file, "wb") as f:
            f.write(b"half-written")
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        _small(rng=1).save(path)
    assert path.read_bytes() == before               # old file untouched
    assert os.listdir(tmp_path) == ["model.npz"]     # temporary file removed
    monkeypatch.undo()
    assert IPVAEParams.load(path) == a


def test_replace_and_get_params():
    p = _small()
    q = p.replace(lr=0.25)
    assert q.lr == 0.25 and p.lr == 0.5
    with pytest.raises(KeyError, match="nonsense"):
        p.replace(nonsense=1)


# ------------------------------------------------------------ bad inputs
@pytest.mark.parametrize("key", ["phi", "u_init", "dec_sigma", "bias", "lr"])
def test_missing_key_is_named(params, key):
    arrays = params.to_arrays()
    # drop the key and every raw form it could be rebuilt from
    raw = {"dec_sigma": ["dec_log_sigma_softclamped", "dec_log_sigma"],
           "bias": ["log_bias"], "lr": ["log_lr"]}.get(key, [])
    for k in [key] + raw:
        arrays.pop(k)
    with pytest.raises(KeyError, match=f"missing key '{key}'"):
        IPVAEParams.from_arrays(arrays)


def test_missing_key_in_file_names_file_and_key(params, tmp_path):
    arrays = params.to_arrays()
    del arrays["u_init"]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(KeyError, match=r"bad\.npz.*missing key 'u_init'"):
        IPVAEParams.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("key, value", [
    ("sigma", np.ones(8)), ("bias", np.ones(6)), ("u_init", np.zeros(4)),
    ("sigma", np.ones((9, 1))), ("lr", np.ones(2)), ("phi", np.ones(9)),
])
def test_shape_mismatch_is_named(key, value):
    with pytest.raises(ValueError, match=f"'{key}'"):
        _small(**{key: value})


def test_shape_mismatch_in_file(params, tmp_path):
    arrays = params.to_arrays()
    arrays["bias"] = arrays["bias"][:-1]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"bad\.npz.*'bias' has shape \(511,\)"):
        IPVAEParams.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("key", ["phi", "sigma", "bias", "u_init", "lr", "clamp_u"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_is_named(key, bad):
    value = np.array(_small().get_params()[key], dtype=float)
    value.reshape(-1)[0] = bad
    with pytest.raises(ValueError, match=f"'{key}'.*non-finite"):
        _small(**{key: value})


@pytest.mark.parametrize("key, value, needle", [
    ("sigma", np.r_[np.full(8, 0.9), 0.0], "'sigma' must be > 0"),
    ("sigma", np.r_[np.full(8, 0.9), -1.0], "'sigma' must be > 0"),
    ("bias", np.r_[np.full(4, 0.05), -0.01], "'bias' must be >= 0"),
    ("lr", 0.0, "'lr' must be > 0"),
    ("lr", -0.1, "'lr' must be > 0"),
])
def test_out_of_range_is_named(key, value, needle):
    with pytest.raises(ValueError, match=needle):
        _small(**{key: value})


def test_zero_bias_is_allowed():
    assert _small(bias=np.zeros(5)).bias.sum() == 0


def test_bad_value_in_file(params, tmp_path):
    arrays = params.to_arrays()
    arrays["dec_sigma"] = arrays["dec_sigma"].copy()
    arrays["dec_sigma"][3] = np.nan
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="'sigma'.*non-finite"):
        IPVAEParams.load(tmp_path / "bad.npz")


def test_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        IPVAEParams.load(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable"):
        IPVAEParams.load(tmp_path / "junk.npz")
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not a readable"):
        IPVAEParams.load(tmp_path / "array.npy")
