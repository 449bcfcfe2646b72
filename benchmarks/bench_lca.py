"""
Benchmark: the two spiking networks side by side — the iP-VAE
(`ipvae_snn.SpikingIPVAE`) and the spiking LCA (`ipvae_snn.lca.SpikingLCA`)
— beside scikit-learn's sparse coding, on the same held-out patches.

For each network and read-out window T (``--windows``, window length 0.1 s,
simulated time (T + 1) × 0.1 s): mean R², zero fraction of the counts,
rate–distortion distance, and the synaptic events per patch up to the end of
window T (spikes × fan-out: every spike reaches the network's other K − 1
neurons in the LCA, all K in the iP-VAE, whose all-to-all synapses include
the self term; an energy proxy). The LCA runs on each dictionary
(``--dictionaries``: the iP-VAE's Φ, ``ipvae``; scikit-learn's dictionary
learning on training patches, ``learnt``) at each λ of its sweep, beside
scikit-learn's non-negative Lasso codes (`SparseCoder`) of the same
dictionary, λ and patches; at its best λ also with fewer spikes per unit of
code (``--rates``), the accuracy–energy trade-off of a rate code. Check: at
its best λ the spiking LCA's distance at the last T is within 0.02 of the
Lasso codes' at that λ.

Usage::

    python benchmarks/bench_lca.py --n-patches 2000 --json-out bench_lca.json
    python benchmarks/bench_lca.py --n-patches 64 --windows 1,2,4   # minutes
"""

import sys
import time

import numpy as np

from _common import (BenchmarkError, base_parser, limit_threads, load_shared_patches,
                     machine_info, print_table, run_main)
from ipvae_snn import SpikingIPVAE, default_params
from ipvae_snn.defaults import DEFAULT_WINDOW_S
from ipvae_snn.lca import SpikingLCA, code_points, lasso_codes, lca_dictionary
from ipvae_snn.ratedistortion import distance

__all__ = ["main"]

#: λ sweeps per dictionary: the iP-VAE's atoms have norm ≈ 0.12, the learnt
#: ones 1, and λ scales with the atoms' norm.
LAMBDAS = dict(ipvae=(0.04, 0.06, 0.08, 0.1), learnt=(0.15, 0.2, 0.3, 0.5))
#: Spikes per second per unit of code on the iP-VAE's Φ; on another
#: dictionary scaled by its mean atom norm (codes scale inversely), so that
#: a spike carries the same share of the drive.
RATE_PER_CODE = 100.0

_COLUMNS = [("model", "model", ""), ("dictionary", "dictionary", ""),
            ("lam", "λ", ".3g"), ("rate", "Hz/code", ".3g"), ("T", "T", "d"),
            ("time_s", "sim. s", ".1f"),
            ("r2", "R² mean", ".4f"), ("zero_fraction", "zero frac", ".4f"),
            ("distance", "distance", ".4f"),
            ("events_per_patch", "syn. events/patch", ".3g"),
            ("spikes_per_patch", "spikes/patch", ".4g"), ("wall_s", "wall s", ".1f")]


def _parse(argv):
    parser = base_parser(__doc__.split("\n\n")[0], n_patches=2000, steps=16)
    parser.add_argument("--windows", default="0,1,4,16",
                        help="the LCA's read-out windows T (at least 3), comma-separated")
    parser.add_argument("--ipvae-windows", default="0,1,4,16,64,1000",
                        help="the iP-VAE's read-out windows T (at least 3)")
    parser.add_argument("--rates", default="3,10,30",
                        help="further rate_per_code values (spikes per second per unit "
                             "of code, on the iP-VAE's Φ) run at each dictionary's best "
                             "λ: fewer spikes, coarser codes")
    parser.add_argument("--dictionaries", default="ipvae,learnt",
                        help="the LCA's dictionaries (ipvae, learnt)")
    parser.add_argument("--device", default="cpp_standalone",
                        choices=("runtime", "cpp_standalone"))
    parser.add_argument("--tau", type=float, default=0.01,
                        help="the LCA state's time constant, seconds")
    args = parser.parse_args(argv)
    args.windows = _windows(args.windows, "--windows")
    args.ipvae_windows = _windows(args.ipvae_windows, "--ipvae-windows")
    try:
        args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    except ValueError:
        raise BenchmarkError(f"--rates must be numbers, got {args.rates!r}") from None
    if any(not r > 0 for r in args.rates):
        raise BenchmarkError("--rates must be positive")
    args.dictionaries = [d.strip() for d in args.dictionaries.split(",") if d.strip()]
    bad = set(args.dictionaries) - set(LAMBDAS)
    if bad:
        raise BenchmarkError(f"--dictionaries: unknown {sorted(bad)}; known: "
                             f"{sorted(LAMBDAS)}")
    return args


def _windows(text, option):
    try:
        windows = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise BenchmarkError(f"{option} must be integers, got {text!r}") from None
    if len(windows) < 3 or windows[0] < 0:
        raise BenchmarkError(f"{option} needs at least 3 windows >= 0")
    return windows


def _cumulative_events(counts, fan_out):
    """Mean synaptic events per patch up to the end of each window."""
    spikes = np.cumsum(counts.sum(axis=2, dtype=np.int64), axis=1)   # (n, windows)
    return spikes.mean(axis=0) * fan_out, spikes.mean(axis=0)


def _network_rows(result, name, dictionary, lam, windows, fan_out, wall_s, rate=None):
    events, spikes = _cumulative_events(result.counts, fan_out)
    rows = []
    for t in windows:
        r2 = float(np.nanmean(result.r2[:, t]))
        zf = float(result.zero_fraction[:, t].mean())
        rows.append(dict(model=name, dictionary=dictionary, lam=lam, T=t, rate=rate,
                         time_s=(t + 1) * DEFAULT_WINDOW_S, r2=r2, zero_fraction=zf,
                         distance=distance(r2, zf), events_per_patch=float(events[t]),
                         spikes_per_patch=float(spikes[t]), wall_s=wall_s))
    return rows


def _ipvae(args, x):
    net = SpikingIPVAE(default_params(), device=args.device)
    t0 = time.perf_counter()
    res = net.run(x, args.ipvae_windows[-1] + 1, seed=args.seed, warn=False)
    wall = time.perf_counter() - t0
    return _network_rows(res, "spiking iP-VAE", "ipvae", float("nan"),
                         args.ipvae_windows, net.params.n_latents, wall)


def _lca_run(args, x, name, phi, lam, rate):
    lca = SpikingLCA(phi, lam=lam, device=args.device, tau=args.tau,
                     rate_per_code=rate, patches_per_run=16)
    t0 = time.perf_counter()
    res = lca.run(x, args.windows[-1] + 1, record_spikes=False, progress=len(x) >= 1000)
    return _network_rows(res, "spiking LCA", name, lam, args.windows, lca.n_atoms - 1,
                         time.perf_counter() - t0, rate=rate)


def _lca(args, x, name, phi, scale):
    rows, agreement = [], []
    for lam in LAMBDAS[name]:
        rows += _lca_run(args, x, name, phi, lam, RATE_PER_CODE * scale)
        wall = rows[-1]["wall_s"]
        t0 = time.perf_counter()
        lasso = code_points(phi, x, lasso_codes(phi, x, lam))
        rows.append(dict(model="sklearn Lasso", dictionary=name, lam=lam,
                         r2=lasso["r2"], zero_fraction=lasso["zero_fraction"],
                         distance=lasso["distance"], wall_s=time.perf_counter() - t0))
        agreement.append(dict(lam=lam, spiking=rows[-2]["distance"],
                              lasso=lasso["distance"]))
        print(f"  LCA {name} λ={lam:g}: distance {rows[-2]['distance']:.4f} "
              f"(Lasso {lasso['distance']:.4f}), {wall:.0f} s", flush=True)
    best = min(agreement, key=lambda a: a["spiking"])
    best["difference"] = best["spiking"] - best["lasso"]
    best["ok"] = abs(best["difference"]) <= 0.02
    for rate in args.rates:       # fewer spikes per unit of code at the best λ
        rows += _lca_run(args, x, name, phi, best["lam"], rate * scale)
        print(f"  LCA {name} λ={best['lam']:g} at {rate:g} Hz per code: distance "
              f"{rows[-1]['distance']:.4f}, {rows[-1]['wall_s']:.0f} s", flush=True)
    return rows, dict(sweep=agreement, best=best,
                      best_lasso=min(a["lasso"] for a in agreement))


def benchmark(args):
    limit_threads(args.threads)
    x, _ = load_shared_patches(args.n_patches)
    x = x.astype(np.float64)
    print(f"{len(x)} shared held-out patches, windows {args.windows}", flush=True)
    t0 = time.perf_counter()
    rows = _ipvae(args, x)
    print(f"  spiking iP-VAE: {time.perf_counter() - t0:.0f} s", flush=True)
    checks = {}
    norm_ipvae = np.linalg.norm(lca_dictionary("ipvae"), axis=0).mean()
    for name in args.dictionaries:
        phi = lca_dictionary(name)
        scale = np.linalg.norm(phi, axis=0).mean() / norm_ipvae
        lca_rows, checks[name] = _lca(args, x, name, phi, scale)
        rows += lca_rows
    report = dict(benchmark="lca", n_patches=len(x), windows=args.windows,
                  window_s=DEFAULT_WINDOW_S, device=args.device, tau_s=args.tau,
                  rate_per_code_ipvae=RATE_PER_CODE, rows=rows, lca_vs_lasso=checks,
                  machine=machine_info(args.threads))
    return rows, report


def print_report(rows, report):
    print_table(rows, _COLUMNS)
    for name, check in report["lca_vs_lasso"].items():
        b = check["best"]
        print(f"{name}: spiking LCA at its best λ={b['lam']:g}: {b['spiking']:.4f}, "
              f"Lasso at that λ {b['lasso']:.4f} (difference {b['difference']:+.4f}, "
              f"{'within' if b['ok'] else 'NOT within'} 0.02); best Lasso "
              f"{check['best_lasso']:.4f}")


def main(argv=None):
    return run_main(_parse(argv), benchmark, print_report)


if __name__ == "__main__":
    sys.exit(main())
