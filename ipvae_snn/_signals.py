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
import threading
import time

__all__ = ["Terminated", "sigterm_as_exception", "ChildProcesses", "Cancelled",
           "EXIT_INTERRUPTED", "EXIT_TERMINATED"]

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

    @property
    def stopped(self):
        """Whether `kill_all` was called (the call that owns them is stopping)."""
        return self._stopped

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
