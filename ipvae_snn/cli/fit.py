"""
``ipvae-snn fit``: learn a dictionary from spikes.

A thin wrapper of `ipvae_snn.learning.SpikingDictionaryLearner`: it reads the
patches and the options, fits, writes the model and its figure, and reports
the training and held-out read-outs.
"""

import logging
import os
import sys
import time

import numpy as np

from .cluster import (add_cluster_arguments, scheduler_client, scheduler_label)
from .common import (PROG, CLIError, add_network_arguments, check_outputs, no_runaway_warnings,
                     nonnegative_float, nonnegative_int, positive_float, positive_int, print_json,
                     pyplot)

__all__ = ["NAME", "add_parser", "run", "FIT_N_PATCHES", "FIT_EPOCHS",
           "FIT_EVAL_PATCHES"]

NAME = "fit"
#: Defaults of ``ipvae-snn fit`` on bundled images: 25,600 patches x 4 epochs
#: (400 batches of 256), about a minute on two cores.
FIT_N_PATCHES = 25600
FIT_EPOCHS = 4
#: Held-out patches (bundled held-out images) scored after a fit.
FIT_EVAL_PATCHES = 500


def add_parser(subparsers):
    """Add ``fit`` to ``subparsers``; returns its parser."""
    from ..data import TRAIN_IMAGES
    p = subparsers.add_parser(
        NAME, help="learn a model from the network's spikes",
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
    source.add_argument("--digits", action="store_true",
                        help="train on the training split of scikit-learn's digits "
                             "(ipvae_snn.data.digit_split); held-out scores use its "
                             "test split")
    p.add_argument("--augment", action="store_true",
                   help="turn and mirror each training patch at random (the eight "
                        "symmetries of the square; ipvae_snn.data.dihedral_augment)")
    p.add_argument("--images", default=",".join(TRAIN_IMAGES), metavar="FILES|NAMES",
                   help="comma-separated photographs to cut whitened training patches "
                        "from: image files (PNG, JPEG, TIFF) or bundled images "
                        "(default: the reference model's training images)")
    p.add_argument("--calibration-images", default=None, metavar="FILES|NAMES",
                   help="comma-separated photographs, none of them in --images, whose "
                        "patches choose the operating point and the prior cap at the end "
                        "of the fit (default: the training patches)")
    p.add_argument("--init", default="random", metavar="random|NAME|F.npz",
                   help="starting model: a random dictionary (default), a bundled "
                        "model ('default' or a name as --model takes it), or a model "
                        "file (warm start)")
    p.add_argument("--n-components", type=positive_int, default=None, metavar="K",
                   help="latent neurons (default: 512, or the --init model's)")
    p.add_argument("--epochs", type=positive_int, default=FIT_EPOCHS,
                   help="passes over the patches (default %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--learning-rate", type=positive_float, default=5e-3,
                   help="Adam step on the dictionary (default %(default)s)")
    p.add_argument("--spike-cost", type=positive_float, default=None, metavar="B",
                   help="spike cost b of every neuron at the start (default: the "
                        "initial model's): the rate-distortion knob, larger is sparser")
    p.add_argument("--operating-point", default="none", metavar="auto|none|C,M",
                   help="spike size and spike-cost factor of the fitted model: 'auto' "
                        "picks the pair with the best rate-distortion distance (mean of the "
                        "count and rate read-outs) on the training patches, 'none' "
                        "(default) keeps the learnt model, 'C,M' applies that pair")
    p.add_argument("--prior-cap", default="auto", metavar="auto|none|U",
                   help="cap on the fitted prior log-rate: 'auto' (default) picks it "
                        "on the training patches at window --t-train, 'none' keeps the "
                        "closed-form prior, a number caps it there")
    p.add_argument("--target-rate", type=positive_float, default=None, metavar="R",
                   help="adapt the spike cost so that the mean count per neuron in "
                        "window --t-train is R (default: keep the cost)")
    p.add_argument("--t-train", type=positive_int, default=16, metavar="T",
                   help="read-out windows 1..T per batch (default %(default)s)")
    p.add_argument("--learn-sigma", action="store_true",
                   help="also fit the decoder std by its closed form")
    p.add_argument("--normalize-contrast", action="store_true",
                   help="divide every patch by its contrast in training and in the fitted "
                        "model, which carries the normalisation (ipvae_snn.contrast)")
    p.add_argument("--beta", type=nonnegative_float, default=0.0,
                   help="weight of the one-step KL term (default %(default)s)")
    p.add_argument("--backend", default="reference", choices=("reference", "network"),
                   help="inference by the numpy reference algorithm (default) or the "
                        "Brian2 network (same dynamics, slower)")
    add_network_arguments(p, device="runtime", realization=False,
                          device_help="Brian2 device of --backend network (default "
                                      "%(default)s)")
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
    add_cluster_arguments(p)
    return p


def _figure_path(args):
    if args.no_figure:
        return None
    if args.figure:
        return args.figure
    stem = args.out[:-4] if args.out.lower().endswith(".npz") else args.out
    return f"{stem}_dictionary.png"


def _patch_pixels(path):
    """Pixels per patch of a user file: its last axis, or h*w for (n, h, w)."""
    from ..io import load_array_file
    arr = load_array_file(path, default_key="patches", what="patches")
    if arr.ndim == 3:
        if arr.shape[1] != arr.shape[2]:
            raise CLIError(f"patches file '{path}': (n, h, w) patches must be square, "
                           f"got {arr.shape}; give (n, pixels) for other shapes")
        return int(arr.shape[1] * arr.shape[2])
    if arr.ndim == 2:
        return int(arr.shape[1])
    raise CLIError(f"patches file '{path}': expected shape (n, pixels) or (n, h, w), "
                   f"got {arr.shape}")


def _training_patches(args):
    from ..data import dihedral_augment, digit_split, load_patches, patches_from_images
    if args.patches is not None:
        x = load_patches(args.patches, n_pixels=_patch_pixels(args.patches))
        source = f"'{args.patches}'"
    elif args.digits:
        x = digit_split()[0]
        source = "digits, training split"
    else:
        images = [s.strip() for s in args.images.split(",") if s.strip()]
        n = FIT_N_PATCHES if args.n_patches is None else args.n_patches
        x = patches_from_images(images, n_patches=n, seed=args.seed)
        source = f"{', '.join(images)}; seed {args.seed}"
    if args.augment:
        x = dihedral_augment(x, seed=args.seed)
        source += "; turned and mirrored at random"
    return x, source


def _calibration_patches(args, n_pixels):
    """Patches of ``--calibration-images`` (held out of the training set), or None."""
    from ..data import patches_from_images
    from ..learning.calibration import CALIBRATION_PATCHES
    if args.calibration_images is None:
        return None, None
    if args.patches is not None or args.digits:
        raise CLIError("--calibration-images needs training patches cut from --images "
                       "(not --patches or --digits)")
    names = [s.strip() for s in args.calibration_images.split(",") if s.strip()]
    training = {s.strip() for s in args.images.split(",") if s.strip()}
    if not names or training & set(names):
        raise CLIError(f"--calibration-images must name photographs outside --images "
                       f"({', '.join(sorted(training & set(names))) or 'none given'})")
    side = int(round(np.sqrt(n_pixels)))
    x = patches_from_images(names, n_patches=CALIBRATION_PATCHES, seed=args.seed,
                            patch_size=side)
    return x, f"{', '.join(names)}; {x.shape[0]} patches, seed {args.seed}"


def _operating_point(text):
    if text in ("auto", "none"):
        return None if text == "none" else "auto"
    try:
        c, m = (float(v) for v in text.split(","))
    except ValueError:
        raise CLIError(f"--operating-point must be 'auto', 'none' or 'C,M' (two "
                       f"numbers), got {text!r}") from None
    return (c, m)


def _prior_cap(text):
    if text == "auto":
        return "auto"
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise CLIError(f"--prior-cap must be 'auto', 'none' or a number, got "
                       f"{text!r}") from None


def _held_out(args, params):
    """Read-outs of the fitted model on held-out bundled patches, or None."""
    from ..data import HELD_OUT_IMAGES, digit_split, natural_patches
    from ..reference import infer
    side = int(round(np.sqrt(params.n_pixels)))
    if not args.eval_patches or args.patches is not None or side * side != params.n_pixels:
        return None
    if args.digits:
        images, x_eval = ["digits test split"], digit_split(size=side)[1]
    else:
        images = list(HELD_OUT_IMAGES)
        x_eval = natural_patches(HELD_OUT_IMAGES, n_patches=args.eval_patches,
                                 seed=args.seed, patch_size=side)
    t = args.t_train
    with no_runaway_warnings():
        res = infer(params, x_eval, t + 1, seed=args.seed, record_windows=[t],
                    progress=False)
    return dict(images=images, n_patches=int(x_eval.shape[0]), T=t,
                r2=float(np.nanmean(res.r2[:, t])),
                zero_fraction=float(res.zero_fraction[:, t].mean()),
                mean_count=float(res.mean_count[:, t].mean()))


#: The options of the learner's arguments, for messages about a resumed fit.
_OPTIONS = {"max_iter": "--epochs", "batch_size": "--batch-size",
            "learning_rate": "--learning-rate", "spike_cost": "--spike-cost",
            "t_train": "--t-train", "learn_sigma": "--learn-sigma", "beta": "--beta",
            "normalize_contrast": "--normalize-contrast",
            "target_rate": "--target-rate", "backend": "--backend", "device": "--device",
            "n_components": "--n-components", "init": "--init",
            "random_state": "--seed", "X": "the training patches (--patches, "
            "--n-patches, --images, --digits, --augment, --seed)"}


def _init_model(text):
    """``--init``: 'random', 'default', or a bundled model's name or a model file."""
    from ..params import BUNDLED_MODELS, load_model
    if text in ("random", "default"):
        return text
    if text not in BUNDLED_MODELS and not os.path.exists(text):
        from ..params import unknown_model_message
        raise CLIError(f"--init: {unknown_model_message(text)} (or 'random')")
    return load_model(text)


def _check_checkpoint(args):
    """
    ``--checkpoint`` and ``--resume`` before any work: a resumed fit needs
    its checkpoint; a new fit must not overwrite an existing file (an earlier
    fit's checkpoint, a model).
    """
    from ..learning.checkpoint import is_checkpoint
    if args.resume and not args.checkpoint:
        raise CLIError("--resume needs --checkpoint (the file to continue from)")
    if not args.checkpoint:
        return
    exists = os.path.isfile(args.checkpoint)
    if args.resume and not exists:
        raise CLIError(f"--checkpoint '{args.checkpoint}' does not exist; --resume "
                       f"continues the fit saved there (leave out --resume to start a "
                       f"new fit)")
    if exists and not args.resume:
        if is_checkpoint(args.checkpoint):
            raise CLIError(f"--checkpoint '{args.checkpoint}' holds an earlier fit's "
                           f"checkpoint; continue that fit with --resume, or give "
                           f"another path to start a new one")
        raise CLIError(f"--checkpoint '{args.checkpoint}' is an existing file, not a fit "
                       f"checkpoint; checkpoints would overwrite it: give another path")


def _check_operating_point(point, init, n_pixels, k, text):
    """Refuse a spike size and cost factor that make the model unusable, before training."""
    from ..learning.updates import change_spike_size
    from ..params import IPVAEParams
    from ..validation import InputError
    if point is None or point == "auto":
        return
    c, m = point
    if not (np.isfinite(c) and np.isfinite(m) and c > 0 and m > 0):
        raise CLIError(f"--operating-point must be two positive numbers C,M, got {text!r}")
    start = (init if isinstance(init, IPVAEParams)
             else IPVAEParams.random(n_pixels, k, random_state=0))
    try:
        with np.errstate(all="ignore"):
            change_spike_size(start, c, m)
    except InputError as exc:
        raise CLIError(f"--operating-point {text}: spikes {c:g} times as large and a "
                       f"cost {m:g} times as high give a model out of range "
                       f"({str(exc).splitlines()[0]})") from None


def _check_batch_memory(args, k, n_pixels):
    """The read-out windows of one batch (--t-train x --batch-size) must fit in memory."""
    from ..reference import _DEFAULT_MAX_RECORD_BYTES, memory_estimate
    from .._memory import check_memory
    # what the batch's inference records (windows 1..t_train, counts and, for
    # the KL term, potentials, 4 bytes each): infer refuses more than its
    # max_record_bytes, in the API's words; here in the options'
    record = args.batch_size * args.t_train * k * 4 * (2 if args.beta > 0 else 1)
    if getattr(args, "backend", "reference") == "reference" and \
            record > _DEFAULT_MAX_RECORD_BYTES:
        raise CLIError(f"--t-train {args.t_train} x --batch-size {args.batch_size} x "
                       f"{k} neurons records {record / 1024 ** 3:.1f} GiB per batch, "
                       f"more than the {_DEFAULT_MAX_RECORD_BYTES / 1024 ** 3:g} GiB "
                       f"inference records at once; use a smaller --t-train or "
                       f"--batch-size")
    need = record + memory_estimate(args.batch_size, args.t_train + 1, k, n_pixels)
    check_memory(need, f"--t-train {args.t_train} x --batch-size {args.batch_size} x "
                       f"{k} neurons", "use a smaller --t-train or --batch-size")


def run(args):
    """Run ``ipvae-snn fit``."""
    from .._signals import Terminated
    from ..learning import SpikingDictionaryLearner
    from ..learning.checkpoint import load_checkpoint
    from ..params import IPVAEParams

    # Everything that can be checked is checked before the fit: the options,
    # the output files, the checkpoint, the memory of a batch.
    figure = _figure_path(args)
    point = _operating_point(args.operating_point)
    prior_cap = _prior_cap(args.prior_cap)
    init = _init_model(args.init)
    init_file = args.init if isinstance(init, IPVAEParams) and os.path.exists(args.init) \
        else None
    figure_option = "--figure" if args.figure else "the dictionary figure (--figure)"
    check_outputs({"--out": args.out, figure_option: figure,
                   "--checkpoint": args.checkpoint},
                  {"--patches": args.patches, "--init": init_file},
                  figures=[figure_option])
    _check_checkpoint(args)
    x, source = _training_patches(args)
    x_calibration, calibration_source = _calibration_patches(args, x.shape[1])
    k = args.n_components
    if k is None:
        k = init.n_latents if isinstance(init, IPVAEParams) else 512
    _check_operating_point(point, init, x.shape[1], k, args.operating_point)
    _check_batch_memory(args, k, x.shape[1])
    learner = SpikingDictionaryLearner(
        n_components=k, init=init, spike_cost=args.spike_cost,
        prior_cap=prior_cap, operating_point=point,
        backend=args.backend, device=args.device,
        t_train=args.t_train, batch_size=args.batch_size, max_iter=args.epochs,
        learning_rate=args.learning_rate, learn_sigma=args.learn_sigma,
        beta=args.beta, target_rate=args.target_rate, checkpoint=args.checkpoint,
        normalize_contrast=args.normalize_contrast,
        checkpoint_every=args.checkpoint_every, random_state=args.seed,
        progress=False if (args.quiet or args.json) else None)
    if args.resume:
        # the same check as the fit's, worded with the options
        from ..learning.readout import validate_data
        checked = validate_data(learner, x, reset=True, dtype=np.float64)
        load_checkpoint(args.checkpoint, learner._training_data(checked, checked)[0],
                        learner._check_hyper_parameters(), k, names=_OPTIONS)
    start = time.perf_counter()
    try:
        with scheduler_client(args) as client:
            learner.set_params(client=client)
            learner.fit(x, resume=args.resume, X_calibration=x_calibration)
            where = scheduler_label(client)
    except (KeyboardInterrupt, Terminated):
        # a new fit starts without a file there (_check_checkpoint): one that
        # exists now holds this fit's (or the resumed fit's) last checkpoint
        if args.checkpoint and os.path.isfile(args.checkpoint):
            logging.getLogger(__name__).info(
                f"the last checkpoint is in {args.checkpoint}; continue with the same "
                f"command and --resume")
        elif args.checkpoint:
            logging.getLogger(__name__).info(
                f"no checkpoint was written yet (the first comes after "
                f"--checkpoint-every {args.checkpoint_every} batches); nothing to resume")
        raise
    seconds = time.perf_counter() - start
    params = _with_provenance(learner, args, source, seconds, x.shape[0],
                              calibration_source)
    params.save(args.out)
    if figure:
        from ..plotting import plot_dictionary
        pyplot().close(plot_dictionary(params, order="orientation", path=figure))
    hist = learner.history_
    tail = slice(-max(1, len(hist["r2"]) // 10), None)
    doc = dict(command=NAME, out=args.out, figure=figure, source=source,
               n_patches=int(x.shape[0]), n_pixels=int(x.shape[1]),
               n_latents=int(params.n_latents), n_batches=int(learner.n_batches_),
               epochs=int(learner.n_iter_), seconds=seconds, cluster=where.strip() or None,
               train=dict(windows=args.t_train,
                          **{key: float(np.nanmean(hist[key][tail])) for key in
                             ("r2", "r2_median", "zero_fraction", "mean_count")}),
               held_out=_held_out(args, params))
    if args.json:
        print_json(doc)
        return 0
    _print_summary(doc, source, params, args, figure)
    return 0


def _with_provenance(learner, args, source, seconds, n_patches, calibration_source=None):
    """
    The fitted model with its provenance in the metadata (key ``provenance``,
    JSON): the command, seed, package and library versions, training time,
    data and every hyper-parameter, so the file says how to make it again.
    """
    import json
    import platform
    import shlex

    import sklearn

    from .._version import __version__
    hyper = {k: v for k, v in learner.get_params(deep=False).items()
             if k not in ("client", "callback", "init")}
    command = " ".join(shlex.quote(a) for a in getattr(args, "argv", sys.argv[1:]))
    doc = dict(command=f"{PROG} {command}".strip(), seed=args.seed,
               package_version=__version__, numpy=np.__version__,
               scikit_learn=sklearn.__version__, python=platform.python_version(),
               training_seconds=round(learner.fit_seconds_, 1),
               command_seconds=round(seconds, 1), training_patches=int(n_patches),
               source=source, calibration_source=calibration_source or "the training patches",
               n_batches=int(learner.n_batches_),
               operating_point=list(learner.operating_point_),
               prior_cap=learner.prior_cap_, hyper_parameters=hyper,
               init=args.init, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    metadata = dict(learner.params_.metadata)
    metadata["provenance"] = np.array(json.dumps(doc, sort_keys=True, default=str))
    return learner.params_.replace(metadata=metadata)


def _print_summary(doc, source, params, args, figure):
    print(f"{PROG} fit: {doc['n_patches']} patches ({source}), K={params.n_latents}, "
          f"{doc['n_batches']} batches in {doc['seconds']:.1f} s"
          + (f" {doc['cluster']}" if doc["cluster"] else ""))
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
