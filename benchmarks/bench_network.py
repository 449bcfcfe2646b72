"""
Benchmark the Brian2 spiking network against the numpy reference and torch.

On the same shared patches, the same number of windows and the same cores:

``snn_window``
    `SpikingIPVAE` realization "window" (exact), ``cpp_standalone``, runs
    spread over ``--threads`` processes.
``snn_continuous``
    Realization "continuous" (escape-noise neurons, ``--continuous-steps``
    time steps per window), same device and processes. Not the same
    algorithm: its activity matches, its R² is higher (docs/model.md), so it
    is timed but not tested for agreement.
``reference``
    ``ipvae_snn.reference.infer`` (numpy, float32, ``--threads`` threads).
``torch``
    The plain PyTorch loop of ``bench_reference.py`` (float32, batched).

All read R² and the zero fraction at the last window. The networks are
compiled once into a fresh cache before timing (the build time is reported
separately); the table then gives wall seconds, patch-windows per second and
milliseconds per patch, and the JSON adds where the network's time goes: build,
runs of the compiled program (count, median seconds per run, per-run overhead),
synaptic events and their rate, and the share of each Brian2 code object from a
profiled run. Each ``ratio_<a>_over_<b>`` is seconds(a) / seconds(b) from runs
made side by side in this process (median over ``--repeats``), so
``ratio_snn_window_over_torch <= 2`` is the target of issue 4.

Usage::

    python benchmarks/bench_network.py --n-patches 20 --windows 100
    python benchmarks/bench_network.py --json-out bench_network.json
"""

import importlib
import os
import sys
import tempfile
import warnings

import numpy as np

from _common import (base_parser, limit_threads, load_reference_params,
                     load_shared_patches, machine_info, median, paired_agreement,
                     print_table, run_main, timed)
from bench_reference import run_ours, run_torch
from ipvae_snn.network import SpikingIPVAE
from ipvae_snn.results import RunawayWarning

_COLUMNS = [("name", "implementation", ""), ("seconds", "seconds", ".2f"),
            ("patch_windows_per_s", "patch-windows/s", ",.0f"),
            ("ms_per_patch", "ms/patch", ".1f"), ("r2", "R² at T", ".4f"),
            ("zero_fraction", "zero frac. at T", ".4f")]


def _parse(argv):
    parser = base_parser(__doc__.split("\n\n")[0].strip(), n_patches=200, steps=1000)
    parser.add_argument("--windows", type=int, default=None,
                        help="windows per patch (alias of --steps); metrics are "
                             "read at the last window")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="precision of the compiled networks")
    parser.add_argument("--continuous-steps", type=int, default=100,
                        help="time steps per window of the continuous realization")
    parser.add_argument("--skip", default="",
                        help="comma-separated implementations to leave out")
    parser.add_argument("--profile-patches", type=int, default=4,
                        help="patches of the profiled run (0: no profile)")
    args = parser.parse_args(argv)
    if args.windows is not None:
        args.steps = args.windows
    if args.steps < 2:
        parser.error("--windows must be at least 2")
    return args


def _network(params, realization, args, cache_dir, **kwargs):
    from brian2 import ms
    extra = {}
    if realization == "continuous":
        extra["dt"] = 100 * ms / args.continuous_steps
    return SpikingIPVAE(params, realization=realization, device="cpp_standalone",
                        dtype=args.dtype, n_jobs=args.threads, cache_dir=cache_dir,
                        **extra, **kwargs)


def _run_network(net, x, n_windows, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RunawayWarning)
        res = net.run(x, n_windows, seed=seed, record_windows=[n_windows - 1],
                      progress=False)
    t = n_windows - 1
    k = res.params.n_latents
    if res.info["realization"] == "window":
        # one event per synapse of each neuron with a nonzero count
        events = float(np.sum((1.0 - res.zero_fraction) * k) * k)
    else:
        events = float(np.sum(res.mean_count * k) * k)      # one per spike
    return dict(r2=res.r2[:, t].astype(np.float64),
                zero_fraction=float(res.zero_fraction[:, t].mean()),
                timing=res.info["timing"], synaptic_events=events)


def _profile(net, x, n_windows, seed):
    """Seconds per Brian2 code object of one run (shares of the total)."""
    prof = _run_network(net, x, n_windows, seed)["timing"].get("profile", {})
    total = sum(prof.values()) or 1.0
    return {name: dict(seconds=sec, share=sec / total)
            for name, sec in sorted(prof.items(), key=lambda kv: -kv[1])}


def _benchmark(args):
    x, ref_dir = load_shared_patches(args.n_patches)
    params = load_reference_params(ref_dir)
    n, n_windows, seed, threads = args.n_patches, args.steps, args.seed, args.threads
    steps = n_windows - 1               # updates before the read-out window
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    try:
        importlib.import_module("torch")
    except ImportError:
        skip.add("torch")
        print("torch is not installed: the torch column is left out", file=sys.stderr)

    cache = tempfile.mkdtemp(prefix="ipvae-bench-")
    nets = {name: _network(params, real, args, cache)
            for name, real in (("snn_window", "window"),
                               ("snn_continuous", "continuous")) if name not in skip}
    builds = {}
    for name, net in nets.items():      # compile outside the timed runs
        out, sec, _ = timed(_run_network, net, x[:1], n_windows, seed)
        builds[name] = dict(first_call_s=sec, build_s=out["timing"]["build_s"])
        print(f"{name}: compiled in {builds[name]['build_s']:.1f} s",
              file=sys.stderr, flush=True)

    runners = {name: (lambda xs, net=net: _run_network(net, xs, n_windows, seed))
               for name, net in nets.items()}
    if "reference" not in skip:
        runners["reference"] = lambda xs: run_ours(params, xs, steps, seed, threads)
    if "torch" not in skip:
        runners["torch"] = lambda xs: run_torch(params, xs, steps, seed)

    machine = machine_info(threads)
    seconds = {k: [] for k in runners}
    outputs = {}
    with limit_threads(threads):
        for r in range(args.repeats):
            for name, run in runners.items():
                out, sec, cpu = timed(run, x)
                seconds[name].append(sec)
                outputs[name] = out
                print(f"repeat {r + 1}/{args.repeats}: {name:15s} {sec:8.2f} s "
                      f"(CPU of this process {cpu:.2f} s)", file=sys.stderr, flush=True)
    profiles = {}
    if args.profile_patches:
        for name in nets:
            prof_net = _network(params, nets[name].realization, args, cache,
                                profile=True)
            profiles[name] = _profile(prof_net, x[:args.profile_patches], n_windows, seed)
    machine["load_average_after"] = (list(os.getloadavg())
                                     if hasattr(os, "getloadavg") else None)

    rows = []
    for name in runners:
        s = median(seconds[name])
        row = dict(name=name, seconds=s, seconds_all=seconds[name],
                   patch_windows_per_s=n * n_windows / s, ms_per_patch=1e3 * s / n,
                   r2=float(np.nanmean(outputs[name]["r2"])),
                   zero_fraction=outputs[name]["zero_fraction"])
        if name in nets:
            t = outputs[name]["timing"]
            events = outputs[name]["synaptic_events"]
            row.update(
                build=builds[name], n_runs=t["n_runs"], per_run_s=t.get("per_run_s"),
                inputs_per_run=int(np.ceil(n / t["n_runs"])),
                run_process_seconds=t["run_s"],
                synaptic_events=events,
                synaptic_events_per_process_s=events / t["run_s"],
                profile=profiles.get(name))
        rows.append(row)
    report = dict(benchmark="bench_network",
                  config=dict(n_patches=n, windows=n_windows, read_out_window=steps,
                              threads=threads, seed=seed, repeats=args.repeats,
                              network_dtype=args.dtype,
                              continuous_steps_per_window=args.continuous_steps,
                              window_ms=100.0),
                  machine=machine, implementations={row["name"]: row for row in rows})
    names = list(runners)
    for a in names:
        for b in ("torch", "reference"):
            if a != b and b in runners:
                per_repeat = [sa / sb for sa, sb in zip(seconds[a], seconds[b])]
                report[f"ratio_{a}_over_{b}"] = median(per_repeat)
        # The continuous realization is a different dynamical system (its
        # read-out is better at the same activity, docs/model.md): only the
        # implementations of the same update must agree.
        if a not in ("reference", "snn_continuous") and "reference" in runners:
            report.setdefault("r2_agreement", {})[f"{a}_vs_reference"] = \
                paired_agreement(outputs[a]["r2"], outputs["reference"]["r2"])
    return rows, report


def _print_report(rows, report):
    cfg = report["config"]
    print(f"{cfg['n_patches']} patches x {cfg['windows']} windows, {cfg['threads']} "
          f"process(es)/thread(s), network {cfg['network_dtype']}, median of "
          f"{cfg['repeats']} run(s)")
    print_table(rows, _COLUMNS)
    for row in rows:
        if "n_runs" in row:
            print(f"{row['name']}: build {row['build']['build_s']:.1f} s; "
                  f"{row['n_runs']} runs of {row['inputs_per_run']} patches, "
                  f"{row['per_run_s']:.2f} s per run; "
                  f"{row['synaptic_events'] / 1e6:,.0f} M synaptic events, "
                  f"{row['synaptic_events_per_process_s'] / 1e6:,.0f} M/s per process")
            if row.get("profile"):
                shares = ", ".join(f"{k.replace('_codeobject', '')} "
                                   f"{100 * v['share']:.0f}%"
                                   for k, v in list(row["profile"].items())[:5])
                print(f"  time per code object: {shares}")


def main(argv=None):
    return run_main(_parse(argv), _benchmark, _print_report)


if __name__ == "__main__":
    sys.exit(main())
