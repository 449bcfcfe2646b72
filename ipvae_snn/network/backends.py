"""
Devices as backends: how one chunk of inputs runs on one Brian2 device.

Each device is a `Backend` subclass, registered explicitly under its Brian2
device name (`registry.register_backend`, as Brian2 registers its devices in
``all_devices``): `RuntimeBackend` here,
`~ipvae_snn.network.standalone.CppStandaloneBackend` and
`~ipvae_snn.network.standalone.CudaStandaloneBackend` beside it (registered
by name, imported when first asked for). `devices` lists the registered ones
when asked; every registered backend's code is part of the build key
(`~ipvae_snn.network.builder.program_code_digest`).

`run_chunk` is the network's one per-chunk kernel: what every chunk of a
batch shares (a `NetworkJob`: the spec of the compiled program, the run
values, the model) and one chunk's inputs → the arrays they add to the result
(`ResultCollector.part`). `SpikingIPVAE.run` runs it over the chunks of a
batch with an `~ipvae_snn.executor.Executor`, here or on Dask workers.

Examples
--------
>>> from ipvae_snn.network import backends
>>> backends.devices()
('runtime', 'cpp_standalone', 'cuda_standalone')
>>> backends.get_backend("runtime").float_dtypes
('float64',)
"""

import contextlib
import threading
import time
from typing import NamedTuple

import numpy as np

from .._signals import Cancelled, ChildProcesses
from ..validation import InvalidValueError, UnavailableDeviceError
from . import builder
from .registry import (BACKENDS, devices, get_backend, register_backend,
                       registered_backends, unregister_backend)

__all__ = ["Backend", "RuntimeBackend", "NetworkJob", "run_chunk", "stop_call", "call_processes",
           "register_backend",
           "unregister_backend", "devices", "get_backend", "registered_backends",
           "BACKENDS"]

class NetworkJob(NamedTuple):
    """
    What every chunk of a batch shares: the Brian2 ``device``, the ``spec``
    of its program, the run ``values`` (`builder.RunValues`), the model
    ``params``, the recorded ``windows``, the client's build ``key``, where
    compiled programs are kept (``cache_dir``; None: the default of the
    process that runs the chunk), an id of the ``call`` (to stop its programs),
    whether to say that a program is being compiled (``verbose``) and, in
    sequence mode (``spec.sequence``), the ``blank`` flag of each window of an
    input (n_windows,).
    """

    device: str
    spec: object
    values: object
    params: object
    windows: np.ndarray
    key: str
    cache_dir: object = None
    call: str = ""
    verbose: bool = False
    blank: object = None


def run_chunk(job, drive, replay, seed, x, gain=None):
    """
    The network on one chunk of inputs: the kernel of `SpikingIPVAE.run`.

    Pure: the arrays depend on its arguments only, whichever process or
    thread runs it (the compiled program is built in the running process's
    cache when it is not there yet).

    Parameters
    ----------
    job : NetworkJob
    drive : ndarray, shape (n, n_latents)
        The feed-forward drive of each input (``params.feedforward(x)``); in
        sequence mode that of each window, (n, n_windows, n_latents).
    replay : ndarray of int, shape (n, n_windows, n_latents), or None
        Counts replacing the neurons' own draws.
    seed : int
        Seeds the chunk's run.
    x : ndarray, shape (n, n_pixels), or None
        The chunk's patches (for the read-outs; None in sequence mode, whose
        read-outs `~ipvae_snn.sequences.SequenceResult` computes).
    gain : ndarray, shape (n, n_windows), optional
        The shared gain of each window (``job.spec.gain``, the shared-gain variant).

    Returns
    -------
    dict
        `ResultCollector.part` of the chunk (counts of the recorded windows,
        ``r2``, ``mse``, ``zero_fraction``, ``mean_count``, ``u_final``,
        ``onset``, ``u_trace``, ``spikes``, ``profile``) and its ``timing``
        (``build_s``, ``run_s``, ``collect_s``, ``compiled``).

    Raises
    ------
    UnavailableDeviceError
        When this process computes another build key than ``job.key`` (other
        versions of ipvae-snn, Brian2 or the equations).
    """
    from .collect import ResultCollector
    mine = job.spec.key()
    if mine != job.key:
        raise UnavailableDeviceError(
            f"this process computes another build key for the network ({mine}, the "
            f"caller {job.key}): its ipvae-snn, Brian2 or equations differ from the "
            f"caller's; install the same versions everywhere")
    backend = get_backend(job.device)(n_jobs=1, cache_dir=job.cache_dir)
    raw, timing = (backend.run_chunk(job, drive, replay, seed) if gain is None
                   else backend.run_chunk(job, drive, replay, seed, gain=gain))
    t0 = time.perf_counter()
    collector = ResultCollector(job.params, job.spec, x, job.windows, n_inputs=len(drive))
    collector.add(slice(0, len(drive)), raw)
    part = collector.part()
    part["timing"] = dict(timing, collect_s=time.perf_counter() - t0)
    return part


# The child processes of each call running here (call id -> [ChildProcesses,
# chunks running]), so that an interrupted call stops its programs.
_CALLS = {}
_CALLS_LOCK = threading.Lock()
# Calls stopped in this process (an id each: a few bytes per interrupted call).
_STOPPED = set()


@contextlib.contextmanager
def call_processes(call):
    """
    The `ChildProcesses` of ``call`` in this process, while a chunk uses them.

    Raises
    ------
    Cancelled
        When the call was stopped (`stop_call`): its chunks start nothing more.
    """
    with _CALLS_LOCK:
        if call in _STOPPED:
            raise Cancelled("the call was stopped")
        entry = _CALLS.setdefault(call, [ChildProcesses(), 0])
        entry[1] += 1
    try:
        yield entry[0]
    finally:
        with _CALLS_LOCK:
            entry[1] -= 1
            if entry[1] == 0 and _CALLS.get(call) is entry:
                del _CALLS[call]


def stop_call(call):
    """
    Stop the programs (runs and compilers) that call ``call`` runs in this
    process; its chunks not started yet start none.
    """
    with _CALLS_LOCK:
        _STOPPED.add(call)
        entry = _CALLS.get(call)
    if entry is not None:
        entry[0].kill_all()


class Backend:
    """
    How a chunk of inputs runs on one Brian2 device.

    Subclasses set `name` (the Brian2 device) and implement `inputs_per_run`
    and `run_chunk`; `register_backend` offers them.

    Parameters
    ----------
    n_jobs : int
        Unused (chunks run in parallel through an executor); kept for callers.
    cache_dir : str, optional
        Where compiled programs are kept (devices that compile; default
        `~ipvae_snn.network.default_cache_dir` of the running process).
    """

    #: The Brian2 device name this backend runs on.
    name = None
    #: Float precisions the device computes in.
    float_dtypes = ("float64", "float32")
    #: Whether the device can time each code object (``profile=True``).
    supports_profile = False
    #: Whether two chunks may run at once in one process.
    thread_safe = True
    #: Patches side by side in one run when the caller does not say
    #: (`~ipvae_snn.network.builder.NetworkSpec`'s ``batch``).
    default_batch = 1

    def __init__(self, n_jobs=1, cache_dir=None):
        from .program import default_cache_dir
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir or default_cache_dir()

    @classmethod
    def check_available(cls):
        """Raise `UnavailableDeviceError` when the device cannot run here."""

    @classmethod
    def check_dtype(cls, dtype):
        """Raise `InvalidValueError` when the device does not compute in ``dtype``."""
        if dtype.name not in cls.float_dtypes:
            raise InvalidValueError(f"the {cls.name} device computes in "
                                    f"{' or '.join(cls.float_dtypes)} only")

    def inputs_per_run(self, n_inputs, n_windows, requested=None):
        """How many inputs one run of the device simulates one after another."""
        raise NotImplementedError

    def run_chunk(self, job, drive, replay, seed):
        """
        Run one chunk (`run_chunk`'s arguments but the patches).

        Returns
        -------
        raw : dict of ndarray
            The run's monitor arrays: ``spike_i``, ``spike_t``,
            ``spike_count`` (window realization), ``boundary_u``,
            ``boundary_onset``, ``final_u``, ``final_onset``, ``u_trace``
            (when recorded), ``profile`` (optional).
        timing : dict
            ``build_s``, ``run_s``, ``compiled``.
        """
        raise NotImplementedError


class RuntimeBackend(Backend):
    """Brian2's runtime device with numpy code generation, in this process."""

    name = "runtime"
    float_dtypes = ("float64",)
    # Brian2's device state is global to a process
    thread_safe = False

    def inputs_per_run(self, n_inputs, n_windows, requested=None):
        # Building the objects dominates a runtime run: one run for the batch.
        return n_inputs

    def run_chunk(self, job, drive, replay, seed, gain=None):
        from brian2 import prefs
        from brian2 import seed as brian_seed
        from brian2.devices.device import reset_device
        spec = job.spec
        t0 = time.perf_counter()
        with builder.BRIAN_LOCK:
            reset_device("runtime")
            saved = prefs.codegen.target
            prefs.codegen.target = "numpy"
            try:
                rep = None if replay is None else np.asarray(replay).reshape(
                    -1, spec.n_latents)
                rows, blank = drive, None
                if spec.sequence:         # a drive and a blank flag per window
                    rows = np.asarray(drive).reshape(-1, spec.n_latents)
                    blank = np.tile(job.blank, len(drive))
                net, group, _, monitors = builder.build_objects(
                    spec, job.values, rows, rep, blank,
                    None if gain is None else np.asarray(gain, float).ravel())
                brian_seed(seed)
                with builder.input_grids():
                    net.run(builder.run_duration(spec, spec.slots),
                            namespace=net.namespace)
                # copies: Brian2 >= 2.10 returns views of memory freed with the network
                raw = dict(spike_i=np.array(monitors["spikes"].i[:]),
                           spike_t=np.array(monitors["spikes"].t_[:]),
                           boundary_u=np.array(monitors["boundary"].u[:]).T.ravel(),
                           boundary_onset=np.array(
                               monitors["boundary"].runaway_onset[:]).T.ravel(),
                           final_u=np.array(group.u[:]),
                           final_onset=np.array(group.runaway_onset[:]))
                if spec.realization == "window":
                    raw["spike_count"] = np.array(monitors["spikes"].z[:])
                if "u_trace" in monitors:
                    raw["u_trace"] = np.array(monitors["u_trace"].u[:]).T.ravel()
            finally:
                prefs.codegen.target = saved
        return raw, dict(build_s=0.0, run_s=time.perf_counter() - t0, compiled=False)

