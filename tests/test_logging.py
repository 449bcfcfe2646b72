"""
Notices go through `logging` (logger ``ipvae_snn`` and its children): a
program's own handler receives them, and the command line shows them on
stderr as ``ipvae-snn: ...`` lines while it runs, and only then.
"""

import logging
import os
import subprocess
import sys

import pytest

from ipvae_snn.cli import StderrHandler, main, notices_on_stderr
from ipvae_snn.cli.common import warn
from ipvae_snn.network.program import ProgramCache


class _Spec:
    realization = "window"

    @staticmethod
    def key():
        return "fake"


def _fake_build(spec, directory):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "main"), "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(os.path.join(directory, "main"), 0o755)
    return dict(binary="main", results={}, args={}, dtypes={})


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def records():
    """A handler of the program's own on the ``ipvae_snn`` logger, at INFO."""
    logger, handler = logging.getLogger("ipvae_snn"), _Records()
    old = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(old)


def test_the_compile_notice_reaches_a_logging_handler(tmp_path, records, capfd):
    cache = ProgramCache(str(tmp_path / "cache"))
    cache.load_or_build(_Spec, _fake_build, description="the tiny network", progress=True)
    notices = [r for r in records if "compiling the tiny network" in r.getMessage()]
    assert len(notices) == 1
    assert notices[0].name == "ipvae_snn.network.program"
    assert notices[0].levelno == logging.INFO
    assert cache.path(_Spec) in notices[0].getMessage()
    # the library itself prints nothing: showing it is the handler's business
    assert capfd.readouterr().err == ""
    records.clear()
    cache.load_or_build(_Spec, _fake_build, description="the tiny network", progress=True)
    assert records == []                # cached: nothing to say


def test_the_command_line_shows_notices_and_warnings_on_stderr(capsys):
    with notices_on_stderr():
        logging.getLogger("ipvae_snn.network.program").info("compiling x (once) ...")
        warn("a warning of the command line")
        logging.getLogger("ipvae_snn.network.program").debug("not shown")
        logging.getLogger("elsewhere").warning("not ours")
    err = capsys.readouterr().err
    assert err.splitlines() == ["ipvae-snn: compiling x (once) ...",
                                "ipvae-snn: warning: a warning of the command line"]
    # outside the command the handler is gone, and the logger as it was
    logger = logging.getLogger("ipvae_snn")
    assert not any(isinstance(h, StderrHandler) for h in logger.handlers)
    assert logger.level == logging.NOTSET


def test_main_removes_its_handler_also_after_an_error(capsys):
    assert main(["infer", "--steps", "2", "--patches", "missing.npy"]) == 2
    assert capsys.readouterr().err.startswith("ipvae-snn: error: ")
    assert not any(isinstance(h, StderrHandler)
                   for h in logging.getLogger("ipvae_snn").handlers)


def test_a_notice_of_a_command_reaches_its_stderr(tmp_path):
    """A real command's notice (the compile cache's) as a line on stderr."""
    code = ("import logging, sys\n"
            "from ipvae_snn.cli import notices_on_stderr\n"
            "from ipvae_snn.network.program import notice\n"
            "with notices_on_stderr():\n"
            "    notice('compiling the network (once) ...')\n"
            "    notice('the cached build is damaged; rebuilding it', logging.WARNING)\n"
            "notice('after the command: not shown')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "ipvae-snn: compiling the network (once) ...",
        "ipvae-snn: warning: the cached build is damaged; rebuilding it"]
    assert proc.stdout == ""
