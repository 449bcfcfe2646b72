"""
Out-of-distribution inputs through the natural-image model
==========================================================

The bundled iP-VAE was trained on whitened patches of eight photographs. This
script sends other inputs through its spiking network (window realization,
``cpp_standalone``) and compares them with held-out natural patches:

- held-out natural patches (chelsea, gravel) — the reference condition;
- patches of the eight *training* photographs;
- the held-out patches rotated by 90° (an exact pixel permutation) and with
  inverted contrast (``-x``): the same local statistics, other structure;
- scikit-learn digits (`ipvae_snn.data.digit_patches`);
- Gaussian white noise with the patches' pixel variance;
- the held-out patches at 1.5× and 2× contrast, and 2× contrast again with
  the opt-in ``max_count`` cap at 20 and 200 spikes per window (a
  refractory-like saturation of the expected count). The 2×-contrast
  patches need up to about 110 spikes per window; a cap of 20 holds such
  neurons below what their input calls for, so their potential winds up to
  the upper clamp (counted as "runaway" below, with bounded counts) and R²
  drops; a cap of 200 changes nothing for them and still bounds a true
  runaway.

For each condition it reports the median R² (the mean is meaningless once a
patch runs away), the mean rate, the fraction of silent neurons and the
runaway diagnostics of `ipvae_snn.results.InferenceResult.runaway_events`
(patch, neuron, first window with ``u`` near the upper clamp). Outputs:

``ood_curves.png``
    median R², mean rate (log axis) and the cumulative fraction of patches
    with a runaway neuron, against the window, per condition;
``ood_examples.png``
    one input per condition beside its reconstructions ``Φ z`` at a few
    windows, with their R²;
``ood_summary.txt``
    the table printed at the end.

Run ``python examples/out_of_distribution.py [--quick] [--out DIR]``.
"""

import warnings

import numpy as np

from _common import Outputs, example_parser, run


def parse_args(argv=None):
    parser = example_parser(
        "Rotated, inverted, high-contrast natural patches, digits and noise through "
        "the natural-image model: R², rates and runaway diagnostics against held-out "
        "natural patches.")
    return parser.parse_args(argv)


def make_conditions(n, seed):
    """Condition name -> (n, 256) inputs."""
    from ipvae_snn.data import TRAIN_IMAGES, digit_patches, natural_patches
    held_out = natural_patches(n_patches=n, seed=seed)
    square = held_out.reshape(n, 16, 16)
    rng = np.random.default_rng(seed)
    return {
        "natural, held-out": held_out,
        "natural, training images": natural_patches(TRAIN_IMAGES, n_patches=n,
                                                    seed=seed + 1),
        "rotated 90°": np.rot90(square, axes=(1, 2)).reshape(n, -1),
        "inverted (-x)": -held_out,
        "digits": digit_patches(n_patches=n, seed=seed)[0],
        "white noise": rng.standard_normal(held_out.shape) * held_out.std(),
        "contrast ×1.5": 1.5 * held_out,
        "contrast ×2": 2.0 * held_out,
    }


class Condition:
    """Per-condition read-outs of a (slice of a) result."""

    def __init__(self, name, result, rows):
        self.name, self.rows = name, rows
        self.r2 = result.r2[rows]
        self.rate = result.mean_count[rows] / result.window_s        # sp/s per window
        self.zero = result.zero_fraction[rows]
        onset = result.runaway_onset[rows]
        first = np.where(onset >= 0, onset, np.iinfo(np.int32).max).min(axis=1)
        self.first_runaway = np.where(first < np.iinfo(np.int32).max, first, -1)
        self.n_runaway_neurons = int((onset >= 0).sum())
        self.max_count = int(result.counts[rows].max())

    def runaway_fraction(self, n_windows):
        w = np.arange(n_windows)
        hit = self.first_runaway[self.first_runaway >= 0]
        return (hit[None, :] <= w[:, None]).sum(axis=1) / len(self.rows)


def plot_curves(conditions, n_windows):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.6), layout="constrained")
    colors = plt.get_cmap("tab10").colors
    t = np.arange(1, n_windows)
    for i, c in enumerate(conditions):
        style = dict(color=colors[i % 10], lw=1.3, ls="--" if "max_count" in c.name
                     else "-")
        with np.errstate(invalid="ignore"):
            axes[0].plot(t, np.nanmedian(c.r2[:, 1:], axis=0), label=c.name, **style)
        axes[1].plot(t, c.rate[:, 1:].mean(axis=0), **style)
        axes[2].plot(t, c.runaway_fraction(n_windows)[1:], **style)
    axes[0].set_ylim(-0.5, 1.0)
    axes[0].set_ylabel("median R² of Φz (no unit)", fontsize=8)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("mean rate per neuron (spikes/s)", fontsize=8)
    axes[2].set_ylabel("fraction of patches with a neuron at the clamp of u", fontsize=8)
    axes[2].set_ylim(-0.02, 1.02)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("window T (inference steps of 100 ms)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, lw=0.5)
        ax.spines[["top", "right"]].set_visible(False)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center",
               fontsize=7, frameon=False)
    fig.suptitle("Out-of-distribution inputs through the natural-image model "
                 "(spiking network, window realization)", fontsize=9)
    return fig


#: Short names of the conditions in the numbers the docs quote.
KEYS = {"natural, held-out": "natural", "natural, training images": "training",
        "rotated 90°": "rotated", "inverted (-x)": "inverted", "digits": "digits",
        "white noise": "noise", "contrast ×1.5": "c15", "contrast ×2": "c2",
        "contrast ×2, max_count 20": "c2cap20", "contrast ×2, max_count 200": "c2cap200"}


def quote_numbers(outputs, conditions, result, n, probe, last, shown):
    """The summary's numbers (and the example figure's R²) for the docs page."""
    rows = ["| condition | median R² T = " + f"{probe} | median R² T = {last} | "
            "rate (sp/s) | max count | silent | runaway | first |",
            "|---|---|---|---|---|---|---|---|"]
    for c in conditions:
        k = f"ood_{KEYS[c.name]}"
        hit = c.first_runaway[c.first_runaway >= 0]
        values = dict(r2_probe=f"{np.nanmedian(c.r2[:, probe]):.3f}",
                      r2_last=f"{np.nanmedian(c.r2[:, last]):.3f}",
                      rate=f"{c.rate[:, last].mean():.1f}",
                      rate_t0=f"{c.rate[:, 0].mean():.1f}",
                      max_count=str(c.max_count),
                      silent_pct=f"{100 * c.zero[:, last].mean():.0f} %",
                      runaway=str(hit.size),
                      runaway_fraction=f"{hit.size / len(c.rows):.2f}",
                      first=str(hit.min()) if hit.size else "–")
        outputs.quote(**{f"{k}_{name}": v for name, v in values.items()})
        rows.append(f"| {c.name} | {values['r2_probe']} | {values['r2_last']} | "
                    f"{values['rate']} | {values['max_count']} | "
                    f"{values['silent_pct']} | {hit.size}/{len(c.rows)} | "
                    f"{values['first']} |")
    outputs.quote(ood_table="\n".join(rows), ood_n=str(n), ood_probe=str(probe),
                  ood_last=str(last))
    # the example figure: the first patch of each condition at the shown windows
    for c in conditions[:len(KEYS) - 2]:
        for w in shown:
            outputs.quote(**{f"ood_example_{KEYS[c.name]}_r2_t{w}":
                             f"{result.r2[c.rows[0], w]:.2f}"})
    first = [int(c.rows[0]) for c in conditions[:len(KEYS) - 2]]
    early = result.r2[first, shown[0]]
    outputs.quote(ood_example_t_early=str(shown[0]),
                  ood_example_r2_early_min=f"{early.min():.2f}",
                  ood_example_r2_early_max=f"{early.max():.2f}")


def main(argv=None):
    args = parse_args(argv)
    import ipvae_snn
    from ipvae_snn.network import SpikingIPVAE
    from ipvae_snn.plotting import plot_reconstructions
    from ipvae_snn.results import RunawayWarning

    outputs = Outputs(args.out)
    n, n_windows = (8, 65) if args.quick else (16, 1001)
    # spikes per window (at T_w = 100 ms: 200 and 2,000 spikes/s): below and
    # above the largest counts the 2x-contrast patches need (about 110 per window)
    caps = (20, 200)
    params = ipvae_snn.default_params()
    inputs = make_conditions(n, args.seed)
    names = list(inputs)
    x = np.concatenate([inputs[k] for k in names])
    shown = [w for w in (4, 16, 64, 256, 1000) if w < n_windows]
    with warnings.catch_warnings():
        # Runaways are the subject here: reported per condition below.
        warnings.simplefilter("ignore", RunawayWarning)
        result = SpikingIPVAE(params, device=args.device).run(
            x, n_windows, seed=args.seed, record_windows=shown)
        capped = {cap: SpikingIPVAE(params, device=args.device, max_count=cap).run(
            inputs["contrast ×2"], n_windows, seed=args.seed, record_windows=shown)
            for cap in caps}
    t_sim = outputs.elapsed()
    conditions = [Condition(name, result, np.arange(i * n, (i + 1) * n))
                  for i, name in enumerate(names)]
    conditions += [Condition(f"contrast ×2, max_count {cap:g}", capped[cap], np.arange(n))
                   for cap in caps]

    last = n_windows - 1
    probe = 64 if n_windows > 65 else 16
    head = (f"{'condition':<30} {'R² T=' + str(probe):>9} {'R² T=' + str(last):>9} "
            f"{'rate sp/s':>10} {'max count':>9} {'silent':>7} {'runaway':>8} "
            f"{'first':>6}")
    lines = [f"Out-of-distribution inputs, {n} patches per condition, {n_windows} "
             f"windows; median R², mean rate and silent fraction at T={last}; "
             f"runaway: patches with a neuron at the upper clamp, first: earliest "
             f"window; max count: the largest count of a neuron in a recorded window",
             head, "-" * len(head)]
    for c in conditions:
        hit = c.first_runaway[c.first_runaway >= 0]
        lines.append(
            f"{c.name:<30} {np.nanmedian(c.r2[:, probe]):>9.3g} "
            f"{np.nanmedian(c.r2[:, last]):>9.3g} {c.rate[:, last].mean():>10.3g} "
            f"{c.max_count:>9d} "
            f"{c.zero[:, last].mean():>7.3f} {f'{hit.size}/{len(c.rows)}':>8} "
            f"{(str(hit.min()) if hit.size else '-'):>6}")
    text = "\n".join(lines)
    print(text)
    outputs.save_text("ood_summary.txt", text)
    quote_numbers(outputs, conditions, result, n, probe, last, shown)

    outputs.save(plot_curves(conditions, n_windows), "ood_curves.png")
    examples = [int(c.rows[0]) for c in conditions[:len(names)]]
    fig = plot_reconstructions(
        result, patches=examples, windows=shown, curves=False,
        title="One input per condition and its reconstructions Φz from the spike "
              "counts of window T (R² per panel)")
    for row, name in enumerate(names):
        fig.axes[row * (len(shown) + 1)].set_ylabel(name, fontsize=7)
    outputs.save(fig, "ood_examples.png")
    return outputs.finish("out_of_distribution", simulation_s=t_sim)


if __name__ == "__main__":
    run(main)
