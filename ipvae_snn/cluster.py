"""
Connecting to a Dask cluster: scheduler addresses and files, the handshake
probe, deadlines, waiting for workers, security.

`open_client` is what the command line's ``--scheduler`` and
``--wait-workers`` use; `resolve_client` turns what an API user passes as
``client=`` (a `distributed.Client` or a scheduler address) into a live
client. Dask is an optional dependency: ``pip install "ipvae-snn[dask]"``.

What a scheduler may be
-----------------------
``"local"`` starts a `distributed.LocalCluster`; ``tcp://host:port``,
``tls://host:port`` or ``host:port`` is a running scheduler; anything else is
the path of a scheduler file (``dask scheduler --scheduler-file F``). A value
that is none of these (no port, no host, ``http://``, ``inproc://``, an
empty file, a file that is not JSON) is refused in one line
(`SchedulerError`, an `~ipvae_snn.validation.InputError`) before anything
connects.

Deadlines
---------
Every step has one: a scheduler file that does not exist yet is waited for
(a batch job may still be starting the scheduler) for up to ``timeout``
seconds; then the handshake probe and the connection of the client share
another ``timeout``; then the first worker is waited for up to
``wait_workers`` seconds (a queued cluster). The probe opens a socket to the
address and reads what a Dask scheduler sends first on every connection (its
comm handshake: a frame length and a msgpack message) without sending
anything, so it tells apart a refused port, a host that does not answer, an
HTTP server (the scheduler's dashboard is the usual mix-up), a TLS server
reached with ``tcp://``, a service that accepts connections but never
answers, and a scheduler — without reading a bogus frame length.

Security
--------
TLS and the other security settings come from Dask's own configuration
(``distributed.comm.tls.ca-file``, ``distributed.comm.tls.client.cert``,
``distributed.comm.tls.client.key``, ``distributed.comm.require-encryption``:
a YAML file in ``~/.config/dask/`` or ``DASK_DISTRIBUTED__COMM__TLS__...``
variables), as for any Dask client, or from a `distributed.security.Security`
passed as ``security=``.

Examples
--------
>>> parse_scheduler("tcp://127.0.0.1:8786")
('address', 'tcp://127.0.0.1:8786')
>>> parse_scheduler("10.0.0.5:8786")
('address', 'tcp://10.0.0.5:8786')
>>> parse_scheduler("tcp://127.0.0.1")
Traceback (most recent call last):
...
ipvae_snn.cluster.SchedulerError: scheduler 'tcp://127.0.0.1' has no port (a Dask scheduler
listens on 8786 by default: tcp://127.0.0.1:8786)
"""

import atexit
import contextlib
import ipaddress
import json
import logging
import math
import os
import re
import socket
import ssl
import struct
import threading
import time

from .defaults import SCHEDULER_ENV, SCHEDULER_TIMEOUT_S, WAIT_WORKERS_S
from .validation import InputError, InvalidTypeError, MissingDependencyError, check_number

__all__ = ["open_client", "resolve_client", "check_client", "client_info",
           "scheduler_address", "parse_scheduler", "read_scheduler_file",
           "probe_scheduler", "SchedulerError", "DASK_EXTRA"]

#: How to install what this module needs.
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


# --------------------------------------------------------------- probe
def _recv_until(sock, n, deadline):
    """
    Up to ``n`` bytes received before ``deadline``, and whether the peer
    closed the connection (fewer bytes: a timeout or the end).
    """
    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(data))
        except (TimeoutError, ssl.SSLWantReadError):
            break
        except OSError:                  # reset: the peer gave up on us
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def _is_handshake(body):
    """Whether ``body`` (a frame after its length) is a Dask comm handshake."""
    try:
        from distributed.protocol.core import loads
        from distributed.protocol.utils import unpack_frames
        message = loads(unpack_frames(body), deserialize=False)
    except Exception:          # any garbage: not a handshake, whatever the decoder says
        return False
    return isinstance(message, dict) and all(k in message for k in _HANDSHAKE_KEYS)


def _not_a_scheduler(what, address, reply, timeout):
    """The one-line error for an endpoint that is not a Dask scheduler."""
    if reply.startswith(b"HTTP/"):
        return SchedulerError(
            f"{what} is an HTTP server (the scheduler's dashboard?), not a Dask "
            f"scheduler; the scheduler's own address is tcp://host:port (port "
            f"{_DEFAULT_PORT} by default)")
    if reply[:1] == b"\x15" and reply[1:2] == b"\x03":          # a TLS alert record
        return SchedulerError(f"{what} speaks TLS: connect with "
                              f"tls://{address.partition('://')[2]} (and dask's TLS "
                              f"settings, distributed.comm.tls.*)")
    if reply:
        return SchedulerError(f"{what} answered, but not with a Dask scheduler's "
                              f"handshake: another service listens there")
    return SchedulerError(f"{what} accepts connections but sent no Dask handshake "
                          f"within {timeout:g} s: not a Dask scheduler, or one too busy "
                          f"to answer")


def _ssl_context(security, what):
    distributed = _require_distributed()
    security = distributed.Security() if security is None else security
    try:
        args = security.get_connection_args("client")
    except Exception as exc:             # unreadable certificate files, bad versions
        raise SchedulerError(f"{what}: dask's TLS settings cannot be used: {exc}") from None
    context = args.get("ssl_context")
    if context is None:
        raise SchedulerError(
            f"{what}: tls:// needs dask's TLS settings, and none are configured: set "
            f"distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and "
            f"distributed.comm.tls.client.key in dask's configuration, or pass "
            f"security=distributed.Security(...)")
    return context


def _require_encryption(security):
    if security is not None:
        return bool(getattr(security, "require_encryption", False))
    import dask
    return bool(dask.config.get("distributed.comm.require-encryption", False))


def probe_scheduler(address, timeout=None, security=None, source=None, path=None):
    """
    Check that a Dask scheduler answers at ``address`` within ``timeout`` seconds.

    Connects (with TLS for ``tls://``) and reads the comm handshake a
    scheduler sends first on every connection, sending nothing. When nothing
    comes for a moment, asks the endpoint for ``GET /`` to tell an HTTP server
    (the dashboard) from a silent one. Never reads more than a handshake's
    size, whatever the endpoint sends.

    Parameters
    ----------
    address : str
        ``tcp://host:port`` or ``tls://host:port`` (as `parse_scheduler` gives).
    timeout : float, optional
        Seconds for the whole probe (default
        `~ipvae_snn.defaults.SCHEDULER_TIMEOUT_S`).
    security : distributed.security.Security, optional
        TLS settings; default: dask's configuration.
    source : str, optional
        The environment variable the address came from, named in errors.
    path : str, optional
        The scheduler file the address came from, named in errors.

    Raises
    ------
    SchedulerError
        Unknown host, refused connection, no answer, an HTTP or TLS server,
        another service, or TLS settings missing or rejected.

    Examples
    --------
    >>> import socket
    >>> with socket.socket() as s:       # a port nobody listens on
    ...     s.bind(("127.0.0.1", 0))
    ...     port = s.getsockname()[1]
    >>> probe_scheduler(f"tcp://127.0.0.1:{port}", timeout=5)   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ipvae_snn.cluster.SchedulerError: scheduler 'tcp://127.0.0.1:...': cannot reach the Dask
    scheduler: nothing listens there (connection refused); is it running?
    """
    timeout = _seconds(timeout, SCHEDULER_TIMEOUT_S, "timeout")
    what = _describe(address, source, path)
    kind, address = parse_scheduler(address, source)
    if kind != "address":
        raise SchedulerError(f"{what} is not a scheduler address (tcp://host:port)")
    scheme, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if scheme == "tcp" and _require_encryption(security):
        raise SchedulerError(f"{what}: dask's configuration requires encryption "
                             f"(distributed.comm.require-encryption), so connect with "
                             f"tls://{rest}")
    context = _ssl_context(security, what) if scheme == "tls" else None
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except socket.gaierror:
        raise SchedulerError(f"{what}: unknown host {host!r}") from None
    except ConnectionRefusedError:
        raise SchedulerError(f"{what}: cannot reach the Dask scheduler: nothing listens "
                             f"there (connection refused); is it running?") from None
    except TimeoutError:
        raise SchedulerError(f"{what}: no answer within {timeout:g} s (the host is down, "
                             f"or a firewall drops the connection)") from None
    except OSError as exc:
        raise SchedulerError(f"{what}: cannot connect: {exc.strerror or exc}") from None
    with contextlib.closing(sock):
        if context is not None:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                sock = context.wrap_socket(
                    sock, server_hostname=host if context.check_hostname else None)
            except TimeoutError:
                raise SchedulerError(f"{what}: no TLS handshake within {timeout:g} s: "
                                     f"not a TLS server, or not answering") from None
            except ssl.SSLError as exc:
                reason = exc.reason or str(exc)
                hint = (" (a plain tcp:// scheduler?)" if "VERSION" in reason.upper()
                        or "RECORD" in reason.upper() else "")
                raise SchedulerError(f"{what}: the TLS handshake failed: {reason}"
                                     f"{hint}") from None
            except OSError as exc:
                raise SchedulerError(f"{what}: the TLS handshake failed: "
                                     f"{exc.strerror or exc}") from None
        _read_handshake(sock, what, address, host, deadline, timeout)


def _speaks_tls(host, port, deadline):
    """Whether a new connection to ``host:port`` completes (or starts) a TLS handshake."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE          # only asking whether it speaks TLS
    try:
        with socket.create_connection((host, port),
                                      timeout=max(deadline - time.monotonic(), 0.01)) as raw:
            with context.wrap_socket(raw):
                return True
    except ssl.SSLError as exc:                 # an alert: TLS, refusing this client
        return "VERSION" not in str(exc.reason).upper() and "EOF" not in str(exc).upper()
    except OSError:
        return False


def _read_handshake(sock, what, address, host, deadline, timeout):
    start = time.monotonic()
    head, closed = _recv_until(sock, 8, min(deadline, start + min(
        _HTTP_PROBE_AFTER_S, (deadline - start) / 2)))
    if not head and not closed:
        # a scheduler would have spoken by now: ask whether it is a web server
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            sock.sendall(b"GET / HTTP/1.0\r\nHost: " + host.encode("ascii", "replace")
                         + b"\r\n\r\n")
        except OSError:
            pass                         # closed or stuck: judged by what comes back
        head, closed = _recv_until(sock, 8, deadline)
        if not head and address.startswith("tcp://") and _speaks_tls(
                host, int(address.rpartition(":")[2]), deadline):
            head = b"\x15\x03"             # as if it had sent a TLS alert
        if head or not closed:
            raise _not_a_scheduler(what, address, head, timeout)
    if not head:
        raise SchedulerError(f"{what} closed the connection without a Dask handshake: "
                             f"not a Dask scheduler, or one that refuses this client")
    if len(head) < 8:
        head += _recv_until(sock, 8 - len(head), deadline)[0]
    if len(head) < 8 or head.startswith(b"HTTP/"):
        raise _not_a_scheduler(what, address, head, timeout)
    (n,) = struct.unpack("<Q", head)
    if not 8 <= n <= _MAX_HANDSHAKE_BYTES:
        raise _not_a_scheduler(what, address, head, timeout)
    body = _recv_until(sock, n, deadline)[0]
    if len(body) < n or not _is_handshake(body):
        raise _not_a_scheduler(what, address, head, timeout)


# ----------------------------------------------------------- connecting
def _seconds(value, default, name):
    if value is None:
        return float(default)
    return check_number(value, name, low=0, low_open=True, units=" of seconds")


def _available_cpus():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _start_client(distributed, address, seconds, what, deadline_s, **client_kwargs):
    """
    ``distributed.Client(address)`` within ``seconds``, whatever its own
    timeouts do: made in a thread that is abandoned (and the client closed
    when it comes) at the deadline. Errors name the whole deadline,
    ``deadline_s``.
    """
    box, lock = {}, threading.Lock()

    def start():
        try:
            client = distributed.Client(address, timeout=seconds, **client_kwargs)
        except BaseException as exc:         # handed to the caller
            with lock:
                box["error"] = exc
            return
        with lock:
            if box.get("abandoned"):
                client.close()
            else:
                box["client"] = client

    thread = threading.Thread(target=start, name="ipvae-snn-connect", daemon=True)
    thread.start()
    thread.join(seconds + 1.0)
    with lock:
        if "client" in box:
            return box["client"]
        error = box.get("error")
        box["abandoned"] = True
    if isinstance(error, InputError):
        raise error
    if error is None or isinstance(error, (OSError, TimeoutError)):
        raise SchedulerError(f"{what} sent Dask's handshake but the client's connection "
                             f"did not complete within {deadline_s:g} s: a scheduler too "
                             f"busy to answer, or another Dask server (a worker's "
                             f"address?)") from None
    if isinstance(error, Exception):
        # it passed the probe, so it speaks Dask: what failed is its answer to
        # a client (a worker, say, has no scheduler's identity to give)
        lines = str(error).strip().splitlines() or [""]
        raise SchedulerError(f"{what} answers as a Dask server but not as a scheduler "
                             f"(a worker's address?): {type(error).__name__}: "
                             f"{lines[0]}") from None
    raise error


def _wait_for_worker(client, wait_workers, what):
    """Wait up to ``wait_workers`` seconds (inf: forever) for a first worker."""
    if client.scheduler_info().get("workers"):
        return
    if wait_workers == 0:
        raise SchedulerError(f"{what} has no worker (wait for one with --wait-workers "
                             f"SECONDS, or wait_workers= in the API)")
    _log.info("waiting %s for a first worker to join %s",
              "as long as it takes" if math.isinf(wait_workers) else f"up to {wait_workers:g} s",
              client.scheduler.address)
    try:
        client.wait_for_workers(1, timeout=None if math.isinf(wait_workers)
                                else wait_workers)
    except (OSError, TimeoutError):
        raise SchedulerError(f"no worker joined the Dask {what} within {wait_workers:g} "
                             f"s (wait longer with --wait-workers SECONDS, or "
                             f"wait_workers= in the API)") from None


def _connect(scheduler, timeout, wait_workers, source=None, **client_kwargs):
    """A live client of a running scheduler (an address or a scheduler file)."""
    distributed = _require_distributed()
    kind, target = parse_scheduler(scheduler, source)
    what = _describe(os.fspath(scheduler), source)
    path = None
    if kind == "file":
        path, target = target, read_scheduler_file(target, timeout, source)
        what = _describe(target, source, path)
    start = time.monotonic()
    probe_scheduler(target, timeout, client_kwargs.get("security"), source, path)
    left = max(timeout - (time.monotonic() - start), 1.0)
    client = _start_client(distributed, target, left, what, timeout, **client_kwargs)
    try:
        _wait_for_worker(client, wait_workers, what)
    except BaseException:
        client.close()
        raise
    return client


def _wait_seconds(wait_workers):
    if wait_workers is None:
        return WAIT_WORKERS_S
    if isinstance(wait_workers, (int, float)) and math.isinf(wait_workers) and wait_workers > 0:
        return math.inf
    return check_number(wait_workers, "wait_workers", low=0, units=" of seconds")


@contextlib.contextmanager
def open_client(scheduler=None, n_workers=None, timeout=None, wait_workers=None, **kw):
    """
    A `distributed.Client` for ``scheduler``, closed (with its cluster) on exit.

    Parameters
    ----------
    scheduler : str or path-like, optional
        ``"local"`` starts a `distributed.LocalCluster` of ``n_workers``
        processes with one thread each; ``tcp://host:port``,
        ``tls://host:port`` (or ``host:port``) connects to a running
        scheduler; the path of a scheduler file (``dask scheduler
        --scheduler-file F``) to the one it names, waiting for the file to
        appear. Default: ``$DASK_SCHEDULER_ADDRESS`` (errors then name the
        variable); when that is unset or empty too, the context yields None
        (the embedded local pool).
    n_workers : int, optional
        Workers of the local cluster (default: the CPUs this process may use).
    timeout : float, optional
        Seconds to wait for a scheduler file to appear, and then for the
        scheduler to answer and the connection to complete (default
        `~ipvae_snn.defaults.SCHEDULER_TIMEOUT_S`).
    wait_workers : float, optional
        Seconds to wait for the scheduler's first worker (a cluster whose
        workers are still queued); ``math.inf`` waits as long as it takes, 0
        not at all (default `~ipvae_snn.defaults.WAIT_WORKERS_S`). Not used
        with ``"local"``, whose workers start with it.
    **kw
        For ``"local"``, more arguments of `distributed.LocalCluster`
        (``env=...``); otherwise of `distributed.Client`. ``security=`` (a
        `distributed.security.Security`) goes to both and to the probe; by
        default TLS comes from dask's configuration (``distributed.comm.tls.*``).

    Yields
    ------
    distributed.Client or None

    Raises
    ------
    MissingDependencyError
        When dask.distributed is not installed (names the extra to install).
    SchedulerError
        (a `ConnectionError` and an `~ipvae_snn.validation.InputError`) A
        malformed value or scheduler file, a scheduler that cannot be reached
        or is not one, or no worker within ``wait_workers``: one line, which
        names ``$DASK_SCHEDULER_ADDRESS`` when the value came from there.

    Examples
    --------
    >>> with open_client(None) as client:     # no scheduler named anywhere
    ...     print(client)                      # doctest: +SKIP
    None
    >>> with open_client("tcp://127.0.0.1") as client:
    ...     pass
    Traceback (most recent call last):
    ...
    ipvae_snn.cluster.SchedulerError: scheduler 'tcp://127.0.0.1' has no port (a Dask scheduler
    listens on 8786 by default: tcp://127.0.0.1:8786)
    """
    source = None
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_ENV) or None
        source = SCHEDULER_ENV if scheduler is not None else None
    if scheduler is None:
        yield None
        return
    timeout = _seconds(timeout, SCHEDULER_TIMEOUT_S, "timeout")
    wait_workers = _wait_seconds(wait_workers)
    kind, _ = parse_scheduler(scheduler, source)        # malformed: before any import
    distributed = _require_distributed()
    with contextlib.ExitStack() as stack:
        if kind == "local":
            kw.setdefault("dashboard_address", ":0")     # any free port
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=n_workers or _available_cpus(), threads_per_worker=1,
                processes=True, **kw))
            client_kwargs = {"security": kw["security"]} if "security" in kw else {}
            client = stack.enter_context(distributed.Client(cluster, timeout=timeout,
                                                            **client_kwargs))
        else:
            client = stack.enter_context(
                _connect(scheduler, timeout, wait_workers, source, **kw))
        # clients `resolve_client` made for this cluster (an unpickled learner's)
        # go first: a client left behind retries a closed scheduler, noisily
        stack.callback(_forget_clients, str(client.scheduler.address))
        yield client


# ------------------------------------------------------- client= values
_CLIENTS = {}
_CLIENTS_LOCK = threading.Lock()


def _close_cached_clients():
    with _CLIENTS_LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
    for client in clients:
        with contextlib.suppress(Exception):
            client.close()


atexit.register(_close_cached_clients)


def _forget_clients(address):
    """Close the cached clients of the scheduler at ``address``."""
    with _CLIENTS_LOCK:
        keys = [key for key, client in _CLIENTS.items()
                if str(client.scheduler.address) == address]
        clients = [_CLIENTS.pop(key) for key in keys]
    for client in clients:
        with contextlib.suppress(Exception):
            client.close()


def resolve_client(value, timeout=None, wait_workers=None):
    """
    The live `distributed.Client` that ``client=`` stands for.

    Parameters
    ----------
    value : distributed.Client, str, path-like or None
        A client (returned as it is); a scheduler address or scheduler file
        (``tcp://host:port``, as `open_client` takes them, not ``"local"``):
        a client of that scheduler, made once per process and reused while it
        is connected (a pickled learner carries the address of its client and
        reconnects through this); None: None (the local pool).
    timeout, wait_workers : float, optional
        As in `open_client`, when a connection is made.

    Raises
    ------
    InvalidTypeError
        Anything else.
    SchedulerError
        As `open_client`.

    Examples
    --------
    >>> resolve_client(None) is None
    True
    >>> resolve_client(3)
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidTypeError: client must be a dask.distributed.Client, a scheduler
    address (tcp://host:port) or None, got int
    """
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        distributed = _require_distributed()
        if isinstance(value, distributed.Client):
            return value
        raise InvalidTypeError(f"client must be a dask.distributed.Client, a scheduler "
                               f"address (tcp://host:port) or None, got "
                               f"{type(value).__name__}")
    kind, _ = parse_scheduler(value)
    if kind == "local":
        raise SchedulerError("client='local' would start a cluster that nothing closes: "
                             "use `with open_client('local') as client:` and pass the client")
    key = (os.getpid(), os.fspath(value))      # a client does not survive a fork
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is not None and client.status == "running":
            return client
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        client = _connect(value, _seconds(timeout, SCHEDULER_TIMEOUT_S, "timeout"),
                          _wait_seconds(wait_workers), set_as_default=False)
        _CLIENTS[key] = client
        return client
