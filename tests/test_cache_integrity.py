"""
The compile cache and the process around it stay clean under hostile
conditions, on the command line: SIGINT inherited as ignored (a background
job of a script), a full disk or a file-size limit in the cache, and Brian2's
temporary files (its debug log and script copy) after a traceback or
``kill -9``. One small program is compiled (with SIGINT ignored and sent
during its compilation) and reused.
"""

import glob
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ipvae_snn import IPVAEParams

pytestmark = pytest.mark.standalone

SIMULATE = ["simulate", "--model", "tiny.npz", "--n-patches", "3", "--windows", "6",
            "--jobs", "1", "--quiet"]


def _brian_files(folder):
    return sorted(glob.glob(os.path.join(folder, "brian_*")))


def _start(argv, env, cwd, preexec_fn=None):
    return subprocess.Popen([sys.executable, "-m", "ipvae_snn.cli", *argv], env=env,
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=preexec_fn)


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _wait_for(proc, pattern, timeout=600):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if glob.glob(pattern):
            return
        if proc.poll() is not None:
            pytest.fail(f"ended before {pattern} appeared: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{pattern} did not appear within {timeout} s")


@pytest.fixture(scope="module")
def built(tmp_path_factory, cxx_compiler):
    """
    A user folder with a tiny 256-pixel model and a cache holding its program,
    compiled by a run that inherited SIGINT as ignored and got SIGINTs while
    compiling (it used to die of ``TypeError: 'Handlers' object is not
    callable`` from Brian2's handler, exit 1, with ``<key>.building`` left).
    """
    home = tmp_path_factory.mktemp("user")
    tmp = home / "tmp"
    tmp.mkdir()
    p = IPVAEParams.random(256, 8, random_state=0, template=None)
    IPVAEParams(p.phi, p.sigma, p.bias, p.lr, np.zeros(8)).save(str(home / "tiny.npz"))
    env = dict(os.environ, IPVAE_SNN_CACHE=str(home / "cache"), TMPDIR=str(tmp))
    proc = _start(SIMULATE, env, home, preexec_fn=_ignore_sigint)
    _wait_for(proc, str(home / "cache" / "*.building" / "make.log"))
    for _ in range(3):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
    out, err = proc.communicate(timeout=900)
    return dict(home=home, env=env, tmp=tmp, code=proc.returncode, out=out, err=err)


def test_sigint_inherited_as_ignored_stays_ignored(built):
    assert built["code"] == 0, built["err"]
    assert "Traceback" not in built["err"] and "Handlers" not in built["err"]
    assert "R² mean" in built["out"]
    cache = built["env"]["IPVAE_SNN_CACHE"]
    assert not glob.glob(os.path.join(cache, "*.building"))


def test_brian2_leaves_no_temporary_files(built):
    """brian_debug_* and brian_script_* stayed in /tmp after tracebacks and
    kill -9."""
    assert _brian_files(built["tmp"]) == []
    # a window count of its own: the program is compiled, and killed while
    # compiling (a run of this tiny model can end between two polls)
    proc = _start(SIMULATE + ["--windows", "2000"], built["env"], built["home"])
    _wait_for(proc, os.path.join(built["env"]["IPVAE_SNN_CACHE"], "*.building", "make.log"))
    assert _brian_files(built["tmp"]) == []        # Brian2 is imported by now
    proc.kill()
    proc.communicate(timeout=60)
    assert _brian_files(built["tmp"]) == []


def _file_size_limit():
    """In the child: writes beyond 20 KiB fail with EFBIG (SIGXFSZ ignored)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20 * 1024, resource.RLIM_INFINITY))


def _cache_left_clean(cache):
    assert not glob.glob(os.path.join(cache, "*.building"))
    assert not glob.glob(os.path.join(cache, "*", "call-*"))


@pytest.mark.parametrize("fresh", [False, True], ids=["built cache", "empty cache"])
def test_a_full_cache_is_one_line_naming_it(built, tmp_path, fresh):
    """`ulimit -f 20; ipvae-snn simulate ...`: an OSError traceback ('262144
    requested and 2560 written'), `.building` left, the cache not named."""
    cache = str(tmp_path / "cache")
    if not fresh:
        # (without the build folder the kill -9 above leaves for a later cleanup)
        shutil.copytree(built["env"]["IPVAE_SNN_CACHE"], cache,
                        ignore=shutil.ignore_patterns("call-*", "*.building"))
    env = dict(built["env"], IPVAE_SNN_CACHE=cache)
    start = time.monotonic()
    proc = _start(SIMULATE, env, built["home"], preexec_fn=_file_size_limit)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 2, err
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"the cache folder '{cache}' has no space left" in err, err
    assert "IPVAE_SNN_CACHE" in err
    _cache_left_clean(cache)
    if not fresh:                     # the build itself is untouched and used again
        assert time.monotonic() - start < 60
        again = _start(SIMULATE, env, built["home"])
        out, err = again.communicate(timeout=600)
        assert again.returncode == 0 and "compil" not in err, err
