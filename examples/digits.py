"""
Handwritten digits through the digits model
===========================================

scikit-learn's 8×8 digits, upsampled to 16×16 and z-scored
(`ipvae_snn.data.digit_patches`), are inferred by the bundled digits model
(``ipvae_snn.load_model("digits")``), which this package trained on the
training split of the same digits (`ipvae_snn.data.digit_split`: a
stratified 80/20 split with seed 0); the digits shown here are from the test
split, which it never saw. The spiking network (window realization,
``cpp_standalone``, compiled once and cached) writes

``digits_reconstructions.png``
    one digit of each class beside its reconstructions ``Φ z`` from the spike
    counts of windows 1 … T, with R² per panel and the R² and activity of the
    whole batch over time;
``digits_raster.png``
    the spike raster of one digit over the first 60 windows, neurons sorted
    by the orientation of their receptive field, with the population rate;
``digits_active_fields.png``
    for a few digits, the receptive fields (columns of Φ) of the neurons
    that fire most for it, with their rates: the strokes and blobs the
    network recruits to explain a digit.

Run ``python examples/digits.py [--quick] [--out DIR]``.
"""

import warnings

import numpy as np

from _common import Outputs, example_parser, run


def parse_args(argv=None):
    parser = example_parser(
        "scikit-learn digits (test split) through the bundled digits model (spiking "
        "network); "
        "writes reconstructions, a raster and R² curves.",
        quick="fewer digits and windows (seconds)")
    return parser.parse_args(argv)


def plot_active_fields(result, patches, labels, n_fields=8):
    """Each digit beside the receptive fields of its most active neurons."""
    import matplotlib.pyplot as plt
    late = result.windows >= 16
    rates = result.counts[:, late].mean(axis=1) / result.window_s     # spikes/s
    phi = result.params.phi
    side = int(round(np.sqrt(phi.shape[0])))
    fig, axes = plt.subplots(len(patches), n_fields + 1,
                             figsize=(1.05 * (n_fields + 1), 1.2 * len(patches) + 0.5),
                             squeeze=False, layout="constrained")
    for row, p in zip(axes, patches):
        img = result.x[p].reshape(side, side)
        v = np.abs(img).max()
        row[0].imshow(img, cmap="gray", vmin=-v, vmax=v)
        row[0].set_ylabel(f"digit {labels[p]}", fontsize=8)
        top = np.argsort(-rates[p], kind="stable")[:n_fields]
        for ax, k in zip(row[1:], top):
            atom = phi[:, k].reshape(side, side)
            a = np.abs(atom).max()
            ax.imshow(atom, cmap="gray", vmin=-a, vmax=a)
            ax.set_title(f"n{k}: {rates[p, k]:.0f} sp/s", fontsize=6.5)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("input", fontsize=8)
    fig.suptitle(f"Receptive fields of the {n_fields} most active neurons per digit "
                 f"(mean rate over windows 16-{int(result.windows[late][-1])})",
                 fontsize=9)
    fig.supxlabel("each image on its own symmetric grey scale: white positive, black "
                  "negative, mid-grey zero (input: pixel value; fields: weight)",
                  fontsize=7, color="0.3")
    return fig


def main(argv=None):
    args = parse_args(argv)
    import ipvae_snn
    from ipvae_snn.data import digit_split
    from ipvae_snn.network import SpikingIPVAE
    from ipvae_snn.plotting import plot_raster, plot_reconstructions
    from ipvae_snn.results import RunawayWarning

    outputs = Outputs(args.out)
    n_digits, n_windows = (20, 65) if args.quick else (100, 1001)
    params = ipvae_snn.load_model("digits")
    _, x_test, _, y_test = digit_split()
    pick = np.sort(np.random.default_rng(args.seed).choice(len(x_test), n_digits,
                                                           replace=False))
    x, labels = x_test[pick], y_test[pick]
    shown = [w for w in (1, 4, 16, 64, 256, 1000) if w < n_windows]
    record = sorted(set(range(min(n_windows, 61))) | set(shown))

    net = SpikingIPVAE(params, realization="window", device=args.device)
    with warnings.catch_warnings():
        # Reported below, per patch, instead of as a warning.
        warnings.simplefilter("ignore", RunawayWarning)
        result = net.run(x, n_windows, seed=args.seed, record_windows=record)
    last = n_windows - 1
    timing = result.info["timing"]
    print(f"{n_digits} digits x {n_windows} windows: {timing['total_s']:.1f} s "
          f"(build {timing['build_s']:.1f} s); mean R² at T={last}: "
          f"{np.nanmean(result.r2[:, last]):.3f}, mean rate "
          f"{result.mean_count[:, last].mean() / result.window_s:.2f} spikes/s")
    runaway = sorted({p for p, _, _ in result.runaway_events()})
    outputs.quote(digits_example_n=str(n_digits), digits_example_last=str(last),
                  digits_example_build_s=f"{timing['build_s']:.1f}",
                  digits_example_total_s=f"{timing['total_s']:.1f}",
                  digits_example_runaway=str(len(runaway)),
                  **{f"digits_example_r2_t{t}": f"{np.nanmean(result.r2[:, t]):.3f}"
                     for t in [0, *shown]},
                  **{f"digits_example_rate_t{t}":
                     f"{result.mean_count[:, t].mean() / result.window_s:.1f}"
                     for t in (0, last)},
                  **{f"digits_example_count_t{t}": f"{result.mean_count[:, t].mean():.2f}"
                     for t in (0, last)},
                  **{f"digits_example_active_t{t}":
                     f"{1 - result.zero_fraction[:, t].mean():.2f}" for t in (0, last)})
    print(f"runaway: {len(runaway)} of {n_digits} digits drove neurons to the upper "
          f"clamp" + (f" (digits {', '.join(str(labels[p]) for p in runaway[:10])})"
                      if runaway else ""))

    # One example of each class present, in class order.
    examples = [int(np.flatnonzero(labels == d)[0]) for d in range(10)
                if np.any(labels == d)]
    fig = plot_reconstructions(
        result, patches=examples, windows=shown,
        title=f"Test digits through the digits model (spiking network): "
              f"reconstructions Φz from the\ncounts of window T; mean R² at T = {last}: "
              f"{np.nanmean(result.r2[:, last]):.3f} over {n_digits} digits")
    n_cols = len(shown) + 1
    for row, p in enumerate(examples):
        fig.axes[row * n_cols].set_ylabel(f"digit {labels[p]}", fontsize=8)
    outputs.save(fig, "digits_reconstructions.png")

    best = examples[int(np.nanargmax(result.r2[examples, last]))]
    outputs.save(plot_raster(result, patch=best, sort_by="orientation",
                             title=f"Spike raster of a digit {labels[best]} (window "
                                   f"realization; spikes placed uniformly inside "
                                   f"each window),\nneurons sorted by "
                                   f"receptive-field orientation"),
                 "digits_raster.png")

    outputs.save(plot_active_fields(result, examples[:4], labels),
                 "digits_active_fields.png")

    by_class = {int(d): float(np.nanmean(result.r2[labels == d, last]))
                for d in np.unique(labels)}
    by_class_text = ", ".join(f"{d}: {v:.2f}" for d, v in by_class.items())
    print(f"mean R² at T={last} by class: {by_class_text}")
    outputs.quote(digits_example_class_r2_min=f"{min(by_class.values()):.2f}",
                  digits_example_class_r2_max=f"{max(by_class.values()):.2f}")
    return outputs.finish("digits")


if __name__ == "__main__":
    run(main)
