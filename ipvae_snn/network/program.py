"""
Compiled standalone programs and the folder that caches them.

A `ProgramCache` is a folder with one compiled project per `NetworkSpec`
(``<realization>-<key>/``), each with a manifest (``ipvae_manifest.json``)
that records the binary, the names of its run arguments, its result files
with their dtypes, and the size and SHA-256 of every file a run needs. A
`Program` is one such project: it writes run arguments, runs the binary and
reads its results, without Brian2 (so later processes, and other machines
sharing the folder, run it without rebuilding).

The cache looks after itself:

* **Integrity.** Before a build is used its files are checked against the
  manifest: sizes (and modification times) every time, the full hashes the
  first time a process uses the build, or when a size or time changed. A
  damaged build — a truncated or emptied binary, a missing file, an
  unreadable manifest or one edited by hand (it carries the SHA-256 of its
  own content) — is rebuilt with a warning (logger
  ``ipvae_snn.network.program``; the command line shows it on stderr); a
  program that crashes (a segmentation fault) is rebuilt once, and a crash of
  the rebuilt program is an error naming the cache folder.
* **Locking.** Building is serialised by a file lock per project, so
  concurrent processes compile each spec once. A process waiting for another
  one's build says so after `LOCK_NOTICE_S` seconds and gives up after
  ``$IPVAE_SNN_LOCK_TIMEOUT`` seconds (default `DEFAULT_LOCK_TIMEOUT_S`).
* **Run folders.** Each call runs in a folder ``call-<host>-<pid>-*`` of its
  project, removed at its end — also on Ctrl-C and SIGTERM, which stop the
  call's programs. Folders left by a killed process (its pid gone, older than
  `STALE_AGE_S`) are removed the next time the project is used.
* **Read-only caches.** A cache folder this process cannot write (a shared,
  prebuilt one) is used as it is when it holds a complete, verified build:
  no lock is taken and run folders go to the temporary folder.
"""

import contextlib
import hashlib
import json
import logging
import numbers
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time

import numpy as np

from .._signals import ChildProcesses
from ..defaults import CACHE_ENV
from ..io import atomic_save_json
from ..validation import InvalidValueError, UnavailableCacheError
from ._failures import CacheFullError, ProgramOutOfMemory, _no_space, _out_of_memory

__all__ = ["ProgramCache", "Program", "ProgramCrashed", "ProgramOutOfMemory", "CacheFullError",
           "default_cache_dir", "SEED_ENV", "LOCK_TIMEOUT_ENV", "DEFAULT_LOCK_TIMEOUT_S",
           "LOCK_NOTICE_S", "STALE_AGE_S"]

#: Environment variable read by the compiled program to seed its generators.
SEED_ENV = "IPVAE_SNN_SEED"
#: Environment variable: seconds to wait for another process's build.
LOCK_TIMEOUT_ENV = "IPVAE_SNN_LOCK_TIMEOUT"
#: Default of `LOCK_TIMEOUT_ENV`: longer than any build takes.
DEFAULT_LOCK_TIMEOUT_S = 1800.0
#: Seconds of waiting for a lock before saying so on stderr.
LOCK_NOTICE_S = 2.0
#: Run folders of a process that is gone are removed once they are this old.
STALE_AGE_S = 3600.0

# Signals of a program that crashed (rather than one that was stopped).
_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT}
# Brian2's standalone programs report unreadable inputs on stdout or stderr and
# still exit with status 0: these lines mean the run did not get its inputs.
_IO_ERROR = re.compile(r"^(Error (reading|opening|writing) |Could not read )", re.M)
# The manifest's key holding the checksum of the rest of it.
_CHECKSUM = "manifest_sha256"
# call-<host>-<pid>-<random>
_CALL_FOLDER = re.compile(r"^call-(?P<host>.+)-(?P<pid>\d+)-[^-]+$")

_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"
# Builds whose files this process has hashed: directory -> (manifest stamp,
# {file: (size, mtime_ns)}). A build is hashed in full once per process.
_VERIFIED = {}
_VERIFIED_LOCK = threading.Lock()


def default_cache_dir():
    """
    Where compiled networks are kept: ``$IPVAE_SNN_CACHE`` or the user cache.

    Examples
    --------
    >>> import os
    >>> os.path.isabs(default_cache_dir()) or "IPVAE_SNN_CACHE" in os.environ
    True
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ipvae-snn", "builds")


_log = logging.getLogger(__name__)


def notice(message, level=logging.INFO):
    """
    A notice of the cache (a compilation starts, a wait, a rebuild) on this
    module's logger, a child of ``ipvae_snn``: the command line shows it on
    stderr, a program configures `logging` to see it.
    """
    _log.log(level, message)


def _lock_timeout(value=None):
    """Seconds to wait for a build lock: ``value``, else the environment's."""
    name, shown = "the lock timeout", value
    if value is None:
        shown = os.environ.get(LOCK_TIMEOUT_ENV, "")
        if not shown.strip():
            return DEFAULT_LOCK_TIMEOUT_S
        name = LOCK_TIMEOUT_ENV
        try:
            value = float(shown)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not value >= 0:                 # NaN fails this too
        raise InvalidValueError(f"{name} must be a number of seconds >= 0, got {shown!r}")
    return float(value)


def _manifest_checksum(manifest):
    """
    SHA-256 of a manifest's content (its keys sorted, without the checksum
    itself): an edit that leaves valid JSON — a result file's name, a dtype —
    is a damaged build, not a run that fails later.

    Examples
    --------
    >>> _manifest_checksum({"binary": "main"}) == _manifest_checksum(
    ...     {"binary": "main", _CHECKSUM: "x"})
    True
    """
    content = {k: v for k, v in manifest.items() if k != _CHECKSUM}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ProgramCrashed(RuntimeError):
    """The compiled program died of a signal or could not be executed."""


class ProgramCache:
    """
    A folder of compiled programs, one per `NetworkSpec`.

    Parameters
    ----------
    directory : str
        The cache folder (created when missing).
    lock_timeout : float, optional
        Seconds to wait for another process's build of the same program
        (default ``$IPVAE_SNN_LOCK_TIMEOUT``, else `DEFAULT_LOCK_TIMEOUT_S`).
    """

    MANIFEST = "ipvae_manifest.json"

    def __init__(self, directory, lock_timeout=None):
        # absolute: programs run with their project folder as working directory
        self.directory = os.path.abspath(os.fspath(directory))
        self.lock_timeout = _lock_timeout(lock_timeout)

    def path(self, spec):
        """The project folder of ``spec``."""
        return os.path.join(self.directory, f"{spec.realization}-{spec.key()}")

    def writable(self):
        """Whether this process can create builds, locks and run folders here."""
        with contextlib.suppress(OSError):
            os.makedirs(self.directory, exist_ok=True)
        return os.path.isdir(self.directory) and os.access(self.directory,
                                                           os.W_OK | os.X_OK)

    def load(self, spec):
        """The cached, verified `Program` of ``spec``, or None."""
        program, _ = self._check(self.path(spec))
        return program

    # ------------------------------------------------------------ integrity
    def _read_manifest(self, directory):
        """(manifest, stamp, problem): the manifest or why it cannot be used."""
        path = os.path.join(directory, self.MANIFEST)
        try:
            st = os.stat(path)
            with open(path, encoding="utf-8") as f:
                manifest = json.load(f)
        except FileNotFoundError:
            return None, None, None
        except (OSError, ValueError) as exc:
            return None, None, f"its manifest is unreadable ({exc})"
        if not isinstance(manifest, dict) or not all(
                key in manifest for key in ("binary", "args", "dtypes", "results")):
            return None, None, "its manifest is incomplete"
        if not isinstance(manifest.get("files"), dict) or \
                manifest["binary"] not in manifest["files"]:
            return None, None, "its manifest has no record of its files"
        if manifest.get(_CHECKSUM) != _manifest_checksum(manifest):
            return None, None, ("its manifest does not match its own checksum (edited or "
                                "damaged)" if _CHECKSUM in manifest else
                                "its manifest has no checksum of its own")
        return manifest, (st.st_ino, st.st_size, st.st_mtime_ns), None

    def _check(self, directory):
        """
        ``(program, problem)``: the verified `Program` in ``directory``, or
        None and why (None when nothing was built there).
        """
        manifest, stamp, problem = self._read_manifest(directory)
        if manifest is None:
            if problem is None and os.path.isdir(directory):
                problem = "its manifest is missing"
            return None, problem
        with _VERIFIED_LOCK:
            known_stamp, known = _VERIFIED.get(directory, (None, {}))
        if known_stamp != stamp:
            known = {}
        seen = {}
        for name, record in manifest["files"].items():
            path = os.path.join(directory, name)
            try:
                size, digest = int(record["size"]), str(record["sha256"])
            except (KeyError, TypeError, ValueError):
                return None, f"its manifest's record of {name} is incomplete"
            try:
                st = os.stat(path)
            except OSError:
                return None, f"its file {name} is missing"
            if st.st_size != size:
                return None, f"its file {name} has {st.st_size} bytes instead of {size}"
            seen[name] = (st.st_size, st.st_mtime_ns)
            try:
                same = known.get(name) == seen[name] or _sha256(path) == digest
            except OSError as exc:
                return None, f"its file {name} cannot be read ({exc.strerror})"
            if not same:
                return None, f"its file {name} differs from the build (SHA-256)"
        binary = os.path.join(directory, manifest["binary"])
        if not os.access(binary, os.X_OK):
            return None, f"its program {manifest['binary']} is not executable"
        with _VERIFIED_LOCK:
            _VERIFIED[directory] = (stamp, seen)
        program = Program(directory, manifest)
        program.writable = os.access(directory, os.W_OK | os.X_OK)
        return program, None

    @staticmethod
    def _file_records(directory, binary):
        """Size and SHA-256 of the binary and of every static array it reads."""
        names = [binary]
        static = os.path.join(directory, "static_arrays")
        if os.path.isdir(static):
            names += sorted(os.path.join("static_arrays", f) for f in os.listdir(static))
        return {name: dict(size=os.path.getsize(os.path.join(directory, name)),
                           sha256=_sha256(os.path.join(directory, name)))
                for name in names}

    # ------------------------------------------------------------- building
    def load_or_build(self, spec, build, description="", progress=False, damaged=None):
        """
        The `Program` of ``spec``, compiled first when it is not cached (or
        its build is damaged).

        Parameters
        ----------
        spec : NetworkSpec
        build : callable
            ``build(spec, directory)`` compiles the project into ``directory``
            and returns its manifest (a dict).
        description : str
            What is compiled, for the messages.
        progress : bool
            Log a notice that a compilation starts.
        damaged : Program, optional
            A program of this spec that crashed: rebuilt unless another
            process has rebuilt it since.

        Returns
        -------
        program : Program
        built : bool
            Whether it was compiled now.

        Raises
        ------
        UnavailableCacheError
            (a `RuntimeError`) The cache folder is not writable and holds no
            usable build of ``spec``, or another process held the build lock
            longer than the lock timeout.
        """
        directory = self.path(spec)
        what = description or "the network"
        program, problem = self._usable(directory, damaged)
        if program is not None:
            return program, False
        if not self.writable():
            why = (f"its build of {what} is damaged ({problem})" if problem else
                   f"it holds no build of {what}")
            raise UnavailableCacheError(
                f"the cache folder '{self.directory}' cannot be written and {why}; set "
                f"{CACHE_ENV} to a writable folder (or build there once with write "
                f"access)")
        with self._lock(directory, what):
            # again under the lock: another process may have built it meanwhile
            program, problem = self._usable(directory, damaged)
            if program is not None:
                return program, False
            if problem:
                notice(f"the cached build in {directory} is damaged ({problem}); "
                       f"rebuilding it", logging.WARNING)
            elif progress:
                notice(f"compiling {what} (once, cached in {directory}) ...")
            try:
                manifest = dict(build(spec, directory))
                manifest["files"] = self._file_records(directory, manifest["binary"])
                manifest[_CHECKSUM] = _manifest_checksum(manifest)
                atomic_save_json(os.path.join(directory, self.MANIFEST), manifest)
            except (OSError, RuntimeError) as exc:
                why = _no_space(exc)
                if not why:
                    raise
                # half a build: nothing to keep (and the space is wanted back)
                for path in (directory + ".building", directory):
                    shutil.rmtree(path, ignore_errors=True)
                raise CacheFullError(self.directory, why) from None
            program, problem = self._check(directory)
            if program is None:           # the disk lost it at once: not ours to fix
                raise RuntimeError(f"the build of {what} in {directory} cannot be "
                                   f"verified just after compiling it ({problem})")
            return program, True

    def _usable(self, directory, damaged):
        """
        ``(program, None)`` for a verified build in ``directory`` that is not
        the ``damaged`` one (the same files as a program that just crashed),
        else ``(None, problem)`` (problem None: no build there).
        """
        program, problem = self._check(directory)
        if damaged is not None and program is not None and \
                program.manifest.get("files") == damaged.manifest.get("files"):
            return None, "its program crashed"
        return program, problem

    @contextlib.contextmanager
    def _lock(self, directory, what):
        """
        The build lock of ``directory``: an exclusive `fcntl.flock` (released
        by the system when its holder dies), waited for with a notice after
        `LOCK_NOTICE_S` and up to ``lock_timeout`` seconds.
        """
        import fcntl
        path = directory + ".lock"
        with open(path, "a+") as f:
            start = time.monotonic()
            told = False
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    pass
                waited = time.monotonic() - start
                if waited >= self.lock_timeout:
                    raise UnavailableCacheError(
                        f"gave up after {waited:.0f} s waiting for another process "
                        f"{self._lock_owner(f)}to finish building {what} in {directory} "
                        f"(lock {path}); set {LOCK_TIMEOUT_ENV} to wait longer")
                if not told and waited >= LOCK_NOTICE_S:
                    notice(f"waiting for another process {self._lock_owner(f)}building "
                           f"{what} in {directory} ...")
                    told = True
                time.sleep(0.1)
            try:
                f.seek(0)
                f.truncate()
                f.write(f"{_HOST} {os.getpid()}\n")
                f.flush()
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @staticmethod
    def _lock_owner(f):
        with contextlib.suppress(OSError, ValueError):
            f.seek(0)
            host, pid = f.read().split()[:2]
            return f"(pid {int(pid)} on {host}) "
        return ""


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
        ``results`` (name -> (file, dtype)), ``files`` (name -> size, sha256).
    """

    def __init__(self, directory, manifest):
        self.directory = directory
        self.manifest = manifest
        #: Whether run folders can go into the project folder (else: temp).
        self.writable = True

    @contextlib.contextmanager
    def call_folder(self):
        """
        A fresh folder for one call's inputs and results, removed at its end
        (fits run thousands of calls, each with new weights): inside the
        project when it is writable (after removing stale ones of processes
        that are gone), else in the temporary folder.
        """
        prefix = f"call-{_HOST}-{os.getpid()}-"
        if self.writable:
            self.remove_stale_call_folders()
            folder = tempfile.mkdtemp(prefix=prefix, dir=self.directory)
        else:
            folder = tempfile.mkdtemp(prefix="ipvae-snn-" + prefix)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def remove_stale_call_folders(self, max_age_s=STALE_AGE_S):
        """
        Remove the run folders of processes that are gone (on this host),
        or of unknown owners, last changed more than ``max_age_s`` ago.

        Returns
        -------
        list of str
            The folders removed.
        """
        removed = []
        now = time.time()
        try:
            names = os.listdir(self.directory)
        except OSError:
            return removed
        for name in names:
            if not name.startswith("call-"):
                continue
            path = os.path.join(self.directory, name)
            try:
                age = now - os.stat(path).st_mtime
            except OSError:
                continue
            if age < max_age_s:
                continue
            owner = _CALL_FOLDER.match(name)
            if owner and owner["host"] == _HOST and _pid_alive(int(owner["pid"])):
                continue
            if owner and owner["host"] != _HOST and age < 24 * max_age_s:
                continue                  # another machine's, maybe still running
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        return removed

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
            try:
                np.ascontiguousarray(arr, dtype=m["dtypes"][name]).tofile(path)
            except OSError as exc:
                why = _no_space(exc)
                if why:
                    raise self._full(folder, why) from None
                raise
            args.append(f"{m['args'][name]}={path}")
        return args

    def _full(self, folder, why):
        """The `CacheFullError` of a run folder, naming the folder it is in."""
        if os.path.abspath(folder).startswith(self.directory + os.sep):
            return CacheFullError(os.path.dirname(self.directory), why)
        return CacheFullError(tempfile.gettempdir(), why, "the temporary folder")

    def run(self, results_dir, args, seed, children=None):
        """
        Run the program once; return the result arrays by name.

        Parameters
        ----------
        results_dir : str
        args : list of str
            Run arguments (`scalar_args`, `write_inputs`).
        seed : int
        children : ChildProcesses, optional
            The call's programs, so that an interrupted call stops this one.

        Raises
        ------
        ProgramCrashed
            (a `RuntimeError`) It died of a signal such as a segmentation
            fault, or could not be executed: a damaged build.
        RuntimeError
            It failed otherwise (exit status, unreadable inputs).
        """
        m = self.manifest
        os.makedirs(results_dir, exist_ok=True)
        env = dict(os.environ)
        env[SEED_ENV] = str(int(seed))
        binary = os.path.join(self.directory, m["binary"])
        cmd = [binary, "--results_dir", os.path.join(results_dir, "")] + args
        children = children or ChildProcesses()
        try:
            proc = children.run(cmd, cwd=self.directory, env=env)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and exc.filename != binary:
                raise
            raise ProgramCrashed(f"{binary} cannot be executed ({exc})") from exc
        code = proc.returncode
        short = _out_of_memory(code, proc.stdout + proc.stderr)
        if short:
            raise ProgramOutOfMemory(
                f"the compiled network ran out of memory ({short}); its build is "
                f"intact. Run fewer patches or windows at a time, or bound activity "
                f"with max_count (--max-count)")
        if code < 0 and -code in _CRASH_SIGNALS:
            raise ProgramCrashed(f"{binary} crashed ({signal.Signals(-code).name})")
        if code != 0:
            how = (f"was killed by {signal.Signals(-code).name}" if code < 0 else
                   f"failed with exit status {code}")
            raise RuntimeError(f"the compiled network {binary} {how}: "
                               f"{proc.stderr.strip()[-2000:]}")
        bad = _IO_ERROR.search(proc.stdout) or _IO_ERROR.search(proc.stderr)
        if bad:
            line = (proc.stdout + proc.stderr)[bad.start():].splitlines()[0]
            if line.startswith("Error writing") and _no_space(proc.stdout + proc.stderr):
                raise self._full(results_dir, _no_space(proc.stdout + proc.stderr))
            raise RuntimeError(f"the compiled network {binary} could not "
                               f"{'write its results' if 'writing' in line else 'read its inputs'}"
                               f": {line}")
        out = {}
        for name, (fname, dtype) in m["results"].items():
            path = os.path.join(results_dir, fname)
            out[name] = (np.fromfile(path, dtype=dtype) if os.path.exists(path)
                         else np.empty(0, dtype=dtype))
            if os.path.exists(path) and os.path.getsize(path) % np.dtype(dtype).itemsize:
                raise self._full(results_dir, "the program's results were cut short")
        if "spike_i" in out and "spike_t" in out and \
                out["spike_i"].size != out["spike_t"].size:
            # Brian2's programs do not check their writes: a full disk or a
            # file-size limit leaves the spike monitor's two arrays unequal
            raise self._full(results_dir, "the program's results were cut short")
        profile = os.path.join(results_dir, "profiling_info.txt")
        if os.path.exists(profile):       # seconds per code object (profile=True)
            with open(profile) as f:
                out["profile"] = {name: float(sec) for name, sec in
                                  (line.split() for line in f if line.strip())}
        return out
