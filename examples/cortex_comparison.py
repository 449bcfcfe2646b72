"""
The spiking network's spike statistics beside those of primary visual cortex
============================================================================

Two experiments on the bundled model's spiking network
(`ipvae_snn.stats.cortex_experiment`):

1. held-out natural patches, each shown in 20 repeated trials of 10 s
   (101 windows of 100 ms; windows 16-100 analysed): Fano factor of the
   spike counts in 0.5-s counting windows, pairwise noise correlations,
   ISI CV and local variation LV, lifetime and population sparseness, and
   the firing-rate distribution with its log-normal fit;
2. static gratings (60 orientations 3° apart × 8 phases): circular variance, OSI and
   the orientation bandwidth, the half-width at 1/√2 of the peak read from
   the Hanning-smoothed curve as Ringach et al. (2002) did (the unsmoothed
   value is printed beside it).

Each value is set beside the V1 range of ``ipvae_snn/cortex_v1.json`` (with
its sources). Outputs:

``cortex_table.txt``, ``cortex_table.json``
    the table as printed, and as JSON (rows, all network values, settings);
``cortex_comparison.png``
    one row per measure: the cortical range (grey bar, hatched where it is
    an approximate literature summary), its typical value (tick) and the
    network (dot: green inside, red outside);
``cortex_distributions.png``
    the distributions behind four of the medians: Fano factors, noise
    correlations, firing rates (log axis, with the log-normal fit) and
    lifetime sparseness, each over the cortical range.

The window realization is the default (``--realization window``): its counts
are exact posterior samples, and its spike times are placed uniformly inside
each window, so its ISI CV and LV are near 1 by construction: the table and
figure mark them (†) and do not compare them with cortex.
``--realization continuous`` simulates the spike times (dt = 1 ms), at about
five times the cost.

Run ``python examples/cortex_comparison.py [--quick] [--out DIR]``.
"""

import warnings

import numpy as np

from _common import Outputs, example_parser, run


def parse_args(argv=None):
    parser = example_parser(
        "Network-vs-V1 table of spike statistics (printed, saved as text and JSON) "
        "and its figures.",
        quick="few patches, trials and windows (seconds); the numbers are then rough",
        out="the table and figures")
    parser.add_argument("--realization", default="window",
                        choices=("window", "continuous"),
                        help="spiking realization (default %(default)s)")
    return parser.parse_args(argv)


def plot_distributions(experiment, n_trials, count_windows, reference):
    """Histograms of the per-neuron values behind four medians of the table."""
    import matplotlib.pyplot as plt

    from ipvae_snn import stats
    natural = experiment.natural
    window_s = natural.window_s
    counts = stats.trial_counts(natural, n_trials)                 # (S, R, W, K)
    n_stim, _, n_win, k = counts.shape
    n_blocks = n_win // count_windows
    blocks = counts[:, :, :n_blocks * count_windows].reshape(
        n_stim, n_trials, n_blocks, count_windows, k).sum(axis=3)
    cond = blocks.transpose(0, 2, 1, 3).reshape(-1, n_trials, k)
    fano = stats.fano_factor(cond, axis=1)[cond.mean(axis=1) >= 1.0]
    r_sc = stats.pair_values(stats.noise_correlation(cond))
    rates = stats.firing_rates(counts, window_s)
    fit = stats.lognormal_fit(rates)
    lifetime = stats.lifetime_sparseness(counts.mean(axis=(1, 2)))
    ranges = {key: m["range"] for key, m in reference["measures"].items()}
    # Wide enough for the network's spread and for the cortical range.
    r_lim = max(0.05, float(np.percentile(np.abs(r_sc), 99.9)))
    r_high = max(r_lim, (ranges.get("noise_correlation") or [0, 0])[1] + 0.02)

    fig, axes = plt.subplots(1, 4, figsize=(11.0, 2.9), layout="constrained")
    panels = (
        (axes[0], fano, np.linspace(0, max(2.5, np.nanpercentile(fano, 99.5)), 41),
         f"Fano factor ({count_windows * window_s:g}-s counts; no unit)",
         ranges.get("fano_factor"), f"median {np.nanmedian(fano):.2f}",
         "neurons × stimuli × counting windows"),
        (axes[1], r_sc, np.linspace(-r_lim, r_lim, 41), "noise correlation r_sc (no unit)",
         ranges.get("noise_correlation"), f"mean {np.mean(r_sc):+.1e}, SD "
         f"{np.std(r_sc):.3f} ({r_sc.size} pairs)", "neuron pairs"),
        (axes[3], lifetime[np.isfinite(lifetime)], np.linspace(0, 1, 26),
         "lifetime sparseness (0 dense – 1 sparse)", ranges.get("lifetime_sparseness"),
         f"mean {np.nanmean(lifetime):.2f}", "neurons"),
    )
    for ax, values, bins, label, rng, text, ylabel in panels:
        ax.set_ylabel(ylabel, fontsize=8)
        if rng:
            ax.axvspan(*rng, color="0.85", lw=0, label="V1 range")
        ax.hist(values, bins=bins, color="tab:blue", alpha=0.85)
        ax.set_xlabel(label, fontsize=8)
        ax.set_title(text, fontsize=8)
    axes[1].set_xlim(-r_lim, r_high)
    ax = axes[2]
    logs = np.log10(rates[rates > 0])
    if ranges.get("median_rate_hz"):
        ax.axvspan(*np.log10(ranges["median_rate_hz"]), color="0.85", lw=0,
                   label="V1 median-rate range")
    ax.hist(logs, bins=30, density=True, color="tab:blue", alpha=0.85)
    grid = np.linspace(logs.min() - 0.3, logs.max() + 0.3, 200)
    sd = fit.sigma_log10
    ax.plot(grid, np.exp(-0.5 * ((grid - np.log10(fit.median)) / sd) ** 2)
            / (sd * np.sqrt(2 * np.pi)), color="tab:red", lw=1.2,
            label="log-normal fit")
    ax.set_xlabel("log10 of the rate in spikes/s", fontsize=8)
    ax.set_ylabel("probability density (per decade)", fontsize=8)
    ax.set_title(f"median {np.median(rates):.2f} sp/s; fit SD {sd:.2f} decades",
                 fontsize=8)
    ax.legend(fontsize=6, frameon=False, loc="upper left")
    axes[0].legend(fontsize=6, frameon=False)
    for ax in axes:
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(f"Distributions behind the table ({n_stim} natural patches × "
                 f"{n_trials} trials, {natural.info.get('realization')} realization; "
                 f"grey: V1 range)", fontsize=9)
    return fig


def main(argv=None):
    args = parse_args(argv)
    import ipvae_snn
    from ipvae_snn import stats, stimuli
    from ipvae_snn.data import natural_patches
    from ipvae_snn.network import SpikingIPVAE
    from ipvae_snn.plotting import plot_cortex_comparison
    from ipvae_snn.results import RunawayWarning

    outputs = Outputs(args.out)
    if args.quick:
        n_patches, n_trials, n_windows, n_ori, n_phase = 8, 8, 65, 8, 4
    else:
        # orientations 3° apart: the sampling resolves the bandwidth (about 7.5°)
        n_patches, n_trials, n_windows, n_ori, n_phase = 30, 20, 101, 60, 8
    count_windows = 5
    params = ipvae_snn.default_params()
    x = natural_patches(n_patches=n_patches, seed=args.seed)
    gratings = stimuli.grating_set(np.arange(n_ori) * 180.0 / n_ori,
                                   phases=np.arange(n_phase) * 360.0 / n_phase)
    net = SpikingIPVAE(params, realization=args.realization, device=args.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RunawayWarning)
        exp = stats.cortex_experiment(net.run, x, n_trials=n_trials,
                                      n_windows=n_windows, gratings=gratings,
                                      count_windows=count_windows, seed=args.seed)
    for w in caught:
        print(f"note: {w.message}")
    t_sim = outputs.elapsed()
    reference = stats.load_cortex_reference()
    rows = stats.cortex_table(exp.values, reference,
                              placed_spike_times=exp.natural.spikes is None)
    table = stats.format_cortex_table(rows)
    header = (f"Network vs V1: bundled model, {args.realization} realization; "
              f"{n_patches} held-out natural patches x {n_trials} trials x "
              f"{n_windows} windows of 100 ms (windows 16-{n_windows - 1} analysed, "
              f"counts over {count_windows * 0.1:g} s); {len(gratings[0])} gratings")
    print(header)
    print(table)

    outputs.save_text("cortex_table.txt", header + "\n" + table)
    doc = dict(realization=args.realization, n_patches=n_patches, n_trials=n_trials,
               n_windows=n_windows, n_gratings=len(gratings[0]),
               count_windows=count_windows, seed=args.seed, quick=args.quick,
               simulation_s=t_sim, rows=rows,
               # NaN (e.g. a measure without enough spikes) is not valid JSON
               values={k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                       for k, v in exp.values.items()})
    outputs.save_json("cortex_table.json", doc)

    n_in = sum(1 for r in rows if r["inside"])
    n_cmp = sum(1 for r in rows if r["inside"] is not None)
    outputs.save(plot_cortex_comparison(
        rows, title=f"Spiking iP-VAE ({args.realization} realization) vs macaque/cat "
                    f"V1: {n_in} of {n_cmp} measures inside the cortical range"),
        "cortex_comparison.png")
    outputs.save(plot_distributions(exp, n_trials, count_windows, reference),
                 "cortex_distributions.png")
    return outputs.finish("cortex_comparison", simulation_s=t_sim)


if __name__ == "__main__":
    run(main)
