"""
Fan-out over a Dask cluster: the reference algorithm and the spiking network
on the workers of a `distributed.Client`.

`ipvae_snn.infer`, `SpikingIPVAE.run` and `SpikingDictionaryLearner` take
``client=``; the command line's ``--scheduler`` opens one (`open_client`).
Without a client a batch runs in this process's pool, as it always did. Dask
is an optional dependency: ``pip install "ipvae-snn[dask]"``.

How a batch becomes tasks
-------------------------
A batch is cut into chunks whose boundaries depend on the batch alone —
blocks of ``block_size`` patches for the reference algorithm, runs of
``inputs_per_run`` inputs for the network — and each chunk draws from its own
child of ``SeedSequence(seed)``, a function of (seed, chunk index) only. Each
chunk becomes one task, a pure function from its inputs to arrays, so the
result equals the local run with the same seed bit for bit, whatever the
number of workers; a task lost with its worker is rerun elsewhere and gives
the same arrays. The constants all chunks share (the model, the network's run
values) go to the cluster as one task of their own rather than as scattered
data: a scattered object dies with the worker that holds it, a task's result
is recomputed. A network task also collects its run on the worker (counts per
window, read-outs, traces: `ResultCollector.part`), so what comes back is the
recorded counts rather than every spike, and the client only copies arrays.

Compiled programs on workers
----------------------------
Workers need neither the client's file system nor its compiler: the first
network task on a worker builds the program of the batch's `NetworkSpec` in
the worker's own cache (`~ipvae_snn.network.default_cache_dir` on that
worker: ``$IPVAE_SNN_CACHE`` or the user cache), under the cache's file lock,
so once per worker — or once per cache shared by several workers. The
program is built there rather than shipped because Brian2 compiles with
``-march=native``: a binary is only safe on the kind of CPU it was built
for. Each task carries the client's cache key, and a worker whose key
differs (another version of ipvae-snn, Brian2 or the equations, which could
change the result) refuses the task.

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
import threading
import time
import uuid

import numpy as np

from ._progress import ProgressBar
from .defaults import SCHEDULER_ENV, SCHEDULER_TIMEOUT_S
from .validation import (InputError, InvalidTypeError, MissingDependencyError,
                         UnavailableDeviceError)

try:
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:            # the module imports; using a client then says what to install
    _WorkerPlugin = object

__all__ = ["open_client", "check_client", "client_info", "run_reference_blocks",
           "run_network_batch", "SchedulerError", "BrianImport", "DASK_EXTRA"]

#: How to install what this module needs.
DASK_EXTRA = 'pip install "ipvae-snn[dask]"'

_HOST_PORT = re.compile(r"^[\w.\-\[\]:]+:\d+$")
# Brian2's device state is global to a process: compiling (or running the
# runtime device) in two threads of one worker at once would mix them up.
_BRIAN_LOCK = threading.Lock()


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


# ---------------------------------------------------------------- tasks
def _shared(value):
    """The constants of a batch, as a task (recomputed if its worker is lost)."""
    return value


def _submit_all(client, kind, shared, function, calls):
    """
    Submit ``function(shared, *args)`` for each ``args`` of ``calls`` as tasks
    named ``ipvae-<kind>-<token>-<i>``, in one message; returns the futures.
    """
    token = uuid.uuid4().hex[:10]
    const = client.submit(_shared, shared, key=f"ipvae-{kind}-shared-{token}", pure=False)
    columns = [list(column) for column in zip(*calls)]
    return client.map(function, [const] * len(calls), *columns, pure=False,
                      key=[f"ipvae-{kind}-{token}-{i}" for i in range(len(calls))])


def _gather(client, futures, on_result):
    """
    Hand each task's value to ``on_result(index, value)`` as it completes
    (progress over futures, results fetched in batches); cancel the rest when
    one fails.
    """
    from distributed import as_completed
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        # on this client's event loop (by default as_completed takes the loop
        # of the latest client made in this process)
        for batch in as_completed(futures, loop=client.loop, with_results=True).batches():
            for future, value in batch:
                on_result(index[future.key], value)
                future.release()
    except BaseException:
        client.cancel(futures)
        raise


class BrianImport(_WorkerPlugin):
    """
    Imports Brian2 on every worker (and on each worker that joins later or
    replaces a lost one) from the worker's event loop, in its main thread:
    Brian2 installs a signal handler on import, which tasks, running in the
    worker's other threads, cannot do.
    """

    name = "ipvae-snn-brian2"
    idempotent = True          # registered by every batch, installed once

    def setup(self, worker):
        import brian2  # noqa: F401


def _quiet_progress():
    return ProgressBar(1, enabled=False)


_THREADPOOLS = []


def _one_blas_thread():
    """Limit BLAS to one thread (the controller, slow to create, once per process)."""
    if not _THREADPOOLS:
        from threadpoolctl import ThreadpoolController
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1, user_api="blas")


def _reference_task(shared, x, seed_seq, n_windows, layout):
    """One block of the reference algorithm on a worker: inputs → arrays."""
    from .reference import _Block, _run_block
    consts, rec_pos = shared
    n = x.shape[0]
    out = {name: None if spec is None else np.zeros((n, *spec[0]), spec[1])
           for name, spec in layout.items()}
    with _one_blas_thread():
        block = _Block(consts, x, np.random.default_rng(seed_seq))
        _run_block(consts, block, out, slice(0, n), n_windows, rec_pos,
                   _quiet_progress(), chunk=n_windows)
    return {name: arr for name, arr in out.items() if arr is not None}


def run_reference_blocks(client, consts, x, blocks, out, n_windows, rec_pos, progress):
    """
    Run the blocks of `ipvae_snn.infer` as tasks of ``client``.

    Parameters
    ----------
    client : distributed.Client
    consts : dict
        The constants of the run (model, dtype, precomputed products).
    x : ndarray, shape (n_patches, n_pixels)
    blocks : list of (slice, numpy.random.SeedSequence)
        The blocks and their streams, as the local run cuts them.
    out : dict of ndarray
        The result arrays, filled block by block (None where not recorded).
    n_windows : int
    rec_pos : ndarray of int
        Recorded position of each window, -1 where it is not recorded.
    progress : ProgressBar
        Advanced by ``n_windows`` per finished block.

    Returns
    -------
    dict
        ``scheduler``, ``n_workers``, ``n_tasks``.

    See Also
    --------
    ipvae_snn.infer : calls this with its ``client``.
    """
    check_client(client)
    layout = {name: None if arr is None else (arr.shape[1:], arr.dtype.str)
              for name, arr in out.items()}
    futures = _submit_all(client, "reference", (consts, rec_pos), _reference_task,
                          [(x[sl], ss, n_windows, layout) for sl, ss in blocks])

    def on_result(i, arrays):
        sl = blocks[i][0]
        for name, arr in arrays.items():
            out[name][sl] = arr
        progress.update(n_windows)

    _gather(client, futures, on_result)
    return dict(client_info(client), n_tasks=len(futures))


class _Capture:
    """A collector that keeps the raw arrays of the one run of a task."""

    def __init__(self):
        self.raw = None
        self.profile = {}

    def add(self, sl, raw):
        self.raw = raw


def _network_task(shared, device, key, drive, replay, seed, x):
    """
    One run of the network on a worker: its inputs → the arrays its inputs add
    to the result (`ResultCollector.part`: the worker collects, so the client
    only copies, and what comes back is the recorded counts, not every spike).
    """
    from .network.backends import Batch, get_backend
    from .network.collect import ResultCollector
    from .network.program import ProgramCache, default_cache_dir
    spec, values, params, windows = shared
    mine = spec.key()
    if mine != key:
        raise UnavailableDeviceError(
            f"a Dask worker computes another build key for this network ({mine}, the "
            f"client {key}): its ipvae-snn, Brian2 or equations differ from the "
            f"client's; install the same versions on the workers")
    cache_dir = default_cache_dir()
    backend = get_backend(device)(n_jobs=1, cache_dir=cache_dir)
    batch = Batch(spec, values, drive, replay, [slice(0, len(drive))], [int(seed)])
    capture = _Capture()
    cached = ProgramCache(cache_dir).load(spec) is not None
    with contextlib.nullcontext() if cached else _BRIAN_LOCK:
        timing = backend.run(batch, capture, _quiet_progress())
    t0 = time.perf_counter()
    part = ResultCollector(params, spec, x, windows)
    part.add(slice(0, len(x)), capture.raw)
    timing["collect_s"] = time.perf_counter() - t0
    return part.part(), timing


def run_network_batch(client, device, batch, collector, progress):
    """
    Run the chunks of a `SpikingIPVAE` batch as tasks of ``client``.

    Parameters
    ----------
    client : distributed.Client
    device : str
        The Brian2 device the workers run (`DEVICES`).
    batch : ipvae_snn.network.backends.Batch
    collector : ipvae_snn.network.collect.ResultCollector
        Receives each run's collected arrays (`ResultCollector.add_part`) as
        its task completes.
    progress : ProgressBar
        Advanced by the inputs of each finished run.

    Returns
    -------
    dict
        The timing of a backend's run (``build_s``: the longest build on a
        worker, ``run_s``, ``n_runs``, ``compiled``: whether any worker
        compiled, ``per_run_s``) with ``collect_s`` (seconds the workers spent
        turning the runs' arrays into the result's), ``merge_s`` (seconds this
        process spent copying them into the result), ``wall_s``, ``scheduler``
        and ``n_workers``.

    See Also
    --------
    ipvae_snn.network.SpikingIPVAE.run : calls this with its ``client``.
    """
    check_client(client)
    client.register_plugin(BrianImport(), name=BrianImport.name)
    key = batch.spec.key()
    futures = _submit_all(
        client, "network", (batch.spec, batch.values, collector.params, collector.windows),
        _network_task, [(device, key, batch.drive[sl], batch.chunk_replay(sl), seed,
                         collector.x[sl])
                        for sl, seed in zip(batch.chunks, batch.seeds)])
    timings, merge_s = [], []

    def on_result(i, value):
        part, timing = value
        sl = batch.chunks[i]
        t0 = time.perf_counter()
        collector.add_part(sl, part)
        merge_s.append(time.perf_counter() - t0)
        timings.append(timing)
        progress.update(sl.stop - sl.start)

    start = time.perf_counter()
    _gather(client, futures, on_result)
    run_s = [t["run_s"] for t in timings]
    return dict(build_s=max(t["build_s"] for t in timings), run_s=float(np.sum(run_s)),
                n_runs=len(futures), compiled=any(t.get("compiled") for t in timings),
                per_run_s=float(np.median(run_s)),
                collect_s=float(np.sum([t["collect_s"] for t in timings])),
                merge_s=float(np.sum(merge_s)), wall_s=time.perf_counter() - start,
                **client_info(client))
