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
- ``docs/figures/runs/<name>.json``: a command's ``--json`` output as it
  printed it, under ``output``, with the ``command`` that printed it and how
  long it ran (``python docs/_ext/ipvae_results.py record NAME COMMAND...``
  writes one); `RUNS` maps each file to the function that formats the numbers
  a page quotes from it (``ipvae-snn stats`` and its protocols,
  ``examples/cortex_comparison.py``'s ``cortex_table.json``).
- ``ipvae_snn/cortex_v1.json``: the V1 ranges the statistics are set beside
  (`v1_ranges`), so a page quotes the file the table compares with.

``python docs/_ext/ipvae_results.py`` prints them.
"""

import glob
import json
import os

__all__ = ["committed", "example_numbers", "benchmark_numbers", "run_numbers",
           "v1_ranges", "record", "EXAMPLES_DIR", "RESULTS_DIR", "RUNS_DIR",
           "BENCHMARKS", "RUNS"]

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: Where the examples' JSON lies, beside their figures.
EXAMPLES_DIR = os.path.join(_ROOT, "docs", "figures")
#: Where the benchmarks' committed reports lie.
RESULTS_DIR = os.path.join(_ROOT, "benchmarks", "results")
#: Where the commands' committed ``--json`` outputs lie.
RUNS_DIR = os.path.join(EXAMPLES_DIR, "runs")


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
    plain = models.get("default, without contrast normalisation")
    if plain is not None:           # the default without its contrast normalisation
        p = plain[1000]
        rows.append(["default without contrast normalisation", 1000, _f(p["r2"]),
                     _f(p["zero_fraction"]), _f(p["mean_count"], 2), _f(p["distance"]),
                     _f(p["r2_rate"]), _f(p["distance_rate"])])
        out["rd_plain_distance"] = _f(p["distance"])
    normed = sc.get("normalised")
    if normed is not None:          # sparse coding given the same normalisation
        b = normed["best"]
        rows.append([f"sparse coding of the normalised patches, best alpha ({b['alpha']:g})",
                     "–", _f(b["r2"]), _f(b["zero_fraction"]), "(real-valued)",
                     _f(b["distance"]), "", ""])
        out["rd_sc_norm_distance"] = _f(b["distance"])
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
    bars = report["bars"]
    out["rd_bar_margin"] = f"{bars['sc_margin']:g}"
    out["rd_bar_rate"] = f"{bars['rate_readout_max']:g}"
    out["rd_bar_ood_r2_16"] = f"{bars['ood_r2_16']:g}"
    out["rd_bar_ood_clamp_pct"] = f"{100 * bars['ood_clamp_max']:g} %"
    rate = rd["checks"]["rate_readout"]
    out["rd_rate_r2"] = _f(rate["r2"])
    out["rd_rate_zeros"] = _f(rate["zero_fraction"])
    out["rd_rate_distance"] = _f(rate["distance"])
    out["rd_rate_paper"] = _f(rate["paper_code"])
    out["rd_rate_met"] = "meets" if rate["met"] else "does not meet"
    out["rd_margin_met"] = ("meets" if rd["checks"]["distance_below_best_sc"]["met"]
                            else "does not meet")
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
        best = rb["sparse_coding"][name]["best"]
        normed = rb["sparse_coding"][name].get("normalised")
        rows.append([name, _f(by_t[16]["r2"]), _f(by_t[64]["r2_bounded"]), r2_last,
                     _f(last["zero_fraction"]), at_clamp,
                     _f(rb["checks"][name]["distance_bounded"]),
                     f"{_f(best['distance'])} ({best['alpha']:g})"]
                    + ([] if normed is None else [
                        f"{_f(normed['best']['distance'])} ({normed['best']['alpha']:g})"]))
    normalised = any(v.get("normalised") for v in rb["sparse_coding"].values())
    out["rd_ood_table"] = _table(["photograph", "R² T=16", "R² T=64 (bounded)",
                                  "R² T=1000", "zeros T=1000", "patches at the clamp",
                                  "distance T=1000 (bounded)", "sparse coding (best alpha)"]
                                 + (["sparse coding, normalised patches"] if normalised
                                    else []), rows)
    if normalised:
        out["rd_ood_n_below_sc_norm"] = str(sum(
            rb["checks"][n]["distance_bounded"] <= rb["sparse_coding"][n]["normalised"]
            ["best"]["distance"] for n in rb["images"]))
    out["rd_ood_n_below_sc"] = str(sum(c["distance_met"] for c in rb["checks"].values()))
    out["rd_ood_n_images"] = str(len(rb["images"]))
    out["rd_ood_min_r2_16"] = _f(min(c["r2_16"] for c in rb["checks"].values()), 2)
    out["rd_ood_n_met"] = str(sum(c["distance_met"] and c["r2_16_met"] and c["clamp_met"]
                                  and c["r2_not_falling_met"] for c in rb["checks"].values()))
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


def _millions(value):
    """Millions, two significant digits (whole millions from 10)."""
    m = value / 1e6
    return f"{m:.0f}" if m >= 10 else f"{m:.2g}"


def _lca(report):
    """
    The numbers of docs/spiking-lca.md and docs/rate-distortion.md from
    bench_lca's report (synaptic events in millions per patch).
    """
    out = {"lca_n_patches": f"{report['n_patches']:,}",
           "lca_tau_ms": f"{report['tau_s'] * 1e3:g}",
           "lca_rate_per_norm": f"{report['rate_per_code_rel']:g}",
           "lca_minutes": f"{report['seconds'] / 60:.0f}",
           "lca_model": f"{report['ipvae_model']['model']} "
                        f"({report['ipvae_model']['fingerprint']})"}
    rows = report["rows"]
    snn = {r["T"]: r for r in rows if r["model"] == "spiking iP-VAE"}
    last = max(report["windows"])
    best, summary = {}, []
    for name, check in report["lca_vs_lasso"].items():
        b = check["best"]
        lca_rate = report["rate_per_code_rel"] * check["mean_atom_norm"]
        best[name] = {r["T"]: r for r in rows if r["model"] == "spiking LCA"
                      and r["dictionary"] == name and r["lam"] == b["lam"]
                      and r["rate"] == lca_rate}
        p = f"lca_{name}"
        out[f"{p}_lam"] = f"{b['lam']:.3g}"
        out[f"{p}_lam_rel"] = f"{b['lam_rel']:g}"
        out[f"{p}_lams_rel"] = ", ".join(f"{a['lam_rel']:g}" for a in check["sweep"])
        out[f"{p}_distance"] = _f(b["spiking"])
        out[f"{p}_lasso"] = _f(b["lasso"])
        out[f"{p}_difference"] = f"{b['difference']:+.4f}"
        out[f"{p}_best_lasso"] = _f(check["best_lasso"])
        out[f"{p}_within"] = "within" if b["ok"] else "not within"
        out[f"{p}_norm"] = f"{check['mean_atom_norm']:.3g}"
        for t, r in best[name].items():
            out[f"{p}_distance_t{t}"] = _f(r["distance"])
            out[f"{p}_events_t{t}"] = _millions(r["events_per_patch"])
        label = {"ipvae": "the iP-VAE's Φ", "learnt": "learnt (unit-norm atoms)"}[name]
        for a in check["sweep"]:
            summary.append([label, f"{a['lam']:.3g} ({a['lam_rel']:g})",
                            _f(a["spiking"]) if a["lam"] != b["lam"]
                            else f"**{_f(a['spiking'])}**", _f(a["lasso"]),
                            f"{a['spiking'] - a['lasso']:+.4f}",
                            _millions(a["events_per_patch"])])
    out["lca_sweep_table"] = _table(
        ["dictionary", "λ (÷ mean atom norm)", f"spiking LCA, T={last}", "Lasso codes",
         "difference", "synaptic events / patch (millions)"], summary)
    # distance and synaptic events against simulated time, both networks
    head = ["T", "simulated time", "iP-VAE distance", "iP-VAE events (M)"]
    for name in best:
        head += [f"LCA ({name}) distance", f"LCA ({name}) events (M)"]
    table = []
    for t in sorted(set(snn) | {t for b in best.values() for t in b}):
        row = [t, f"{(t + 1) * report['window_s']:g} s"]
        for r in [snn.get(t)] + [b.get(t) for b in best.values()]:
            row += ([_f(r["distance"]), _millions(r["events_per_patch"])] if r
                    else ["–", "–"])
        table.append(row)
    out["lca_time_table"] = _table(head, table)
    for t, r in snn.items():
        out[f"lca_snn_distance_t{t}"] = _f(r["distance"])
        out[f"lca_snn_events_t{t}"] = _millions(r["events_per_patch"])
    t_end = max(snn)
    out["lca_snn_t_end"] = str(t_end)
    out["lca_t_end"] = str(last)
    out["lca_events_ratio"] = (
        f"{snn[t_end]['events_per_patch'] / best['ipvae'][last]['events_per_patch']:.0f}")
    # fewer spikes per unit of code at the best λ (the rate sweep)
    table = []
    for name, check in report["lca_vs_lasso"].items():
        b = check["best"]
        for r in sorted((r for r in rows if r["model"] == "spiking LCA"
                         and r["dictionary"] == name and r["lam"] == b["lam"]
                         and r["T"] == last), key=lambda r: r["rate"]):
            table.append([name, f"{r['rate'] / check['mean_atom_norm']:g}",
                          f"{r['rate']:.3g}", _f(r["r2"]), _f(r["zero_fraction"]),
                          _f(r["distance"]), _millions(r["events_per_patch"])])
    out["lca_rate_table"] = _table(
        ["dictionary", "spikes/s per unit of code (÷ mean atom norm)",
         "spikes/s per unit of code", f"R² T={last}", "zeros", "distance",
         "synaptic events / patch (millions)"], table)
    if report.get("cortex"):
        out.update(_lca_cortex(report["cortex"]))
    return out


def _lca_cortex(cortex):
    """bench_lca --cortex: both networks' cortex tables side by side."""
    proto = cortex["protocol"]
    out = {f"lca_cx_{key}": f"{proto[key]:,}" for key in
           ("n_patches", "n_trials", "n_windows", "n_gratings")}
    nets = cortex["networks"]
    yes = {True: "yes", False: "no", None: "–"}

    def value(r):
        v = r["network"] if r["network"] is not None else r.get("raw")
        text = "n/a" if v is None else _g(v)
        return text if r["network"] is not None or v is None else f"{text} (placed, †)"
    by = {name: {r["measure"]: r for r in n["rows"]} for name, n in nets.items()}
    first = next(iter(by.values()))
    rows = []
    for key, r in first.items():
        if r["low"] is None:
            continue
        units = "" if r["units"] == "dimensionless" else f" {r['units']}"
        row = [r["label"], f"{r['low']:g} – {r['high']:g}{units}"]
        for name in nets:
            row += [value(by[name][key]), yes[by[name][key]["inside"]]]
        rows.append(row)
    total = ["**inside**", ""]
    for name, n in nets.items():
        total += ["", f"**{n['inside']['n_inside']} of {n['inside']['n_ranged']}**"]
        key = "snn" if "iP-VAE" in name else "lca"
        out[f"lca_cx_{key}_inside"] = (f"{n['inside']['n_inside']} of "
                                       f"{n['inside']['n_ranged']}")
    rows.append(total)
    head = ["measure", "V1 range"]
    for name in nets:
        head += [name, "inside"]
    out["lca_cx_table"] = _table(head, rows)
    return out


#: Committed benchmark reports, by file name, with the formatter of the
#: numbers the pages quote from them.
BENCHMARKS = {"bench_rate_distortion.json": _rate_distortion, "bench_lca.json": _lca}


def benchmark_numbers(folder=RESULTS_DIR):
    """``{file name: {name: text}}`` of every committed report `BENCHMARKS` knows."""
    return {name: fmt(_load(os.path.join(folder, name)))
            for name, fmt in BENCHMARKS.items()
            if os.path.exists(os.path.join(folder, name))}


def _range(low, high, units=""):
    units = "" if units in ("", "dimensionless") else f" {units}"
    return f"{low:g} – {high:g}{units}"


#: The V1 ranges the statistics are compared with.
CORTEX_V1 = os.path.join(_ROOT, "ipvae_snn", "cortex_v1.json")


def v1_ranges(path=CORTEX_V1):
    """``v1_<measure>``: each ranged measure's V1 range as the table prints it."""
    measures = _load(path)["measures"]
    return {f"v1_{key}": _range(*m["range"], m["units"])
            for key, m in measures.items() if m["range"]}


def _g(value, digits=3):
    return f"{value:.{digits}g}"


def _fenced(text):
    return "```\n" + text.rstrip("\n") + "\n```"


def _rows(output):
    return {r["measure"]: r for r in output["rows"]}


def _measures(prefix, output):
    """The values of one cortex table, as its formatter prints them."""
    v = output["values"]
    out = {f"{prefix}_{key}": _g(v[key]) for key in (
        "fano_factor", "noise_correlation", "isi_cv", "isi_lv", "lifetime_sparseness",
        "population_sparseness", "log10_rate_sd", "median_rate_hz", "circular_variance",
        "orientation_bandwidth_deg", "orientation_bandwidth_raw_deg", "osi")}
    for key in ("fano_factor", "lifetime_sparseness", "log10_rate_sd",
                "circular_variance", "isi_cv", "isi_lv"):
        out[f"{prefix}_{key}_2"] = f"{v[key]:.2f}"
    inside = [r for r in output["rows"] if r["inside"] is not None]
    names = [r["label"].rstrip("*†‡").replace(", smoothed", "") for r in inside
             if r["inside"]]
    out[f"{prefix}_n_inside"] = str(len(names))
    out[f"{prefix}_n_compared"] = str(len(inside))
    out[f"{prefix}_inside"] = ", ".join(names) or "none"
    out[f"{prefix}_counting_s"] = f"{v['counting_window_s']:g}"
    out[f"{prefix}_analysis_s"] = f"{v['analysis_s']:g}"
    out[f"{prefix}_n_pairs"] = f"{v['n_correlation_pairs']:,}"
    out[f"{prefix}_smoothing_deg"] = f"{v['orientation_smoothing_deg']:g}"
    out[f"{prefix}_sampling_deg"] = f"{v['orientation_sampling_deg']:g}"
    return out


def _cortex_example(run):
    """examples/cortex_comparison.py's ``cortex_table.json`` (window realization)."""
    import ipvae_snn.stats as stats
    o = run["output"]
    out = _measures("cx", o)
    out["cx_table"] = _fenced(stats.format_cortex_table(o["rows"]))
    for key in ("n_patches", "n_trials", "n_windows"):
        out[f"cx_{key}"] = str(o[key])
    out["cx_seconds"] = f"{run['seconds']:.0f}"
    out["cx_n_gratings"] = str(o["n_gratings"])
    return out


def _side_by_side(default, setting):
    """The default and the setting's tables, side by side (rows with a range)."""
    d, s = _rows(default["output"]), _rows(setting["output"])
    yes = {True: "yes", False: "no", None: "–"}

    def value(r):
        v = r["network"] if r["network"] is not None else r["raw"]
        text = _g(v)
        return text if r["meaningful"] else f"{text} (placed, †)"
    rows = []
    for key, r in d.items():
        if r["low"] is None:
            continue
        units = "" if r["units"] == "dimensionless" else f" {r['units']}"
        rows.append([r["label"], f"{r['low']:g} – {r['high']:g}{units}", value(r),
                     yes[r["inside"]], value(s[key]), yes[s[key]["inside"]]])
    n = [o["output"]["inside"] for o in (default, setting)]
    rows.append(["**inside**", "", "", f"**{n[0]['n_inside']} of {n[0]['n_ranged']}**",
                 "", f"**{n[1]['n_inside']} of {n[1]['n_ranged']}**"])
    ms = f"{setting['output']['window_s'] * 1e3:g} ms"
    return _table(["measure", "V1 range", f"default, {ms}", "inside",
                   f"setting: gain noise {setting['output']['gain_noise']:g}, {ms}",
                   "inside"], rows)


def _setting(run):
    """``ipvae-snn stats --window-ms 20 --gain-noise 0.25 --json``, with the default's."""
    o = run["output"]
    out = _measures("set", o)
    out["set_gain_noise"] = f"{o['gain_noise']:g}"
    out["set_window_ms"] = f"{o['window_s'] * 1e3:g}"
    for key in ("n_gratings", "n_patches", "trials", "n_windows"):
        out[f"set_{key.replace('trials', 'n_trials')}"] = str(o[key])
    out["set_outside"] = ", ".join(r["label"].rstrip("*†‡").replace(", smoothed", "")
                                   for r in o["rows"] if r["inside"] is False)
    # the window at which the median rate reaches the top of its range: the
    # median count per window over the range's top rate
    high = _rows(o)["median_rate_hz"]["high"]
    out["set_window_for_rate_ms"] = (
        f"{o['values']['median_rate_hz'] * o['window_s'] / high * 1e3:.0f}")
    path = os.path.join(RUNS_DIR, "stats_default_20ms.json")
    if os.path.exists(path):
        out["set_side_by_side"] = _side_by_side(_load(path), run)
    return out


def _setting_continuous(run):
    """The setting in the continuous realization: ISI measures compared too."""
    return _measures("setc", run["output"])


def _default_20ms(run):
    return _measures("d20", run["output"])


def _onset(run):
    """``ipvae-snn stats --protocol onset --gain-noise σ --json``: both gains."""
    out = {}
    for r in run["output"]["values"]["runs"]:
        key = "onset_gain" if r["gain_noise"] else "onset_default"
        out[f"{key}_before"] = f"{r['fano_before']:.2f}"
        out[f"{key}_after"] = f"{r['fano_after']:.2f}"
        out[f"{key}_drop"] = f"{-r['change']:.2f}"
    return out


def _noise_correlation(key):
    """``ipvae-snn stats --protocol noise-correlation --json``: mean r_sc and its slope."""
    def fmt(run):
        v = run["output"]["values"]
        return {f"{key}_mean_r_sc": _g(v["mean_r_sc"], 2),
                f"{key}_slope": _g(v["slope_r_sc_on_r_signal"], 2)}
    return fmt


def _sensitivity(run):
    """``ipvae-snn stats --protocol sensitivity --json``: the gain axis's thresholds."""
    gains = sorted((p for p in run["output"]["values"]["points"] if p["axis"] == "gain_noise"),
                   key=lambda p: p["gain_noise"])
    both = [p["gain_noise"] for p in gains if not p.get("error")
            and {"fano_factor", "noise_correlation"} <= set(p["inside"])]
    first = min(both)
    leaves = [p["gain_noise"] for p in gains if p["gain_noise"] > first
              and (p.get("error") or "fano_factor" not in p["inside"])]
    return {"sens_gain_both_inside": f"{first:g}",
            "sens_gain_fano_leaves": f"{min(leaves):g}"}


#: Committed command outputs, by file name under `RUNS_DIR`, with the
#: formatter of the numbers the pages quote from them.
RUNS = {"cortex_comparison.json": _cortex_example,
        "stats_default_20ms.json": _default_20ms,
        "stats_setting.json": _setting,
        "stats_setting_continuous.json": _setting_continuous,
        "protocol_onset.json": _onset,
        "protocol_sensitivity.json": _sensitivity,
        "protocol_noise_correlation.json": _noise_correlation("nc_default"),
        "protocol_noise_correlation_gain.json": _noise_correlation("nc_gain")}


def run_numbers(folder=RUNS_DIR):
    """``{file name: {name: text}}`` of every committed command output `RUNS` knows."""
    return {name: fmt(_load(os.path.join(folder, name)))
            for name, fmt in RUNS.items() if os.path.exists(os.path.join(folder, name))}


def record(name, command, stdout=None, folder=RUNS_DIR):
    """
    Run ``command`` (a list; it prints JSON) and write its output to
    ``folder/name.json`` with the command and its run time; ``stdout``: the
    JSON file of a run made already (then ``command`` only names it).
    """
    import shlex
    import subprocess
    import time
    start = time.perf_counter()
    if stdout is None:
        text = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        seconds = time.perf_counter() - start
    else:
        with open(stdout, encoding="utf-8") as f:
            text = f.read()
        seconds = None
    output = json.loads(text)
    if seconds is None:
        seconds = output.get("seconds") or output.get("simulation_s")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump(dict(command=shlex.join(command), seconds=seconds,
                       recorded=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       output=output), f, indent=1)
        f.write("\n")


def committed():
    """
    Every number of the committed runs, ``{name: text}``; a name given by two
    files is an error (one number, one source).
    """
    numbers, source = {}, {}
    for group in (example_numbers(), benchmark_numbers(), run_numbers(),
                  {"cortex_v1.json": v1_ranges()}):
        for path, values in group.items():
            for name, text in values.items():
                if name in numbers:
                    raise ValueError(f"{name} is given by both {source[name]} and {path}")
                numbers[name], source[name] = text, path
    return numbers


if __name__ == "__main__":
    import sys
    if sys.argv[1:2] == ["record"]:
        record(sys.argv[2], sys.argv[3:])
        sys.exit(0)
    for name, value in sorted(committed().items()):
        print(f"{name} = {value}")
