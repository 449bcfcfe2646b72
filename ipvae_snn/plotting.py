"""
Figures of inference runs (matplotlib).

Every function returns its `matplotlib.figure.Figure` and, given ``path``,
also writes it atomically (`save_figure`). Without a display (a server, CI,
the command line) the non-interactive Agg backend is selected before pyplot
is first imported, so nothing tries to open a window.
"""

import os
import sys

import numpy as np

from ._io import atomic_path

__all__ = ["plot_reconstructions", "save_figure", "check_figure_path", "plot_raster",
           "plot_membrane_traces", "plot_dictionary", "plot_window_curves",
           "plot_cortex_comparison", "plot_tuning_curves"]


def _pyplot():
    import matplotlib
    if ("matplotlib.pyplot" not in sys.modules and "MPLBACKEND" not in os.environ
            and sys.platform.startswith("linux")
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def check_figure_path(path):
    """
    The format of a figure file from its extension.

    Raises
    ------
    ValueError
        If the extension is not a format matplotlib can write.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    formats = FigureCanvasBase.get_supported_filetypes()
    if ext not in formats:
        raise ValueError(f"figure path '{path}': unknown format '.{ext}'; use one of "
                         f"{', '.join('.' + f for f in sorted(formats))}")
    return ext


def save_figure(fig, path, dpi=150):
    """
    Write ``fig`` to ``path`` atomically; the format follows the extension.

    Raises
    ------
    ValueError
        If the extension is not a format matplotlib can write.
    """
    ext = check_figure_path(path)
    with atomic_path(path, suffix="." + ext) as tmp:
        fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight")
    return os.fspath(path)


def _finish(fig, title, path):
    """Give ``fig`` its title, write it to ``path`` when given; return it."""
    fig.suptitle(title, fontsize=9)
    if path is not None:
        save_figure(fig, path)
    return fig


def _default_patches(n_patches, n_show):
    # Evenly spaced through the batch: inputs are usually grouped by image.
    return np.unique(np.linspace(0, n_patches - 1, min(n_show, n_patches)).round()
                     .astype(int))


def plot_reconstructions(result, patches=None, windows=None, n_patches=6,
                         max_windows=6, curves=True, path=None, title=None):
    """
    Input patches beside their reconstructions ``Φ z_t`` at a few windows.

    One row per patch: the input, then the reconstruction from the spike
    counts of each window, with that window's R² of the patch; below, the
    time course of R² and activity over the whole batch. Each row
    shares one symmetric gray scale (set by the input), so contrast is
    comparable along the row.

    Parameters
    ----------
    result : InferenceResult
        A run whose counts were recorded at the windows to show.
    patches : sequence of int, optional
        Patch indices (default: ``n_patches`` evenly spaced through the batch).
    windows : sequence of int, optional
        Recorded windows to show (default: up to ``max_windows`` of the
        recorded ones, always including the last).
    n_patches, max_windows : int
        Limits for the defaults.
    curves : bool
        Add panels below the grid with the mean R² (and its interquartile
        range over patches) and the activity over all windows, the shown
        windows marked.
    path : str, optional
        Also write the figure there (`save_figure`).
    title : str, optional
        Figure title (default: model size, number of windows, mean R²).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if result.counts is None:
        raise ValueError("result: no counts were recorded (record_counts=False)")
    if patches is None:
        patches = _default_patches(result.n_patches, n_patches)
    patches = np.asarray(patches, dtype=int).ravel()
    if patches.size == 0 or patches.min() < 0 or patches.max() >= result.n_patches:
        raise ValueError(f"patches must be indices in [0, {result.n_patches - 1}], "
                         f"got {patches.tolist()[:10]}")
    if windows is None:
        recorded = result.windows
        if recorded.size > max_windows:
            pick = np.linspace(0, recorded.size - 1, max_windows).round().astype(int)
            recorded = recorded[np.unique(pick)]
        windows = recorded
    windows = [int(w) for w in np.asarray(windows).ravel()]
    for w in windows:
        if w not in result.windows:
            raise ValueError(f"windows: window {w} was not recorded; recorded: "
                             f"{result.windows.tolist()[:20]}")
    side = int(round(np.sqrt(result.x.shape[1])))
    if side * side != result.x.shape[1]:
        raise ValueError(f"patches of {result.x.shape[1]} pixels are not square")

    plt = _pyplot()
    n_rows, n_cols = patches.size, len(windows) + 1
    cell = 1.25
    curve_height = 2.3 if curves and result.n_windows > 2 else 0.0
    fig = plt.figure(figsize=(cell * n_cols + 0.4,
                              cell * n_rows + curve_height + 0.5),
                     layout="constrained")
    if curve_height:
        top, bottom = fig.subfigures(2, 1, height_ratios=[cell * n_rows,
                                                          curve_height])
    else:
        top, bottom = fig, None
    axes = top.subplots(n_rows, n_cols, squeeze=False)
    recon = {w: result.reconstruction(w)[patches] for w in windows}
    for i, p in enumerate(patches):
        x = result.x[p]
        vmax = float(np.abs(x).max()) or 1.0
        panels = [(x, "input" if i == 0 else None, None)]
        for w in windows:
            label = f"T = {w}" if i == 0 else None
            panels.append((recon[w][i], label, float(result.r2[p, w])))
        for j, (img, label, r2) in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(img.reshape(side, side), cmap="gray", vmin=-vmax, vmax=vmax,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if label:
                ax.set_title(label, fontsize=9)
            if r2 is not None:
                # Runaway activity gives R² of -1e7 and below.
                text = (f"{r2:.2f}".replace("-0.00", "0.00") if abs(r2) < 100
                        else f"{r2:.1e}")
                ax.text(0.03, 0.03, f"R² {text}", transform=ax.transAxes,
                        fontsize=7, color="w", va="bottom",
                        bbox=dict(boxstyle="square,pad=0.15", fc="k", alpha=0.6,
                                  lw=0))
            if j == 0:
                ax.set_ylabel(f"patch {p}", fontsize=8)
                for spine in ax.spines.values():
                    spine.set_edgecolor("tab:blue")
                    spine.set_linewidth(1.5)
    if bottom is not None:
        _plot_curves(result, windows, *bottom.subplots(1, 2))
    if title is None:
        last = windows[-1]
        title = (f"Reconstructions Φz from spike counts, {result.n_patches} patches, "
                 f"K = {result.params.n_latents}; mean R² at T = {last}: "
                 f"{np.nanmean(result.r2[:, last]):.3f}")
    return _finish(fig, title, path)


def _plot_curves(result, windows, ax_r2, ax_act):
    t = np.arange(1, result.n_windows)
    r2 = result.r2[:, 1:]
    with np.errstate(invalid="ignore"):
        lo, mid, hi = np.nanpercentile(r2, [25, 50, 75], axis=0)
    ax_r2.fill_between(t, lo, hi, color="tab:blue", alpha=0.2, lw=0,
                       label="25–75 % of patches")
    ax_r2.plot(t, np.nanmean(r2, axis=0), color="tab:blue", lw=1.5, label="mean")
    ax_r2.plot(t, mid, color="tab:blue", lw=0.8, ls="--", label="median")
    ax_act.plot(t, result.mean_count[:, 1:].mean(axis=0), color="tab:orange",
                lw=1.5, label="count / neuron")
    ax_act.plot(t, 1.0 - result.zero_fraction[:, 1:].mean(axis=0), color="tab:green",
                lw=1.5, label="fraction active")
    for ax, ylabel in ((ax_r2, "R² of Φz"), (ax_act, "per window")):
        for w in windows:
            if w >= 1:
                ax.axvline(w, color="0.6", lw=0.6, ls=":", zorder=0)
        if t.size > 1:
            ax.set_xscale("log")
        ax.set_xlim(1, max(t[-1], 2))
        ax.set_xlabel("window T (inference steps)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, frameon=False, loc="upper left")
        ax.spines[["top", "right"]].set_visible(False)


# --------------------------------------------------------------------------
# Spikes, membrane potentials, dictionaries, read-out curves, statistics.

def _window_s(result, window_s=None):
    from .results import DEFAULT_WINDOW_S
    if window_s is not None:
        if not (np.isfinite(window_s) and window_s > 0):
            raise ValueError(f"window_s must be a positive number of seconds, got "
                             f"{window_s!r}")
        return float(window_s)
    return float(result.info.get("window_s", DEFAULT_WINDOW_S))


def _check_patch(result, patch):
    if isinstance(patch, bool) or not isinstance(patch, (int, np.integer)) \
            or not 0 <= patch < result.n_patches:
        raise ValueError(f"patch must be an index in [0, {result.n_patches - 1}], "
                         f"got {patch!r}")
    return int(patch)


def _shown_windows(result, windows, max_windows):
    rec = np.asarray(result.windows)
    if windows is None:
        shown = rec[rec < rec[0] + max_windows]
    else:
        shown = np.unique(np.asarray(windows, dtype=np.int64).ravel())
        missing = np.setdiff1d(shown, rec)
        if shown.size == 0 or missing.size:
            raise ValueError(f"windows: {missing[:10].tolist() or 'none'} not recorded; "
                             f"recorded: {rec.tolist()[:20]}")
    return shown


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
        from .stats import receptive_field_tuning
        preferred = receptive_field_tuning(result.params.phi)[0]
    preferred = np.asarray(preferred, dtype=np.float64)
    if preferred.shape != (result.params.n_latents,):
        raise ValueError(f"preferred: expected one orientation per neuron "
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
        Window length (default ``result.info['window_s']`` or 0.1 s).
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
        raise ValueError("result: no counts were recorded (record_counts=False)")
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
        raise ValueError(f"neurons must be indices in [0, {k - 1}]")

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
            raise ValueError(f"sort_by must be 'rate', 'orientation', 'index' or one "
                             f"value per neuron, got {sort_by!r}")
    else:
        key = np.asarray(sort_by, dtype=np.float64)
        if key.shape != (k,):
            raise ValueError(f"sort_by: expected one value per neuron ({k}), got "
                             f"shape {key.shape}")
        order = neurons[np.argsort(key[neurons], kind="stable")]
        how = "sorted by the given key"
    row = np.full(k, -1)
    row[order] = np.arange(order.size)[::-1]           # first in order on top
    shown_spike = row[neuron] >= 0
    neuron, t = neuron[shown_spike], t[shown_spike]

    plt = _pyplot()
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
    return _finish(fig, title, path)


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
        available = np.arange(result.params.n_latents)
        traces = np.asarray(result.u[patch]).T           # (K, n_recorded)
        steps = True
    else:
        raise ValueError("result: no membrane potentials were recorded; run the "
                         "network with record_u=[...] or the reference with "
                         "record_u=True")
    if neurons is None:
        # The most active of the recorded neurons.
        if result.counts is not None:
            activity = result.counts[patch].sum(axis=0)[available]
        else:
            activity = traces.mean(axis=1)
        neurons = available[np.argsort(-activity, kind="stable")[:max_neurons]]
    neurons = np.asarray(neurons, dtype=np.int64).ravel()[:max_neurons]
    missing = np.setdiff1d(neurons, available)
    if neurons.size == 0 or missing.size:
        raise ValueError(f"neurons: {missing.tolist() or 'none given'} not recorded; "
                         f"recorded: {available.tolist()[:20]}")
    rows = np.array([np.flatnonzero(available == n)[0] for n in neurons])
    if t_range is None:
        t_lo = t[0]
        t_hi = t[-1] + (window_s if steps else (t[1] - t[0] if t.size > 1 else window_s))
    else:
        t_lo, t_hi = (float(v) for v in t_range)
        if not t_hi > t_lo:
            raise ValueError(f"t_range must be (start, stop) with stop > start, got "
                             f"{t_range!r}")
    spike_n, spike_t = (np.zeros(0, int), np.zeros(0))
    if result.counts is not None:
        spike_n, spike_t = result.spike_trains(patch, window_s=window_s, seed=seed)
        spike_n, spike_t = np.asarray(spike_n), np.asarray(spike_t)

    plt = _pyplot()
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
    return _finish(fig, title, path)


def plot_dictionary(phi, order=None, neurons=None, n_cols=None, path=None, title=None):
    """
    The dictionary Φ as a grid of receptive fields, each on its own symmetric
    gray scale (white positive, black negative).

    Parameters
    ----------
    phi : IPVAEParams or array_like, shape (n_pixels, n_latents)
    order : {None, 'orientation', 'norm'} or array_like of int
        Tile order: neuron index; by the receptive field's orientation
        (`ipvae_snn.stats.receptive_field_tuning`); by decreasing column norm;
        or the given neuron indices.
    neurons : sequence of int, optional
        A subset to show (default all).
    n_cols : int, optional
        Tiles per row (default about twice as many columns as rows).
    path, title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    phi = np.asarray(getattr(phi, "phi", phi), dtype=np.float64)
    if phi.ndim != 2:
        raise ValueError(f"phi: expected shape (n_pixels, n_latents), got {phi.shape}")
    side = int(round(np.sqrt(phi.shape[0])))
    if side * side != phi.shape[0]:
        raise ValueError(f"phi: {phi.shape[0]} pixels are not a square patch")
    k = phi.shape[1]
    idx = np.arange(k) if neurons is None else np.asarray(neurons, dtype=np.int64).ravel()
    if idx.size == 0 or idx.min() < 0 or idx.max() >= k:
        raise ValueError(f"neurons must be indices in [0, {k - 1}]")
    if order is None:
        pass
    elif isinstance(order, str) and order == "orientation":
        from .stats import receptive_field_tuning
        ori = receptive_field_tuning(phi)[0]
        idx = idx[np.argsort(ori[idx], kind="stable")]
    elif isinstance(order, str) and order == "norm":
        idx = idx[np.argsort(-np.linalg.norm(phi[:, idx], axis=0), kind="stable")]
    elif isinstance(order, str):
        raise ValueError(f"order must be None, 'orientation', 'norm' or indices, got "
                         f"{order!r}")
    else:
        idx = np.asarray(order, dtype=np.int64).ravel()
        if idx.size == 0 or idx.min() < 0 or idx.max() >= k:
            raise ValueError(f"order must be neuron indices in [0, {k - 1}]")
    n = idx.size
    if n_cols is None:
        n_cols = int(np.ceil(np.sqrt(2 * n)))
    n_rows = int(np.ceil(n / n_cols))
    cell = side + 1
    mosaic = np.full((n_rows * cell + 1, n_cols * cell + 1), np.nan)
    atoms = phi[:, idx].T.reshape(n, side, side)
    scale = np.abs(atoms).max(axis=(1, 2), keepdims=True)
    atoms = atoms / np.where(scale > 0, scale, 1.0)
    for j in range(n):
        r, c = divmod(j, n_cols)
        r0, c0 = 1 + r * cell, 1 + c * cell
        mosaic[r0:r0 + side, c0:c0 + side] = atoms[j]

    plt = _pyplot()
    width = min(12.0, max(6.0, 0.32 * n_cols + 0.5))
    fig, ax = plt.subplots(figsize=(width, width * mosaic.shape[0] / mosaic.shape[1] + 0.5),
                           layout="constrained")
    # Separators in a colour unlike any pixel value.
    cmap = plt.get_cmap("gray").with_extremes(bad="steelblue")
    ax.imshow(mosaic, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title is None:
        key = order if isinstance(order, str) or order is None else ""
        how = {None: "by index", "orientation": "sorted by orientation",
               "norm": "sorted by norm"}.get(key, "in the given order")
        title = (f"Dictionary Φ: {n} receptive fields of {side}×{side} pixels, {how} "
                 f"(each scaled to its own maximum)")
    return _finish(fig, title, path)


def plot_window_curves(results, labels=None, path=None, title=None):
    """
    Mean R² and fraction of silent neurons against the window T, for one run
    or several (e.g. the reference algorithm beside the spiking network).

    Parameters
    ----------
    results : InferenceResult, or a list or dict (label → result) of them
    labels : sequence of str, optional
        Legend labels (default: the realization names, or the dict keys).
    path, title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(results, dict):
        labels = list(results) if labels is None else list(labels)
        results = list(results.values())
    elif not isinstance(results, (list, tuple)):
        results = [results]
    if not results:
        raise ValueError("results: nothing to plot")
    if labels is None:
        labels = [str(r.info.get("realization", f"run {i}")) for i, r in enumerate(results)]
    if len(labels) != len(results):
        raise ValueError(f"labels: {len(labels)} labels for {len(results)} results")
    plt = _pyplot()
    fig, (ax_r2, ax_zero) = plt.subplots(1, 2, figsize=(9.0, 3.2), layout="constrained")
    colors = plt.get_cmap("tab10").colors
    for i, (res, label) in enumerate(zip(results, labels)):
        if res.n_windows < 2:
            raise ValueError(f"results[{i}]: needs at least 2 windows")
        color = colors[i % len(colors)]
        t = np.arange(1, res.n_windows)
        r2 = res.r2[:, 1:]
        with np.errstate(invalid="ignore"):
            lo, hi = np.nanpercentile(r2, [25, 75], axis=0)
        ax_r2.fill_between(t, lo, hi, color=color, alpha=0.15, lw=0)
        ax_r2.plot(t, np.nanmean(r2, axis=0), color=color, lw=1.5,
                   label=f"{label} (n = {res.n_patches})")
        zero = res.zero_fraction[:, 1:]
        ax_zero.fill_between(t, *np.percentile(zero, [25, 75], axis=0), color=color,
                             alpha=0.15, lw=0)
        ax_zero.plot(t, zero.mean(axis=0), color=color, lw=1.5, label=label)
    for ax, ylabel in ((ax_r2, "R² of Φz (mean; band: 25–75 % of patches)"),
                       (ax_zero, "fraction of silent neurons")):
        ax.set_xscale("log")
        ax.set_xlabel("window T (inference steps)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.3, lw=0.5)
    ax_r2.legend(fontsize=7, frameon=False)
    if title is None:
        title = "Read-out quality and sparsity over inference windows"
    return _finish(fig, title, path)


def plot_cortex_comparison(table, path=None, title=None):
    """
    The network's statistics inside the cortical V1 ranges, one row per
    measure: the grey bar is the literature range (hatched when it is an
    approximate summary), the tick its typical value, the dot the network
    (green inside the range, red outside, grey where no range is known); an
    open circle marks a row's ``raw`` value and the rows' notes go below.

    Parameters
    ----------
    table : list of dict or dict
        Rows of `ipvae_snn.stats.cortex_table`, or the network values that
        function takes.
    path, title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .stats import cortex_table
    rows = cortex_table(table) if isinstance(table, dict) else list(table)
    if not rows:
        raise ValueError("table: no measures")
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), 1, figsize=(8.0, 0.55 * len(rows) + 0.9),
                             squeeze=False, layout="constrained")
    for ax, r in zip(axes[:, 0], rows):
        low, high, value = r.get("low"), r.get("high"), r.get("network")
        typical = r.get("typical")
        points = [v for v in (low, high, value, typical, r.get("raw")) if v is not None]
        if not points:
            points = [0.0, 1.0]
        lo, hi = min(points), max(points)
        pad = 0.15 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.5
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(-1, 1)
        if low is not None:
            ax.barh(0, high - low, left=low, height=0.9, color="0.82",
                    hatch="///" if r.get("approximate") else None, edgecolor="0.65",
                    lw=0)
        if typical is not None:
            ax.plot([typical, typical], [-0.45, 0.45], color="0.45", lw=1.5)
        if value is not None:
            color = {True: "tab:green", False: "tab:red", None: "0.4"}[r.get("inside")]
            ax.plot(value, 0, "o", color=color, ms=7, mec="k", mew=0.6, zorder=3)
            ax.annotate(f"{value:.3g}", (value, 0), xytext=(6, 5),
                        textcoords="offset points", fontsize=7, color=color)
            raw = r.get("raw")
            if raw is not None:
                ax.plot(raw, 0, "o", mfc="none", mec=color, ms=7, mew=1.0, zorder=3)
                ax.annotate(f"raw {raw:.3g}", (raw, 0), xytext=(6, -11),
                            textcoords="offset points", fontsize=6.5, color=color)
        else:
            ax.text(0.5, 0.0, "network value not computed", transform=ax.transAxes,
                    ha="center", va="center", fontsize=7, color="0.4")
        if low is None:
            ax.text(0.99, 0.5, "no cortical range", transform=ax.transAxes, ha="right",
                    va="center", fontsize=7, color="0.4")
        units = "" if r.get("units") in (None, "dimensionless") else f" ({r['units']})"
        ax.set_yticks([0], [r["label"] + units], fontsize=7)
        ax.tick_params(axis="x", labelsize=6, length=2, pad=1)
        ax.spines[["top", "right", "left"]].set_visible(False)
        ax.text(1.0, 1.0, r.get("sources", ""), transform=ax.transAxes, ha="right",
                va="bottom", fontsize=5.5, color="0.45")
    if title is None:
        n_in = sum(1 for r in rows if r.get("inside"))
        n_cmp = sum(1 for r in rows if r.get("inside") is not None)
        title = (f"Network vs V1: {n_in} of {n_cmp} measures inside the cortical range "
                 f"(grey bars; hatched: approximate literature summary)")
    notes = [r["note"] for r in rows if r.get("note")]
    if notes:
        import textwrap
        fig.supxlabel("\n".join(textwrap.fill("* " + n, 150) for n in notes),
                      fontsize=6, color="0.35", ha="left", x=0.01)
    return _finish(fig, title, path)


def plot_tuning_curves(tuning, neurons=None, n_neurons=12, path=None, title=None):
    """
    Orientation tuning curves of a few neurons and the population's
    distributions of circular variance and bandwidth.

    Parameters
    ----------
    tuning : OrientationTuning
        From `ipvae_snn.stats.orientation_tuning`.
    neurons : sequence of int, optional
        Neurons to show (default: ``n_neurons`` responsive neurons spread over
        preferred orientations).
    n_neurons : int
    path, title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    curves, ori = np.asarray(tuning.curves), np.asarray(tuning.orientations)
    if neurons is None:
        responsive = np.flatnonzero(tuning.peak > 0.25 * np.nanmax(tuning.peak))
        by_pref = responsive[np.argsort(tuning.preferred[responsive], kind="stable")]
        pick = np.linspace(0, by_pref.size - 1, min(n_neurons, by_pref.size)).round()
        neurons = by_pref[np.unique(pick.astype(int))]
    neurons = np.asarray(neurons, dtype=np.int64).ravel()
    if neurons.size == 0 or neurons.min() < 0 or neurons.max() >= curves.shape[1]:
        raise ValueError(f"neurons must be indices in [0, {curves.shape[1] - 1}]")
    plt = _pyplot()
    n_cols = min(6, neurons.size)
    n_rows = int(np.ceil(neurons.size / n_cols))
    fig = plt.figure(figsize=(1.6 * n_cols + 0.4, 1.45 * n_rows + 2.3),
                     layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.45 * n_rows, 2.0])
    axes = np.atleast_1d(top.subplots(n_rows, n_cols, squeeze=False).ravel())
    x = np.append(ori, ori[0] + 180.0)
    for ax, n in zip(axes, neurons):
        y = np.append(curves[:, n], curves[0, n])
        ax.plot(x, y, "o-", color="tab:blue", ms=2.5, lw=1)
        if np.isfinite(tuning.preferred[n]):
            ax.axvline(tuning.preferred[n], color="tab:red", lw=0.8, ls="--")
        ax.set_title(f"n{n}: CV {tuning.circular_variance[n]:.2f}, "
                     f"hw {tuning.half_width[n]:.0f}°", fontsize=6.5)
        ax.set_xticks([0, 90, 180])
        ax.set_xlim(0, 180)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=6)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[neurons.size:]:
        ax.set_visible(False)
    top.supxlabel("stimulus orientation (deg); dashed: preferred orientation (vector "
                  "average)", fontsize=7)
    top.supylabel("mean response", fontsize=7)
    keep = tuning.peak > 0
    ax_cv, ax_bw = bottom.subplots(1, 2)
    ax_cv.hist(tuning.circular_variance[keep], bins=np.linspace(0, 1, 21),
               color="tab:blue", alpha=0.8)
    ax_cv.set_xlabel("circular variance", fontsize=7)
    hw = tuning.half_width[keep]
    ax_bw.hist(hw[np.isfinite(hw)], bins=np.linspace(0, 90, 19), color="tab:orange",
               alpha=0.8)
    ax_bw.set_xlabel(f"half-width at {tuning.level:.3g} of peak (deg)", fontsize=7)
    for ax in (ax_cv, ax_bw):
        ax.set_ylabel("neurons", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.spines[["top", "right"]].set_visible(False)
    if title is None:
        title = (f"Orientation tuning: {int(keep.sum())} responsive neurons, median "
                 f"circular variance {np.nanmedian(tuning.circular_variance[keep]):.2f}, "
                 f"median half-width {np.nanmedian(hw):.1f}°")
    return _finish(fig, title, path)

