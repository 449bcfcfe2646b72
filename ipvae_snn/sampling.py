"""
The spike generator's random draws: Poisson counts fast at small rates
(`poisson_counts`, the reference's sampler) and the opt-in shared-gain variant.

The shared-gain variant: each trial's rates multiplied by a slowly
fluctuating gain shared by every neuron, the modulated Poisson model of Goris,
Movshon & Simoncelli (2014).

In window t of a trial the counts are drawn as ``z_t ~ Poisson(g_t · λ_t)``,
``λ_t`` the model's rate and ``g_t`` the trial's gain: the gain multiplies the
*draw* only (the spike generator), not the beliefs, as in the modulated Poisson
model, where a gain scales the stimulus-driven rate of a Poisson process. The
inference sees the gained counts and corrects for them through its prediction
error, as it corrects for any Poisson fluctuation.

The gain is a stationary process with a gamma marginal, mean 1 and SD
``sigma`` (Goris et al. fit a gamma-distributed gain), correlated over
``tau`` windows: the beta-gamma autoregressive process of Lewis, McKenzie &
Hugus (1989),

    g_0 ~ Gamma(k, θ),   g_t = B_t g_{t-1} + G_t,
    B_t ~ Beta(kρ, k(1−ρ)),   G_t ~ Gamma(k(1−ρ), θ),

with shape ``k = 1/σ²``, scale ``θ = σ²`` and ``ρ = exp(−1/τ)``: every g_t is
Gamma(k, θ) exactly and ``corr(g_t, g_{t+d}) = ρ^d``. The default correlation
time, `DEFAULT_GAIN_TAU` windows, is longer than a spike-count window of the
statistics (5 windows), so the gain is nearly constant within a count, as
Goris et al. model it (one gain per counting window), and it still varies
within a trial. ``sigma = 0`` is the default model, bit for bit (no gain is
drawn and no random number is consumed).

For one neuron of constant rate λ per window and a gain constant over a count
of W windows, the count is a gamma-Poisson mixture: Fano factor
``1 + Wλσ²`` (`gain_fano`), the closed form the tests check.

References
----------
Goris, R. L. T., Movshon, J. A. & Simoncelli, E. P. (2014). Partitioning
neuronal variability. Nat. Neurosci. 17(6), 858–865.

Lewis, P. A. W., McKenzie, E. & Hugus, D. K. (1989). Gamma processes.
Communications in Statistics. Stochastic Models 5(1), 1–30.

Examples
--------
>>> import numpy as np
>>> g = gain_process(4000, 50, 0.5, seed=0)
>>> g.shape, round(float(g.mean()), 1), round(float(g.std()), 1)
((4000, 50), 1.0, 0.5)
"""

import numpy as np

from .validation import check_int, check_number

__all__ = ["poisson_counts", "gain_process", "gain_fano", "check_gain_noise", "DEFAULT_GAIN_TAU"]

# Rates above this use numpy's Poisson sampler instead of CDF inversion.
_INVERSION_MAX_RATE = 8.0
# CDF levels done on the whole set of spiking entries before re-indexing.
_DENSE_LEVELS = 8

#: Correlation time of the gain, in windows (200 ms at the documented 20 ms
#: window): longer than a 5-window spike count, shorter than a trial.
DEFAULT_GAIN_TAU = 10.0


def check_gain_noise(gain_noise, tau=DEFAULT_GAIN_TAU):
    """
    ``(sigma, tau)`` as floats, or an `InputError` of one line.

    Examples
    --------
    >>> check_gain_noise(0.3)
    (0.3, 10.0)
    """
    sigma = check_number(gain_noise, "gain_noise", low=0)
    return sigma, check_number(tau, "gain_tau", low=0, low_open=True)


def gain_process(n_trials, n_windows, sigma, tau=DEFAULT_GAIN_TAU, seed=None):
    """
    The gains ``g`` of ``n_trials`` trials, shape (n_trials, n_windows).

    Parameters
    ----------
    n_trials, n_windows : int
    sigma : float
        SD of the gain (mean 1); 0 gives ones.
    tau : float
        Correlation time in windows (autocorrelation ``exp(−d/τ)`` at lag d).
    seed : int, numpy.random.SeedSequence or numpy.random.Generator, optional

    Returns
    -------
    ndarray of float64

    Examples
    --------
    >>> g = gain_process(20000, 3, 0.4, tau=2.0, seed=1)
    >>> r = np.corrcoef(g[:, 0], g[:, 2])[0, 1]           # exp(-2/2) = 0.37
    >>> bool(abs(r - np.exp(-1.0)) < 0.03)
    True
    """
    n_trials, n_windows = check_int(n_trials, "n_trials"), check_int(n_windows, "n_windows")
    sigma, tau = check_gain_noise(sigma, tau)
    if sigma == 0:
        return np.ones((n_trials, n_windows))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    k, theta, rho = 1.0 / sigma ** 2, sigma ** 2, float(np.exp(-1.0 / tau))
    g = np.empty((n_trials, n_windows))
    g[:, 0] = rng.gamma(k, theta, n_trials)
    for t in range(1, n_windows):
        b = rng.beta(k * rho, k * (1.0 - rho), n_trials)
        g[:, t] = b * g[:, t - 1] + rng.gamma(k * (1.0 - rho), theta, n_trials)
    return g


def gain_fano(rate, sigma, windows=1):
    """
    Fano factor of the count of ``windows`` windows of a neuron of constant
    ``rate`` (per window) under a gain constant over the count: ``1 + Wλσ²``.

    Examples
    --------
    >>> gain_fano(2.0, 0.5, windows=5)
    3.5
    """
    return 1.0 + windows * rate * sigma ** 2


def poisson_counts(rate, rng, out=None, uniforms=None):
    """
    Poisson counts for an array of rates, fast when most rates are small.

    Inverts the Poisson CDF with one uniform U per entry (z = number of
    levels k with ``U > F(k)``). Level 0 (``z = 0`` iff ``U <= e^-λ``) runs on
    the whole array; the entries with a spike (a quarter or less) go through
    `_DENSE_LEVELS` further levels without re-indexing, and the rare ones still
    above the CDF are walked up on a shrinking index set in float64. Rates
    above `_INVERSION_MAX_RATE` (few, chosen by rate alone so that the two
    samplers do not bias each other) use ``rng.poisson``. Exact in
    distribution up to the rounding of the CDF in ``rate``'s precision.

    Parameters
    ----------
    rate : ndarray (float32 or float64)
        Poisson means λ ≥ 0.
    rng : numpy.random.Generator
    out : ndarray, optional
        Same shape as ``rate``, receives the counts (any numeric dtype).
    uniforms : ndarray, optional
        Work buffer of ``rate``'s shape and dtype.
    """
    flat_rate = rate.reshape(-1)
    if out is None:
        out = np.empty(rate.shape, dtype=rate.dtype)
    flat_out = out.reshape(-1)
    if uniforms is None:
        uniforms = np.empty(rate.shape, dtype=rate.dtype)
    u = uniforms.reshape(-1)
    rng.random(out=u, dtype=u.dtype)
    big = np.flatnonzero(flat_rate > _INVERSION_MAX_RATE)
    if big.size:
        u[big] = 0.0                      # level 0 keeps them at zero
    p0 = flat_out if flat_out.dtype == flat_rate.dtype else None
    p0 = np.exp(np.negative(flat_rate, out=p0), out=p0)         # F(0) = e^-λ
    active = np.flatnonzero(u > p0)
    lam, target, p = flat_rate[active], u[active], p0[active]
    flat_out[:] = 0
    cdf = p.copy()
    z = np.ones(active.size, dtype=flat_rate.dtype)
    above = np.empty(active.size, dtype=bool)
    for k in range(1, _DENSE_LEVELS + 1):
        p *= lam
        p *= 1.0 / k
        cdf += p
        np.greater(target, cdf, out=above)
        z += above
    rest = np.flatnonzero(above)
    if rest.size:
        lam, target = lam[rest].astype(np.float64), target[rest].astype(np.float64)
        p, cdf = p[rest].astype(np.float64), cdf[rest].astype(np.float64)
        k = _DENSE_LEVELS
        while rest.size:
            k += 1
            p *= lam / k
            cdf += p
            # Stop once the remaining mass is below double precision (rounding
            # can leave the CDF a hair below a U close to 1).
            more = (target > cdf) & (p > 1e-17 * cdf)
            rest = rest[more]
            z[rest] += 1
            lam, p, cdf, target = lam[more], p[more], cdf[more], target[more]
    flat_out[active] = z
    if big.size:
        flat_out[big] = rng.poisson(flat_rate[big].astype(np.float64))
    return out
