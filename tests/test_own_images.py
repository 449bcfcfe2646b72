"""
The user's own photographs: `patches_from_images`, ``--images FILE`` and the
input-scale check before a run (`ipvae_snn.scale`).
"""

import hashlib
import json
import warnings

import numpy as np
import pytest

import ipvae_snn
from ipvae_snn.cli import main
from ipvae_snn.data import (HELD_OUT_IMAGES, SCALE_LIMIT, TRAIN_IMAGES, TRAIN_PATCH_RMS,
                            InputScaleWarning, check_input_scale, input_scale_problem,
                            load_image, natural_patches, patches_from_images)
from ipvae_snn.validation import (InputScaleError, InvalidTypeError, InvalidValueError,
                                  MissingFileError)


@pytest.fixture(scope="module")
def params():
    return ipvae_snn.default_params()


@pytest.fixture
def photo(tmp_path):
    """scikit-learn's sample photograph 'china.jpg', saved as a PNG file."""
    from skimage import io
    from sklearn.datasets import load_sample_image
    assert "china" not in TRAIN_IMAGES                 # a photograph the model never saw
    path = tmp_path / "photo.png"
    io.imsave(path, load_sample_image("china.jpg"))
    return path


def _raw_patches(n=50, seed=0):
    """16x16 crops of a photograph's grey levels in 0..255: not whitened."""
    img = np.round(load_image("chelsea", downsample=False) * 255)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, img.shape[0] - 16, n)
    cols = rng.integers(0, img.shape[1] - 16, n)
    return np.stack([img[r:r + 16, c:c + 16] for r, c in zip(rows, cols)])


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# ---------------------------------------------------------- the acceptance
def test_a_png_photograph_reconstructs_without_runaway(photo, capsys, monkeypatch):
    monkeypatch.chdir(photo.parent)
    rc, out, err = _run(capsys, "infer", "--images", "photo.png", "--steps", "64",
                        "--json", "--quiet")
    assert rc == 0 and err == "", err
    doc = json.loads(out)
    last = doc["summary"][-1]
    assert last["T"] == 64 and last["r2"] >= 0.6, last
    assert doc["runaway"]["n_patches"] == 0 and doc["runaway"]["n_neurons"] == 0


def test_raw_pixels_warn_in_one_line_before_the_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("raw.npy", _raw_patches())
    before = _sha("raw.npy")
    import ipvae_snn.reference as reference
    original, seen = reference.infer, []

    def infer(*args, **kwargs):                     # what stderr held when the run began
        seen.append(capsys.readouterr().err)
        return original(*args, **kwargs)
    monkeypatch.setattr(reference, "infer", infer)
    rc, out, err = _run(capsys, "infer", "--patches", "raw.npy", "--steps", "8", "--quiet")
    assert rc == 0
    warning = seen[0]
    assert warning.startswith("ipvae-snn: warning: --patches 'raw.npy'")
    # the default divides each patch by its contrast: raw pixels are not out of
    # scale for it, but they are not centred (not whitened)
    assert warning.count("\n") == 1 and "not centred" in warning
    assert "patches_from_images" in warning and "--strict" in warning
    assert err == ""                                # the run itself warns no more
    assert _sha("raw.npy") == before


def test_strict_refuses_raw_pixels_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("raw.npy", _raw_patches())
    before = _sha("raw.npy")
    import ipvae_snn.reference as reference

    def no_run(*args, **kwargs):
        raise AssertionError("ran on refused input")
    monkeypatch.setattr(reference, "infer", no_run)
    rc, out, err = _run(capsys, "infer", "--patches", "raw.npy", "--steps", "64",
                        "--strict", "--out", "r.npz")
    assert rc == 2 and out == ""
    assert err.startswith("ipvae-snn: error: --patches 'raw.npy'") and err.count("\n") == 1
    assert "not centred" in err
    assert _sha("raw.npy") == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "raw.npy"]


# -------------------------------------------------- the rule and its limits
def test_the_training_scale_is_that_of_the_training_data():
    x = natural_patches(TRAIN_IMAGES, n_patches=4000, seed=0)
    rms = np.sqrt(np.mean(x ** 2, axis=1))
    assert np.median(rms) == pytest.approx(TRAIN_PATCH_RMS, rel=0.01)
    assert rms.max() < SCALE_LIMIT * TRAIN_PATCH_RMS      # training data never flagged


@pytest.mark.parametrize("contrast, flagged", [(1, False), (2, False), (5, True),
                                               (10, True)])
def test_the_limit_separates_runs_that_run_away(raw_params, params, contrast, flagged):
    """Flagged exactly where the default's dictionary, given the patches as they
    are, runs away on held-out patches; the default itself (its contrast
    normalisation) is never flagged and never runs away."""
    x = contrast * natural_patches(HELD_OUT_IMAGES, n_patches=200, seed=1)
    assert (input_scale_problem(raw_params, x) is not None) == flagged
    result = ipvae_snn.infer(raw_params, x, 65, seed=0, record_windows=[64], warn=False,
                             progress=False)
    assert bool(result.runaway_events()) == flagged
    assert (result.summary()[-1]["r2"] > 0.6) == (not flagged)
    assert input_scale_problem(params, x) is None
    normalised = ipvae_snn.infer(params, x, 65, seed=0, record_windows=[64], warn=False,
                                 progress=False)
    assert not normalised.runaway_events() and normalised.summary()[-1]["r2"] > 0.6


def test_raw_and_unwhitened_grey_levels_are_flagged(raw_params, params):
    raw = _raw_patches().reshape(50, -1)
    assert "pixel RMS" in input_scale_problem(raw_params, raw)
    assert "not centred" in input_scale_problem(raw_params, raw / 255)   # [0, 1] grey
    assert input_scale_problem(raw_params, np.zeros((3, 256))) is None   # blank patches
    # normalised, raw pixels are no longer out of scale, but still not centred
    assert "not centred" in input_scale_problem(params, raw)
    assert "pixel RMS" not in input_scale_problem(params, raw)


def test_check_input_scale_warns_or_refuses(raw_params):
    x = 10 * natural_patches(n_patches=20, seed=0)
    with pytest.warns(InputScaleWarning, match="20 of 20 patches have pixel RMS"):
        assert check_input_scale(raw_params, x) is x
    with pytest.raises(InputScaleError, match="x10|10x") as info:
        check_input_scale(raw_params, x, strict=True)
    assert isinstance(info.value, InvalidValueError) and "\n" not in str(info.value)


def test_infer_and_the_network_check_before_running(raw_params):
    x = 10 * natural_patches(n_patches=4, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputScaleWarning)
        with pytest.raises(InputScaleWarning, match="run away"):
            ipvae_snn.infer(raw_params, x, 3, seed=0, progress=False)
        with pytest.raises(InputScaleWarning, match="run away"):
            # raised before any code generation or compilation
            ipvae_snn.SpikingIPVAE(raw_params, device="runtime").run(x, 3, seed=0)
        ipvae_snn.infer(raw_params, x, 3, seed=0, progress=False, warn=False)


def test_a_models_own_training_scale_is_used(raw_params):
    x = 10 * natural_patches(n_patches=20, seed=0)
    scaled = raw_params.replace(metadata={**raw_params.metadata, "train_patch_rms": 10.0})
    assert input_scale_problem(scaled, x) is None
    assert input_scale_problem(scaled, x / 10) is None
    assert input_scale_problem(scaled, 5 * x) is not None


# ----------------------------------------------------- patches_from_images
def test_files_arrays_and_names_go_through_one_pipeline(tmp_path):
    from skimage import io
    rng = np.random.default_rng(0)
    img = (rng.random((200, 260, 3)) * 255).astype(np.uint8)
    io.imsave(tmp_path / "a.png", img)
    io.imsave(tmp_path / "a.tif", img)
    from_file = patches_from_images(tmp_path / "a.png", n_patches=30, seed=2)
    np.testing.assert_array_equal(from_file, patches_from_images(img, n_patches=30, seed=2))
    np.testing.assert_array_equal(from_file, patches_from_images(str(tmp_path / "a.tif"),
                                                                 n_patches=30, seed=2))
    np.testing.assert_array_equal(patches_from_images(["camera", "moon"], n_patches=9,
                                                      seed=3),
                                  natural_patches(["camera", "moon"], n_patches=9, seed=3))
    x, source = patches_from_images([img, "chelsea"], n_patches=5, seed=0,
                                    return_source=True)
    assert x.shape == (5, 256) and source.tolist() == [0, 0, 0, 1, 1]


def test_the_contrast_of_a_photograph_does_not_matter():
    """The pipeline is linear up to its normalisations: a flat copy gives the
    same patches; a darker, flatter one stays on the model's scale."""
    grey = load_image("chelsea", downsample=False)
    patches = patches_from_images(grey, n_patches=40, seed=0)
    np.testing.assert_allclose(patches_from_images(0.1 * grey, n_patches=40, seed=0),
                               patches, atol=1e-9)
    assert input_scale_problem(None, patches) is None
    assert input_scale_problem(None, patches_from_images(0.2 + 0.1 * grey, n_patches=40,
                                                         seed=0)) is None


@pytest.mark.parametrize("make, error, needle", [
    (lambda d: d / "missing.png", MissingFileError, "image file '"),
    (lambda d: "nosuchimage", MissingFileError, "no bundled image of that name"),
    (lambda d: (d / "notes.png").write_text("not an image") and d / "notes.png",
     InvalidValueError, "cannot be read as an image"),
    (lambda d: d, InvalidValueError, "is a folder"),
    (lambda d: 42, InvalidTypeError, "expected image files"),
    (lambda d: [3.5], InvalidTypeError, "images[0]: expected an image file"),
    (lambda d: np.zeros(300), InvalidValueError, "expected a gray"),
    (lambda d: np.zeros((100, 300)), InvalidValueError, "smaller than one 64x64 frame"),
    (lambda d: np.full((200, 200), np.nan), InvalidValueError, "NaN"),
    (lambda d: [], InvalidValueError, "at least one image"),
])
def test_bad_images_are_one_line_errors(tmp_path, make, error, needle):
    with pytest.raises(error) as info:
        patches_from_images(make(tmp_path), n_patches=4)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_the_cli_names_a_bad_image_and_keeps_it(photo, capsys, monkeypatch):
    from skimage import io
    monkeypatch.chdir(photo.parent)
    io.imsave("small.png", np.zeros((60, 60), np.uint8), check_contrast=False)
    rc, out, err = _run(capsys, "infer", "--images", "photo.png,small.png", "--steps", "2",
                        "--quiet")
    assert rc == 2 and "image file 'small.png' is 30x30" in err and err.count("\n") == 1
    before = _sha("photo.png")
    rc, out, err = _run(capsys, "infer", "--images", "photo.png", "--out", "photo.png",
                        "--steps", "2", "--quiet")
    assert rc == 2 and "--out 'photo.png' is the same file as --images" in err
    assert _sha("photo.png") == before


@pytest.mark.parametrize("command", ["infer", "simulate", "stats"])
def test_every_command_with_images_takes_files_and_strict(command):
    from ipvae_snn.cli import build_parser
    args = build_parser().parse_args([command, "--images", "a.png,camera", "--strict"])
    assert args.images == "a.png,camera" and args.strict


# ------------------------------------------- the measurements of the docs page
DOC = "docs/own-images.md"


def scale_table(photo):
    """
    The table of ``docs/own-images.md``: each input's patches flagged by the
    check, median patch RMS, runaway patches and mean R² at T = 64 of the
    default model's dictionary given the inputs as they are (the rule's case: a
    model without a contrast normalisation), then of the default model itself,
    which divides each patch by its contrast (reference algorithm, seed 0).
    """
    normalised = ipvae_snn.default_params()
    params = normalised.replace(contrast=None)
    held_out = natural_patches(HELD_OUT_IMAGES, n_patches=200, seed=1)
    raw = _raw_patches().reshape(50, -1)
    inputs = [(f"held-out patches x{c:g}", c * held_out) for c in (1, 2, 2.5, 3, 5, 10)]
    inputs += [("photo.png through patches_from_images",
                patches_from_images(photo, n_patches=200, seed=0)),
               ("raw 0-255 crops", raw), ("raw grey levels in [0, 1]", raw / 255)]
    rows = []
    for label, x in inputs:
        rms = np.sqrt(np.mean(x ** 2, axis=1))
        result = ipvae_snn.infer(params, x, 65, seed=0, record_windows=[64], warn=False,
                                 progress=False)
        problem = input_scale_problem(params, x)
        norm = ipvae_snn.infer(normalised, x, 65, seed=0, record_windows=[64], warn=False,
                               progress=False)
        rows.append((label, len(x), int(np.count_nonzero(rms > SCALE_LIMIT
                                                          * TRAIN_PATCH_RMS)),
                     "no" if problem is None else "yes", float(np.median(rms)),
                     len({p for p, _, _ in result.runaway_events()}),
                     float(result.summary()[-1]["r2"]),
                     len({p for p, _, _ in norm.runaway_events()}),
                     float(norm.summary()[-1]["r2"])))
    return rows


def format_row(row):
    label, n, high, warned, rms, runaway, r2, norm_runaway, norm_r2 = row
    return (f"| {label} | {n} | {high} | {warned} | {rms:.3g} | {runaway} | {r2:.3g} | "
            f"{norm_runaway} | {norm_r2:.3g} |")


def test_the_docs_table_is_a_run(photo):
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, DOC), encoding="utf-8") as f:
        doc = f.read()
    for row in scale_table(photo):
        assert format_row(row) in doc, format_row(row)
