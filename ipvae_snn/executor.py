"""
The one execution path: a pure per-chunk kernel run over chunks, here or on
a Dask cluster.

Each engine cuts a batch into chunks whose boundaries and random streams
depend on the batch alone, and has one public kernel, a pure function from
what every chunk shares and one chunk's inputs to arrays:
`ipvae_snn.reference.infer_chunk` (the reference algorithm) and
`ipvae_snn.network.run_chunk` (the spiking network). An `Executor` runs the
kernel over the chunks and hands each chunk's result to a callback of the
engine as it completes (which copies it into the batch's result and advances
the progress bar):

`LocalExecutor`
    A pool of threads in this process (kernels that are not thread-safe, such
    as Brian2's runtime device, one after another).
`DaskExecutor`
    Tasks of a `distributed.Client`. What all chunks share is scattered once
    to every worker, each chunk's inputs once to one worker (nothing large is
    embedded in the task graph); chunks whose inputs die with a lost worker
    are scattered again and resubmitted (`MAX_RESUBMITS` times at most), with
    one notice line.

`make_executor` chooses: ``client=`` gives a `DaskExecutor`, else a
`LocalExecutor` of ``n_jobs`` threads. Kernels run with one BLAS thread
everywhere (`one_blas_thread`), so their results — read-outs included — do
not depend on the executor, the number of workers or threads, or the
machine's BLAS settings: the same input and seed give the same arrays, bit
for bit.

This module knows nothing of the engines (they import it, never the reverse).

Examples
--------
>>> from ipvae_snn.executor import make_executor
>>> def kernel(shared, a, b):            # shared, then one chunk's inputs
...     return shared * (a + b)
>>> out = {}
>>> info = make_executor(n_jobs=2).map(kernel, 10, [(1, 2), (3, 4)], out.__setitem__)
>>> out, info["n_tasks"]
({0: 30, 1: 70}, 2)
"""

import importlib
import logging
import os
import threading
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ._signals import sigterm_as_exception
from .metrics import one_blas_thread
from .validation import InputError

try:
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:            # the module imports; a DaskExecutor then says what to install
    _WorkerPlugin = object

__all__ = ["Executor", "LocalExecutor", "DaskExecutor", "make_executor",
           "WorkerLostError", "MAX_RESUBMITS"]

#: How often a chunk whose inputs died with a lost worker is resubmitted.
MAX_RESUBMITS = 3

_log = logging.getLogger(__name__)

# (client id, plugin name) of the worker plugins registered by this process.
_REGISTERED = set()
_REGISTERED_LOCK = threading.Lock()

class WorkerLostError(InputError, RuntimeError):
    """Dask workers kept dying: the batch could not be finished."""


def _call(kernel, shared, chunk):
    """A task: the kernel on one chunk (one BLAS thread, as locally)."""
    with one_blas_thread():
        return kernel(shared, *chunk)


def _import(modules):
    for name in modules:
        importlib.import_module(name)


class Executor:
    """
    Runs a per-chunk kernel over chunks.

    Subclasses implement `map`; `n_workers` and `info` describe where the
    chunks ran.
    """

    #: Whether the kernels run where this process's files are (its caches).
    local = True

    def map(self, kernel, shared, chunks, on_result, *, name="chunks", serial=False,
            imports=(), on_cancel=None):
        """
        Run ``kernel(shared, *chunk)`` for each chunk of ``chunks``.

        Parameters
        ----------
        kernel : callable
            A pure module-level function (it is pickled by reference).
        shared : object
            What every chunk shares (sent once).
        chunks : sequence of tuple
            Each chunk's inputs.
        on_result : callable
            ``on_result(index, value)``, called in this thread as each chunk
            completes (in any order).
        name : str
            Names the tasks (``ipvae-<name>-<token>-<index>``).
        serial : bool
            The kernel is not thread-safe: no two chunks at once in one process.
        imports : sequence of str
            Modules to import first, in each process's main thread (Brian2
            installs a signal handler on import, which other threads cannot).
        on_cancel : callable, optional
            Called when the map is interrupted (to stop what running kernels
            started, such as child processes).

        Returns
        -------
        dict
            Where it ran: ``n_tasks``, ``n_workers`` and the executor's `info`.
        """
        raise NotImplementedError

    @property
    def n_workers(self):
        """Processes or threads that run chunks at once."""
        raise NotImplementedError

    def info(self):
        """A description of the executor, for a result's provenance."""
        return dict(executor=type(self).__name__, n_workers=self.n_workers)


class LocalExecutor(Executor):
    """
    Chunks on a pool of ``n_jobs`` threads in this process.

    Parameters
    ----------
    n_jobs : int, optional
        Threads (default: the CPUs this process may use).

    Examples
    --------
    >>> seen = []
    >>> LocalExecutor(n_jobs=1).map(pow, 2, [(3,), (4,)],
    ...                             lambda i, v: seen.append((i, v)))["n_tasks"]
    2
    >>> seen
    [(0, 8), (1, 16)]
    """

    def __init__(self, n_jobs=None):
        self.n_jobs = int(n_jobs) if n_jobs else _available_cpus()

    @property
    def n_workers(self):
        return self.n_jobs

    def map(self, kernel, shared, chunks, on_result, *, name="chunks", serial=False,
            imports=(), on_cancel=None):
        _import(imports)
        chunks = list(chunks)
        n_threads = 1 if serial else max(1, min(self.n_jobs, len(chunks)))
        # the limit is process-wide: set here, before the pool's threads start
        with sigterm_as_exception(), one_blas_thread():
            if n_threads == 1:
                for i, chunk in enumerate(chunks):
                    on_result(i, kernel(shared, *chunk))
            else:
                self._pool(kernel, shared, chunks, on_result, n_threads, on_cancel)
        return dict(self.info(), n_tasks=len(chunks))

    @staticmethod
    def _pool(kernel, shared, chunks, on_result, n_threads, on_cancel):
        pool = ThreadPoolExecutor(n_threads)
        index = {}
        try:
            index = {pool.submit(kernel, shared, *chunk): i
                     for i, chunk in enumerate(chunks)}
            pending = set(index)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    on_result(index[future], future.result())
        except BaseException:
            for future in index:
                future.cancel()
            if on_cancel is not None:
                on_cancel()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class _Setup(_WorkerPlugin):
    """
    On every worker (and each that joins later or replaces a lost one), from
    its event loop in its main thread: import the kernels' modules and limit
    BLAS to one thread for the worker's life.
    """

    idempotent = True

    def __init__(self, modules):
        self.modules = tuple(modules)
        self.name = "ipvae-snn-setup-" + "-".join(self.modules)

    def setup(self, worker):
        _import(self.modules)
        # kept for the worker's life (each task limits it again itself)
        worker._ipvae_snn_blas = one_blas_thread()


class DaskExecutor(Executor):
    """
    Chunks as tasks of a Dask cluster.

    Parameters
    ----------
    client : distributed.Client
    max_resubmits : int
        How often a chunk is resubmitted after its inputs died with a worker.

    Raises
    ------
    MissingDependencyError, InvalidTypeError
        dask.distributed is not installed, or ``client`` is not a Client.
    """

    local = False

    def __init__(self, client, max_resubmits=MAX_RESUBMITS):
        from .cluster import check_client
        self.client = check_client(client)
        self.max_resubmits = int(max_resubmits)

    @property
    def n_workers(self):
        return len(self.client.scheduler_info().get("workers", {}))

    def info(self):
        from .cluster import client_info
        return dict(client_info(self.client), executor=type(self).__name__)

    def map(self, kernel, shared, chunks, on_result, *, name="chunks", serial=False,
            imports=(), on_cancel=None):
        from distributed import as_completed
        client = self.client
        plugin = _Setup(imports)
        with _REGISTERED_LOCK:       # once per client (workers joining later get it too)
            if (client.id, plugin.name) not in _REGISTERED:
                client.register_plugin(plugin, name=plugin.name)
                _REGISTERED.add((client.id, plugin.name))
        chunks = list(chunks)
        token = uuid.uuid4().hex[:10]
        state = dict(shared=None)

        def shared_future():
            if state["shared"] is None or state["shared"].status != "finished":
                # on every worker: a worker lost takes no copy with it
                # (in a list: a tuple would be scattered item by item)
                [state["shared"]] = client.scatter([shared], broadcast=True, hash=False)
            return state["shared"]

        attempts = [0] * len(chunks)           # resubmissions of each chunk

        def submit(indices):
            sf = shared_future()
            data = client.scatter([chunks[i] for i in indices], hash=False)
            return {client.submit(_call, kernel, sf, d, pure=False,
                                  key=f"ipvae-{name}-{token}-{i}"
                                      + (f"-r{attempts[i]}" if attempts[i] else "")): i
                    for i, d in zip(indices, data)}

        index = submit(range(len(chunks)))
        futures = as_completed(list(index), loop=client.loop, with_results=True,
                               raise_errors=False)
        try:
            for batch in futures.batches():
                lost = []
                for future, value in batch:
                    i = index.pop(future)
                    if future.status == "finished":
                        on_result(i, value)
                    elif _is_lost(future, value):
                        lost.append(i)
                    else:
                        raise _one_line(value)
                    future.release()
                if lost:
                    # one line per loss (the chunks of one lost worker come back
                    # in several batches, each a first resubmission)
                    if max(attempts[i] for i in lost) == max(attempts):
                        _log.warning("a Dask worker was lost; its chunks are sent again")
                    for i in lost:
                        attempts[i] += 1
                        if attempts[i] > self.max_resubmits:
                            raise WorkerLostError(
                                f"Dask workers holding chunk {i} of the batch were lost "
                                f"{attempts[i]} times; the batch was given up")
                    new = submit(lost)
                    index.update(new)
                    futures.update(list(new))
        except BaseException:
            client.cancel(list(index))
            if on_cancel is not None:
                on_cancel()
            raise
        finally:
            if state["shared"] is not None:
                state["shared"].release()
        return dict(self.info(), n_tasks=len(chunks), resubmits=sum(attempts))


def _is_lost(future, value):
    """Whether a task failed because its inputs (or its worker) were lost."""
    if future.status == "cancelled":
        return True
    from distributed import FutureCancelledError
    return isinstance(value, (FutureCancelledError, _cancelled_errors()))


def _cancelled_errors():
    import asyncio
    import concurrent.futures
    return (asyncio.CancelledError, concurrent.futures.CancelledError)


def _one_line(exc):
    """A task's error; `KilledWorker` (a task that kills its workers) as one line."""
    from distributed import KilledWorker
    if isinstance(exc, KilledWorker):
        return WorkerLostError(f"a chunk's task killed the Dask workers that ran it "
                               f"({exc}); see the workers' logs")
    return exc


def make_executor(client=None, n_jobs=None):
    """
    The executor of a batch: Dask tasks of ``client`` if given, else a local
    pool of ``n_jobs`` threads.

    Examples
    --------
    >>> type(make_executor()).__name__, make_executor(n_jobs=3).n_workers
    ('LocalExecutor', 3)
    """
    if client is not None:
        return DaskExecutor(client)
    return LocalExecutor(n_jobs)


def _available_cpus():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
