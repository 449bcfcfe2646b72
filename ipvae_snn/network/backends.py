"""
Devices as backends: how a batch of inputs runs on one Brian2 device.

Each device is a subclass of `Backend` registered under its Brian2 device name
(as Brian2 registers its devices in ``all_devices``): `RuntimeBackend` here,
`~ipvae_snn.network.standalone.CppStandaloneBackend` and
`~ipvae_snn.network.standalone.CudaStandaloneBackend` beside it. `SpikingIPVAE`
only talks to this interface; a new device is a new subclass.

Examples
--------
>>> from ipvae_snn.network import BACKENDS
>>> sorted(BACKENDS)
['cpp_standalone', 'cuda_standalone', 'runtime']
>>> BACKENDS["runtime"].float_dtypes
('float64',)
"""

import time
from typing import NamedTuple

import numpy as np

from ..validation import InvalidValueError
from . import builder

__all__ = ["Backend", "RuntimeBackend", "Batch", "BACKENDS", "get_backend"]

#: Device name -> `Backend` subclass, filled as subclasses are defined.
BACKENDS = {}


class Batch(NamedTuple):
    """
    One call's work: the ``spec`` of the network, the run ``values``
    (`builder.RunValues`), the feed-forward ``drive`` of every input, the
    ``replay`` counts (or None), and the inputs of each run of the program
    (``chunks``, slices) with its ``seeds``.
    """

    spec: object
    values: object
    drive: np.ndarray
    replay: object
    chunks: list
    seeds: list

    def chunk_replay(self, sl):
        """The replayed counts of the inputs ``sl``, or None."""
        return None if self.replay is None else self.replay[sl]


class Backend:
    """
    How a batch of inputs runs on one Brian2 device.

    Subclasses set `name` (the Brian2 device) and implement `run`; they are
    registered in `BACKENDS` when defined.

    Parameters
    ----------
    n_jobs : int
        Parallel runs (processes) where the device supports them.
    cache_dir : str
        Where compiled programs are kept (devices that compile).
    """

    #: The Brian2 device name this backend runs on (the registry key).
    name = None
    #: Float precisions the device computes in.
    float_dtypes = ("float64", "float32")
    #: Whether the device can time each code object (``profile=True``).
    supports_profile = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name is not None:
            BACKENDS[cls.name] = cls

    def __init__(self, n_jobs=1, cache_dir=None):
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir

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

    def run(self, batch, collector, progress):
        """
        Run ``batch``, handing each run's raw monitor arrays to
        ``collector.add(slice, raw)`` and advancing ``progress``.

        Returns
        -------
        dict
            Timing: ``build_s``, ``run_s``, ``n_runs`` and device extras
            (``compiled``, ``per_run_s``, ``profile``).
        """
        raise NotImplementedError


class RuntimeBackend(Backend):
    """Brian2's runtime device with numpy code generation, in this process."""

    name = "runtime"
    float_dtypes = ("float64",)

    def inputs_per_run(self, n_inputs, n_windows, requested=None):
        # Building the objects dominates a runtime run: one run for the batch.
        return n_inputs

    def run(self, batch, collector, progress):
        timing = dict(build_s=0.0, run_s=0.0, n_runs=len(batch.chunks))
        for sl, seed in zip(batch.chunks, batch.seeds):
            t0 = time.perf_counter()
            raw = self._run_chunk(batch, sl, seed)
            timing["run_s"] += time.perf_counter() - t0
            collector.add(sl, raw)
            progress.update(sl.stop - sl.start)
        return timing

    @staticmethod
    def _run_chunk(batch, sl, seed):
        from brian2 import prefs
        from brian2 import seed as brian_seed
        from brian2.devices.device import reset_device
        spec = batch.spec
        reset_device("runtime")
        saved = prefs.codegen.target
        prefs.codegen.target = "numpy"
        try:
            replay = batch.chunk_replay(sl)
            rep = None if replay is None else replay.reshape(-1, spec.n_latents)
            drive = batch.drive[sl]
            net, group, _, monitors = builder.build_objects(spec, batch.values, drive, rep)
            brian_seed(seed)
            with builder.input_grids():
                net.run(builder.run_duration(spec, len(drive)), namespace=net.namespace)
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
            return raw
        finally:
            prefs.codegen.target = saved


def get_backend(device):
    """
    The `Backend` subclass of ``device``.

    Raises
    ------
    InvalidValueError
        For an unknown device, naming the known ones.
    """
    from .._signals import prepare_brian2
    from ..validation import check_choice
    backend = BACKENDS[check_choice(device, "device", tuple(BACKENDS))]
    prepare_brian2()            # Brian2's SIGINT handler and temporary files
    return backend
