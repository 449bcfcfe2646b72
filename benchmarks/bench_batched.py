"""
Patches side by side (``SpikingIPVAE(batch=B)``) against one after another.

The same patches, windows and patches per run go through the compiled
network (``cpp_standalone``) with B = 1 (today's layout: each run shows its
patches one after another) and with B copies of the network side by side in
one neuron group (block-diagonal lateral synapses), in both realizations, in
one process. The programs are compiled into a fresh cache first (build time
reported apart); the timed runs of every layout are interleaved, repeat by
repeat. The table gives wall seconds, the CPU seconds of the compiled
programs (children of this process: they read a loaded machine better than
wall time), patches per second and its ratio to B = 1, and R² and the zero
fraction at the last window; a paired test compares each layout's R² with
B = 1's. With ``--replay`` (window realization) B = 1's counts are replayed
through every layout, whose potentials and read-outs must then be identical
to B = 1's, bit for bit.

Usage (from the repository root)::

    python benchmarks/bench_batched.py --n-patches 64 --batches 1,4 --steps 15
    python benchmarks/bench_batched.py --repeats 2 --json-out bench_batched.json
"""

import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (BenchmarkError, base_parser, load_reference_params,
                     load_shared_patches, machine_info, median, paired_agreement,
                     positive_int, print_table, run_main)

from ipvae_snn.network import SpikingIPVAE


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(net, x, n_windows, seed, replay=None):
    """One timed run: (result, wall seconds, the programs' CPU seconds)."""
    cpu0, t0 = _children_cpu(), time.perf_counter()
    result = net.run(x, n_windows, seed=seed, replay_counts=replay, progress=False,
                     warn=False)
    return result, time.perf_counter() - t0, _children_cpu() - cpu0


def _int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise BenchmarkError(f"--batches takes positive integers separated by commas, "
                             f"got {text!r}")
    return values


def benchmark(args):
    cache = tempfile.mkdtemp(prefix="bench-batched-")
    try:
        return _benchmark(args, cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _benchmark(args, cache):
    batches = _int_list(args.batches)
    if 1 not in batches:
        batches = [1] + batches
    per_run = args.patches_per_run
    if any(per_run % b for b in batches):
        raise BenchmarkError(f"--patches-per-run {per_run} must be a multiple of every "
                             f"batch ({args.batches})")
    x, ref = load_shared_patches(args.n_patches)
    params = load_reference_params(ref)
    k = params.n_latents
    n_windows = args.steps + 1          # R² and zero fraction at window T
    realizations = [r for r in ("window", "continuous") if r not in args.skip]
    nets, builds = {}, {}
    for real in realizations:
        for b in batches:
            kw = dict(realization=real, n_jobs=args.threads, inputs_per_run=per_run,
                      cache_dir=cache, batch=b)
            if real == "continuous":
                kw["dt"] = 0.1 / args.continuous_steps
            nets[real, b] = SpikingIPVAE(params, **kw)
            t0 = time.perf_counter()      # compile (and run a tiny batch) once
            nets[real, b].run(x[:1], n_windows, seed=0, progress=False, warn=False)
            builds[real, b] = time.perf_counter() - t0
            print(f"built {real} B={b} in {builds[real, b]:.0f} s", flush=True)
    timings = {key: [] for key in nets}
    results = {}
    for rep in range(args.repeats):
        for key, net in nets.items():
            results[key], wall, cpu = _run(net, x, n_windows, args.seed + rep)
            timings[key].append((wall, cpu))
            print(f"repeat {rep + 1}: {key[0]} B={key[1]}: {wall:.1f} s wall, "
                  f"{cpu:.1f} s CPU", flush=True)
    rows, report = [], dict(
        n_patches=args.n_patches, n_windows=n_windows, patches_per_run=per_run,
        continuous_steps_per_window=args.continuous_steps, batches=batches,
        repeats=args.repeats, machine=machine_info(args.threads), layouts={})
    for (real, b), times in timings.items():
        wall = median([t[0] for t in times])
        cpu = median([t[1] for t in times])
        base = median([t[0] for t in timings[real, 1]])
        res = results[real, b]
        last = n_windows - 1
        row = dict(layout=f"{real} B={b}", realization=real, batch=b, neurons=b * k,
                   synapses=b * k * k, runs=res.info["timing"]["n_runs"],
                   build_s=builds[real, b], wall_s=wall, cpu_s=cpu,
                   patches_per_s=args.n_patches / wall,
                   cpu_patches_per_s=args.n_patches / cpu if cpu > 0 else None,
                   speedup=base / wall, r2=float(np.nanmean(res.r2[:, last])),
                   zero_fraction=float(res.zero_fraction[:, last].mean()),
                   wall_per_repeat=[t[0] for t in times],
                   cpu_per_repeat=[t[1] for t in times])
        rows.append(row)
        report["layouts"][row["layout"]] = row
        if b != 1:
            one = results[real, 1]
            report.setdefault("r2_agreement", {})[f"{real}_B{b}_vs_B1"] = \
                paired_agreement(res.r2[:, last], one.r2[:, last])
            report[f"ratio_{real}_B{b}_over_B1"] = row["speedup"]
    if args.replay and "window" in realizations:
        counts = results["window", 1].counts
        same = {}
        for b in batches:
            replayed = nets["window", b].run(x, n_windows, seed=1, replay_counts=counts,
                                             progress=False, warn=False)
            base = results["window", 1]
            same[str(b)] = bool(np.array_equal(replayed.counts, counts)
                                and np.array_equal(replayed.r2, base.r2)
                                and np.array_equal(replayed.u_final, base.u_final)
                                and np.array_equal(replayed.runaway_onset,
                                                   base.runaway_onset))
        report["replay_identical_to_B1"] = same
    return rows, report


def print_report(rows, report):
    m = report["machine"]
    print(f"\n{report['n_patches']} patches x {report['n_windows']} windows, "
          f"{report['patches_per_run']} patches per run, {m['threads']} processes, "
          f"continuous: {report['continuous_steps_per_window']} steps per window; "
          f"load average {m.get('load_average_1_5_15min')}; medians of "
          f"{report['repeats']} repeat(s)")
    print_table(rows, [("layout", "layout", ""), ("neurons", "neurons", "d"),
                       ("runs", "runs", "d"), ("build_s", "build s", ".0f"),
                       ("wall_s", "wall s", ".1f"), ("cpu_s", "CPU s", ".1f"),
                       ("patches_per_s", "patches/s", ".2f"),
                       ("cpu_patches_per_s", "patches/CPU s", ".2f"),
                       ("speedup", "vs B=1", ".2f"), ("r2", "R²", ".4f"),
                       ("zero_fraction", "zero frac", ".4f")])
    if "replay_identical_to_B1" in report:
        print("window realization, B=1's counts replayed: identical to B=1 for B = "
              + ", ".join(f"{b}: {v}" for b, v in report["replay_identical_to_B1"].items()))


def main(argv=None):
    parser = base_parser(__doc__.strip().splitlines()[0], n_patches=256, steps=63)
    parser.add_argument("--batches", default="1,4,16,64",
                        help="patches side by side, comma-separated (1 is always run)")
    parser.add_argument("--patches-per-run", type=positive_int, default=128,
                        help="patches per run of the program, for every layout")
    parser.add_argument("--continuous-steps", type=positive_int, default=100,
                        help="time steps per window of the continuous realization")
    parser.add_argument("--skip", nargs="*", default=(), choices=("window", "continuous"))
    parser.add_argument("--replay", action="store_true",
                        help="check the window layouts bit for bit under B=1's counts")
    args = parser.parse_args(argv)
    return run_main(args, benchmark, print_report)


if __name__ == "__main__":
    sys.exit(main())
