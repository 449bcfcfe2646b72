"""
The iP-VAE as a Brian2 spiking network (design note §4).

Each latent is a neuron whose membrane potential ``u`` is its log expected
spike count per window; the competition between neurons runs through lateral
`Synapses` with weights ``W = Φᵀ Σ⁻¹ Φ``; the integer spike count of each window
is the posterior sample. The equations are the text files of
`ipvae_snn.equations`; this module only wires them into Brian2 objects.

Two realizations:

``"window"`` (exact)
    One Brian2 time step per window. Counts are drawn as ``Poisson(exp(u))``,
    the synapses deliver the count-weighted inhibition, the FOND update with its
    clamps runs at the window's end: the reference algorithm in distribution,
    and step for step when the counts are replayed.
``"continuous"``
    ``dt ≪ T_w``; escape-noise neurons with rate ``exp(u)/T_w``, the drive
    integrated continuously and each spike of neuron j changing every ``u_i``
    at once by ``-lr W_ij`` (the self term is the reset).

Devices: ``"runtime"`` (Brian2's numpy target, in process) and
``"cpp_standalone"``: the network is compiled once per (realization, size,
window count, inputs per run, recorded variables, precision) into a cache
directory keyed by a hash, and every run — new inputs *and new parameters* —
goes in through command-line run arguments, so fitting a dictionary never
recompiles. Runs are spread over processes, each with its own results
directory. ``"cuda_standalone"`` uses the same path through brian2cuda when it
is installed.
"""

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import __version__, equations
from ._io import atomic_save_json
from ._progress import ProgressBar
from .data import check_patches
from .params import IPVAEParams
from .results import SpikingResult, window_metrics

__all__ = ["SpikingIPVAE", "DEVICES", "default_cache_dir", "check_compiler"]

#: Devices a network can run on.
DEVICES = ("runtime", "cpp_standalone", "cuda_standalone")

# Environment variable read by the compiled program to seed its generators.
_SEED_ENV = "IPVAE_SNN_SEED"
# Names of the Brian2 objects (they appear in run arguments and file names).
_GROUP, _SYNAPSES, _DRIVE, _REPLAY = ("ipvae_neurons", "ipvae_lateral",
                                      "drive_input", "replay_counts")
# Aim for about this many simulated windows per standalone run: enough to
# amortise starting the program and loading W (~35 ms), few enough to
# spread a batch over processes. It depends on n_windows only, so that batches
# of any size share one build (the last run of a batch is padded).
_WINDOWS_PER_RUN = 8000


def _default_window():
    """Default window length T_w = 100 ms (see `SpikingIPVAE`)."""
    from brian2 import ms
    return 100 * ms


def default_cache_dir():
    """Where compiled networks are kept: ``$IPVAE_SNN_CACHE`` or the user cache."""
    env = os.environ.get("IPVAE_SNN_CACHE")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ipvae-snn", "builds")


def check_compiler():
    """
    The C++ compiler Brian2's standalone mode will use.

    Raises
    ------
    RuntimeError
        When none can be found, naming what was looked for.
    """
    candidates = []
    for value in (os.environ.get("CXX"), sysconfig.get_config_var("CXX")):
        if value:
            candidates.append(value.split()[0])
    candidates += ["c++", "g++", "clang++"]
    for name in candidates:
        if shutil.which(name):
            return shutil.which(name)
    raise RuntimeError(
        "device 'cpp_standalone' needs a C++ compiler, but none was found "
        f"(looked for {', '.join(dict.fromkeys(candidates))} on PATH). Install one "
        "(e.g. 'apt install g++') or use device='runtime'.")


def _check_brian2cuda():
    try:
        import brian2cuda  # noqa: F401
    except ImportError:
        raise RuntimeError(
            "device 'cuda_standalone' needs brian2cuda and an NVIDIA GPU with the "
            "CUDA toolkit: pip install brian2cuda (1.0b1 pins brian2==2.10.1, "
            "Python 3.12). Use device='cpp_standalone' on a CPU.") from None


def _as_seconds(value, name):
    """A Brian2 time quantity -> float seconds, with a clear error otherwise."""
    from brian2 import Quantity, second
    from brian2.units.fundamentalunits import DIMENSIONLESS
    if not isinstance(value, Quantity) or value.dim is DIMENSIONLESS:
        raise ValueError(f"{name} must be a time with units, e.g. 100*ms; got "
                         f"{value!r}")
    if value.dim != second.dim:
        raise ValueError(f"{name} must have units of time, got {value!r}")
    seconds = float(value / second)
    if not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return seconds


def _as_hertz(value, name):
    from brian2 import Hz, Quantity
    if not isinstance(value, Quantity) or value.dim != Hz.dim:
        raise ValueError(f"{name} must be a rate with units, e.g. 500*Hz; got "
                         f"{value!r}")
    hz = float(value / Hz)
    if not np.isfinite(hz) or hz <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return hz


class _Spec:
    """Everything that shapes the compiled program (and nothing else)."""

    def __init__(self, realization, n_latents, n_windows, inputs_per_run,
                 window_s, steps_per_window, record_u, replay, dtype, profile=False):
        self.realization = realization
        self.n_latents = int(n_latents)
        self.n_windows = int(n_windows)
        self.inputs_per_run = int(inputs_per_run)
        self.window_s = float(window_s)
        self.steps_per_window = int(steps_per_window)
        self.record_u = tuple(int(i) for i in record_u)
        self.replay = bool(replay)
        self.dtype = dtype
        self.profile = bool(profile)

    @property
    def dt_s(self):
        return self.window_s / self.steps_per_window

    @property
    def steps_per_input(self):
        return self.n_windows * self.steps_per_window

    def key(self):
        """Hash of the spec, the equations, the code that wires them, versions."""
        import brian2
        with open(__file__, "rb") as f:     # this module builds the network
            wiring = hashlib.sha256(f.read()).hexdigest()
        text = json.dumps(dict(vars(self), brian2=brian2.__version__,
                               ipvae_snn=__version__, wiring=wiring,
                               equations=equations.load(self.realization)),
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def _run_values(params, max_count, runaway_margin):
    """Parameter values of a run: shared constants, per-neuron arrays, weights."""
    constants = dict(
        lr=params.lr, clamp_u=params.clamp_u, clamp_du=params.clamp_du,
        clamp_min=params.clamp_min, rate_eps=params.rate_eps,
        softplus_threshold=params.softplus_threshold,
        inv_max_count=0.0 if max_count is None else 1.0 / max_count,
        runaway_u=params.clamp_u - runaway_margin)
    # all-to-all synapses are created pre-major (synapse j * K + i connects
    # j -> i), so the weight of synapse s is W[i, j] = W.T.ravel()[s]
    weights = params.lateral_weights().T.ravel()
    return constants, dict(bias=params.bias, u_init=params.u_init), weights


# softplus(x) = log(1 + e^x), linear above `threshold` (torch's convention).
# Above x = 7 it is evaluated as x + log1p(e^-x) with log1p by its series to
# fourth order (error < e^-5x / 5 < 1e-16 relative): one exp instead of exp
# and log1p on the path nearly every neuron takes each window. Identical to
# log1p(exp(x)) within one unit in the last place of a double.
_SOFTPLUS_SERIES_FROM = 7.0
_SOFTPLUS_C = """
static inline double ipvae_softplus(const double x, const double threshold)
{
    if (x > threshold)
        return x;
    if (x > %(from)r) {
        const double e = exp(-x);
        return x + e * (1.0 - e * (0.5 - e * (1.0 / 3.0 - 0.25 * e)));
    }
    return log1p(exp(x));
}
""" % {"from": _SOFTPLUS_SERIES_FROM}


def _softplus_function():
    """The Brian2 `Function` ``softplus(x, threshold)`` used by the equations."""
    from brian2 import Function

    def softplus(x, threshold):
        x = np.asarray(x, dtype=np.float64)
        threshold = np.broadcast_to(threshold, x.shape)
        out = np.array(x)                                   # linear above threshold
        with np.errstate(over="ignore"):
            series = (x > _SOFTPLUS_SERIES_FROM) & (x <= threshold)
            e = np.exp(-x[series])
            out[series] = x[series] + e * (1.0 - e * (0.5 - e * (1.0 / 3.0 - 0.25 * e)))
            low = x <= np.minimum(threshold, _SOFTPLUS_SERIES_FROM)
            out[low] = np.log1p(np.exp(x[low]))
        return out

    function = Function(softplus, arg_units=[1, 1], return_unit=1,
                        arg_types=["float", "float"], return_type="float",
                        stateless=True)
    function.implementations.add_implementation("cpp", _SOFTPLUS_C,
                                                name="ipvae_softplus")
    function.implementations.add_implementation(
        "cuda", _SOFTPLUS_C.replace("static inline double",
                                    "__host__ __device__ static inline double"),
        name="ipvae_softplus")
    return function


def _build_objects(spec, constants, neuron_arrays, weights, drive, replay):
    """
    The Brian2 objects of one network, from the equation texts.

    ``drive`` is (inputs_per_run, n_latents) and ``replay`` (inputs_per_run *
    n_windows, n_latents) or None; both become `TimedArray`s.
    """
    from brian2 import (Network, NeuronGroup, SpikeMonitor, StateMonitor,
                        Synapses, TimedArray, second)
    eqs = equations.load(spec.realization)
    window, dt = spec.window_s * second, spec.dt_s * second
    # multiples of dt computed from dt itself, so that Brian2 sees aligned grids
    input_dt = dt * spec.steps_per_input
    namespace = {_DRIVE: TimedArray(drive, dt=input_dt, name=_DRIVE),
                 "softplus": _softplus_function()}
    draw = eqs["draw"] if "draw" in eqs else None
    if spec.replay:
        if spec.realization != "window":
            raise ValueError("replaying counts needs realization='window'")
        namespace[_REPLAY] = TimedArray(replay, dt=dt * spec.steps_per_window,
                                        name=_REPLAY)
        draw = eqs["draw_replay"]
    group = NeuronGroup(spec.n_latents, eqs["neuron"] + "\n" + eqs["constants"],
                        threshold=eqs["threshold"], reset="", method="euler",
                        dt=dt, namespace=namespace, name=_GROUP)
    for name, value in constants.items():
        setattr(group, name, value)
    group.window = window
    for name, value in neuron_arrays.items():
        setattr(group, name, value)
    group.u = group.u_init
    group.runaway_onset = -1
    input_start = group.run_regularly(eqs["input_start"], dt=input_dt,
                                      when="start", order=-1, name="input_start")
    objects = [group, input_start]
    if draw is not None:
        objects.append(group.run_regularly(draw, dt=dt, when="before_thresholds",
                                           name="draw"))
    objects.append(group.run_regularly(eqs["update"], dt=dt, when="end",
                                       name="update"))
    lateral = Synapses(group, group, model=eqs["synapse"], on_pre=eqs["on_pre"],
                       dt=dt, name=_SYNAPSES)
    # all-to-all, pre-major, generated in the program rather than loaded from
    # two K*K index arrays on every run
    lateral.connect()
    lateral.w = weights
    spike_vars = ["z"] if spec.realization == "window" else []
    spikes = SpikeMonitor(group, variables=spike_vars, name="spikes")
    # The state of each input after its last update, read just before the
    # next input starts (order -2 runs before input_start's reset).
    boundary = StateMonitor(group, ["u", "runaway_onset"], record=True,
                            dt=input_dt, when="start", order=-2,
                            name="boundary")
    objects += [lateral, spikes, boundary]
    monitors = dict(spikes=spikes, boundary=boundary)
    if spec.record_u:
        trace = StateMonitor(group, "u", record=list(spec.record_u), dt=dt,
                             when="start", order=0, name="u_trace")
        objects.append(trace)
        monitors["u_trace"] = trace
    net = Network(*objects)
    net.namespace = namespace     # every object resolves names here, never in a caller's frame
    return net, group, lateral, monitors


@contextlib.contextmanager
def _brian_prefs(dtype):
    from brian2 import prefs
    saved = prefs.core.default_float_dtype
    prefs.core.default_float_dtype = np.dtype(dtype).type
    try:
        yield
    finally:
        prefs.core.default_float_dtype = saved


class _Program:
    """
    A compiled standalone network and how to feed and read it.

    The manifest (JSON beside the build) records the binary, the names of the
    run arguments and the result files with their dtypes, so that later
    processes run the program without Brian2 rebuilding anything.
    """

    def __init__(self, directory, manifest):
        self.directory = directory
        self.manifest = manifest

    @classmethod
    def load_or_build(cls, spec, cache_dir, device_name, progress=False):
        directory = os.path.join(cache_dir, f"{spec.realization}-{spec.key()}")
        manifest_path = os.path.join(directory, "ipvae_manifest.json")
        os.makedirs(cache_dir, exist_ok=True)
        with _file_lock(directory + ".lock"):
            if os.path.exists(manifest_path):
                with open(manifest_path) as f:
                    manifest = json.load(f)
                if os.path.exists(os.path.join(directory, manifest["binary"])):
                    return cls(directory, manifest), False
            if progress:
                print(f"compiling the {spec.realization} network for {device_name} "
                      f"(once, cached in {directory}) ...", file=sys.stderr)
            manifest = _compile(spec, directory, device_name)
            atomic_save_json(manifest_path, manifest)
            return cls(directory, manifest), True

    def write_inputs(self, folder, arrays):
        """
        Write run-argument arrays into ``folder`` in the program's dtypes and
        return the arguments naming them (``group.variable=path``).
        """
        m = self.manifest
        args = []
        for name, arr in arrays.items():
            path = os.path.join(folder, f"{name}.dat")
            np.ascontiguousarray(arr, dtype=m["dtypes"][name]).tofile(path)
            args.append(f"{m['args'][name]}={path}")
        return args

    def run(self, results_dir, args, seed):
        """Run the program once; return the result arrays by name."""
        m = self.manifest
        os.makedirs(results_dir, exist_ok=True)
        env = dict(os.environ)
        env[_SEED_ENV] = str(int(seed))
        cmd = [os.path.join(self.directory, m["binary"]), "--results_dir",
               os.path.join(results_dir, "")] + args
        proc = subprocess.run(cmd, cwd=self.directory, env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0 or "Error" in proc.stderr:
            raise RuntimeError(f"the compiled network failed (exit {proc.returncode})"
                               f": {proc.stderr.strip()[-2000:]}")
        out = {}
        for name, (fname, dtype) in m["results"].items():
            path = os.path.join(results_dir, fname)
            out[name] = (np.fromfile(path, dtype=dtype) if os.path.exists(path)
                         else np.empty(0, dtype=dtype))
        profile = os.path.join(results_dir, "profiling_info.txt")
        if os.path.exists(profile):       # seconds per code object (profile=True)
            with open(profile) as f:
                out["profile"] = {name: float(sec) for name, sec in
                                  (line.split() for line in f if line.strip())}
        return out


def _compile(spec, directory, device_name):
    """Build the standalone project for ``spec`` into ``directory``."""
    from brian2 import device, set_device
    from brian2.devices.device import reset_device
    if device_name == "cuda_standalone":
        import brian2cuda  # noqa: F401  (registers the device)
    k, p = spec.n_latents, spec.inputs_per_run
    constants = {name: 0.0 for name in ("lr", "clamp_u", "clamp_du", "clamp_min",
                                        "rate_eps", "softplus_threshold",
                                        "inv_max_count", "runaway_u")}
    constants.update(clamp_u=10.0, clamp_du=10.0, clamp_min=-8.0)
    replay = np.zeros((p * spec.n_windows, k)) if spec.replay else None
    set_device(device_name, build_on_run=False)
    try:
        device.reinit()
        device.activate(build_on_run=False)
        with _brian_prefs(spec.dtype):
            net, group, lateral, monitors = _build_objects(
                spec, constants, dict(bias=np.zeros(k), u_init=np.zeros(k)),
                np.zeros(k * k), np.zeros((p, k)), replay)
            # Seed every generator from the environment when asked to (run
            # arguments cannot reach the seed, which Brian2 writes as a literal).
            # brian2cuda draws with cuRAND and has no such generators: its runs
            # are seeded by brian2cuda itself.
            if device_name == "cpp_standalone":
                device.insert_code("after_start", (
                    f'{{ const char* _s = getenv("{_SEED_ENV}"); if (_s) '
                    f'for (size_t _i = 0; _i < brian::_random_generators.size(); _i++) '
                    f'brian::_random_generators[_i].seed(strtoul(_s, 0, 10) + _i); }}'))
            net.run(p * spec.n_windows * spec.window_s * _second(),
                    namespace=net.namespace, profile=spec.profile)
            tmp_dir = directory + ".building"
            shutil.rmtree(tmp_dir, ignore_errors=True)
            try:
                device.build(directory=tmp_dir, compile=True, run=False,
                             with_output=False)
            except Exception as exc:   # the compiler's own messages are in tmp_dir
                raise RuntimeError(f"compiling the network with {device_name} failed "
                                   f"({type(exc).__name__}: {exc}); the project is in "
                                   f"{tmp_dir}") from exc
            results = {}
            for label, var in (("spike_i", monitors["spikes"].variables["i"]),
                               ("spike_t", monitors["spikes"].variables["t"]),
                               ("boundary_u", monitors["boundary"].variables["u"]),
                               ("boundary_onset",
                                monitors["boundary"].variables["runaway_onset"]),
                               ("final_u", group.variables["u"]),
                               ("final_onset", group.variables["runaway_onset"])):
                results[label] = (device.get_array_filename(var), np.dtype(var.dtype).str)
            if spec.realization == "window":
                var = monitors["spikes"].variables["z"]
                results["spike_count"] = (device.get_array_filename(var), np.dtype(var.dtype).str)
            if "u_trace" in monitors:
                var = monitors["u_trace"].variables["u"]
                results["u_trace"] = (device.get_array_filename(var), np.dtype(var.dtype).str)
            args = {name: f"{_GROUP}.{name}" for name in constants}
            args.update(window=f"{_GROUP}.window", bias=f"{_GROUP}.bias",
                        u_init=f"{_GROUP}.u_init", w=f"{_SYNAPSES}.w",
                        drive=f"{_DRIVE}.values", replay=f"{_REPLAY}.values")
            dtypes = dict(bias=np.dtype(group.variables["bias"].dtype).str,
                          u_init=np.dtype(group.variables["u_init"].dtype).str,
                          w=np.dtype(lateral.variables["w"].dtype).str,
                          drive=_timed_dtype(group, _DRIVE),
                          replay=_timed_dtype(group, _REPLAY) if spec.replay else None)
    finally:
        device.reinit()
        reset_device("runtime")
    if os.path.exists(directory):
        shutil.rmtree(directory)
    os.replace(tmp_dir, directory)
    return dict(binary="main", results=results, args=args, dtypes=dtypes,
                spec=vars(spec) | {"dtype": np.dtype(spec.dtype).name},
                device=device_name)


def _timed_dtype(group, name):
    return np.dtype(group.namespace[name].values.dtype).str


def _second():
    from brian2 import second
    return second


@contextlib.contextmanager
def _file_lock(path):
    import fcntl
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class SpikingIPVAE:
    """
    The iP-VAE as a spiking network of Brian2 neuron groups and synapses.

    Parameters
    ----------
    params : IPVAEParams
        The model (dictionary, decoder std, leak, step size, prior, clamps).
    realization : {"window", "continuous"}
        ``"window"``: one FOND step per window, exact. ``"continuous"``:
        escape-noise neurons with continuous membranes (see module docstring).
    device : {"cpp_standalone", "runtime", "cuda_standalone"}
        Code-generation target. Standalone builds are cached and reused.
    window : brian2 Quantity (time)
        Window length T_w, one inference step. The default, 100 ms, makes the
        reference model's mean counts per window (0.01 in the first windows,
        0.3 at window 16, 0.9 at steady state) read as 0.1-9 spikes/s, the range
        of mean rates of V1 neurons (Buzsáki & Mizuseki 2014), and makes a window
        one cycle of the ~10 Hz alpha rhythm proposed as a perceptual sampling
        cycle (VanRullen 2016).
    dt : brian2 Quantity (time), optional
        Time step of the continuous realization (default ``window / 100``);
        the window realization always steps by one window.
    max_rate : brian2 Quantity (frequency), optional
        Opt-in bound on activity: rates saturate as ``r / (1 + r / max_rate)``,
        the rate of a Poisson neuron with an absolute refractory period
        ``1 / max_rate``. Off by default (the official dynamics).
    record_u : array_like of int or True, optional
        Neurons whose membrane potential is recorded at every time step
        (True: all).
    dtype : {"float64", "float32"}
        Precision of the standalone program's arithmetic.
    n_jobs : int, optional
        Processes running standalone batches in parallel (default: CPU count).
    inputs_per_run : int, optional
        Inputs simulated one after another by one run of the standalone program
        (default: about 8,000 windows per run). Part of the build's identity.
    cache_dir : str, optional
        Where compiled programs live (default `default_cache_dir`).
    runaway_margin : float
        Neurons whose potential exceeds ``clamp_u - runaway_margin`` are
        reported as runaway (as in `ipvae_snn.reference.infer`).
    profile : bool
        Standalone only: time each Brian2 code object (reported in
        ``result.info["timing"]["profile"]``, seconds summed over runs).

    Raises
    ------
    ValueError, RuntimeError
        Before Brian2 is entered: unknown realization or device, a window
        without time units, a missing C++ compiler, brian2cuda absent.
    """

    def __init__(self, params, realization="window", device="cpp_standalone",
                 window=None, dt=None, max_rate=None, record_u=None,
                 dtype="float64", n_jobs=None, inputs_per_run=None, cache_dir=None,
                 runaway_margin=1.0, profile=False):
        if not isinstance(params, IPVAEParams):
            raise ValueError(f"params must be an IPVAEParams, got {type(params).__name__}")
        if realization not in equations.REALIZATIONS:
            raise ValueError(f"unknown realization {realization!r}; choose one of "
                             f"{equations.REALIZATIONS}")
        if device not in DEVICES:
            raise ValueError(f"unknown device {device!r}; choose one of {DEVICES}")
        if device == "cpp_standalone":
            check_compiler()
        elif device == "cuda_standalone":
            _check_brian2cuda()
        self.params = params
        self.realization = realization
        self.device = device
        self.window_s = _as_seconds(_default_window() if window is None else window,
                                    "window")
        if realization == "window":
            if dt is not None:
                raise ValueError("dt applies to the continuous realization; the "
                                 "window realization steps by one window")
            self.steps_per_window = 1
        else:
            dt_s = self.window_s / 100 if dt is None else _as_seconds(dt, "dt")
            ratio = self.window_s / dt_s
            if dt_s >= self.window_s or abs(ratio - round(ratio)) > 1e-6:
                raise ValueError(f"dt must divide the window into an integer number "
                                 f"(>1) of steps; window/dt = {ratio:g}")
            self.steps_per_window = int(round(ratio))
        self.max_rate_hz = None if max_rate is None else _as_hertz(max_rate, "max_rate")
        if record_u is True:
            record_u = np.arange(params.n_latents)
        record_u = () if record_u is None else np.atleast_1d(np.asarray(record_u))
        if len(record_u) and (record_u.dtype.kind not in "iu" or record_u.min() < 0
                              or record_u.max() >= params.n_latents):
            raise ValueError(f"record_u must be neuron indices in [0, "
                             f"{params.n_latents - 1}], got {record_u!r}")
        self.record_u = tuple(int(i) for i in record_u)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        if device == "runtime" and self.dtype != np.float64:
            raise ValueError("the runtime device computes in float64 only")
        self.n_jobs = n_jobs or os.cpu_count() or 1
        if inputs_per_run is not None and (not isinstance(inputs_per_run, (int, np.integer))
                                           or inputs_per_run < 1):
            raise ValueError(f"inputs_per_run must be a positive integer, got "
                             f"{inputs_per_run!r}")
        self.inputs_per_run = inputs_per_run
        self.cache_dir = cache_dir or default_cache_dir()
        self.runaway_margin = float(runaway_margin)
        self.profile = bool(profile)
        #: Number of standalone programs compiled by this object (cache misses).
        self.n_builds = 0

    @property
    def max_count(self):
        """Maximum expected count per window (``max_rate * T_w``), or None."""
        return None if self.max_rate_hz is None else self.max_rate_hz * self.window_s

    def __repr__(self):
        return (f"SpikingIPVAE({self.params!r}, realization={self.realization!r}, "
                f"device={self.device!r}, window={self.window_s * 1e3:g} ms)")

    # ----------------------------------------------------------------- run
    def run(self, patches, n_windows, seed=None, record_windows=None,
            replay_counts=None, progress=None, warn=True):
        """
        Infer a batch of patches with the spiking network.

        Parameters
        ----------
        patches : array_like, shape (n_patches, n_pixels)
        n_windows : int
            Windows per patch; the paper's metric at T needs ``n_windows >= T + 1``.
        seed : int, optional
            Seeds the network's generators (one stream per run of the program).
        record_windows : sequence of int, optional
            Windows whose counts (and spike times) are kept; default all.
        replay_counts : array_like of int, shape (n_patches, n_windows, n_latents), optional
            Replace the neurons' own draws by these counts (window realization):
            the membrane potentials then follow deterministically.
        progress : bool, optional
            Progress bar over runs (default: when stderr is a terminal).

        Returns
        -------
        SpikingResult
        """
        p = self.params
        x = check_patches(patches, p.n_pixels, name="patches")
        if isinstance(n_windows, (bool, np.bool_)) or not isinstance(
                n_windows, (int, np.integer)) or n_windows < 1:
            raise ValueError(f"n_windows must be a positive integer, got {n_windows!r}")
        n_windows = int(n_windows)
        n = x.shape[0]
        windows = (np.arange(n_windows) if record_windows is None
                   else np.unique(np.asarray(record_windows, dtype=np.int64)))
        if windows.size and (windows[0] < 0 or windows[-1] >= n_windows):
            raise ValueError(f"record_windows must lie in [0, {n_windows - 1}]")
        if replay_counts is not None:
            if self.realization != "window":
                raise ValueError("replay_counts needs realization='window'")
            replay_counts = np.asarray(replay_counts)
            if replay_counts.shape != (n, n_windows, p.n_latents):
                raise ValueError(f"replay_counts: expected shape ({n}, {n_windows}, "
                                 f"{p.n_latents}), got {replay_counts.shape}")
            if replay_counts.dtype.kind not in "iu" or (replay_counts < 0).any():
                raise ValueError("replay_counts must be non-negative integers")
        if self.device == "runtime":
            per_run = n
        else:
            per_run = self.inputs_per_run or max(1, _WINDOWS_PER_RUN // n_windows)
        spec = _Spec(self.realization, p.n_latents, n_windows, per_run, self.window_s,
                     self.steps_per_window, self.record_u, replay_counts is not None,
                     self.dtype.name, profile=self.profile and self.device != "runtime")
        drive = p.feedforward(x)
        chunks = [slice(s, min(s + per_run, n)) for s in range(0, n, per_run)]
        seeds = [int(ss.generate_state(1)[0]) for ss in
                 np.random.SeedSequence(seed).spawn(len(chunks))]
        collector = _Collector(self, spec, x, windows)
        bar = ProgressBar(n, desc=f"{self.realization} network", enabled=progress,
                          unit=" patches")
        start = time.perf_counter()
        timing = dict(build_s=0.0, run_s=0.0, n_runs=len(chunks))
        if self.device == "runtime":
            for sl, s in zip(chunks, seeds):
                t0 = time.perf_counter()
                raw = self._run_runtime(spec, drive[sl], _chunk(replay_counts, sl), s)
                timing["run_s"] += time.perf_counter() - t0
                collector.add(sl, raw)
                bar.update(sl.stop - sl.start)
        else:
            t0 = time.perf_counter()
            program, built = _Program.load_or_build(spec, self.cache_dir, self.device,
                                                    progress=bar.enabled)
            timing["build_s"] = time.perf_counter() - t0
            timing["compiled"] = built
            self.n_builds += int(built)
            run_times = []
            # Inputs and results live in a folder of this call, removed at its
            # end: fits run thousands of batches, each with new weights.
            call_dir = tempfile.mkdtemp(prefix="call-", dir=program.directory)
            static = self._static_args(program, call_dir)

            def job(item):
                slot, sl, s = item
                t1 = time.perf_counter()
                run_dir = os.path.join(call_dir, f"run{slot}")
                os.makedirs(run_dir)
                args = static + self._chunk_args(program, spec, run_dir, drive[sl],
                                                 _chunk(replay_counts, sl))
                raw = program.run(os.path.join(run_dir, "results"), args, s)
                shutil.rmtree(run_dir, ignore_errors=True)
                run_times.append(time.perf_counter() - t1)
                collector.add(sl, raw)
                bar.update(sl.stop - sl.start)

            items = [(i, sl, s) for i, (sl, s) in enumerate(zip(chunks, seeds))]
            try:
                with ThreadPoolExecutor(min(self.n_jobs, len(items))) as pool:
                    list(pool.map(job, items))
            finally:
                shutil.rmtree(call_dir, ignore_errors=True)
            timing["run_s"] = float(np.sum(run_times))
            timing["per_run_s"] = float(np.median(run_times))
            if collector.profile:
                timing["profile"] = collector.profile
        bar.close()
        timing["total_s"] = time.perf_counter() - start
        result = collector.result(info=dict(
            realization=self.realization, device=self.device, seed=seed,
            window_s=self.window_s, dt_s=spec.dt_s, dtype=self.dtype.name,
            max_rate_hz=self.max_rate_hz, runaway_margin=self.runaway_margin,
            inputs_per_run=per_run, n_jobs=self.n_jobs, replay=spec.replay,
            seconds=timing["total_s"], timing=timing))
        if warn:
            result.warn_runaway(stacklevel=2)
        return result

    # ------------------------------------------------------ device plumbing
    def _values(self):
        return _run_values(self.params, self.max_count, self.runaway_margin)

    def _static_args(self, program, folder):
        """Run arguments that stay the same for every chunk: the parameters."""
        constants, arrays, w = self._values()
        m = program.manifest
        args = [f"{m['args'][k]}={float(v)!r}" for k, v in constants.items()]
        args.append(f"{m['args']['window']}={self.window_s!r}")
        return args + program.write_inputs(folder, dict(arrays, w=w))

    def _chunk_args(self, program, spec, folder, drive, replay):
        """Run arguments of one chunk: its drives (and replayed counts), padded."""
        padded = np.zeros((spec.inputs_per_run, spec.n_latents))
        padded[:len(drive)] = drive
        arrays = {"drive": padded}
        if spec.replay:
            rep = np.zeros((spec.inputs_per_run * spec.n_windows, spec.n_latents))
            rep[:replay.shape[0] * spec.n_windows] = replay.reshape(-1, spec.n_latents)
            arrays["replay"] = rep
        return program.write_inputs(folder, arrays)

    def _run_runtime(self, spec, drive, replay, seed):
        from brian2 import prefs
        from brian2 import seed as brian_seed
        from brian2.devices.device import reset_device
        reset_device("runtime")
        saved = prefs.codegen.target
        prefs.codegen.target = "numpy"
        try:
            constants, arrays, w = self._values()
            rep = None if replay is None else replay.reshape(-1, spec.n_latents)
            net, group, _, monitors = _build_objects(spec, constants, arrays, w,
                                                     drive, rep)
            brian_seed(seed)
            net.run(len(drive) * spec.n_windows * spec.window_s * _second(),
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
            return raw
        finally:
            prefs.codegen.target = saved


def _chunk(arr, sl):
    return None if arr is None else arr[sl]


class _Collector:
    """Turns the raw monitor arrays of each run into the result arrays."""

    def __init__(self, net, spec, x, windows):
        self.net, self.spec, self.x, self.windows = net, spec, x, windows
        n, k, t = x.shape[0], spec.n_latents, spec.n_windows
        self.counts = np.zeros((n, windows.size, k), np.int32)
        self.r2 = np.empty((n, t), np.float32)
        self.mse = np.empty((n, t), np.float32)
        self.zero_fraction = np.empty((n, t), np.float32)
        self.mean_count = np.empty((n, t), np.float32)
        self.u_final = np.empty((n, k))
        self.onset = np.empty((n, k), np.int32)
        n_u = len(spec.record_u)
        self.u_trace = (np.empty((n, n_u, spec.steps_per_input)) if n_u else None)
        self.spikes = [None] * n if spec.realization == "continuous" else None
        self.phi_t = net.params.phi.T
        self.profile = {}
        self._lock = threading.Lock()     # runs finish in worker threads

    def add(self, sl, raw):
        spec = self.spec
        with self._lock:
            for name, sec in raw.get("profile", {}).items():
                self.profile[name] = self.profile.get(name, 0.0) + sec
        k, nw = spec.n_latents, spec.n_windows
        n_here = sl.stop - sl.start
        step = np.rint(raw["spike_t"] / spec.dt_s).astype(np.int64)
        patch, step_in = np.divmod(step, spec.steps_per_input)
        window = step_in // spec.steps_per_window
        keep = patch < n_here                    # drop the padding inputs
        i = raw["spike_i"].astype(np.int64)
        weight = raw["spike_count"] if spec.realization == "window" else None
        flat = (patch[keep] * nw + window[keep]) * k + i[keep]
        if weight is None:      # one spike per event: count them
            dense = np.bincount(flat, minlength=n_here * nw * k)
        else:                   # one event per neuron and window, carrying its count
            dense = np.zeros(n_here * nw * k, np.int64)
            dense[flat] = weight[keep]
        dense = dense.reshape(n_here, nw, k).astype(np.int32)
        r2, mse, zf, mc = window_metrics(self.x[sl], dense, self.phi_t)
        self.r2[sl], self.mse[sl], self.zero_fraction[sl], self.mean_count[sl] = \
            r2, mse, zf, mc
        self.counts[sl] = dense[:, self.windows]
        # state after the last update of each input: inputs 0..p-2 from the
        # boundary monitor (its first row is the initial state), the last one
        # from the final state
        bu = raw["boundary_u"].reshape(-1, k)[1:]
        bo = raw["boundary_onset"].reshape(-1, k)[1:]
        u_end = np.concatenate([bu, raw["final_u"].reshape(1, k)])[:n_here]
        onset = np.concatenate([bo, raw["final_onset"].reshape(1, k)])[:n_here]
        self.u_final[sl] = u_end
        first = np.arange(n_here)[:, None] * spec.steps_per_input
        in_input = onset - first                  # steps into the input
        self.onset[sl] = np.where(onset >= 0, in_input // spec.steps_per_window, -1)
        if self.u_trace is not None:
            tr = raw["u_trace"].reshape(-1, len(spec.record_u))     # (steps, neurons)
            tr = tr[:n_here * spec.steps_per_input]
            self.u_trace[sl] = tr.reshape(n_here, spec.steps_per_input, -1).transpose(
                0, 2, 1)
        if self.spikes is not None:
            t_in = step_in * spec.dt_s
            rec = np.isin(window, self.windows) & keep
            for j in range(n_here):
                mine = rec & (patch == j)
                self.spikes[sl.start + j] = (raw["spike_i"][mine].astype(np.int32),
                                             t_in[mine])

    def result(self, info):
        spec = self.spec
        u_trace_t = (np.arange(spec.steps_per_input) * spec.dt_s
                     if self.u_trace is not None else None)
        return SpikingResult(
            params=self.net.params, x=self.x, n_windows=spec.n_windows,
            windows=self.windows, counts=self.counts, u=None, u_final=self.u_final,
            r2=self.r2, mse=self.mse, zero_fraction=self.zero_fraction,
            mean_count=self.mean_count, runaway_onset=self.onset, info=info,
            spikes=self.spikes, u_trace=self.u_trace, u_trace_t=u_trace_t,
            u_trace_neurons=np.array(spec.record_u, dtype=np.int64))
