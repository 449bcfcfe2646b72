"""
The iP-VAE as a model V1 inside your own Brian2 model
=====================================================

`ipvae_snn.network.ipvae_network` hands over the iP-VAE's neuron group,
lateral synapses, input and monitors as one Brian2 object. Here it infers
whitened natural-image patches (held-out images, one after another, each for
a number of windows from the prior) and drives a downstream population of
leaky integrate-and-fire neurons defined in plain Brian2 — our own
``NeuronGroup``, ``Synapses`` (each LIF neuron pools 24 random V1 neurons) and
monitors — all in one ``Network`` run with one ``run()`` call, on the Brian2
target of ``--target``.

In the continuous realization (the default here) each V1 spike reaches the
synapses as its own event at its own time; in the window realization a V1
neuron's spikes reach them as one event per window, at the window's start,
carrying the window's count ``z`` (``on_pre: v_post += w * z_pre``).

Figure ``embed_in_brian2.png``: the V1 spike counts per window of the first
patch, the V1 read-out quality R² per window (mean over the patches, from
``v1.result()``), the LIF neurons' spikes and two of their membrane traces.

Run ``python examples/embed_in_brian2.py [--quick] [--target numpy|cython|cpp_standalone]
[--realization continuous|window] [--out DIR]``.
"""

import argparse
import tempfile

import numpy as np

from _common import Outputs, run

TARGETS = ("numpy", "cython", "cpp_standalone")
N_LIF = 32          # downstream neurons
FAN_IN = 24         # V1 neurons pooled by each


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="The iP-VAE as a model V1 driving your own LIF neurons in one "
                    "Brian2 network; writes embed_in_brian2.png.")
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: fewer patches and windows (seconds)")
    parser.add_argument("--out", default="examples_output", metavar="DIR",
                        help="folder for the figure (default %(default)s)")
    parser.add_argument("--target", default="numpy", choices=TARGETS,
                        help="Brian2 code-generation target (default %(default)s)")
    parser.add_argument("--realization", default="continuous",
                        choices=("window", "continuous"),
                        help="iP-VAE realization (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    outputs = Outputs(args.out)
    import matplotlib.pyplot as plt
    from brian2 import (Network, NeuronGroup, SpikeMonitor, StateMonitor, Synapses,
                        device, ms, prefs, seed, set_device)

    import ipvae_snn
    from ipvae_snn.data import natural_patches
    from ipvae_snn.network import ipvae_network

    n_patches, n_windows = (4, 33) if args.quick else (16, 65)
    params = ipvae_snn.default_params()
    x = natural_patches(n_patches=n_patches, seed=args.seed)
    project = None
    if args.target == "cpp_standalone":
        # the whole model -- V1 and ours -- becomes one C++ program, built and
        # run by run() (the package's compile-once cache is for its own pipelines)
        project = tempfile.TemporaryDirectory(prefix="embed_in_brian2_")
        set_device("cpp_standalone", directory=project.name)
    else:
        prefs.codegen.target = args.target

    # --- the model V1: the iP-VAE as Brian2 objects
    v1 = ipvae_network(params, x, n_windows, realization=args.realization,
                       window=100 * ms, record_u=False)

    # --- our own model: LIF neurons pooling random V1 neurons
    lif = NeuronGroup(N_LIF, "dv/dt = -v / (20*ms) : 1 (unless refractory)",
                      threshold="v > 1", reset="v = 0", refractory=5 * ms,
                      method="exact", dt=0.5 * ms)
    per_event = "z_pre" if args.realization == "window" else "1"
    syn = Synapses(v1.group, lif, "w : 1", on_pre=f"v_post += w * {per_event}")
    rng = np.random.default_rng(args.seed)
    pre = np.concatenate([rng.choice(v1.group.N, FAN_IN, replace=False)
                          for _ in range(N_LIF)])
    syn.connect(i=pre, j=np.repeat(np.arange(N_LIF), FAN_IN))
    # a window's whole count arrives at once in the window realization: smaller
    # weights keep one window's pooled input near the threshold
    scale = 0.25 if args.realization == "window" else 1.0
    syn.w = scale * rng.uniform(0.05, 0.25, size=pre.size)
    lif_spikes = SpikeMonitor(lif)
    lif_v = StateMonitor(lif, "v", record=[0, 1], dt=1 * ms)

    net = Network(v1, lif, syn, lif_spikes, lif_v)
    seed(args.seed)
    net.run(v1.duration)

    result = v1.result()
    last = n_windows - 1
    print(f"{args.target}, {args.realization} realization: {n_patches} patches x "
          f"{n_windows} windows; V1 mean R² at T={last}: "
          f"{np.nanmean(result.r2[:, last]):.3f}, silent fraction "
          f"{result.zero_fraction[:, last].mean():.3f}; V1 spikes "
          f"{int(result.counts.sum())}; downstream LIF spikes {lif_spikes.num_spikes}")

    # --- the figure
    window_s = float(v1.window / ms) / 1e3
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5))
    ax = axes[0, 0]
    active = np.flatnonzero(result.counts[0].sum(axis=0))[:120]
    image = ax.imshow(result.counts[0][:, active].T, aspect="auto", cmap="Greys",
                      interpolation="nearest", extent=(0, n_windows * window_s,
                                                       active.size, 0))
    fig.colorbar(image, ax=ax, label="spikes in the window")
    ax.set(xlabel="time in the first patch (s)", ylabel="V1 neuron (active ones)",
           title="Model V1 (iP-VAE): spike counts per window")
    ax = axes[0, 1]
    ax.plot(np.arange(n_windows), np.nanmean(result.r2, axis=0), color="C0")
    ax.set(xlabel="window T", ylabel="mean R² of Φz", ylim=(min(0, np.nanmin(
        np.nanmean(result.r2, axis=0))), 1),
        title=f"V1 read-out over {n_patches} patches (v1.result())")
    ax.grid(alpha=0.3)
    ax = axes[1, 0]
    t = np.asarray(lif_spikes.t / ms) / 1e3
    ax.plot(t, np.asarray(lif_spikes.i), "|", color="C3", markersize=4)
    for k in range(1, n_patches):
        ax.axvline(k * n_windows * window_s, color="0.6", lw=0.8, ls="--")
    ax.set(xlabel="time (s); dashed: next patch", ylabel="LIF neuron",
           xlim=(0, float(v1.duration / ms) / 1e3),
           title=f"Our LIF population: {lif_spikes.num_spikes} spikes "
                 f"(SpikeMonitor)")
    ax = axes[1, 1]
    shown = min(2.0, float(v1.duration / ms) / 1e3)
    tv = np.asarray(lif_v.t / ms) / 1e3
    keep = tv <= shown
    for k in range(2):
        ax.plot(tv[keep], np.asarray(lif_v.v[k])[keep], lw=0.8, label=f"LIF {k}")
    ax.axhline(1, color="k", lw=0.6, ls=":", label="threshold")
    ax.set(xlabel="time (s)", ylabel="v", title="Two LIF membranes (StateMonitor)")
    ax.legend(loc="upper right", fontsize=8)
    fig.suptitle(f"The iP-VAE embedded in a Brian2 model: target {args.target}, "
                 f"{args.realization} realization, windows of "
                 f"{window_s * 1e3:g} ms", fontsize=12)
    fig.tight_layout()
    outputs.save(fig, "embed_in_brian2.png")
    if project is not None:
        device.reinit()
        project.cleanup()
    return outputs.finish("embed_in_brian2")


if __name__ == "__main__":
    run(main)
