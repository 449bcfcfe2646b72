"""
Compiled standalone programs and the folder that caches them.

A `ProgramCache` is a folder with one compiled project per `NetworkSpec`
(``<realization>-<key>/``), each with a manifest (``ipvae_manifest.json``)
that records the binary, the names of its run arguments and its result
files with their dtypes. A `Program` is one such project: it writes run
arguments, runs the binary and reads its results, without Brian2 (so later
processes, and other machines sharing the folder, run it without
rebuilding). Building is serialised by a file lock per project, so
concurrent processes compile each spec once.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from ..io import atomic_save_json

__all__ = ["ProgramCache", "Program", "default_cache_dir", "SEED_ENV"]

#: Environment variable read by the compiled program to seed its generators.
SEED_ENV = "IPVAE_SNN_SEED"


def default_cache_dir():
    """
    Where compiled networks are kept: ``$IPVAE_SNN_CACHE`` or the user cache.

    Examples
    --------
    >>> import os
    >>> os.path.isabs(default_cache_dir()) or "IPVAE_SNN_CACHE" in os.environ
    True
    """
    env = os.environ.get("IPVAE_SNN_CACHE")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ipvae-snn", "builds")


@contextlib.contextmanager
def _file_lock(path):
    import fcntl
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class ProgramCache:
    """
    A folder of compiled programs, one per `NetworkSpec`.

    Parameters
    ----------
    directory : str
        The cache folder (created when missing).
    """

    MANIFEST = "ipvae_manifest.json"

    def __init__(self, directory):
        self.directory = os.fspath(directory)

    def path(self, spec):
        """The project folder of ``spec``."""
        return os.path.join(self.directory, f"{spec.realization}-{spec.key()}")

    def load(self, spec):
        """The cached `Program` of ``spec``, or None."""
        return self._load(self.path(spec))

    def _load(self, directory):
        manifest_path = os.path.join(directory, self.MANIFEST)
        if not os.path.exists(manifest_path):
            return None
        with open(manifest_path) as f:
            manifest = json.load(f)
        if not os.path.exists(os.path.join(directory, manifest["binary"])):
            return None
        return Program(directory, manifest)

    def load_or_build(self, spec, build, description="", progress=False):
        """
        The `Program` of ``spec``, compiled first when it is not cached.

        Parameters
        ----------
        spec : NetworkSpec
        build : callable
            ``build(spec, directory)`` compiles the project into ``directory``
            and returns its manifest (a dict).
        description : str
            What is compiled, for the progress message.
        progress : bool
            Say on stderr that a compilation starts.

        Returns
        -------
        program : Program
        built : bool
            Whether it was compiled now.
        """
        directory = self.path(spec)
        os.makedirs(self.directory, exist_ok=True)
        with _file_lock(directory + ".lock"):
            program = self._load(directory)
            if program is not None:
                return program, False
            if progress:
                print(f"compiling {description or 'the network'} (once, cached in "
                      f"{directory}) ...", file=sys.stderr)
            manifest = build(spec, directory)
            atomic_save_json(os.path.join(directory, self.MANIFEST), manifest)
            return Program(directory, manifest), True


class Program:
    """
    A compiled standalone network and how to feed and read it.

    Parameters
    ----------
    directory : str
        The project folder (holds the binary).
    manifest : dict
        ``binary`` (path relative to ``directory``), ``args`` (input name ->
        run-argument target), ``dtypes`` (input name -> numpy dtype string),
        ``results`` (name -> (file, dtype)).
    """

    def __init__(self, directory, manifest):
        self.directory = directory
        self.manifest = manifest

    @contextlib.contextmanager
    def call_folder(self):
        """
        A fresh folder inside the project for one call's inputs and results,
        removed at its end (fits run thousands of calls, each with new weights).
        """
        folder = tempfile.mkdtemp(prefix="call-", dir=self.directory)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def scalar_args(self, values):
        """Run arguments setting scalar constants: ``group.name=value``."""
        return [f"{self.manifest['args'][k]}={float(v)!r}" for k, v in values.items()]

    def write_inputs(self, folder, arrays):
        """
        Write run-argument arrays into ``folder`` in the program's dtypes and
        return the arguments naming them (``group.variable=path``).
        """
        m = self.manifest
        args = []
        for name, arr in arrays.items():
            path = os.path.join(folder, f"{name}.dat")
            np.ascontiguousarray(arr, dtype=m["dtypes"][name]).tofile(path)
            args.append(f"{m['args'][name]}={path}")
        return args

    def run(self, results_dir, args, seed):
        """Run the program once; return the result arrays by name."""
        m = self.manifest
        os.makedirs(results_dir, exist_ok=True)
        env = dict(os.environ)
        env[SEED_ENV] = str(int(seed))
        cmd = [os.path.join(self.directory, m["binary"]), "--results_dir",
               os.path.join(results_dir, "")] + args
        proc = subprocess.run(cmd, cwd=self.directory, env=env,
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or "Error" in proc.stderr:
            raise RuntimeError(f"the compiled network failed (exit {proc.returncode})"
                               f": {proc.stderr.strip()[-2000:]}")
        out = {}
        for name, (fname, dtype) in m["results"].items():
            path = os.path.join(results_dir, fname)
            out[name] = (np.fromfile(path, dtype=dtype) if os.path.exists(path)
                         else np.empty(0, dtype=dtype))
        profile = os.path.join(results_dir, "profiling_info.txt")
        if os.path.exists(profile):       # seconds per code object (profile=True)
            with open(profile) as f:
                out["profile"] = {name: float(sec) for name, sec in
                                  (line.split() for line in f if line.strip())}
        return out
