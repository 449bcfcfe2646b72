"""``ipvae-snn convert``: an official checkpoint folder to a model ``.npz``."""

from .common import PROG, check_outputs, print_json

__all__ = ["NAME", "add_parser", "run"]

NAME = "convert"


def add_parser(subparsers):
    """Add ``convert`` to ``subparsers``; returns its parser."""
    p = subparsers.add_parser(
        NAME, help="convert an official iP-VAE checkpoint folder to a model .npz",
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
    return p


def run(args):
    """Run ``ipvae-snn convert``."""
    from ..official import from_official
    check_outputs({"OUT": args.out}, {"FOLDER": args.folder})
    checkpoint = args.checkpoint
    if checkpoint is not None and checkpoint.isdigit():
        checkpoint = int(checkpoint)
    params = from_official(args.folder, checkpoint=checkpoint, use_ema=args.ema,
                           trust_pickle=args.trust_pickle)
    params.save(args.out)
    doc = dict(command=NAME, folder=args.folder, out=args.out,
               checkpoint_file=str(params.metadata.get("official_checkpoint")),
               n_pixels=params.n_pixels, n_latents=params.n_latents, lr=params.lr,
               clamp_u=params.clamp_u, clamp_du=params.clamp_du,
               sigma_range=[float(params.sigma.min()), float(params.sigma.max())],
               bias_range=[float(params.bias.min()), float(params.bias.max())],
               u_init_mean=float(params.u_init.mean()))
    if args.json:
        print_json(doc)
        return 0
    print(f"{PROG} convert: {args.folder} ({doc['checkpoint_file']}) -> {args.out}")
    print(f"  {params.n_latents} latents x {params.n_pixels} pixels, lr {params.lr:.5g}, "
          f"clamps u {params.clamp_u:g} / du {params.clamp_du:g}, sigma "
          f"{doc['sigma_range'][0]:.4g}..{doc['sigma_range'][1]:.4g}, b "
          f"{doc['bias_range'][0]:.4g}..{doc['bias_range'][1]:.4g}")
    return 0
