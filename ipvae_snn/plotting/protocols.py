"""
Figures of the experimenters' protocols (`ipvae_snn.stats.protocols`): the
mean-matched Fano factor over time, contrast dependence, noise correlation
against signal correlation and RF overlap, the Allen natural-scenes metrics,
and the rate rows against the window length.

Grey bands are the V1 ranges of ``cortex_v1.json`` where one exists.
"""

import numpy as np

from .figure import finish, pyplot

__all__ = ["plot_mean_matched_fano", "plot_onset_protocol", "plot_sensitivity",
           "plot_contrast_protocol",
           "plot_noise_correlation_protocol", "plot_natural_scenes_protocol",
           "plot_rates_by_window"]


def _v1_range(key):
    from ..stats import load_cortex_reference
    m = load_cortex_reference()["measures"].get(key)
    return None if m is None else m["range"]


def _label_with_range(label, key):
    rng = _v1_range(key)
    return label if rng is None else f"{label}\n(V1 mean: {rng[0]:g} to {rng[1]:g})"


def _band(ax, rng, horizontal=True, label="V1 range"):
    if rng is None:
        return
    (ax.axhspan if horizontal else ax.axvspan)(rng[0], rng[1], color="0.88", lw=0,
                                               zorder=0, label=label)


def plot_mean_matched_fano(fano, times=None, onset=None, path=None, title=None):
    """
    The mean-matched Fano factor (black, with its 95 % band) and the raw
    population Fano factor (grey) over time, above the mean count, as
    Churchland et al. (2010) show them.

    Parameters
    ----------
    fano : MeanMatchedFano
        From `ipvae_snn.stats.mean_matched_fano`.
    times : array_like, optional
        Time of each bin (default: bin index).
    onset : float, optional
        A time to mark (stimulus onset).
    path, title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = np.arange(len(fano.fano)) if times is None else np.asarray(times, dtype=float)
    plt = pyplot()
    fig, (a, b) = plt.subplots(2, 1, figsize=(5.5, 4.5), sharex=True, layout="constrained",
                               height_ratios=(2, 1))
    a.fill_between(t, fano.ci[:, 0], fano.ci[:, 1], color="0.8", lw=0)
    a.plot(t, fano.fano, "k-", lw=1.5, label="mean-matched")
    a.plot(t, fano.fano_all, "-", color="0.55", lw=1, label="all points")
    a.axhline(1.0, color="0.6", ls=":", lw=0.8)
    a.set_ylabel("Fano factor")
    a.legend(fontsize=7, frameon=False)
    b.plot(t, fano.mean, "k-", lw=1.2, label="kept points")
    b.plot(t, fano.mean_all, "-", color="0.55", lw=1, label="all points")
    b.set_ylabel("mean count")
    b.legend(fontsize=7, frameon=False)
    b.set_xlabel("time bin" if times is None else "time")
    for ax in (a, b):
        if onset is not None:
            ax.axvline(onset, color="tab:blue", lw=0.8)
        ax.spines[["top", "right"]].set_visible(False)
    return finish(fig, title or f"Mean-matched Fano factor ({fano.n_points} points, "
                                f"{100 * fano.kept:.0f} % kept)", path)


def plot_onset_protocol(protocols, labels=None, path=None, title=None):
    """
    The mean-matched Fano factor (with its 95 % band) and the mean rate
    around stimulus onset (`ipvae_snn.stats.onset_protocol`), one line per
    run (e.g. the default model and the shared-gain variant); dashed: the
    means before and after onset that the protocol reports.

    Parameters
    ----------
    protocols : OnsetProtocol or sequence of OnsetProtocol
    labels : sequence of str, optional
    path, title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if hasattr(protocols, "matched"):
        protocols = [protocols]
    labels = labels or [f"gain noise {p.settings['gain_noise']:g}" for p in protocols]
    plt = pyplot()
    fig, (a, b) = plt.subplots(2, 1, figsize=(6, 5), sharex=True, layout="constrained",
                               height_ratios=(2, 1))
    for p, label, color in zip(protocols, labels, ("k", "tab:red", "tab:blue", "tab:green")):
        t = p.times_s * 1e3
        m = p.matched
        a.fill_between(t, m.ci[:, 0], m.ci[:, 1], color=color, alpha=0.15, lw=0)
        a.plot(t, m.fano, "-", color=color, lw=1.5,
               label=f"{label}: {p.fano_before:.3f} → {p.fano_after:.3f}")
        pre, post = t <= 0, t >= p.settings["count_windows"] * p.settings["window_s"] * 1e3
        a.plot(t[pre], np.full(pre.sum(), p.fano_before), "--", color=color, lw=0.8)
        a.plot(t[post], np.full(post.sum(), p.fano_after), "--", color=color, lw=0.8)
        b.plot(t, p.rate_hz, "-", color=color, lw=1.2, label=label)
    a.axhline(1.0, color="0.6", ls=":", lw=0.8)
    a.set_ylabel("mean-matched Fano factor")
    a.legend(fontsize=7, frameon=False, title="before → after onset", title_fontsize=7)
    b.set_ylabel("mean rate (spikes/s)")
    b.set_xlabel("time from stimulus onset (ms, end of each count)")
    for ax in (a, b):
        ax.axvline(0.0, color="tab:blue", lw=0.8)
        ax.spines[["top", "right"]].set_visible(False)
    s = protocols[0].settings
    return finish(fig, title or (
        f"Onset: blank → stimulus ({s['n_stimuli']} {s['stimulus']} stimuli x "
        f"{s['n_trials']} trials, counts of {s['count_windows']} windows of "
        f"{s['window_s'] * 1e3:g} ms, {s['realization']})"), path)


def plot_sensitivity(points, path=None, title=None):
    """
    How each ranged measure of the cortex table moves with the gain noise, the
    window length and the spike cost (`ipvae_snn.stats.cortex_sensitivity`):
    one panel per axis, each measure's value placed relative to its V1 range
    (0 at its low end, 1 at its high end: the grey band is inside).

    Returns
    -------
    matplotlib.figure.Figure
    """
    axes_names = [a for a in ("gain_noise", "window_s", "cost_scale")
                  if any(p["axis"] == a for p in points)]
    labels = dict(gain_noise="gain noise SD σ", window_s="window length (ms)",
                  cost_scale="spike cost (x the default's)")
    plt = pyplot()
    fig, axes = plt.subplots(1, len(axes_names), figsize=(4 * len(axes_names), 4.2),
                             layout="constrained", sharey=True, squeeze=False)
    measures = [r for r in points[0]["rows"] if r["low"] is not None]
    colors = plt.get_cmap("tab10")
    for ax, name in zip(axes[0], axes_names):
        pts = [p for p in points if p["axis"] == name]
        x = np.array([p[name] for p in pts]) * (1e3 if name == "window_s" else 1)
        ax.axhspan(0, 1, color="0.88", lw=0, zorder=0)
        for i, m in enumerate(measures):
            rows = [next(r for r in p["rows"] if r["measure"] == m["measure"]) for p in pts]
            y = [np.nan if r["network"] is None else
                 (r["network"] - r["low"]) / (r["high"] - r["low"]) for r in rows]
            ax.plot(x, y, "o-", color=colors(i), lw=1.2, ms=3, label=m["label"])
        for p, xi in zip(pts, x):
            failed = bool(p.get("error"))      # e.g. activity at the clamp: no statistics
            ax.annotate("no statistics\n(runaway)" if failed else
                        f"{p['n_inside']}/{p['n_ranged']}", (xi, 1.0), fontsize=7,
                        color="tab:red" if failed else "k", xytext=(0, 4),
                        textcoords="offset points", ha="center")
            if failed:
                ax.axvline(xi, color="tab:red", lw=0.8, ls=":")
        if name == "window_s":
            ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlabel(labels[name])
        ax.spines[["top", "right"]].set_visible(False)
    axes[0][0].set_ylabel("place in the V1 range (0: low end, 1: high end)")
    axes[0][-1].legend(fontsize=6, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
    held = next((p for p in points if p["axis"] == "cost_scale"), points[-1])
    return finish(fig, title or (
        f"Cortex table against each axis alone (reference; the others at gain noise "
        f"{held['gain_noise']:g}, {held['window_s'] * 1e3:g} ms windows, spike cost x1); "
        f"n/m: ranged measures inside"), path)


def plot_contrast_protocol(protocol, path=None, title=None):
    """
    Fano factor (median and mean-matched), mean noise correlation and rates
    against contrast (`ipvae_snn.stats.contrast_protocol`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    c = np.asarray(protocol.contrasts)
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), layout="constrained")
    a, b, r = axes
    _band(a, _v1_range("fano_factor"))
    a.plot(c, protocol.fano, "o-", color="tab:red", label="median (responsive)")
    a.plot(c, protocol.fano_matched, "s--", color="k", label="mean-matched")
    a.axhline(1.0, color="0.6", ls=":", lw=0.8)
    a.set_ylabel("Fano factor")
    a.legend(fontsize=7, frameon=False)
    # no band: the V1 range (in the label) would hide the model's scale
    b.plot(c, protocol.noise_correlation, "o-", color="tab:red")
    b.axhline(0.0, color="0.6", ls=":", lw=0.8)
    # at least ±0.02, so that values indistinguishable from 0 read as 0
    top = max(0.02, 1.2 * float(np.nanmax(np.abs(protocol.noise_correlation), initial=0.0)))
    b.set_ylim(-top, top)
    b.set_ylabel(_label_with_range("mean noise correlation r_sc", "noise_correlation"))
    _band(r, _v1_range("median_rate_hz"))
    r.plot(c, protocol.mean_rate_hz, "o-", color="tab:red", label="mean")
    r.plot(c, protocol.median_rate_hz, "s--", color="k", label="median")
    r.set_yscale("log")
    r.set_ylabel("rate (spikes/s)")
    r.legend(fontsize=7, frameon=False)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("RMS contrast")
        ax.spines[["top", "right"]].set_visible(False)
    s = protocol.settings
    return finish(fig, title or (
        f"Contrast dependence ({s['stimulus']}, {s['n_stimuli']} stimuli x "
        f"{s['n_trials']} trials, counting window "
        f"{s['count_windows'] * s['window_s'] * 1e3:g} ms); grey: V1 range"), path)


def _binned(ax, b, color, label):
    ok = b.count > 0
    ax.errorbar(b.centers[ok], b.mean[ok], yerr=np.nan_to_num(b.sem[ok]), fmt="o-",
                color=color, ms=4, capsize=2, label=label)
    for x, y, n in zip(b.centers[ok], b.mean[ok], b.count[ok]):
        ax.annotate(f"{n}", (x, y), xytext=(0, 6), textcoords="offset points",
                    fontsize=5.5, color="0.45", ha="center")


def plot_noise_correlation_protocol(protocol, path=None, title=None):
    """
    Mean r_sc (± SEM) in bins of signal correlation and of RF overlap
    (`ipvae_snn.stats.noise_correlation_protocol`); the numbers are the pairs
    per bin.

    Returns
    -------
    matplotlib.figure.Figure
    """
    p = protocol.pairs
    plt = pyplot()
    panels = 2 if p.by_overlap is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.3), squeeze=False,
                             layout="constrained")
    _binned(axes[0, 0], p.by_signal, "tab:red", "model")
    axes[0, 0].set_xlabel("signal correlation r_signal")
    axes[0, 0].set_ylabel(_label_with_range("noise correlation r_sc (mean ± SEM)",
                                            "noise_correlation"))
    if panels == 2:
        _binned(axes[0, 1], p.by_overlap, "tab:purple", "model")
        axes[0, 1].set_xlabel("RF overlap (correlation of Φ columns)")
    for ax in axes[0]:
        ax.axhline(0.0, color="0.6", ls=":", lw=0.8)
        ax.set_xlim(-1, 1)
        ax.spines[["top", "right"]].set_visible(False)
    s = protocol.settings
    return finish(fig, title or (
        f"Noise vs signal correlation ({p.noise.size} pairs, {s['n_stimuli']} "
        f"{s['stimulus']} stimuli x {s['n_trials']} trials, counting window "
        f"{s['count_windows'] * s['window_s'] * 1e3:g} ms)"),
        path)


def plot_natural_scenes_protocol(protocol, path=None, title=None):
    """
    Distributions over responsive neurons of the Allen natural-scenes metrics
    (`ipvae_snn.stats.natural_scenes_protocol`), medians marked.

    Returns
    -------
    matplotlib.figure.Figure
    """
    m = protocol.metrics
    ok = m.responsive
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.0), layout="constrained")
    for ax, key, label in zip(axes, ("lifetime_sparseness", "reliability",
                                     "image_selectivity"),
                              ("lifetime sparseness", "reliability (trial-to-trial r)",
                               "image selectivity")):
        v = np.asarray(getattr(m, key))[ok]
        v = v[np.isfinite(v)]
        if key == "lifetime_sparseness":
            _band(ax, _v1_range("lifetime_sparseness"), horizontal=False)
        ax.hist(v, bins=30, color="tab:red", alpha=0.8)
        if v.size:
            med = float(np.median(v))
            ax.axvline(med, color="k", lw=1)
            ax.annotate(f"median {med:.2f}", (med, 1), xycoords=("data", "axes fraction"),
                        xytext=(3, -10), textcoords="offset points", fontsize=7)
        ax.set_xlabel(label)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("neurons")
    s = protocol.settings
    return finish(fig, title or (
        f"Allen natural-scenes metrics ({s['n_images']} images x {s['n_trials']} trials x "
        f"{s['n_windows']} windows from onset; {int(ok.sum())} responsive neurons)"), path)


def plot_rates_by_window(rows, documented=None, path=None, title=None):
    """
    Median and mean rate against the window length (one FOND step in
    biological time), the V1 median-rate range shaded and the documented
    window marked (`ipvae_snn.stats.rates_by_window`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    w = np.array([r["window_s"] for r in rows]) * 1e3
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
    _band(ax, _v1_range("median_rate_hz"), label="V1 median-rate range")
    ax.plot(w, [r["median_rate_hz"] for r in rows], "o-", color="tab:red", label="median")
    ax.plot(w, [r["mean_rate_hz"] for r in rows], "s--", color="k", label="mean")
    if documented is not None:
        ax.axvline(documented * 1e3, color="tab:blue", lw=1,
                   label=f"documented {documented * 1e3:g} ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("window length (ms per FOND step)")
    ax.set_ylabel("rate (spikes/s)")
    ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return finish(fig, title or "Rates against the window length (rate = count / window)",
                  path)
