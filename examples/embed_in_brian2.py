"""
The iP-VAE as a model V1 inside your own Brian2 model, shown a stimulus sequence.

`ipvae_snn.network.ipvae_network` hands over the iP-VAE's neuron group,
lateral synapses, input and monitors as one Brian2 object. Here it is shown a
`~ipvae_snn.sequences.StimulusSequence` — three whitened natural-image patches
(held-out images), each for a number of windows, with blanks before, between
and after them, repeated over trials — and drives a downstream population of
leaky integrate-and-fire neurons defined in plain Brian2 — our own
``NeuronGroup``, ``Synapses`` (each LIF neuron pools 24 random V1 neurons) and
monitors — all in one ``Network`` run with one ``run()`` call, on the Brian2
target of ``--target``. In a blank the iP-VAE gets no observation and its
beliefs relax to its prior; its neurons keep firing samples of the prior
(spontaneous activity).

In the continuous realization (the default here) each V1 spike reaches the
synapses as its own event at its own time; in the window realization a V1
neuron's spikes reach them as one event per window, at the window's start,
carrying the window's count ``z`` (``on_pre: v_post += w * z_pre``).

Figure ``embed_in_brian2.png``: top, the V1 spike counts per window of the
first trial (stimuli shaded), the V1 read-out R² of each stimulus against the
windows since its onset (``v1.result().stimulus_metrics``), and the onset
transient of V1 (mean rate per neuron around each onset, over trials:
``v1.result().onset_transient()``); bottom, the same for our LIF neurons:
their spikes in the first trial, two membrane traces, and their onset
transient.

Run ``python examples/embed_in_brian2.py [--quick] [--target numpy|cython|cpp_standalone]
[--realization continuous|window] [--out DIR]``.
"""

import argparse
import os
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
                        help="smoke mode: fewer windows and trials (seconds)")
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
    from ipvae_snn.sequences import StimulusSequence

    # three stimuli, each shown for n_windows windows after a blank of n_blank
    n_windows, n_blank, trials = (17, 8, 2) if args.quick else (65, 16, 4)
    params = ipvae_snn.default_params()
    sequence = StimulusSequence(natural_patches(n_patches=3, seed=args.seed), n_windows,
                                n_blank, trials=trials)
    project = None
    if args.target == "cpp_standalone":
        # the whole model -- V1 and ours -- becomes one C++ program, built and
        # run by run() (the package's compile-once cache is for its own pipelines)
        project = tempfile.TemporaryDirectory(prefix="embed_in_brian2_")
        set_device("cpp_standalone", directory=project.name)
    else:
        prefs.codegen.target = args.target

    # --- the model V1: the iP-VAE as Brian2 objects, shown the sequence
    v1 = ipvae_network(params, sequence=sequence, realization=args.realization,
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

    result = v1.result()                 # a SequenceResult: counts, timeline, read-outs
    last = n_windows - 1
    r2 = ", ".join(f"{row['r2']:.3f}" for row in result.stimulus_metrics(last))
    print(f"{args.target}, {args.realization} realization: {sequence.n_stimuli} stimuli "
          f"x {trials} trials, {n_windows} windows each, blanks of {n_blank}; V1 R² at "
          f"T={last} per stimulus: {r2}; V1 spikes {int(result.counts.sum())}; "
          f"downstream LIF spikes {lif_spikes.num_spikes}")

    # --- the onset transients: V1 from the result, the LIF neurons from their monitor
    window_s = float(v1.window / ms) / 1e3
    lags, v1_count = result.onset_transient()
    v1_rate = v1_count / window_s                                  # Hz per neuron
    w_total = sequence.n_windows
    lif_window = (np.asarray(lif_spikes.t / ms) / 1e3 / window_s).astype(int)
    lif_counts = np.bincount(lif_window, minlength=trials * w_total)[:trials * w_total]
    lif_per_window = lif_counts.reshape(trials, w_total).mean(axis=0) / N_LIF / window_s
    lif_rate = np.array([[lif_per_window[o + k] if 0 <= o + k < w_total else np.nan
                          for k in lags] for o in sequence.onsets])

    # --- the figure
    fig, axes = plt.subplots(2, 3, figsize=(16, 8))
    trial_s = w_total * window_s

    def shade(ax):
        for o, n in zip(sequence.onsets, sequence.stimulus_windows):
            ax.axvspan(o * window_s, (o + n) * window_s, color="C2", alpha=0.12, lw=0)

    ax = axes[0, 0]
    active = np.flatnonzero(result.counts[0].sum(axis=0))[:120]
    image = ax.imshow(result.counts[0][:, active].T, aspect="auto", cmap="Greys",
                      interpolation="nearest", extent=(0, trial_s, active.size, 0))
    fig.colorbar(image, ax=ax, label="spikes in the window")
    shade(ax)
    ax.set(xlabel="time in the first trial (s); green: stimulus shown",
           ylabel="V1 neuron (active ones)", title="Model V1 (iP-VAE): spike counts")
    ax = axes[0, 1]
    ts = np.arange(n_windows)
    curves = np.array([[row["r2"] for row in result.stimulus_metrics(t)] for t in ts])
    for s in range(sequence.n_stimuli):
        ax.plot(ts, curves[:, s], label=f"stimulus {s + 1}")
    ax.set(xlabel="windows since the stimulus's onset (T)", ylabel="mean R² of Φz",
           ylim=(min(0, np.nanmin(curves)), 1),
           title=f"V1 read-out of each stimulus ({trials} trials)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    for ax, rate, who in ((axes[0, 2], v1_rate, "V1 (iP-VAE)"),
                          (axes[1, 2], lif_rate, "our LIF neurons")):
        for s in range(sequence.n_stimuli):
            ax.plot(lags * window_s, rate[s], label=f"onset {s + 1}")
        ax.axvline(0, color="k", lw=0.8, ls="--")
        ax.axvspan(0, n_windows * window_s, color="C2", alpha=0.12, lw=0)
        ax.set(xlabel="time from the stimulus's onset (s)",
               ylabel="mean rate per neuron (Hz)",
               title=f"Onset transient, {who}: mean over {trials} trials")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    ax = axes[1, 0]
    t = np.asarray(lif_spikes.t / ms) / 1e3
    first = t < trial_s
    ax.plot(t[first], np.asarray(lif_spikes.i)[first], "|", color="C3", markersize=4)
    shade(ax)
    ax.set(xlabel="time in the first trial (s)", ylabel="LIF neuron", xlim=(0, trial_s),
           title=f"Our LIF population: {lif_spikes.num_spikes} spikes (SpikeMonitor)")
    ax = axes[1, 1]
    tv = np.asarray(lif_v.t / ms) / 1e3
    keep = tv < trial_s
    for k in range(2):
        ax.plot(tv[keep], np.asarray(lif_v.v[k])[keep], lw=0.6, label=f"LIF {k}")
    ax.axhline(1, color="k", lw=0.6, ls=":", label="threshold")
    shade(ax)
    ax.set(xlabel="time in the first trial (s)", ylabel="v",
           title="Two LIF membranes (StateMonitor)")
    ax.legend(loc="upper right", fontsize=8)
    fig.suptitle(f"The iP-VAE embedded in a Brian2 model, shown 3 stimuli with blanks: "
                 f"target {args.target}, {args.realization} realization, windows of "
                 f"{window_s * 1e3:g} ms", fontsize=12)
    fig.tight_layout()
    outputs.save(fig, "embed_in_brian2.png")
    if project is not None:
        device.reinit()
        project.cleanup()
    return outputs.finish(os.path.basename(__file__))


if __name__ == "__main__":
    run(main, __file__)
