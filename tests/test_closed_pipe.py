"""
``ipvae-snn ... | head``: a reader that goes away before the output is
written ends every subcommand quietly, without a traceback.
"""

import os
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "ipvae_snn.cli"]


def _with_closed_reader(args, **kwargs):
    """Run the command with a stdout pipe whose reader is already gone."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(CLI + args, stdout=write, stderr=subprocess.PIPE, text=True,
                              timeout=300, **kwargs)
    finally:
        os.close(write)
    return proc


@pytest.mark.parametrize("args", [["--help"], ["infer", "--help"], ["simulate", "--help"],
                                  ["stats", "--help"], ["fit", "--help"],
                                  ["convert", "--help"]])
def test_help_into_a_closed_pipe(args):
    proc = _with_closed_reader(args)
    assert "Traceback" not in proc.stderr and proc.stderr == ""
    assert proc.returncode in (0, 141)


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_infer_into_a_closed_pipe(extra):
    proc = _with_closed_reader(["infer", "--n-patches", "5", "--steps", "4", "--quiet",
                                *extra])
    assert proc.stderr == "" and proc.returncode == 141


@pytest.mark.runtime
def test_simulate_into_a_closed_pipe(tmp_path):
    proc = _with_closed_reader(["simulate", "--device", "runtime", "--n-patches", "2",
                                "--windows", "2", "--quiet"],
                               env=dict(os.environ, IPVAE_SNN_CACHE=str(tmp_path)))
    assert "Traceback" not in proc.stderr and proc.returncode == 141
