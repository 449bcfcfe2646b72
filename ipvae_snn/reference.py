"""
The reference algorithm: batched numpy FOND inference (the paper's
iterative inference; the documentation's model page).

For window t = 0, 1, 2, …::

    z_t     ~ Poisson(exp(u_t) + rate_eps)
    e_t     = (x - Φ z_t) / σ²
    Δu_t    = lr · (Φᵀ e_t - b)
    u_{t+1} = C_u(u_t + C_du(Δu_t)),      u_0 = u_init
    C(v)    = c - softplus(c - max(v, clamp_min))

`infer` draws the counts; `replay` and `fond_update` take given counts
(the official recordings) and are deterministic. `infer` is the fast path: it
works on blocks of patches that stay in cache, spreads the blocks over threads
(each block has its own random stream, so results do not depend on the number
of threads), uses BLAS for the two matrix products and a Poisson sampler
specialised for the small rates that dominate (`ipvae_snn.sampling.poisson_counts`,
re-exported here).

`infer_sequence` runs a `~ipvae_snn.sequences.StimulusSequence` (stimuli and
blanks) through the same kernel, `infer_chunk`.
"""

import os
import time

import numpy as np

from . import metrics
from ._memory import check_memory
from ._progress import ProgressBar
from .contrast import normalize_input
from .data import check_input_scale, check_patches
from .executor import make_executor
from .sampling import DEFAULT_GAIN_TAU, check_gain_noise, gain_process, poisson_counts
from .metrics import one_blas_thread
from .results import InferenceResult
from .sequences import SequenceResult, check_sequence
from .params import check_params
from .validation import (InvalidValueError, check_float_dtype, check_int, check_neurons,
                         check_number, check_record_windows, check_seed)

__all__ = ["infer", "infer_sequence", "infer_chunk", "window_update", "ChunkConstants",
           "replay", "fond_update", "fond_clamp", "poisson_counts", "memory_estimate"]

# Refuse to allocate recordings larger than this unless asked to.
_DEFAULT_MAX_RECORD_BYTES = 2 * 1024 ** 3


def fond_clamp(v, clamp, params, out=None, tmp=None):
    """
    ``C(v) = c - softplus(c - max(v, clamp_min))``, the official clamp.

    softplus is torch's: it returns its argument above ``softplus_threshold``.
    Works in place when ``out is v``.
    """
    out = np.maximum(v, params.clamp_min, out=out)
    np.subtract(clamp, out, out=out)                    # s = c - max(v, lo)
    linear = None
    if clamp - params.softplus_threshold > params.clamp_min:
        # s can exceed the threshold only when c - threshold > clamp_min.
        linear = out > params.softplus_threshold
    with np.errstate(over="ignore"):
        tmp = np.exp(out, out=tmp)
    np.log1p(tmp, out=tmp)
    if linear is not None and linear.any():
        np.copyto(tmp, out, where=linear)
    return np.subtract(clamp, tmp, out=out)


def fond_update(params, u, counts, x, dtype=np.float64):
    """
    One FOND update ``u_{t+1}`` from ``u_t``, given counts ``z_t`` and input.

    Parameters
    ----------
    params : IPVAEParams
    u : array_like, shape (..., n_latents)
    counts : array_like, shape (..., n_latents)
    x : array_like, shape (..., n_pixels), broadcastable against ``u``'s
        leading dimensions (e.g. ``x[:, None]`` for ``u`` of shape (B, T, K)).
    dtype : numpy dtype

    Returns
    -------
    ndarray, shape of ``u``

    Examples
    --------
    >>> import numpy as np, ipvae_snn
    >>> params = ipvae_snn.default_params()
    >>> u1 = fond_update(params, params.u_init, np.zeros(512), np.zeros(256))
    >>> bool(np.all(u1 < params.u_init))       # no input, no spikes: the leak wins
    True
    """
    u = np.asarray(u, dtype=dtype)
    z = np.asarray(counts, dtype=dtype)
    phi = params.phi.astype(dtype)
    err = (np.asarray(x, dtype=dtype) - z @ phi.T) * params.precision.astype(dtype)
    du = params.lr * (err @ phi - params.bias.astype(dtype))
    du = fond_clamp(du, params.clamp_du, params)
    return fond_clamp(u + du, params.clamp_u, params)


def replay(params, x, counts, u0=None, dtype=np.float64):
    """
    Free-running potentials driven by given counts.

    Parameters
    ----------
    params : IPVAEParams
    x : array_like, shape (n_patches, n_pixels)
        The inputs, as `infer` takes them (normalised here if the model says so).
    counts : array_like, shape (n_patches, n_windows, n_latents)
        The counts ``z_t`` used by the update of each window.
    u0 : array_like, shape (n_latents,) or (n_patches, n_latents), optional
        Start potential, default ``u_init``.

    Returns
    -------
    ndarray, shape (n_patches, n_windows + 1, n_latents)
        ``u[:, t]`` is the potential of window t; ``u[:, -1]`` follows the last
        update.

    Examples
    --------
    Replaying the counts a run drew gives back its potentials:

    >>> import numpy as np, ipvae_snn
    >>> params = ipvae_snn.default_params()
    >>> x = np.random.default_rng(0).standard_normal((2, 256))
    >>> run = ipvae_snn.infer(params, x, 5, seed=0, record_u=True, dtype=np.float64)
    >>> u = replay(params, x, run.counts)
    >>> bool(np.allclose(u[:, :5], run.u))
    True
    """
    x = normalize_input(params, check_patches(x, params.n_pixels, name="x"))[0]   # as infer
    counts = np.asarray(counts)
    if counts.ndim != 3 or counts.shape[0] != x.shape[0] \
            or counts.shape[2] != params.n_latents:
        raise InvalidValueError(f"counts: expected shape ({x.shape[0]}, n_windows, "
                         f"{params.n_latents}), got {counts.shape}")
    n, n_windows, k = counts.shape
    u = np.empty((n, n_windows + 1, k), dtype=dtype)
    u[:, 0] = params.u_init if u0 is None else u0
    for t in range(n_windows):
        u[:, t + 1] = fond_update(params, u[:, t], counts[:, t], x, dtype=dtype)
    return u


class ChunkConstants:
    """
    What every chunk of an `infer` call shares: the model in the arithmetic
    precision, the precomputed products and what is recorded.

    Made by `infer` (or by hand, for `infer_chunk`); picklable, sent once to
    every Dask worker.

    Parameters
    ----------
    params : IPVAEParams
    n_windows : int
    dtype : numpy dtype
    windows : ndarray of int
        The recorded windows (sorted).
    record_counts : bool
    u_neurons : tuple of int or None
        Neurons whose potentials are recorded.
    max_count : float or None
    runaway_margin : float
    sequence : StimulusSequence, optional
        `infer_sequence`'s timeline (chunks then pass (n, n_stimuli, n_pixels)).
    gain : (float, float), optional
        The shared-gain variant's ``(sigma, tau)`` (`ipvae_snn.gain`); None or
        sigma 0: off.
    """

    def __init__(self, params, n_windows, dtype, windows, record_counts=True,
                 u_neurons=None, max_count=None, runaway_margin=1.0, sequence=None,
                 gain=None):
        dtype = np.dtype(dtype)
        k = params.n_latents
        self.params, self.n_windows, self.dtype, self.n_latents = (
            params, int(n_windows), dtype, k)
        self.windows = np.asarray(windows, np.int64)
        self.record_counts = bool(record_counts)
        self.u_neurons = u_neurons
        self.rec_pos = np.full(self.n_windows, -1, np.int64)
        self.rec_pos[self.windows] = np.arange(self.windows.size)
        self.u_init = params.u_init.astype(dtype)
        self.phi_t = np.ascontiguousarray(params.phi.T.astype(dtype))
        self.lr_phi = np.ascontiguousarray((params.lr * params.phi).astype(dtype))
        self.lr_bias = (params.lr * params.bias).astype(dtype)
        self.precision = params.precision.astype(dtype)
        self.rate_eps = dtype.type(params.rate_eps)
        self.max_count = max_count
        self.runaway_u = params.clamp_u - runaway_margin
        # fancy indexing copies: skip it when every neuron is recorded
        self.u_index = (None if u_neurons in (None, tuple(range(k)))
                        else np.array(u_neurons))
        self.sequence = sequence
        self.gain = gain if gain is not None and gain[0] > 0 else None

    def layout(self, n_patches):
        """Shape and dtype of each array a chunk of ``n_patches`` returns (None: not recorded)."""
        n, k, t, w = n_patches, self.n_latents, self.n_windows, self.windows.size
        n_u = 0 if self.u_neurons is None else len(self.u_neurons)
        return dict(counts=((n, w, k), np.int32) if self.record_counts else None,
                    u=((n, w, n_u), self.dtype) if n_u else None,
                    u_final=((n, k), self.dtype),
                    r2=((n, t), np.float32), mse=((n, t), np.float32),
                    zero_fraction=((n, t), np.float32), mean_count=((n, t), np.float32),
                    runaway_onset=((n, k), np.int32))


def window_update(c, u, residual, du, tmp, relax=None):
    """
    One window's update of ``u``, in place: the FOND step from the ``residual``
    ``x - Φz`` (scaled in place), or with ``relax`` (a blank of a stimulus
    sequence) ``u ← u_init + (u − u_init) · relax``, whatever input and counts.
    """
    if relax is not None:
        np.subtract(u, c.u_init, out=u)
        u *= c.dtype.type(relax)
        u += c.u_init
        return u
    p = c.params
    residual *= c.precision                             # error e_t
    np.matmul(residual, c.lr_phi, out=du)
    du -= c.lr_bias
    fond_clamp(du, p.clamp_du, p, out=du, tmp=tmp)
    u += du
    return fond_clamp(u, p.clamp_u, p, out=u, tmp=tmp)


def infer_chunk(constants, x, seed):
    """
    The reference algorithm on one chunk of patches: the kernel of `infer`.

    Pure: the arrays depend on its arguments only (one BLAS thread, one random
    stream), whichever process or thread runs it.

    Parameters
    ----------
    constants : ChunkConstants
    x : ndarray, shape (n, n_pixels)
        The chunk's patches (with ``constants.sequence``: each trial's
        stimuli, (n, n_stimuli, n_pixels)).
    seed : numpy.random.SeedSequence or int
        The chunk's random stream.

    Returns
    -------
    dict of ndarray
        ``counts`` (n, recorded windows, n_latents) and ``u`` (n, recorded
        windows, recorded neurons) where recorded; ``u_final``,
        ``runaway_onset`` (n, n_latents); ``r2``, ``mse``, ``zero_fraction``,
        ``mean_count`` (n, n_windows), as `InferenceResult` names them.

    Examples
    --------
    >>> import numpy as np, ipvae_snn
    >>> params = ipvae_snn.default_params()
    >>> c = ChunkConstants(params, 5, np.float32, windows=[4])
    >>> x = np.random.default_rng(0).standard_normal((3, 256))
    >>> out = infer_chunk(c, x, np.random.SeedSequence(0))
    >>> out["counts"].shape, out["r2"].shape
    ((3, 1, 512), (3, 5))
    >>> bool(np.array_equal(out["counts"], infer_chunk(c, x, np.random.SeedSequence(0))["counts"]))
    True
    """
    c = constants
    dt = c.dtype
    n, k = x.shape[0], c.n_latents
    out = {name: None if spec is None else np.zeros(*spec)
           for name, spec in c.layout(n).items()}
    rng = np.random.default_rng(seed)
    xb = np.asarray(x).astype(dt)
    u = np.broadcast_to(c.u_init, (n, k)).copy()
    rate, z, du, tmp, uniforms = (np.empty((n, k), dt) for _ in range(5))
    recon = np.empty((n, x.shape[-1]), dt)
    ss_tot = metrics.total_sum_of_squares(x)
    onset = np.full((n, k), -1, np.int32)
    # the shared gain of each trial and window, drawn first (none when off: the
    # default consumes no random number)
    gains = None if c.gain is None else gain_process(n, c.n_windows, *c.gain, seed=rng).astype(dt)
    with one_blas_thread():
        for t in range(c.n_windows):
            # ---- draw the counts of window t from u_t
            with np.errstate(over="ignore"):
                np.exp(u, out=rate)
            rate += c.rate_eps
            if c.max_count is not None:          # refractory-like saturation
                np.multiply(rate, 1.0 / c.max_count, out=tmp)
                tmp += 1.0
                rate /= tmp
            if gains is not None:                # counts ~ Poisson(g_t λ_t)
                rate *= gains[:, t, None]
            poisson_counts(rate, rng, out=z, uniforms=uniforms)
            # ---- reconstruction and prediction error
            x_t, tot_t, relax = ((xb, ss_tot, None) if c.sequence is None
                                 else c.sequence.window_input(t, xb, ss_tot))
            np.matmul(z, c.phi_t, out=recon)
            np.subtract(x_t, recon, out=recon)        # residual
            ss_res = np.einsum("bm,bm->b", recon, recon)
            out["mse"][:, t] = ss_res
            out["r2"][:, t] = metrics.r2_from_sums(ss_res, tot_t)
            nonzero = np.count_nonzero(z, axis=1)
            out["zero_fraction"][:, t] = 1.0 - nonzero / k
            out["mean_count"][:, t] = z.sum(axis=1) / k
            r = c.rec_pos[t]
            if r >= 0:
                if out["counts"] is not None:
                    out["counts"][:, r] = z
                if out["u"] is not None:
                    out["u"][:, r] = u if c.u_index is None else u[:, c.u_index]
            window_update(c, u, recon, du, tmp, relax)
            # ---- runaway detection: cheap unless something is near the clamp
            if u.max() > c.runaway_u:
                hit = (u > c.runaway_u) & (onset < 0)
                onset[hit] = t + 1
    out["u_final"][:] = u
    out["runaway_onset"][:] = onset
    return {name: arr for name, arr in out.items() if arr is not None}


def memory_estimate(n_patches, n_windows, n_latents, n_pixels, dtype=np.float32,
                    block_size=256, n_jobs=None):
    """
    Bytes `infer` allocates besides its recordings: the per-window read-outs
    (R², MSE, zero fraction, mean count: 4 x float32 per patch and window), the
    final state, the model in ``dtype`` and the work buffers of the blocks
    that run at once.

    Examples
    --------
    >>> memory_estimate(500, 10 ** 11, 512, 256) / 1024 ** 3 > 700       # GiB
    True
    """
    itemsize = np.dtype(dtype).itemsize
    n_jobs = n_jobs or os.cpu_count() or 1
    per_window = 16 * n_patches * n_windows
    final = n_patches * n_latents * (itemsize + 4)
    model = 3 * n_pixels * n_latents * itemsize
    blocks = min(n_jobs, -(-n_patches // block_size))
    block = min(block_size, n_patches) * (6 * n_latents + 2 * n_pixels) * itemsize
    return per_window + final + model + blocks * block


def infer(params, x, n_windows, *, seed=None, dtype=np.float32,
          record_windows=None, record_counts=True, record_u=False,
          max_count=None, runaway_margin=1.0, block_size=256, n_jobs=None,
          progress=None, max_record_bytes=_DEFAULT_MAX_RECORD_BYTES, warn=True,
          client=None, gain_noise=0.0, gain_tau=DEFAULT_GAIN_TAU):
    """
    Iterative FOND inference on a batch of patches.

    Parameters
    ----------
    params : IPVAEParams
    x : array_like, shape (n_patches, n_pixels)
        Input patches (validated: shape, finiteness).
    n_windows : int
        Number of windows; window t draws from the potential after t updates,
        so the paper's metric at T needs ``n_windows >= T + 1``.
    seed : int or numpy.random.SeedSequence, optional
        Seeds one independent stream per block of ``block_size`` patches.
    dtype : {numpy.float32, numpy.float64}
        Arithmetic precision (float32 is the fast default and the official
        code's precision).
    record_windows : sequence of int, optional
        Windows whose counts (and potentials) are stored; default all.
    record_counts : bool
        Store the counts of the recorded windows.
    record_u : bool or sequence of int
        Store the potentials of the recorded windows: ``False`` / ``None``
        none, ``True`` every neuron, a sequence of indices those neurons
        (``result.u_neurons``), as `SpikingIPVAE`'s ``record_u``.
    max_count : float, optional
        Opt-in bound on activity: rates saturate as ``λ / (1 + λ/max_count)``,
        the rate of a Poisson neuron with a dead time of 1/max_count windows.
        It bounds the counts, not ``u``: set it above the largest count the
        inputs need (``counts.max()`` of a run without it); a lower cap keeps
        neurons below what their input calls for, their ``u`` winds up to the
        clamp (reported as runaway events) and R² drops.
    runaway_margin : float
        A neuron whose potential exceeds ``clamp_u - runaway_margin`` is
        reported as runaway (rate ≥ e^9 ≈ 8,100 per window for the reference
        model, far above any stable posterior's rates).
    block_size : int
        Patches per block (the unit of caching, threading and random streams).
    n_jobs : int, optional
        Threads; default ``os.cpu_count()``.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    max_record_bytes : int
        Refuse recordings larger than this (pass ``record_windows`` instead).
    warn : bool
        Issue a `RunawayWarning` when neurons run away, and an
        `~ipvae_snn.data.InputScaleWarning` before a run on patches far from
        the training scale (`~ipvae_snn.data.check_input_scale`).
    client : distributed.Client, optional
        Run the blocks as tasks on this Dask cluster instead of local threads
        (`ipvae_snn.executor`): the same result, bit for bit.
    gain_noise, gain_tau : float
        The opt-in shared-gain variant (`ipvae_snn.gain`): each trial's counts
        drawn as Poisson(g_t λ_t), g a gamma process of mean 1, SD
        ``gain_noise``, correlation time ``gain_tau`` windows; 0 (the default)
        is off.

    Returns
    -------
    InferenceResult

    See Also
    --------
    ipvae_snn.network.SpikingIPVAE : the same dynamics as a Brian2 network.

    Examples
    --------
    >>> import ipvae_snn
    >>> from ipvae_snn.data import natural_patches
    >>> params = ipvae_snn.default_params()
    >>> result = ipvae_snn.infer(params, natural_patches(n_patches=16, seed=0), 17,
    ...                          seed=0, record_windows=[4, 16], record_u=[0, 1])
    >>> result.counts_at(16).shape, result.u.shape
    ((16, 512), (16, 2, 2))
    >>> row = result.summary()[-1]                # the paper's metrics after T = 16
    >>> row["T"], 0 < row["r2"] < 1, 0 < row["zero_fraction"] < 1
    (16, True, True)
    """
    params = check_params(params)
    seed = check_seed(seed)
    x = check_patches(x, params.n_pixels, name="x")
    if warn:                                    # learning's batches pass warn=False
        check_input_scale(params, x, name="x")
    # what the network sees: divided by each patch's contrast, for a model with it
    x, input_gain = normalize_input(params, x)
    n_windows = check_int(n_windows, "n_windows")
    dtype = check_float_dtype(dtype)
    if max_count is not None:
        max_count = check_number(max_count, "max_count", low=0, low_open=True)
    block_size = check_int(block_size, "block_size")
    if n_jobs is not None:
        n_jobs = check_int(n_jobs, "n_jobs")
    runaway_margin = check_number(runaway_margin, "runaway_margin")
    gain = check_gain_noise(gain_noise, gain_tau)
    n_patches, k = x.shape[0], params.n_latents
    windows = check_record_windows(record_windows, n_windows)
    u_neurons = check_neurons(record_u, k)
    n_u = 0 if u_neurons is None else len(u_neurons)
    need = n_patches * windows.size * ((4 * k if record_counts else 0) + dtype.itemsize * n_u)
    if need > max_record_bytes:
        raise InvalidValueError(
            f"recording {windows.size} windows of {n_patches} patches x {k} neurons needs "
            f"{need / 1024 ** 3:.1f} GiB; pass record_windows=[...] (e.g. the "
            f"windows you will read out), record_u=False or raise max_record_bytes")
    check_memory(need + memory_estimate(n_patches, n_windows, k, params.n_pixels, dtype,
                                        block_size, n_jobs),
                 f"n_windows={n_windows} x {n_patches} patches",
                 "infer fewer patches or windows at a time")
    consts = ChunkConstants(params, n_windows, dtype, windows, record_counts, u_neurons,
                            max_count, runaway_margin, gain=gain)
    out = {name: None if spec is None else np.empty(*spec)
           for name, spec in consts.layout(n_patches).items()}
    starts = range(0, n_patches, block_size)
    seeds = np.random.SeedSequence(seed).spawn(len(starts))
    blocks = [slice(s, min(s + block_size, n_patches)) for s in starts]
    executor = make_executor(client, n_jobs)
    bar = ProgressBar(len(blocks) * n_windows, desc="inference", enabled=progress,
                      unit=" block-windows")

    def on_result(i, arrays):
        for name, arr in arrays.items():
            out[name][blocks[i]] = arr
        bar.update(n_windows)

    start = time.perf_counter()
    try:
        where = executor.map(infer_chunk, consts,
                             [(x[sl], ss) for sl, ss in zip(blocks, seeds)], on_result,
                             name="reference")
    finally:
        bar.close()
    elapsed = time.perf_counter() - start
    result = InferenceResult(
        params=params, x=x, n_windows=n_windows, windows=windows,
        counts=out["counts"], u=out["u"], u_neurons=u_neurons, u_final=out["u_final"],
        r2=out["r2"], mse=out["mse"], zero_fraction=out["zero_fraction"],
        mean_count=out["mean_count"], runaway_onset=out["runaway_onset"],
        input_gain=input_gain,
        info=dict(realization="reference", seed=_seed_repr(seed), dtype=dtype.name,
                  block_size=block_size, n_jobs=min(executor.n_workers, len(blocks)),
                  max_count=max_count, runaway_margin=runaway_margin, seconds=elapsed,
                  **_gain_info(gain),
                  **({} if executor.local else {"dask": where})))
    if warn:
        result.warn_runaway(stacklevel=2)
    return result


def infer_sequence(params, sequence, *, seed=None, dtype=np.float32, record_u=False,
                   max_count=None, block_size=256, n_jobs=None, client=None, warn=True,
                   gain_noise=0.0, gain_tau=DEFAULT_GAIN_TAU):
    """
    The reference algorithm on a `~ipvae_snn.sequences.StimulusSequence`.

    Blanks relax to the prior (`window_update`); trials run in blocks with a random stream each.
    The arguments are `infer`'s (``gain_noise``: the shared gain runs through blanks too).

    Returns
    -------
    SequenceResult

    Examples
    --------
    >>> import ipvae_snn
    >>> from ipvae_snn.data import natural_patches
    >>> from ipvae_snn.sequences import StimulusSequence
    >>> seq = StimulusSequence(natural_patches(n_patches=2, seed=0), 17, 8, trials=4)
    >>> result = infer_sequence(ipvae_snn.default_params(), seq, seed=0)
    >>> result.counts.shape, [row["T"] for row in result.stimulus_metrics(16)]
    ((4, 58, 512), [16, 16])
    """
    params, seed, dtype = check_params(params), check_seed(seed), check_float_dtype(dtype)
    sequence = check_sequence(sequence, params).seen_by(params)   # normalised
    n_windows, n = sequence.n_windows, sequence.n_trials
    if max_count is not None:
        max_count = check_number(max_count, "max_count", low=0, low_open=True)
    u_neurons, k = check_neurons(record_u, params.n_latents), params.n_latents
    gain = check_gain_noise(gain_noise, gain_tau)
    check_memory(n * n_windows * (4 * k + dtype.itemsize * len(u_neurons or ())) + memory_estimate(
        n, n_windows, k, params.n_pixels, dtype, block_size, n_jobs),
        f"{n} trials x {n_windows} windows", "run fewer trials at a time")
    consts = ChunkConstants(params, n_windows, dtype, np.arange(n_windows), True, u_neurons,
                            max_count, sequence=sequence, gain=gain)
    blocks = [slice(s, min(s + check_int(block_size, "block_size"), n))
              for s in range(0, n, block_size)]
    seeds = np.random.SeedSequence(seed).spawn(len(blocks))
    parts, start = [None] * len(blocks), time.perf_counter()
    make_executor(client, n_jobs).map(
        infer_chunk, consts, [(sequence.trial_stimuli(sl), ss) for sl, ss in zip(blocks, seeds)],
        lambda i, arrays: parts.__setitem__(i, arrays), name="reference-sequence")
    joined = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    result = SequenceResult(params, sequence, joined["counts"], u=joined.get("u"),
                            u_neurons=u_neurons, u_final=joined["u_final"],
                            runaway_onset=joined["runaway_onset"], info=dict(
                                realization="reference", seed=_seed_repr(seed), dtype=dtype.name,
                                max_count=max_count, seconds=time.perf_counter() - start,
                                **_gain_info(gain)))
    if warn:                                    # neurons at the upper clamp
        result.warn_runaway(stacklevel=2)
    return result


def _gain_info(gain):
    """The variant's entries of a result's ``info`` (none when off: the default's info)."""
    return {} if gain[0] == 0 else dict(gain_noise=gain[0], gain_tau=gain[1])


def _seed_repr(seed):
    if isinstance(seed, np.random.SeedSequence):
        return seed.entropy
    return seed
