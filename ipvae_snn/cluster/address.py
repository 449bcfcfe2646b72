"""Scheduler values: addresses, scheduler files, the errors about them (`ipvae_snn.cluster`)."""

import ipaddress
import json
import logging
import os
import re
import time

from ..defaults import SCHEDULER_TIMEOUT_S
from ..validation import InputError, InvalidTypeError, MissingDependencyError, check_number


DASK_EXTRA = 'pip install "ipvae-snn[dask]"'

_log = logging.getLogger(__name__)

_DEFAULT_PORT = 8786
_SCHEMES = ("tcp", "tls")
# host:port without a scheme: a name, an IPv4 address or a bracketed IPv6 one.
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+):([^:/]*)$")
# Seconds the probe waits for the scheduler's handshake before it asks the
# endpoint whether it is an HTTP server: a scheduler sends its handshake as
# soon as it accepts a connection, an HTTP server says nothing until asked.
_HTTP_PROBE_AFTER_S = 2.0
# Seconds a scheduler file that is empty or not JSON yet may take to become
# valid (`dask scheduler` writes it in place, not atomically).
_FILE_GRACE_S = 1.0
# A Dask handshake is a few hundred bytes; a larger frame length means the
# bytes are something else.
_MAX_HANDSHAKE_BYTES = 1 << 16
_HANDSHAKE_KEYS = ("compression", "pickle-protocol")


class SchedulerError(InputError, ConnectionError):
    """The Dask scheduler (or any worker) could not be reached, or was named wrongly."""

    __module__ = "ipvae_snn.cluster"         # where users import it from


def _require_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise MissingDependencyError(
            f"running on a Dask cluster needs dask.distributed ({exc}); install it "
            f"with: {DASK_EXTRA}") from None
    return distributed


def check_client(client):
    """
    ``client`` if it is a `distributed.Client`.

    Raises
    ------
    MissingDependencyError
        (an `ImportError`) When dask.distributed is not installed.
    InvalidTypeError
        (a `TypeError`) For anything else.

    Examples
    --------
    >>> check_client("tcp://127.0.0.1:8786")
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidTypeError: client must be a dask.distributed.Client, got str
    """
    distributed = _require_distributed()
    if not isinstance(client, distributed.Client):
        raise InvalidTypeError(f"client must be a dask.distributed.Client, got "
                               f"{type(client).__name__}")
    return client


def client_info(client):
    """
    Where a batch ran: the scheduler's address and its number of workers.

    Examples
    --------
    >>> with open_client("local", n_workers=2) as client:       # doctest: +SKIP
    ...     client_info(client)
    {'scheduler': 'tcp://127.0.0.1:...', 'n_workers': 2}
    """
    workers = client.scheduler_info().get("workers", {})
    return dict(scheduler=str(client.scheduler.address), n_workers=len(workers))


def scheduler_address(client):
    """
    What can stand for ``client`` in a pickle: its scheduler's address (a
    string), or ``client`` itself when it is None or already a string.

    Examples
    --------
    >>> scheduler_address(None), scheduler_address("tcp://10.0.0.5:8786")
    (None, 'tcp://10.0.0.5:8786')
    """
    if client is None or isinstance(client, (str, os.PathLike)):
        return client
    return str(check_client(client).scheduler.address)


# ------------------------------------------------------------- parsing
def _describe(value, source, path=None):
    """How errors name a scheduler: its value, and where it came from."""
    if path is not None:
        named = f", named by ${source}" if source else ""
        return f"scheduler {value!r} (from the scheduler file {path!r}{named})"
    where = f" (from ${source})" if source else ""
    return f"scheduler {value!r}{where}"


def _host_port(scheme, rest, value, what):
    """``scheme://host:port`` from the part after the scheme, or a one-line error."""
    example = f"{scheme}://127.0.0.1:{_DEFAULT_PORT}"
    if rest.count(":") > 1 and not rest.startswith("["):
        raise SchedulerError(f"{what}: write an IPv6 host in brackets, "
                             f"{scheme}://[::1]:{_DEFAULT_PORT}")
    if not rest or rest.startswith(":"):
        raise SchedulerError(f"{what} has no host: expected {scheme}://host:port "
                             f"(e.g. {example})")
    if "/" in rest or "?" in rest or "@" in rest:
        raise SchedulerError(f"{what} is not {scheme}://host:port: a scheduler address "
                             f"has no path, query or user part")
    if rest.startswith("["):               # [IPv6]:port
        host, sep, port = rest.rpartition("]:")
        host = host + "]" if sep else rest
        if not sep and not rest.endswith("]"):
            raise SchedulerError(f"{what} is not {scheme}://host:port")
    else:
        host, sep, port = rest.partition(":")
    if not sep:
        raise SchedulerError(f"{what} has no port (a Dask scheduler listens on "
                             f"{_DEFAULT_PORT} by default: {scheme}://{host}:{_DEFAULT_PORT})")
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise SchedulerError(f"{what}: {host} is not an IPv6 address") from None
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise SchedulerError(f"{what}: port {port!r} is not a number from 1 to 65535")
    return f"{scheme}://{host}:{int(port)}"


def parse_scheduler(value, source=None):
    """
    What a scheduler value names: ``("local", None)``, ``("address",
    "tcp://host:port")`` (or ``tls://``) or ``("file", path)``.

    Parameters
    ----------
    value : str or path-like
        ``"local"``, ``tcp://host:port``, ``tls://host:port``, ``host:port``
        or the path of a scheduler file (which need not exist yet: it is
        waited for, `read_scheduler_file`, when its folder exists).
    source : str, optional
        The environment variable the value came from, named in errors.

    Raises
    ------
    SchedulerError
        One line naming what is wrong: no host, no port, a port out of range,
        a web address (``http://``, e.g. the dashboard), another scheme
        (``inproc://``, ``ucx://``), an empty value, a folder, a path whose
        folder does not exist.
    InvalidTypeError
        Not a string or path.

    Examples
    --------
    >>> parse_scheduler("local")
    ('local', None)
    >>> parse_scheduler("tls://[::1]:8786")
    ('address', 'tls://[::1]:8786')
    >>> parse_scheduler("http://127.0.0.1:8787")
    Traceback (most recent call last):
    ...
    ipvae_snn.cluster.SchedulerError: scheduler 'http://127.0.0.1:8787' is a web address (the
    dashboard's?); a Dask scheduler's is tcp://host:port (port 8786 by default)
    >>> parse_scheduler("inproc://x")
    Traceback (most recent call last):
    ...
    ipvae_snn.cluster.SchedulerError: scheduler 'inproc://x': ipvae-snn connects through tcp://
    or tls://, not inproc:// (expected 'local', tcp://host:port, tls://host:port, host:port or a
    scheduler file)
    """
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidTypeError(f"scheduler must be 'local', an address or the path of a "
                               f"scheduler file, got {type(value).__name__}")
    value = os.fspath(value)
    what = _describe(value, source)
    text = value.strip()
    if not text:
        raise SchedulerError(f"{what} is empty: expected 'local', tcp://host:port or "
                             f"the path of a scheduler file")
    if text == "local":
        return "local", None
    if "://" in text:
        scheme, _, rest = text.partition("://")
        scheme = scheme.lower()
        if scheme in ("http", "https"):
            raise SchedulerError(f"{what} is a web address (the dashboard's?); a Dask "
                                 f"scheduler's is tcp://host:port (port {_DEFAULT_PORT} "
                                 f"by default)")
        if scheme not in _SCHEMES:
            raise SchedulerError(f"{what}: ipvae-snn connects through tcp:// or tls://, "
                                 f"not {scheme}:// (expected 'local', tcp://host:port, "
                                 f"tls://host:port, host:port or a scheduler file)")
        return "address", _host_port(scheme, rest, value, what)
    if os.path.isdir(text):
        raise SchedulerError(f"{what} is a folder, not a scheduler file")
    if os.path.exists(text):
        return "file", text
    if _HOST_PORT.match(text):
        return "address", _host_port("tcp", text, value, what)
    folder = os.path.dirname(text)
    if text.endswith(".json") or folder:
        if folder and not os.path.isdir(folder):
            raise SchedulerError(f"{what} is neither 'local', an address nor a scheduler "
                                 f"file: the folder {folder!r} does not exist")
        return "file", text
    raise SchedulerError(f"{what} is neither 'local', an address with a port "
                         f"(tcp://host:port, tls://host:port, host:port) nor an existing "
                         f"scheduler file")


def _file_problem(text):
    """What is wrong with a scheduler file's contents, or its address."""
    if not text.strip():
        return None, "is empty"
    try:
        content = json.loads(text)
    except ValueError as exc:
        return None, f"is not JSON ({exc})"
    address = content.get("address") if isinstance(content, dict) else None
    if not isinstance(address, str) or not address:
        return None, "names no scheduler 'address' (not a dask scheduler file?)"
    return address, None


def read_scheduler_file(path, timeout=None, source=None):
    """
    The address in a scheduler file, waiting up to ``timeout`` seconds for the
    file to appear (as ``distributed.Client(scheduler_file=...)`` does).

    A file that is empty, not JSON or without an address gets a moment to
    become valid (a scheduler writes it in place), then is refused.

    Raises
    ------
    SchedulerError
        The file did not appear in time, cannot be read, or is not a
        scheduler file; or its address is malformed.

    Examples
    --------
    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "scheduler.json")
    >>> with open(path, "w") as f:
    ...     json.dump({"address": "tcp://127.0.0.1:8786"}, f)
    >>> read_scheduler_file(path)
    'tcp://127.0.0.1:8786'
    >>> with open(path, "w") as f:
    ...     _ = f.write("{not json")
    >>> read_scheduler_file(path, timeout=2)       # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ipvae_snn.cluster.SchedulerError: scheduler file '...scheduler.json' is not JSON (...)
    """
    path = os.fspath(path)
    timeout = _seconds(timeout, SCHEDULER_TIMEOUT_S, "timeout")
    where = f" (from ${source})" if source else ""
    what = f"scheduler file {path!r}{where}"
    start = time.monotonic()
    deadline = start + timeout
    announced, bad_since = False, None
    while True:
        now = time.monotonic()
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            bad_since = None
            if now >= deadline:
                raise SchedulerError(
                    f"{what} did not appear within {timeout:g} s (start the scheduler "
                    f"with: dask scheduler --scheduler-file {path})") from None
            if not announced and now - start > 1.0:
                _log.info("waiting up to %g s for the scheduler file %s", timeout, path)
                announced = True
        except IsADirectoryError:
            raise SchedulerError(f"{what} is a folder, not a scheduler file") from None
        except OSError as exc:
            raise SchedulerError(f"{what} cannot be read: {exc.strerror or exc}") from None
        else:
            address, problem = _file_problem(text)
            if problem is None:
                kind, address = parse_scheduler(address, source)
                if kind != "address":
                    raise SchedulerError(f"{what} names {address!r}, not a scheduler "
                                         f"address")
                return address
            bad_since = now if bad_since is None else bad_since
            if now - bad_since >= _FILE_GRACE_S or now >= deadline:
                raise SchedulerError(f"{what} {problem}")
        time.sleep(0.1)


def _seconds(value, default, name):
    if value is None:
        return float(default)
    return check_number(value, name, low=0, low_open=True, units=" of seconds")
