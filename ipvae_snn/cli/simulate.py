"""``ipvae-snn simulate``: the Brian2 spiking network."""

import numpy as np

from ..defaults import DEFAULT_WINDOW_S
from .cluster import (add_cluster_arguments, scheduler_client, scheduler_label)
from .common import (DEFAULT_STEPS, PROG, add_inference_arguments, add_network_arguments,
                     check_outputs, input_files, load_input_patches, load_model, model_label,
                     no_runaway_warnings, positive_float, positive_int, pyplot, record_windows_for,
                     report)
from .nwb import (add_nwb_arguments, check_nwb_argument, write_nwb)
from .protocols import add_gain_noise_argument

__all__ = ["NAME", "add_parser", "run"]

NAME = "simulate"
#: Neurons whose membrane potentials ``--traces`` draws.
N_TRACED = 5


def add_parser(subparsers):
    """Add ``simulate`` to ``subparsers``; returns its parser."""
    p = subparsers.add_parser(
        NAME, help="inference by the Brian2 spiking network",
        description="Run the iP-VAE as a Brian2 spiking network on whitened 16x16 "
                    "patches: T windows of FOND inference after the first (prior) "
                    "window, spike counts per window as posterior samples. Prints "
                    "the same summary as 'infer' and can draw a raster and "
                    "membrane-potential traces.")
    p.add_argument("--windows", type=positive_int, default=DEFAULT_STEPS, metavar="T",
                   help="windows after the first; metrics are read at window T, "
                        "like 'infer --steps T' (default %(default)s)")
    add_network_arguments(
        p, realization_help="'window': one exact FOND step per window; 'continuous': "
                            "escape-noise neurons with continuous membranes "
                            "(default %(default)s)")
    p.add_argument("--window-ms", type=positive_float, default=DEFAULT_WINDOW_S * 1e3,
                   metavar="MS", help="window length T_w in ms (default %(default)s)")
    p.add_argument("--dt-ms", type=positive_float, default=None, metavar="MS",
                   help="time step of the continuous realization (default T_w/100)")
    p.add_argument("--max-count", type=positive_float, default=None, metavar="N",
                   help="opt-in refractory-like bound on activity, in expected "
                        "spikes per window; set it above the counts the input needs "
                        "(a lower cap winds neurons up to the clamp of u)")
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                   help="precision of the compiled network (default %(default)s)")
    p.add_argument("--jobs", type=positive_int, default=None,
                   help="processes for standalone runs (default: CPU count)")
    p.add_argument("--raster", metavar="F.png",
                   help="write a spike raster of the first patch")
    p.add_argument("--traces", metavar="F.png",
                   help="write membrane-potential traces of the first patch: "
                        "neurons from the most to a rarely active one, the last "
                        "windows zoomed so that each spike shows")
    add_inference_arguments(p)
    add_gain_noise_argument(p)
    add_cluster_arguments(p)
    add_nwb_arguments(p)
    return p


def run(args):
    """Run ``ipvae-snn simulate``."""
    from ..network import SpikingIPVAE

    check_outputs({"--out": args.out, "--figure": args.figure, "--raster": args.raster,
                   "--traces": args.traces, "--nwb": args.nwb}, dict(input_files(args)),
                  figures=["--figure", "--raster", "--traces"])
    check_nwb_argument(args)
    params = load_model(args.model)
    x, source = load_input_patches(args, params)
    # Nothing that depends on the input or the seed is part of the compiled
    # program: every run of this command shares one build. Times in seconds,
    # scaled as Brian2 scales ms (value * 1e-3), so the same as ``window_ms * ms``.
    options = dict(realization=args.realization, device=args.device,
                   window=args.window_ms * 1e-3,
                   dt=None if args.dt_ms is None else args.dt_ms * 1e-3,
                   max_count=args.max_count, dtype=args.dtype, n_jobs=args.jobs,
                   gain_noise=args.gain_noise)
    net = SpikingIPVAE(params, **options)
    n_windows = args.windows + 1
    progress = False if args.quiet else None
    with no_runaway_warnings(), scheduler_client(args) as client:
        result = net.run(x, n_windows, seed=args.seed,
                         # the file holds every window's spikes (rates right)
                         record_windows=None if args.nwb else
                         record_windows_for(n_windows),
                         progress=progress, client=client)
        first = None
        if args.raster or args.traces:
            first = _first_patch(net, params, x, n_windows, args, options, client)
        where = scheduler_label(client)
    write_nwb(result, args)
    timing = result.info["timing"]
    header = (f"{PROG} simulate: {result.n_patches} patches ({source}), model "
              f"{model_label(args.model)} (K={params.n_latents}), "
              f"{args.realization} realization on {args.device}, {args.windows} "
              f"windows of {args.window_ms:g} ms, {timing['total_s']:.2f} s "
              f"({timing['n_runs']} run(s){where}"
              + (f", compiled in {timing['build_s']:.1f} s" if timing.get("compiled")
                 else "") + ")")
    report(result, args, NAME, header, model=args.model, patches=args.patches,
           device=args.device, window_ms=args.window_ms, timing=timing, nwb=args.nwb)
    if first is not None:
        from ..plotting import plot_membrane_traces, plot_raster
        plt = pyplot()
        if args.raster:
            plt.close(plot_raster(first, patch=0, path=args.raster))
        if args.traces:
            # a spread of activity levels, from the most active neuron down
            plt.close(plot_membrane_traces(first, patch=0, max_neurons=N_TRACED,
                                           path=args.traces))
    for what, path in (("raster", args.raster), ("traces", args.traces),
                       ("NWB file", args.nwb)):
        if path and not args.json:
            print(f"{what} written to {path}")
    return 0


def _first_patch(net, params, x, n_windows, args, options, client=None):
    """
    Every window of the first patch, without storing every window of the
    batch. The first patch of a run draws the same random stream whatever
    follows it, so these are the batch's own spikes. Its membrane potentials
    (``--traces``): in the window realization, where u changes once per
    window, the reference replay of its counts gives them exactly, with no
    second program; the continuous realization records every neuron (a
    second program, the same for every input).
    """
    from ..network import SpikingIPVAE
    from ..reference import replay
    if not args.traces:
        return net.run(x[:1], n_windows, seed=args.seed, progress=False,
                       client=client)
    if args.realization == "window":
        first = net.run(x[:1], n_windows, seed=args.seed, progress=False,
                        client=client)
        first.u = replay(params, x[:1], first.counts)[:, :n_windows]
        first.u_neurons = np.arange(params.n_latents)
        return first
    watch = SpikingIPVAE(params, record_u=True, **options)
    return watch.run(x[:1], n_windows, seed=args.seed, progress=False, client=client)
