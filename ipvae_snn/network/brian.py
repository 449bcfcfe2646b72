"""
Brian2 in this process: `prepare_brian2` imports it and undoes what its import
does (a SIGINT wrapper that breaks an inherited ignored SIGINT, temporary files
left in the temporary folder, an excepthook that blames Brian2).
"""

import contextlib
import os
import signal
import sys
import tempfile
import threading

__all__ = ["prepare_brian2"]

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
