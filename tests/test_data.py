"""
Bundled data: the re-implemented preprocessing checked against the shared
patches made with the official code, digits, and loading user arrays.
"""

import json
import socket

import numpy as np
import pytest

from ipvae_snn import data, infer

# Seed-to-seed spread of these statistics over 10 seeds of 1,000 patches per
# image was measured once; the tolerances are about 5 of those standard
# deviations (chelsea is small, so its frames overlap and vary more).
TOLERANCE = {
    "chelsea": dict(mean=0.02, sd=0.05, band=0.035, quantile=0.12),
    "gravel": dict(mean=0.01, sd=0.02, band=0.015, quantile=0.04),
}


def _statistics(x):
    """Mean, std, normalised power in 4 radial frequency bands, quantiles."""
    im = x.reshape(-1, 16, 16)
    power = np.abs(np.fft.fft2(im - im.mean(axis=(1, 2), keepdims=True))) ** 2
    power = power.mean(axis=0)
    power /= power.sum()
    fx, fy = np.meshgrid(np.fft.fftfreq(16), np.fft.fftfreq(16))
    f = np.hypot(fx, fy)
    bands = np.array([power[(f >= lo) & (f < hi)].sum()
                      for lo, hi in ((0, 0.15), (0.15, 0.3), (0.3, 0.45), (0.45, 1))])
    return dict(mean=x.mean(), sd=x.std(), band=bands,
                quantile=np.percentile(x, [5, 25, 50, 75, 95]))


def test_shift_constants_are_those_of_the_shared_patches(few_shared_patches):
    assert data.SHIFT_MU == float(few_shared_patches["shift_mu"])
    assert data.SHIFT_SD == float(few_shared_patches["shift_sd"])


@pytest.fixture(scope="module")
def our_patches():
    return data.natural_patches(n_patches=2000, seed=0, return_source=True)


def test_patch_statistics_match_shared_patches(our_patches, shared_patches):
    """Pixel statistics and the spectral fingerprint of the (unusual) official
    filter, per held-out image, against the patches made with the official code."""
    ours, source = our_patches
    ref = shared_patches["shared"].astype(np.float64)
    ref_source = shared_patches["shared_source_index"]
    names = [str(n) for n in shared_patches["shared_source_names"]]
    assert tuple(names) == data.HELD_OUT_IMAGES
    for i, name in enumerate(names):
        got, want = _statistics(ours[source == i]), _statistics(ref[ref_source == i])
        for key, tol in TOLERANCE[name].items():
            np.testing.assert_allclose(got[key], want[key], atol=tol,
                                       err_msg=f"{name}: {key}")


@pytest.mark.slow
def test_model_metrics_on_our_patches_match_official(our_patches, official_params, metrics):
    """The official-code model (bundled as "official") performs on our
    held-out patches as the official metrics say it does on the official ones."""
    x, _ = our_patches
    res = infer(official_params, x, 65, seed=0, record_counts=False, progress=False)
    official = metrics["results"]["temp=0"]["by_T"]
    for T in (16, 64):
        assert abs(np.nanmean(res.r2[:, T]) - official[str(T)]["r2"]) < 0.02
        assert abs(res.zero_fraction[:, T].mean()
                   - official[str(T)]["frac_zero_counts_at_T"]) < 0.005


def test_image_sizes_after_downsampling(few_shared_patches):
    sizes = json.loads(str(few_shared_patches["image_sizes"]))
    assert set(sizes) <= set(data.available_images())
    for name, text in sizes.items():
        img = data.load_image(name)
        h, w = (int(v) for v in text.split()[0].split("x"))
        assert img.shape == (h, w), name
        assert img.dtype == np.float64 and 0 <= img.min() and img.max() <= 1


def test_available_images_are_bundled_files(monkeypatch):
    names = data.available_images()
    assert set(data.TRAIN_IMAGES) | set(data.HELD_OUT_IMAGES) <= set(names)

    def no_network(*args, **kwargs):
        raise AssertionError("an image was downloaded")
    monkeypatch.setattr(socket.socket, "connect", no_network)   # bundled: read offline
    for name in names:
        assert data.load_image(name, downsample=False).size > 0, name
    full = data.load_image("camera", downsample=False)
    assert full.shape == (512, 512)


def test_whitening_filter_closed_form():
    filt = data.whitening_filter((64, 64))
    f = np.sqrt(0.5)                      # the official grid's corner frequency
    assert filt[0, 0] == pytest.approx(f * np.exp(-(f / 0.5) ** 4))
    np.testing.assert_allclose(filt, filt[::-1, ::-1])
    assert filt.argmax() not in (0, filt.size - 1)


def test_preprocess_frames_shapes_and_normalisation():
    rng = np.random.default_rng(0)
    frames = rng.random((3, 64, 64))
    out = data.preprocess_frames(frames, crop=0)
    assert out.shape == (3, 64, 64)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(1, 2), ddof=1), 1)
    assert data.preprocess_frames(frames).shape == (3, 56, 56)
    flat = data.preprocess_frames(np.zeros((1, 64, 64)))
    assert np.all(np.isfinite(flat))
    with pytest.raises(ValueError, match="frames"):
        data.preprocess_frames(np.zeros((4, 4)))


def test_natural_patches_seeding_and_split():
    a, src = data.natural_patches(["camera", "moon", "coins"], n_patches=50, seed=3,
                                  return_source=True)
    b = data.natural_patches(["camera", "moon", "coins"], n_patches=50,
                             seed=np.random.default_rng(3))
    c = data.natural_patches(["camera", "moon", "coins"], n_patches=50, seed=4)
    assert a.shape == (50, 256)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(np.bincount(src), [17, 17, 16])
    assert data.natural_patches("china", n_patches=3, seed=0, patch_size=8).shape \
        == (3, 64)


@pytest.mark.parametrize("kwargs, error, needle", [
    (dict(images="nonexistent"), ValueError, "'nonexistent' is not available"),
    (dict(images=[]), ValueError, "images"),
    (dict(n_patches=0), ValueError, "n_patches"),
    (dict(n_patches=2.5), ValueError, "n_patches"),
    (dict(patches_per_frame=0), ValueError, "patches_per_frame"),
    (dict(patch_size=60), ValueError, "patch_size"),
])
def test_natural_patches_bad_arguments(kwargs, error, needle):
    with pytest.raises(error, match=needle):
        data.natural_patches(**kwargs)


def test_digit_patches():
    x, labels = data.digit_patches()
    assert x.shape == (1797, 256) and labels.shape == (1797,)
    assert set(labels.tolist()) == set(range(10))
    np.testing.assert_allclose(x.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(x.std(axis=1), 1)
    sub, sub_labels = data.digit_patches(n_patches=20, seed=1)
    again, _ = data.digit_patches(n_patches=20, seed=1)
    np.testing.assert_array_equal(sub, again)
    assert sub.shape == (20, 256)
    # a subset is made of rows of the full set
    rows = [np.flatnonzero((x == row).all(axis=1))[0] for row in sub]
    np.testing.assert_array_equal(labels[rows], sub_labels)
    with pytest.raises(ValueError, match="n_patches"):
        data.digit_patches(n_patches=5000)


# ------------------------------------------------------------ user files
def test_load_patches_formats(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 16, 16)).astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "b.npz", anything=x)
    np.savez(tmp_path / "c.npz", patches=x.reshape(4, -1), labels=np.arange(4))
    np.save(tmp_path / "one.npy", x[0])
    for name in ("a.npy", "b.npz", "c.npz"):
        got = data.load_patches(tmp_path / name)
        assert got.shape == (4, 256) and got.dtype == np.float64
        np.testing.assert_array_equal(got, x.reshape(4, -1))
    assert data.load_patches(tmp_path / "one.npy").shape == (1, 256)


def test_load_patches_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        data.load_patches(tmp_path / "nope.npy")
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 256)), b=np.zeros((2, 256)))
    with pytest.raises(KeyError, match="several arrays"):
        data.load_patches(tmp_path / "two.npz")
    np.save(tmp_path / "size.npy", np.zeros((3, 100)))
    with pytest.raises(ValueError, match=r"size\.npy.*256 pixels"):
        data.load_patches(tmp_path / "size.npy")
    bad = np.zeros((3, 256))
    bad[1, 0] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    with pytest.raises(ValueError, match=r"inf\.npy.*non-finite"):
        data.load_patches(tmp_path / "inf.npy")
    np.save(tmp_path / "text.npy", np.array([["a"] * 256]))
    with pytest.raises(ValueError, match="numeric"):
        data.load_patches(tmp_path / "text.npy")
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable"):
        data.load_patches(tmp_path / "junk.npy")
    assert data.load_patches(tmp_path / "size.npy", n_pixels=100).shape == (3, 100)


# --------------------------------------------------------- augmentation, digits
def test_dihedral_augment_turns_and_mirrors_each_patch():
    from ipvae_snn.data import dihedral_augment
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 16))
    before = x.copy()
    out = dihedral_augment(x, seed=1)
    np.testing.assert_array_equal(x, before)                 # input untouched
    np.testing.assert_array_equal(out, dihedral_augment(x, seed=1))
    seen = set()
    for a, b in zip(x.reshape(-1, 4, 4), out.reshape(-1, 4, 4)):
        found = [(k, f) for k in range(4) for f in (False, True)
                 if np.array_equal(b, (np.rot90(a, k)[:, ::-1] if f else np.rot90(a, k)))]
        assert found
        seen.add(found[0])
    assert len(seen) == 8                                    # every symmetry occurs
    with pytest.raises(ValueError, match="square"):
        dihedral_augment(np.zeros((3, 15)))


def test_digit_split_is_the_documented_stratified_split():
    from ipvae_snn.data import digit_patches, digit_split
    x_train, x_test, y_train, y_test = digit_split()
    assert x_train.shape == (1437, 256) and x_test.shape == (360, 256)
    np.testing.assert_array_equal(np.bincount(y_train) + np.bincount(y_test),
                                  np.bincount(digit_patches()[1]))
    share = np.bincount(y_test) / np.bincount(digit_patches()[1])
    assert np.all(np.abs(share - 0.2) < 0.02)                # stratified
    train_rows = {r.tobytes() for r in x_train}
    assert not any(r.tobytes() in train_rows for r in x_test)
    np.testing.assert_array_equal(digit_split()[1], x_test)  # deterministic
