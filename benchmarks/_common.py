"""
Helpers shared by the benchmark scripts of this folder.

Command-line flags, thread limits, timing, machine description, the shared
reference patches, a paired agreement test, the result table, the JSON
report and the end of every ``main()`` (`run_main`: errors, ratios,
agreement, JSON). The benchmarks are scripts (``python benchmarks/bench_*.py``); this
module is imported from the script's own folder.
"""

import argparse
import contextlib
import importlib.metadata
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np

from ipvae_snn import IPVAEParams, __version__
from ipvae_snn.io import atomic_save_json
from ipvae_snn.datasets import find_reference_dir
from ipvae_snn.cli import is_user_error, positive_int

__all__ = ["positive_int", "available_cpus", "base_parser", "limit_threads",
           "timed", "median", "machine_info", "load_shared_patches",
           "load_reference_params", "paired_agreement", "format_table",
           "print_table", "write_json", "run_main", "BenchmarkError", "positive_floats",
           "read_out_windows", "git_commit"]

#: Packages whose versions every report lists (those installed).
DEFAULT_PACKAGES = ("numpy", "scipy", "torch", "brian2", "threadpoolctl")


class BenchmarkError(Exception):
    """A problem with the benchmark's inputs, reported without a traceback."""


def available_cpus():
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def base_parser(description, n_patches, steps, repeats=1):
    """
    An `argparse.ArgumentParser` with the flags every benchmark takes.

    ``--n-patches``, ``--steps``, ``--threads`` (default: all available
    CPUs), ``--seed``, ``--repeats`` and ``--json-out``.
    """
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n-patches", type=positive_int, default=n_patches,
                        help="number of shared reference patches (from the first)")
    parser.add_argument("--steps", type=positive_int, default=steps,
                        help="inference steps T; metrics are read at step T")
    parser.add_argument("--threads", type=positive_int, default=available_cpus(),
                        help="threads given to every implementation")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--repeats", type=positive_int, default=repeats,
                        help="timed runs per implementation, interleaved; "
                             "the report gives medians")
    parser.add_argument("--json-out", metavar="FILE", default=None,
                        help="write the full report as JSON to FILE")
    return parser


@contextlib.contextmanager
def limit_threads(threads):
    """
    Cap BLAS/OpenMP pools (numpy, scipy) and torch's intra-op pool at ``threads``.

    torch is only touched when it is already imported, so benchmarks that do
    not use it do not pay for importing it.
    """
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    old_torch = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=threads):
        if torch is not None:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(old_torch)


def timed(fn, *args, **kwargs):
    """
    Call ``fn``; return ``(result, wall-clock seconds, process CPU seconds)``.

    CPU seconds (all threads of this process) help read timings taken while
    other jobs share the machine, which inflates wall time.
    """
    cpu0, start = time.process_time(), time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start, time.process_time() - cpu0


def median(values):
    """Median of a non-empty sequence of numbers, as a float."""
    return float(np.median(np.asarray(values, dtype=np.float64)))


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _versions(packages):
    out = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def positive_floats(text, option):
    """A comma-separated option of positive numbers (``''``: none)."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BenchmarkError(f"{option} must be comma-separated numbers, got {text!r}") from None
    if any(not np.isfinite(v) or v <= 0 for v in values):
        raise BenchmarkError(f"{option} must be positive numbers, got {text!r}")
    return values


def read_out_windows(text, option, minimum=3):
    """A comma-separated option of read-out windows: sorted, distinct, ``>= 0``."""
    try:
        windows = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise BenchmarkError(f"{option} must be integers, got {text!r}") from None
    if len(windows) < minimum or windows[0] < 0:
        raise BenchmarkError(f"{option} needs at least {minimum} windows >= 0")
    return windows


def git_commit():
    """The checkout's git commit (with ``+dirty`` for local changes), or None."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty=+dirty",
                              "--abbrev=12"], cwd=here, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine_info(threads, packages=DEFAULT_PACKAGES):
    """
    What a timing depends on: CPU, thread settings, package versions, load.

    Parameters
    ----------
    threads : int
        The thread count the benchmark gives each implementation.
    packages : sequence of str
        Distribution names whose installed versions are listed.
    """
    from threadpoolctl import threadpool_info

    torch = sys.modules.get("torch")
    info = dict(
        python=platform.python_version(),
        platform=platform.platform(),
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count(),
        cpus_available=available_cpus(),
        threads=threads,
        thread_env={k: os.environ[k] for k in
                    ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
                    if k in os.environ},
        thread_pools=[dict(user_api=p.get("user_api"),
                           internal_api=p.get("internal_api"),
                           version=p.get("version"),
                           num_threads=p.get("num_threads"))
                      for p in threadpool_info()],
        torch_threads=torch.get_num_threads() if torch is not None else None,
        versions=dict(ipvae_snn=__version__, **_versions(packages)),
    )
    if hasattr(os, "getloadavg"):
        info["load_average_1_5_15min"] = list(os.getloadavg())
    return info


def load_shared_patches(n_patches):
    """
    The first ``n_patches`` held-out patches of ``patches_shared.npz``.

    Returns
    -------
    x : ndarray, shape (n_patches, 256), float32
    reference_dir : str
        The shared reference folder (`find_reference_dir`).

    Raises
    ------
    BenchmarkError
        When the reference data is absent or holds fewer patches.
    """
    ref = find_reference_dir()
    if ref is None:
        raise BenchmarkError(
            "the shared reference data was not found (expected ../shared/reference "
            "beside the checkout, or a folder named by IPVAE_SNN_REFERENCE)")
    with np.load(os.path.join(ref, "patches_shared.npz")) as data:
        shared = data["shared"]
    if n_patches > shared.shape[0]:
        raise BenchmarkError(f"--n-patches {n_patches} exceeds the "
                             f"{shared.shape[0]} shared patches")
    return np.ascontiguousarray(shared[:n_patches], dtype=np.float32), ref


def load_reference_params(reference_dir):
    """The reference model (``ipvae_k512.npz``) of the shared folder."""
    return IPVAEParams.load(os.path.join(reference_dir, "ipvae_k512.npz"))


def paired_agreement(a, b, n_sigma=4.0):
    """
    Do per-patch values ``a`` and ``b`` (same patches) agree in the mean?

    The two runs are independent given the patch, so the paired differences
    ``d = a - b`` have mean 0 when both sample the same distribution; their
    standard error ``std(d) / sqrt(n)`` removes the (large) spread between
    patches from the test.

    Returns
    -------
    dict
        ``diff`` (mean of a - b), ``se`` (its standard error), ``n_sigma``,
        ``agree`` (``|diff| <= n_sigma * se``; None with fewer than 2 patches).
    """
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return dict(diff=float(d.mean()) if d.size else math.nan, se=math.nan,
                    n_sigma=n_sigma, agree=None)
    diff = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(d.size))
    return dict(diff=diff, se=se, n_sigma=n_sigma, agree=bool(abs(diff) <= n_sigma * se))


def _cell(value, fmt):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, str):
        return value
    return format(value, fmt)


def format_table(rows, columns):
    """
    Text table: ``columns`` is a list of ``(key, header, format)``.

    Numbers are formatted with ``format``; strings pass through; None and NaN
    show as ``-``. The first column is left-aligned, the others right-aligned.
    """
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append([_cell(row.get(key), fmt) for key, _, fmt in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]

    def line(r):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths)))

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells[1:])
    return "\n".join(out)


def print_table(rows, columns, file=None):
    """Print `format_table` to ``file`` (default stdout)."""
    print(format_table(rows, columns), file=file or sys.stdout, flush=True)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None                       # JSON has no NaN/inf
    return obj


def write_json(path, report):
    """Write ``report`` (numpy values allowed) as JSON, atomically."""
    atomic_save_json(path, _jsonable(report))


def _print_ratios(report):
    """
    Print every ``ratio_<a>_over_<b>`` of ``report``, in the report's order,
    with its per-repeat values where the report has them
    (``ratio_<a>_over_<b>_per_repeat``).
    """
    for key, value in report.items():
        if not key.startswith("ratio_") or key.endswith("_per_repeat"):
            continue
        line = f"{key} = {value:.2f}"
        per_repeat = report.get(f"{key}_per_repeat")
        if per_repeat:
            line += "  (per repeat: " + ", ".join(f"{v:.2f}" for v in per_repeat) + ")"
        print(line)


def _print_agreement(report):
    """
    Print the paired R² tests of ``report['r2_agreement']`` (`paired_agreement`),
    with a WARNING where a difference exceeds its ``n_sigma`` standard errors.
    """
    for pair, check in report.get("r2_agreement", {}).items():
        name = pair.replace("_vs_", " vs ")
        if check["agree"] is None:
            print(f"R² {name}: too few patches for the agreement test")
            continue
        line = (f"R² {name}: difference {check['diff']:+.4f} ± {check['se']:.4f} "
                f"(paired standard error)")
        if check["agree"]:
            print(line)
        else:
            print(f"WARNING: {line} exceeds {check['n_sigma']:g} standard errors")


def run_main(args, benchmark, print_report):
    """
    The end of every benchmark's ``main()``.

    Runs ``benchmark(args)`` -> ``(rows, report)``, prints it with
    ``print_report(rows, report)`` followed by the report's speed ratios
    (``ratio_<a>_over_<b>``) and paired R² tests (``r2_agreement``), and
    writes ``report`` to ``--json-out``.
    Bad input (`BenchmarkError`, or what the ``ipvae-snn`` command counts as
    the user's error: `ipvae_snn.cli.is_user_error`) ends with one ``error:``
    line on stderr; a bug shows its traceback.

    Returns
    -------
    int
        The exit status: 0, or 2 on bad input.
    """
    try:
        rows, report = benchmark(args)
    except Exception as exc:
        if not (isinstance(exc, BenchmarkError) or is_user_error(exc)):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_report(rows, report)
    _print_ratios(report)
    _print_agreement(report)
    if args.json_out:
        write_json(args.json_out, report)
        print(f"wrote {args.json_out}")
    return 0
