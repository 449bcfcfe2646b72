"""
The Brian2 objects of one network, built from the equation texts.

`NetworkSpec` is everything that shapes a network (and therefore a compiled
program); `run_values` is everything that a run sets (parameters, weights),
named as the equations' ``[constants]`` section names them; `build_objects`
wires the equations into a `NeuronGroup`, all-to-all lateral `Synapses` and
the monitors the results are read from. Every device builds the same objects.
"""

import ast
import contextlib
import hashlib
import inspect
import json
import logging
import textwrap
import threading
from typing import NamedTuple

import numpy as np

from .. import _equations
from .functions import softplus_function

__all__ = ["NetworkSpec", "RunValues", "run_values", "build_objects", "run_duration",
           "brian_prefs", "input_grids", "code_digest", "program_code_digest",
           "batched_values", "drive_layout", "replay_layout",
           "PROGRAM_CODE", "BRIAN_LOCK",
           "GROUP", "SYNAPSES", "DRIVE", "REPLAY", "BLANK", "GAIN"]

# Names of the Brian2 objects (they appear in run arguments and file names).
GROUP, SYNAPSES, DRIVE, REPLAY = ("ipvae_neurons", "ipvae_lateral", "drive_input",
                                  "replay_counts")
#: The blank flag of each window of a stimulus sequence (sequence mode).
BLANK = "blank_input"
#: The shared gain of each window of each input (the shared-gain variant).
GAIN = "gain_input"

# The code that decides what a compiled program computes, by module: names of
# functions and classes (None: the whole module). Its syntax tree — not its
# text, so comments, docstrings and line numbers do not count — is part of the
# build key, so that a change to it never reuses a stale build. The code of
# every registered backend (`backends.register_backend`) is added to it.
PROGRAM_CODE = {
    "builder": ("NetworkSpec", "run_values", "build_objects", "_with_units",
                "_sequence_code", "_defined", "run_duration", "brian_prefs"),
    "functions": None,
    "standalone": ("_make_command",),
}

#: Held while Brian2's process-global device state is in use (building the
#: objects on the runtime device, compiling a standalone project): tasks of
#: one process, in several threads, take turns.
BRIAN_LOCK = threading.RLock()

# ast is not safe to use from two threads at once (CPython raises "AST
# constructor recursion depth mismatch"); the digests are computed once.
_DIGEST_LOCK = threading.RLock()
_DIGESTS = {}


def code_digest(source):
    r"""
    A hash of Python ``source`` that ignores what does not change its meaning:
    comments, docstrings, blank lines, line numbers and indentation of the whole.

    Examples
    --------
    >>> a = "def f(x):\n    'Twice x.'\n    return 2 * x  # double\n"
    >>> b = "def f(x):\n\n    # no docstring now\n    return 2 * x\n"
    >>> code_digest(a) == code_digest(b), code_digest(a) == code_digest(a.replace("2", "3"))
    (True, False)
    """
    with _DIGEST_LOCK:
        tree = ast.parse(textwrap.dedent(source))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        text = ast.dump(tree, annotate_fields=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _backend_classes():
    """The classes of every registered backend, with their bases."""
    from .registry import registered_backends
    classes = {}
    for cls in registered_backends().values():
        for base in cls.__mro__[:-1]:           # all but object
            classes.setdefault(f"{base.__module__}.{base.__qualname__}", base)
    return classes


def program_code_digest():
    """
    `code_digest` of every piece of `PROGRAM_CODE` and of every registered
    backend's classes, combined: computed once per set of registered backends
    (thread-safe).
    """
    import importlib
    classes = _backend_classes()
    token = tuple(classes)
    with _DIGEST_LOCK:
        if token in _DIGESTS:
            return _DIGESTS[token]
        h = hashlib.sha256()
        pieces = []
        for module_name, names in PROGRAM_CODE.items():
            module = importlib.import_module(f"{__package__}.{module_name}")
            pieces += ([(module_name, module)] if names is None else
                       [(module_name, getattr(module, name)) for name in names])
        pieces += sorted(classes.items())
        for label, obj in pieces:
            try:
                source = inspect.getsource(obj)
            except (OSError, TypeError):   # no sources (installed so): trust the version
                from .._version import __version__
                h.update(f"ipvae_snn {__version__}: {label}".encode())
                continue
            h.update(code_digest(source).encode())
        _DIGESTS[token] = h.hexdigest()
        return _DIGESTS[token]


class _InputGridFilter(logging.Filter):
    """
    Drops Brian2's "time grids not aligned" warning while the network's own
    objects generate code (`input_grids`).

    The inputs' `TimedArray`s have a dt that is a multiple of the group's, but
    for some multiples (3, 101, 2001 windows of 100 ms) no float has a ratio
    of exactly that integer to the group's dt, and Brian2 compares the ratio
    exactly. Its lookup ``int(t / dt + 0.5 / K)`` (K >= 8 dt / group dt)
    reads the right value for any ratio within a few ulps of an integer, so
    the warning is a false alarm here.
    """

    active = 0

    def filter(self, record):
        return not (self.active and "time grids not aligned" in record.getMessage())


_GRID_FILTER = _InputGridFilter()


@contextlib.contextmanager
def input_grids():
    """Inside, Brian2's false "time grids not aligned" warning is dropped."""
    logger = logging.getLogger("brian2.input.timedarray")
    if _GRID_FILTER not in logger.filters:
        logger.addFilter(_GRID_FILTER)
    _GRID_FILTER.active += 1
    try:
        yield
    finally:
        _GRID_FILTER.active -= 1


class NetworkSpec:
    """Everything that shapes the compiled program (and nothing else)."""

    def __init__(self, realization, n_latents, n_windows, inputs_per_run,
                 window_s, steps_per_window, record_u, replay, dtype, profile=False,
                 sequence=False, batch=1, gain=False):
        self.realization = realization
        self.n_latents = int(n_latents)
        self.n_windows = int(n_windows)
        self.inputs_per_run = int(inputs_per_run)
        # patches side by side: `batch` copies of the network in one group
        # (no synapses between copies), each showing inputs_per_run / batch
        # inputs one after another
        self.batch = int(batch)
        if self.batch < 1 or self.inputs_per_run % self.batch:
            raise ValueError(f"inputs_per_run ({self.inputs_per_run}) must be a multiple "
                             f"of batch ({self.batch})")
        self.window_s = float(window_s)
        self.steps_per_window = int(steps_per_window)
        self.record_u = tuple(int(i) for i in record_u)
        self.replay = bool(replay)
        self.dtype = dtype
        self.profile = bool(profile)
        # sequence mode: a drive per window and the blank flag (`build_objects`)
        self.sequence = bool(sequence)
        # the shared-gain variant: a gain per window of each input (`build_objects`)
        self.gain = bool(gain)
        if self.batch > 1 and (self.sequence or self.gain):
            # a drive and a gain per window of the whole group: one input at a time
            raise ValueError("sequence mode and the shared gain need batch == 1")

    @property
    def dt_s(self):
        """The simulation time step in seconds."""
        return self.window_s / self.steps_per_window

    @property
    def slots(self):
        """Inputs each copy of the network shows one after another."""
        return self.inputs_per_run // self.batch

    @property
    def n_neurons(self):
        """Neurons of the group: ``batch`` copies of ``n_latents``."""
        return self.batch * self.n_latents

    @property
    def steps_per_input(self):
        """Time steps each input is shown for."""
        return self.n_windows * self.steps_per_window

    def key(self):
        """
        Hash of what shapes the program: the spec, the equations, the code
        that wires them (`program_code_digest`: its syntax, not its comments)
        and Brian2's version.
        """
        import brian2
        spec, eqs = dict(vars(self)), _equations.load(self.realization)
        if not self.gain:     # the default's key does not see the variant
            del spec["gain"]
            eqs = {k: v for k, v in eqs.items() if not k.startswith("gain_")}
        text = json.dumps(dict(spec, brian2=brian2.__version__,
                               code=program_code_digest(), equations=eqs),
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


class RunValues(NamedTuple):
    """
    What a run sets: ``constants`` (name -> float, in the units of the
    equations' ``[constants]`` section: seconds for ``window``), per-neuron
    ``arrays`` and the lateral ``weights`` in synapse order.
    """

    constants: dict
    arrays: dict
    weights: np.ndarray


def run_values(params, realization, window_s, max_count=None, runaway_margin=1.0,
               tau_blank=None):
    """
    The `RunValues` of a network with parameters ``params``.

    The constants are those the equations name: each comes from the
    parameter of the same name, except the three that the network derives
    (and, with ``tau_blank`` for sequence mode, those of the
    ``[sequence_constants]`` section).
    """
    derived = dict(inv_max_count=0.0 if max_count is None else 1.0 / max_count,
                   runaway_u=params.clamp_u - runaway_margin, window=window_s,
                   tau_blank=tau_blank)
    names = _equations.constant_names(realization)
    if tau_blank is not None:
        names += _equations.constant_names(realization, "sequence_constants")
    constants = {name: float(derived[name] if name in derived else getattr(params, name))
                 for name in names}
    # all-to-all synapses are created pre-major (synapse j * K + i connects
    # j -> i), so the weight of synapse s is W[i, j] = W.T.ravel()[s]
    weights = params.lateral_weights().T.ravel()
    return RunValues(constants, dict(bias=params.bias, u_init=params.u_init), weights)


def _with_units(value, unit):
    """``value`` in the Brian2 ``unit`` named by the equations ("1", "second")."""
    if unit == "1":
        return value
    import brian2
    return value * getattr(brian2, unit)


def _defined(line):
    """The variable an equation line defines (``du/dt = ...`` defines ``u``)."""
    head = line.split("=", 1)[0].split(":", 1)[0].strip()
    return head[1:-3].strip() if head.startswith("d") and head.endswith("/dt") else head


def _sequence_code(eqs):
    """
    The neuron equations, constants, update and ``on_pre`` of sequence mode:
    ``[sequence_neuron]`` lines replace the ``[neuron]`` lines that define the
    same variable and add the others, ``[sequence_constants]`` adds constants,
    ``[sequence_update_before]`` / ``[sequence_update_after]`` wrap ``[update]``
    and ``[sequence_on_pre]`` replaces ``[on_pre]``.
    """
    extra = {_defined(line): line for line in eqs["sequence_neuron"].splitlines()}
    neuron = [extra.pop(_defined(line), line) for line in eqs["neuron"].splitlines()]
    update = [eqs.get("sequence_update_before"), eqs["update"],
              eqs.get("sequence_update_after")]
    return ("\n".join(neuron + list(extra.values())),
            eqs["constants"] + "\n" + eqs["sequence_constants"],
            "\n".join(part for part in update if part),
            eqs.get("sequence_on_pre", eqs["on_pre"]))


def build_objects(spec, values, drive, replay, blank=None, gain=None):
    """
    The Brian2 objects of one network, from the equation texts.

    Parameters
    ----------
    spec : NetworkSpec
    values : RunValues
    drive : ndarray, shape (n_inputs, n_latents)
        With ``spec.sequence``: one row per window, (inputs_per_run *
        n_windows, n_latents).
    replay : ndarray, shape (n_inputs, n_windows, n_latents), or None
        At most ``spec.inputs_per_run`` inputs (the rest padded with zeros);
        both become `TimedArray`s (`drive_layout`, `replay_layout`). The
        values are one copy's (`batched_values`).
    blank : ndarray, shape (inputs_per_run * n_windows,), optional
        Sequence mode: 1 in the windows of a blank, 0 elsewhere.
    gain : ndarray, shape (inputs_per_run * n_windows,), optional
        With ``spec.gain``: the shared gain of each window (``[gain_neuron]``).

    Returns
    -------
    net : brian2.Network
    group : brian2.NeuronGroup
    lateral : brian2.Synapses
    monitors : dict
        ``spikes``, ``boundary`` (the state after each input's last update)
        and, with ``spec.record_u``, ``u_trace``.
    """
    from brian2 import (Network, NeuronGroup, SpikeMonitor, StateMonitor,
                        Synapses, TimedArray, second)
    eqs = _equations.load(spec.realization)
    units = _equations.constants(spec.realization)
    dt = spec.dt_s * second
    # multiples of dt computed from dt itself (see `input_grids`)
    input_dt = dt * spec.steps_per_input
    model = eqs["neuron"] + "\n" + eqs["constants"]
    update, on_pre = eqs["update"], eqs["on_pre"]
    if spec.sequence:      # a drive per window, and the blank flag
        neuron, constants, update, on_pre = _sequence_code(eqs)
        model = neuron + "\n" + constants
        units = dict(units, **_equations.constants(spec.realization, "sequence_constants"))
        window_dt = dt * spec.steps_per_window
        namespace = {DRIVE: TimedArray(drive, dt=window_dt, name=DRIVE),
                     BLANK: TimedArray(blank, dt=window_dt, name=BLANK)}
    else:
        namespace = {DRIVE: TimedArray(drive_layout(spec, drive), dt=input_dt,
                                       name=DRIVE)}
    if spec.gain:          # the variant's rate, drawn times the window's gain
        rate = {_defined(line): line for line in eqs["gain_neuron"].splitlines()
                if line.strip() and not line.lstrip().startswith("#")}
        model = "\n".join(rate.pop(_defined(line), line) for line in model.splitlines())
        namespace[GAIN] = TimedArray(gain, dt=dt * spec.steps_per_window, name=GAIN)
    namespace["softplus"] = softplus_function()
    draw = eqs.get("draw")
    if spec.replay:
        if spec.realization != "window":
            raise ValueError("replaying counts needs realization='window'")
        namespace[REPLAY] = TimedArray(replay_layout(spec, replay),
                                       dt=dt * spec.steps_per_window,
                                       name=REPLAY)
        draw = eqs["draw_replay"]
    values = batched_values(values, spec.batch)
    group = NeuronGroup(spec.n_neurons, model,
                        threshold=eqs["threshold"], reset="", method="euler",
                        dt=dt, namespace=namespace, name=GROUP)
    for name, value in values.constants.items():
        setattr(group, name, _with_units(value, units[name]))
    for name, value in values.arrays.items():
        setattr(group, name, value)
    group.u = group.u_init
    group.runaway_onset = -1
    input_start = group.run_regularly(eqs["input_start"], dt=input_dt,
                                      when="start", order=-1, name="input_start")
    objects = [group, input_start]
    if draw is not None:
        objects.append(group.run_regularly(draw, dt=dt, when="before_thresholds",
                                           name="draw"))
    objects.append(group.run_regularly(update, dt=dt, when="end",
                                       name="update"))
    # sequence mode's on_pre reads the target's blank flag (a TimedArray): its
    # namespace goes with it into a user's network
    lateral = Synapses(group, group, model=eqs["synapse"], on_pre=on_pre,
                       dt=dt, name=SYNAPSES, namespace=namespace if spec.sequence else None)
    # all-to-all within each copy, pre-major, generated in the program rather
    # than loaded from two index arrays on every run
    k = spec.n_latents
    if spec.batch == 1:
        lateral.connect()
    else:
        lateral.connect(j=f"q for q in range({k} * (i // {k}), {k} * (i // {k}) + {k})")
    lateral.w = values.weights
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
        # the recorded neurons of every copy, copy-major
        record = [c * k + n for c in range(spec.batch) for n in spec.record_u]
        trace = StateMonitor(group, "u", record=record, dt=dt,
                             when="start", order=0, name="u_trace")
        objects.append(trace)
        monitors["u_trace"] = trace
    net = Network(*objects)
    net.namespace = namespace     # every object resolves names here, never in a caller's frame
    return net, group, lateral, monitors


def batched_values(values, batch):
    """
    The `RunValues` of ``batch`` copies side by side: the per-neuron arrays
    and the weights repeated (copy c's synapses follow copy c - 1's, in the
    pre-major order of `build_objects`).

    Examples
    --------
    >>> v = RunValues({"lr": 0.1}, {"bias": np.array([1.0, 2.0])}, np.arange(4.0))
    >>> b = batched_values(v, 2)
    >>> b.arrays["bias"].tolist(), b.weights.tolist()
    ([1.0, 2.0, 1.0, 2.0], [0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 3.0])
    """
    if batch == 1:
        return values
    return RunValues(values.constants,
                     {name: np.tile(a, batch) for name, a in values.arrays.items()},
                     np.tile(values.weights, batch))


def drive_layout(spec, drive):
    """
    The drive `TimedArray`'s values: row s holds the inputs of slot s of every
    copy (input ``s * batch + c`` goes to copy c, neurons ``c * K`` to
    ``c * K + K - 1``); inputs beyond ``len(drive)`` are zeros.

    Examples
    --------
    >>> spec = NetworkSpec("window", 2, 3, 4, 0.1, 1, (), False, "float64", batch=2)
    >>> drive_layout(spec, np.array([[1, 1], [2, 2], [3, 3]])).tolist()
    [[1.0, 1.0, 2.0, 2.0], [3.0, 3.0, 0.0, 0.0]]
    """
    padded = np.zeros((spec.inputs_per_run, spec.n_latents))
    padded[:len(drive)] = drive
    return padded.reshape(spec.slots, spec.n_neurons)


def replay_layout(spec, replay):
    """
    The replayed counts' `TimedArray` values, shape (slots * n_windows,
    batch * n_latents), from counts of shape (n_inputs, n_windows, n_latents)
    laid out as `drive_layout` lays out the drive.

    Examples
    --------
    >>> spec = NetworkSpec("window", 1, 2, 2, 0.1, 1, (), True, "float64", batch=2)
    >>> replay_layout(spec, np.array([[[1], [2]], [[3], [4]]])).tolist()
    [[1.0, 3.0], [2.0, 4.0]]
    """
    k, nw = spec.n_latents, spec.n_windows
    replay = np.asarray(replay).reshape(-1, nw, k)
    padded = np.zeros((spec.inputs_per_run, nw, k))
    padded[:len(replay)] = replay
    return padded.reshape(spec.slots, spec.batch, nw, k).transpose(0, 2, 1, 3).reshape(
        spec.slots * nw, spec.n_neurons)


def run_duration(spec, n_inputs):
    """The simulated time of ``n_inputs`` inputs (per copy), as a Brian2 quantity."""
    from brian2 import second
    return n_inputs * spec.n_windows * spec.window_s * second


@contextlib.contextmanager
def brian_prefs(dtype):
    """Brian2's default float type set to ``dtype`` inside the block."""
    from brian2 import prefs
    saved = prefs.core.default_float_dtype
    prefs.core.default_float_dtype = np.dtype(dtype).type
    try:
        yield
    finally:
        prefs.core.default_float_dtype = saved
