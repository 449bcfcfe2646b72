"""
Rate–distortion: the paper's Figs. 3 and 4 on this package's models
===================================================================

The bundled default model (trained by this package), the official-code
model, scikit-learn's non-negative sparse coding and the spiking LCA
(`ipvae_snn.lca.SpikingLCA`, a Brian2 network on the default model's Φ, over
its λ sweep beside scikit-learn's Lasso codes at the same λ) read the same
held-out patches (chelsea and gravel, the shared split). The script writes

``rate_distortion_plane.png``
    the rate–distortion plane (Fig. 4): R² of the reconstruction against the
    fraction of zero counts (zero codes for sparse coding), with circles of
    equal distance to the ideal corner (R² = 1 with no spikes), the paper's
    score ``sqrt((1 - R²)² + (1 - zero fraction)²)``; each iP-VAE at
    T = 16, 64 and 1000 by both of the paper's read-outs (filled: from the
    spike counts, the network's own output; open: from the rates ``Φ exp(u)``
    the counts are drawn from, with the counts' zero fraction), sparse coding
    swept over its sparsity alpha, the spiking LCA at its last window over
    its λ sweep;
``rate_distortion_curves.png``
    R² (from the counts, and dashed from the rates) and zero fraction against
    the number of inference steps T (Fig. 3), and the spiking LCA's at its
    best λ against the same windows of simulated time (0.1 s each);
``rate_distortion_points.json``
    every point.

With ``--from-json FILE`` it draws the points of a
``benchmarks/bench_rate_distortion.py --json-out FILE`` run instead (which
adds models trained at several spike costs, and the spiking LCA when it ran
its ``lca`` section). Run
``python examples/rate_distortion.py [--quick] [--out DIR] [--from-json F]``.
"""

import json

import numpy as np

from _common import Outputs, example_parser, run

#: The models drawn, with their colours.
MODELS = {"natural (default)": "C0", "official": "C3"}


def parse_args(argv=None):
    parser = example_parser(
        "Rate-distortion plane and R²/sparsity curves of the bundled models against "
        "sparse coding and the spiking LCA.",
        quick="fewer patches, steps and sparsity values, the LCA on 16 patches (a minute)",
        device="the spiking LCA's Brian2 device (the reference algorithm runs the "
               "iP-VAE models)")
    parser.add_argument("--from-json", metavar="FILE",
                        help="plot a bench_rate_distortion.py report instead")
    return parser.parse_args(argv)


def measure(args):
    """Points of the two bundled models and the sparse-coding sweep."""
    from ipvae_snn import load_model
    from ipvae_snn.data import HELD_OUT_IMAGES, TRAIN_IMAGES, natural_patches
    from ipvae_snn.ratedistortion import (SC_ALPHAS, ipvae_points,
                                          sparse_coding_dictionary,
                                          sparse_coding_points)
    n, steps = (200, 256) if args.quick else (1000, 1000)
    x = natural_patches(HELD_OUT_IMAGES, n, seed=args.seed + 1)
    curve_windows = sorted({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000} & set(
        range(steps + 1)))
    models = {}
    for name in MODELS:
        params = load_model(name.split(" ")[0])
        models[name] = dict(points=ipvae_points(params, x, curve_windows,
                                                seed=args.seed))
    x_train = natural_patches(TRAIN_IMAGES, 5120 if args.quick else 40960,
                              seed=args.seed)
    dictionary = sparse_coding_dictionary(x_train, 512, 1 if args.quick else 3,
                                          seed=args.seed)
    alphas = SC_ALPHAS[::3] if args.quick else SC_ALPHAS
    sc = sparse_coding_points(dictionary, x, alphas)
    lca = measure_lca(load_model("natural").phi, x[:16] if args.quick else x, args.device)
    return dict(n_patches=n, models=models, sparse_coding=dict(points=sc), lca=lca)


def measure_lca(phi, x, device, windows=(0, 1, 2, 4, 8)):
    """
    The spiking LCA on dictionary ``phi`` over its λ sweep (in units of the
    mean atom norm, `ipvae_snn.lca.LAMBDA_SWEEPS`), beside the Lasso codes:
    per λ its point at the last window, and at its best λ every window.
    """
    from ipvae_snn.lca import (LAMBDA_SWEEPS, RATE_PER_NORM, SpikingLCA, code_points,
                               lasso_codes, mean_atom_norm)
    from ipvae_snn.ratedistortion import distance
    norm = mean_atom_norm(phi)
    sweep, curves = [], {}
    for rel in LAMBDA_SWEEPS["ipvae"]:
        lam = rel * norm
        res = SpikingLCA(phi, lam=lam, device=device, rate_per_code=RATE_PER_NORM * norm,
                         ).run(x, windows[-1] + 1, record_windows=windows,
                               record_spikes=False)
        curve = []
        for t in windows:
            r2, zf = float(np.nanmean(res.r2[:, t])), float(res.zero_fraction[:, t].mean())
            curve.append(dict(T=t, r2=r2, zero_fraction=zf, distance=distance(r2, zf)))
        lasso = code_points(phi, x, lasso_codes(phi, x, lam))
        sweep.append(dict(curve[-1], lam=lam, lam_rel=rel, lasso=lasso))
        curves[lam] = curve
        print(f"spiking LCA λ={lam:.3g}: T={windows[-1]} distance {curve[-1]['distance']:.3f}"
              f" (Lasso {lasso['distance']:.3f})", flush=True)
    best = min(sweep, key=lambda p: p["distance"])
    return dict(n_patches=len(x), dictionary="default model's Φ", sweep=sweep,
                best=best, curve=curves[best["lam"]])


def lca_from_report(lca):
    """`measure_lca`'s points from a bench_rate_distortion report's ``lca`` section."""
    d = lca["dictionaries"]["ipvae"]
    spiking = [r for r in d["rows"] if r["model"] == "spiking LCA"]
    last = max(r["T"] for r in spiking)
    lasso = {r["lam"]: r for r in d["rows"] if r["model"] == "sklearn Lasso"}
    keys = ("T", "r2", "zero_fraction", "distance")
    sweep = [dict({k: r[k] for k in keys}, lam=r["lam"], lam_rel=r["lam_rel"],
                  lasso=lasso[r["lam"]])
             for r in spiking if r["T"] == last and r["lam"] in lasso]
    best = min(sweep, key=lambda p: p["distance"])
    curve = [{k: r[k] for k in keys} for r in spiking if r["lam"] == best["lam"]
             and r["rate"] == spiking[0]["rate"]]
    return dict(n_patches=lca["n_patches"], dictionary="default model's Φ", sweep=sweep,
                best=best, curve=curve)


def plot_plane(data, windows=(16, 64, 1000)):
    """R² against zero fraction, distance contours, one marker per model and T."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.2, 6.2), layout="constrained")
    theta = np.linspace(np.pi, 1.5 * np.pi, 100)
    for d in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
        ax.plot(1 + d * np.cos(theta), 1 + d * np.sin(theta), color="0.8", lw=0.8,
                zorder=0)
        ax.text(1 - d * 0.72, 1 - d * 0.72, f"{d:g}", color="0.55", fontsize=7,
                ha="center", va="center")
    sc = data["sparse_coding"]["points"]
    ax.plot([p["zero_fraction"] for p in sc], [p["r2"] for p in sc], "-o", color="0.35",
            ms=3.5, lw=1, label="sparse coding (alpha sweep)")
    best = min(sc, key=lambda p: p["distance"])
    ax.annotate(f"α={best['alpha']:g}: {best['distance']:.3f}",
                (best["zero_fraction"], best["r2"]), textcoords="offset points",
                xytext=(-70, -14), fontsize=7, color="0.35")
    lca = data.get("lca")
    if lca:
        sweep = sorted(lca["sweep"], key=lambda p: p["zero_fraction"])
        few = (f", first {lca['n_patches']} patches"
               if lca["n_patches"] != data.get("n_patches", lca["n_patches"]) else "")
        ax.plot([p["zero_fraction"] for p in sweep], [p["r2"] for p in sweep], "-D",
                color="C1", ms=4, lw=1,
                label=f"spiking LCA, default's Φ (λ sweep), T={sweep[0]['T']}{few}")
        ax.plot([p["lasso"]["zero_fraction"] for p in sweep],
                [p["lasso"]["r2"] for p in sweep], "+", color="C1", ms=8,
                label="Lasso codes at the same λ")
        b = lca["best"]
        ax.annotate(f"λ={b['lam']:.3g}: {b['distance']:.3f}", (b["zero_fraction"], b["r2"]),
                    textcoords="offset points", xytext=(8, -10), fontsize=7, color="C1")
    markers = {16: "s", 64: "^", 1000: "o"}
    for (label, members), color in zip(_sweeps(data["models"]).items(), ("C2", "C4")):
        # one model per spike cost: their T = 1000 points trace the model's
        # rate-distortion curve, as the paper's Fig. 4 does with beta
        last = [max(data["models"][n]["points"], key=lambda p: p["T"]) for n in members]
        last.sort(key=lambda p: p["zero_fraction"])
        ax.plot([p["zero_fraction"] for p in last], [p["r2"] for p in last], "--o",
                color=color, ms=4, lw=1, label=f"{label}, T={last[0]['T']}")
    names = [n for n in data["models"] if n in MODELS]
    for i, name in enumerate(names):
        color = MODELS.get(name, f"C{(i + 1) % 10}")
        pts = {p["T"]: p for p in data["models"][name]["points"]}
        shown = [t for t in windows if t in pts]
        ax.plot([pts[t]["zero_fraction"] for t in shown], [pts[t]["r2"] for t in shown],
                "-", color=color, lw=0.8, alpha=0.6)
        for t in shown:
            ax.plot(pts[t]["zero_fraction"], pts[t]["r2"], markers.get(t, "o"),
                    color=color, ms=7 if name in MODELS else 5,
                    label=f"{name}, T={t}" if name in MODELS else None)
        last = pts[shown[-1]]
        if name in MODELS:
            ax.annotate(f"{last['distance']:.3f}", (last["zero_fraction"], last["r2"]),
                        textcoords="offset points", xytext=(6, 4), fontsize=7,
                        color=color)
            if "r2_rate" in last:              # the rate read-out, same zero fraction
                ax.plot(last["zero_fraction"], last["r2_rate"], "o", mfc="none",
                        mec=color, ms=8, label=f"{name}, T={last['T']}, from the rates")
                ax.annotate(f"{last['distance_rate']:.3f}",
                            (last["zero_fraction"], last["r2_rate"]),
                            textcoords="offset points", xytext=(6, 4), fontsize=7,
                            color=color)
    lo_r2 = min(0.3, min(p["r2"] for p in sc))
    ax.set(xlim=(0.5, 1.0), ylim=(max(lo_r2, -0.1), 1.0),
           xlabel="fraction of zero counts (sparsity)",
           ylabel="R² of the reconstruction",
           title="Rate-distortion on held-out patches: distance to (1, 1) "
                 "is the paper's score")
    ax.legend(fontsize=7, loc="lower left")
    return fig


def _sweeps(models):
    """The models of each spike-cost sweep of a benchmark report, by sweep."""
    groups = {"default dictionary at other spike costs": "default, cost",
              "trained at other spike costs": "spike cost"}
    found = {label: [n for n in models if n.startswith(prefix)]
             for label, prefix in groups.items()}
    if found["default dictionary at other spike costs"] and "natural (default)" in models:
        found["default dictionary at other spike costs"].append("natural (default)")
    return {label: names for label, names in found.items() if names}


def plot_curves(data):
    """R² and zero fraction against T, one line per model (Fig. 3)."""
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for i, (name, model) in enumerate(data["models"].items()):
        pts = model["points"]
        if len(pts) < 4:     # the sweeps' models, read at three windows only
            continue
        color = MODELS.get(name, f"C{(i + 1) % 10}")
        t = [p["T"] for p in pts]
        a.plot(t, [p["r2"] for p in pts], "-o", ms=3, color=color, label=name)
        if all("r2_rate" in p for p in pts):
            a.plot(t, [p["r2_rate"] for p in pts], "--", color=color,
                   label=f"{name}, from the rates")
        b.plot(t, [p["zero_fraction"] for p in pts], "-o", ms=3, color=color,
               label=name)
    lca = data.get("lca")
    if lca:          # the LCA's windows of simulated time (T = 0 is off the log axis)
        pts = [p for p in lca["curve"] if p["T"] >= 1]
        label = f"spiking LCA, λ={lca['best']['lam']:.3g}"
        a.plot([p["T"] for p in pts], [p["r2"] for p in pts], "-D", ms=3, color="C1",
               label=label)
        b.plot([p["T"] for p in pts], [p["zero_fraction"] for p in pts], "-D", ms=3,
               color="C1", label=label)
    for ax, label in ((a, "mean R²"), (b, "fraction of zero counts")):
        ax.set_xscale("log")
        ax.set(xlabel="inference steps T (windows of 0.1 s)", ylabel=label)
        ax.grid(alpha=0.3)
    a.set_ylim(bottom=max(-0.2, a.get_ylim()[0]))
    a.legend(fontsize=8)
    fig.suptitle("Reconstruction quality and sparsity over inference steps")
    return fig


def main(argv=None):
    args = parse_args(argv)
    outputs = Outputs(args.out)
    if args.from_json:
        with open(args.from_json) as f:
            report = json.load(f)
        data = dict(report["rate_distortion"])
        if "lca" in report:
            data["lca"] = lca_from_report(report["lca"])
    else:
        data = measure(args)
    for name, model in data["models"].items():
        last = model["points"][-1]
        rates = (f"; from the rates R² {last['r2_rate']:.3f}, distance "
                 f"{last['distance_rate']:.3f}" if "r2_rate" in last else "")
        print(f"{name}: T={last['T']} R² {last['r2']:.3f}, zeros "
              f"{last['zero_fraction']:.3f}, distance {last['distance']:.3f}{rates}")
    best = min(data["sparse_coding"]["points"], key=lambda p: p["distance"])
    print(f"sparse coding, best alpha {best['alpha']:g}: R² {best['r2']:.3f}, zeros "
          f"{best['zero_fraction']:.3f}, distance {best['distance']:.3f}")
    if data.get("lca"):
        b = data["lca"]["best"]
        print(f"spiking LCA ({data['lca']['n_patches']} patches), best λ {b['lam']:.3g}: "
              f"T={b['T']} R² {b['r2']:.3f}, zeros {b['zero_fraction']:.3f}, distance "
              f"{b['distance']:.3f}; Lasso at that λ {b['lasso']['distance']:.3f}")
    outputs.save(plot_plane(data), "rate_distortion_plane.png")
    outputs.save(plot_curves(data), "rate_distortion_curves.png")
    outputs.save_json("rate_distortion_points.json", data)
    return outputs.finish("rate_distortion")


if __name__ == "__main__":
    run(main)
