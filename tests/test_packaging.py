"""
The package as a user installs it: the sdist and the wheel are built from a
copy of the checkout (the wheel from the unpacked sdist, as pip does from an
index), both carry the LICENSE, the wheel holds every module of the source
tree and its data, and — installed non-editable in a fresh virtual
environment, from a working folder outside the checkout — every module
imports and every subcommand runs (``--help`` and a tiny run).

The fresh environment borrows the dependencies of this one through a plain
path line in a ``.pth`` file: a plain path line does not process that
folder's own ``.pth`` files, so an editable install of this checkout there is
not seen, and the test checks that ``ipvae_snn`` comes from the wheel.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: What a copy of the checkout leaves out: version control, environments,
#: builds, caches and outputs.
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info",
                                     "__pycache__", "*.pyc", ".cache", ".pytest_cache",
                                     ".hypothesis", "output", "results", "examples_output")

pytestmark = pytest.mark.slow


def source_modules():
    """Every module of the source tree, as the wheel names it."""
    out = []
    for base, package in (("ipvae_snn", "ipvae_snn"), ("equations", "ipvae_snn.equations")):
        top = os.path.join(ROOT, base)
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            rel = os.path.relpath(folder, top)
            prefix = package if rel == "." else f"{package}.{rel.replace(os.sep, '.')}"
            for name in files:
                if name.endswith(".py"):
                    out.append(prefix if name == "__init__.py" else f"{prefix}.{name[:-3]}")
    return sorted(out)


def _build(tmp, what, source):
    """``setuptools.build_meta.build_<what>`` in ``source``; the built file."""
    out = os.path.join(tmp, "dist")
    os.makedirs(out, exist_ok=True)
    code = ("import sys\nfrom setuptools import build_meta\n"
            f"print(build_meta.build_{what}(sys.argv[1]))\n")
    proc = subprocess.run([sys.executable, "-c", code, out], cwd=source, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return os.path.join(out, proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sdist, and the wheel built from the unpacked sdist."""
    pytest.importorskip("setuptools", minversion="64")
    tmp = str(tmp_path_factory.mktemp("packaging"))
    copy = os.path.join(tmp, "checkout")
    shutil.copytree(ROOT, copy, ignore=_NOT_SOURCE)
    sdist = _build(tmp, "sdist", copy)
    with tarfile.open(sdist) as tar:
        # the "data" filter where this Python has it (3.10.12+, 3.11.4+)
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(os.path.join(tmp, "unpacked"), **safe)
    unpacked, = glob.glob(os.path.join(tmp, "unpacked", "*"))
    wheel = _build(tmp, "wheel", unpacked)
    return dict(tmp=tmp, sdist=sdist, wheel=wheel)


@pytest.fixture(scope="module")
def venv(built):
    """A fresh environment with the wheel installed (not editable)."""
    tmp = built["tmp"]
    home = os.path.join(tmp, "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", home], check=True,
                   timeout=120)
    python = os.path.join(home, "bin", "python")
    # pip of this environment installs into the fresh one (--python), before
    # the fresh one can see this one's packages
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install",
                           "--no-deps", "--no-index", "--disable-pip-version-check", "-q",
                           built["wheel"]], capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    with open(os.path.join(site, "_dependencies_of_the_test.pth"), "w") as f:
        f.write("".join(f"{path}\n" for path in ours))
    work = os.path.join(tmp, "work")            # outside the checkout
    os.makedirs(work)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONNOUSERSITE="1", IPVAE_SNN_CACHE=os.path.join(tmp, "programs"),
               MPLBACKEND="Agg")
    return dict(home=home, python=python, site=site, work=work, env=env,
                bin=os.path.join(home, "bin"))


def _run(venv, *argv, timeout=300):
    proc = subprocess.run(list(argv), cwd=venv["work"], env=venv["env"],
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, (argv, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc.stdout


def test_sdist_and_wheel_carry_the_license_and_every_module(built):
    with tarfile.open(built["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "setup.cfg", "setup.py",
            "pyproject.toml", "equations/window.txt"} <= names
    with zipfile.ZipFile(built["wheel"]) as whl:
        files = set(whl.namelist())
        license_files = [n for n in files if n.endswith("/LICENSE") and ".dist-info/" in n]
        assert license_files, sorted(files)
        assert "MIT License" in whl.read(license_files[0]).decode()
        metadata = whl.read(next(n for n in files if n.endswith(".dist-info/METADATA")))
    assert b"License: MIT" in metadata or b"License-Expression: MIT" in metadata
    in_wheel = {n[:-3].replace("/", ".").removesuffix(".__init__")
                for n in files if n.endswith(".py")}
    missing = sorted(set(source_modules()) - in_wheel)
    assert not missing, f"modules of the source tree missing from the wheel: {missing}"
    for data in ("ipvae_snn/equations/window.txt", "ipvae_snn/equations/continuous.txt",
                 "ipvae_snn/cortex_v1.json", "ipvae_snn/models/ipvae_k512.npz"):
        assert data in files, data
    assert not any(n.startswith(("tests/", "equations/")) for n in files)


def test_every_module_imports_from_the_installed_wheel(venv):
    code = ("import importlib, json, sys\n"
            "out = {}\n"
            "for name in json.loads(sys.argv[1]):\n"
            "    try:\n"
            "        out[name] = importlib.import_module(name).__file__\n"
            "    except Exception as exc:\n"
            "        out[name] = f'{type(exc).__name__}: {exc}'\n"
            "print(json.dumps(out))\n")
    # the __main__ modules run a command when imported: they run below
    names = [n for n in source_modules() if not n.endswith(".__main__")]
    where = json.loads(_run(venv, venv["python"], "-c", code, json.dumps(names)))
    wrong = {n: f for n, f in where.items() if not f.startswith(venv["site"] + os.sep)}
    assert not wrong, f"not imported from the installed wheel: {wrong}"
    version = _run(venv, os.path.join(venv["bin"], "ipvae-snn"), "--version").split()
    with open(os.path.join(ROOT, "ipvae_snn", "_version.py"), encoding="utf-8") as f:
        assert f'__version__ = "{version[-1]}"' in f.read()


@pytest.mark.standalone
def test_every_subcommand_runs_from_the_installed_wheel(venv):
    """--help and a tiny run of each subcommand; simulate compiles its program
    (a fresh cache) and stats runs on that same program (the same windows)."""
    cli = os.path.join(venv["bin"], "ipvae-snn")
    _run(venv, cli, "--help")
    assert "usage: ipvae-snn" in _run(venv, venv["python"], "-m", "ipvae_snn.cli", "--help")
    for command in ("infer", "simulate", "stats", "convert", "fit"):
        assert f"usage: ipvae-snn {command}" in _run(venv, cli, command, "--help")
    doc = json.loads(_run(venv, cli, "infer", "--steps", "2", "--n-patches", "2", "--json"))
    assert doc["n_patches"] == 2
    doc = json.loads(_run(venv, cli, "simulate", "--windows", "32", "--n-patches", "2",
                          "--json", timeout=600))
    assert doc["n_patches"] == 2 and doc["timing"]["compiled"]
    doc = json.loads(_run(venv, cli, "stats", "--n-patches", "2", "--trials", "2",
                          "--windows", "33", "--json", timeout=600))
    assert doc["rows"]
    assert "model written to m.npz" in _run(venv, cli, "fit", "--n-patches", "64",
                                            "--epochs", "1", "--out", "m.npz", timeout=600)
    assert os.path.isfile(os.path.join(venv["work"], "m.npz"))
    assert os.path.isfile(os.path.join(venv["work"], "m_dictionary.png"))
    official = os.path.join(ROOT, "tests", "data", "reference", "ipvae_vh16like_k512")
    if subprocess.run([venv["python"], "-c", "import torch"], env=venv["env"],
                      capture_output=True, timeout=120, check=False).returncode:
        pytest.skip("convert needs torch (the official extra), absent here")
    doc = json.loads(_run(venv, cli, "convert", official, "official.npz", "--json"))
    assert os.path.isfile(os.path.join(venv["work"], "official.npz")) and doc


def test_setup_cfg_lists_every_package():
    # a package folder missing from setup.cfg's list would be left out of a
    # plain `pip install .` (the wheel tests above then fail too, more slowly)
    import configparser
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    listed = set(cfg["options"]["packages"].split())
    on_disk = {os.path.relpath(d, ROOT).replace(os.sep, ".")
               for d, _, files in os.walk(os.path.join(ROOT, "ipvae_snn"))
               if "__init__.py" in files and "__pycache__" not in d}
    assert on_disk | {"ipvae_snn.equations"} == listed
