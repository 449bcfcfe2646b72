"""``ipvae-snn infer``: the numpy reference algorithm."""

from .protocols import add_gain_noise_argument
from .cluster import (add_cluster_arguments, scheduler_client, scheduler_label)
from .common import (DEFAULT_STEPS, PROG, add_inference_arguments, check_output_arguments,
                     load_input_patches, load_model, model_label, no_runaway_warnings,
                     positive_int, record_windows_for, report)

__all__ = ["NAME", "add_parser", "run"]

NAME = "infer"


def add_parser(subparsers):
    """Add ``infer`` to ``subparsers``; returns its parser."""
    p = subparsers.add_parser(
        NAME, help="iterative inference with the reference algorithm",
        description="Run T steps of iterative FOND inference (the numpy reference "
                    "algorithm, float32) on whitened 16x16 patches and print "
                    "reconstruction quality and spiking activity at a few steps.")
    p.add_argument("--steps", type=positive_int, default=DEFAULT_STEPS, metavar="T",
                   help="number of inference updates; metrics are read at window "
                        "T, as the paper's 'after T steps' (default %(default)s)")
    add_inference_arguments(p)
    add_gain_noise_argument(p)
    add_cluster_arguments(p)
    return p


def run(args):
    """Run ``ipvae-snn infer``."""
    from ..reference import infer

    check_output_arguments(args)
    params = load_model(args.model)
    x, source = load_input_patches(args, params)
    n_windows = args.steps + 1
    with no_runaway_warnings(), scheduler_client(args) as client:
        result = infer(params, x, n_windows, seed=args.seed,
                       record_windows=record_windows_for(n_windows),
                       progress=False if args.quiet else None, client=client,
                       gain_noise=args.gain_noise)
        where = scheduler_label(client)
    header = (f"{PROG} infer: {result.n_patches} patches ({source}), model "
              f"{model_label(args.model)} (K={params.n_latents}), {args.steps} "
              f"steps, {result.info['seconds']:.2f} s{where}")
    report(result, args, NAME, header, model=args.model, patches=args.patches)
    return 0
