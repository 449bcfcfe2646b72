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
import json
import sys

import numpy as np

from . import __version__

__all__ = ["main", "build_parser", "SUBCOMMANDS", "CLIError"]

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
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _nonnegative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def add_model_arguments(parser):
    """``--model``: a model ``.npz`` (default: the bundled reference model)."""
    parser.add_argument("--model", metavar="F.npz",
                        help="model parameters (.npz); default: the bundled "
                             "K=512 model trained with the official code")


def add_input_arguments(parser):
    """``--n-patches`` | ``--patches``, ``--images``, ``--seed``."""
    from .data import HELD_OUT_IMAGES
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--n-patches", type=_positive_int, metavar="N",
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
    parser.add_argument("--seed", type=_nonnegative_int, default=0,
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
        import matplotlib
        matplotlib.use("Agg")        # the command line never opens windows
        import matplotlib.pyplot as plt

        from .plotting import plot_reconstructions
        fig = plot_reconstructions(result, path=args.figure)
        plt.close(fig)
    if args.json:
        doc = summary_dict(result, command, out=args.out, figure=args.figure,
                           **extra)
        sys.stdout.write(json.dumps(doc, default=_json_default) + "\n")
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
    p.add_argument("--steps", type=_positive_int, default=DEFAULT_STEPS, metavar="T",
                   help="number of inference updates; metrics are read at window "
                        "T, as the paper's 'after T steps' (default %(default)s)")
    add_input_arguments(p)
    add_model_arguments(p)
    add_output_arguments(p)
    p.set_defaults(func=run_infer)
    return p


def run_infer(args):
    """Run ``ipvae-snn infer``."""
    import os
    import warnings

    from .reference import infer
    from .results import RunawayWarning

    check_output_arguments(args)
    params = load_model(args.model)
    x, source = load_input_patches(args, params)
    n_windows = args.steps + 1
    with warnings.catch_warnings():
        # Reported in the summary instead of as a warning with a code line.
        warnings.simplefilter("ignore", RunawayWarning)
        result = infer(params, x, n_windows, seed=args.seed,
                       record_windows=record_windows_for(n_windows),
                       progress=False if args.quiet else None)
    model = os.path.basename(args.model) if args.model else "bundled ipvae_k512"
    header = (f"{PROG} infer: {result.n_patches} patches ({source}), model "
              f"{model} (K={params.n_latents}), {args.steps} steps, "
              f"{result.info['seconds']:.2f} s")
    report(result, args, "infer", header, model=args.model, patches=args.patches)
    return 0


#: Functions that add one subcommand each; append yours.
SUBCOMMANDS = [add_infer_parser]


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
    p.add_argument("--n-patches", type=_positive_int, metavar="N",
                   help=f"distinct patches, each shown --trials times (default "
                        f"{STATS_N_PATCHES}; with --patches, the first N of the file)")
    p.add_argument("--trials", type=_positive_int, default=STATS_TRIALS,
                   help="repeated trials per patch, >= 2 (default %(default)s)")
    p.add_argument("--windows", type=_positive_int, default=STATS_WINDOWS, metavar="N",
                   help="windows of 100 ms per trial, >= 33; windows 16..N-1 are "
                        "analysed, after the transient from the prior "
                        "(default %(default)s)")
    p.add_argument("--count-windows", type=_positive_int, default=5, metavar="W",
                   help="windows per spike count of the Fano factor and noise "
                        "correlations (default %(default)s: 0.5 s)")
    p.add_argument("--device", default="cpp_standalone",
                   choices=("cpp_standalone", "runtime", "cuda_standalone"),
                   help="Brian2 device (default %(default)s; compiled once, cached)")
    p.add_argument("--realization", default="window", choices=("window", "continuous"),
                   help="spiking realization (default %(default)s)")
    p.add_argument("--seed", type=_nonnegative_int, default=0,
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
    import os
    import time
    import warnings

    from . import stats
    from .network import SpikingIPVAE
    from .results import RunawayWarning

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
    with warnings.catch_warnings():
        # Reported in the summary instead of as a warning with a code line.
        warnings.simplefilter("ignore", RunawayWarning)
        exp = stats.cortex_experiment(run, x, n_trials=args.trials,
                                      n_windows=args.windows,
                                      count_windows=args.count_windows,
                                      seed=args.seed)
    seconds = time.perf_counter() - start
    rows = stats.cortex_table(exp.values)
    runaway = {name: len({p for p, _, _ in res.runaway_events()})
               for name, res in (("natural", exp.natural), ("gratings", exp.gratings))}
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")        # the command line never opens windows
        import matplotlib.pyplot as plt

        from .plotting import plot_cortex_comparison
        plt.close(plot_cortex_comparison(rows, path=args.figure))
    model = os.path.basename(args.model) if args.model else "bundled ipvae_k512"
    if args.json:
        doc = dict(command="stats", model=args.model, patches=args.patches,
                   source=source, n_patches=int(x.shape[0]), trials=args.trials,
                   n_windows=args.windows, count_windows=args.count_windows,
                   realization=args.realization, device=args.device, seed=args.seed,
                   n_gratings=int(exp.gratings.n_patches), seconds=seconds,
                   values=exp.values, rows=rows,
                   runaway_patches=runaway, figure=args.figure)
        sys.stdout.write(json.dumps(_finite(doc), default=_json_default) + "\n")
        return 0
    print(f"{PROG} stats: model {model} (K={params.n_latents}), {args.realization} "
          f"realization on {args.device}; {x.shape[0]} patches ({source}) x "
          f"{args.trials} trials x {args.windows} windows of "
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
