"""
Batches on Dask (`ipvae_snn.executor.DaskExecutor`): the same result as the
local run, bit for bit — read-outs included, whatever the client's BLAS
threads — with 1 or 2 workers; workers that build the network in their own
cache; a worker killed mid-batch (reported in one line); the command line
against a scheduler and a worker started as separate processes; clear errors.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from ipvae_snn import infer
from ipvae_snn.cli import main
from ipvae_snn.data import natural_patches

distributed = pytest.importorskip(
    "distributed", reason='the Dask tests need the dask extra: pip install "ipvae-snn[dask]"')

pytestmark = pytest.mark.dask

#: The arrays a result is compared on: every read-out, not only the counts.
ARRAYS = ("counts", "u_final", "r2", "mse", "zero_fraction", "mean_count", "runaway_onset")
#: Windows of the reference runs.
N_WINDOWS = 17
#: Windows of the network runs: the program of the stats command's tests (65
#: windows, 123 inputs per run), compiled once per session in the client's cache.
NET_WINDOWS = 65


def assert_identical(a, b):
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name


@pytest.fixture(scope="module")
def worker_cache(tmp_path_factory):
    """The workers' own compile cache: not the client's (no shared file system)."""
    return str(tmp_path_factory.mktemp("worker-builds"))


def _cluster(n_workers, worker_cache):
    return distributed.LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True,
        dashboard_address=":0", env={"IPVAE_SNN_CACHE": worker_cache})


@pytest.fixture(scope="module")
def clients(worker_cache):
    """Clients of a cluster of 2 worker processes and of one of 1 worker."""
    with _cluster(2, worker_cache) as c2, distributed.Client(c2) as two, \
            _cluster(1, worker_cache) as c1, distributed.Client(c1) as one:
        yield {2: two, 1: one}


@pytest.fixture(scope="module")
def patches():
    return natural_patches(n_patches=2000, seed=0)


def test_reference_on_2000_patches_is_identical_with_1_and_2_workers(params, patches,
                                                                     clients):
    # regression: the client's BLAS used 2 threads, the workers' 1, and the
    # read-outs differed in their last bit
    with threadpool_limits(limits=2, user_api="blas"):
        local = infer(params, patches, N_WINDOWS, seed=3, warn=False)
    for n, client in clients.items():
        remote = infer(params, patches, N_WINDOWS, seed=3, warn=False, client=client)
        assert_identical(local, remote)
        assert remote.info["dask"]["n_workers"] == n
        assert remote.info["dask"]["n_tasks"] == 8          # blocks of 256 patches


@pytest.mark.standalone
@pytest.mark.usefixtures("cxx_compiler")
def test_window_network_on_200_patches_is_identical_with_1_and_2_workers(
        params, patches, clients, snn_cache, worker_cache):
    from ipvae_snn.network import SpikingIPVAE
    from ipvae_snn.network.builder import NetworkSpec
    assert os.path.realpath(snn_cache) != os.path.realpath(worker_cache)
    net = SpikingIPVAE(params, cache_dir=snn_cache)
    x = patches[:200]
    with threadpool_limits(limits=2, user_api="blas"):
        local = net.run(x, NET_WINDOWS, seed=5, warn=False)
    for n, client in clients.items():
        remote = net.run(x, NET_WINDOWS, seed=5, warn=False, client=client)
        assert_identical(local, remote)
        timing = remote.info["timing"]
        assert timing["n_workers"] == n and timing["n_runs"] == 2       # 123 + 77
    # the workers built the program themselves, in their own cache
    spec = NetworkSpec("window", params.n_latents, NET_WINDOWS, 123, net.window_s, 1,
                       (), False, "float64")
    built = os.path.join(worker_cache, f"window-{spec.key()}")
    assert os.path.exists(os.path.join(built, "ipvae_manifest.json"))


@pytest.mark.runtime
def test_continuous_network_with_traces_is_identical(clients):
    from ipvae_snn import IPVAEParams
    from ipvae_snn.network import SpikingIPVAE
    params = IPVAEParams.random(16, 8, random_state=0)
    net = SpikingIPVAE(params, device="runtime", realization="continuous",
                       record_u=[0, 3])
    x = 3 * np.random.default_rng(0).standard_normal((3, 16))
    local = net.run(x, 6, seed=2, record_windows=[1, 5], warn=False)
    remote = net.run(x, 6, seed=2, record_windows=[1, 5], warn=False, client=clients[1])
    assert_identical(local, remote)
    assert np.array_equal(local.u_trace, remote.u_trace)
    assert sum(len(i) for i, _ in remote.spikes) > 0
    for (i1, t1), (i2, t2) in zip(local.spikes, remote.spikes):
        assert np.array_equal(i1, i2) and np.array_equal(t1, t2)


def test_learner_with_a_client_learns_the_same_model(clients):
    from ipvae_snn.learning import SpikingDictionaryLearner
    x = natural_patches(n_patches=256, seed=1)
    kwargs = dict(n_components=32, batch_size=64, max_iter=1, t_train=4, random_state=0,
                  progress=False)
    local = SpikingDictionaryLearner(**kwargs).fit(x)
    remote = SpikingDictionaryLearner(**kwargs, client=clients[2]).fit(x)
    assert np.array_equal(local.params_.phi, remote.params_.phi)
    assert remote.params_.fingerprint() == local.params_.fingerprint()
    # a checkpoint does not depend on where its batches ran
    assert "client" not in remote._check_hyper_parameters()


# ------------------------------------------------------------- a lost worker
def _kill_a_busy_worker(client, done):
    """Wait until a worker runs a task of the batch, then SIGKILL its process."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not done.is_set():
        busy = [w for w, keys in client.processing().items()
                if any(str(k).startswith("ipvae-") and "shared" not in str(k)
                       for k in keys)]
        if busy:
            os.kill(pids[busy[0]], signal.SIGKILL)
            return busy[0]
        time.sleep(0.02)
    return None


@pytest.mark.parametrize("kind", ["reference",
                                  pytest.param("network", marks=pytest.mark.standalone)])
def test_a_worker_killed_mid_batch_costs_only_its_chunks(params, patches, kind,
                                                         worker_cache, snn_cache, request,
                                                         caplog):
    import brian2  # noqa: F401  (here, in the main thread: it installs a signal handler)

    from ipvae_snn.network import SpikingIPVAE
    if kind == "network":
        request.getfixturevalue("cxx_compiler")
    if kind == "reference":
        # 40 blocks of 16 patches x 80 windows: a second or two in flight
        def run(**kw):
            return infer(params, patches[:640], 80, seed=7, block_size=16, warn=False,
                         record_windows=[16, 79], **kw)
    else:
        net = SpikingIPVAE(params, cache_dir=snn_cache)

        def run(**kw):          # 2 runs (123 + 7 inputs)
            return net.run(patches[:130], NET_WINDOWS, seed=7, warn=False, **kw)
    with _cluster(2, worker_cache) as cluster, distributed.Client(cluster) as client:
        out, done = {}, threading.Event()

        def batch():
            try:
                out["result"] = run(client=client)
            except BaseException as exc:        # noqa: B036 (re-raised below)
                out["error"] = exc
            finally:
                done.set()

        thread = threading.Thread(target=batch)
        thread.start()
        victim = _kill_a_busy_worker(client, done)
        thread.join(timeout=240)
        assert victim is not None, "the batch ended before a worker could be killed"
        assert not thread.is_alive() and "error" not in out, out.get("error")
        assert victim not in client.scheduler_info()["workers"]
    assert_identical(run(), out["result"])
    # the loss, when it cost scattered inputs, is one line per loss, not a traceback
    lost = [r for r in caplog.records if r.name.startswith("ipvae_snn")]
    assert all("\n" not in r.getMessage() and "worker was lost" in r.getMessage()
               for r in lost)


# --------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def scheduler_file(tmp_path_factory, worker_cache):
    """A scheduler and one worker, started as `dask scheduler` / `dask worker`."""
    folder = tmp_path_factory.mktemp("dask")
    path = str(folder / "scheduler.json")
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    if not os.path.exists(dask):
        pytest.skip("the dask command is not installed beside this Python")
    env = dict(os.environ, IPVAE_SNN_CACHE=worker_cache)
    procs = []
    try:
        procs.append(subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", path], env=env, cwd=folder,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(
            [dask, "worker", "--scheduler-file", path, "--nworkers", "1", "--nthreads",
             "1", "--host", "127.0.0.1", "--no-dashboard"], env=env, cwd=folder,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.1)
        with distributed.Client(scheduler_file=path, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
        yield path
    finally:
        try:                # the scheduler closes its workers, then itself
            with distributed.Client(scheduler_file=path, timeout=5) as client:
                client.shutdown()
        except Exception:   # never started, or gone: terminated below
            pass
        for proc in reversed(procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    assert rc == 0, err
    return out


def test_cli_against_a_scheduler_and_worker_in_other_processes(capsys, tmp_path,
                                                               scheduler_file,
                                                               monkeypatch):
    from ipvae_snn.results import InferenceResult
    argv = ("infer", "--steps", "16", "--n-patches", "600", "--quiet")
    _cli(capsys, *argv, "--out", str(tmp_path / "local.npz"))
    out = _cli(capsys, *argv, "--scheduler", scheduler_file, "--out",
               str(tmp_path / "file.npz"))
    assert "on the Dask cluster at tcp://127.0.0.1:" in out.splitlines()[0]
    assert "(1 workers)" in out.splitlines()[0]
    with open(scheduler_file) as f:
        address = json.load(f)["address"]
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)     # the default
    doc = json.loads(_cli(capsys, *argv, "--json", "--out", str(tmp_path / "env.npz")))
    assert doc["n_patches"] == 600
    local = InferenceResult.load(tmp_path / "local.npz")
    for name in ("file", "env"):
        remote = InferenceResult.load(tmp_path / f"{name}.npz")
        assert_identical(local, remote)
        assert remote.info["dask"]["scheduler"] == address


@pytest.mark.runtime
def test_cli_simulate_on_runtime_workers(capsys, tmp_path, scheduler_file):
    argv = ("simulate", "--device", "runtime", "--n-patches", "3", "--windows", "4",
            "--quiet", "--json")
    local = json.loads(_cli(capsys, *argv))
    remote = json.loads(_cli(capsys, *argv, "--scheduler", scheduler_file))
    assert remote["timing"]["n_workers"] == 1
    assert remote["summary"] == local["summary"]


def test_cli_fit_on_the_cluster_learns_the_same_model(capsys, tmp_path, scheduler_file):
    from ipvae_snn import IPVAEParams
    argv = ("fit", "--n-patches", "256", "--epochs", "1", "--batch-size", "128",
            "--n-components", "16", "--t-train", "4", "--eval-patches", "0",
            "--no-figure", "--quiet")
    _cli(capsys, *argv, "--out", str(tmp_path / "local.npz"))
    out = _cli(capsys, *argv, "--out", str(tmp_path / "dask.npz"), "--scheduler",
               scheduler_file)
    assert "on the Dask cluster at tcp://127.0.0.1:" in out.splitlines()[0]
    local, remote = (IPVAEParams.load(tmp_path / f"{n}.npz") for n in ("local", "dask"))
    assert remote.fingerprint() == local.fingerprint()


@pytest.mark.standalone
@pytest.mark.usefixtures("cxx_compiler")
def test_cli_stats_on_the_cluster_gives_the_same_table(capsys, scheduler_file,
                                                       monkeypatch, snn_cache):
    monkeypatch.setenv("IPVAE_SNN_CACHE", snn_cache)        # the client's (local) cache
    argv = ("stats", "--n-patches", "2", "--trials", "2", "--windows", str(NET_WINDOWS),
            "--quiet", "--json")
    local = json.loads(_cli(capsys, *argv))
    remote = json.loads(_cli(capsys, *argv, "--scheduler", scheduler_file))
    assert remote["values"] == local["values"]


@pytest.mark.parametrize("scheduler, message", [
    ("tcp://127.0.0.1:9", "cannot reach the Dask scheduler"),
    ("no/such/scheduler.json", "neither 'local', an address"),
])
def test_unreachable_scheduler_is_one_line_exit_2(capsys, monkeypatch, scheduler, message):
    rc = main(["infer", "--steps", "2", "--n-patches", "4", "--scheduler", scheduler])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("ipvae-snn: error: ") and message in err, err


def test_missing_dask_names_the_extra(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    rc = main(["infer", "--steps", "2", "--n-patches", "4", "--scheduler", "local"])
    err = capsys.readouterr().err
    assert rc == 2 and 'pip install "ipvae-snn[dask]"' in err, err


def test_client_must_be_a_dask_client(params):
    with pytest.raises(TypeError, match="dask.distributed.Client"):
        infer(params, natural_patches(n_patches=2, seed=0), 3, client="tcp://x:1")


def test_no_scheduler_anywhere_is_the_local_pool(monkeypatch):
    from ipvae_snn.cluster import open_client
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    with open_client(None) as client:
        assert client is None
