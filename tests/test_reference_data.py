"""
The trimmed reference data in ``tests/data/reference`` against the full shared
folder: the copy the step-exact tests run on must be the official data, and
the replay must hold on all 64 official patches where the full traces exist.
"""

import filecmp
import json
import os

import numpy as np

from ipvae_snn import replay
from ipvae_snn.params import default_model_path


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
    assert filecmp.cmp(default_model_path(), os.path.join(reference_dir, "ipvae_k512.npz"),
                       shallow=False)
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
