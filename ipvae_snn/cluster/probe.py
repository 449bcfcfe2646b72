"""The handshake probe: what answers at a scheduler address, within a deadline."""

import contextlib
import socket
import ssl
import struct
import time

from ..defaults import SCHEDULER_TIMEOUT_S
from .address import (_seconds, _DEFAULT_PORT, _HTTP_PROBE_AFTER_S, _MAX_HANDSHAKE_BYTES,
                      _HANDSHAKE_KEYS, SchedulerError, _require_distributed, _describe,
                      parse_scheduler)


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
