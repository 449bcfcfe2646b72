"""
The one execution path (`ipvae_snn.executor`): the same input and seed give
the same arrays, bit for bit, whatever runs the chunks — local threads with 1
or 2 BLAS threads, ``--scheduler local``, Dask clusters of 1 or 2 worker
processes, workers with 2 threads — for the reference (`infer`) and the
window network (``cpp_standalone``); read-outs that do not depend on BLAS
threads.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from ipvae_snn import infer, metrics
from ipvae_snn.cli import main
from ipvae_snn.data import natural_patches
from ipvae_snn.executor import LocalExecutor, make_executor
from ipvae_snn.results import InferenceResult, window_metrics

#: Every array of a saved result.
ARRAYS = ("counts", "u_final", "r2", "mse", "zero_fraction", "mean_count", "runaway_onset")
N_WINDOWS = 17
#: The network runs: 65 windows, 123 inputs per run (the program of the other
#: network tests), 130 patches = 2 chunks.
NET_WINDOWS, NET_PATCHES = 65, 130


def assert_identical(a, b):
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name


# ------------------------------------------------------------ the executors
def test_local_executor_hands_every_chunk_to_the_callback():
    seen = {}
    info = LocalExecutor(n_jobs=3).map(divmod, 100, [(7,), (9,), (11,), (13,)],
                                       seen.__setitem__)
    assert seen == {0: (14, 2), 1: (11, 1), 2: (9, 1), 3: (7, 9)}
    assert info["n_tasks"] == 4 and info["n_workers"] == 3


def test_local_executor_runs_a_serial_kernel_one_chunk_at_a_time():
    import threading
    running, peak, lock = [0], [0], threading.Lock()

    def kernel(shared, i):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        threading.Event().wait(0.01)
        with lock:
            running[0] -= 1
        return i

    out = {}
    LocalExecutor(n_jobs=4).map(kernel, None, [(i,) for i in range(8)], out.__setitem__,
                                serial=True)
    assert peak[0] == 1 and out == {i: i for i in range(8)}


def test_a_kernel_error_reaches_the_caller():
    with pytest.raises(ZeroDivisionError):
        LocalExecutor(n_jobs=2).map(divmod, 1, [(1,), (0,)], lambda i, v: None)


def test_make_executor_without_client_is_the_local_pool():
    assert isinstance(make_executor(n_jobs=2), LocalExecutor)
    with pytest.raises(TypeError, match="dask.distributed.Client"):
        make_executor(client="tcp://127.0.0.1:1")


# ------------------------------------------------------------- read-outs
def test_window_metrics_do_not_depend_on_blas_threads():
    """Regression: the Dask read-outs differed from the local ones in the last bit."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 256))
    phi_t = rng.standard_normal((512, 256)) / 16
    counts = rng.poisson(0.3, (64, 9, 512)).astype(np.int32)
    out = []
    for threads in (1, 2, 4):
        with threadpool_limits(limits=threads, user_api="blas"):
            out.append(window_metrics(x, counts, phi_t))
    for other in out[1:]:
        for a, b in zip(out[0], other):
            assert np.array_equal(a, b)
    # and they are the read-outs: R² and MSE from their definitions
    r2, mse = out[0][:2]
    recon = np.einsum("ntk,km->ntm", counts.astype(np.float64), phi_t)
    np.testing.assert_allclose(mse, ((x[:, None] - recon) ** 2).sum(-1), rtol=1e-12)
    np.testing.assert_allclose(r2, metrics.r2_score(x[:, None], recon), rtol=1e-10)


_SCRIPT = textwrap.dedent(f"""
    import sys, numpy as np, ipvae_snn
    from ipvae_snn.data import natural_patches
    kind, out = sys.argv[1], sys.argv[2]
    p = ipvae_snn.default_params()
    x = natural_patches(n_patches=600, seed=0)
    if kind == "reference":
        r = ipvae_snn.infer(p, x, {N_WINDOWS}, seed=3, warn=False)
    else:
        from ipvae_snn.network import SpikingIPVAE
        r = SpikingIPVAE(p, n_jobs=2).run(x[:{NET_PATCHES}], {NET_WINDOWS}, seed=5,
                                          warn=False)
    np.savez(out, **{{n: getattr(r, n) for n in {ARRAYS!r}}})
""")


def _in_subprocess(kind, blas_threads, tmp_path, cache):
    out = tmp_path / f"{kind}-{blas_threads}.npz"
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(blas_threads),
               OMP_NUM_THREADS=str(blas_threads), MKL_NUM_THREADS=str(blas_threads),
               IPVAE_SNN_CACHE=cache)
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, kind, str(out)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return np.load(out)


def _local(kind, params, cache, request):
    x = natural_patches(n_patches=600, seed=0)
    if kind == "reference":
        return infer(params, x, N_WINDOWS, seed=3, warn=False)
    request.getfixturevalue("cxx_compiler")
    from ipvae_snn.network import SpikingIPVAE
    return SpikingIPVAE(params, cache_dir=cache).run(x[:NET_PATCHES], NET_WINDOWS, seed=5,
                                                     warn=False)


KINDS = ["reference", pytest.param("network", marks=pytest.mark.standalone)]


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_local_runs_with_1_and_2_blas_threads_are_identical(kind, params, tmp_path,
                                                            snn_cache, request):
    here = _local(kind, params, snn_cache, request)
    for threads in (1, 2):
        saved = _in_subprocess(kind, threads, tmp_path, snn_cache)
        for name in ARRAYS:
            assert np.array_equal(saved[name], getattr(here, name)), (threads, name)


# ------------------------------------------------------------------ Dask
@pytest.mark.dask
@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_workers_with_2_threads_give_the_same_arrays(kind, params, snn_cache, tmp_path,
                                                    request):
    distributed = pytest.importorskip("distributed")
    here = _local(kind, params, snn_cache, request)
    # their own cache: two threads of one worker may build the program at once
    with distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0",
            env={"IPVAE_SNN_CACHE": str(tmp_path / "worker")}) as cluster, \
            distributed.Client(cluster) as client:
        x = natural_patches(n_patches=600, seed=0)
        if kind == "reference":
            there = infer(params, x, N_WINDOWS, seed=3, warn=False, client=client)
            assert there.info["dask"]["n_tasks"] == 3
        else:
            from ipvae_snn.network import SpikingIPVAE
            there = SpikingIPVAE(params).run(x[:NET_PATCHES], NET_WINDOWS, seed=5,
                                             warn=False, client=client)
            assert there.info["timing"]["n_tasks"] == 2
    assert_identical(here, there)


@pytest.mark.dask
@pytest.mark.slow
def test_scheduler_local_saves_the_same_arrays(capsys, tmp_path):
    pytest.importorskip("distributed")
    argv = ["infer", "--steps", "16", "--n-patches", "600", "--quiet"]
    for name, extra in (("pool", []), ("local", ["--scheduler", "local"])):
        assert main(argv + extra + ["--out", str(tmp_path / f"{name}.npz")]) == 0
    capsys.readouterr()
    pool, local = (InferenceResult.load(tmp_path / f"{n}.npz") for n in ("pool", "local"))
    assert_identical(pool, local)
    assert local.info["dask"]["n_workers"] >= 1
    assert json.dumps(pool.info["seed"]) == json.dumps(local.info["seed"])


@pytest.mark.dask
def test_chunk_inputs_are_scattered_not_embedded_in_the_graph(params, recwarn):
    distributed = pytest.importorskip("distributed")
    x = natural_patches(n_patches=2000, seed=0)        # 11.7 MiB of inputs
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        infer(params, x, 2, seed=0, warn=False, client=client)
    assert not [w for w in recwarn if "large graph" in str(w.message)]


def test_a_training_batch_is_cut_into_8_chunks(monkeypatch):
    """Enough tasks to keep several workers busy, whatever runs them."""
    from ipvae_snn.learning import SpikingDictionaryLearner, readout
    infos = []
    real = readout.run_inference

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        infos.append(result.info)
        return result

    monkeypatch.setattr(readout, "run_inference", spy)
    learner = SpikingDictionaryLearner(n_components=16, batch_size=64, max_iter=1,
                                       t_train=2, random_state=0, progress=False,
                                       prior_cap=None, operating_point=None)
    learner.fit(natural_patches(n_patches=128, seed=0))
    training = infos[:learner.n_batches_]
    assert len(training) == 2
    assert all(-(-64 // info["block_size"]) == 8 for info in training)
