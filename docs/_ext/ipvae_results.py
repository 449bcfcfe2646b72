"""
The numbers the pages quote from committed runs: the examples' and the
benchmarks' own JSON output, never figures copied by hand.

- ``docs/figures/<example>.json``: written by an example
  (``examples/_common.Outputs.quote``) in the same run as the figures beside
  it, ``{"command": ..., "numbers": {name: text}}``; every name is a
  substitution as it stands (the example formats it as it prints it), so a
  page's text and its figures come from one run.
- ``benchmarks/results/<bench>.json``: a benchmark's ``--json-out`` report;
  `BENCHMARKS` maps each file to the function that formats the numbers a page
  quotes from it.

``python docs/_ext/ipvae_results.py`` prints them.
"""

import glob
import json
import os

__all__ = ["committed", "example_numbers", "benchmark_numbers", "EXAMPLES_DIR",
           "RESULTS_DIR", "BENCHMARKS"]

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: Where the examples' JSON lies, beside their figures.
EXAMPLES_DIR = os.path.join(_ROOT, "docs", "figures")
#: Where the benchmarks' committed reports lie.
RESULTS_DIR = os.path.join(_ROOT, "benchmarks", "results")


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def example_numbers(folder=EXAMPLES_DIR):
    """``{file name: {name: text}}`` of every example's JSON in ``folder``."""
    return {os.path.basename(p): dict(_load(p)["numbers"])
            for p in sorted(glob.glob(os.path.join(folder, "*.json")))}


def _f(value, digits=3):
    return f"{value:.{digits}f}"


def _table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _rate_distortion(report):
    """The numbers of docs/rate-distortion.md from bench_rate_distortion's report."""
    out = {}
    rd = report["rate_distortion"]
    out["rd_n_patches"] = f"{rd['n_patches']:,}"
    models = {name: {p["T"]: p for p in m["points"]} for name, m in rd["models"].items()}
    sc = rd["sparse_coding"]
    best = sc["best"]
    rows = []
    for name, label in (("natural (default)", "default (`natural`)"),
                        ("official", "official-code model (`official`)")):
        for t in rd["windows"]:
            p = models[name][t]
            rows.append([label, t, _f(p["r2"]), _f(p["zero_fraction"]),
                         _f(p["mean_count"], 2), _f(p["distance"]),
                         _f(p["r2_rate"]), _f(p["distance_rate"])])
    rows.append([f"sparse coding, best alpha ({best['alpha']:g})", "–", _f(best["r2"]),
                 _f(best["zero_fraction"]), "(real-valued)", _f(best["distance"]), "", ""])
    paper = rd["paper"]
    rows.append(["the paper (official results files, van Hateren patches)", 1000,
                 f"{paper['r2']:g}", f"{paper['zero_fraction']:g}", "",
                 f"{_f(paper['distance'])} (LCA {_f(paper['lca_distance'])})", "",
                 _f(rd["checks"]["rate_readout"]["paper_code"])])
    out["rd_plane_table"] = _table(
        ["model", "T", "R² mean", "zeros", "count / neuron / window", "distance",
         "R² from the rates", "distance from the rates"], rows)
    d = models["natural (default)"]
    o = models["official"]
    for t, p in d.items():
        out[f"rd_default_r2_t{t}"] = _f(p["r2"])
        out[f"rd_default_r2_t{t}_2"] = _f(p["r2"], 2)
        out[f"rd_default_zeros_t{t}"] = _f(p["zero_fraction"])
        out[f"rd_default_zeros_t{t}_2"] = _f(p["zero_fraction"], 2)
        out[f"rd_default_distance_t{t}"] = _f(p["distance"])
        out[f"rd_default_distance_t{t}_4"] = _f(p["distance"], 4)
    for t, p in o.items():
        out[f"rd_official_r2_t{t}"] = _f(p["r2"])
        out[f"rd_official_zeros_t{t}_2"] = _f(p["zero_fraction"], 2)
        out[f"rd_official_distance_t{t}"] = _f(p["distance"])
    rate = rd["checks"]["rate_readout"]
    out["rd_rate_r2"] = _f(rate["r2"])
    out["rd_rate_zeros"] = _f(rate["zero_fraction"])
    out["rd_rate_distance"] = _f(rate["distance"])
    out["rd_rate_paper"] = _f(rate["paper_code"])
    c = rd["checks"]["distance_below_best_sc"]
    out["rd_margin"] = _f(c["margin"], 4)
    out["rd_sc_r2"] = _f(best["r2"])
    out["rd_sc_zeros"] = _f(best["zero_fraction"])
    out["rd_sc_distance"] = _f(best["distance"])
    out["rd_sc_distance_4"] = _f(best["distance"], 4)
    out["rd_sc_alpha"] = f"{best['alpha']:g}"
    # the default's dictionary at other spike costs (--cost-scales)
    rows = []
    scales = sorted([(float(n.split("x")[-1]), n) for n in models
                     if n.startswith("default, cost x")] + [(1.0, "natural (default)")])
    for factor, name in scales:
        p, p16 = models[name][1000], models[name][16]
        label = "b × 1 (the default)" if factor == 1.0 else f"b × {factor:g}"
        rows.append([label, _f(p["r2"]), _f(p["zero_fraction"]), _f(p["distance"]),
                     _f(p16["r2"])])
        if factor != 1.0:
            key = f"rd_cost_{factor:g}".replace(".", "_")
            out[f"{key}_r2"] = _f(p["r2"])
            out[f"{key}_zeros"] = _f(p["zero_fraction"])
            out[f"{key}_distance"] = _f(p["distance"])
    out["rd_cost_scales"] = ", ".join(f"{f:g}" for f, _ in scales if f != 1.0)
    out["rd_cost_table"] = _table(["default's dictionary at spike cost", "R² T=1000",
                                   "zeros T=1000", "distance T=1000", "R² T=16"], rows)
    # sparse coding's point nearest the b × smallest scale's zero fraction
    low = models[scales[0][1]][1000]
    near = min(sc["points"], key=lambda p: abs(p["zero_fraction"] - low["zero_fraction"]))
    out["rd_sc_near_low_r2"] = _f(near["r2"])
    out["rd_sc_near_low_zeros"] = _f(near["zero_fraction"])
    out["rd_sc_n_train"] = f"{sc['n_train']:,}"
    out["rd_sc_epochs"] = str(sc["epochs"])
    # photographs the model never saw
    rb = report["robustness"]
    out["rd_ood_n_patches"] = f"{rb['n_patches']:,}"
    rows = []
    for name in rb["images"]:
        by_t = {p["T"]: p for p in rb["points"][name]}
        ts = sorted(by_t)
        last = by_t[ts[-1]]
        at_clamp = round(last["runaway_fraction"] * rb["n_patches"])
        r2_last = _f(last["r2"])
        if at_clamp:
            r2_last = (f"{_f(last['r2_bounded'])} of {rb['n_patches'] - at_clamp:,} "
                       f"bounded patches (mean of all: {last['r2']:,.0f})")
        rows.append([name, _f(by_t[16]["r2"]), _f(by_t[64]["r2_bounded"]), r2_last,
                     _f(last["zero_fraction"]), at_clamp])
    out["rd_ood_table"] = _table(["photograph", "R² T=16", "R² T=64 (bounded)",
                                  "R² T=1000", "zeros T=1000", "patches at the clamp"],
                                 rows)
    out["rd_ood_min_r2_16"] = _f(min(c["r2_16"] for c in rb["checks"].values()), 2)
    out["rd_ood_all_met"] = "all" if rb["all_met"] else "not all"
    # digits
    dg = report["digits"]
    rows = [["digits model", p["T"], _f(p["r2"]), _f(p["zero_fraction"]),
             _f(p["distance"])] for p in dg["points"]]
    b = dg["sparse_coding"]["best"]
    rows.append([f"sparse coding, best alpha ({b['alpha']:g})", "–", _f(b["r2"]),
                 _f(b["zero_fraction"]), _f(b["distance"])])
    m = dg["paper_mnist"]
    rows.append(["the paper, MNIST (28×28)", 1000, f"{m['r2']:g}",
                 f"{m['zero_fraction']:g}", _f(m["distance"])])
    out["rd_digits_table"] = _table(["model", "T", "R² mean", "zeros", "distance"], rows)
    out["rd_digits_met"] = "meets" if dg["checks"]["met"] else "does not meet"
    out["rd_digits_n_test"] = f"{dg['n_test']:,}"
    out["rd_digits_n_train"] = f"{dg['n_train']:,}"
    out["rd_digits_sc_nonzero_pct"] = f"{100 * (1 - b['zero_fraction']):.0f} %"
    out["rd_seconds"] = f"{report['seconds'] / 60:.0f}"
    return out


#: Committed benchmark reports, by file name, with the formatter of the
#: numbers the pages quote from them.
BENCHMARKS = {"bench_rate_distortion.json": _rate_distortion}


def benchmark_numbers(folder=RESULTS_DIR):
    """``{file name: {name: text}}`` of every committed report `BENCHMARKS` knows."""
    return {name: fmt(_load(os.path.join(folder, name)))
            for name, fmt in BENCHMARKS.items()
            if os.path.exists(os.path.join(folder, name))}


def committed():
    """
    Every number of the committed runs, ``{name: text}``; a name given by two
    files is an error (one number, one source).
    """
    numbers, source = {}, {}
    for group in (example_numbers(), benchmark_numbers()):
        for path, values in group.items():
            for name, text in values.items():
                if name in numbers:
                    raise ValueError(f"{name} is given by both {source[name]} and {path}")
                numbers[name], source[name] = text, path
    return numbers


if __name__ == "__main__":
    for name, value in sorted(committed().items()):
        print(f"{name} = {value}")
