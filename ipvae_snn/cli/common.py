"""
What the subcommands of ``ipvae-snn`` share: argument types and groups, the
model and the input patches, the summary table and JSON, the output files.

Every subcommand that runs inference loads the model (`load_model`) and its
patches (`load_input_patches`), records the summary windows
(`record_windows_for`) and ends with `report`.
"""

import argparse
import contextlib
import logging
import os
import sys
import warnings

import numpy as np

from .._equations import REALIZATIONS
from ..defaults import DEFAULT_WINDOW_S, FIGURE_WINDOWS
from ..io import json_dumps
from ..validation import InputError

__all__ = ["PROG", "CLIError", "positive_int", "nonnegative_int", "positive_float",
           "nonnegative_float", "add_model_arguments", "add_input_arguments",
           "add_output_arguments", "add_inference_arguments", "add_network_arguments",
           "add_images_argument", "add_strict_argument", "check_patch_scale",
           "load_model",
           "load_input_patches", "record_windows_for", "format_summary_table",
           "summary_dict", "check_output_arguments", "check_outputs",
           "check_figure_paths", "report",
           "check_distinct_paths", "input_files",
           "print_json", "pyplot", "no_runaway_warnings", "model_label", "warn",
           "DEFAULT_N_PATCHES", "DEFAULT_STEPS"]

PROG = "ipvae-snn"
#: Patches used when neither --n-patches nor --patches is given: enough for
#: stable means (R² to about ±0.01), small enough for a demo of a few seconds.
DEFAULT_N_PATCHES = 500
DEFAULT_STEPS = 64


class CLIError(InputError):
    """A user error found by the command line: printed as one line, exit status 2."""


# ------------------------------------------------------------ argument types
def _number_at_least(text, cast, minimum, strict, expected):
    try:
        value = cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not np.isfinite(value) or value < minimum or (strict and value == minimum):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def positive_int(text):
    """`argparse` type: an integer >= 1."""
    return _number_at_least(text, int, 1, False, "a positive integer")


def nonnegative_int(text):
    """`argparse` type: an integer >= 0."""
    return _number_at_least(text, int, 0, False, "an integer >= 0")


def positive_float(text):
    """`argparse` type: a finite number > 0."""
    return _number_at_least(text, float, 0.0, True, "a positive number")


def nonnegative_float(text):
    """`argparse` type: a finite number >= 0."""
    return _number_at_least(text, float, 0.0, False, "a number >= 0")


# ------------------------------------------------------------ argument groups
def add_model_arguments(parser):
    """``--model``: a bundled model's name or a model ``.npz`` (default: the default)."""
    from ..params import BUNDLED_MODELS, DEFAULT_MODEL_NAME
    parser.add_argument("--model", metavar="NAME|F.npz",
                        help=f"a bundled model ({', '.join(BUNDLED_MODELS)}) or a model "
                             f"file (.npz); default: the bundled '{DEFAULT_MODEL_NAME}' "
                             f"model (K=512, trained by this package on whitened "
                             f"natural-image patches)")


def add_images_argument(parser):
    """``--images``: image files or bundled images' names, comma-separated."""
    from ..data import HELD_OUT_IMAGES
    return parser.add_argument(
        "--images", default=",".join(HELD_OUT_IMAGES), metavar="FILES|NAMES",
        help="comma-separated photographs to cut whitened patches from, prepared "
             "like the models' training data: your own image files (PNG, JPEG, "
             "TIFF, at least 128x128 pixels) or bundled images (see "
             "ipvae_snn.data.available_images(); default: the held-out "
             "'%(default)s')")


def add_strict_argument(parser):
    """``--strict``: refuse inputs far from the model's training scale."""
    parser.add_argument("--strict", action="store_true",
                        help="refuse (exit 2) input patches far from the scale of "
                             "the model's training data instead of warning, e.g. "
                             "raw 0-255 pixels (ipvae_snn.data.check_input_scale)")


def add_input_arguments(parser):
    """``--n-patches`` | ``--patches``, ``--images``, ``--seed``, ``--strict``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--n-patches", type=positive_int, metavar="N",
                       help=f"number of whitened 16x16 patches cut from bundled "
                            f"images (default {DEFAULT_N_PATCHES})")
    group.add_argument("--patches", metavar="FILE",
                       help="your own patches: .npy, or .npz with one array (or "
                            "one under the key 'patches'), shape (n, 256) or "
                            "(n, 16, 16)")
    add_images_argument(parser)
    parser.add_argument("--seed", type=nonnegative_int, default=0,
                        help="seed of the patch positions and of the spike "
                             "sampling (default %(default)s)")
    add_strict_argument(parser)


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


def add_inference_arguments(parser):
    """What every inference subcommand takes: inputs, model, outputs."""
    add_input_arguments(parser)
    add_model_arguments(parser)
    add_output_arguments(parser)


def add_network_arguments(parser, device="cpp_standalone", device_help=None,
                          realization_help=None, realization=True):
    """``--device`` (the registered devices) and, with ``realization``, ``--realization``."""
    from ..network import DEVICES
    parser.add_argument("--device", default=device, choices=DEVICES,
                        help=device_help or "Brian2 device; standalone networks are "
                                            "compiled once and cached (default "
                                            "%(default)s)")
    if not realization:
        return
    parser.add_argument("--realization", default="window", choices=REALIZATIONS,
                        help=realization_help or "spiking realization (default "
                                                 "%(default)s)")


# ------------------------------------------------------------- model, inputs
def model_label(path):
    """How the summaries name the model of ``--model``."""
    from ..params import BUNDLED_MODELS, DEFAULT_MODEL_NAME
    if path is None:
        return f"bundled {DEFAULT_MODEL_NAME}"
    return f"bundled {path}" if path in BUNDLED_MODELS else os.path.basename(path)


def load_model(path):
    """The model named or stored in ``path``, or the default model when None."""
    from ..params import default_params
    from ..params import load_model as _load
    return default_params() if path is None else _load(path)


def load_input_patches(args, params, limit=None):
    """
    The input patches of ``args``: ``--patches`` FILE (its first ``limit``
    patches), or ``--n-patches`` cut from ``--images`` (files or bundled
    names) with ``--seed``; their scale checked before any run
    (`check_patch_scale`). Returns ``(patches, description)``.
    """
    from ..data import load_patches, patches_from_images
    if args.patches is not None:
        x = load_patches(args.patches, params.n_pixels)[:limit]
        return check_patch_scale(args, params, x, f"--patches '{args.patches}'"), \
            f"'{args.patches}'"
    side = int(round(np.sqrt(params.n_pixels)))
    if side * side != params.n_pixels:
        raise CLIError(f"the model expects {params.n_pixels} pixels, not a square "
                       f"patch; pass --patches")
    images = _image_list(args)
    n = DEFAULT_N_PATCHES if args.n_patches is None else args.n_patches
    x = patches_from_images(images, n_patches=n, seed=args.seed, patch_size=side)
    return check_patch_scale(args, params, x, "--images"), \
        f"{', '.join(images)}; seed {args.seed}"


def _image_list(args):
    images = [s.strip() for s in (getattr(args, "images", None) or "").split(",")
              if s.strip()]
    if not images:
        raise CLIError("--images: name at least one image file or bundled image")
    return images


def check_patch_scale(args, params, x, name):
    """
    The input-scale check of `ipvae_snn.data.check_input_scale` before a run:
    one warning line naming the problem, or with ``--strict`` an error (exit
    2). The run itself then does not warn again (`no_runaway_warnings`).
    """
    from ..data import input_scale_problem
    from ..validation import InputScaleError
    problem = input_scale_problem(params, x, name=name)
    if problem is not None:
        if getattr(args, "strict", False):
            raise InputScaleError(problem + " (--strict)")
        warn(problem + " (--strict refuses such input)")
    return x


def record_windows_for(n_windows, extra=FIGURE_WINDOWS):
    """
    Windows to record: the summary windows plus those the figure shows
    (`ipvae_snn.results.figure_windows` picks among them, as for the API).
    """
    from ..results import summary_windows
    windows = set(summary_windows(n_windows).tolist())
    windows.update(w for w in extra if 0 <= w < n_windows)
    return np.array(sorted(windows), dtype=np.int64)


def window_ms(args):
    """The window length of ``args`` in ms (``--window-ms``, else the default)."""
    return getattr(args, "window_ms", None) or DEFAULT_WINDOW_S * 1e3


# --------------------------------------------------------------------- output
def pyplot():
    """`matplotlib.pyplot` on the Agg backend: the command line never opens windows."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


@contextlib.contextmanager
def no_runaway_warnings():
    """
    Silence `RunawayWarning` inside: the commands count runaway patches in
    their summaries (infer, simulate, stats) instead of printing a warning
    with a code line. `InputScaleWarning` too: the commands checked the
    input's scale before the run (`check_patch_scale`).
    """
    from ..data import InputScaleWarning
    from ..results import RunawayWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RunawayWarning)
        warnings.simplefilter("ignore", InputScaleWarning)
        yield


def warn(message):
    """
    A warning of the command line, on the logger ``ipvae_snn.cli``: one line
    ``ipvae-snn: warning: ...`` on stderr while `ipvae_snn.cli.main` runs
    (stdout stays clean for --json).
    """
    logging.getLogger("ipvae_snn.cli").warning(message)


def print_json(doc):
    """``doc`` as one line of valid JSON on stdout (numpy values allowed, NaN as null)."""
    sys.stdout.write(json_dumps(doc) + "\n")


def format_summary_table(rows):
    """
    The rows of `InferenceResult.summary` as an aligned text table
    (`ipvae_snn.results.format_summary_table`).
    """
    from ..results import format_summary_table as table
    return table(rows)


def runaway_patches(result):
    """How many patches of ``result`` drove a neuron to the upper clamp."""
    return len({p for p, _, _ in result.runaway_events()})


def summary_dict(result, command, **extra):
    """The JSON summary: provenance, the summary rows and runaway counts."""
    out = dict(command=command, n_patches=int(result.n_patches),
               n_latents=int(result.params.n_latents),
               steps=int(result.n_windows - 1), n_windows=int(result.n_windows),
               realization=result.info.get("realization"),
               seed=result.info.get("seed"), dtype=result.info.get("dtype"),
               seconds=result.info.get("seconds"))
    out.update(extra)
    out["summary"] = result.summary()
    # neurons at the upper clamp of u: runaway activity, unless max_count
    # bounded it (then "activity_capped" gives the cap)
    out["runaway"] = dict(n_patches=runaway_patches(result),
                          n_neurons=len(result.runaway_events()),
                          activity_capped=result.info.get("max_count"))
    return out


def check_figure_paths(*paths):
    """Fail on an unusable figure format before any work is done."""
    from ..plotting import check_figure_path
    for path in paths:
        if path:
            check_figure_path(path)


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:                    # one of them does not exist (yet)
        return False


def check_distinct_paths(inputs, outputs):
    """
    Refuse outputs that would overwrite an input or another output.

    Parameters
    ----------
    inputs, outputs : dict
        Option (as the user wrote it, e.g. ``"--patches"``) -> path or None.
        An input may be a folder: then each file in it counts.

    Raises
    ------
    CLIError
        Naming both options and the path.

    Examples
    --------
    >>> check_distinct_paths({"--patches": "p.npy"}, {"--out": "r.npz", "--figure": None})
    >>> check_distinct_paths({"--patches": "p.npy"}, {"--out": "./p.npy"})
    Traceback (most recent call last):
    ...
    ipvae_snn.cli.common.CLIError: --out './p.npy' is the same file as --patches 'p.npy': ...
    """
    files = []
    for option, path in inputs.items():
        if not path:
            continue
        files.append((option, path))
        if os.path.isdir(path):
            with contextlib.suppress(OSError):
                files += [(option, os.path.join(path, name)) for name in os.listdir(path)]
    seen = []
    for option, path in outputs.items():
        if not path:
            continue
        for other, known in files:
            if _same_file(path, known):
                where = "" if known == inputs[other] else f" (in {other} '{inputs[other]}')"
                what = f"'{known}'" + where if where else f"{other} '{known}'"
                raise CLIError(f"{option} '{path}' is the same file as {what}: writing "
                               f"it would destroy that input; choose another path")
        for other, known in seen:
            if _same_file(path, known):
                raise CLIError(f"{option} '{path}' is the same file as {other} "
                               f"'{known}': one would overwrite the other; choose "
                               f"another path")
        seen.append((option, path))


def check_outputs(outputs, inputs, figures=()):
    """
    Every check of the output files of a command, before any work starts.

    The figure options must name a format that can be written here
    (`check_figure_paths`), every output must be writable
    (`ipvae_snn.io.check_output_path`: not a folder, not under a file, a name
    the file system allows, a folder this process may write to), and none
    may be an input or another output (`check_distinct_paths`).

    Parameters
    ----------
    outputs : dict
        Option -> path or None, e.g. ``{"--out": "r.npz", "--nwb": None}``.
    inputs : dict
        Option -> path or None of the inputs.
    figures : sequence of str
        The options of ``outputs`` that are figures.

    Raises
    ------
    InputError
        In one line naming the option.

    Examples
    --------
    >>> check_outputs({"--out": "r.npz", "--figure": "f.png"}, {"--patches": None},
    ...               figures=["--figure"])
    >>> check_outputs({"--out": "/"}, {})
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.FileWriteError: --out '/' cannot be written: it is a folder; name a file
    """
    from ..io import check_output_paths
    check_figure_paths(*(outputs.get(option) for option in figures))
    check_output_paths(outputs)
    check_distinct_paths(inputs, outputs)


def check_output_arguments(args):
    """
    `check_outputs` of an inference subcommand: ``--out``, ``--figure``,
    ``--nwb`` against ``--patches``, ``--model`` and each other, before any work.
    """
    check_outputs({"--out": getattr(args, "out", None), "--figure": args.figure,
                   "--nwb": getattr(args, "nwb", None)},
                  dict(input_files(args)), figures=["--figure"])


def input_files(args):
    """
    The input files of an inference subcommand: ``--patches``, ``--model`` (a
    bundled model's name is no file) and the image files of ``--images``.
    """
    from ..data import available_images
    from ..params import BUNDLED_MODELS
    model = getattr(args, "model", None)
    files = [("--patches", getattr(args, "patches", None)),
             ("--model", None if model in BUNDLED_MODELS else model)]
    if getattr(args, "patches", None) is None:
        images = [name for name in (getattr(args, "images", None) or "").split(",")
                  if name.strip() and name.strip() not in available_images()]
        files += [("--images" if len(images) == 1 else f"--images (file {i + 1})",
                   name.strip()) for i, name in enumerate(images)]
    return files


def _activity_note(result):
    cap = result.info.get("max_count")
    return (f" (activity capped at {cap:g} spikes per window)" if cap is not None
            else "")


def report(result, args, command, header, **extra):
    """
    Write ``--out`` and ``--figure``, then print the summary: a table (and
    ``header``) on stdout, or with ``--json`` one JSON object. The summary is
    printed even when a file cannot be written (a full disk); the error is
    raised after it.
    """
    written, error = {}, None

    def save_result():
        result.save(args.out)

    def save_figure():
        from ..plotting import plot_reconstructions
        pyplot().close(plot_reconstructions(result, path=args.figure))

    for what, path, write in (("result", args.out, save_result),
                              ("figure", args.figure, save_figure)):
        if path and error is None:
            try:
                write()
                written[what] = path
            except (OSError, InputError) as exc:
                error = exc
    if args.json:
        print_json(summary_dict(result, command, out=written.get("result"),
                                figure=written.get("figure"), **extra))
    else:
        print(header)
        print(format_summary_table(result.summary()))
        events = result.runaway_events()
        if events:
            cap = result.info.get("max_count")
            label = "upper clamp" if cap is not None else "runaway"
            print(f"{label}: {runaway_patches(result)} patch(es), {len(events)} "
                  f"neuron(s) reached the upper clamp of u{_activity_note(result)}")
        for what, path in written.items():
            print(f"{what} written to {path}")
    sys.stdout.flush()
    if error is not None:
        raise error
