"""The ``ipvae-snn`` command line: subcommands, their output files and bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ipvae_snn import InferenceResult
from ipvae_snn.cli import main


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_infer_table(capsys):
    rc, out, err = _run(capsys, "infer", "--steps", "16", "--n-patches", "30",
                        "--quiet")
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("ipvae-snn infer: 30 patches (chelsea, gravel; seed 0)")
    assert lines[1].split()[:3] == ["T", "R²", "mean"]
    rows = [line.split() for line in lines[2:]]
    assert [int(r[0]) for r in rows] == [1, 4, 16]
    values = np.array([[float(v) for v in r] for r in rows])
    assert np.all((values[:, 3] > 0) & (values[:, 3] <= 1))      # zero fraction
    assert values[-1, 1] > values[0, 1]                           # R² improves


def test_infer_json_is_one_object_and_matches_the_table(capsys):
    args = ("infer", "--steps", "20", "--n-patches", "25", "--seed", "4")
    rc, out, _ = _run(capsys, *args, "--json")
    assert rc == 0
    doc = json.loads(out)                         # the whole of stdout
    assert doc["command"] == "infer" and doc["steps"] == 20
    assert doc["n_windows"] == 21 and doc["n_patches"] == 25 and doc["seed"] == 4
    assert [row["T"] for row in doc["summary"]] == [1, 4, 16, 20]
    for key in ("r2", "zero_fraction", "mean_count", "mse"):
        assert all(np.isfinite(row[key]) for row in doc["summary"])
    rc, table, _ = _run(capsys, *args, "--quiet")
    last = table.strip().splitlines()[-1].split()
    assert float(last[1]) == pytest.approx(doc["summary"][-1]["r2"], abs=1e-4)
    rc, again, _ = _run(capsys, *args, "--json")
    assert json.loads(again)["summary"] == doc["summary"]          # seeded


def test_infer_writes_result_and_figure(capsys, tmp_path):
    out_file, fig_file = tmp_path / "res.npz", tmp_path / "fig.png"
    rc, out, err = _run(capsys, "infer", "--steps", "70", "--n-patches", "12",
                        "--out", str(out_file), "--figure", str(fig_file),
                        "--quiet")
    assert rc == 0, err
    assert f"figure written to {fig_file}" in out
    assert fig_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = InferenceResult.load(out_file)
    assert res.n_windows == 71 and res.n_patches == 12
    assert {1, 4, 16, 64, 70} <= set(res.windows.tolist())
    assert len(res.windows) < 71                  # only the summary windows
    assert sorted(os.listdir(tmp_path)) == ["fig.png", "res.npz"]


def test_infer_user_patches(capsys, tmp_path):
    x = np.random.default_rng(0).standard_normal((6, 16, 16))
    np.savez(tmp_path / "mine.npz", patches=x, labels=np.arange(6))
    rc, out, _ = _run(capsys, "infer", "--steps", "3", "--patches",
                      str(tmp_path / "mine.npz"), "--json")
    assert rc == 0
    doc = json.loads(out)
    assert doc["n_patches"] == 6 and doc["patches"].endswith("mine.npz")


def test_infer_other_model(capsys, tmp_path, params):
    params.replace(lr=params.lr / 2).save(tmp_path / "half.npz")
    rc, out, _ = _run(capsys, "infer", "--steps", "2", "--n-patches", "4",
                      "--model", str(tmp_path / "half.npz"), "--quiet")
    assert rc == 0 and "model half.npz" in out


@pytest.mark.parametrize("make, needle", [
    (None, "does not exist"),
    (lambda p: np.save(p, np.zeros((3, 100))), "256 pixels"),
    (lambda p: np.save(p, np.full((3, 256), np.nan)), "non-finite"),
    (lambda p: p.write_bytes(b"garbage"), "not a readable"),
    (lambda p: np.savez(p.with_suffix(".npz"), a=np.zeros((1, 256)),
                        b=np.zeros((1, 256))), "several arrays"),
])
def test_bad_patch_files_exit_2_with_one_line(capsys, tmp_path, make, needle):
    path = tmp_path / "x.npy"
    if make is not None:
        make(path)
        if not path.exists():
            path = path.with_suffix(".npz")
    rc, out, err = _run(capsys, "infer", "--steps", "2", "--patches", str(path))
    assert rc == 2 and out == ""
    assert err.startswith("ipvae-snn: error: ") and needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv, needle", [
    (["--model", "missing.npz"], "model file 'missing.npz' does not exist"),
    (["--images", "chelsea,unknown"], "'unknown' is not available"),
    (["--figure", "f.xyz"], "unknown format '.xyz'"),
])
def test_other_bad_input_exits_2(capsys, argv, needle):
    rc, out, err = _run(capsys, "infer", "--steps", "2", "--n-patches", "2", *argv)
    assert rc == 2 and out == "" and needle in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [
    ["infer", "--steps", "0"],
    ["infer", "--n-patches", "-3"],
    ["infer", "--n-patches", "3", "--patches", "x.npy"],
    ["frobnicate"],
    [],
])
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_console_command_in_a_subprocess(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ipvae_snn.cli", "infer", "--steps", "4",
         "--n-patches", "5", "--json"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"][-1]["T"] == 4
    proc = subprocess.run(
        [sys.executable, "-m", "ipvae_snn.cli", "infer", "--patches", "nope.npy"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "ipvae-snn: error: patches file 'nope.npy' does " \
                                  "not exist"
