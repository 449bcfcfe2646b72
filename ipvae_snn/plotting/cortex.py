"""
Figures of the cortex comparison: the network's statistics inside the V1
ranges, orientation tuning curves.
"""

import numpy as np

from ..validation import InvalidValueError
from .figure import finish, pyplot

__all__ = ["plot_cortex_comparison", "plot_tuning_curves"]


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
    from ..stats import cortex_table
    rows = cortex_table(table) if isinstance(table, dict) else list(table)
    if not rows:
        raise InvalidValueError("table: no measures")
    plt = pyplot()
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
        elif r.get("meaningful", True) is False:
            # computed, but not a property of the model (see the row's note)
            raw = r.get("raw")
            if raw is not None:
                ax.plot(raw, 0, "o", mfc="none", mec="0.4", ms=7, mew=1.0, zorder=3)
                ax.annotate(f"{raw:.3g} († not compared)", (raw, 0), xytext=(-6, 6),
                            textcoords="offset points", fontsize=7, color="0.4",
                            ha="right")
        else:
            ax.text(0.5, 0.0, "network value not computed", transform=ax.transAxes,
                    ha="center", va="center", fontsize=7, color="0.4")
        if low is None:
            ax.text(0.99, 0.5, "no cortical range", transform=ax.transAxes, ha="right",
                    va="center", fontsize=7, color="0.4")
        units = "" if r.get("units") in (None, "dimensionless") else f" ({r['units']})"
        mark = "‡" if r.get("resolved", True) is False else ""   # sampling too coarse
        ax.set_yticks([0], [r["label"] + mark + units], fontsize=7)
        ax.tick_params(axis="x", labelsize=6, length=2, pad=1)
        ax.spines[["top", "right", "left"]].set_visible(False)
        ax.text(1.0, 1.0, r.get("sources", ""), transform=ax.transAxes, ha="right",
                va="bottom", fontsize=5.5, color="0.45")
    if title is None:
        n_in = sum(1 for r in rows if r.get("inside"))
        n_cmp = sum(1 for r in rows if r.get("inside") is not None)
        title = (f"Network vs V1: {n_in} of {n_cmp} measures inside the cortical range "
                 f"(grey bars; hatched: approximate literature summary)")
    notes = list(dict.fromkeys(r["note"] for r in rows if r.get("note")))
    if notes:
        import textwrap
        fig.supxlabel("\n".join(textwrap.fill(n if n.startswith(("†", "‡")) else "* " + n, 150)
                                for n in notes),
                      fontsize=6, color="0.35", ha="left", x=0.01)
    return finish(fig, title, path)


def plot_tuning_curves(tuning, neurons=None, n_neurons=12, units="spikes/s", path=None,
                       title=None):
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
    units : str
        Units of the responses (the y labels).
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
        raise InvalidValueError(f"neurons must be indices in [0, {curves.shape[1] - 1}]")
    plt = pyplot()
    n_cols = min(6, neurons.size)
    n_rows = int(np.ceil(neurons.size / n_cols))
    fig = plt.figure(figsize=(1.6 * n_cols + 0.4, 1.45 * n_rows + 2.3),
                     layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.45 * n_rows, 2.0])
    axes = np.atleast_1d(top.subplots(n_rows, n_cols, squeeze=False).ravel())
    x = np.append(ori, ori[0] + 180.0)
    for ax, n in zip(axes, neurons):
        y = np.append(curves[:, n], curves[0, n])
        ax.plot(x, y, "o-", color="tab:blue", ms=2.0 if ori.size <= 24 else 1.0, lw=1)
        if np.isfinite(tuning.preferred[n]):
            ax.axvline(tuning.preferred[n], color="tab:red", lw=0.8, ls="--")
        ax.set_title(f"neuron {n}: circ. var. {tuning.circular_variance[n]:.2f}\n"
                     f"half-width {tuning.half_width[n]:.0f}°", fontsize=6.5)
        ax.set_xticks([0, 90, 180])
        ax.set_xlim(0, 180)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=6)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[neurons.size:]:
        ax.set_visible(False)
    step = getattr(tuning, "sampling_deg", None)
    top.supxlabel("stimulus orientation (deg)"
                  + ("" if step is None else f", sampled every {step:g}°")
                  + "; dashed: preferred orientation (vector average)", fontsize=7)
    top.supylabel(f"mean response ({units})", fontsize=7)
    keep = tuning.peak > 0
    ax_cv, ax_bw = bottom.subplots(1, 2)
    ax_cv.hist(tuning.circular_variance[keep], bins=np.linspace(0, 1, 21),
               color="tab:blue", alpha=0.8)
    ax_cv.set_xlabel("orientation circular variance (0 sharp – 1 untuned)", fontsize=7)
    hw = tuning.half_width[keep]
    ax_bw.hist(hw[np.isfinite(hw)], bins=np.linspace(0, 90, 19), color="tab:orange",
               alpha=0.8)
    smoothing = getattr(tuning, "smoothing", None)
    ax_bw.set_xlabel(f"half-width at {tuning.level:.3g} of peak (deg)"
                     + ("" if smoothing is None else
                        f", after Hanning smoothing of {smoothing:g}° half-width"),
                     fontsize=7)
    for ax in (ax_cv, ax_bw):
        ax.set_ylabel("neurons", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.spines[["top", "right"]].set_visible(False)
    if title is None:
        title = (f"Orientation tuning: {int(keep.sum())} responsive neurons, median "
                 f"circular variance {np.nanmedian(tuning.circular_variance[keep]):.2f}, "
                 f"median half-width {np.nanmedian(hw):.1f}°")
    return finish(fig, title, path)
