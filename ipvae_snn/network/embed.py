"""
The iP-VAE as Brian2 objects in a user's own model.

`ipvae_network` returns the network's neuron group, lateral synapses, input
and monitors as one `IPVAENetwork`, a Brian2 object that a user adds to their
own `~brian2.Network` (or leaves to Brian2's magic ``run()``) beside their own
groups, synapses and monitors, and runs with their own ``run()`` calls, on any
code-generation target: runtime ``numpy`` and ``cython``, ``cpp_standalone``
and brian2cuda's ``cuda_standalone`` (`ipvae_snn.network.cuda`). The objects
are those every device of the package builds (`builder.build_objects`, from
the equation texts of `ipvae_snn.equations`).

Downstream synapses see the iP-VAE's spikes as Brian2 spikes of ``group``:

``"continuous"``
    one event per spike, at its time step (``dt``).
``"window"``
    one event per neuron and window in which it spiked, at the window's first
    time step, carrying the window's count as the neuron variable ``z``:
    ``on_pre="v_post += w * z_pre"`` adds ``w`` per spike. Such synapses run on
    the iP-VAE's clock (one step per window); Brian2 notes that with a
    ``synapses_dt_mismatch`` warning when the target group's ``dt`` is finer.
"""

import functools

import numpy as np

from .._equations import REALIZATIONS
from ..contrast import normalize_input
from ..data import check_patches
from ..defaults import DEFAULT_WINDOW_S
from ..params import IPVAEParams
from ..sequences import SequenceResult, check_sequence
from ..validation import InvalidTypeError, InvalidValueError, check_choice, check_int
from . import builder
from .collect import ResultCollector

__all__ = ["ipvae_network", "IPVAENetwork"]


def _time(value, name):
    """A time as a Brian2 quantity: quantities as they are, plain numbers in seconds."""
    from brian2 import Quantity, second
    if value is None or isinstance(value, Quantity):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, bool):
        return float(value) * second
    raise InvalidTypeError(f"{name} must be a time (e.g. 100*ms, or a number of "
                           f"seconds), got {value!r}")


class IPVAENetwork:
    """
    The iP-VAE network as Brian2 objects: add it to a `~brian2.Network`.

    Made by `ipvae_network`; an instance is a Brian2 object whose
    ``contained_objects`` are the network's objects, so that
    ``Network(v1, ...)`` or Brian2's magic ``run()`` (with ``v1`` a name in the
    caller's frame) simulate all of them.

    Attributes
    ----------
    group : brian2.NeuronGroup
        One neuron per latent: ``u`` (membrane potential, the log expected
        count per window), ``rate_hz``, and in the window realization ``z``
        (the count of the current window). The spike source of downstream
        synapses.
    lateral : brian2.Synapses
        The all-to-all lateral synapses (``w`` = ``W_ij``).
    input : brian2.TimedArray
        The feed-forward drive, one row per input (``drive(patches)``); in a
        standalone project a new set of patches goes in as a run argument,
        ``device.run(run_args={v1.input: v1.drive(patches)})``. With a
        ``sequence``: one row per window of every trial.
    sequence : StimulusSequence or None
        The sequence the network presents (its trials are the inputs).
    monitors : dict
        ``spikes`` (with ``z`` in the window realization), ``boundary`` (the
        state at each input's start) and, with ``record_u``, ``u_trace``;
        empty with ``record=False``.
    objects : list
        Everything to simulate: the group (with its operations), the lateral
        synapses and the monitors.
    duration : brian2.Quantity
        The simulated time of all the inputs: ``n_inputs * n_windows * window``.
    window, dt : brian2.Quantity
        The window length and the time step.
    """

    def _setup(self, params, spec, values, seen, group, lateral, monitors, record,
               sequence=None):
        from brian2 import second
        self.params, self.spec, self.values = params, spec, values
        self.group, self.lateral = group, lateral
        self.input = group.namespace[builder.DRIVE]
        self.monitors = dict(monitors) if record else {}
        self.objects = [group, lateral, *self.monitors.values()]
        self.contained_objects.extend(self.objects)
        self.n_inputs, self.n_windows = spec.inputs_per_run, spec.n_windows
        self.realization = spec.realization
        self.window, self.dt = spec.window_s * second, spec.dt_s * second
        self.duration = builder.run_duration(spec, self.n_inputs)
        self._seen = seen                  # the patches as the network sees them, gains
        self.sequence = sequence

    def before_run(self, run_namespace):
        # Brian2's standalone devices (cpp, brian2cuda) declare the Synapses
        # among a network's direct objects only, not those an object contains:
        # the lateral synapses are registered with the device here, before the
        # network's run collects its own.
        from brian2 import get_device
        declared = getattr(get_device(), "synapses", None)
        if isinstance(declared, set):
            declared.add(self.lateral)
        super().before_run(run_namespace)

    def __repr__(self):
        return (f"IPVAENetwork({self.realization!r}, {self.group.N} neurons, "
                f"{self.n_inputs} inputs x {self.n_windows} windows of "
                f"{self.spec.window_s * 1e3:g} ms)")

    def drive(self, patches):
        """
        The feed-forward drive of ``patches`` (as many as the network was built
        for), the values of `input`: shape (n_inputs, n_latents).
        """
        if self.sequence is not None:
            raise InvalidValueError("the network presents a stimulus sequence: build "
                                    "a new one for other stimuli")
        x, _ = _seen_patches(self.params, patches)
        if x.shape[0] != self.n_inputs:
            raise InvalidValueError(f"patches: the network was built for "
                                    f"{self.n_inputs} inputs, got {x.shape[0]}")
        return self.params.feedforward(x)

    def result(self, patches=None):
        """
        The read-outs of the run so far as a `~ipvae_snn.results.SpikingResult`
        (counts per window, R², zero fraction, final potentials), as
        `SpikingIPVAE.run` returns them; with a ``sequence``, its
        `~ipvae_snn.sequences.SequenceResult`. Call it after the network has
        run for at least `duration`.

        Parameters
        ----------
        patches : array_like, optional
            The patches the drive came from, when they were replaced (standalone
            run arguments) after `ipvae_network`.
        """
        if not self.monitors:
            raise InvalidValueError("the network was built with record=False: no "
                                    "monitors to read")
        spec = self.spec
        # the patches as the network saw them (the drive); a sequence's stimuli
        # were normalised when it was built
        x, gain = (self._seen if patches is None or self.sequence
                   else _seen_patches(self.params, patches))
        boundary = self.monitors["boundary"]
        rows = np.array(boundary.u[:]).T                  # (times, neurons)
        n = self.n_inputs
        if rows.shape[0] < n:
            raise InvalidValueError(f"the network has run {rows.shape[0]} of its "
                                    f"{n} inputs: run it for at least {self.duration}")
        onset = np.array(boundary.runaway_onset[:]).T
        if rows.shape[0] > n:   # ran past the last input: its end is recorded
            final_u, final_onset = rows[n], onset[n]
        else:
            final_u = np.array(self.group.u[:])
            final_onset = np.array(self.group.runaway_onset[:])
        spikes = self.monitors["spikes"]
        raw = dict(spike_i=np.array(spikes.i[:]), spike_t=np.array(spikes.t_[:]),
                   boundary_u=rows[:n].ravel(), boundary_onset=onset[:n].ravel(),
                   final_u=final_u, final_onset=final_onset)
        if spec.realization == "window":
            raw["spike_count"] = np.array(spikes.z[:])
        if "u_trace" in self.monitors:
            raw["u_trace"] = np.array(self.monitors["u_trace"].u[:]).T.ravel()
        collector = ResultCollector(self.params, spec, x, np.arange(spec.n_windows),
                                    n_inputs=n)
        collector.add(slice(0, n), raw)
        if self.sequence is not None:
            return SequenceResult(self.params, self.sequence, collector.counts,
                                  spec.window_s, u_final=collector.u_final,
                                  spikes=collector.spikes, info=dict(
                                      realization=spec.realization, device="embedded",
                                      blank=self.sequence.blank,
                                      tau_blank=self.sequence.tau_blank))
        result = collector.result(info=dict(
            realization=spec.realization, device="embedded", window_s=spec.window_s,
            dt_s=spec.dt_s, dtype=spec.dtype, replay=False))
        result.input_gain = gain
        return result

    def counts(self):
        """Spike counts per window, shape (n_inputs, n_windows, n_latents)."""
        return self.result().counts


@functools.cache
def _network_class():
    # made on first use: the package imports Brian2 only when it needs it
    from brian2 import BrianObject

    class _BrianIPVAENetwork(IPVAENetwork, BrianObject):
        # no code of its own: it only carries the network's objects
        add_to_magic_network = True
    _BrianIPVAENetwork.__name__ = _BrianIPVAENetwork.__qualname__ = "IPVAENetwork"
    return _BrianIPVAENetwork


def ipvae_network(params, patches=None, n_windows=None, realization="window", window=None,
                  dt=None, max_count=None, record=True, record_u=None,
                  runaway_margin=1.0, name="ipvae*", sequence=None):
    """
    The iP-VAE as Brian2 objects for a user's own Brian2 model.

    The network infers ``patches`` one after another, each for ``n_windows``
    windows starting from the prior (as `SpikingIPVAE.run` and
    `ipvae_snn.infer`); after the last input it keeps inferring the last one.
    With ``sequence`` instead (a `~ipvae_snn.sequences.StimulusSequence`) it
    presents the sequence's trials one after another, each from the prior:
    stimuli with blanks between them, as `SpikingIPVAE.run_sequence`.
    Add the returned object to a `~brian2.Network` beside your own objects and
    run it on any target; the Brian2 device and code-generation target are
    yours to choose (``set_device``, ``prefs.codegen.target``).

    Parameters
    ----------
    params : IPVAEParams
    patches : array_like, shape (n_inputs, n_pixels) or (n_pixels,)
    n_windows : int
        Windows per input.
    sequence : StimulusSequence, optional
        Present this sequence instead of ``patches`` (then leave ``patches``
        and ``n_windows`` out).
    realization : {"window", "continuous"}
    window : brian2 Quantity or float, optional
        Window length T_w (a number: seconds); default 100 ms.
    dt : brian2 Quantity or float, optional
        Time step of the continuous realization (default ``window / 100``).
    max_count : float, optional
        Opt-in activity cap in spikes per window (as `SpikingIPVAE`).
    record : bool
        Make the monitors that `IPVAENetwork.result` reads.
    record_u : bool or array_like of int, optional
        Neurons whose potential is recorded at every step (``u_trace``).
    runaway_margin : float
    name : str
        Brian2 name of the returned object. Its objects have fixed names
        (``ipvae_neurons``, ``ipvae_lateral``, ...): one iP-VAE per network.

    Returns
    -------
    IPVAENetwork

    Examples
    --------
    The iP-VAE driving a user's own neurons, on Brian2's numpy target:

    >>> import numpy as np
    >>> from brian2 import (Network, NeuronGroup, SpikeMonitor, Synapses, ms,
    ...                     prefs, start_scope)
    >>> from ipvae_snn import IPVAEParams
    >>> from ipvae_snn.network import ipvae_network
    >>> start_scope(); prefs.codegen.target = "numpy"
    >>> params = IPVAEParams.random(16, 8, random_state=0)
    >>> x = np.random.default_rng(0).standard_normal((2, 16))
    >>> v1 = ipvae_network(params, x, n_windows=5, window=50 * ms)
    >>> print(v1.duration)
    0.5 s
    >>> cells = NeuronGroup(3, "n : 1")
    >>> syn = Synapses(v1.group, cells, on_pre="n_post += z_pre")   # z: the count
    >>> syn.connect()
    >>> net = Network(v1, cells, syn)
    >>> net.run(v1.duration)
    >>> result = v1.result()
    >>> result.counts.shape
    (2, 5, 8)
    >>> int(cells.n[0]) == int(result.counts.sum())
    True
    >>> prefs.codegen.target = "auto"
    """
    from brian2 import second

    from .model import SpikingIPVAE
    if not isinstance(params, IPVAEParams):
        raise InvalidTypeError(f"params must be an IPVAEParams, got "
                               f"{type(params).__name__}")
    realization = check_choice(realization, "realization", REALIZATIONS)
    window = _time(window, "window")
    # the same checks and defaults as SpikingIPVAE (window, dt, cap, neurons)
    checked = SpikingIPVAE(params, realization=realization, device="runtime",
                           window=DEFAULT_WINDOW_S * second if window is None else window,
                           dt=_time(dt, "dt"), max_count=max_count, record_u=record_u,
                           runaway_margin=runaway_margin)
    if sequence is not None:
        if patches is not None or n_windows is not None:
            raise InvalidValueError("give either patches and n_windows or a sequence")
        sequence = check_sequence(sequence, params).seen_by(params)
        seen, n_inputs, n_windows = (None, None), sequence.n_trials, sequence.n_windows
        drive = sequence.drives(params).reshape(-1, params.n_latents)
        blank = np.tile(sequence.relax.astype(float), n_inputs)
    else:
        if patches is None or n_windows is None:
            raise InvalidValueError("give patches and n_windows (or a sequence)")
        seen = _seen_patches(params, patches)
        n_windows, n_inputs = check_int(n_windows, "n_windows"), seen[0].shape[0]
        drive, blank = params.feedforward(seen[0]), None
    spec = builder.NetworkSpec(realization, params.n_latents, n_windows, n_inputs,
                               checked.window_s, checked.steps_per_window,
                               checked.record_u, False, "float64",
                               sequence=sequence is not None)
    values = builder.run_values(params, realization, checked.window_s,
                                checked.max_count, checked.runaway_margin,
                                None if sequence is None else sequence.tau_blank)
    _, group, lateral, monitors = builder.build_objects(spec, values, drive, None, blank)
    from brian2 import defaultclock, get_device
    if type(get_device()).__name__ == "CUDAStandaloneDevice":
        # brian2cuda's synapse code needs an object on the defaultclock
        # (`cuda.defaultclock_anchor`): this one, which has no code
        clock = dict(clock=defaultclock)
    else:                        # its own clock, with no steps of its own
        clock = dict(dt=spec.dt_s * second)
    network = _network_class()(when="start", name=name, **clock)
    network._setup(params, spec, values, seen, group, lateral, monitors, record, sequence)
    return network


def _seen_patches(params, patches):
    """Validated ``patches`` as the network of ``params`` sees them, and their gains
    (`ipvae_snn.contrast.normalize_input`)."""
    return normalize_input(params, check_patches(patches, params.n_pixels, name="patches"))
