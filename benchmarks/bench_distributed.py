"""
Benchmark the Dask fan-out: throughput against the number of workers.

On the same shared patches, side by side in one process:

``reference/pool``, ``window/pool``
    ``ipvae_snn.infer`` on ``--threads`` threads and `SpikingIPVAE` (window
    realization, ``cpp_standalone``) on ``--threads`` processes: the embedded
    local pool, no Dask.
``reference/dask-N``, ``window/dask-N``
    The same calls with ``client=`` a `distributed.LocalCluster` of N worker
    processes with one thread each, for each N of ``--workers``.

Every Dask result is checked to be identical to the pool's (same seed): every
array, read-outs included, whatever the client's BLAS threads (``--threads``).
The table gives median wall seconds, patches per second and patch-windows per
second, the speed-up over one worker and the number of tasks (chunks).

Per-chunk overhead, measured apart:

``noop``
    Round trip of ``--overhead-tasks`` empty tasks through the scheduler
    (submit, run, gather), per task.
``tiny chunks``
    The reference on blocks of ``--tiny-block`` patches x 2 windows (almost
    no compute): (seconds on one Dask worker - seconds on one local thread)
    per chunk: scheduling, transfer of the chunk's inputs and results, and
    copying them into the result.

The report also gives the bytes each chunk ships (inputs out, results back;
both scattered or gathered as data, never inside the task graph).
The programs are compiled (and the workers warmed up: Brian2 imported, the
program loaded) before the timed runs.

Usage::

    python benchmarks/bench_distributed.py --n-patches 500 --steps 16
    python benchmarks/bench_distributed.py --repeats 3 --json-out bench_distributed.json
"""

import os
import sys
import tempfile
import time
import warnings

import numpy as np

from _common import (BenchmarkError, base_parser, limit_threads, load_reference_params,
                     load_shared_patches, machine_info, median, print_table, run_main,
                     timed)
from ipvae_snn.network import SpikingIPVAE
from ipvae_snn.reference import infer
from ipvae_snn.results import RunawayWarning

_COLUMNS = [("name", "implementation", ""), ("workers", "workers", "d"),
            ("n_tasks", "chunks", "d"), ("seconds", "seconds", ".2f"),
            ("patches_per_s", "patches/s", ",.1f"),
            ("patch_windows_per_s", "patch-windows/s", ",.0f"),
            ("speedup_over_1", "x 1 worker", ".2f")]
_ARRAYS = ("counts", "u_final", "r2", "mse", "zero_fraction", "mean_count",
           "runaway_onset")


def _parse(argv):
    parser = base_parser(__doc__.split("\n\n")[0].strip(), n_patches=2000, steps=64)
    parser.add_argument("--network-patches", type=int, default=492,
                        help="patches of the network runs (the first of --n-patches; "
                             "492: 4 runs of 123 at 65 windows)")
    parser.add_argument("--workers", default="1,2",
                        help="comma-separated sizes of the local Dask clusters")
    parser.add_argument("--overhead-tasks", type=int, default=200,
                        help="empty tasks of the overhead measurement")
    parser.add_argument("--tiny-block", type=int, default=4,
                        help="patches per chunk of the tiny-chunk measurement")
    parser.add_argument("--skip", default="",
                        help="comma-separated parts to leave out: reference, window, "
                             "overhead")
    args = parser.parse_args(argv)
    args.worker_counts = sorted({int(w) for w in args.workers.split(",") if w.strip()})
    if not args.worker_counts or min(args.worker_counts) < 1:
        parser.error("--workers needs positive integers")
    return args


def _same(a, b, what):
    for name in _ARRAYS:
        if not np.array_equal(getattr(a, name), getattr(b, name)):
            raise BenchmarkError(f"{what}: {name} differs from the local pool's result")


def _noop(i):
    return i


def _task_times(records):
    """Median seconds per chunk on a worker: computing it, and moving its data."""
    compute, transfer = [], []
    for r in records:
        key = str(r["key"])
        if not key.startswith("ipvae-") or "shared" in key:
            continue
        for s in r["startstops"]:
            (compute if s["action"] == "compute" else transfer).append(
                s["stop"] - s["start"])
    return dict(chunk_compute_s=median(compute) if compute else None,
                chunk_transfer_s=median(transfer) if transfer else 0.0)


def _overhead(client, params, x, args):
    """Per-task overhead: empty tasks, and the reference on tiny chunks."""
    futures = client.map(_noop, range(args.overhead_tasks), pure=False)
    client.gather(futures)                              # warm up
    start = time.perf_counter()
    client.gather(client.map(_noop, range(args.overhead_tasks), pure=False))
    noop = (time.perf_counter() - start) / args.overhead_tasks
    xs = x[:args.tiny_block * 100]
    kw = dict(seed=0, block_size=args.tiny_block, record_windows=[1], warn=False,
              progress=False)
    infer(params, xs, 2, client=client, **kw)           # warm up
    _, local, _ = timed(infer, params, xs, 2, n_jobs=1, **kw)
    _, remote, _ = timed(infer, params, xs, 2, client=client, **kw)
    n_tasks = -(-len(xs) // args.tiny_block)
    return dict(noop_task_ms=1e3 * noop, tiny_chunk_patches=args.tiny_block,
                tiny_chunk_tasks=n_tasks,
                tiny_chunk_local_ms=1e3 * local / n_tasks,
                tiny_chunk_dask_ms=1e3 * remote / n_tasks,
                overhead_per_chunk_ms=1e3 * (remote - local) / n_tasks)


def _chunk_bytes(params, n_windows, block, per_run, zero_fraction):
    """
    Bytes a chunk ships out (inputs) and back (results) with one recorded
    window, from the array shapes; ``raw_spike_bytes``: what the network's
    raw monitor arrays would weigh (one event of 16 bytes per active neuron
    and window), which the workers collect instead of sending.
    """
    k, m = params.n_latents, params.n_pixels
    ref_in = block * m * 8
    # counts of the recorded window (int32), u_final (float32), onsets (int32),
    # four per-window read-outs (float32)
    ref_out = block * (k * 4 + k * 4 + k * 4 + 4 * n_windows * 4)
    # drives (float64) and patches (float64)
    net_in = per_run * (k + m) * 8
    # counts (uint8), u_final (float64), onsets (int32), four read-outs
    net_out = per_run * (k * 1 + k * 8 + k * 4 + 4 * n_windows * 4)
    events = per_run * n_windows * k * (1.0 - zero_fraction)
    shared_net = k * k * 8 + 4 * k * 8 + params.phi.nbytes * 2
    shared_ref = params.phi.nbytes * 3 + 8 * k * 8
    return dict(reference=dict(in_bytes=ref_in, out_bytes=ref_out, shared_bytes=shared_ref),
                window=dict(in_bytes=net_in, out_bytes=net_out, shared_bytes=shared_net,
                            raw_spike_bytes=int(events * 16)))


def _benchmark(args):
    import distributed
    x, ref_dir = load_shared_patches(args.n_patches)
    params = load_reference_params(ref_dir)
    n_windows, seed, threads = args.steps + 1, args.seed, args.threads
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    xn = x[:args.network_patches]
    cache = tempfile.mkdtemp(prefix="ipvae-bench-")
    # The workers are on this machine: they find the program the warm-up
    # compiles in the same cache (elsewhere each worker builds its own).
    os.environ["IPVAE_SNN_CACHE"] = cache
    net = SpikingIPVAE(params, n_jobs=threads, cache_dir=cache)
    warnings.simplefilter("ignore", RunawayWarning)

    def run_ref(client=None):
        return infer(params, x, n_windows, seed=seed, record_windows=[n_windows - 1],
                     n_jobs=threads, progress=False, client=client)

    def run_net(client=None):
        return net.run(xn, n_windows, seed=seed, record_windows=[n_windows - 1],
                       progress=False, client=client)

    parts = [p for p in ("reference", "window") if p not in skip]
    runs = {"reference": run_ref, "window": run_net}
    if "window" in parts:
        _, build_s, _ = timed(run_net)
        print(f"window network: compiled in {build_s:.1f} s", file=sys.stderr, flush=True)

    machine = machine_info(threads)
    clusters, seconds, results, tasks, stream, overhead = {}, {}, {}, {}, {}, None
    try:
        for n in args.worker_counts:
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1,
                                               processes=True, dashboard_address=":0")
            clusters[n] = (cluster, distributed.Client(cluster))
        for _, client in clusters.values():             # warm up every worker
            for part in parts:
                runs[part](client)
        with limit_threads(threads):
            for r in range(args.repeats):
                for part in parts:
                    for n in (0, *clusters):
                        name = f"{part}/pool" if n == 0 else f"{part}/dask-{n}"
                        client = None if n == 0 else clusters[n][1]
                        if client is None:
                            res, sec, _ = timed(runs[part], client)
                        else:
                            with distributed.get_task_stream(client=client) as ts:
                                res, sec, _ = timed(runs[part], client)
                            stream[name] = _task_times(ts.data)
                            if part == "window":
                                t = res.info["timing"]
                                stream[name].update(
                                    collect_per_chunk_s=t["collect_s"] / t["n_runs"],
                                    merge_per_chunk_s=t["merge_s"] / t["n_runs"])
                        seconds.setdefault(name, []).append(sec)
                        if n == 0:
                            results[part] = res
                            tasks[name] = (res.info["timing"]["n_runs"] if part == "window"
                                           else -(-len(x) // 256))
                        else:
                            _same(results[part], res, name)
                            info = res.info["dask"] if part == "reference" else \
                                res.info["timing"]
                            tasks[name] = info.get("n_tasks", info.get("n_runs"))
                        print(f"repeat {r + 1}/{args.repeats}: {name:18s} {sec:7.2f} s",
                              file=sys.stderr, flush=True)
        if "overhead" not in skip:
            overhead = _overhead(clusters[min(clusters)][1], params, x, args)
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()

    rows = []
    for name, secs in seconds.items():
        part, how = name.split("/")
        n_patch = len(x) if part == "reference" else len(xn)
        s = median(secs)
        workers = threads if how == "pool" else int(how.split("-")[1])
        rows.append(dict(name=name, workers=workers, n_tasks=tasks[name], seconds=s,
                         seconds_all=secs, patches_per_s=n_patch / s,
                         patch_windows_per_s=n_patch * n_windows / s,
                         **stream.get(name, {})))
    for row in rows:
        one = f"{row['name'].split('/')[0]}/dask-1"
        if one in seconds:
            row["speedup_over_1"] = median(seconds[one]) / row["seconds"]
    zf = float(results["window"].zero_fraction.mean()) if "window" in results else 0.9
    per_run = results["window"].info["inputs_per_run"] if "window" in results else 123
    report = dict(benchmark="bench_distributed",
                  config=dict(n_patches=len(x), network_patches=len(xn),
                              windows=n_windows, threads=threads, seed=seed,
                              repeats=args.repeats, workers=args.worker_counts,
                              reference_block=256, network_inputs_per_run=per_run),
                  machine=machine, implementations={row["name"]: row for row in rows},
                  overhead=overhead,
                  chunk_bytes=_chunk_bytes(params, n_windows, 256, per_run, zf),
                  identical_to_pool=True)
    for part in parts:
        for n in clusters:
            a, b = f"{part}/dask-{n}", f"{part}/pool"
            report[f"ratio_{part}_dask_{n}_over_pool"] = median(
                [sa / sb for sa, sb in zip(seconds[a], seconds[b])])
    return rows, report


def _print_report(rows, report):
    cfg = report["config"]
    print(f"{cfg['n_patches']} patches (reference), {cfg['network_patches']} (window "
          f"network) x {cfg['windows']} windows; pool: {cfg['threads']} "
          f"thread(s)/process(es); median of {cfg['repeats']} run(s); every Dask "
          f"result identical to the pool's")
    print_table(rows, _COLUMNS)
    for row in rows:
        if row.get("chunk_compute_s") is not None:
            line = (f"{row['name']}: per chunk {row['chunk_compute_s']:.3f} s computing, "
                    f"{row['chunk_transfer_s']:.3f} s moving data on the worker")
            if "collect_per_chunk_s" in row:
                line += (f" (of which {row['collect_per_chunk_s']:.3f} s collecting the "
                         f"result's arrays), {row['merge_per_chunk_s']:.4f} s copying them "
                         f"into the result in the client")
            print(line)
    ov = report.get("overhead")
    if ov:
        print(f"overhead: empty task {ov['noop_task_ms']:.2f} ms; reference chunk of "
              f"{ov['tiny_chunk_patches']} patches x 2 windows {ov['tiny_chunk_dask_ms']:.2f}"
              f" ms on 1 worker vs {ov['tiny_chunk_local_ms']:.2f} ms on 1 local thread: "
              f"{ov['overhead_per_chunk_ms']:.2f} ms per chunk")
    for part, b in report["chunk_bytes"].items():
        print(f"{part}: a chunk ships {b['in_bytes'] / 1e6:.2f} MB out, "
              f"{b['out_bytes'] / 1e6:.2f} MB back; shared constants "
              f"{b['shared_bytes'] / 1e6:.2f} MB once per worker")


def main(argv=None):
    return run_main(_parse(argv), _benchmark, _print_report)


if __name__ == "__main__":
    sys.exit(main())
