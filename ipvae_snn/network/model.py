"""
`SpikingIPVAE`: the public face of the network.

It validates its arguments before Brian2 is entered, cuts a batch into runs
(chunks) and runs the network's kernel (`backends.run_chunk`, on the backend
of its device) over them with an `~ipvae_snn.executor.Executor`; the Brian2
objects come from `builder`, the result from `collect`.
"""

import os
import time
import uuid

import numpy as np

from .._equations import REALIZATIONS
from .._memory import check_memory
from .._progress import ProgressBar
from ..contrast import normalize_input
from ..data import check_input_scale, check_patches
from ..defaults import DEFAULT_WINDOW_S
from ..params import IPVAEParams
from ..validation import (InvalidTypeError, InvalidValueError, check_choice,
                          check_float_dtype, check_int, check_neurons,
                          check_number, check_record_windows, check_seed)
from ..executor import make_executor
from ..sampling import DEFAULT_GAIN_TAU, check_gain_noise, gain_process
from ..sequences import SequenceResult, StimulusSequence, check_sequence
from .backends import NetworkJob, get_backend, run_chunk, stop_call
from .builder import NetworkSpec, run_values
from .collect import ResultCollector
from .program import default_cache_dir
from .units import as_seconds
from .volume import spike_volume

__all__ = ["SpikingIPVAE"]

#: The shortest window (seconds) a network runs: 1 µs; and the shortest time
#: step of the continuous realization, `MIN_DT_S`: 1 ns. Brian2's compiled
#: network decides which of its clocks tick together with an absolute
#: tolerance of 1e-14 s (``Clock_epsilon`` of its ``network.cpp``), so steps
#: near it run the network's operations out of order (a 1e-12 ms window ran
#: with R² -0.02 for 0.68, exit 0), and it writes the input grids' time step
#: into the code with 18 decimals of a second. Up to 1 µs windows (with the
#: default 100 steps) give the same counts as 100 ms windows, bit for bit.
MIN_WINDOW_S = 1e-6
#: The shortest time step of the continuous realization (see `MIN_WINDOW_S`).
MIN_DT_S = 1e-9


class SpikingIPVAE:
    """
    The iP-VAE as a spiking network of Brian2 neuron groups and synapses.

    Parameters
    ----------
    params : IPVAEParams
        The model (dictionary, decoder std, leak, step size, prior, clamps).
    realization : {"window", "continuous"}
        ``"window"``: one FOND step per window, exact. ``"continuous"``:
        escape-noise neurons with continuous membranes (see
        `ipvae_snn.network`).
    device : {"cpp_standalone", "runtime", "cuda_standalone"}
        Code-generation target (`DEVICES`). Standalone builds are cached and
        reused.
    window : float or brian2 Quantity (time)
        Window length T_w, one inference step, in seconds or with Brian2 units;
        default 100 ms (`ipvae_snn.defaults.DEFAULT_WINDOW_S` says why).
    dt : float or brian2 Quantity (time), optional
        Time step of the continuous realization (default ``window / 100``);
        the window realization always steps by one window.
    max_count : float, optional
        Opt-in bound on activity, in spikes per window (as `ipvae_snn.infer`'s
        ``max_count``): expected counts saturate as ``λ / (1 + λ / max_count)``,
        those of a Poisson neuron with an absolute refractory period of
        ``1 / max_count`` windows. Off by default (the official dynamics). It
        bounds the counts, not ``u``: set it above the largest count the
        inputs need; a lower cap keeps neurons below what their input calls
        for, their ``u`` winds up to the clamp (runaway events) and R² drops.
    record_u : bool or array_like of int, optional
        Neurons whose membrane potential is recorded at every time step
        (``result.u_trace``) and at the start of each recorded window
        (``result.u``): ``False`` / ``None`` none, ``True`` all, indices those
        neurons (as `ipvae_snn.infer`'s ``record_u``).
    dtype : {"float64", "float32"}
        Precision of the standalone program's arithmetic.
    n_jobs : int, optional
        Processes running standalone batches in parallel (default: CPU count).
    inputs_per_run : int, optional
        Inputs simulated one after another by one run of the standalone program
        (default: about 8,000 windows per run). Part of the build's identity.
    batch : int, optional
        Patches side by side in one run: ``batch`` copies of the network in
        one neuron group, without synapses between copies, each showing
        ``inputs_per_run / batch`` patches one after another (rounded up to a
        multiple of ``batch``). Default: the device's
        (`~ipvae_snn.network.backends.Backend.default_batch`: 1 on the CPU
        devices, where it measured slower, docs/scaling.md; 64 on
        ``cuda_standalone``). Part of the build's identity; results are the
        same in distribution.
    cache_dir : str, optional
        Where compiled programs live (default `default_cache_dir`).
    runaway_margin : float
        Neurons whose potential exceeds ``clamp_u - runaway_margin`` are
        reported as runaway (as in `ipvae_snn.reference.infer`).
    profile : bool
        Standalone only: time each Brian2 code object (reported in
        ``result.info["timing"]["profile"]``, seconds summed over runs).
    gain_noise, gain_tau : float
        The opt-in shared-gain variant (`ipvae_snn.sampling`): each input's
        counts drawn at g_t times the rate, g a gamma process of mean 1, SD
        ``gain_noise``, correlation time ``gain_tau`` windows (its own random
        stream); 0 (the default) is off and builds the default program.

    Raises
    ------
    InvalidValueError, InvalidTypeError, UnitError, UnavailableDeviceError
        Before Brian2 is entered: unknown realization or device, a window
        with units other than time, a missing C++ compiler, brian2cuda absent.

    Examples
    --------
    A tiny random model on Brian2's runtime device (no compilation):

    >>> import numpy as np
    >>> from brian2 import ms
    >>> from ipvae_snn import IPVAEParams
    >>> from ipvae_snn.network import SpikingIPVAE
    >>> params = IPVAEParams.random(16, 8, random_state=0)
    >>> net = SpikingIPVAE(params, device="runtime", window=50 * ms, record_u=[0, 3])
    >>> net.realization, net.device, net.window_s
    ('window', 'runtime', 0.05)
    >>> result = net.run(np.random.default_rng(0).standard_normal((2, 16)), 5, seed=0)
    >>> result.counts.shape, result.u_trace.shape, result.u.shape
    ((2, 5, 8), (2, 2, 5), (2, 5, 2))
    """

    def __init__(self, params, realization="window", device="cpp_standalone",
                 window=None, dt=None, max_count=None, record_u=None,
                 dtype="float64", n_jobs=None, inputs_per_run=None, cache_dir=None,
                 runaway_margin=1.0, profile=False, batch=None, gain_noise=0.0,
                 gain_tau=DEFAULT_GAIN_TAU):
        if not isinstance(params, IPVAEParams):
            raise InvalidTypeError(f"params must be an IPVAEParams, got "
                                   f"{type(params).__name__}")
        self.params = params
        self.realization = check_choice(realization, "realization", REALIZATIONS)
        backend = get_backend(device)
        backend.check_available()
        self.device = device
        self.window_s = (DEFAULT_WINDOW_S if window is None else
                         as_seconds(window, "window"))
        if not self.window_s >= MIN_WINDOW_S:
            raise InvalidValueError(
                f"window must be at least {MIN_WINDOW_S * 1e3:g} ms (--window-ms "
                f"{MIN_WINDOW_S * 1e3:g}), the shortest the compiled network's input "
                f"grids resolve; got {self.window_s * 1e3:g} ms")
        self.steps_per_window = self._steps_per_window(dt)
        self.max_count = (None if max_count is None else
                          check_number(max_count, "max_count", low=0, low_open=True))
        self.record_u = check_neurons(record_u, params.n_latents) or ()
        self.dtype = check_float_dtype(dtype)
        backend.check_dtype(self.dtype)
        self.n_jobs = (os.cpu_count() or 1) if n_jobs is None else check_int(n_jobs, "n_jobs")
        self.inputs_per_run = (None if inputs_per_run is None
                               else check_int(inputs_per_run, "inputs_per_run"))
        self.batch = (backend.default_batch if batch is None
                      else check_int(batch, "batch"))
        self.cache_dir = cache_dir or default_cache_dir()
        self.runaway_margin = check_number(runaway_margin, "runaway_margin")
        self.profile = bool(profile)
        #: The shared-gain variant's SD and correlation time (`ipvae_snn.sampling`).
        self.gain_noise, self.gain_tau = check_gain_noise(gain_noise, gain_tau)
        #: Number of standalone programs compiled by this object (cache misses).
        self.n_builds = 0

    def _steps_per_window(self, dt):
        if self.realization == "window":
            if dt is not None:
                raise InvalidValueError("dt applies to the continuous realization; the "
                                        "window realization steps by one window")
            return 1
        dt_s = self.window_s / 100 if dt is None else as_seconds(dt, "dt")
        if not dt_s >= MIN_DT_S:
            raise InvalidValueError(
                f"dt must be at least {MIN_DT_S * 1e3:g} ms (--dt-ms {MIN_DT_S * 1e3:g}), "
                f"the shortest step the compiled network's clocks resolve; got "
                f"{dt_s * 1e3:g} ms")
        ratio = self.window_s / dt_s
        if dt_s >= self.window_s or abs(ratio - round(ratio)) > 1e-6:
            raise InvalidValueError(f"dt must divide the window into an integer number "
                                    f"(>1) of steps; window/dt = {ratio:g}")
        return int(round(ratio))

    @property
    def max_rate_hz(self):
        """The activity cap in spikes per second (``max_count / T_w``), or None."""
        return None if self.max_count is None else self.max_count / self.window_s

    def __repr__(self):
        return (f"SpikingIPVAE({self.params!r}, realization={self.realization!r}, "
                f"device={self.device!r}, window={self.window_s * 1e3:g} ms)")

    # ----------------------------------------------------------------- run
    def run(self, patches, n_windows, seed=None, record_windows=None,
            replay_counts=None, progress=None, warn=True, client=None):
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
        warn : bool
            Issue a `RunawayWarning` when neurons run away, and an
            `~ipvae_snn.data.InputScaleWarning` on patches far from the
            training scale (`~ipvae_snn.data.check_input_scale`).
        client : distributed.Client, optional
            Run the batch's runs as tasks on this Dask cluster instead of local
            processes (`ipvae_snn.executor`): the same result, bit for bit.

        Returns
        -------
        SpikingResult
        """
        p = self.params
        x = check_patches(patches, p.n_pixels, name="patches")
        if warn:                                # learning's batches pass warn=False
            check_input_scale(p, x)
        # what the network sees: divided by each patch's contrast, for a model with it
        x, input_gain = normalize_input(p, x)
        n_windows = check_int(n_windows, "n_windows")
        seed = check_seed(seed)
        windows = check_record_windows(record_windows, n_windows)
        replay_counts = self._check_replay(replay_counts, x.shape[0], n_windows)
        collector, info = self._run_batch(x, p.feedforward(x), n_windows, windows, seed,
                                          replay_counts, progress, client)
        result = collector.result(info=info)
        result.input_gain = input_gain
        if warn:
            result.warn_runaway(stacklevel=2)
        return result

    def run_sequence(self, sequence, seed=None, progress=None, warn=True, client=None):
        """
        Present a `~ipvae_snn.sequences.StimulusSequence`: its stimuli one
        after another with blanks between them, over its trials.

        Each trial is one input of the compiled program (trials are run
        arguments, as patches are in `run`: the program is compiled once per
        realization, window count and trials per run), starting from the
        prior. The drive changes every window and a blank relaxes the beliefs
        to the prior (``sequence.blank``; see `ipvae_snn.sequences`), as in
        `ipvae_snn.reference.infer_sequence`.

        Parameters
        ----------
        sequence : StimulusSequence
        seed, progress, warn, client
            As in `run`.

        Returns
        -------
        SequenceResult

        Examples
        --------
        >>> import numpy as np
        >>> from ipvae_snn import IPVAEParams
        >>> from ipvae_snn.network import SpikingIPVAE
        >>> from ipvae_snn.sequences import StimulusSequence
        >>> params = IPVAEParams.random(16, 8, random_state=0)
        >>> seq = StimulusSequence(np.random.default_rng(0).standard_normal((2, 16)),
        ...                        stimulus_windows=4, blank_windows=3, trials=2)
        >>> result = SpikingIPVAE(params, device="runtime").run_sequence(seq, seed=0)
        >>> result.counts.shape, result.onsets.tolist()
        ((2, 17, 8), [3, 10])
        """
        p = self.params
        sequence = check_sequence(sequence, p)
        if warn:
            check_input_scale(p, sequence.stimuli.reshape(-1, p.n_pixels), name="stimuli")
        sequence = sequence.seen_by(p)                        # normalised, if p says so
        seed = check_seed(seed)
        n_windows = sequence.n_windows
        collector, info = self._run_batch(
            sequence, sequence.drives(p), n_windows, np.arange(n_windows), seed, None,
            progress, client)
        u = None
        if collector.u_trace is not None:     # u at the start of each window, as infer's
            u = collector.u_trace[:, :, ::collector.spec.steps_per_window].transpose(0, 2, 1)
        info.update(blank=sequence.blank, tau_blank=sequence.tau_blank)
        result = SequenceResult(p, sequence, collector.counts, self.window_s, u=u,
                                u_neurons=self.record_u, u_final=collector.u_final,
                                info=info, spikes=collector.spikes,
                                runaway_onset=collector.onset)
        if warn:
            result.warn_runaway(stacklevel=2)
        return result

    def _run_batch(self, x, drive, n_windows, windows, seed, replay_counts, progress,
                   client):
        """
        Run the inputs (patches ``x``, or a `StimulusSequence`'s trials) as
        chunks of the network's kernel; their `ResultCollector` and ``info``.
        """
        p = self.params
        sequence = x if isinstance(x, StimulusSequence) else None
        n = len(drive)
        backend = get_backend(self.device)(n_jobs=self.n_jobs, cache_dir=self.cache_dir)
        per_run = backend.inputs_per_run(n, n_windows, self.inputs_per_run)
        # a sequence's trials run one after another (its drive changes every
        # window), as do inputs under a shared gain (one gain per window of the
        # whole group); otherwise patches may sit side by side (`batch`)
        batch = 1 if sequence is not None or self.gain_noise > 0 else self.batch
        per_run = -(-per_run // batch) * batch              # whole slots of every copy
        spec = NetworkSpec(self.realization, p.n_latents, n_windows, per_run, self.window_s,
                           self.steps_per_window, self.record_u, replay_counts is not None,
                           self.dtype.name,
                           profile=self.profile and backend.supports_profile,
                           sequence=sequence is not None, batch=batch,
                           gain=self.gain_noise > 0)
        chunks = [slice(s, min(s + per_run, n)) for s in range(0, n, per_run)]
        self._check_memory(spec, x if sequence is None else sequence.stimuli.reshape(
            -1, p.n_pixels), windows, min(self.n_jobs, len(chunks)), n)
        root = np.random.SeedSequence(seed)
        seeds = [int(ss.generate_state(1)[0]) for ss in root.spawn(len(chunks))]
        # the variant's gains: a stream spawned after the chunks' (theirs unchanged)
        gains = None if not spec.gain else gain_process(
            n, n_windows, self.gain_noise, self.gain_tau, seed=root.spawn(1)[0])
        executor = make_executor(client, self.n_jobs)
        bar = ProgressBar(n, desc=f"{self.realization} network", enabled=progress,
                          unit=" trials" if sequence is not None else " patches")
        job = NetworkJob(self.device, spec,
                         run_values(p, self.realization, self.window_s, self.max_count,
                                    self.runaway_margin,
                                    None if sequence is None else sequence.tau_blank),
                         p, windows, spec.key(),
                         cache_dir=self.cache_dir if executor.local else None,
                         call=uuid.uuid4().hex, verbose=bar.enabled,
                         blank=None if sequence is None else sequence.relax.astype(float))
        xs = None if sequence is not None else x
        collector = ResultCollector(p, spec, xs, windows, n_inputs=n)
        timings, merge_s = [], []

        def on_result(i, part):
            sl = chunks[i]
            t0 = time.perf_counter()
            timings.append(part.pop("timing"))
            collector.add_part(sl, part)
            merge_s.append(time.perf_counter() - t0)
            bar.update(sl.stop - sl.start)

        start = time.perf_counter()
        try:
            where = executor.map(
                run_chunk, job,
                [(drive[sl], None if replay_counts is None else replay_counts[sl], s,
                  None if xs is None else xs[sl]) + (() if gains is None else (gains[sl],))
                 for sl, s in zip(chunks, seeds)],
                on_result, name="network", serial=not backend.thread_safe,
                imports=("brian2",), on_cancel=lambda: stop_call(job.call))
        finally:
            bar.close()
        run_s = [t["run_s"] for t in timings]
        timing = dict(build_s=max(t["build_s"] for t in timings), run_s=float(np.sum(run_s)),
                      n_runs=len(chunks), compiled=any(t["compiled"] for t in timings),
                      per_run_s=float(np.median(run_s)),
                      collect_s=float(np.sum([t["collect_s"] for t in timings])),
                      merge_s=float(np.sum(merge_s)))
        if collector.profile:
            timing["profile"] = collector.profile
        if not executor.local:
            timing.update(where)
        self.n_builds += int(timing["compiled"])
        timing["total_s"] = time.perf_counter() - start
        return collector, dict(
            realization=self.realization, device=self.device, seed=seed,
            window_s=self.window_s, dt_s=spec.dt_s, dtype=self.dtype.name,
            max_count=self.max_count, max_rate_hz=self.max_rate_hz,
            runaway_margin=self.runaway_margin, inputs_per_run=per_run,
            batch=batch,
            n_jobs=self.n_jobs, replay=spec.replay, seconds=timing["total_s"],
            timing=timing, **({} if gains is None else dict(gain_noise=self.gain_noise,
                                                            gain_tau=self.gain_tau)))

    def _check_memory(self, spec, x, windows, n_parallel, n):
        """
        Refuse a run whose arrays or spikes would not fit in memory: the spike
        volume comes from the model and the input (`spike_volume`), so that a
        model firing at its clamp is refused before the run, naming why.
        """
        p, n_windows = self.params, spec.n_windows
        volume = spike_volume(p, x, n_windows,
                              self.steps_per_window if self.realization == "continuous"
                              else None, self.max_count)
        what = f"n_windows={n_windows} x {n} patches"
        hint = ("run fewer patches or windows at a time (record_windows keeps the "
                "counts of a few windows only)")
        if volume.model_driven:
            what += (f" at up to {volume.events:,.0f} spike events per patch and window "
                     f"(the model's u_init up to {p.u_init.max():g}, clamp_u "
                     f"{p.clamp_u:g}; inputs of norm up to "
                     f"{np.sqrt((x * x).sum(1).max()):.3g})")
            hint = ("bound activity with max_count (--max-count), check that the "
                    "inputs are whitened patches, or " + hint)
        check_memory(ResultCollector.estimate_bytes(spec, n, windows.size, p.n_pixels,
                                                    n_parallel, volume.events),
                     what, hint)

    def _check_replay(self, replay_counts, n, n_windows):
        if replay_counts is None:
            return None
        if self.realization != "window":
            raise InvalidValueError("replay_counts needs realization='window'")
        replay_counts = np.asarray(replay_counts)
        k = self.params.n_latents
        if replay_counts.shape != (n, n_windows, k):
            raise InvalidValueError(f"replay_counts: expected shape ({n}, {n_windows}, "
                                    f"{k}), got {replay_counts.shape}")
        if replay_counts.dtype.kind not in "iu" or (replay_counts < 0).any():
            raise InvalidValueError("replay_counts must be non-negative integers")
        return replay_counts
