"""
The ``ipvae-snn`` command line.

Each subcommand has one function that adds its parser (``add_<name>_parser``,
listed in `SUBCOMMANDS`) and one that runs it (``run_<name>``, set as the
parser's ``func``). The helpers below (loading the model and the input
patches, the windows to record, printing the summary table or JSON, writing
the result and the figure) are shared by every subcommand that runs
inference.

Bad input (a missing file, a wrong shape, NaN, an unknown image) ends with a
one-line ``ipvae-snn: error: ...`` on stderr and exit status 2.
"""

import argparse
import contextlib
import json
import os
import sys
import warnings

import numpy as np

from . import __version__

__all__ = ["main", "build_parser", "SUBCOMMANDS", "CLIError", "positive_int",
           "nonnegative_int"]

PROG = "ipvae-snn"
#: Patches used when neither --n-patches nor --patches is given: enough for
#: stable means (R² to about ±0.01), small enough for a demo of a few seconds.
DEFAULT_N_PATCHES = 500
DEFAULT_STEPS = 64
#: Windows shown in the figure besides the last one.
FIGURE_WINDOWS = (1, 4, 16, 64)


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# ----------------------------------------------------------- shared helpers
def _int_at_least(text, minimum, expected):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def positive_int(text):
    """`argparse` type: an integer >= 1."""
    return _int_at_least(text, 1, "a positive integer")


def nonnegative_int(text):
    """`argparse` type: an integer >= 0."""
    return _int_at_least(text, 0, "an integer >= 0")


def _model_label(path):
    """How the summaries name the model of ``--model``."""
    return os.path.basename(path) if path else "bundled ipvae_k512"


def _pyplot():
    """`matplotlib.pyplot` on the Agg backend: the command line never opens windows."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


@contextlib.contextmanager
def _no_runaway_warnings():
    """
    Silence `RunawayWarning` inside: the commands count runaway patches in
    their summaries (infer, simulate, stats) instead of printing a warning
    with a code line.
    """
    from .results import RunawayWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RunawayWarning)
        yield


def _print_json(doc):
    """``doc`` as one line of JSON on stdout (numpy values allowed)."""
    sys.stdout.write(json.dumps(doc, default=_json_default) + "\n")


def add_model_arguments(parser):
    """``--model``: a model ``.npz`` (default: the bundled reference model)."""
    parser.add_argument("--model", metavar="F.npz",
                        help="model parameters (.npz); default: the bundled "
                             "K=512 model trained with the official code")


def add_input_arguments(parser):
    """``--n-patches`` | ``--patches``, ``--images``, ``--seed``."""
    from .data import HELD_OUT_IMAGES
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--n-patches", type=positive_int, metavar="N",
                       help=f"number of whitened 16x16 patches cut from bundled "
                            f"images (default {DEFAULT_N_PATCHES})")
    group.add_argument("--patches", metavar="FILE",
                       help="your own patches: .npy, or .npz with one array (or "
                            "one under the key 'patches'), shape (n, 256) or "
                            "(n, 16, 16)")
    parser.add_argument("--images", default=",".join(HELD_OUT_IMAGES),
                        metavar="NAMES",
                        help="comma-separated bundled images to cut patches from "
                             "(default: the held-out '%(default)s'; see "
                             "ipvae_snn.data.available_images())")
    parser.add_argument("--seed", type=nonnegative_int, default=0,
                        help="seed of the patch positions and of the spike "
                             "sampling (default %(default)s)")


def add_output_arguments(parser):
    """``--out``, ``--figure``, ``--json``, ``--quiet``."""
    parser.add_argument("--out", metavar="results.npz",
                        help="save the result (counts at the summary windows, "
                             "per-window R², zero fraction, ...) as .npz")
    parser.add_argument("--figure", metavar="F.png",
                        help="write a figure of patches vs reconstructions "
                             "(format from the extension: .png, .pdf, .svg)")
    parser.add_argument("--json", action="store_true",
                        help="print the summary as one JSON object on stdout "
                             "(nothing else goes to stdout)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar")


def load_model(path):
    """The parameters in ``path``, or the bundled model when ``path`` is None."""
    from .params import IPVAEParams
    return IPVAEParams.default() if path is None else IPVAEParams.load(path)


def load_input_patches(args, params):
    """
    The input patches of ``args``: ``--patches`` FILE, or ``--n-patches`` cut
    from ``--images`` with ``--seed``. Returns ``(patches, description)``.
    """
    from .data import load_patches, natural_patches
    if args.patches is not None:
        x = load_patches(args.patches, params.n_pixels)
        return x, f"'{args.patches}'"
    side = int(round(np.sqrt(params.n_pixels)))
    if side * side != params.n_pixels:
        raise CLIError(f"the model expects {params.n_pixels} pixels, not a square "
                       f"patch; pass --patches")
    images = [s.strip() for s in args.images.split(",") if s.strip()]
    n = DEFAULT_N_PATCHES if args.n_patches is None else args.n_patches
    x = natural_patches(images, n_patches=n, seed=args.seed, patch_size=side)
    return x, f"{', '.join(images)}; seed {args.seed}"


def record_windows_for(n_windows, extra=FIGURE_WINDOWS):
    """Windows to record: the summary windows plus those the figure shows."""
    from .results import summary_windows
    windows = set(summary_windows(n_windows).tolist())
    windows.update(w for w in extra if 0 <= w < n_windows)
    return np.array(sorted(windows), dtype=np.int64)


_COLUMNS = (  # key, header, format spec
    ("T", "T", "d"),
    ("r2", "R² mean", ".4f"),
    ("r2_median", "R² median", ".4f"),
    ("zero_fraction", "zero frac", ".4f"),
    ("mean_count", "count/neuron", ".4f"),
    ("mean_count_1_to_T", "mean 1..T", ".4f"),
    ("mse", "MSE/patch", ".2f"),
)


def format_summary_table(rows):
    """
    The rows of `InferenceResult.summary` as an aligned text table: mean and
    median R², zero-count fraction, mean count per neuron per window at T and
    averaged over windows 1..T, squared error per patch.
    """
    cells = [[h for _, h, _ in _COLUMNS]]
    cells += [[format(row[key], spec) for key, _, spec in _COLUMNS] for row in rows]
    widths = [max(len(line[j]) for line in cells) for j in range(len(_COLUMNS))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths))
                     for line in cells)


def summary_dict(result, command, **extra):
    """The JSON summary: provenance, the summary rows and runaway counts."""
    events = result.runaway_events()
    out = dict(command=command, n_patches=int(result.n_patches),
               n_latents=int(result.params.n_latents),
               steps=int(result.n_windows - 1), n_windows=int(result.n_windows),
               realization=result.info.get("realization"),
               seed=result.info.get("seed"), dtype=result.info.get("dtype"),
               seconds=result.info.get("seconds"))
    out.update(extra)
    out["summary"] = result.summary()
    out["runaway"] = dict(n_patches=len({p for p, _, _ in events}),
                          n_neurons=len(events))
    return out


def check_output_arguments(args):
    """Fail on an unusable ``--figure`` format before any work is done."""
    if args.figure:
        from .plotting import check_figure_path
        check_figure_path(args.figure)


def report(result, args, command, header, **extra):
    """
    Write ``--out`` and ``--figure``, then print the summary: a table (and
    ``header``) on stdout, or with ``--json`` one JSON object.
    """
    if args.out:
        result.save(args.out)
    if args.figure:
        from .plotting import plot_reconstructions
        _pyplot().close(plot_reconstructions(result, path=args.figure))
    if args.json:
        _print_json(summary_dict(result, command, out=args.out, figure=args.figure,
                                 **extra))
        return
    print(header)
    print(format_summary_table(result.summary()))
    events = result.runaway_events()
    if events:
        print(f"runaway: {len({p for p, _, _ in events})} patch(es), "
              f"{len(events)} neuron(s) reached the upper clamp of u")
    for what, path in (("result", args.out), ("figure", args.figure)):
        if path:
            print(f"{what} written to {path}")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


# ------------------------------------------------------------------- infer
def add_infer_parser(subparsers):
    """``ipvae-snn infer``: the numpy reference algorithm."""
    p = subparsers.add_parser(
        "infer", help="iterative inference with the reference algorithm",
        description="Run T steps of iterative FOND inference (the numpy reference "
                    "algorithm, float32) on whitened 16x16 patches and print "
                    "reconstruction quality and spiking activity at a few steps.")
    p.add_argument("--steps", type=positive_int, default=DEFAULT_STEPS, metavar="T",
                   help="number of inference updates; metrics are read at window "
                        "T, as the paper's 'after T steps' (default %(default)s)")
    add_input_arguments(p)
    add_model_arguments(p)
    add_output_arguments(p)
    p.set_defaults(func=run_infer)
    return p


def run_infer(args):
    """Run ``ipvae-snn infer``."""
    from .reference import infer

    check_output_arguments(args)
    params = load_model(args.model)
    x, source = load_input_patches(args, params)
    n_windows = args.steps + 1
    with _no_runaway_warnings():
        result = infer(params, x, n_windows, seed=args.seed,
                       record_windows=record_windows_for(n_windows),
                       progress=False if args.quiet else None)
    header = (f"{PROG} infer: {result.n_patches} patches ({source}), model "
              f"{_model_label(args.model)} (K={params.n_latents}), {args.steps} "
              f"steps, {result.info['seconds']:.2f} s")
    report(result, args, "infer", header, model=args.model, patches=args.patches)
    return 0


# ---------------------------------------------------------------- simulate
def add_simulate_parser(subparsers):
    """``ipvae-snn simulate``: the Brian2 spiking network."""
    p = subparsers.add_parser(
        "simulate", help="inference by the Brian2 spiking network",
        description="Run the iP-VAE as a Brian2 spiking network on whitened 16x16 "
                    "patches: T windows of FOND inference after the first (prior) "
                    "window, spike counts per window as posterior samples. Prints "
                    "the same summary as 'infer' and can draw a raster and "
                    "membrane-potential traces.")
    p.add_argument("--windows", type=positive_int, default=DEFAULT_STEPS, metavar="T",
                   help="windows after the first; metrics are read at window T, "
                        "like 'infer --steps T' (default %(default)s)")
    p.add_argument("--device", default="cpp_standalone",
                   choices=("cpp_standalone", "runtime", "cuda_standalone"),
                   help="Brian2 device; standalone networks are compiled once and "
                        "cached (default %(default)s)")
    p.add_argument("--realization", default="window", choices=("window", "continuous"),
                   help="'window': one exact FOND step per window; 'continuous': "
                        "escape-noise neurons with continuous membranes "
                        "(default %(default)s)")
    p.add_argument("--window-ms", type=float, default=100.0, metavar="MS",
                   help="window length T_w in ms (default %(default)s)")
    p.add_argument("--dt-ms", type=float, default=None, metavar="MS",
                   help="time step of the continuous realization (default T_w/100)")
    p.add_argument("--max-rate", type=float, default=None, metavar="HZ",
                   help="opt-in refractory-like bound on firing rates, in spikes/s")
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                   help="precision of the compiled network (default %(default)s)")
    p.add_argument("--jobs", type=positive_int, default=None,
                   help="processes for standalone runs (default: CPU count)")
    p.add_argument("--raster", metavar="F.png",
                   help="write a spike raster of the first patch")
    p.add_argument("--traces", metavar="F.png",
                   help="write membrane-potential traces of the first patch's most "
                        "driven neurons")
    add_input_arguments(p)
    add_model_arguments(p)
    add_output_arguments(p)
    p.set_defaults(func=run_simulate)
    return p


def run_simulate(args):
    """Run ``ipvae-snn simulate``."""
    from brian2 import Hz, ms

    from .network import SpikingIPVAE

    check_output_arguments(args)
    for path in (args.raster, args.traces):
        if path:
            from .plotting import check_figure_path
            check_figure_path(path)
    params = load_model(args.model)
    x, source = load_input_patches(args, params)
    n_traced = 5
    # the neurons the first patch drives hardest: the ones worth watching
    traced = np.sort(np.argsort(params.feedforward(x[0]) - params.bias)[-n_traced:])
    try:
        # The traced neurons are part of the compiled program: record them in
        # every run so that the batch and the figure run share one build.
        net = SpikingIPVAE(
            params, realization=args.realization, device=args.device,
            window=args.window_ms * ms,
            dt=None if args.dt_ms is None else args.dt_ms * ms,
            max_rate=None if args.max_rate is None else args.max_rate * Hz,
            record_u=traced, dtype=args.dtype, n_jobs=args.jobs)
    except RuntimeError as exc:                  # no compiler, no brian2cuda
        raise CLIError(str(exc)) from None
    n_windows = args.windows + 1
    progress = False if args.quiet else None
    with _no_runaway_warnings():
        result = net.run(x, n_windows, seed=args.seed,
                         record_windows=record_windows_for(n_windows),
                         progress=progress)
        if args.raster or args.traces:
            # Every window of the first patch, without storing every window of
            # the batch. The first patch of a run draws the same random stream
            # whatever follows it, so these are the batch's own spikes.
            first = net.run(x[:1], n_windows, seed=args.seed, progress=False)
    if args.raster or args.traces:
        from .plotting import plot_membrane_traces, plot_raster
        plt = _pyplot()
        if args.raster:
            plt.close(plot_raster(first, patch=0, path=args.raster))
        if args.traces:
            plt.close(plot_membrane_traces(first, patch=0, path=args.traces))
    timing = result.info["timing"]
    header = (f"{PROG} simulate: {result.n_patches} patches ({source}), model "
              f"{_model_label(args.model)} (K={params.n_latents}), "
              f"{args.realization} realization on {args.device}, {args.windows} "
              f"windows of {args.window_ms:g} ms, {timing['total_s']:.2f} s "
              f"({timing['n_runs']} run(s)"
              + (f", compiled in {timing['build_s']:.1f} s" if timing.get("compiled")
                 else "") + ")")
    report(result, args, "simulate", header, model=args.model, patches=args.patches,
           device=args.device, window_ms=args.window_ms, timing=timing)
    for what, path in (("raster", args.raster), ("traces", args.traces)):
        if path and not args.json:
            print(f"{what} written to {path}")
    return 0


#: Functions that add one subcommand each; append yours.
SUBCOMMANDS = [add_infer_parser, add_simulate_parser]


# ------------------------------------------------------------------- stats
#: Defaults of ``ipvae-snn stats``: 30 patches x 20 trials x 101 windows take
#: about a minute on two cores with a compiled network.
STATS_N_PATCHES = 30
STATS_TRIALS = 20
STATS_WINDOWS = 101


def add_stats_parser(subparsers):
    """``ipvae-snn stats``: the network's spike statistics beside V1 ranges."""
    from .data import HELD_OUT_IMAGES
    p = subparsers.add_parser(
        "stats", help="spike statistics of the spiking network beside V1 ranges",
        description="Run the spiking network on repeated trials of natural patches "
                    "and on gratings (16 orientations x 8 phases), and print its "
                    "spike statistics (Fano factor, noise correlations, ISI CV and "
                    "LV, sparseness, rate distribution, orientation tuning) beside "
                    "the ranges reported for primary visual cortex, with sources.")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--images", default=",".join(HELD_OUT_IMAGES), metavar="NAMES",
                        help="comma-separated bundled images to cut patches from "
                             "(default: the held-out '%(default)s')")
    source.add_argument("--patches", metavar="FILE",
                        help="your own patches instead: .npy, or .npz with one "
                             "array, shape (n, 256) or (n, 16, 16)")
    p.add_argument("--n-patches", type=positive_int, metavar="N",
                   help=f"distinct patches, each shown --trials times (default "
                        f"{STATS_N_PATCHES}; with --patches, the first N of the file)")
    p.add_argument("--trials", type=positive_int, default=STATS_TRIALS,
                   help="repeated trials per patch, >= 2 (default %(default)s)")
    p.add_argument("--windows", type=positive_int, default=STATS_WINDOWS, metavar="N",
                   help="windows of 100 ms per trial, >= 33; windows 16..N-1 are "
                        "analysed, after the transient from the prior "
                        "(default %(default)s)")
    p.add_argument("--count-windows", type=positive_int, default=5, metavar="W",
                   help="windows per spike count of the Fano factor and noise "
                        "correlations (default %(default)s: 0.5 s)")
    p.add_argument("--device", default="cpp_standalone",
                   choices=("cpp_standalone", "runtime", "cuda_standalone"),
                   help="Brian2 device (default %(default)s; compiled once, cached)")
    p.add_argument("--realization", default="window", choices=("window", "continuous"),
                   help="spiking realization (default %(default)s)")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the patch positions and of the network "
                        "(default %(default)s)")
    add_model_arguments(p)
    p.add_argument("--figure", metavar="F.png",
                   help="write the network-vs-cortex figure (format from the "
                        "extension)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout (rows of the table, all "
                        "network values, settings)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_stats)
    return p


def _finite(obj):
    """``obj`` with non-finite floats replaced by None (valid JSON)."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


def run_stats(args):
    """Run ``ipvae-snn stats``."""
    import functools
    import time

    from . import stats
    from .network import SpikingIPVAE

    check_output_arguments(args)
    if args.trials < 2:
        raise CLIError(f"--trials must be at least 2, got {args.trials}")
    if args.windows < 33:
        raise CLIError(f"--windows must be at least 33 (windows 16 on are analysed), "
                       f"got {args.windows}")
    if args.count_windows > args.windows - 16:
        raise CLIError(f"--count-windows ({args.count_windows}) must not exceed the "
                       f"{args.windows - 16} analysed windows")
    params = load_model(args.model)
    n_patches = args.n_patches
    if args.patches is None and n_patches is None:
        args.n_patches = STATS_N_PATCHES
    x, source = load_input_patches(args, params)
    if args.patches is not None and n_patches is not None:
        x = x[:n_patches]
    try:
        net = SpikingIPVAE(params, realization=args.realization, device=args.device)
    except RuntimeError as exc:                  # no compiler, no brian2cuda
        raise CLIError(str(exc)) from None
    run = functools.partial(net.run, progress=False if args.quiet else None)
    start = time.perf_counter()
    with _no_runaway_warnings():
        exp = stats.cortex_experiment(run, x, n_trials=args.trials,
                                      n_windows=args.windows,
                                      count_windows=args.count_windows,
                                      seed=args.seed)
    seconds = time.perf_counter() - start
    rows = stats.cortex_table(exp.values)
    runaway = {name: len({p for p, _, _ in res.runaway_events()})
               for name, res in (("natural", exp.natural), ("gratings", exp.gratings))}
    if args.figure:
        from .plotting import plot_cortex_comparison
        _pyplot().close(plot_cortex_comparison(rows, path=args.figure))
    if args.json:
        doc = dict(command="stats", model=args.model, patches=args.patches,
                   source=source, n_patches=int(x.shape[0]), trials=args.trials,
                   n_windows=args.windows, count_windows=args.count_windows,
                   realization=args.realization, device=args.device, seed=args.seed,
                   n_gratings=int(exp.gratings.n_patches), seconds=seconds,
                   values=exp.values, rows=rows,
                   runaway_patches=runaway, figure=args.figure)
        _print_json(_finite(doc))
        return 0
    print(f"{PROG} stats: model {_model_label(args.model)} (K={params.n_latents}), "
          f"{args.realization} realization on {args.device}; {x.shape[0]} patches "
          f"({source}) x {args.trials} trials x {args.windows} windows of "
          f"{exp.natural.info.get('window_s', 0.1) * 1e3:g} ms, windows 16-"
          f"{args.windows - 1} analysed; {exp.gratings.n_patches} gratings; "
          f"{seconds:.1f} s")
    print(stats.format_cortex_table(rows))
    if any(runaway.values()):
        print(f"runaway: {runaway['natural']} of {exp.natural.n_patches} trials and "
              f"{runaway['gratings']} gratings drove neurons to the upper clamp of u")
    if args.figure:
        print(f"figure written to {args.figure}")
    return 0


SUBCOMMANDS.append(add_stats_parser)


# ----------------------------------------------------------------- convert
def add_convert_parser(subparsers):
    """``ipvae-snn convert``: an official checkpoint folder to a model ``.npz``."""
    p = subparsers.add_parser(
        "convert", help="convert an official iP-VAE checkpoint folder to a model .npz",
        description="Read a checkpoint folder written by the paper's official code "
                    "(ConfigPoisVAE.json and the trainer's .pt file) and write the "
                    "model as a .npz that every ipvae-snn command accepts (--model). "
                    "Needs PyTorch: pip install \"ipvae-snn[official]\".")
    p.add_argument("folder", metavar="FOLDER", help="the official checkpoint folder")
    p.add_argument("out", metavar="OUT.npz", help="model file to write (atomically)")
    p.add_argument("--checkpoint", metavar="N|FILE",
                   help="which .pt file when the folder holds several: its checkpoint "
                        "number or file name (default: the highest number)")
    p.add_argument("--ema", action="store_true",
                   help="convert the exponential-moving-average weights (model_ema)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="unpickle the .pt file fully (only for files from a source "
                        "you trust; by default only tensors and numpy scalars load)")
    p.add_argument("--json", action="store_true",
                   help="print a summary of the model as one JSON object")
    p.set_defaults(func=run_convert)
    return p


def run_convert(args):
    """Run ``ipvae-snn convert``."""
    from .official import from_official
    checkpoint = args.checkpoint
    if checkpoint is not None and checkpoint.isdigit():
        checkpoint = int(checkpoint)
    try:
        params = from_official(args.folder, checkpoint=checkpoint, use_ema=args.ema,
                               trust_pickle=args.trust_pickle)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    params.save(args.out)
    doc = dict(command="convert", folder=args.folder, out=args.out,
               checkpoint_file=str(params.metadata.get("official_checkpoint")),
               n_pixels=params.n_pixels, n_latents=params.n_latents, lr=params.lr,
               clamp_u=params.clamp_u, clamp_du=params.clamp_du,
               sigma_range=[float(params.sigma.min()), float(params.sigma.max())],
               bias_range=[float(params.bias.min()), float(params.bias.max())],
               u_init_mean=float(params.u_init.mean()))
    if args.json:
        _print_json(doc)
        return 0
    print(f"{PROG} convert: {args.folder} ({doc['checkpoint_file']}) -> {args.out}")
    print(f"  {params.n_latents} latents x {params.n_pixels} pixels, lr {params.lr:.5g}, "
          f"clamps u {params.clamp_u:g} / du {params.clamp_du:g}, sigma "
          f"{doc['sigma_range'][0]:.4g}..{doc['sigma_range'][1]:.4g}, b "
          f"{doc['bias_range'][0]:.4g}..{doc['bias_range'][1]:.4g}")
    return 0


SUBCOMMANDS.append(add_convert_parser)


# --------------------------------------------------------------------- fit
#: Defaults of ``ipvae-snn fit`` on bundled images: 25,600 patches x 4 epochs
#: (400 batches of 256), about a minute on two cores.
FIT_N_PATCHES = 25600
FIT_EPOCHS = 4
#: Held-out patches (bundled held-out images) scored after a fit.
FIT_EVAL_PATCHES = 500


def add_fit_parser(subparsers):
    """``ipvae-snn fit``: learn a dictionary from spikes (`SpikingDictionaryLearner`)."""
    from .data import TRAIN_IMAGES
    p = subparsers.add_parser(
        "fit", help="learn a model from the network's spikes",
        description="Learn an iP-VAE (dictionary, prior, spike cost) by alternating "
                    "spiking inference on mini-batches with offline updates from the "
                    "recorded spike counts, on whitened patches of bundled images or "
                    "your own; write the model (.npz) and a figure of the dictionary. "
                    "A fit with --checkpoint continues after an interruption with "
                    "--resume.")
    p.add_argument("--out", required=True, metavar="MODEL.npz",
                   help="where to write the learnt model (atomically)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--patches", metavar="FILE",
                        help="your own training patches: .npy, or .npz with one array "
                             "(or one under 'patches'), shape (n, pixels) or (n, h, w); "
                             "z-score them like the bundled ones")
    source.add_argument("--n-patches", type=positive_int, metavar="N",
                        help=f"training patches cut from --images (default "
                             f"{FIT_N_PATCHES})")
    p.add_argument("--images", default=",".join(TRAIN_IMAGES), metavar="NAMES",
                   help="comma-separated bundled images to cut training patches from "
                        "(default: the reference model's training images)")
    p.add_argument("--init", default="random", metavar="random|default|F.npz",
                   help="starting model: a random dictionary (default), the bundled "
                        "model, or a model file (warm start)")
    p.add_argument("--n-components", type=positive_int, default=None, metavar="K",
                   help="latent neurons (default: 512, or the --init model's)")
    p.add_argument("--epochs", type=positive_int, default=FIT_EPOCHS,
                   help="passes over the patches (default %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--learning-rate", type=float, default=5e-3,
                   help="Adam step on the dictionary (default %(default)s)")
    p.add_argument("--target-rate", type=float, default=None, metavar="R",
                   help="adapt the spike cost so that the mean count per neuron in "
                        "window --t-train is R (default: keep the cost)")
    p.add_argument("--t-train", type=positive_int, default=16, metavar="T",
                   help="read-out windows 1..T per batch (default %(default)s)")
    p.add_argument("--learn-sigma", action="store_true",
                   help="also fit the decoder std by its closed form")
    p.add_argument("--beta", type=float, default=0.0,
                   help="weight of the one-step KL term (default %(default)s)")
    p.add_argument("--backend", default="reference", choices=("reference", "network"),
                   help="inference by the numpy reference algorithm (default) or the "
                        "Brian2 network (same dynamics, slower)")
    p.add_argument("--device", default="runtime",
                   choices=("runtime", "cpp_standalone", "cuda_standalone"),
                   help="Brian2 device of --backend network (default %(default)s)")
    p.add_argument("--checkpoint", metavar="F.npz",
                   help="write a checkpoint here every --checkpoint-every batches")
    p.add_argument("--checkpoint-every", type=positive_int, default=100, metavar="N")
    p.add_argument("--resume", action="store_true",
                   help="continue the fit saved in --checkpoint (same data and "
                        "settings)")
    p.add_argument("--figure", metavar="F.png",
                   help="dictionary figure (default: MODEL_dictionary.png beside "
                        "--out)")
    p.add_argument("--no-figure", action="store_true", help="write no figure")
    p.add_argument("--eval-patches", type=nonnegative_int, default=FIT_EVAL_PATCHES,
                   metavar="N",
                   help="score the model on N patches of the held-out bundled images "
                        "(16x16 models only; 0: skip; default %(default)s)")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the patches, the random dictionary and the spike "
                        "sampling (default %(default)s)")
    p.add_argument("--json", action="store_true",
                   help="print the summary as one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_fit)
    return p


def _fit_figure_path(args):
    if args.no_figure:
        return None
    if args.figure:
        return args.figure
    stem = args.out[:-4] if args.out.lower().endswith(".npz") else args.out
    return f"{stem}_dictionary.png"


def run_fit(args):
    """Run ``ipvae-snn fit``."""
    import time

    from .data import HELD_OUT_IMAGES, load_patches, natural_patches
    from .learning import SpikingDictionaryLearner
    from .params import IPVAEParams

    figure = _fit_figure_path(args)
    if figure:
        from .plotting import check_figure_path
        check_figure_path(figure)
    if args.resume and not args.checkpoint:
        raise CLIError("--resume needs --checkpoint (the file to continue from)")
    init = args.init
    if init not in ("random", "default"):
        init = IPVAEParams.load(init)
    if args.patches is not None:
        arr = load_patches(args.patches, n_pixels=_patch_pixels(args.patches))
        x, source = arr, f"'{args.patches}'"
    else:
        images = [s.strip() for s in args.images.split(",") if s.strip()]
        n = FIT_N_PATCHES if args.n_patches is None else args.n_patches
        x = natural_patches(images, n_patches=n, seed=args.seed)
        source = f"{', '.join(images)}; seed {args.seed}"
    k = args.n_components
    if k is None:
        k = init.n_latents if isinstance(init, IPVAEParams) else 512
    learner = SpikingDictionaryLearner(
        n_components=k, init=init, backend=args.backend, device=args.device,
        t_train=args.t_train, batch_size=args.batch_size, max_iter=args.epochs,
        learning_rate=args.learning_rate, learn_sigma=args.learn_sigma,
        beta=args.beta, target_rate=args.target_rate, checkpoint=args.checkpoint,
        checkpoint_every=args.checkpoint_every, random_state=args.seed,
        progress=False if (args.quiet or args.json) else None)
    start = time.perf_counter()
    try:
        learner.fit(x, resume=args.resume)
    except KeyboardInterrupt:
        if args.checkpoint:
            sys.stderr.write(f"{PROG}: the last checkpoint is in {args.checkpoint}; "
                             f"continue with the same command and --resume\n")
        raise
    seconds = time.perf_counter() - start
    params = learner.params_
    params.save(args.out)
    if figure:
        from .plotting import plot_dictionary
        _pyplot().close(plot_dictionary(params, order="orientation", path=figure))
    hist = learner.history_
    tail = slice(-max(1, len(hist["r2"]) // 10), None)
    doc = dict(command="fit", out=args.out, figure=figure, source=source,
               n_patches=int(x.shape[0]), n_pixels=int(x.shape[1]),
               n_latents=int(params.n_latents), n_batches=int(learner.n_batches_),
               epochs=int(learner.n_iter_), seconds=seconds,
               train=dict(windows=args.t_train,
                          r2=float(np.nanmean(hist["r2"][tail])),
                          r2_median=float(np.nanmean(hist["r2_median"][tail])),
                          zero_fraction=float(np.nanmean(hist["zero_fraction"][tail])),
                          mean_count=float(np.nanmean(hist["mean_count"][tail]))),
               held_out=None)
    side = int(round(np.sqrt(params.n_pixels)))
    if args.eval_patches and args.patches is None and side * side == params.n_pixels:
        from .reference import infer
        x_eval = natural_patches(HELD_OUT_IMAGES, n_patches=args.eval_patches,
                                 seed=args.seed, patch_size=side)
        t = args.t_train
        with _no_runaway_warnings():
            res = infer(params, x_eval, t + 1, seed=args.seed, record_windows=[t],
                        progress=False)
        doc["held_out"] = dict(images=list(HELD_OUT_IMAGES), n_patches=args.eval_patches,
                               T=t, r2=float(np.nanmean(res.r2[:, t])),
                               zero_fraction=float(res.zero_fraction[:, t].mean()),
                               mean_count=float(res.mean_count[:, t].mean()))
    if args.json:
        _print_json(_finite(doc))
        return 0
    print(f"{PROG} fit: {doc['n_patches']} patches ({source}), K={params.n_latents}, "
          f"{doc['n_batches']} batches in {seconds:.1f} s")
    tr = doc["train"]
    print(f"  training (last 10% of batches), window {tr['windows']}: R² mean "
          f"{tr['r2']:.4f}, median {tr['r2_median']:.4f}, zero frac "
          f"{tr['zero_fraction']:.4f}; count/neuron {tr['mean_count']:.4f} (windows "
          f"1..{tr['windows']})")
    if doc["held_out"]:
        ho = doc["held_out"]
        print(f"  held-out ({', '.join(ho['images'])}; {ho['n_patches']} patches), "
              f"window {ho['T']}: R² {ho['r2']:.4f}, zero frac "
              f"{ho['zero_fraction']:.4f}, count/neuron {ho['mean_count']:.4f}")
    print(f"model written to {args.out}")
    if figure:
        print(f"figure written to {figure}")
    return 0


def _patch_pixels(path):
    """Pixels per patch of a user file: its last axis, or h*w for (n, h, w)."""
    from ._io import load_array_file
    arr = load_array_file(path, default_key="patches", what="patches")
    if arr.ndim == 3:
        return int(arr.shape[1] * arr.shape[2])
    if arr.ndim == 2:
        return int(arr.shape[1])
    raise CLIError(f"patches file '{path}': expected shape (n, pixels) or (n, h, w), "
                   f"got {arr.shape}")


SUBCOMMANDS.append(add_fit_parser)


def build_parser():
    """The ``ipvae-snn`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="The iterative Poisson VAE (iP-VAE) as a spiking network.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def _message(exc):
    # KeyError's str() adds quotes around its message.
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return str(exc.args[0])
    return str(exc)


def main(argv=None):
    """Entry point of the ``ipvae-snn`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, KeyError, OSError) as exc:
        first = _message(exc).strip().splitlines() or [type(exc).__name__]
        sys.stderr.write(f"{PROG}: error: {first[0]}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
