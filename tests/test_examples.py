"""
Every script of ``examples/`` runs from the checkout in its ``--quick`` mode
and writes the figures its docstring promises, as real images with content.

The examples compile their networks with ``cpp_standalone``; they share one
build folder per test session (``$IPVAE_SNN_CACHE``), so each network shape
compiles once for all of them.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")

#: Example script -> the files its --quick run must write.
OUTPUTS = {
    "natural_images.py": [
        "natural_reconstructions.png", "natural_window_curves.png",
        "natural_raster_window.png", "natural_membrane_window.png",
        "natural_raster_continuous.png", "natural_membrane_continuous.png",
        "natural_membrane_continuous_zoom.png", "natural_images.json"],
    "digits.py": ["digits_reconstructions.png", "digits_raster.png",
                  "digits_active_fields.png", "digits.json"],
    "hubel_wiesel.py": ["hubel_wiesel_stimuli.png", "hubel_wiesel_tuning.png",
                        "hubel_wiesel_examples.png", "hubel_wiesel_preferred.png",
                        "hubel_wiesel.json"],
    "cortex_comparison.py": ["cortex_comparison.png", "cortex_distributions.png",
                             "cortex_table.txt", "cortex_table.json"],
    "out_of_distribution.py": ["ood_curves.png", "ood_examples.png",
                               "ood_summary.txt", "out_of_distribution.json"],
    "rate_distortion.py": ["rate_distortion_plane.png", "rate_distortion_curves.png",
                           "rate_distortion_points.json"],
    "embed_in_brian2.py": ["embed_in_brian2.png"],
}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_every_example_is_covered():
    scripts = sorted(f for f in os.listdir(EXAMPLES)
                     if f.endswith(".py") and not f.startswith("_"))
    assert scripts == sorted(OUTPUTS)


def _check_png(path):
    import matplotlib.image as mpimg
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE, f"{path} is not a PNG"
    assert os.path.getsize(path) > 10_000, f"{path} is suspiciously small"
    img = mpimg.imread(path)
    height, width = img.shape[:2]
    assert height >= 200 and width >= 300, (path, img.shape)
    gray = img[..., :3].mean(axis=-1)
    # Content: not one flat colour, and more than a handful of distinct levels.
    assert gray.std() > 0.02, f"{path} is (nearly) blank"
    assert np.unique(np.round(gray, 2)).size > 10, f"{path} has almost no content"


@pytest.mark.standalone
@pytest.mark.usefixtures("cxx_compiler")     # the examples compile with cpp_standalone
@pytest.mark.parametrize("script", sorted(OUTPUTS))
def test_example_quick_mode_writes_its_figures(script, tmp_path, snn_cache):
    env = dict(os.environ, IPVAE_SNN_CACHE=snn_cache, MPLBACKEND="Agg")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), "--quick",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = sorted(os.listdir(out))
    assert written == sorted(OUTPUTS[script]), written
    for name in OUTPUTS[script]:
        path = out / name
        assert f"wrote {path}" in proc.stdout
        if name.endswith(".png"):
            _check_png(str(path))
        else:
            assert path.stat().st_size > 200
        if name == script.replace(".py", ".json"):
            # the numbers the docs quote, with the command that made them
            # (without --out, a path of this machine)
            import json
            doc = json.loads(path.read_text())
            assert doc["command"] == f"python examples/{script} --quick", doc["command"]
            assert doc["numbers"] and all(isinstance(v, str) and v
                                          for v in doc["numbers"].values())
    if script == "cortex_comparison.py":
        import json

        from ipvae_snn.stats import load_cortex_reference
        doc = json.loads((out / "cortex_table.json").read_text())
        measures = list(load_cortex_reference()["measures"])
        assert [r["measure"] for r in doc["rows"]] == measures
        for r in doc["rows"]:
            if r["inside"] is not None:
                assert r["inside"] == (r["low"] <= r["network"] <= r["high"])
        text = (out / "cortex_table.txt").read_text()
        assert all(r["label"] in text for r in doc["rows"])


def test_examples_reject_bad_arguments(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, "digits.py"),
                           "--device", "gpu", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "invalid choice: 'gpu'" in proc.stderr
    assert not os.listdir(tmp_path)
