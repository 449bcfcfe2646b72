"""
Spike rasters and membrane-potential traces of one patch.
"""

import numpy as np

from ..defaults import DEFAULT_WINDOW_S
from ..validation import InvalidValueError, check_int, check_number, check_recorded
from .figure import finish, pyplot

__all__ = ["plot_raster", "plot_membrane_traces"]


def _window_s(result, window_s=None):
    if window_s is not None:
        return check_number(window_s, "window_s", low=0, low_open=True, units=" of seconds")
    return float(result.info.get("window_s", DEFAULT_WINDOW_S))


def _check_patch(result, patch):
    return check_int(patch, "patch", 0, result.n_patches - 1)


def _shown_windows(result, windows, max_windows):
    rec = np.asarray(result.windows)
    if windows is None:
        return rec[rec < rec[0] + max_windows]
    return np.unique(check_recorded(windows, rec, name="windows"))


def _mark_windows(ax, w0, w1, window_s, max_marked=80):
    # Alternate windows shaded, so window boundaries read without clutter.
    if w1 - w0 > max_marked:
        return False
    for w in range(int(w0), int(w1)):
        if w % 2 == 0:
            ax.axvspan(w * window_s, (w + 1) * window_s, color="0.93", lw=0, zorder=0)
    return True


def _orientation_order(result, preferred):
    if preferred is None:
        from ..stats import receptive_field_tuning
        preferred = receptive_field_tuning(result.params.phi)[0]
    preferred = np.asarray(preferred, dtype=np.float64)
    if preferred.shape != (result.params.n_latents,):
        raise InvalidValueError(f"preferred: expected one orientation per neuron "
                         f"({result.params.n_latents}), got shape {preferred.shape}")
    return preferred


def plot_raster(result, patch=0, windows=None, sort_by="rate", preferred=None,
                neurons=None, max_windows=60, population_rate=True, window_s=None,
                seed=0, path=None, title=None):
    """
    Spike raster of one patch: neurons × time, inference windows shaded.

    Parameters
    ----------
    result : InferenceResult or SpikingResult
        Spike times come from ``result.spike_trains(patch)``: the simulated
        ones for a spiking run that recorded them, otherwise placed uniformly
        inside each window from its count.
    patch : int
    windows : sequence of int, optional
        Recorded windows to show (the span from the first to the last);
        default the first ``max_windows`` recorded windows.
    sort_by : {'rate', 'orientation', 'index'} or array_like
        Row order: most active neuron at the top; by preferred orientation
        (``preferred``, default each receptive field's orientation from
        `ipvae_snn.stats.receptive_field_tuning`), spikes coloured by it; by
        neuron index; or ascending by one value per neuron.
    preferred : array_like, shape (n_latents,), optional
        Preferred orientations in degrees (e.g. ``orientation_tuning(...).preferred``).
    neurons : sequence of int, optional
        Neurons to show (default: those that spike in the shown span).
    population_rate : bool
        Add a panel above with the mean rate per neuron in each window.
    window_s : float, optional
        Window length (default ``result.info['window_s']`` or the default 0.1 s).
    seed : int
        Placement of spikes inside windows for results without spike times.
    path : str, optional
        Also write the figure there (`save_figure`).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    patch = _check_patch(result, patch)
    if result.counts is None:
        raise InvalidValueError("result: no counts were recorded (record_counts=False)")
    window_s = _window_s(result, window_s)
    shown = _shown_windows(result, windows, max_windows)
    w0, w1 = int(shown[0]), int(shown[-1]) + 1
    t0, t1 = w0 * window_s, w1 * window_s
    neuron, t = result.spike_trains(patch, window_s=window_s, seed=seed)
    neuron, t = np.asarray(neuron), np.asarray(t, dtype=np.float64)
    keep = (t >= t0) & (t < t1)
    neuron, t = neuron[keep], t[keep]
    k = result.params.n_latents
    spikes_per_neuron = np.bincount(neuron, minlength=k)
    if neurons is None:
        neurons = np.flatnonzero(spikes_per_neuron)
    neurons = np.unique(np.asarray(neurons, dtype=np.int64).ravel())
    if neurons.size and (neurons.min() < 0 or neurons.max() >= k):
        raise InvalidValueError(f"neurons must be indices in [0, {k - 1}]")

    ori = None
    if isinstance(sort_by, str):
        if sort_by == "rate":
            order = neurons[np.argsort(-spikes_per_neuron[neurons], kind="stable")]
            how = "sorted by spike count (most active at the top)"
        elif sort_by == "orientation":
            ori = _orientation_order(result, preferred)
            order = neurons[np.argsort(ori[neurons], kind="stable")]
            how = "sorted by preferred orientation"
        elif sort_by == "index":
            order = neurons
            how = "by neuron index"
        else:
            raise InvalidValueError(f"sort_by must be 'rate', 'orientation', 'index' or one "
                             f"value per neuron, got {sort_by!r}")
    else:
        key = np.asarray(sort_by, dtype=np.float64)
        if key.shape != (k,):
            raise InvalidValueError(f"sort_by: expected one value per neuron ({k}), got "
                             f"shape {key.shape}")
        order = neurons[np.argsort(key[neurons], kind="stable")]
        how = "sorted by the given key"
    row = np.full(k, -1)
    row[order] = np.arange(order.size)[::-1]           # first in order on top
    shown_spike = row[neuron] >= 0
    neuron, t = neuron[shown_spike], t[shown_spike]

    plt = pyplot()
    n_rows = max(order.size, 1)
    height = min(max(2.5, 0.012 * n_rows + 2.0), 9.0)
    fig = plt.figure(figsize=(9.0, height + (1.0 if population_rate else 0.0)),
                     layout="constrained")
    if population_rate:
        ax_rate, ax = fig.subplots(2, 1, sharex=True,
                                   gridspec_kw=dict(height_ratios=[1.0, height]))
    else:
        ax_rate, ax = None, fig.subplots()
    shaded = _mark_windows(ax, w0, w1, window_s)
    marker_h = max(0.5, min(6.0, 72 * 0.8 * height / n_rows))
    if ori is not None:
        sc = ax.scatter(t, row[neuron], c=ori[neuron], cmap="hsv", vmin=0, vmax=180,
                        marker="|", s=marker_h ** 2, linewidths=0.8)
        cb = fig.colorbar(sc, ax=[a for a in (ax_rate, ax) if a is not None],
                          pad=0.01, aspect=40)
        cb.set_label("preferred orientation (deg)", fontsize=8)
        cb.set_ticks([0, 45, 90, 135, 180])
        cb.ax.tick_params(labelsize=7)
    else:
        ax.scatter(t, row[neuron], c="k", marker="|", s=marker_h ** 2, linewidths=0.8)
    ax.set_xlim(t0, t1)
    ax.set_ylim(-0.5, n_rows - 0.5)
    ax.set_xlabel(f"time (s); windows of T_w = {window_s * 1e3:g} ms"
                  + (", alternate ones shaded" if shaded else ""), fontsize=8)
    ax.set_ylabel(f"neuron ({how.split(' (')[0]})", fontsize=8)
    if order.size <= 40:
        ax.set_yticks(np.arange(order.size)[::-1], [str(i) for i in order], fontsize=6)
    else:
        ax.set_yticks([])
    ax.tick_params(labelsize=7)
    if ax_rate is not None:
        idx = np.searchsorted(result.windows, np.arange(w0, w1))
        recorded = (idx < result.windows.size) & \
            (result.windows[np.minimum(idx, result.windows.size - 1)] == np.arange(w0, w1))
        rate = np.full(w1 - w0, np.nan)
        rate[recorded] = result.counts[patch, idx[recorded]].mean(axis=-1) / window_s
        edges = np.arange(w0, w1 + 1) * window_s
        ax_rate.stairs(rate, edges, color="tab:blue", fill=True, alpha=0.5)
        ax_rate.set_ylabel("rate\n(sp/s/neuron)", fontsize=7)
        ax_rate.tick_params(labelsize=7)
        ax_rate.spines[["top", "right"]].set_visible(False)
    if title is None:
        kind = result.info.get("realization", "")
        n_active = int(np.count_nonzero(spikes_per_neuron))
        title = (f"Spike raster, patch {patch} ({kind}): {n_active} of {k} neurons "
                 f"spike in windows {w0}–{w1 - 1}, {how}")
    return finish(fig, title, path)


def plot_membrane_traces(result, patch=0, neurons=None, max_neurons=6, t_range=None,
                         window_s=None, seed=0, path=None, title=None):
    """
    Membrane potentials ``u`` of a few neurons over time, spikes marked.

    ``u`` is the log firing rate per window, so the right axis reads it as a
    rate in spikes/s (``exp(u) / T_w``). A spiking network's result
    (`SpikingResult` with ``u_trace``) gives the trace at every time step;
    a reference result recorded with ``record_u=True`` gives one value per
    recorded window, drawn as steps.

    Parameters
    ----------
    result : InferenceResult or SpikingResult
    patch : int
    neurons : sequence of int, optional
        Neurons to show (default: the most active of the recorded ones), at
        most ``max_neurons``.
    t_range : (float, float), optional
        Time span in seconds (default: all recorded).
    window_s : float, optional
    seed : int
        Placement of spikes inside windows for results without spike times.
    path, title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    patch = _check_patch(result, patch)
    window_s = _window_s(result, window_s)
    u_trace = getattr(result, "u_trace", None)
    if u_trace is not None:
        t = np.asarray(result.u_trace_t, dtype=np.float64)
        available = np.asarray(result.u_trace_neurons, dtype=np.int64)
        traces = np.asarray(u_trace[patch])
        # One sample per window (the window realization): u is constant
        # inside each window, so it is drawn as steps.
        steps = bool(t.size > 1 and np.isclose(t[1] - t[0], window_s))
    elif result.u is not None:
        t = np.asarray(result.windows) * window_s
        available = np.asarray(result.u_neurons, dtype=np.int64)
        traces = np.asarray(result.u[patch]).T           # (n_u, n_recorded)
        steps = True
    else:
        raise InvalidValueError("result: no membrane potentials were recorded; run the "
                                "network or the reference with record_u=True or "
                                "record_u=[neurons]")
    if neurons is None:
        # The most active of the recorded neurons.
        if result.counts is not None:
            activity = result.counts[patch].sum(axis=0)[available]
        else:
            activity = traces.mean(axis=1)
        neurons = available[np.argsort(-activity, kind="stable")[:max_neurons]]
    neurons = check_recorded(neurons, available, name="neurons",
                             what="neuron")[:max_neurons]
    rows = np.array([np.flatnonzero(available == n)[0] for n in neurons])
    if t_range is None:
        t_lo = t[0]
        t_hi = t[-1] + (window_s if steps else (t[1] - t[0] if t.size > 1 else window_s))
    else:
        t_lo, t_hi = (float(v) for v in t_range)
        if not t_hi > t_lo:
            raise InvalidValueError(f"t_range must be (start, stop) with stop > start, got "
                             f"{t_range!r}")
    spike_n, spike_t = (np.zeros(0, int), np.zeros(0))
    if result.counts is not None:
        spike_n, spike_t = result.spike_trains(patch, window_s=window_s, seed=seed)
        spike_n, spike_t = np.asarray(spike_n), np.asarray(spike_t)

    plt = pyplot()
    fig, axes = plt.subplots(neurons.size, 1, figsize=(9.0, 1.25 * neurons.size + 0.9),
                             sharex=True, squeeze=False, layout="constrained")
    axes = axes[:, 0]
    sel = (t >= t_lo) & (t < t_hi)
    for ax, n, r in zip(axes, neurons, rows):
        shaded = _mark_windows(ax, np.floor(t_lo / window_s), np.ceil(t_hi / window_s),
                               window_s)
        u = traces[r]
        if steps:
            edges = np.append(t, t[-1] + window_s)
            ax.stairs(u, edges, color="tab:blue", lw=1.0, baseline=None)
        else:
            ax.plot(t[sel], u[sel], color="tab:blue", lw=0.7)
        mine = spike_t[(spike_n == n) & (spike_t >= t_lo) & (spike_t < t_hi)]
        ax.plot(mine, np.full(mine.size, 1.0), "|", color="k", ms=7, mew=0.8,
                transform=ax.get_xaxis_transform(), clip_on=False)
        ax.set_ylabel(f"neuron {n}\nu", fontsize=7)
        ax.tick_params(labelsize=7)
        sec = ax.secondary_yaxis(
            "right", functions=(lambda v: np.exp(v) / window_s,
                                lambda r: np.log(np.maximum(r, 1e-300) * window_s)))
        sec.set_yscale("log")
        sec.tick_params(which="both", labelsize=6)
        sec.set_ylabel("sp/s", fontsize=6)
        ax.text(0.995, 0.04, f"{mine.size} spikes", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=6, color="0.3")
        ax.spines[["top"]].set_visible(False)
    axes[-1].set_xlim(t_lo, t_hi)
    axes[-1].set_xlabel(f"time (s); ticks above each trace: spikes; windows of "
                        f"{window_s * 1e3:g} ms" + (", alternate ones shaded" if shaded
                                                   else ""), fontsize=8)
    if title is None:
        kind = result.info.get("realization", "")
        how = "per window" if steps else "every time step"
        title = (f"Membrane potential u (log rate per window) of patch {patch} "
                 f"({kind}, {how})")
    return finish(fig, title, path)
