"""Opening clients: deadlines, waiting for workers, ``client=`` values (`ipvae_snn.cluster`)."""

import atexit
import contextlib
import math
import os
import threading
import time

from ..defaults import SCHEDULER_ENV, SCHEDULER_TIMEOUT_S, WAIT_WORKERS_S
from ..validation import InputError, InvalidTypeError, check_number
from .address import (_seconds, _log, SchedulerError, _require_distributed, _describe,
                      parse_scheduler, read_scheduler_file)
from .probe import probe_scheduler


# ----------------------------------------------------------- connecting
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
