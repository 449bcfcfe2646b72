"""
Read-out figures: reconstructions beside their inputs, read-out curves over
windows, the dictionary.

Examples
--------
>>> import ipvae_snn
>>> from ipvae_snn.plotting import plot_dictionary
>>> fig = plot_dictionary(ipvae_snn.default_params(), neurons=range(8))
>>> len(fig.axes)                     # the mosaic and its colourbar
2
"""

import numpy as np

from ..validation import InvalidValueError, check_recorded
from .figure import finish, pyplot

__all__ = ["plot_reconstructions", "plot_window_curves", "plot_dictionary"]


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
    comparable along the row; a colourbar at the row's end gives it in the
    units of the model's input (whitened pixel values for the natural-image models).

    Parameters
    ----------
    result : InferenceResult
        A run whose counts were recorded at the windows to show.
    patches : sequence of int, optional
        Patch indices (default: ``n_patches`` evenly spaced through the batch).
    windows : sequence of int, optional
        Recorded windows to show (default `ipvae_snn.results.figure_windows`,
        the rule the command line uses too: the recorded summary windows 1,
        4, 16, 64, 256, 1000 and the last, at most ``max_windows``).
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
        raise InvalidValueError("result: no counts were recorded (record_counts=False)")
    if patches is None:
        patches = _default_patches(result.n_patches, n_patches)
    patches = np.asarray(patches, dtype=int).ravel()
    if patches.size == 0 or patches.min() < 0 or patches.max() >= result.n_patches:
        raise InvalidValueError(f"patches must be indices in [0, {result.n_patches - 1}], "
                         f"got {patches.tolist()[:10]}")
    if windows is None:
        from ..results import figure_windows
        windows = figure_windows(result.windows, result.n_windows, max_windows)
    windows = check_recorded(windows, result.windows, name="windows").tolist()
    side = int(round(np.sqrt(result.x.shape[1])))
    if side * side != result.x.shape[1]:
        raise InvalidValueError(f"patches of {result.x.shape[1]} pixels are not square")

    plt = pyplot()
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
    fig.set_figwidth(fig.get_figwidth() + 0.9)        # room for the colourbars
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
            im = ax.imshow(img.reshape(side, side), cmap="gray", vmin=-vmax, vmax=vmax,
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
        cb = top.colorbar(im, ax=axes[i, :], pad=0.01, aspect=12, fraction=0.04)
        cb.set_ticks([-vmax, 0, vmax], labels=[f"{v:.2g}" for v in (-vmax, 0, vmax)])
        cb.ax.tick_params(labelsize=6)
        cb.set_label("pixel value\n(model input)", fontsize=6)
    if bottom is not None:
        _plot_curves(result, windows, *bottom.subplots(1, 2))
    if title is None:
        last = windows[-1]
        title = (f"Reconstructions Φz from spike counts, {result.n_patches} patches, "
                 f"K = {result.params.n_latents}; mean R² at T = {last}: "
                 f"{np.nanmean(result.r2[:, last]):.3f}")
    return finish(fig, title, path)


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
    for ax, ylabel in ((ax_r2, "R² of Φz"),
                       (ax_act, "spikes per neuron per window;\nfraction of neurons")):
        for w in windows:
            if w >= 1:
                ax.axvline(w, color="0.6", lw=0.6, ls=":", zorder=0)
        if t.size > 1:
            ax.set_xscale("log")
        ax.set_xlim(1, max(t[-1], 2))
        ax.set_xlabel("window T (inference steps)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        # R² rises: its legend below the curve; activity: wherever it is free
        ax.legend(fontsize=7, frameon=False,
                  loc="lower right" if ax is ax_r2 else "best")
        ax.spines[["top", "right"]].set_visible(False)


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
        raise InvalidValueError(f"phi: expected shape (n_pixels, n_latents), got {phi.shape}")
    side = int(round(np.sqrt(phi.shape[0])))
    if side * side != phi.shape[0]:
        raise InvalidValueError(f"phi: {phi.shape[0]} pixels are not a square patch")
    k = phi.shape[1]
    idx = np.arange(k) if neurons is None else np.asarray(neurons, dtype=np.int64).ravel()
    if idx.size == 0 or idx.min() < 0 or idx.max() >= k:
        raise InvalidValueError(f"neurons must be indices in [0, {k - 1}]")
    if order is None:
        pass
    elif isinstance(order, str) and order == "orientation":
        from ..stats import receptive_field_tuning
        ori = receptive_field_tuning(phi)[0]
        idx = idx[np.argsort(ori[idx], kind="stable")]
    elif isinstance(order, str) and order == "norm":
        idx = idx[np.argsort(-np.linalg.norm(phi[:, idx], axis=0), kind="stable")]
    elif isinstance(order, str):
        raise InvalidValueError(f"order must be None, 'orientation', 'norm' or indices, got "
                         f"{order!r}")
    else:
        idx = np.asarray(order, dtype=np.int64).ravel()
        if idx.size == 0 or idx.min() < 0 or idx.max() >= k:
            raise InvalidValueError(f"order must be neuron indices in [0, {k - 1}]")
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

    plt = pyplot()
    width = min(12.0, max(6.0, 0.32 * n_cols + 0.5))
    fig, ax = plt.subplots(figsize=(width, width * mosaic.shape[0] / mosaic.shape[1] + 0.5),
                           layout="constrained")
    # Separators in a colour unlike any pixel value.
    cmap = plt.get_cmap("gray").with_extremes(bad="steelblue")
    im = ax.imshow(mosaic, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    cb = fig.colorbar(im, ax=ax, orientation="horizontal", fraction=0.03, pad=0.01,
                      aspect=60, shrink=0.5)
    cb.set_ticks([-1, 0, 1])
    cb.ax.tick_params(labelsize=7)
    cb.set_label("weight / the field's largest |weight| (no unit)", fontsize=7)
    if title is None:
        key = order if isinstance(order, str) or order is None else ""
        how = {None: "by index", "orientation": "sorted by orientation",
               "norm": "sorted by norm"}.get(key, "in the given order")
        title = (f"Dictionary Φ: {n} receptive fields of {side}×{side} pixels, {how} "
                 f"(each scaled to its own maximum)")
    return finish(fig, title, path)


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
        raise InvalidValueError("results: nothing to plot")
    if labels is None:
        labels = [str(r.info.get("realization", f"run {i}")) for i, r in enumerate(results)]
    if len(labels) != len(results):
        raise InvalidValueError(f"labels: {len(labels)} labels for {len(results)} results")
    plt = pyplot()
    fig, (ax_r2, ax_zero) = plt.subplots(1, 2, figsize=(9.0, 3.2), layout="constrained")
    colors = plt.get_cmap("tab10").colors
    for i, (res, label) in enumerate(zip(results, labels)):
        if res.n_windows < 2:
            raise InvalidValueError(f"results[{i}]: needs at least 2 windows")
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
    return finish(fig, title, path)
