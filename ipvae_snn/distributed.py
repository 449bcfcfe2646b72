"""
Connecting to a Dask cluster: `open_client`, `check_client`, `client_info`.

`ipvae_snn.infer`, `SpikingIPVAE.run` and `SpikingDictionaryLearner` take
``client=``, which only chooses where their chunks run
(`ipvae_snn.executor.DaskExecutor`); the command line's ``--scheduler`` opens
one (`open_client`). Without a client a batch runs in this process's pool.
Dask is an optional dependency: ``pip install "ipvae-snn[dask]"``.

Examples
--------
>>> import ipvae_snn
>>> from ipvae_snn.data import natural_patches
>>> from ipvae_snn.distributed import open_client
>>> x = natural_patches(n_patches=512, seed=0)
>>> with open_client("local", n_workers=2) as client:      # doctest: +SKIP
...     result = ipvae_snn.infer(ipvae_snn.default_params(), x, 17, seed=0,
...                              client=client)
"""

import contextlib
import os
import re

from .defaults import SCHEDULER_ENV, SCHEDULER_TIMEOUT_S
from .validation import InputError, InvalidTypeError, MissingDependencyError

__all__ = ["open_client", "check_client", "client_info", "SchedulerError", "DASK_EXTRA"]

#: How to install what this module needs.
DASK_EXTRA = 'pip install "ipvae-snn[dask]"'

_HOST_PORT = re.compile(r"^[\w.\-\[\]:]+:\d+$")


class SchedulerError(InputError, ConnectionError):
    """The Dask scheduler (or any worker) could not be reached."""


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


# ------------------------------------------------------------ connecting
def _available_cpus():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _client_target(scheduler):
    """``Client`` keyword arguments for an address or a scheduler file."""
    if "://" in scheduler or (_HOST_PORT.match(scheduler) and not os.path.exists(scheduler)):
        return dict(address=scheduler)
    if os.path.isfile(scheduler):
        return dict(scheduler_file=scheduler)
    raise SchedulerError(f"scheduler {scheduler!r} is neither 'local', an address "
                         f"(tcp://host:port) nor an existing scheduler file")


@contextlib.contextmanager
def open_client(scheduler=None, n_workers=None, timeout=None, **cluster_kwargs):
    """
    A `distributed.Client` for ``scheduler``, closed (with its cluster) on exit.

    Parameters
    ----------
    scheduler : str, optional
        ``"local"`` starts a `distributed.LocalCluster` of ``n_workers``
        processes with one thread each; ``tcp://host:port`` (or
        ``host:port``) connects to a running scheduler; the path of a
        scheduler file (``dask scheduler --scheduler-file F``) to the one it
        names. Default: ``$DASK_SCHEDULER_ADDRESS``; when that is unset too,
        the context yields None (the embedded local pool).
    n_workers : int, optional
        Workers of the local cluster (default: the CPUs this process may use).
    timeout : float, optional
        Seconds to wait for the scheduler and for its first worker (default
        `~ipvae_snn.defaults.SCHEDULER_TIMEOUT_S`).
    **cluster_kwargs
        More arguments of `distributed.LocalCluster` (``env=...``).

    Yields
    ------
    distributed.Client or None

    Raises
    ------
    MissingDependencyError
        When dask.distributed is not installed (names the extra to install).
    SchedulerError
        (a `ConnectionError`) When the scheduler cannot be reached, or no
        worker joins it, within ``timeout``.

    Examples
    --------
    >>> with open_client(None) as client:     # no scheduler named anywhere
    ...     print(client)                      # doctest: +SKIP
    None
    """
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_ENV) or None
    if scheduler is None:
        yield None
        return
    distributed = _require_distributed()
    timeout = SCHEDULER_TIMEOUT_S if timeout is None else float(timeout)
    scheduler = os.fspath(scheduler)
    with contextlib.ExitStack() as stack:
        if scheduler == "local":
            cluster_kwargs.setdefault("dashboard_address", ":0")     # any free port
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=n_workers or _available_cpus(), threads_per_worker=1,
                processes=True, **cluster_kwargs))
            target = dict(address=cluster)
        else:
            target = _client_target(scheduler)
        try:
            client = stack.enter_context(distributed.Client(timeout=timeout, **target))
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(f"cannot reach the Dask scheduler {scheduler!r} "
                                 f"within {timeout:g} s: {exc}") from None
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            raise SchedulerError(f"no worker joined the Dask scheduler {scheduler!r} "
                                 f"within {timeout:g} s") from None
        yield client
