"""
The spiking LCA's Brian2 objects (for `ipvae_snn.lca.SpikingLCA`), on the
runtime device and as a compiled ``cpp_standalone`` program.

The equations are the text of ``equations/lca.txt``. One neuron group holds
``n_blocks`` copies of the network side by side (patches run in parallel: the
runtime device, whose cost is per time step) and shows each block
``inputs_per_block`` patches one after the other (the compiled program, whose
cost is per neuron and spike). Lateral synapses connect every pair of
distinct neurons of a block (fan-out ``n_atoms − 1``).

The compiled program is cached by `ipvae_snn.network.ProgramCache`, like the
iP-VAE's: patches, weights and constants go in as run arguments, so a new
dictionary or λ never recompiles.
"""

import hashlib
import json
import os
import shutil

import numpy as np

from .. import _equations
from . import builder
from .program import ProgramCache

__all__ = ["LCASpec", "equations", "build_objects", "run_runtime", "program",
           "run_program", "GROUP", "SYNAPSES", "DRIVE"]

GROUP, SYNAPSES, DRIVE = "lca", "lca_lateral", "drive_input"
CONSTANTS = ("tau", "lam", "rate_per_code")


def equations():
    """
    The sections of ``equations/lca.txt``.

    Examples
    --------
    >>> equations()["threshold"]
    'v > 1'
    """
    return _equations.load_file(os.path.join(_equations.equations_dir(), "lca.txt"))


class LCASpec:
    """Everything that shapes a compiled spiking LCA (and nothing else)."""

    realization = "lca"

    def __init__(self, n_atoms, n_blocks, inputs_per_block, n_windows, window_s,
                 steps_per_window):
        self.n_atoms = int(n_atoms)
        self.n_blocks = int(n_blocks)
        self.inputs_per_block = int(inputs_per_block)
        self.n_windows = int(n_windows)
        self.window_s = float(window_s)
        self.steps_per_window = int(steps_per_window)

    @property
    def dt_s(self):
        """The simulation time step in seconds."""
        return self.window_s / self.steps_per_window

    @property
    def steps_per_input(self):
        """Time steps each patch is shown for."""
        return self.n_windows * self.steps_per_window

    def key(self):
        """Hash of the spec, the equations, this module's code and Brian2's version."""
        import brian2
        with open(__file__, encoding="utf-8") as f:
            code = builder.code_digest(f.read())
        text = json.dumps(dict(vars(self), brian2=brian2.__version__, code=code,
                               equations=equations()), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def _pairs(spec):
    """Presynaptic and postsynaptic indices: all distinct pairs in each block."""
    k = spec.n_atoms
    pre, post = np.nonzero(~np.eye(k, dtype=bool))
    offsets = (np.arange(spec.n_blocks) * k)[:, None]
    return ((pre[None, :] + offsets).ravel().astype(np.int32),
            (post[None, :] + offsets).ravel().astype(np.int32))


def weights(spec, gram, rate_per_code, tau_s):
    """
    Synapse weights ``G_ij / (rate_per_code · τ)`` in `_pairs` order (the
    drop of ``u_i`` at one spike of ``j``), tiled over the blocks.
    """
    k = spec.n_atoms
    pre, post = np.nonzero(~np.eye(k, dtype=bool))
    w = gram[post, pre] / (rate_per_code * tau_s)
    return np.tile(w, spec.n_blocks)


def build_objects(spec, drive, gain, w, constants):
    """
    The Brian2 objects of one spiking LCA.

    Parameters
    ----------
    spec : LCASpec
    drive : ndarray, shape (inputs_per_block, n_blocks * n_atoms)
        The drive ``Φᵀx`` of each patch, a `TimedArray` over the inputs.
    gain : ndarray, shape (n_blocks * n_atoms,)
        ``1 / G_ii``.
    w : ndarray
        Synapse weights (`weights`).
    constants : dict
        ``tau`` (s), ``lam``, ``rate_per_code`` (Hz).

    Returns
    -------
    net, group, lateral, spikes, boundary
    """
    from brian2 import (Hz, Network, NeuronGroup, SpikeMonitor, StateMonitor, Synapses,
                        TimedArray, second)
    eqs = equations()
    dt = spec.dt_s * second
    input_dt = dt * spec.steps_per_input
    namespace = {DRIVE: TimedArray(drive, dt=input_dt, name=DRIVE)}
    n = spec.n_blocks * spec.n_atoms
    group = NeuronGroup(n, eqs["neuron"] + "\n" + eqs["constants"],
                        threshold=eqs["threshold"], reset=eqs["reset"], method="euler",
                        dt=dt, namespace=namespace, name=GROUP)
    group.tau = constants["tau"] * second
    group.lam = constants["lam"]
    group.rate_per_code = constants["rate_per_code"] * Hz
    group.gain = gain
    start = group.run_regularly(eqs["input_start"], dt=input_dt, when="start",
                                order=-1, name="lca_input_start")
    floor = group.run_regularly(eqs["floor"], dt=dt, when="after_thresholds",
                                name="lca_floor")
    lateral = Synapses(group, group, model=eqs["synapse"], on_pre=eqs["on_pre"],
                       dt=dt, name=SYNAPSES)
    pre, post = _pairs(spec)
    lateral.connect(i=pre, j=post)
    lateral.w = w
    spikes = SpikeMonitor(group, name="lca_spikes")
    # the state at the end of each patch, read before the next one starts
    boundary = StateMonitor(group, "u", record=True, dt=input_dt, when="start",
                            order=-2, name="lca_boundary")
    net = Network(group, start, floor, lateral, spikes, boundary)
    net.namespace = namespace
    return net, group, lateral, spikes, boundary


def _duration(spec):
    from brian2 import second
    return spec.inputs_per_block * spec.n_windows * spec.window_s * second


def _final_u(spec, boundary_u, last_u):
    """The state at the end of each input, shape (n_blocks, inputs, n_atoms)."""
    k, b, p = spec.n_atoms, spec.n_blocks, spec.inputs_per_block
    rows = np.asarray(boundary_u).reshape(-1, b * k)[1:p]          # ends of inputs 0..p-2
    rows = np.concatenate([rows, np.asarray(last_u).reshape(1, b * k)])
    return rows.reshape(p, b, k).transpose(1, 0, 2)


def run_runtime(spec, drive, gain, w, constants):
    """
    Run on Brian2's runtime device (numpy) in this process.

    Returns
    -------
    dict
        ``spike_i``, ``spike_t`` (seconds), ``final_u`` (n_blocks, inputs, n_atoms).
    """
    from brian2 import second
    with builder.BRIAN_LOCK, builder.brian_prefs(np.float64), builder.input_grids():
        net, group, _, spikes, boundary = build_objects(spec, drive, gain, w, constants)
        net.run(_duration(spec), namespace=net.namespace)
        return dict(spike_i=np.asarray(spikes.i[:], dtype=np.int64),
                    spike_t=np.asarray(spikes.t[:] / second),
                    final_u=_final_u(spec, boundary.u[:].T, group.u[:]))


def _compile(spec, directory):
    """Build the standalone project of ``spec`` into ``directory``; its manifest."""
    from brian2 import device, set_device
    from brian2.devices.device import reset_device
    tmp = directory + ".building"
    k = spec.n_atoms
    with builder.BRIAN_LOCK:
        set_device("cpp_standalone", build_on_run=False)
        try:
            device.reinit()
            device.activate(build_on_run=False)
            with builder.brian_prefs(np.float64), builder.input_grids():
                drive = np.zeros((spec.inputs_per_block, spec.n_blocks * k))
                w = np.zeros(spec.n_blocks * k * (k - 1))
                net, group, lateral, spikes, boundary = build_objects(
                    spec, drive, np.ones(spec.n_blocks * k), w,
                    dict(tau=0.01, lam=0.1, rate_per_code=100.0))
                net.run(_duration(spec), namespace=net.namespace)
                shutil.rmtree(tmp, ignore_errors=True)
                device.build(directory=tmp, compile=True, run=False, with_output=False)

                def entry(var):
                    return device.get_array_filename(var), np.dtype(var.dtype).str

                results = dict(spike_i=entry(spikes.variables["i"]),
                               spike_t=entry(spikes.variables["t"]),
                               boundary_u=entry(boundary.variables["u"]),
                               final_u=entry(group.variables["u"]))
                args = {name: f"{GROUP}.{name}" for name in (*CONSTANTS, "gain")}
                args.update(w=f"{SYNAPSES}.w", drive=f"{DRIVE}.values")
                dtypes = dict(gain=np.dtype(group.variables["gain"].dtype).str,
                              w=np.dtype(lateral.variables["w"].dtype).str,
                              drive=np.dtype(group.namespace[DRIVE].values.dtype).str)
                manifest = dict(binary="main", results=results, args=args,
                                dtypes=dtypes, spec=vars(spec), device="cpp_standalone")
        finally:
            device.reinit()
            reset_device("runtime")
    if os.path.exists(directory):
        shutil.rmtree(directory)
    os.replace(tmp, directory)
    return manifest


def program(spec, cache_dir, progress=False):
    """The compiled `~ipvae_snn.network.Program` of ``spec`` (built once, cached)."""
    from .standalone import check_compiler
    check_compiler()
    prog, _ = ProgramCache(cache_dir).load_or_build(
        spec, _compile,
        description="the spiking LCA for cpp_standalone", progress=progress)
    return prog


def run_program(prog, spec, drive, gain, w, constants):
    """One run of a compiled spiking LCA; the arrays of `run_runtime`."""
    with prog.call_folder() as folder:
        args = (prog.scalar_args(constants)
                + prog.write_inputs(folder, dict(gain=gain, w=w, drive=drive)))
        raw = prog.run(os.path.join(folder, "results"), args, seed=0)
    k = spec.n_blocks * spec.n_atoms
    return dict(spike_i=raw["spike_i"].astype(np.int64),
                spike_t=raw["spike_t"].astype(np.float64),
                final_u=_final_u(spec, raw["boundary_u"].reshape(-1, k),
                                 raw["final_u"]))
