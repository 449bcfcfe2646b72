"""
From the raw monitor arrays of each run to a `SpikingResult`.

Every device returns the same raw arrays per run (spike indices and times,
the counts of the window realization, the state at each input's boundary, the
final state, the membrane traces); `ResultCollector` turns them into counts
per window, read-outs, runaway onsets and traces of the whole batch.
"""

import threading

import numpy as np

from ..results import SpikingResult, window_metrics

__all__ = ["ResultCollector"]

# The per-input arrays of a collector (None where the run does not record them).
_PART = ("counts", "r2", "mse", "zero_fraction", "mean_count", "u_final", "onset", "u_trace")


class ResultCollector:
    """
    Accumulates the runs of one call into the arrays of its result.

    Parameters
    ----------
    params : IPVAEParams
    spec : NetworkSpec
    x : ndarray, shape (n_patches, n_pixels), or None
        The patches, for the read-outs (None: no read-outs, e.g. for a stimulus
        sequence, whose `~ipvae_snn.sequences.SequenceResult` computes its own).
    windows : ndarray of int
        The windows whose counts (and spike times, potentials) are kept.
    n_inputs : int, optional
        The number of inputs (default ``len(x)``).
    """

    def __init__(self, params, spec, x, windows, n_inputs=None):
        self.params, self.spec, self.x, self.windows = params, spec, x, windows
        n, k, t = len(x) if n_inputs is None else n_inputs, spec.n_latents, spec.n_windows
        self.counts = np.zeros((n, windows.size, k), np.int32)
        self.r2 = self.mse = self.zero_fraction = self.mean_count = None
        if x is not None:
            self.r2 = np.empty((n, t), np.float32)
            self.mse = np.empty((n, t), np.float32)
            self.zero_fraction = np.empty((n, t), np.float32)
            self.mean_count = np.empty((n, t), np.float32)
        self.u_final = np.empty((n, k))
        self.onset = np.empty((n, k), np.int32)
        n_u = len(spec.record_u)
        self.u_trace = (np.empty((n, n_u, spec.steps_per_input)) if n_u else None)
        self.spikes = [None] * n if spec.realization == "continuous" else None
        self.phi_t = params.phi.T
        self.profile = {}
        self._lock = threading.Lock()     # runs finish in worker threads

    @staticmethod
    def estimate_bytes(spec, n_inputs, n_recorded, n_pixels, n_parallel,
                       events_per_window=None):
        """
        Bytes a call allocates: the result's arrays for ``n_inputs`` inputs with
        ``n_recorded`` recorded windows (and the spike lists of the continuous
        realization), and what ``n_parallel`` runs being collected at once hold
        (each of ``spec.inputs_per_run`` inputs): the program's monitors, their
        arrays read back, the dense counts and the read-outs. Spike events per
        window: ``events_per_window`` (`ipvae_snn.network.volume.spike_volume`, from
        the model and input), else half the neurons.
        """
        from .volume import BYTES_PER_EVENT
        k, t = spec.n_latents, spec.n_windows
        n_u = len(spec.record_u)
        trace = 8 * n_u * spec.steps_per_input
        events = k // 2 + 1 if events_per_window is None else events_per_window
        result = n_inputs * (4 * n_recorded * k + 16 * t + 20 * k + 8 * n_pixels + trace)
        if spec.realization == "continuous":          # spike lists: int32 + float64
            result += n_inputs * n_recorded * events * 12
        per_input = t * (16 * k + 16 * n_pixels + BYTES_PER_EVENT * events) + 3 * trace
        if spec.replay:
            per_input += 16 * t * k
        return result + n_parallel * spec.inputs_per_run * per_input

    def add(self, sl, raw):
        """Add the raw arrays ``raw`` of the run that simulated the inputs ``sl``."""
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
        if self.x is not None:
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

    def part(self):
        """
        What this collector, over one run's inputs, collected: its arrays (the
        counts in the smallest unsigned type that holds them), spike lists and
        profile, for `add_part` of the batch's collector (Dask workers collect
        their runs and send this instead of the raw monitor arrays).
        """
        out = {name: getattr(self, name) for name in _PART
               if getattr(self, name) is not None}
        top = int(self.counts.max(initial=0))
        for small in (np.uint8, np.uint16):
            if top <= np.iinfo(small).max:
                out["counts"] = self.counts.astype(small)
                break
        out.update(spikes=self.spikes, profile=dict(self.profile))
        return out

    def add_part(self, sl, part):
        """Add the `part` of a collector over the inputs ``sl`` alone."""
        with self._lock:
            for name, sec in part["profile"].items():
                self.profile[name] = self.profile.get(name, 0.0) + sec
        for name in _PART:
            if name in part and getattr(self, name) is not None:
                getattr(self, name)[sl] = part[name]
        if self.spikes is not None:
            self.spikes[sl] = part["spikes"]

    def result(self, info):
        """The `SpikingResult` of the call, with provenance ``info``."""
        spec = self.spec
        u = u_trace_t = None
        if self.u_trace is not None:
            u_trace_t = np.arange(spec.steps_per_input) * spec.dt_s
            # u during each recorded window: its value at the window's first step,
            # the potential the window's draws start from (as infer's record_u)
            u = self.u_trace[:, :, self.windows * spec.steps_per_window].transpose(0, 2, 1)
        neurons = np.array(spec.record_u, dtype=np.int64)
        return SpikingResult(
            params=self.params, x=self.x, n_windows=spec.n_windows,
            windows=self.windows, counts=self.counts, u=u, u_neurons=neurons,
            u_final=self.u_final, r2=self.r2, mse=self.mse,
            zero_fraction=self.zero_fraction, mean_count=self.mean_count,
            runaway_onset=self.onset, info=info, spikes=self.spikes,
            u_trace=self.u_trace, u_trace_t=u_trace_t, u_trace_neurons=neurons)
