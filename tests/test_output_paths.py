"""
The output-path policy (`ipvae_snn.io.check_output_path`, `atomic_path`):
regular files written atomically, device nodes and FIFOs written through and
kept, symbolic links followed, long legal names accepted, and every output of
a command checked before its work.
"""

import errno
import hashlib
import os
import stat
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ipvae_snn.io import atomic_savez, check_output_path, check_output_paths
from ipvae_snn.validation import FileWriteError

CLI = [sys.executable, "-m", "ipvae_snn.cli"]
INFER = ["infer", "--n-patches", "5", "--steps", "4", "--quiet"]
ROOT = os.geteuid() == 0


def _run(args, cwd, timeout=60, **kwargs):
    return subprocess.run(CLI + list(args), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def _one_line_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    err = proc.stderr
    assert err.startswith("ipvae-snn: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, (needle, err)


def _hashes(folder):
    return {name: hashlib.sha1(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder))
            if os.path.isfile(os.path.join(folder, name))}


def _null_device(path):
    """A copy of /dev/null (character device 1,3) at ``path``."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    return path


class _FifoReader(threading.Thread):
    """Reads a FIFO to its end in the background (a writer blocks without one)."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.data = path, None

    def run(self):
        with open(self.path, "rb") as f:
            self.data = f.read()


# ---------------------------------------------------------------- the API
def test_a_device_node_is_written_through_and_stays_a_device(tmp_path):
    node = _null_device(str(tmp_path / "null"))
    atomic_savez(node, a=np.arange(3))
    assert stat.S_ISCHR(os.stat(node).st_mode)
    assert os.listdir(tmp_path) == ["null"]                  # no temporary left


def test_a_fifo_receives_the_file_and_stays_a_fifo(tmp_path):
    fifo = str(tmp_path / "pipe")
    os.mkfifo(fifo)
    reader = _FifoReader(fifo)
    reader.start()
    atomic_savez(fifo, a=np.arange(5))
    reader.join(10)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    (tmp_path / "copy.npz").write_bytes(reader.data)
    assert np.load(tmp_path / "copy.npz")["a"].tolist() == [0, 1, 2, 3, 4]


def test_a_symlink_is_kept_and_its_target_written(tmp_path):
    target = tmp_path / "real.npz"
    target.write_bytes(b"old")
    link = tmp_path / "link.npz"
    os.symlink("real.npz", link)
    atomic_savez(link, a=np.arange(2))
    assert os.path.islink(link) and os.readlink(link) == "real.npz"
    assert np.load(target)["a"].tolist() == [0, 1]


def test_a_legal_long_name_is_written(tmp_path):
    name = "x" * 245 + ".npz"                                # 249 characters
    assert check_output_path(tmp_path / name).through is False
    atomic_savez(tmp_path / name, a=np.arange(2))
    assert os.listdir(tmp_path) == [name]


def test_standard_streams_are_written_through():
    for path in ("/dev/stdout", "/dev/stderr", "/dev/fd/1", "/proc/self/fd/2"):
        assert check_output_path(path).through, path


@pytest.mark.parametrize("make, needle, code", [
    (lambda d: (d / "dir").mkdir() or d / "dir", "it is a folder", errno.EISDIR),
    (lambda d: (d / "file").write_text("x") and d / "file" / "r.npz",
     "is a file, not a folder", errno.ENOTDIR),
    (lambda d: d / ("y" * 300 + ".npz"), "", errno.ENAMETOOLONG),
])
def test_unwritable_paths_are_named_in_one_line(tmp_path, make, needle, code):
    path = make(tmp_path)
    before = _hashes(tmp_path)
    with pytest.raises(FileWriteError) as info:
        check_output_paths({"--out": path})
    assert info.value.errno == code
    assert str(info.value).startswith(f"--out '{path}' cannot be written")
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert "File exists" not in str(info.value)
    with pytest.raises(FileWriteError):                       # the API says the same
        atomic_savez(path, a=np.arange(2))
    assert _hashes(tmp_path) == before


# ---------------------------------------------------------- the command line
def test_cli_out_to_a_device_node_keeps_it_a_device(tmp_path):
    node = _null_device(str(tmp_path / "null"))
    proc = _run(INFER + ["--out", node], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISCHR(os.stat(node).st_mode)


def test_cli_out_to_a_fifo_and_through_a_symlink(tmp_path):
    fifo = str(tmp_path / "pipe")
    os.mkfifo(fifo)
    reader = _FifoReader(fifo)
    reader.start()
    proc = _run(INFER + ["--out", fifo], tmp_path)
    reader.join(10)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and reader.data[:2] == b"PK"
    os.symlink("res.npz", tmp_path / "link.npz")
    proc = _run(INFER + ["--out", "link.npz"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert os.path.islink(tmp_path / "link.npz")
    assert np.load(tmp_path / "res.npz")["n_windows"] == 5


def test_cli_legal_long_output_name(tmp_path):
    name = "r" * 245 + ".npz"
    proc = _run(INFER + ["--out", name], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tmp_path)) == [name]


def _unwritable_folder(base):
    """
    A folder the command may not write to, as the command names it, and how
    to run the command: a read-only folder, or for root (who writes anywhere)
    /sys, where no file can be created.
    """
    if not ROOT:
        ro = os.path.join(base, "rodir")
        os.mkdir(ro)
        os.chmod(ro, 0o555)
        return "rodir"
    try:
        open("/sys/ipvae-snn-probe", "w").close()
    except OSError:
        return "/sys"
    os.remove("/sys/ipvae-snn-probe")
    pytest.skip("no folder that root may not write to")


@pytest.mark.parametrize("command", [
    ["simulate", "--n-patches", "5", "--windows", "16", "--quiet"],
    ["infer", "--n-patches", "5", "--steps", "4", "--quiet"],
])
def test_an_unwritable_output_fails_before_the_run(tmp_path, command):
    ro = _unwritable_folder(tmp_path)
    option = "--nwb" if command[0] == "simulate" else "--figure"
    name = "run.nwb" if option == "--nwb" else "f.png"
    start = time.perf_counter()
    proc = _run(command + ["--out", "good.npz", option, f"{ro}/{name}"], tmp_path)
    _one_line_error(proc, f"{option} '{ro}/{name}' cannot be written", ro)
    assert time.perf_counter() - start < 30
    assert not os.path.exists(tmp_path / "good.npz")           # no run at all
    assert not os.path.exists(os.path.join(tmp_path, ro, name))


@pytest.mark.parametrize("figure", ["f.pgf"])
def test_a_figure_format_whose_program_is_missing_fails_first(tmp_path, figure):
    import shutil

    import matplotlib
    if shutil.which(matplotlib.rcParams["pgf.texsystem"]):
        pytest.skip("the TeX engine of .pgf is installed here")
    proc = _run(INFER + ["--figure", figure], tmp_path)
    _one_line_error(proc, f"figure path '{figure}'", "xelatex", "not installed")
    assert os.listdir(tmp_path) == []
