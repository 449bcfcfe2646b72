"""``ipvae-snn stats``: the network's spike statistics beside V1 ranges."""

import functools
import time

import numpy as np

from ..defaults import ANALYSIS_START, DEFAULT_WINDOW_S, min_analysis_windows
from .cluster import (add_cluster_arguments, scheduler_client, scheduler_label)
from .common import (PROG, CLIError, add_images_argument, add_model_arguments, add_strict_argument,
                     add_network_arguments, check_output_arguments, load_input_patches, load_model,
                     model_label, no_runaway_warnings, nonnegative_int, positive_float,
                     positive_int, print_json, pyplot, runaway_patches)
from .nwb import (add_nwb_arguments, check_nwb_argument, write_nwb)
from .protocols import add_gain_noise_argument, add_protocol_arguments, run_protocol

__all__ = ["NAME", "add_parser", "run", "STATS_N_PATCHES", "STATS_TRIALS",
           "STATS_WINDOWS"]

NAME = "stats"
#: Defaults of ``ipvae-snn stats``: 30 patches x 20 trials x 101 windows take
#: about a minute on two cores with a compiled network.
STATS_N_PATCHES = 30
STATS_TRIALS = 20
STATS_WINDOWS = 101


def add_parser(subparsers):
    """Add ``stats`` to ``subparsers``; returns its parser."""
    p = subparsers.add_parser(
        NAME, help="spike statistics of the spiking network beside V1 ranges",
        description="Run the spiking network on repeated trials of natural patches "
                    "and on gratings (16 orientations x 8 phases), and print its "
                    "spike statistics (Fano factor, noise correlations, ISI CV and "
                    "LV, sparseness, rate distribution, orientation tuning) beside "
                    "the ranges reported for primary visual cortex, with sources.")
    source = p.add_mutually_exclusive_group()
    add_images_argument(source)
    source.add_argument("--patches", metavar="FILE",
                        help="your own patches instead: .npy, or .npz with one "
                             "array, shape (n, 256) or (n, 16, 16)")
    source.add_argument("--from-nwb", metavar="FILE",
                        help="run nothing: the statistics of the spike trains of an "
                             "NWB file with a Units table and trials (ours or "
                             "another tool's); no orientation tuning")
    p.add_argument("--n-patches", type=positive_int, metavar="N",
                   help=f"distinct patches, each shown --trials times (default "
                        f"{STATS_N_PATCHES}; with --patches, the first N of the file)")
    p.add_argument("--trials", type=positive_int, default=STATS_TRIALS,
                   help="repeated trials per patch, >= 2 (default %(default)s)")
    p.add_argument("--windows", type=positive_int, default=STATS_WINDOWS, metavar="N",
                   help=f"windows of {DEFAULT_WINDOW_S * 1e3:g} ms per trial, >= "
                        f"{min_analysis_windows()}; windows {ANALYSIS_START}..N-1 are "
                        f"analysed, after the transient from the prior "
                        f"(default %(default)s)")
    p.add_argument("--window-ms", type=positive_float, default=None, metavar="MS",
                   help=f"window length of the network in ms (default "
                        f"{DEFAULT_WINDOW_S * 1e3:g}; the documented time scale is "
                        f"20, see docs/cortex-comparison.md)")
    p.add_argument("--count-windows", type=positive_int, default=5, metavar="W",
                   help="windows per spike count of the Fano factor and noise "
                        "correlations (default %(default)s: 0.5 s)")
    p.add_argument("--bin-ms", type=positive_float, default=None, metavar="MS",
                   help="with --from-nwb: the window (count bin) in ms (default: "
                        "the file's window, else 100)")
    p.add_argument("--stimulus-column", metavar="NAME", default=None,
                   help="with --from-nwb: the trials column naming each trial's "
                        "stimulus (default: the first of stimulus_index, "
                        "input_image, stimulus, stimulus_id, condition the file has; "
                        "none: all trials repeat one stimulus)")
    add_network_arguments(p, device_help="Brian2 device (default %(default)s; "
                                         "compiled once, cached)")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the patch positions and of the network "
                        "(default %(default)s)")
    add_strict_argument(p)
    add_model_arguments(p)
    p.add_argument("--figure", metavar="F.png",
                   help="write the network-vs-cortex figure (format from the "
                        "extension)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout (rows of the table, all "
                        "network values, settings)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_cluster_arguments(p)
    add_nwb_arguments(p)
    add_protocol_arguments(p)
    add_gain_noise_argument(p)
    return p


def _check_arguments(args):
    if args.trials < 2:
        raise CLIError(f"--trials must be at least 2, got {args.trials}")
    if args.windows < min_analysis_windows():
        raise CLIError(f"--windows must be at least {min_analysis_windows()} (windows "
                       f"{ANALYSIS_START} on are analysed), got {args.windows}")
    if args.count_windows > args.windows - ANALYSIS_START:
        raise CLIError(f"--count-windows ({args.count_windows}) must not exceed the "
                       f"{args.windows - ANALYSIS_START} analysed windows")


def run(args):
    """Run ``ipvae-snn stats``."""
    from .. import stats
    from ..network import SpikingIPVAE

    check_output_arguments(args)
    if args.protocol:
        return run_protocol(args)
    if args.from_nwb:
        return _run_from_nwb(args)
    if args.bin_ms is not None or args.stimulus_column is not None:
        raise CLIError("--bin-ms and --stimulus-column go with --from-nwb")
    check_nwb_argument(args)
    _check_arguments(args)
    params = load_model(args.model)
    n_patches = args.n_patches
    if args.patches is None and n_patches is None:
        args.n_patches = STATS_N_PATCHES
    x, source = load_input_patches(args, params,
                                   limit=n_patches if args.patches is not None else None)
    net = SpikingIPVAE(params, realization=args.realization, device=args.device,
                       gain_noise=args.gain_noise,
                       window=None if args.window_ms is None else args.window_ms * 1e-3)
    start = time.perf_counter()
    with no_runaway_warnings(), scheduler_client(args) as client:
        run_net = functools.partial(net.run, progress=False if args.quiet else None,
                                    client=client)
        exp = stats.cortex_experiment(run_net, x, n_trials=args.trials,
                                      n_windows=args.windows,
                                      count_windows=args.count_windows,
                                      seed=args.seed)
        where = scheduler_label(client)
    seconds = time.perf_counter() - start
    # the repeated trials of natural patches: stimulus i, trial j at row i * trials + j
    trial = np.arange(exp.natural.n_patches)
    write_nwb(exp.natural, args, trial_columns=dict(
        stimulus_index=("index of the natural patch shown in this trial",
                        trial // args.trials),
        repeat=("repeat of that patch (0 .. trials-1)", trial % args.trials)))
    # window realization: spike times placed inside windows, ISI rows not compared
    rows = stats.cortex_table(exp.values,
                              placed_spike_times=getattr(exp.natural, "spikes", None) is None)
    runaway = {"natural": runaway_patches(exp.natural),
               "gratings": runaway_patches(exp.gratings)}
    if args.figure:
        from ..plotting import plot_cortex_comparison
        pyplot().close(plot_cortex_comparison(rows, path=args.figure))
    window_s = exp.natural.info.get("window_s", DEFAULT_WINDOW_S)
    if args.json:
        print_json(dict(command=NAME, model=args.model, patches=args.patches,
                        source=source, n_patches=int(x.shape[0]), trials=args.trials,
                        n_windows=args.windows, count_windows=args.count_windows,
                        realization=args.realization, device=args.device,
                        seed=args.seed, n_gratings=int(exp.gratings.n_patches),
                        gain_noise=args.gain_noise, window_s=window_s,
                        inside=stats.inside_summary(rows),
                        seconds=seconds, values=exp.values, rows=rows,
                        runaway_patches=runaway, figure=args.figure, nwb=args.nwb))
        return 0
    print(f"{PROG} stats: model {model_label(args.model)} (K={params.n_latents}), "
          f"{args.realization} realization on {args.device}; {x.shape[0]} patches "
          f"({source}) x {args.trials} trials x {args.windows} windows of "
          f"{window_s * 1e3:g} ms, windows {ANALYSIS_START}-{args.windows - 1} "
          f"analysed; {exp.gratings.n_patches} gratings; {seconds:.1f} s{where}")
    print(stats.format_cortex_table(rows))
    inside = stats.inside_summary(rows)
    print(f"{inside['n_inside']} of {inside['n_ranged']} ranged measures inside their V1 "
          f"range" + (f" (gain noise {args.gain_noise:g})" if args.gain_noise else ""))
    if any(runaway.values()):
        print(f"runaway: {runaway['natural']} of {exp.natural.n_patches} trials and "
              f"{runaway['gratings']} gratings drove neurons to the upper clamp of u")
    for what, path in (("figure", args.figure), ("NWB file", args.nwb)):
        if path:
            print(f"{what} written to {path}")
    return 0


def _run_from_nwb(args):
    """``ipvae-snn stats --from-nwb FILE``: the table from a file's spike trains."""
    from .. import stats
    if args.nwb:
        raise CLIError("--nwb writes the spikes of a run; --from-nwb runs nothing")
    trials = stats.read_trials(args.from_nwb, stimulus_column=args.stimulus_column)
    window_s = (args.bin_ms * 1e-3 if args.bin_ms is not None
                else trials.window_s or DEFAULT_WINDOW_S)
    t_start, t_stop = trials.observed
    if trials.window_s is not None:
        # a run of this package: skip the transient from the prior, as a run does
        n_windows = int(round(trials.duration / trials.window_s))
        if n_windows >= 2 * ANALYSIS_START:
            t_start = max(t_start, ANALYSIS_START * trials.window_s)
    n_bins = int((t_stop - t_start) / window_s + 1e-9)
    if args.count_windows > n_bins:
        raise CLIError(f"--count-windows ({args.count_windows}) must not exceed the "
                       f"{n_bins} bins of {window_s * 1e3:g} ms analysed per trial")
    values = stats.trial_statistics(trials.trains, trials.stimulus, t_start=t_start,
                                    t_stop=t_stop, bin_s=window_s,
                                    count_bins=args.count_windows)
    rows = stats.cortex_table(values)
    if args.figure:
        from ..plotting import plot_cortex_comparison
        pyplot().close(plot_cortex_comparison(rows, path=args.figure))
    n_stim = 1 if trials.stimulus is None else len(np.unique(trials.stimulus))
    if args.json:
        print_json(dict(command=NAME, from_nwb=args.from_nwb, n_units=len(trials.unit_ids),
                        n_trials=len(trials.trains), n_stimuli=n_stim,
                        stimulus_column=trials.stimulus_column, bin_s=window_s,
                        t_start=t_start, t_stop=t_stop, values=values, rows=rows,
                        figure=args.figure))
        return 0
    print(f"{PROG} stats: NWB file {args.from_nwb}: {len(trials.unit_ids)} units, "
          f"{len(trials.trains)} trials of {n_stim} stimulus/stimuli "
          f"({trials.stimulus_column or 'one stimulus'}); {t_start:g}-{t_stop:g} s of "
          f"each trial analysed in bins of {window_s * 1e3:g} ms")
    print(stats.format_cortex_table(rows))
    if args.figure:
        print(f"figure written to {args.figure}")
    return 0
