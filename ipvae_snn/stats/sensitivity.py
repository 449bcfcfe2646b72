"""
How the cortex table's measures move with the shared gain noise, the window
length and the spike cost: one axis at a time around a setting, on the
reference algorithm.

Each point runs `cortex_experiment` (natural patches over repeated trials and
the gratings) with the reference algorithm (`ipvae_snn.reference.infer`), the
window length setting its time scale (``result.info['window_s']``: rates and
spike times), the shared-gain variant its ``gain_noise`` and
`~ipvae_snn.learning.updates.change_spike_size` its spike cost. The
reference's spike times are placed in their windows, so its ISI measures are
not compared (as `ipvae-snn stats` on the window realization): 7 ranged
measures.

Examples
--------
>>> import ipvae_snn
>>> rows = cortex_sensitivity(ipvae_snn.default_params(), gain_noises=(0.0,),
...                           window_lengths_s=(), cost_scales=(), n_patches=2,
...                           n_trials=3, n_windows=33, count_windows=2)
>>> rows[0]["axis"], rows[0]["n_ranged"]
('gain_noise', 7)
"""

import functools

from ..validation import InvalidValueError, check_int
from .cortex import cortex_table
from .experiments import cortex_experiment

__all__ = ["cortex_sensitivity", "inside_summary", "SENSITIVITY_GAINS",
           "SENSITIVITY_WINDOWS_S", "SENSITIVITY_COSTS"]

#: The default grid: gain noise SDs, window lengths (s), spike-cost factors.
SENSITIVITY_GAINS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
SENSITIVITY_WINDOWS_S = (0.005, 0.01, 0.02, 0.05, 0.1)
SENSITIVITY_COSTS = (0.8, 1.0, 1.25)


def inside_summary(rows):
    """
    Which ranged measures of a `cortex_table` lie inside their V1 range.

    Returns
    -------
    dict
        ``n_inside``, ``n_ranged`` (rows with a range and a value),
        ``inside`` and ``outside`` (measure keys).

    Examples
    --------
    >>> from ipvae_snn.stats import cortex_table
    >>> s = inside_summary(cortex_table({"fano_factor": 1.1, "median_rate_hz": 50.0}))
    >>> s["n_inside"], s["n_ranged"], s["outside"]
    (1, 2, ['median_rate_hz'])
    """
    ranged = [r for r in rows if r["inside"] is not None]
    inside = [r["measure"] for r in ranged if r["inside"]]
    return dict(n_inside=len(inside), n_ranged=len(ranged), inside=inside,
                outside=[r["measure"] for r in ranged if not r["inside"]])


def _windowed(run, window_s):
    """``run`` whose results say their window is ``window_s``."""
    def wrapped(*args, **kwargs):
        result = run(*args, **kwargs)
        result.info["window_s"] = float(window_s)
        return result
    return wrapped


def cortex_sensitivity(params, gain_noises=SENSITIVITY_GAINS,
                       window_lengths_s=SENSITIVITY_WINDOWS_S, cost_scales=SENSITIVITY_COSTS,
                       gain_noise=0.5, window_s=0.02, n_patches=30, n_trials=20,
                       n_windows=101, count_windows=5, seed=0, progress=None):
    """
    The cortex table along each axis of a small grid, the others at the
    setting (``gain_noise``, ``window_s``, spike cost x1).

    Parameters
    ----------
    params : IPVAEParams
    gain_noises, window_lengths_s, cost_scales : sequence of float
        The values along each axis (empty: skip the axis).
    gain_noise, window_s : float
        The setting the other axes hold.
    n_patches, n_trials, n_windows, count_windows, seed
        As ``ipvae-snn stats`` (`cortex_experiment`).
    progress : callable, optional
        Called with one line per point.

    Returns
    -------
    list of dict
        One per point: ``axis`` ('gain_noise', 'window_s' or 'cost_scale'),
        ``gain_noise``, ``window_s``, ``cost_scale``, ``values`` (measure ->
        value), ``rows`` (`cortex_table`), ``error`` (why a point has no
        statistics, e.g. activity at the clamp; else None) and
        `inside_summary`'s fields.
    """
    from ..data import natural_patches
    from ..learning.updates import change_spike_size
    from ..reference import infer
    n_patches = check_int(n_patches, "n_patches", 2)
    x = natural_patches(n_patches=n_patches, seed=seed)
    points = ([("gain_noise", g, window_s, 1.0) for g in gain_noises]
              + [("window_s", gain_noise, w, 1.0) for w in window_lengths_s]
              + [("cost_scale", gain_noise, window_s, c) for c in cost_scales])
    out = []
    for axis, g, w, c in points:
        p = params if c == 1.0 else change_spike_size(params, 1.0, c)
        run = _windowed(functools.partial(infer, p, warn=False, gain_noise=g), w)
        try:
            exp = cortex_experiment(run, x, n_trials=n_trials, n_windows=n_windows,
                                    count_windows=count_windows, seed=seed)
            values, error = exp.values, None
        except InvalidValueError as exc:     # e.g. activity at the clamp: no statistics
            values, error = {}, str(exc)
        # the reference has no spike times (they are placed in their windows):
        # its ISI measures are not compared, as `ipvae-snn stats` does not
        rows = cortex_table(values, placed_spike_times=True)
        point = dict(axis=axis, gain_noise=float(g), window_s=float(w), cost_scale=float(c),
                     values={r["measure"]: r["network"] for r in rows}, rows=rows,
                     error=error, **inside_summary(rows))
        out.append(point)
        if progress:
            progress(f"{axis}: gain noise {g:g}, window {w * 1e3:g} ms, cost x{c:g}: "
                     f"{point['n_inside']}/{point['n_ranged']} inside")
    return out

