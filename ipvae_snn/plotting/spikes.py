"""
Spike rasters and membrane-potential traces of one patch.
"""

import numpy as np

from ..defaults import DEFAULT_WINDOW_S
from ..validation import InvalidValueError, check_int, check_number, check_recorded
from .figure import finish, pyplot

__all__ = ["plot_raster", "plot_membrane_traces", "TRACE_QUANTILES"]


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
        `ipvae_snn.stats.receptive_field_tuning`), 0° at the bottom, spikes
        coloured by it on a colourbar that runs the same way; by
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
    if ori is not None:
        # orientation grows upwards, as on the colourbar beside the raster
        row[order] = np.arange(order.size)
        how = "sorted by preferred orientation (0° at the bottom)"
    else:
        row[order] = np.arange(order.size)[::-1]       # first in order on top
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
        ax.set_yticks(row[order], [str(i) for i in order], fontsize=6)
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


#: Quantiles of the mean rate at which `plot_membrane_traces` picks its
#: default neurons: from the most active one down to a rarely active one.
TRACE_QUANTILES = (1.0, 0.98, 0.9, 0.75, 0.5, 0.25)


def _spread_of_rates(rates, available, n):
    """``n`` distinct neurons of ``available`` at `TRACE_QUANTILES` of their mean rate."""
    order = available[np.argsort(-rates, kind="stable")]          # most active first
    quantiles = np.asarray(TRACE_QUANTILES[:max(n, 1)])
    if n > quantiles.size:
        quantiles = np.linspace(1.0, 0.25, n)
    pick = np.unique(np.round((1.0 - quantiles) * (order.size - 1)).astype(int))
    return order[pick]


def plot_membrane_traces(result, patch=0, neurons=None, max_neurons=6, t_range=None,
                         zoom_windows=3, window_s=None, seed=0, path=None, title=None):
    """
    Membrane potentials ``u`` of a few neurons over time, spikes marked.

    ``u`` is the natural log of the expected spike count per window, so the
    right axis reads it as a rate in spikes/s (``exp(u) / T_w``). A spiking
    network's result (`SpikingResult` with ``u_trace``) gives the trace at
    every time step; a reference result recorded with ``record_u=True`` gives
    one value per recorded window, drawn as steps.

    Without ``t_range`` each neuron gets two panels: the whole run (its
    potential only) and, on the right, the last ``zoom_windows`` windows with
    every spike as a tick, short enough for the spikes not to merge.

    Parameters
    ----------
    result : InferenceResult or SpikingResult
    patch : int
    neurons : sequence of int, optional
        Neurons to show, at most ``max_neurons``. Default: a spread of
        activity levels, the recorded neurons at the quantiles
        `TRACE_QUANTILES` of their mean rate (the most active, the 98th, 90th,
        75th, 50th and 25th percentile).
    t_range : (float, float), optional
        Show only this time span, in seconds, spikes marked (one column).
    zoom_windows : int
        Windows of the zoomed column (default 3; 0: no zoom column).
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
    zoom_windows = check_int(zoom_windows, "zoom_windows", 0)
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
    rows_of = {int(n): i for i, n in enumerate(available)}
    if result.counts is not None:
        rates = result.counts[patch][:, available].mean(axis=0) / window_s
    else:                                   # no counts: the potential's mean rate
        rates = np.exp(traces).mean(axis=1) / window_s
    if neurons is None:
        neurons = _spread_of_rates(rates, available, max_neurons)
    neurons = check_recorded(neurons, available, name="neurons",
                             what="neuron")[:max_neurons]
    if neurons.size and result.counts is not None and neurons.size > 1:
        # most active at the top
        neurons = neurons[np.argsort([-rates[rows_of[int(n)]] for n in neurons],
                                     kind="stable")]
    t_end = t[-1] + (window_s if steps else (t[1] - t[0] if t.size > 1 else window_s))
    if t_range is None:
        spans = [(t[0], t_end)]
        if zoom_windows and t_end - t[0] > 1.5 * zoom_windows * window_s:
            spans.append((t_end - zoom_windows * window_s, t_end))
    else:
        t_lo, t_hi = (float(v) for v in t_range)
        if not t_hi > t_lo:
            raise InvalidValueError(f"t_range must be (start, stop) with stop > start, got "
                             f"{t_range!r}")
        spans = [(t_lo, t_hi)]
    spike_n, spike_t = (np.zeros(0, int), np.zeros(0))
    if result.counts is not None:
        spike_n, spike_t = result.spike_trains(patch, window_s=window_s, seed=seed)
        spike_n, spike_t = np.asarray(spike_n), np.asarray(spike_t)

    plt = pyplot()
    n_cols = len(spans)
    fig, axes = plt.subplots(neurons.size, n_cols, figsize=(10.0, 1.3 * neurons.size + 1.0),
                             sharex="col", squeeze=False, layout="constrained",
                             gridspec_kw=dict(width_ratios=[2.2, 1.0][:n_cols]))
    ticks_in = [i == n_cols - 1 for i in range(n_cols)]      # spikes: the last column
    for row, n in zip(axes, neurons):
        r = rows_of[int(n)]
        u = traces[r]
        for col, (ax, (t_lo, t_hi)) in enumerate(zip(row, spans)):
            shaded = _mark_windows(ax, np.floor(t_lo / window_s),
                                   np.ceil(t_hi / window_s - 1e-9), window_s)
            if steps:
                edges = np.append(t, t[-1] + window_s)
                ax.stairs(u, edges, color="tab:blue", lw=1.0, baseline=None)
            else:
                sel = (t >= t_lo - (t[1] - t[0] if t.size > 1 else 0)) & (t <= t_hi)
                ax.plot(t[sel], u[sel], color="tab:blue", lw=0.8)
            if ticks_in[col]:
                mine = spike_t[(spike_n == n) & (spike_t >= t_lo) & (spike_t < t_hi)]
                ax.plot(mine, np.full(mine.size, 0.92), "|", color="k", ms=6, mew=0.8,
                        transform=ax.get_xaxis_transform(), clip_on=True)
            if len(spans) > 1 and col == 0:
                ax.axvspan(*spans[1], color="tab:orange", alpha=0.12, lw=0, zorder=0)
            ax.tick_params(labelsize=7)
            ax.spines[["top"]].set_visible(False)
        for ax, (t_lo, t_hi) in zip(row, spans):
            # each panel's own range of u (the zoom shows the jumps), room for the ticks
            inside = u[(t >= t_lo - window_s) & (t < t_hi)] if t.size else u
            inside = inside if inside.size else u
            lo, hi = float(np.min(inside)), float(np.max(inside))
            pad = 0.08 * (hi - lo) if hi - lo > 0.5 else 0.1
            ax.set_ylim(lo - pad, hi + 3 * pad)
        row[0].set_ylabel(f"neuron {n}\n{rates[r]:.3g} sp/s\nu", fontsize=7)
        sec = row[-1].secondary_yaxis(
            "right", functions=(lambda v: np.exp(v) / window_s,
                                lambda x: np.log(np.maximum(x, 1e-300) * window_s)))
        sec.set_yscale("log")
        sec.tick_params(which="both", labelsize=6)
        sec.set_ylabel("rate exp(u)/T_w\n(spikes/s)", fontsize=6)
    for col, (t_lo, t_hi) in enumerate(spans):
        axes[-1, col].set_xlim(t_lo, t_hi)
        axes[-1, col].set_xlabel("time (s)", fontsize=8)
    if len(spans) > 1:
        axes[0, 0].set_title("whole run (orange: the stretch on the right)", fontsize=8)
        axes[0, 1].set_title(f"last {zoom_windows} windows: spikes (ticks)", fontsize=8)
    kind = result.info.get("realization", "")
    how = "one value per window" if steps else "every time step"
    fig.supxlabel(f"u: natural log of the expected spike count per window (no unit), "
                  f"{how}; mean rate beside each neuron; windows of "
                  f"{window_s * 1e3:g} ms" + (", alternate ones shaded" if shaded else ""),
                  fontsize=7, color="0.3")
    if title is None:
        title = (f"Membrane potential and spikes of {neurons.size} neurons, from the "
                 f"most to a rarely active one (patch {patch}, {kind} realization)")
    return finish(fig, title, path)
