"""
Benchmark the numpy reference `ipvae_snn.reference.infer` on the shared patches.

Three implementations of the same iterative inference, on the same patches,
with the same number of threads, float32:

``ours``
    ``ipvae_snn.reference.infer`` (T + 1 windows, counts recorded at window T).
``torch``
    A plain PyTorch (CPU) loop over the update, batched over all patches:
    ``torch.poisson``, two matrix products, the official clamps.
``official``
    With ``--official PATH`` (a checkout of hadivafaii/IterativeVAE): that
    code's own model, built from the reference checkpoint folder, and its own
    inference loop (``model.update_time(t); model.xtract_ftr(x)``).

All read R² and the zero-count fraction at step T, from the sample drawn from
the potential after T updates. Runs are interleaved (ours, torch, official,
ours, ...) ``--repeats`` times because the machine may be shared; the report
gives median seconds, and each ``ratio_<impl>_over_ours`` is the median over
repeats of that repeat's seconds(impl) / seconds(ours), so > 1 means ours is
faster.

Usage::

    python benchmarks/bench_reference.py --n-patches 200 --steps 100
    python benchmarks/bench_reference.py --official ../IterativeVAE --repeats 3 \\
        --json-out bench_reference.json
"""

import glob
import importlib.util
import json
import os
import subprocess
import sys
import types

import numpy as np

from _common import (BenchmarkError, base_parser, limit_threads, load_reference_params,
                     load_shared_patches, machine_info, median, paired_agreement,
                     print_table, run_main, timed)
from ipvae_snn.metrics import r2_score
from ipvae_snn.reference import infer

__all__ = ["run_ours", "run_torch", "OfficialModel", "main"]

CHECKPOINT_FOLDER = "ipvae_vh16like_k512"

# Imported by the official package's helper modules (plotting, logging, data
# sets, tables) but never used by its model or inference loop.
_OFFICIAL_UNUSED_IMPORTS = ("h5py", "pandas", "rich", "prettytable", "seaborn",
                            "IPython", "IPython.display", "torchvision",
                            "torchvision.transforms", "torchvision.transforms.v2")
# Top-level package names of the official code.
_OFFICIAL_PACKAGES = ("main", "base", "utils", "figures", "analysis")

_COLUMNS = [("name", "implementation", ""), ("seconds", "seconds", ".2f"),
            ("cpu_seconds", "CPU s", ".2f"),
            ("patch_steps_per_s", "patch-steps/s", ",.0f"),
            ("ms_per_patch", "ms/patch", ".3f"), ("r2", "R² at T", ".4f"),
            ("zero_fraction", "zero frac. at T", ".4f")]


# ----------------------------------------------------------------- ours
def run_ours(params, x, steps, seed, threads):
    """
    Our reference inference; returns per-patch R² and the zero fraction at T.
    """
    res = infer(params, x, n_windows=steps + 1, seed=seed, dtype=np.float32,
                record_windows=[steps], n_jobs=threads, progress=False)
    return dict(r2=res.r2[:, steps].astype(np.float64),
                zero_fraction=float(res.zero_fraction[:, steps].mean()))


# ---------------------------------------------------------------- torch
def run_torch(params, x, steps, seed):
    """
    The update written plainly in PyTorch, float32, batched over all patches.

    Thread count comes from ``torch.set_num_threads`` (see `limit_threads`).
    """
    import torch
    import torch.nn.functional as F

    f32 = torch.float32
    phi = torch.as_tensor(params.phi, dtype=f32)                 # [pixels, K]
    dec_var = torch.as_tensor(params.sigma ** 2, dtype=f32)
    bias = torch.as_tensor(params.bias, dtype=f32)
    xt = torch.as_tensor(x, dtype=f32)
    lr, eps, lo = params.lr, params.rate_eps, params.clamp_min
    c_u, c_du, thr = params.clamp_u, params.clamp_du, params.softplus_threshold

    torch.manual_seed(seed)
    with torch.inference_mode():
        u = torch.as_tensor(params.u_init, dtype=f32).expand(xt.shape[0], -1).clone()
        for _ in range(steps):
            z = torch.poisson(torch.exp(u) + eps)
            err = (xt - z @ phi.T) / dec_var
            du = lr * (err @ phi - bias)
            du = c_du - F.softplus(c_du - du.clamp(min=lo), threshold=thr)
            u = c_u - F.softplus(c_u - (u + du).clamp(min=lo), threshold=thr)
        z = torch.poisson(torch.exp(u) + eps)
        recon = z @ phi.T
    return dict(r2=r2_score(x, recon.numpy()),
                zero_fraction=float((z == 0).float().mean()))


# ------------------------------------------------------------- official
class _Unavailable:
    """Stands in for an attribute of a package that is not installed."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return _Unavailable(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        raise ImportError(f"'{self._name}' is not installed (the benchmark only "
                          f"provides a placeholder for the official code's imports)")


def _placeholder_module(name):
    module = types.ModuleType(name)
    module.__path__ = []                  # lets "from name.sub import x" resolve
    module.__getattr__ = lambda attr: _Unavailable(f"{name}.{attr}")
    return module


def _install_placeholders():
    """Placeholders for the official code's unused imports that are missing."""
    missing = set()
    for name in _OFFICIAL_UNUSED_IMPORTS:
        top = name.split(".")[0]
        if top in missing or (name == top and importlib.util.find_spec(top) is None):
            sys.modules[name] = _placeholder_module(name)
            missing.add(top)
    if "rich" in missing:
        # The official modules do "from rich import print"; keep print working.
        sys.modules["rich"].print = print
    return sorted(missing)


def _git_commit(path):
    try:
        out = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


class OfficialModel:
    """
    The official IPVAE built from the reference checkpoint folder.

    The official ``load_model_lite`` also builds a Trainer, which needs the
    training data set on disk; inference needs only the model, so this builds
    ``IPVAE(ConfigPoisVAE(save=False, **config))`` and loads the ``model``
    state dict of the trainer's checkpoint, as that loader does.

    Parameters
    ----------
    official_path : str
        Root of a checkout of hadivafaii/IterativeVAE.
    checkpoint_dir : str
        Folder with ``ConfigPoisVAE.json`` and the trainer's ``.pt`` file.
    """

    def __init__(self, official_path, checkpoint_dir):
        import torch

        root = os.path.abspath(official_path)
        if not os.path.isfile(os.path.join(root, "main", "model.py")):
            raise BenchmarkError(f"--official: '{official_path}' is not a checkout of "
                                 f"the official code (no main/model.py)")
        clashes = [n for n in _OFFICIAL_PACKAGES if n in sys.modules]
        if clashes:
            raise BenchmarkError(f"--official: modules {clashes} are already imported; "
                                 f"the official packages would clash with them")
        cfg_path = os.path.join(checkpoint_dir, "ConfigPoisVAE.json")
        pts = sorted(glob.glob(os.path.join(checkpoint_dir, "*.pt")))
        if not os.path.isfile(cfg_path) or len(pts) != 1:
            raise BenchmarkError(f"checkpoint folder '{checkpoint_dir}' needs "
                                 f"ConfigPoisVAE.json and exactly one .pt file")
        self.placeholders = _install_placeholders()
        sys.path.insert(0, root)
        try:
            # Import order matters: the official modules import each other with
            # "from ... import *" in a cycle that only resolves from main.model.
            from main.model import IPVAE
            from main.config import ConfigPoisVAE
        except ImportError as exc:
            raise BenchmarkError(f"--official: importing the official code failed: "
                                 f"{exc}") from None
        finally:
            sys.path.remove(root)
        with open(cfg_path) as f:
            config = json.load(f)
        model = IPVAE(ConfigPoisVAE(save=False, **config))
        # The trainer's own torch.save dict (weights, optimizer, metadata).
        checkpoint = torch.load(pts[0], map_location="cpu", weights_only=False)
        model.load_state_dict(checkpoint["model"], strict=True)
        self.model = model.eval()
        self.path = root
        self.commit = _git_commit(root)
        self.checkpoint = os.path.basename(pts[0])

    def run(self, x, steps, seed):
        """The official inference loop; R² and zero fraction at step T."""
        import torch

        xt = torch.as_tensor(x, dtype=torch.float32)
        model = self.model
        torch.manual_seed(seed)
        for t in range(steps):
            model.update_time(t)           # t = 0 resets u to u_init
            model.xtract_ftr(xt)           # update, then generate()'s draw
        with torch.no_grad():
            # Both read generate()'s sample drawn from u after the T-th update.
            r2 = model.layer.loss_recon(xt, mode="r2")
            zero = (model.layer.samples == 0).float().mean()
        return dict(r2=r2.double().numpy(), zero_fraction=float(zero))


# ----------------------------------------------------------------- main
def _summary(name, seconds, cpu_seconds, out, n_patches, steps):
    s = median(seconds)
    return dict(name=name, seconds=s, seconds_all=list(seconds),
                cpu_seconds=median(cpu_seconds), cpu_seconds_all=list(cpu_seconds),
                patch_steps_per_s=n_patches * steps / s,
                ms_per_patch=1e3 * s / n_patches,
                r2=float(np.nanmean(out["r2"])), zero_fraction=out["zero_fraction"])


def _parse(argv):
    parser = base_parser(__doc__.split("\n\n")[0].strip(), n_patches=2000, steps=1000)
    parser.add_argument("--official", metavar="PATH", default=None,
                        help="checkout of hadivafaii/IterativeVAE: also time that "
                             "code's own inference on the same weights")
    return parser.parse_args(argv)


def _benchmark(args):
    x, ref_dir = load_shared_patches(args.n_patches)
    params = load_reference_params(ref_dir)
    n, steps, seed, threads = args.n_patches, args.steps, args.seed, args.threads

    try:
        # Imported before limit_threads, which caps torch's pool only once loaded.
        importlib.import_module("torch")
    except ImportError:
        raise BenchmarkError("the torch comparison needs PyTorch "
                             "(pip install 'ipvae-snn[official]')") from None

    runners = {"ours": lambda xs, T: run_ours(params, xs, T, seed, threads),
               "torch": lambda xs, T: run_torch(params, xs, T, seed)}
    official = None
    if args.official is not None:
        official = OfficialModel(args.official, os.path.join(ref_dir, CHECKPOINT_FOLDER))
        runners["official"] = lambda xs, T: official.run(xs, T, seed)

    machine = machine_info(threads)
    seconds = {k: [] for k in runners}
    cpu_seconds = {k: [] for k in runners}
    outputs = {}
    with limit_threads(threads):
        # Warm-up: thread pools, lazy initialisation, first-call allocations.
        for run in runners.values():
            run(x[:16], 3)
        for r in range(args.repeats):
            for name, run in runners.items():
                out, sec, cpu = timed(run, x, steps)
                seconds[name].append(sec)
                cpu_seconds[name].append(cpu)
                outputs[name] = out
                print(f"repeat {r + 1}/{args.repeats}: {name:8s} {sec:8.2f} s "
                      f"(CPU {cpu:.2f} s)", file=sys.stderr, flush=True)
    machine["load_average_after"] = (list(os.getloadavg())
                                     if hasattr(os, "getloadavg") else None)

    rows = [_summary(name, seconds[name], cpu_seconds[name], outputs[name], n, steps)
            for name in runners]
    report = dict(benchmark="bench_reference",
                  config=dict(n_patches=n, steps=steps, threads=threads, seed=seed,
                              repeats=args.repeats, dtype="float32",
                              patches="patches_shared.npz['shared'][:n_patches]",
                              metric_step="R² and zero fraction at step T (sample "
                                          "drawn from u after T updates)"),
                  machine=machine,
                  implementations={row["name"]: row for row in rows})
    for name in runners:
        if name == "ours":
            continue
        per_repeat = [s / o for s, o in zip(seconds[name], seconds["ours"])]
        report[f"ratio_{name}_over_ours"] = median(per_repeat)
        report[f"ratio_{name}_over_ours_per_repeat"] = per_repeat
        report.setdefault("r2_agreement", {})[f"ours_vs_{name}"] = paired_agreement(
            outputs["ours"]["r2"], outputs[name]["r2"])
    if official is not None:
        report["implementations"]["official"].update(
            path=official.path, commit=official.commit,
            checkpoint=official.checkpoint, placeholder_modules=official.placeholders)
    return rows, report


def _print_report(rows, report):
    cfg = report["config"]
    print(f"{cfg['n_patches']} patches x {cfg['steps']} steps, {cfg['threads']} "
          f"thread(s), float32, median of {cfg['repeats']} run(s)")
    print_table(rows, _COLUMNS)


def main(argv=None):
    return run_main(_parse(argv), _benchmark, _print_report)


if __name__ == "__main__":
    sys.exit(main())
