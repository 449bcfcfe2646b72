"""
Ctrl-C and SIGTERM end ``ipvae-snn`` with one line and the
shell's statuses (130, 143): no traceback, no Brian2 bug-report banner, no
compiled program left running, no half-built project, run folder or
temporary file left behind. These run the command line as a subprocess (a
signal needs a process of its own) and poll for each phase, with generous
timeouts for a loaded machine.
"""

import glob
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ipvae_snn import IPVAEParams

pytestmark = pytest.mark.standalone

# 2001 windows (--windows 2000): a window count whose input grid Brian2 used to
# call "not aligned", and runs long enough to be interrupted.
SIMULATE = ["simulate", "--n-patches", "40", "--windows", "2000", "--jobs", "2",
            "--quiet"]


def _foreground_signals():
    # A command typed at a shell prompt starts with SIGINT at its default; one
    # started in the background of a non-interactive shell (``pytest &``,
    # nohup) inherits it ignored, and Python then never raises
    # KeyboardInterrupt. The tests are of the command a user runs.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(argv, env, cwd):
    return subprocess.Popen([sys.executable, "-m", "ipvae_snn.cli", *argv], env=env,
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_foreground_signals)


def _wait_for(proc, pattern, timeout=300):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if glob.glob(pattern):
            return
        if proc.poll() is not None:
            pytest.fail(f"ended before {pattern} appeared: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{pattern} did not appear within {timeout} s")


def _processes_mentioning(text):
    """Processes (other than ours) whose command line holds ``text``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def _stop(proc, signum):
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


@pytest.fixture
def env(tmp_path, cxx_compiler):
    cache = tmp_path / "cache"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return dict(os.environ, IPVAE_SNN_CACHE=str(cache), TMPDIR=str(tmp))


@pytest.mark.parametrize("signum, status, line", [
    (signal.SIGINT, 130, "ipvae-snn: interrupted"),
    (signal.SIGTERM, 143, "ipvae-snn: terminated"),
])
def test_signal_during_the_first_compile(env, tmp_path, signum, status, line):
    cache = env["IPVAE_SNN_CACHE"]
    proc = _start(SIMULATE, env, tmp_path)
    _wait_for(proc, os.path.join(cache, "*.building", "make.log"))
    time.sleep(0.5)                                   # make and the compiler run
    assert _processes_mentioning(cache) or proc.poll() is None
    code, out, err = _stop(proc, signum)
    assert code == status, err
    assert err == line + "\n" and out == ""
    assert not glob.glob(os.path.join(cache, "*.building"))
    assert not [p for p in glob.glob(os.path.join(cache, "*")) if os.path.isdir(p)]
    time.sleep(0.5)
    assert _processes_mentioning(cache) == []
    assert not glob.glob(os.path.join(env["TMPDIR"], "cc*"))   # compiler temporaries


@pytest.fixture
def built_env(env, tmp_path):
    """A cache holding the program of SIMULATE (built by one full run)."""
    proc = _start(SIMULATE + ["--n-patches", "3"], env, tmp_path)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    assert "not aligned" not in err and "WARNING" not in err, err
    return env


@pytest.mark.parametrize("signum, status, line", [
    (signal.SIGTERM, 143, "ipvae-snn: terminated"),
    (signal.SIGINT, 130, "ipvae-snn: interrupted"),
])
def test_signal_during_a_run(built_env, tmp_path, signum, status, line):
    cache = built_env["IPVAE_SNN_CACHE"]
    proc = _start(SIMULATE, built_env, tmp_path)
    _wait_for(proc, os.path.join(cache, "*", "call-*", "run*", "drive.dat"))
    deadline = time.monotonic() + 60
    while not _processes_mentioning(cache) and time.monotonic() < deadline:
        time.sleep(0.05)                 # a compiled program is running
    assert _processes_mentioning(cache)
    code, out, err = _stop(proc, signum)
    assert code == status, err
    assert err == line + "\n" and out == ""
    time.sleep(0.5)
    assert _processes_mentioning(cache) == []        # no orphaned programs
    assert not glob.glob(os.path.join(cache, "*", "call-*"))
    # the build is intact: the next run uses it
    again = _start(SIMULATE + ["--n-patches", "2", "--json"], built_env, tmp_path)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0 and "compil" not in err, err


def test_sigterm_during_a_fit_keeps_the_checkpoint_and_no_temp_file(tmp_path):
    """A fit killed between (or during) checkpoint saves: exit 143, a complete
    checkpoint, no hidden temporary file, the hint to resume."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.standard_normal((4000, 64)))
    argv = ["fit", "--patches", "x.npy", "--n-components", "24", "--epochs", "200",
            "--batch-size", "20", "--t-train", "4", "--checkpoint", "ck.npz",
            "--checkpoint-every", "1", "--out", "model.npz", "--no-figure", "--quiet"]
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"))
    proc = _start(argv, env, tmp_path)
    _wait_for(proc, str(tmp_path / "ck.npz"), timeout=300)
    time.sleep(1.0)
    code, out, err = _stop(proc, signal.SIGTERM)
    assert code == 143, err
    assert err.splitlines()[-1] == "ipvae-snn: terminated"
    assert "--resume" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["ck.npz", "tmp", "x.npy"]
    with np.load(tmp_path / "ck.npz") as ck:
        assert str(ck["format"]) == "ipvae-snn-fit-checkpoint-v1"
        assert int(ck["n_done"]) >= 1
        assert IPVAEParams.from_arrays({k[8:]: ck[k] for k in ck.files
                                        if k.startswith("params__")}).n_latents == 24
