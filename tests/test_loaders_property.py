"""
Property-based tests of the loaders: any array, ``.npz`` or file
given as patches or as a model either loads as valid input — on which the
dynamics stay finite — or raises an `InputError` whose message names the
file. Never a traceback from numpy or Brian2.
"""

import io
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ipvae_snn import IPVAEParams, infer
from ipvae_snn.data import load_patches
from ipvae_snn.validation import InputError

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

DTYPES = st.sampled_from(["float64", "float32", "float16", "int8", "int64", "uint16",
                          "bool", "complex128", "U3", "S2", "datetime64[s]"])
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
SPECIAL = st.sampled_from([0.0, 1.0, -1.0, 1e6, 1.5e6, 1e300, -1e300, 1e-300, np.nan,
                           np.inf, -np.inf, 3.0, 10.0, 20.0, 50.0, -8.0, 1e-7])


def _arrays(max_dims=4, max_side=20):
    return DTYPES.flatmap(lambda dt: hnp.arrays(
        dt, hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0,
                             max_side=max_side),
        elements=(FLOATS | SPECIAL) if dt == "float64" else None))


def _fresh(tmp_path, name):
    path = tmp_path / name
    if path.exists():
        path.unlink()
    return path


def _write(kind, path, payload):
    if kind == "npy":
        np.save(path, payload, allow_pickle=True)
    elif kind == "npz":
        np.savez(path, **payload)
    elif kind == "bytes":
        path.write_bytes(payload)
    return str(path)


def _expect_valid_or_named(load, path):
    try:
        return load(path)
    except InputError as exc:
        assert path in str(exc), str(exc)
        assert "\n" not in str(exc).strip()
        return None


# ---------------------------------------------------------------- patches
def _check_patches(x, source, n_pixels):
    """Loaded patches are valid model input holding exactly the file's values."""
    assert x.dtype == np.float64 and x.ndim == 2 and x.shape[1] == n_pixels
    assert x.shape[0] >= 1 and np.isfinite(x).all() and np.abs(x).max() <= 1e6
    # the values of the stored array, in order, each patch a row
    np.testing.assert_array_equal(x.ravel(), np.asarray(source, dtype=np.float64).ravel())


def _patch_shaped(n_pixels):
    """Numeric arrays of the shapes patches come in: most of them load."""
    side = int(round(np.sqrt(n_pixels)))
    shapes = st.integers(1, 5).flatmap(lambda n: st.sampled_from(
        [(n, n_pixels), (n, side, side), (n_pixels,)]))
    elements = {"float64": st.floats(-10, 10) | SPECIAL, "float32": st.floats(-10, 10, width=32),
                "int16": None, "bool": None}
    return st.sampled_from(sorted(elements)).flatmap(
        lambda dt: hnp.arrays(dt, shapes, elements=elements[dt]))


@SETTINGS
@given(n_pixels=st.sampled_from([4, 16, 256]), data=st.data())
def test_any_npy_array_as_patches(tmp_path, n_pixels, data):
    arr = data.draw(_arrays() | _patch_shaped(n_pixels))
    path = _write("npy", _fresh(tmp_path, "p.npy"), arr)
    x = _expect_valid_or_named(lambda p: load_patches(p, n_pixels), path)
    if x is not None:
        _check_patches(x, arr, n_pixels)


@SETTINGS
@given(members=st.dictionaries(st.sampled_from(["patches", "x", "labels", "a b", "é"]),
                               _arrays(max_dims=3), max_size=3),
       n_pixels=st.sampled_from([4, 16]))
def test_any_npz_as_patches(tmp_path, members, n_pixels):
    path = _write("npz", _fresh(tmp_path, "p.npz"), members)
    x = _expect_valid_or_named(lambda p: load_patches(p, n_pixels), path)
    if x is not None:
        # the array under 'patches', or else the file's only array
        assert "patches" in members or len(members) == 1, sorted(members)
        source = members["patches"] if "patches" in members else next(iter(members.values()))
        _check_patches(x, source, n_pixels)


def _npy_bytes(arr):
    buffer = io.BytesIO()
    np.save(buffer, arr)
    return buffer.getvalue()


@SETTINGS
@given(data=st.binary(max_size=400), prefix=st.sampled_from(
    [b"", b"\x93NUMPY", b"PK\x03\x04", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', ",
     _npy_bytes(np.linspace(-1, 1, 512).reshape(2, 256))]))    # a valid file, then bytes
def test_any_bytes_as_patches(tmp_path, data, prefix):
    path = _write("bytes", _fresh(tmp_path, "p.npy"), prefix + data)
    x = _expect_valid_or_named(load_patches, path)
    if x is not None:
        # bytes that load are a valid .npy file: numpy reads the same values
        _check_patches(x, np.load(path, allow_pickle=False), x.shape[1])


def test_damaged_npz_member_is_named(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, patches=np.zeros((4, 256)))
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("patches.npy")
    start = info.header_offset + 30 + len(info.filename) + 100
    raw[start:start + 50] = b"\x00" * 50            # inside the member's data
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="p.npz"):
        load_patches(str(path))


# ----------------------------------------------------------------- models
_MODEL_KEYS = ["phi", "dec_sigma", "bias", "lr", "u_init", "c_u", "c_du", "hard_clamp_min",
               "rate_eps", "softplus_threshold", "log_bias", "log_lr",
               "dec_log_sigma_softclamped"]


def _small_model_arrays():
    rng = np.random.default_rng(0)
    return IPVAEParams(phi=0.3 * rng.standard_normal((16, 6)) / 4, sigma=np.ones(16),
                       bias=np.full(6, 0.05), lr=0.5,
                       u_init=np.full(6, -3.0)).to_arrays()


@st.composite
def _model_files(draw):
    arrays = _small_model_arrays()
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(_MODEL_KEYS))
        action = draw(st.sampled_from(["drop", "scale", "replace", "fill"]))
        if action == "drop":
            arrays.pop(key, None)
        elif action == "scale" and key in arrays and \
                np.asarray(arrays[key]).dtype.kind in "fiub":
            with np.errstate(all="ignore"):
                arrays[key] = np.asarray(arrays[key], dtype=np.float64) * draw(SPECIAL)
        elif action == "fill" and key in arrays:
            arrays[key] = np.full(np.shape(arrays[key]), draw(SPECIAL))
        else:
            arrays[key] = draw(_arrays(max_dims=2, max_side=17))
    return arrays


def _check_model(params):
    """A model that loads must run: its dynamics stay finite."""
    x = np.ones((2, params.n_pixels))
    res = infer(params, x, 4, seed=0, record_u=True, warn=False, progress=False,
                dtype=np.float32)
    assert np.isfinite(res.u).all() and np.isfinite(res.u_final).all()
    assert np.isfinite(res.mse).all()


@SETTINGS
@given(arrays=_model_files())
def test_any_model_file(tmp_path, arrays):
    path = _write("npz", _fresh(tmp_path, "m.npz"), arrays)
    params = _expect_valid_or_named(IPVAEParams.load, path)
    if params is not None:
        _check_model(params)


@SETTINGS
@given(arr=_arrays(max_dims=2))
def test_any_array_as_model(tmp_path, arr):
    path = _write("npy", _fresh(tmp_path, "m.npy"), arr)
    assert _expect_valid_or_named(IPVAEParams.load, path) is None


@SETTINGS
@given(phi_scale=SPECIAL, sigma_scale=SPECIAL, u_init=SPECIAL, lr=SPECIAL)
def test_finite_but_huge_models_are_refused_or_run(phi_scale, sigma_scale, u_init, lr):
    assume(np.isfinite([phi_scale, sigma_scale, u_init, lr]).all())
    rng = np.random.default_rng(1)
    try:
        params = IPVAEParams(phi=phi_scale * rng.standard_normal((16, 6)),
                             sigma=np.full(16, sigma_scale), bias=np.full(6, 0.05),
                             lr=lr, u_init=np.full(6, u_init))
    except InputError as exc:
        assert "parameter" in str(exc)
        return
    _check_model(params)


def test_missing_file_is_named(tmp_path):
    for load in (load_patches, IPVAEParams.load):
        with pytest.raises(FileNotFoundError, match="nope.npz"):
            load(os.path.join(tmp_path, "nope.npz"))
