"""
`SpikingLCA`: the spiking LCA as a Brian2 network, with the iP-VAE's result object.

The read-out at window T (the iP-VAE's convention: window T spans
``[T·Δ, (T+1)·Δ)`` of simulated time, Δ the window length) is each neuron's
spike count in that window; the code estimate is the count over the window's
rate scale, ``a = count / (rate_per_code · Δ)``, so the reconstruction is
``counts @ (Φ / (rate_per_code · Δ))ᵀ``. The result's ``params.phi`` is that
scaled dictionary: its R², zero fraction (of the counts), reconstructions,
plots and statistics are the iP-VAE's code applied unchanged.
"""

import time

import numpy as np

from ..defaults import DEFAULT_WINDOW_S
from ..params import IPVAEParams
from ..results import SpikingResult, window_metrics
from ..validation import (InvalidValueError, check_choice, check_int, check_number,
                          check_record_windows)
from ..network import lca as lca_network
from .dictionary import lca_dictionary
from .solver import check_patches

__all__ = ["SpikingLCA", "LCA_DEVICES", "synaptic_events"]

#: The devices the spiking LCA runs on.
LCA_DEVICES = ("runtime", "cpp_standalone")


def synaptic_events(spike_counts, n_atoms):
    """
    Synaptic events of a spiking LCA: each spike reaches the other
    ``n_atoms − 1`` neurons of its network.

    Examples
    --------
    >>> synaptic_events([10, 0, 3], 512).tolist()
    [5110, 0, 1533]
    """
    return np.asarray(spike_counts, dtype=np.int64) * (int(n_atoms) - 1)


class SpikingLCA:
    """
    A spiking LCA (Rozell et al. 2008) of integrate-and-fire neurons in Brian2.

    Each neuron's leaky state ``u`` is driven by ``Φᵀx`` and lowered by the
    other neurons' spikes through synapses of weight ``(ΦᵀΦ)_ij``; its spike
    generator fires at ``rate_per_code · (u − λ)₊ / (ΦᵀΦ)_ii`` (the soft
    threshold), so its rate over ``rate_per_code`` is the non-negative Lasso
    code at the fixed point (``equations/lca.txt``; Shapero et al. 2014).

    Parameters
    ----------
    dictionary : {"ipvae", "learnt"} or array_like, shape (n_pixels, n_atoms)
        ``"ipvae"``: the default iP-VAE's Φ; ``"learnt"``: scikit-learn's
        dictionary learning on training patches (`lca_dictionary`).
    lam : float
        The sparsity threshold λ (scikit-learn's Lasso ``alpha``).
    device : {"runtime", "cpp_standalone"}
    window : float, optional
        Read-out window Δ in seconds (default the iP-VAE's, 0.1).
    tau : float
        Time constant of the LCA state in seconds.
    rate_per_code : float
        Spikes per second of a neuron whose code is 1.
    dt : float
        Simulation time step in seconds (divides ``window``).
    patches_per_run : int, optional
        Patches per Brian2 run: side by side on the runtime device (default
        16), one after the other in a compiled program (default 16).
    cache_dir : str, optional
        Compiled programs (default `ipvae_snn.network.default_cache_dir`).

    Examples
    --------
    >>> import numpy as np
    >>> lca = SpikingLCA(np.eye(4, 3), lam=0.1, device="runtime", window=0.02)
    >>> res = lca.run(np.array([[1.0, 0.5, 0.0, 0.0]]), n_windows=3)
    >>> res.counts.shape, res.info["model"]
    ((1, 3, 3), 'lca')
    """

    def __init__(self, dictionary="ipvae", lam=0.1, device="runtime", window=None,
                 tau=0.01, rate_per_code=100.0, dt=1e-4, patches_per_run=None,
                 cache_dir=None):
        self.dictionary_name = dictionary if isinstance(dictionary, str) else "array"
        self.phi = lca_dictionary(dictionary)
        self.lam = check_number(lam, "lam", low=0, low_open=True)
        self.device = check_choice(device, "device", LCA_DEVICES)
        self.window_s = check_number(DEFAULT_WINDOW_S if window is None else window,
                                     "window", low=0, low_open=True, units=" of seconds")
        self.tau = check_number(tau, "tau", low=0, low_open=True, units=" of seconds")
        self.rate_per_code = check_number(rate_per_code, "rate_per_code", low=0,
                                          low_open=True)
        self.dt = check_number(dt, "dt", low=0, low_open=True, units=" of seconds")
        steps = self.window_s / self.dt
        if abs(steps - round(steps)) > 1e-6 * steps or round(steps) < 1:
            raise InvalidValueError(f"dt: {dt:g} s does not divide the window "
                                    f"({self.window_s:g} s)")
        if self.tau < 2 * self.dt:
            raise InvalidValueError(f"tau: {tau:g} s is below two time steps "
                                    f"({2 * self.dt:g} s); the Euler steps would not "
                                    f"be stable")
        self.steps_per_window = int(round(steps))
        self.patches_per_run = (16 if patches_per_run is None else
                                check_int(patches_per_run, "patches_per_run"))
        self.cache_dir = cache_dir
        self.gram = self.phi.T @ self.phi

    @property
    def n_atoms(self):
        """Number of neurons (atoms of the dictionary)."""
        return self.phi.shape[1]

    def readout_params(self):
        """
        The `IPVAEParams` of the result: Φ scaled to the code of one spike
        in a window (``Φ / (rate_per_code · Δ)``), so that ``counts @ phi.T``
        is the LCA's reconstruction; its other fields are placeholders.
        """
        k = self.n_atoms
        return IPVAEParams(phi=self.phi / (self.rate_per_code * self.window_s),
                           sigma=np.ones(self.phi.shape[0]), bias=np.full(k, self.lam),
                           lr=1.0, u_init=np.zeros(k))

    def _spec(self, n_windows, n_blocks, inputs):
        return lca_network.LCASpec(self.n_atoms, n_blocks, inputs, n_windows, self.window_s,
                             self.steps_per_window)

    def run(self, patches, n_windows, seed=None, record_windows=None, record_spikes=True,
            progress=False):
        """
        Code a batch of patches for ``n_windows`` windows.

        Parameters
        ----------
        patches : array_like, shape (n_patches, n_pixels)
        n_windows : int
        seed : int, optional
            Accepted for the iP-VAE's signature (`ipvae_snn.stats.cortex_experiment`
            calls ``run(patches, n_windows, seed=..., record_windows=...)``); the
            LCA is deterministic.
        record_windows : sequence of int, optional
            Windows whose counts the result keeps (default all).
        record_spikes : bool
            Keep the spike times (`SpikingResult.spikes`).
        progress : bool
            Print a line at every tenth of the patches.

        Returns
        -------
        SpikingResult
            ``counts`` per window, R² and zero fraction per window,
            ``spikes``; ``info["synaptic_events"]`` per patch (all spikes
            of the run times the fan-out ``n_atoms − 1``) and
            ``info["spikes_total"]``.
        """
        x = check_patches(patches, self.phi.shape[0])
        n_windows = check_int(n_windows, "n_windows")
        windows = (np.arange(n_windows) if record_windows is None else
                   np.asarray(check_record_windows(record_windows, n_windows)))
        n, k = x.shape[0], self.n_atoms
        drive = x @ self.phi
        gain = 1.0 / np.diag(self.gram)
        constants = dict(tau=self.tau, lam=self.lam, rate_per_code=self.rate_per_code)
        counts = np.zeros((n, n_windows, k), dtype=np.int32)
        totals = np.zeros(n, dtype=np.int64)
        final_u = np.zeros((n, k))
        spikes = [] if record_spikes else None
        t0 = time.perf_counter()
        per = self.patches_per_run
        prog = None
        for start in range(0, n, per):
            m = min(per, n - start)
            if self.device == "runtime":
                spec = self._spec(n_windows, m, 1)
                chunk = drive[start:start + m].reshape(1, m * k)
            else:             # one program for every chunk: the last one padded
                spec = self._spec(n_windows, 1, per)
                chunk = np.zeros((per, k))
                chunk[:m] = drive[start:start + m]
                prog = prog or lca_network.program(spec, self._cache_dir(), progress)
            w = lca_network.weights(spec, self.gram, self.rate_per_code, self.tau)
            g = np.tile(gain, spec.n_blocks)
            if self.device == "runtime":
                raw = lca_network.run_runtime(spec, chunk, g, w, constants)
            else:
                raw = lca_network.run_program(prog, spec, chunk, g, w, constants)
            self._collect(spec, raw, start, m, counts, totals, final_u, spikes)
            done = start + m
            if progress and (done == n or done * 10 // n > start * 10 // n):
                print(f"spiking LCA: {done}/{n} patches "
                      f"({time.perf_counter() - t0:.1f} s)", flush=True)
        params = self.readout_params()
        r2, mse, zf, mean_count = window_metrics(x, counts, params.phi.T)
        info = dict(model="lca", realization="lca", device=self.device,
                    dictionary=self.dictionary_name, lam=self.lam, tau_s=self.tau,
                    rate_per_code=self.rate_per_code, window_s=self.window_s,
                    dt_s=self.dt, seed=None if seed is None else int(seed),
                    fan_out=k - 1,
                    spikes_total=totals.tolist(),
                    synaptic_events=synaptic_events(totals, k).tolist(),
                    wall_s=time.perf_counter() - t0)
        return SpikingResult(params, x, n_windows, windows, counts[:, windows], None,
                             final_u, r2, mse, zf, mean_count,
                             np.full((n, k), -1, dtype=np.int32), info=info,
                             spikes=spikes)

    def _cache_dir(self):
        from ..network.program import default_cache_dir
        return self.cache_dir or default_cache_dir()

    def _collect(self, spec, raw, start, m, counts, totals, final_u, spikes):
        """Bin one run's spikes into ``counts`` (patch, window, neuron) in place."""
        k, p = spec.n_atoms, spec.inputs_per_block
        step = np.rint(raw["spike_t"] / spec.dt_s).astype(np.int64)
        block, neuron = np.divmod(raw["spike_i"], k)
        inp, local = np.divmod(step, spec.steps_per_input)
        patch = block * p + inp                       # this run's patch index
        keep = patch < m                              # the padding's spikes dropped
        patch, neuron, local = patch[keep], neuron[keep], local[keep]
        window = local // spec.steps_per_window
        np.add.at(counts, (start + patch, window, neuron), 1)
        totals[start:start + m] += np.bincount(patch, minlength=m)[:m]
        final_u[start:start + m] = raw["final_u"].reshape(-1, k)[:m]
        if spikes is not None:
            t = local * spec.dt_s
            for q in range(m):
                sel = patch == q
                spikes.append((neuron[sel].astype(np.int32), t[sel]))

    def __repr__(self):
        return (f"SpikingLCA(dictionary={self.dictionary_name!r}, n_atoms={self.n_atoms}, "
                f"lam={self.lam:g}, device={self.device!r}, window={self.window_s:g})")
