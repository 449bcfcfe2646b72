"""
Inference on natural-image patches with the spiking network
===========================================================

The bundled iP-VAE (K = 512 neurons, 16×16 whitened patches) infers held-out
patches of two photographs it never saw (scikit-image's *chelsea* and
*gravel*), as a Brian2 network in the exact **window** realization: one FOND
update per window of T_w = 100 ms, the spike count of each window the
posterior sample. The script writes

``natural_reconstructions.png``
    patches beside their reconstructions ``Φ z`` from the spike counts of
    windows 1 … T, with the R² of each and the batch's R² and activity over
    time;
``natural_window_curves.png``
    mean R² and fraction of silent neurons against the window, spiking
    network beside the numpy reference algorithm on the same patches;
``natural_raster_window.png``, ``natural_membrane_window.png``
    spike raster (neurons sorted by the orientation of their receptive
    field) and the membrane potential ``u`` (the log rate per window) of a
    few neurons, for one patch;
``natural_*_continuous*.png``
    ``natural_raster_continuous.png``, ``natural_membrane_continuous.png``
    and ``natural_membrane_continuous_zoom.png``: the same patch through the
    **continuous** realization (escape-noise neurons, dt = 1 ms, every spike
    kicking the potentials through the lateral synapses at once): the
    biologically literal membrane traces.

Why two devices: the batch run uses ``cpp_standalone`` (compiled once per
network shape and cached, then ~0.5 ms per patch-window); the two one-patch
runs that record the membrane potential of every neuron use Brian2's
``runtime`` device, which needs no compilation and takes a few seconds for a
single patch, where a separate standalone build would cost ~20 s.

Run ``python examples/natural_images.py [--quick] [--out DIR]``.
"""

import time
import warnings

import numpy as np

from _common import Outputs, example_parser, run


def parse_args(argv=None):
    parser = example_parser(
        "Inference on natural-image patches with the spiking network; writes "
        "rasters, membrane traces, reconstructions and R² curves.",
        device="Brian2 device of the batch run")
    return parser.parse_args(argv)


def representative_patch(result):
    """The patch whose final R² is closest to the batch median."""
    r2 = result.r2[:, -1]
    return int(np.nanargmin(np.abs(r2 - np.nanmedian(r2))))


def main(argv=None):
    args = parse_args(argv)
    import ipvae_snn
    from ipvae_snn.data import natural_patches
    from ipvae_snn.network import SpikingIPVAE
    from ipvae_snn.plotting import (plot_membrane_traces, plot_raster,
                                    plot_reconstructions, plot_window_curves)
    from ipvae_snn.results import RunawayWarning

    outputs = Outputs(args.out)
    n_patches, n_windows = (16, 65) if args.quick else (64, 1001)
    traced_windows, continuous_windows = (65, 20) if args.quick else (65, 65)
    params = ipvae_snn.default_params()
    x = natural_patches(n_patches=n_patches, seed=args.seed)
    shown = [w for w in (1, 4, 16, 64, 256, 1000) if w < n_windows]

    # 1. The batch: spiking network (window realization) and reference.
    t0 = time.perf_counter()
    net = SpikingIPVAE(params, realization="window", device=args.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RunawayWarning)
        snn = net.run(x, n_windows, seed=args.seed, record_windows=shown)
        ref = ipvae_snn.infer(params, x, n_windows, seed=args.seed,
                              record_windows=shown, progress=False)
    t_batch = time.perf_counter() - t0
    for w in caught:
        print(f"note: {w.message}")
    last = n_windows - 1
    print(f"batch: {n_patches} patches x {n_windows} windows, spiking network "
          f"{snn.info['timing']['total_s']:.1f} s (of which build "
          f"{snn.info['timing']['build_s']:.1f} s), with the reference "
          f"{t_batch:.1f} s")
    for t in sorted({min(64, last), last}):
        print(f"mean R² at T={t}: spiking network {np.nanmean(snn.r2[:, t]):.3f}, "
              f"reference {np.nanmean(ref.r2[:, t]):.3f}; silent fraction "
              f"{snn.zero_fraction[:, t].mean():.3f} / {ref.zero_fraction[:, t].mean():.3f}")
    outputs.save(plot_reconstructions(
        snn, windows=shown, n_patches=6,
        title=f"Held-out natural patches (chelsea, gravel) and their reconstructions "
              f"Φz from the spike counts of window T\n(spiking network, window "
              f"realization); mean R² at T = {last}: {np.nanmean(snn.r2[:, last]):.3f}"),
        "natural_reconstructions.png")
    outputs.save(plot_window_curves(
        {"spiking network (Brian2, window)": snn, "reference algorithm (numpy)": ref},
        title=f"{n_patches} held-out patches: reconstruction R² and sparsity over "
              f"{last} inference windows (T_w = 100 ms)"),
        "natural_window_curves.png")

    # 2. One patch with every membrane potential recorded (runtime device).
    patch = representative_patch(snn)
    t0 = time.perf_counter()
    traced = SpikingIPVAE(params, realization="window", device="runtime",
                          record_u=True).run(x[patch], traced_windows, seed=args.seed)
    outputs.save(plot_raster(
        traced, patch=0, sort_by="orientation",
        title=f"Window realization, patch {patch}: spikes of the first "
              f"{min(traced_windows, 60)} windows, neurons sorted by their "
              f"receptive field's orientation"),
        "natural_raster_window.png")
    outputs.save(plot_membrane_traces(
        traced, patch=0, max_neurons=5,
        title=f"Window realization, patch {patch}: membrane potential u of five "
              f"neurons from the most to a rarely active one (u is held inside each "
              f"window and updated at its end)"),
        "natural_membrane_window.png")

    # 3. The same patch through the continuous realization.
    cont = SpikingIPVAE(params, realization="continuous", device="runtime",
                        record_u=True).run(x[patch], continuous_windows, seed=args.seed)
    t_traced = time.perf_counter() - t0
    outputs.save(plot_raster(
        cont, patch=0, sort_by="orientation",
        title=f"Continuous realization (dt = 1 ms), patch {patch}: simulated spike "
              f"times of the first {min(continuous_windows, 60)} windows"),
        "natural_raster_continuous.png")
    outputs.save(plot_membrane_traces(
        cont, patch=0, max_neurons=5,
        title=f"Continuous realization, patch {patch}: u drifts up with the "
              f"feed-forward drive and jumps down at every lateral spike "
              f"(own spikes: the reset)"),
        "natural_membrane_continuous.png")
    zoom = (continuous_windows - 3) * 0.1, continuous_windows * 0.1
    outputs.save(plot_membrane_traces(
        cont, patch=0, max_neurons=3, t_range=zoom,
        title=f"Continuous realization, patch {patch}: the last 300 ms at 1 ms "
              f"resolution"),
        "natural_membrane_continuous_zoom.png")

    print(f"traced runs (runtime device, 1 patch): {t_traced:.1f} s; continuous "
          f"realization R² at T={continuous_windows - 1}: "
          f"{cont.r2[0, -1]:.3f} (window realization, same patch: "
          f"{traced.r2[0, min(continuous_windows, traced_windows) - 1]:.3f})")
    outputs.quote(
        natural_patch=str(patch), natural_cont_t=str(continuous_windows - 1),
        natural_cont_r2=f"{cont.r2[0, -1]:.3f}",
        natural_window_r2_same_patch=(
            f"{traced.r2[0, min(continuous_windows, traced_windows) - 1]:.3f}"),
        natural_snn_r2_last=f"{np.nanmean(snn.r2[:, last]):.3f}",
        natural_snn_build_s=f"{snn.info['timing']['build_s']:.1f}",
        natural_snn_total_s=f"{snn.info['timing']['total_s']:.1f}",
        natural_traced_s=f"{t_traced:.1f}")
    return outputs.finish("natural_images")


if __name__ == "__main__":
    run(main)
