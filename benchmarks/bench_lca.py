"""
Benchmark: the two spiking networks side by side — the iP-VAE
(`ipvae_snn.SpikingIPVAE`) and the spiking LCA (`ipvae_snn.lca.SpikingLCA`)
— beside scikit-learn's sparse coding, on the same held-out patches.

For each network and read-out window T (``--windows``, window length 0.1 s,
simulated time (T + 1) × 0.1 s): mean R², zero fraction of the counts,
rate–distortion distance, and the synaptic events per patch up to the end of
window T (spikes × fan-out: every spike reaches the network's other K − 1
neurons in the LCA, all K in the iP-VAE, whose all-to-all synapses include
the self term; an energy proxy). The iP-VAE is ``--model`` (default: the
bundled default), run as given; for a model with a contrast normalisation
(`ipvae_snn.contrast`) the LCA and the Lasso code the same normalised patches
its network sees (R² is that of the patches as given). The LCA runs on each dictionary
(``--dictionaries``: that model's Φ, ``ipvae``; scikit-learn's dictionary
learning on training patches, ``learnt``) at each λ of its sweep, beside
scikit-learn's non-negative Lasso codes (`SparseCoder`) of the same
dictionary, λ and patches; at its best λ also with fewer spikes per unit of
code (``--rates``), the accuracy–energy trade-off of a rate code. With
``--cortex``, both networks' cortex tables (`ipvae_snn.stats.cortex_experiment`:
``--cortex-patches`` patches × 20 trials × 41 windows, 480 gratings 3° apart;
the LCA at its best λ on the iP-VAE's Φ) and how many of their measures lie
inside the V1 ranges (a few minutes more). λ and the
spike rates are given relative to the dictionary's mean atom norm, so the
sweep means the same on a rescaled Φ (Φ → cΦ takes the Lasso codes at cλ to
a/c: the same reconstruction and zeros). Check: at its best λ the spiking
LCA's distance at the last T is within 0.02 of the Lasso codes' at that λ.

Usage::

    python benchmarks/bench_lca.py --n-patches 2000 --json-out bench_lca.json
    python benchmarks/bench_lca.py --n-patches 64 --windows 1,2,4   # minutes
    python benchmarks/bench_lca.py --model my_model.npz --json-out lca_mine.json
"""

import json
import os
import shlex
import sys
import time

import numpy as np

from _common import (DEFAULT_PACKAGES, BenchmarkError, base_parser, git_commit,
                     limit_threads, load_shared_patches, machine_info, positive_floats,
                     positive_int, print_table, read_out_windows, run_main)
from ipvae_snn import SpikingIPVAE, load_model
from ipvae_snn.contrast import normalize_input
from ipvae_snn.defaults import DEFAULT_WINDOW_S
from ipvae_snn.lca import (LAMBDA_SWEEPS, RATE_PER_NORM, SpikingLCA, code_points,
                           lasso_codes, lca_dictionary, mean_atom_norm)
from ipvae_snn.params import BUNDLED_MODELS, DEFAULT_MODEL_NAME, bundled_model_path
from ipvae_snn.ratedistortion import distance

__all__ = ["main", "model_provenance", "ipvae_rows", "lca_sweep", "cortex_tables",
           "LAMBDAS", "RATE_PER_CODE", "CORTEX_PROTOCOL"]

#: The λ sweeps (units of the dictionary's mean atom norm) and the spike rate
#: per unit of code (units of the mean atom norm) of `ipvae_snn.lca`.
LAMBDAS, RATE_PER_CODE = LAMBDA_SWEEPS, RATE_PER_NORM

#: The cortex experiment of ``--cortex``: trials per patch, windows per trial,
#: grating orientations (3° apart: the LCA's tuning is narrow) × 8 phases.
CORTEX_PROTOCOL = dict(n_trials=20, n_windows=41, n_orientations=60, count_windows=5)

_COLUMNS = [("model", "model", ""), ("dictionary", "dictionary", ""),
            ("lam", "λ", ".3g"), ("lam_rel", "λ/norm", ".3g"),
            ("rate", "Hz/code", ".3g"), ("T", "T", "d"),
            ("time_s", "sim. s", ".1f"),
            ("r2", "R² mean", ".4f"), ("zero_fraction", "zero frac", ".4f"),
            ("distance", "distance", ".4f"),
            ("events_per_patch", "syn. events/patch", ".3g"),
            ("spikes_per_patch", "spikes/patch", ".4g"), ("wall_s", "wall s", ".1f")]


def _parse(argv):
    parser = base_parser(__doc__.split("\n\n")[0], n_patches=2000, steps=16)
    parser.add_argument("--model", metavar="NAME|F.npz", default=None,
                        help=f"the iP-VAE (and the ipvae dictionary): a bundled model's "
                             f"name or a model file (default: the bundled "
                             f"'{DEFAULT_MODEL_NAME}')")
    parser.add_argument("--windows", default="0,1,2,4,8",
                        help="the LCA's read-out windows T (at least 3), comma-separated")
    parser.add_argument("--ipvae-windows", default="0,1,2,4,8,16,64,1000",
                        help="the iP-VAE's read-out windows T (at least 3)")
    parser.add_argument("--rates", default="25,80,250",
                        help="further spike rates per unit of code, in units of the "
                             "dictionary's mean atom norm, run at each dictionary's "
                             "best λ: fewer spikes, coarser codes")
    parser.add_argument("--dictionaries", default="ipvae,learnt",
                        help="the LCA's dictionaries (ipvae, learnt)")
    parser.add_argument("--device", default="cpp_standalone",
                        choices=("runtime", "cpp_standalone"))
    parser.add_argument("--tau", type=float, default=0.01,
                        help="the LCA state's time constant, seconds")
    parser.add_argument("--cortex", action="store_true",
                        help="also both networks' cortex tables (ipvae_snn.stats) and "
                             "their measures inside the V1 ranges")
    parser.add_argument("--cortex-patches", type=positive_int, default=10,
                        help="natural patches of the cortex experiment (20 trials each)")
    args = parser.parse_args(argv)
    args.command = "python benchmarks/bench_lca.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    try:        # bad values end as argparse's one-line error, exit status 2
        args.windows = read_out_windows(args.windows, "--windows")
        args.ipvae_windows = read_out_windows(args.ipvae_windows, "--ipvae-windows")
        args.rates = positive_floats(args.rates, "--rates")
    except BenchmarkError as exc:
        parser.error(str(exc))
    args.dictionaries = [d.strip() for d in args.dictionaries.split(",") if d.strip()]
    bad = set(args.dictionaries) - set(LAMBDAS)
    if bad:
        parser.error(f"--dictionaries: unknown {sorted(bad)}; known: {sorted(LAMBDAS)}")
    return args


def model_provenance(model):
    """
    Which iP-VAE a report used: ``model`` as given (None: the bundled
    default), its file, fingerprint and the provenance its file records
    (command, creation time, package version).
    """
    params = load_model(DEFAULT_MODEL_NAME if model is None else model)
    name = DEFAULT_MODEL_NAME if model is None else model
    if isinstance(name, str) and name in BUNDLED_MODELS:     # the package's own file
        path = "ipvae_snn/models/" + os.path.basename(bundled_model_path(name))
    else:
        path = None if model is None or not isinstance(model, str) else model
    out = dict(model=DEFAULT_MODEL_NAME if model is None else str(model),
               default=model is None, path=path, fingerprint=params.fingerprint(),
               mean_atom_norm=mean_atom_norm(params.phi))
    meta = params.metadata.get("provenance")
    if meta is not None:
        meta = json.loads(str(meta))
        out["provenance"] = {k: meta[k] for k in ("command", "created", "package_version",
                                                  "training_patches", "source")
                             if k in meta}
    return params, out


def _cumulative_events(result, fan_out):
    """Mean synaptic events and spikes per patch up to the end of each window."""
    # mean_count (per neuron, every window, whichever windows were recorded)
    # times the neurons: each patch's spikes per window, exact integers
    # (float32 in the iP-VAE's result: summed as integers, exactly)
    per_window = np.rint(result.mean_count.astype(np.float64)
                         * result.params.n_latents).astype(np.int64)
    spikes = np.cumsum(per_window, axis=1).mean(axis=0)            # (windows,)
    return spikes * fan_out, spikes


def _network_rows(result, name, dictionary, lam, windows, fan_out, wall_s, rate=None,
                  lam_rel=None):
    events, spikes = _cumulative_events(result, fan_out)
    rows = []
    for t in windows:
        r2 = float(np.nanmean(result.r2[:, t]))
        zf = float(result.zero_fraction[:, t].mean())
        rows.append(dict(model=name, dictionary=dictionary, lam=lam, lam_rel=lam_rel,
                         T=t, rate=rate, time_s=(t + 1) * DEFAULT_WINDOW_S, r2=r2,
                         zero_fraction=zf, distance=distance(r2, zf),
                         events_per_patch=float(events[t]),
                         spikes_per_patch=float(spikes[t]), wall_s=wall_s))
    return rows


def ipvae_rows(params, x, windows, device="cpp_standalone", seed=0):
    """The spiking iP-VAE's rows (`_COLUMNS`) at each window of one run."""
    net = SpikingIPVAE(params, device=device)
    t0 = time.perf_counter()
    res = net.run(x, windows[-1] + 1, seed=seed, warn=False, record_windows=windows)
    wall = time.perf_counter() - t0
    return _network_rows(res, "spiking iP-VAE", "ipvae", float("nan"), windows,
                         net.params.n_latents, wall)


def _lca_run(x, name, phi, lam, rate, windows, device, tau, lam_rel):
    lca = SpikingLCA(phi, lam=lam, device=device, tau=tau, rate_per_code=rate,
                     patches_per_run=16)
    t0 = time.perf_counter()
    res = lca.run(x, windows[-1] + 1, record_windows=windows, record_spikes=False,
                  progress=len(x) >= 1000)
    return _network_rows(res, "spiking LCA", name, lam, windows, lca.n_atoms - 1,
                         time.perf_counter() - t0, rate=rate, lam_rel=lam_rel)


def lca_sweep(x, name, phi, windows, lambdas=None, rates=(), device="cpp_standalone",
              tau=0.01):
    """
    The spiking LCA on dictionary ``phi`` over a λ sweep beside the Lasso codes.

    Parameters
    ----------
    x : ndarray, shape (n, n_pixels)
    name : str
        The dictionary's name in the rows (``ipvae`` or ``learnt``).
    phi : ndarray, shape (n_pixels, n_atoms)
    windows : list of int
        The LCA's read-out windows (the last one is checked against Lasso).
    lambdas : sequence of float, optional
        λ in units of ``phi``'s mean atom norm (default ``LAMBDAS[name]``).
    rates : sequence of float
        Further spike rates (units of `RATE_PER_CODE`) run at the best λ.

    Returns
    -------
    rows : list of dict
    check : dict
        ``sweep`` (per λ: spiking and Lasso distance), ``best`` (the spiking
        LCA's best λ, its difference from the Lasso codes at that λ and
        whether it is within 0.02), ``best_lasso``, ``mean_atom_norm``.
    """
    norm = mean_atom_norm(phi)
    rows, agreement = [], []
    for rel in (LAMBDAS[name] if lambdas is None else lambdas):
        lam = rel * norm
        rows += _lca_run(x, name, phi, lam, RATE_PER_CODE * norm, windows, device, tau,
                         rel)
        wall = rows[-1]["wall_s"]
        t0 = time.perf_counter()
        lasso = code_points(phi, x, lasso_codes(phi, x, lam))
        rows.append(dict(model="sklearn Lasso", dictionary=name, lam=lam, lam_rel=rel,
                         r2=lasso["r2"], zero_fraction=lasso["zero_fraction"],
                         distance=lasso["distance"], wall_s=time.perf_counter() - t0))
        agreement.append(dict(lam=lam, lam_rel=rel, spiking=rows[-2]["distance"],
                              lasso=lasso["distance"],
                              events_per_patch=rows[-2]["events_per_patch"]))
        print(f"  LCA {name} λ={lam:.3g} ({rel:g} × norm): distance "
              f"{rows[-2]['distance']:.4f} (Lasso {lasso['distance']:.4f}), {wall:.0f} s",
              flush=True)
    best = dict(min(agreement, key=lambda a: a["spiking"]))
    best["difference"] = best["spiking"] - best["lasso"]
    best["ok"] = bool(abs(best["difference"]) <= 0.02)
    for rate in rates:       # fewer spikes per unit of code at the best λ
        rows += _lca_run(x, name, phi, best["lam"], rate * norm, windows, device, tau,
                         best["lam_rel"])
        print(f"  LCA {name} λ={best['lam']:.3g} at {rate * norm:.3g} Hz per code: "
              f"distance {rows[-1]['distance']:.4f}, {rows[-1]['wall_s']:.0f} s",
              flush=True)
    return rows, dict(sweep=agreement, best=best, mean_atom_norm=norm,
                      best_lasso=min(a["lasso"] for a in agreement))


def cortex_tables(params, phi, lam, rate, x, device="cpp_standalone", tau=0.01, seed=0):
    """
    Both spiking networks' cortex tables (`ipvae_snn.stats.cortex_table`) by
    one protocol (`CORTEX_PROTOCOL`) on natural patches ``x``: the iP-VAE
    ``params`` and the spiking LCA on ``phi`` at ``lam`` and ``rate``.
    """
    import warnings

    from ipvae_snn import stats, stimuli
    proto = CORTEX_PROTOCOL
    gratings = stimuli.grating_set(np.arange(proto["n_orientations"]) * 180.0
                                   / proto["n_orientations"])
    lca = SpikingLCA(phi, lam=lam, device=device, tau=tau, rate_per_code=rate)
    n_natural = len(x) * proto["n_trials"]

    def lca_run(patches, n_windows, seed=None, record_windows=None):
        # spike times of the natural trials (the ISI measures); the gratings'
        # tuning needs only counts, and their spikes would take gigabytes
        # the inputs as the iP-VAE's network sees them (its contrast normalisation)
        return lca.run(normalize_input(params, patches)[0], n_windows, seed=seed,
                       record_windows=record_windows, record_spikes=len(patches) == n_natural)
    runs = {"spiking iP-VAE": SpikingIPVAE(params, device=device).run, "spiking LCA": lca_run}
    out = {}
    for name, run in runs.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # runaway / input-scale notes
            exp = stats.cortex_experiment(run, x, n_trials=proto["n_trials"],
                                          n_windows=proto["n_windows"], gratings=gratings,
                                          count_windows=proto["count_windows"], seed=seed)
        rows = stats.cortex_table(exp.values, placed_spike_times=exp.natural.spikes is None)
        out[name] = dict(rows=rows, inside=stats.inside_summary(rows),
                         wall_s=time.perf_counter() - t0)
        print(f"  cortex table, {name}: {out[name]['inside']['n_inside']} of "
              f"{out[name]['inside']['n_ranged']} measures inside the V1 ranges, "
              f"{out[name]['wall_s']:.0f} s", flush=True)
    return dict(protocol=dict(proto, n_patches=len(x), n_gratings=len(gratings[0]),
                              lam=lam, rate_per_code=rate), networks=out)


def benchmark(args):
    start = time.perf_counter()
    with limit_threads(args.threads):
        params, model = model_provenance(args.model)
        x, _ = load_shared_patches(args.n_patches)
        x = x.astype(np.float64)
        print(f"{len(x)} shared held-out patches, LCA windows {args.windows}, iP-VAE "
              f"{model['model']} ({model['fingerprint']})", flush=True)
        t0 = time.perf_counter()
        rows = ipvae_rows(params, x, args.ipvae_windows, args.device, args.seed)
        print(f"  spiking iP-VAE: {time.perf_counter() - t0:.0f} s", flush=True)
        checks = {}
        # the same job: the LCA and the Lasso code what the iP-VAE's network sees,
        # the patches divided by the model's contrast normalisation if it has one
        # (R² is that of the patches as given either way)
        x_seen = normalize_input(params, x)[0]
        for name in args.dictionaries:
            phi = params.phi if name == "ipvae" else lca_dictionary(name)
            lca_rows, checks[name] = lca_sweep(x_seen, name, phi, args.windows,
                                               rates=args.rates, device=args.device,
                                               tau=args.tau)
            rows += lca_rows
        cortex = None
        if args.cortex:
            b = checks["ipvae"]["best"] if "ipvae" in checks else dict(
                lam=LAMBDAS["ipvae"][1] * mean_atom_norm(params.phi))
            norm = mean_atom_norm(params.phi)
            cortex = cortex_tables(params, params.phi, b["lam"], RATE_PER_CODE * norm,
                                   x[:args.cortex_patches], args.device, args.tau,
                                   args.seed)
    report = dict(benchmark="lca", command=args.command, commit=git_commit(),
                  config=dict(vars(args)),
                  ipvae_model=model, n_patches=len(x),
                  patches="patches_shared.npz['shared']", windows=args.windows,
                  ipvae_windows=args.ipvae_windows,
                  window_s=DEFAULT_WINDOW_S, device=args.device, tau_s=args.tau,
                  lambdas_rel=LAMBDAS, rate_per_code_rel=RATE_PER_CODE, rows=rows,
                  lca_vs_lasso=checks, cortex=cortex, seconds=time.perf_counter() - start,
                  machine=machine_info(args.threads, DEFAULT_PACKAGES + ("scikit-learn",)))
    return rows, report


def print_report(rows, report):
    print_table(rows, _COLUMNS)
    for name, check in report["lca_vs_lasso"].items():
        b = check["best"]
        print(f"{name}: spiking LCA at its best λ={b['lam']:.3g} ({b['lam_rel']:g} × norm): "
              f"{b['spiking']:.4f}, "
              f"Lasso at that λ {b['lasso']:.4f} (difference {b['difference']:+.4f}, "
              f"{'within' if b['ok'] else 'NOT within'} 0.02); best Lasso "
              f"{check['best_lasso']:.4f}")
    if report.get("cortex"):
        for name, c in report["cortex"]["networks"].items():
            print(f"cortex table, {name}: {c['inside']['n_inside']} of "
                  f"{c['inside']['n_ranged']} measures inside the V1 ranges (outside: "
                  f"{', '.join(c['inside']['outside']) or 'none'})")
    print(f"total {report['seconds']:.0f} s")


def main(argv=None):
    return run_main(_parse(argv), benchmark, print_report)


if __name__ == "__main__":
    sys.exit(main())
