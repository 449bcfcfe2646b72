"""
Termination signals as exceptions, and the child processes to stop with them.

Ctrl-C raises `KeyboardInterrupt` in Python's main thread; SIGTERM (what
``kill``, ``timeout`` and job schedulers send) kills the process outright, so
no ``finally`` runs: compiled programs started by the network keep running as
orphans and half-written files stay behind. Inside `sigterm_as_exception`
SIGTERM raises `Terminated` instead — a `SystemExit` with status 143 (128 +
15, the shell's convention), so that cleanup runs and an uncaught one still
ends the process quietly with that status. `ChildProcesses` starts programs
in their own process groups and kills every group it started when the call
that owns them is interrupted.

Examples
--------
>>> from ipvae_snn._signals import ChildProcesses
>>> children = ChildProcesses()
>>> children.run(["true"]).returncode
0
"""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

__all__ = ["Terminated", "sigterm_as_exception", "ChildProcesses", "Cancelled",
           "EXIT_INTERRUPTED", "EXIT_TERMINATED", "prepare_brian2"]

#: Exit status after Ctrl-C (128 + SIGINT) and after SIGTERM (128 + SIGTERM).
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(SystemExit):
    """SIGTERM received: the process is asked to stop (exit status 143)."""

    def __init__(self, message="terminated (SIGTERM)"):
        super().__init__(EXIT_TERMINATED)
        self.message = message

    def __str__(self):
        return self.message


class Cancelled(RuntimeError):
    """A child process was not started: its call is being stopped."""


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_exception():
    """
    Inside, SIGTERM raises `Terminated` in the main thread.

    Only where SIGTERM has its default action (a handler the program installed
    is left alone) and only in the main thread (where Python runs handlers).
    Nested uses keep the outer one's handler.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except (ValueError, OSError):         # no signals here (embedded interpreter)
        yield
        return
    if previous not in (signal.SIG_DFL, None):
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class ChildProcesses:
    """
    The programs one call runs, each in its own process group (so that
    Ctrl-C at a terminal reaches this process only, which then stops them),
    killed together by `kill_all` — with their own children, such as the
    compilers that ``make`` starts.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._running = set()
        self._stopped = False

    def run(self, cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs):
        """
        Run ``cmd`` to its end (as `subprocess.run`, output as text).

        Raises
        ------
        Cancelled
            When `kill_all` was called before it started.
        OSError
            When it cannot be started (not executable, not a program, missing).
        """
        with self._lock:
            if self._stopped:
                raise Cancelled("stopped before it started")
            proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, text=True,
                                    start_new_session=True, **kwargs)
            self._running.add(proc)
        try:
            out, err = proc.communicate()
        except BaseException:
            self._kill(proc)
            raise
        finally:
            with self._lock:
                self._running.discard(proc)
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)

    def kill_all(self, grace_s=2.0):
        """
        Stop every running program's process group (SIGTERM, then SIGKILL
        after ``grace_s`` seconds: compilers remove their temporary files on
        SIGTERM); start no new ones.
        """
        with self._lock:
            self._stopped = True
            running = list(self._running)
        for proc in running:
            self._signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in running:
            with contextlib.suppress(subprocess.TimeoutExpired, ChildProcessError):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in running:
            self._kill(proc)

    @staticmethod
    def _signal(proc, signum):
        if proc.returncode is None:         # not reaped: its pid is still its own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signum)

    @classmethod
    def _kill(cls, proc):
        cls._signal(proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired, ChildProcessError):
            proc.wait(timeout=10)


_BRIAN2_PREPARED = False


def prepare_brian2():
    """
    Import Brian2 and undo what its import does to this process.

    * **SIGINT.** Brian2 wraps the SIGINT handler it finds at import in its
      own, which calls it on Ctrl-C outside a run. A process started with
      SIGINT ignored (a background job of a script: ``trap '' INT``) has no
      callable handler there, and Ctrl-C became ``TypeError: 'Handlers'
      object is not callable``. Such a disposition (ignored, or default) is
      put back: an ignored SIGINT stays ignored, as Unix tools keep it.
    * **Temporary files.** Brian2 writes a debug log (``brian_debug_*``) and
      a copy of the main script (``brian_script_*``) into the temporary folder
      at import, and keeps them after a traceback or ``kill -9``; this
      package reports its own errors, so both are closed and removed at once,
      and not written again. The files that catch the compiler's output
      (``brian_stdout_*``, ``brian_stderr_*``) are replaced by unnamed ones
      where the system has them (Linux), which vanish with the process.
    * **Excepthook.** Brian2's hook asks the user to report any uncaught
      exception to Brian2 with its debug log; Python's own is put back.

    Idempotent; the first call does the work (about a second: importing
    Brian2). The package calls it wherever it enters Brian2 (`get_backend`).
    """
    global _BRIAN2_PREPARED
    if _BRIAN2_PREPARED:
        return
    import brian2
    from brian2 import prefs
    from brian2.utils.logger import BrianLogger, brian_excepthook, std_silent
    _BRIAN2_PREPARED = True
    _restore_sigint(getattr(brian2, "_int_handler", None))
    logger = BrianLogger.file_handler
    if logger is not None:
        logger.close()
        __import__("logging").getLogger("brian2").removeHandler(logger)
        BrianLogger.file_handler = None
    for path in (BrianLogger.tmp_log, BrianLogger.tmp_log and BrianLogger.tmp_log + ".1",
                 BrianLogger.tmp_script):
        if path:
            with contextlib.suppress(OSError):
                os.remove(path)
    BrianLogger.tmp_log = BrianLogger.tmp_script = None
    prefs["logging.file_log"] = False
    prefs["logging.save_script"] = False
    if sys.excepthook is brian_excepthook:
        sys.excepthook = sys.__excepthook__
    if std_silent.dest_stdout is None and os.path.isdir("/proc/self/fd"):
        files = [tempfile.TemporaryFile("w+") for _ in range(2)]
        std_silent.dest_stdout, std_silent.dest_stderr = files
        # reopened by name after a failure: the unnamed file through /proc
        std_silent.dest_fname_stdout, std_silent.dest_fname_stderr = (
            f"/proc/self/fd/{f.fileno()}" for f in files)


def _restore_sigint(brian_handler):
    """Put back a SIGINT disposition that Brian2's handler cannot call."""
    previous = getattr(brian_handler, "previous_handler", None)
    if brian_handler is None or callable(previous) or previous is None:
        return
    if threading.current_thread() is not threading.main_thread():
        brian_handler.previous_handler = signal.default_int_handler \
            if previous == signal.SIG_DFL else (lambda signum, frame: None)
        return
    with contextlib.suppress(ValueError, OSError):
        if signal.getsignal(signal.SIGINT) is brian_handler:
            signal.signal(signal.SIGINT, previous)
