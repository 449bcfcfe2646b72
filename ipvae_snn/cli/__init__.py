"""
The ``ipvae-snn`` command line.

One module per subcommand (`infer`, `simulate`, `stats`, `convert`, `fit`),
each with ``NAME``, ``add_parser(subparsers)`` (returns its parser) and
``run(args)``; `SUBCOMMANDS` lists them, in the order ``--help`` shows them,
and `build_parser` dispatches each to its ``run``. What they share (argument
types and groups, loading the model and the patches, the summary table and
JSON, writing results and figures) is in `ipvae_snn.cli.common`. To add a
subcommand, write its module and add it to `SUBCOMMANDS`.

`main` separates the user's mistakes from bugs: bad input (a missing file, a
wrong shape, NaN, an unknown image: an `~ipvae_snn.validation.InputError`, or
an operating-system error on a path the user named) ends with a one-line
``ipvae-snn: error: ...`` on stderr and exit status 2, as argparse's own
usage errors do; any other exception is a bug and shows its traceback.
Ctrl-C and SIGTERM are neither: the command stops its compiled programs,
removes its temporary files and ends with one line and the shell's statuses
130 and 143 (128 + the signal), so that scripts and job schedulers see how it
ended.

Standard output is the summary's: when its reader goes away (``| head -1``)
the command ends quietly with status 141 (128 + SIGPIPE), as a Unix tool that
SIGPIPE ends; when it cannot be written (``> /dev/full``) or was closed
(``>&-``) the command says so in one line and exits with status 2. The files
it was asked to write are written either way (a closed standard output is
refused before any work).

The package reports notices (a compilation starts, a damaged build is
rebuilt) on the `logging` logger ``ipvae_snn`` and its children; while a
command runs, `main` shows them on stderr as ``ipvae-snn: <notice>`` and
``ipvae-snn: warning: <warning>`` (`StderrHandler`). Stdout stays for the
summary and ``--json``.

Examples
--------
>>> from ipvae_snn.cli import main
>>> main(["infer", "--steps", "2", "--patches", "missing.npy"])
2
"""

import argparse
import contextlib
import os
import logging
import sys

from .._version import __version__
from .._signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, sigterm_as_exception
from ..validation import InputError
from . import common, convert, fit, infer, simulate, stats
from .common import CLIError, nonnegative_int, positive_int

__all__ = ["main", "build_parser", "SUBCOMMANDS", "CLIError", "positive_int",
           "nonnegative_int", "is_user_error", "StderrHandler", "notices_on_stderr",
           "EXIT_BROKEN_PIPE"]

#: Exit status when the reader of standard output went away (``| head``):
#: 128 + SIGPIPE, as for a Unix tool that SIGPIPE ends.
EXIT_BROKEN_PIPE = 141

#: The subcommand modules, in the order of ``ipvae-snn --help``.
SUBCOMMANDS = (infer, simulate, stats, convert, fit)

# Errors of the operating system on a path the user named (they carry it in
# ``filename``): a missing input, an unwritable output folder.
_PATH_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError,
                NotADirectoryError, FileExistsError)


def build_parser():
    """The ``ipvae-snn`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog=common.PROG,
        description="The iterative Poisson VAE (iP-VAE) as a spiking network.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in SUBCOMMANDS:
        module.add_parser(subparsers).set_defaults(func=module.run)
    return parser


def is_user_error(exc):
    """
    Whether ``exc`` is the user's mistake (reported in one line) rather than
    a bug (shown with its traceback).

    Examples
    --------
    >>> from ipvae_snn.validation import InvalidValueError
    >>> is_user_error(InvalidValueError("n_windows must be ...")), is_user_error(KeyError(1))
    (True, False)
    """
    if isinstance(exc, InputError):
        return True
    return isinstance(exc, _PATH_ERRORS) and exc.filename is not None


class StderrHandler(logging.Handler):
    """
    The package's log records as the command's lines on stderr:
    ``ipvae-snn: <message>``, and ``ipvae-snn: warning: <message>`` from
    level WARNING up. It writes to the ``sys.stderr`` of the moment (tests
    replace it).

    Examples
    --------
    >>> import contextlib, io, logging
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err), notices_on_stderr():
    ...     logging.getLogger("ipvae_snn.example").warning("disk almost full")
    >>> err.getvalue()
    'ipvae-snn: warning: disk almost full\\n'
    """

    def emit(self, record):
        try:
            what = "" if record.levelno < logging.WARNING else "warning: "
            sys.stderr.write(f"{common.PROG}: {what}{self.format(record)}\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def notices_on_stderr(level=logging.INFO):
    """
    Inside: the ``ipvae_snn`` logger's records from ``level`` up go to stderr
    through a `StderrHandler` (and on to any handler the program set up).
    """
    logger = logging.getLogger("ipvae_snn")
    handler = StderrHandler(level)
    old_level = logger.level
    if old_level == logging.NOTSET or old_level > level:
        logger.setLevel(level)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def main(argv=None):
    """Entry point of the ``ipvae-snn`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except BrokenPipeError:
        # --help into a closed pipe: argparse before Python 3.11 lets the
        # write error through (3.11 ignores it)
        _silence_stdout(sys.stdout)
        return EXIT_BROKEN_PIPE
    # the command as typed, for the provenance of what it writes
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if sys.stdout is None or not _stream_open(sys.stdout):
        sys.stderr.write(f"{common.PROG}: error: standard output is closed; redirect it "
                         f"(> /dev/null) instead of closing it\n")
        return 2
    with notices_on_stderr():
        return _run(args)


def _run(args):
    """Run the parsed command; its user errors and signals as exit statuses."""
    stdout = sys.stdout
    sys.stdout = _Stdout(stdout)
    try:
        with sigterm_as_exception():
            status = int(args.func(args) or 0)
        sys.stdout.flush()
        return status
    except _StdoutError as exc:
        # its reader went away (| head), or the device is full (> /dev/full)
        _silence_stdout(stdout)
        cause = exc.__cause__
        if isinstance(cause, BrokenPipeError):
            return EXIT_BROKEN_PIPE
        sys.stderr.write(f"{common.PROG}: error: cannot write to standard output: "
                         f"{getattr(cause, 'strerror', None) or cause}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{common.PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    except Terminated:
        sys.stderr.write(f"{common.PROG}: terminated\n")
        return EXIT_TERMINATED
    except Exception as exc:
        if not is_user_error(exc):
            raise
        first = str(exc).strip().splitlines() or [type(exc).__name__]
        sys.stderr.write(f"{common.PROG}: error: {first[0]}\n")
        return 2
    finally:
        sys.stdout = stdout


class _StdoutError(Exception):
    """Standard output failed (its ``__cause__``: the `OSError`)."""


class _Stdout:
    """
    Standard output, whose write errors are told apart from those of the
    files a command writes: they become `_StdoutError`.
    """

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise _StdoutError() from exc

    def flush(self):
        try:
            return self._stream.flush()
        except OSError as exc:
            raise _StdoutError() from exc

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _stream_open(stream):
    """Whether ``stream``'s file descriptor is open (a stream without one counts as open)."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):   # a test's capture, a StringIO
        return True
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _silence_stdout(stream):
    """
    Point standard output at /dev/null, so that nothing more is written and
    Python's own flush at exit does not fail again (with a traceback).
    """
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
