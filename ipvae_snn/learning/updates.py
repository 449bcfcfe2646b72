"""
The named update steps of `SpikingDictionaryLearner`, each from the counts of
one mini-batch (``docs/learning.md`` derives them and reports what mattered).

Every function here is pure numpy: it takes the parameters, the batch's
patches and counts (and potentials where a step needs them) and returns new
values; the estimator keeps the state between batches.

- `dictionary_gradient`: the Olshausen–Field gradient of the Gaussian NLL.
- `kl_step_gradient`: the one-step KL term (``beta > 0``).
- `clip_gradient`, `optimizer_step`, `control_norms`: Φ's step.
- `running_average`: σ² and the prior rate by their closed forms.
- `homeostasis`: the spike cost b toward a target rate.
- `calibrate_prior`: the cap on the prior log-rate, chosen at the end of a fit.
- `learning_rate`: the schedule of Φ's step size.
- `diverged`: whether a step left a usable model (finite, not collapsed).
"""

import math
import os

import numpy as np

from ..reference import fond_clamp
from ..validation import InvalidValueError

__all__ = ["dictionary_gradient", "kl_step_gradient", "clip_gradient",
           "optimizer_step", "control_norms", "running_average", "homeostasis",
           "change_spike_size", "robust_mean_r2", "calibration_runs", "calibrate_operating_point",
           "calibrate_prior", "learning_rate", "PRIOR_CAPS", "SPIKE_SCALES",
           "COST_SCALES", "SETTLED_WINDOW", "diverged", "RUNAWAY_BATCHES",
           "FitDivergedError", "check_runaway", "check_step", "divergence_error"]

# Keep at least this much of the learning rate at the end of a cosine schedule.
_COSINE_FLOOR = 0.02
# Gradients larger than this multiple of their running mean norm are clipped.
_GRAD_CLIP = 4.0
# Adam's constants.
_ADAM = (0.9, 0.999, 1e-8)

#: Candidate spike sizes relative to the learnt one (`calibrate_operating_point`).
SPIKE_SCALES = (0.5, 0.6, 0.7, 0.85, 1.0)
#: Candidate spike-cost factors (`calibrate_operating_point`).
COST_SCALES = (0.8, 0.9, 1.0, 1.15, 1.3, 1.5)

#: A fit stops when this many batches in a row (or all its batches, when it
#: has fewer) had every patch run away to the upper clamp of u: no update is
#: possible from them (they are left out), so the fit would only spin.
RUNAWAY_BATCHES = 10

#: Candidate caps of the prior log-rate (`calibrate_prior`); None = no cap.
PRIOR_CAPS = (None, 0.0, -0.5, -1.0, -1.5, -2.0, -2.5, -3.0, -3.5, -4.0)
#: After this many windows the transient is over (the paper's Fig. 3: R² is
#: flat or rising from T = 64 on); `calibrate_prior` tests R² against it.
SETTLED_WINDOW = 64


def dictionary_gradient(params, x, z):
    """
    Gradient of the mean Gaussian NLL over patch-windows with respect to Φ.

    ``NLL = Σ_m (x_m - (Φz)_m)² / (2σ_m²) + log σ_m (+ const)`` per
    patch-window, ``-∂NLL/∂Φ = Σ⁻¹ (x - Φz) zᵀ``: a Hebbian product of the
    precision-weighted prediction error and the presynaptic counts.

    Parameters
    ----------
    params : IPVAEParams
    x : ndarray, shape (n, n_pixels)
        One row per patch-window.
    z : ndarray of float32, shape (n, n_latents)
        The counts of those patch-windows.

    Returns
    -------
    grad : ndarray, shape (n_pixels, n_latents)
    nll : float
        Mean NLL per patch-window.
    err : ndarray of float32, shape (n, n_pixels)
        ``Σ⁻¹ (x - Φz)``.
    sq : ndarray, shape (n_pixels,)
        Mean squared residual per pixel (the closed form of σ²).

    Examples
    --------
    >>> from ipvae_snn import load_model
    >>> p = load_model("official")
    >>> x = np.zeros((2, 256), np.float32); z = np.zeros((2, 512), np.float32)
    >>> grad, nll, err, sq = dictionary_gradient(p, x, z)
    >>> grad.shape, float(abs(grad).max())
    ((256, 512), 0.0)
    """
    n = z.shape[0]
    resid = x - z @ params.phi.T.astype(np.float32)
    sq = np.einsum("nm,nm->m", resid, resid, dtype=np.float64) / n
    prec = params.precision
    nll = float(0.5 * np.sum(sq * prec) + np.sum(np.log(params.sigma))
                + 0.5 * params.n_pixels * np.log(2 * np.pi))
    err = resid * prec.astype(np.float32)
    grad = -(err.T @ z).astype(np.float64) / n
    return grad, nll, err, sq


def kl_step_gradient(params, u, z, err):
    """
    The KL term of one FOND step and its gradient with respect to Φ.

    For window t with potential ``u_t`` and counts ``z_t``, the update
    ``d = lr (Φᵀ Σ⁻¹ (x - Φ z_t) - b)``, clamped to ``d̃ = C_du(d)``, moves the
    posterior from rate ``λ_t`` to ``λ_t e^d̃``; its KL divergence from the
    previous posterior (the rolling prior; the true Poisson KL of the paper)
    is ``KL = λ_t (1 + e^d̃ (d̃ - 1))``. With ``u_t`` and ``z_t`` held fixed
    (the counts are given, the gradient is truncated to one step),
    ``∂KL/∂d = λ_t e^d̃ d̃ · C_du'(d) =: g`` and

        ∇_Φ Σ_k g_k d_k = lr [ Σ⁻¹(x - Φz) gᵀ - Σ⁻¹ Φ g zᵀ ].

    Parameters
    ----------
    params : IPVAEParams
    u, z : ndarray, shape (n, n_latents)
        Potentials and counts of n patch-windows.
    err : ndarray, shape (n, n_pixels)
        ``Σ⁻¹ (x - Φ z)`` of the same patch-windows.

    Returns
    -------
    kl : float
        Mean KL per patch-window (summed over neurons).
    grad : ndarray, shape (n_pixels, n_latents)
        Its gradient with respect to Φ (mean over patch-windows).
    """
    n = z.shape[0]
    phi32 = params.phi.astype(np.float32)
    d = params.lr * (err @ phi32 - params.bias.astype(np.float32))
    lo, c = params.clamp_min, params.clamp_du
    above = d > lo
    s = c - np.maximum(d, lo)
    # softplus'(s) = sigmoid(s); torch's softplus is linear above the threshold.
    slope = np.where(s > params.softplus_threshold, 1.0, 1.0 / (1.0 + np.exp(-s)))
    slope = np.where(above, slope, 0.0)
    dc = fond_clamp(np.asarray(d, dtype=np.float64), c, params)
    lam = np.exp(np.asarray(u, dtype=np.float64))
    growth = np.exp(dc)
    kl = float(np.sum(lam * (1.0 + growth * (dc - 1.0))) / n)
    g = (lam * growth * dc * slope).astype(np.float32)
    grad = params.lr * (err.T @ g
                        - (params.precision.astype(np.float32)[:, None]
                           * (phi32 @ g.T)) @ z)
    return kl, grad.astype(np.float64) / n


def clip_gradient(grad, running_norm):
    """
    Clip ``grad``'s norm at 4× its running mean; returns ``(grad, new_mean)``.

    A burst of spikes short of the clamp can still give one huge gradient,
    which would also inflate Adam's second moment for ~1/(1-β2) batches.
    """
    with np.errstate(over="ignore"):        # an overflow is `diverged`'s to report
        norm = float(np.linalg.norm(grad))
    if running_norm > 0 and norm > _GRAD_CLIP * running_norm:
        grad = grad * (_GRAD_CLIP * running_norm / norm)
        norm = _GRAD_CLIP * running_norm
    return grad, norm if running_norm == 0 else 0.95 * running_norm + 0.05 * norm


def optimizer_step(phi, grad, state, lr, optimizer):
    """
    One step of Adam (β = 0.9, 0.999) or SGD with momentum 0.9 on Φ.

    ``state`` holds ``opt_m``, ``opt_v`` and ``opt_step`` (already counting this
    step) and is updated in place; returns the new Φ.
    """
    if optimizer == "adam":
        b1, b2, eps = _ADAM
        step = state["opt_step"]
        m = state["opt_m"] = b1 * state["opt_m"] + (1 - b1) * grad
        v = state["opt_v"] = b2 * state["opt_v"] + (1 - b2) * grad * grad
        update = (m / (1 - b1 ** step)) / (np.sqrt(v / (1 - b2 ** step)) + eps)
    else:
        update = state["opt_m"] = 0.9 * state["opt_m"] + grad
    with np.errstate(over="ignore", invalid="ignore"):     # `diverged` reports it
        return phi - lr * update


def control_norms(phi, max_norm, mode):
    """
    Cap every column's norm at ``max_norm`` (``"clip"``), set every column to
    it (``"fixed"``), or leave Φ (None).

    The cap keeps the learnt dynamics stable: the FOND update is a
    discrete-time map, and a neuron carrying amplitude ``a = λ‖φ‖`` of the
    input overshoots once ``lr ‖φ‖ a / σ² > 2``.

    Examples
    --------
    >>> phi = np.array([[3.0, 0.1], [4.0, 0.0]])
    >>> control_norms(phi, 1.0, "clip")
    array([[0.6, 0.1],
           [0.8, 0. ]])
    """
    if mode is None:
        return phi
    with np.errstate(over="ignore"):        # an overflow is `diverged`'s to report
        norms = np.linalg.norm(phi, axis=0)
    target = np.full_like(norms, max_norm)
    if mode == "clip":
        target = np.minimum(norms, max_norm)
    return phi * (target / np.where(norms > 0, norms, 1.0))


def running_average(old, new, decay):
    """``decay · old + (1 - decay) · new``: the closed forms of σ² and λ0 over batches."""
    return decay * old + (1 - decay) * new


def homeostasis(bias, last_counts, target_rate, mode, step):
    """
    Move the spike cost b toward a target mean count per neuron.

    ``log b += step · clip((r - r*) / r*, -1, 1)`` with ``r`` the mean count
    in the last read-out window over all neurons (``mode="global"``: the
    population rate is steered, the relative costs stay) or per neuron
    (``"neuron"``: SAILnet's threshold rule in the log domain). The clip
    bounds the move of one odd batch to a factor ``exp(±step)``.
    """
    last = last_counts.mean(axis=0, dtype=np.float64)
    r = last.mean() if mode == "global" else last
    rel = np.clip((r - target_rate) / target_rate, -1.0, 1.0)
    return bias * np.exp(step * rel)


def change_spike_size(params, scale, cost_scale=1.0):
    """
    The same model with spikes ``scale`` times as large and the spike cost
    times ``cost_scale``: ``Φ → cΦ``, ``b → c m b``, ``lr → lr / c``,
    ``u_init → u_init - log c``.

    With ``m = 1`` the steady state's reconstruction is unchanged — the fixed
    point of the FOND update is a non-negative Lasso in the amplitudes
    ``c λ``, whose penalty ``b σ²/c`` per unit amplitude is kept — and so are
    the speed and the stability margin of the dynamics in amplitude terms
    (``lr W λ`` is invariant) and the prior's amplitude; only the number of
    spikes that carry an amplitude changes, by ``1/c``: fewer, larger spikes
    give more zero counts and more Poisson noise in the read-out. ``m``
    moves the operating point along the rate–distortion curve.

    Examples
    --------
    >>> from ipvae_snn import load_model
    >>> p = load_model("official")
    >>> q = change_spike_size(p, 0.5)
    >>> bool(np.allclose(q.phi, 0.5 * p.phi)), round(q.lr / p.lr, 6)
    (True, 2.0)
    """
    c, m = float(scale), float(cost_scale)
    return params.replace(phi=params.phi * c, bias=params.bias * c * m,
                          lr=params.lr / c, u_init=params.u_init - np.log(c))


def robust_mean_r2(r2):
    """
    Mean R² with every patch's R² floored at -1 (NaN: constant patches left out).

    Near-constant patches (a patch of sky) have R² of -10⁴ for a handful of
    spikes; floored, each counts as "worse than nothing" without swamping
    the mean, so calibrations on training data are not decided by a few of
    them.
    """
    r2 = np.asarray(r2, dtype=np.float64)
    return float(np.nanmean(np.maximum(r2, -1.0))) if np.isfinite(r2).any() else -1.0


def calibration_runs(operating_point, prior_cap):
    """
    The inference runs of the end-of-fit calibrations that are ``"auto"``
    (one per candidate), for a progress report.

    Examples
    --------
    >>> calibration_runs("auto", "auto") == (len(SPIKE_SCALES) * len(COST_SCALES)
    ...                                      + len(PRIOR_CAPS))
    True
    >>> calibration_runs(None, 0.5)
    0
    """
    return (len(SPIKE_SCALES) * len(COST_SCALES) * isinstance(operating_point, str)
            + len(PRIOR_CAPS) * isinstance(prior_cap, str))


def calibrate_operating_point(params, x, window, infer_fn, scales=SPIKE_SCALES,
                              cost_scales=COST_SCALES):
    """
    Choose the spike size and spike cost (`change_spike_size`) that minimise
    the rate–distortion distance at a late ``window`` on patches ``x``, the
    mean of the distances of the model's two read-outs.

    The Olshausen–Field update fits Φ for reconstruction alone; how many
    spikes carry the code is a rate–distortion choice, made here on the
    training patches at a window near the steady state (the transient is the
    prior's business, `calibrate_prior`). A model is scored by both of the
    paper's read-outs, the reconstruction from the window's spike counts and
    the one from the rates they are drawn from (each with the counts' zero
    fraction, `ipvae_snn.ratedistortion`), and they pull apart: larger, rarer
    spikes make the counts noisier and the rates sparser. The mean weighs
    the two alike. R² is averaged with `robust_mean_r2`. Candidates whose
    patches run away to the upper clamp are refused (a stability guard).

    Parameters
    ----------
    params : IPVAEParams
    x : ndarray, shape (n, n_pixels)
    window : int
    infer_fn : callable
        ``infer_fn(params, x, n_windows) -> (InferenceResult, u)``: R² and
        counts of window ``n_windows - 1`` and its potential ``u``, shape
        ``(n, n_latents)``.
    scales, cost_scales : sequence of float

    Returns
    -------
    params : IPVAEParams
        The best candidate.
    table : list of (scale, cost_scale, distance, spike distance, rate distance)
        ``distance`` is the mean of the two read-outs' (inf: ran away).
    point : (float, float)
        The chosen ``(scale, cost_scale)``; ``(1, 1)`` (the model as it is)
        when every candidate ran away.
    """
    from ..metrics import r2_score
    from ..ratedistortion import distance, rate_reconstruction
    table, best, best_d = [], (1.0, 1.0), np.inf
    for c in scales:
        for m in cost_scales:
            trial = change_spike_size(params, c, m)
            res, u = infer_fn(trial, x, window + 1)
            d = d_spike = d_rate = np.inf
            if not np.any(res.runaway_onset >= 0):
                zeros = float(res.zero_fraction[:, window].mean())
                d_spike = distance(robust_mean_r2(res.r2[:, window]), zeros)
                d_rate = distance(robust_mean_r2(
                    r2_score(res.x, rate_reconstruction(trial, u))), zeros)
                d = 0.5 * (d_spike + d_rate)
            table.append((c, m, d, d_spike, d_rate))
            if d < best_d:
                best, best_d = (c, m), d
    if best == (1.0, 1.0):
        return params, table, best
    return change_spike_size(params, *best), table, best


def calibrate_prior(params, x, window, infer_fn, caps=PRIOR_CAPS, late=None):
    """
    Choose the cap on the prior log-rate: the best mean R² at ``window``
    among the caps with which R² does not fall after the transient, on
    patches ``x`` (training data; `robust_mean_r2`).

    The closed-form prior (the mean posterior rate) is right for the
    generative model but starts inference dense: on quiet, low-contrast
    patches the prior's own spikes are most of the reconstruction for dozens
    of windows, and on the others the early code is denser than the fixed
    point and scores an R² peak near window 64 that later windows lose.
    Capping ``u_init`` at ``c`` changes nothing at steady state (the fixed
    point of the FOND update does not depend on the start) and only the
    transient. A cap is *settled* when R² at ``late`` is at least R² at
    `SETTLED_WINDOW` (reconstructions keep improving with time, as in the
    paper's Fig. 3); among the settled caps the one with the best R² at the
    training read-out ``window`` is kept (ties to the weaker cap); if none is
    settled, the one whose R² falls least.

    Parameters
    ----------
    params : IPVAEParams
    x : ndarray, shape (n, n_pixels)
    window : int
        Read-out window (``t_train``).
    infer_fn : callable
        ``infer_fn(params, x, n_windows) -> InferenceResult`` (R² at every
        window).
    caps : sequence of float or None
    late : int, optional
        The late window of the settling test (> `SETTLED_WINDOW`); None: no
        test, the best R² at ``window`` wins.

    Returns
    -------
    params : IPVAEParams
        With ``u_init`` capped at the best cap.
    table : list of (cap, mean R² at window, R² at SETTLED_WINDOW, R² at late)
    cap : float or None
        The chosen cap.
    """
    test = late is not None and late > SETTLED_WINDOW
    n_windows = max(window, late if test else 0) + 1
    table = []
    for cap in caps:
        trial = params if cap is None else params.replace(
            u_init=np.minimum(params.u_init, cap))
        r2 = infer_fn(trial, x, n_windows).r2
        table.append((cap, robust_mean_r2(r2[:, window]),
                      robust_mean_r2(r2[:, SETTLED_WINDOW]) if test else None,
                      robust_mean_r2(r2[:, late]) if test else None))
    settled = [row for row in table if not test or row[3] >= row[2]]
    if settled:       # max() keeps the first of ties: the weaker cap (None first)
        best = max(settled, key=lambda row: row[1])[0]
    else:
        best = max(table, key=lambda row: row[3] - row[2])[0]
    if best is not None:
        params = params.replace(u_init=np.minimum(params.u_init, best))
    return params, table, best


def learning_rate(step, total, base, schedule):
    """
    Φ's step size at ``step`` of ``total``: constant, or a cosine decay to 2 %.

    Examples
    --------
    >>> learning_rate(0, 100, 0.01, "cosine"), learning_rate(99, 100, 0.01, "cosine")
    (0.01, 0.0002)
    """
    if schedule == "constant":
        return base
    frac = min(step / max(total - 1, 1), 1.0)
    return base * (_COSINE_FLOOR + (1 - _COSINE_FLOOR)
                   * 0.5 * (1 + math.cos(math.pi * frac)))


def diverged(phi, sigma, u_init, bias, nll=0.0):
    """
    Why a step's new parameters are not a usable model, or ''.

    A step size far too large (``learning_rate=1e300``) overflows Φ to
    infinities that `control_norms` turns into NaN or zeros; NaN in the
    patches' error does the same to σ. Such a state can never recover, and
    without this check the fit ran on and wrote an all-zero dictionary.

    Examples
    --------
    >>> phi = np.eye(3)
    >>> diverged(phi, np.ones(3), np.zeros(3), np.zeros(3))
    ''
    >>> diverged(phi * np.inf, np.ones(3), np.zeros(3), np.zeros(3))
    'the dictionary has non-finite values'
    >>> diverged(phi * 0, np.ones(3), np.zeros(3), np.zeros(3))
    'the dictionary collapsed to zero'
    """
    for name, value in (("the dictionary", phi), ("sigma", sigma), ("u_init", u_init),
                        ("the spike cost", bias), ("the loss", nll)):
        if not np.all(np.isfinite(value)):
            return f"{name} has non-finite values"
    if not np.any(phi):
        return "the dictionary collapsed to zero"
    return ""


class FitDivergedError(InvalidValueError):
    """
    The fit left every usable model behind: non-finite or collapsed
    parameters (a learning rate far too large), or a model whose patches all
    run away. Raised at the step that shows it; the state and the checkpoint
    stay the last good ones, and no model is written.
    """


def check_runaway(state, any_kept, params, total, checkpoint=None):
    """
    Count the batches in a row whose patches all ran away (in ``state``) and
    stop the fit with a `FitDivergedError` after `RUNAWAY_BATCHES` of them
    (or all ``total`` batches of a shorter fit): nothing can be learnt.
    """
    state["runaway_batches"] = 0 if any_kept else state.get("runaway_batches", 0) + 1
    n = state["runaway_batches"]
    if n and n >= min(RUNAWAY_BATCHES, total):
        raise divergence_error(
            state["epoch"], state["batch"],
            f"in {n} batches in a row every patch drove neurons to the upper clamp of u "
            f"(the model's u_init up to {params.u_init.max():g}, clamp_u "
            f"{params.clamp_u:g}), so nothing can be learnt from them",
            "start from another init (--init)", checkpoint)


def check_step(state, lr, checkpoint, phi, sigma, u_init, bias, nll):
    """
    Stop the fit with a `FitDivergedError` when a step's new parameters are
    not a usable model (`diverged`); ``state`` stays the last good one.
    """
    why = diverged(phi, sigma, u_init, bias, nll)
    if why:
        raise divergence_error(state["epoch"], state["batch"],
                               f"{why} after a step of learning rate {lr:g}",
                               "lower the learning rate (--learning-rate)", checkpoint)


def divergence_error(epoch, batch, why, hint, checkpoint=None):
    """
    The `FitDivergedError` of a batch, naming the option to change and the
    checkpoint that keeps the last good state.

    Examples
    --------
    >>> print(divergence_error(0, 2, "the dictionary collapsed to zero",
    ...                        "lower it"))
    the fit diverged at epoch 0, batch 2: the dictionary collapsed to zero; lower it
    """
    where = (f" (the last checkpoint, {checkpoint}, keeps the state before it)"
             if checkpoint and os.path.exists(checkpoint) else "")
    return FitDivergedError(f"the fit diverged at epoch {epoch}, batch {batch}: {why}; "
                            f"{hint}{where}")
