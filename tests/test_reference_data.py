"""
The trimmed reference data in ``tests/data/reference`` against the full shared
folder: the copy the step-exact tests run on must be the official data, and
the replay must hold on all 64 official patches where the full traces exist.
"""

import filecmp
import json
import os

import numpy as np
import pytest

from ipvae_snn import replay
from ipvae_snn.params import bundled_model_path


def _npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def test_trimmed_data_is_small_and_complete(test_data_dir, official_dir):
    total = sum(os.path.getsize(os.path.join(root, f))
                for root, _, files in os.walk(test_data_dir) for f in files)
    assert total <= 3 * 1024 ** 2, f"tests/data is {total / 1024 ** 2:.1f} MB"
    traces = _npz(os.path.join(test_data_dir, "traces.npz"))
    assert traces["x"].shape == (8, 256) and traces["u"].shape == (8, 64, 512)
    assert traces["z"].shape == (8, 64, 512) and traces["u_final"].shape == (8, 512)
    assert sorted(os.listdir(official_dir))[:2] == ["ConfigPoisVAE.json",
                                                    "ConfigTrain.json"]


def test_trimmed_copy_equals_the_shared_data(reference_dir, test_data_dir, official_dir):
    full = _npz(os.path.join(reference_dir, "traces.npz"))
    trimmed = _npz(os.path.join(test_data_dir, "traces.npz"))
    n = len(trimmed["x"])
    for key, value in trimmed.items():
        want = full[key][:n] if full[key].ndim else full[key]
        np.testing.assert_array_equal(value, want, err_msg=key)
    assert filecmp.cmp(bundled_model_path("official"),
                       os.path.join(reference_dir, "ipvae_k512.npz"), shallow=False)
    shared = os.path.join(reference_dir, os.path.basename(official_dir))
    for name in os.listdir(shared):
        assert filecmp.cmp(os.path.join(official_dir, name), os.path.join(shared, name),
                           shallow=False), name
    with open(os.path.join(reference_dir, "metrics.json")) as f:
        full_metrics = json.load(f)
    with open(os.path.join(test_data_dir, "metrics.json")) as f:
        small = json.load(f)
    assert small["results"] == {"temp=0": {"by_T": full_metrics["results"]["temp=0"]["by_T"]}}
    patches = _npz(os.path.join(test_data_dir, "patches_shared.npz"))
    full_patches = _npz(os.path.join(reference_dir, "patches_shared.npz"))
    for key, value in patches.items():
        want = full_patches[key]
        np.testing.assert_array_equal(value, want[:len(value)] if want.ndim else want)


def test_replay_on_all_official_patches(reference_dir, reference_params):
    """The step-exact replay of the trimmed tests, on all 64 official patches."""
    full = _npz(os.path.join(reference_dir, "traces.npz"))
    u = replay(reference_params, full["x"], full["z"], dtype=np.float64)
    target = np.concatenate([full["u"], full["u_final"][:, None]], axis=1)
    assert u.shape == (64, 65, 512)
    assert np.abs(u - target).max() <= 1e-4


STEP_EXACT = ["tests/test_reference.py::test_teacher_forced_steps_match_official",
              "tests/test_reference.py::test_free_running_replay_matches_official",
              "tests/test_network.py::test_replay_runtime_matches_official",
              "tests/test_official.py::test_equals_exported_npz"]


@pytest.mark.slow
def test_a_fresh_clone_runs_the_step_exact_tests(tmp_path):
    """A checkout without ../shared (and a $IPVAE_SNN_REFERENCE that points
    nowhere) runs the step-exact replay tests on tests/data: none skips."""
    import shutil
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    clone = tmp_path / "clone"            # its ../shared is tmp_path/shared: absent
    ignore = shutil.ignore_patterns("__pycache__", ".hypothesis")
    for name in ("ipvae_snn", "equations", "tests"):
        shutil.copytree(os.path.join(root, name), clone / name, ignore=ignore)
    for name in ("setup.cfg", "conftest.py", "pyproject.toml"):
        shutil.copy(os.path.join(root, name), clone / name)
    env = dict(os.environ, PYTHONPATH=str(clone),
               IPVAE_SNN_REFERENCE=str(tmp_path / "nowhere"))
    env.pop("IPVAE_SNN_REQUIRE_REFERENCE", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p",
                           "no:cacheprovider", *STEP_EXACT], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(STEP_EXACT)} passed" in proc.stdout and "skipped" not in proc.stdout
    assert f"{clone}" in subprocess.run(
        [sys.executable, "-c", "import ipvae_snn; print(ipvae_snn.__file__)"],
        cwd=clone, env=env, capture_output=True, text=True).stdout
