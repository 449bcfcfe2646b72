"""
Runs are bounded before they start: the memory model covers spike volume
(`ipvae_snn.network.volume.spike_volume`), sizes and timeouts from the environment
are parsed by one rule each and named when wrong, statistics refuse spike
volumes beyond any neuron's rate, and fits that diverge stop with one line
instead of writing a broken model. Each case is reproduced on the command
line (a subprocess where the process matters) and through the API; errors are
one line, exit status 2, within seconds, and the user's files stay as they
were.
"""

import functools
import hashlib
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import ipvae_snn
from ipvae_snn import IPVAEParams, load_model
from ipvae_snn._memory import available_memory, parse_size
from ipvae_snn.network.volume import spike_volume
from ipvae_snn.data import natural_patches
from ipvae_snn.network import SpikingIPVAE
from ipvae_snn.network.program import ProgramCache
from ipvae_snn.stats import cortex_experiment
from ipvae_snn.validation import InvalidValueError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(args, env=None, cwd=None, timeout=120):
    """``ipvae-snn ARGS`` in a subprocess: (status, stdout, stderr, seconds)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ipvae_snn.cli", *args], cwd=cwd,
                          env=dict(os.environ, **(env or {})), capture_output=True,
                          text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start


def _one_line_error(code, out, err, *needles):
    assert code == 2, err
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("ipvae-snn: error: "), err
    for needle in needles:
        assert needle in err, (needle, err)


def _hashes(folder):
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder))}


@pytest.fixture(scope="module")
def natural():
    # inputs as given: unwhitened pixels reach the network (no contrast normalisation)
    return load_model("natural").replace(contrast=None)


@pytest.fixture(scope="module")
def hot_model(natural):
    """A valid model whose prior fires at its clamp: u_init = clamp_u = 20."""
    p = natural
    return IPVAEParams(p.phi, p.sigma, p.bias, p.lr, np.full(p.n_latents, 20.0),
                       clamp_u=20)


@pytest.fixture
def files(tmp_path, hot_model):
    """The user's folder: the hot model and unwhitened 0-255 pixel patches."""
    hot_model.save(str(tmp_path / "hot.npz"))
    x = natural_patches(n_patches=4, seed=0)
    np.save(tmp_path / "raw.npy", np.clip(40 * x + 128, 0, 255).round())
    return tmp_path


# ------------------------------------------------------------ sizes (D15)
@pytest.mark.parametrize("text, value", [
    ("512", 512), ("512B", 512), ("1.5k", 1536), ("2K", 2048), ("2KiB", 2048),
    ("2KB", 2000), ("2M", 2 * 1024 ** 2), ("2MB", 2_000_000), ("2G", 2 * 1024 ** 3),
    ("2GiB", 2 * 1024 ** 3), ("2gb", 2_000_000_000), ("1T", 1024 ** 4),
    (" 3 GiB ", 3 * 1024 ** 3), ("1e3", 1000),
])
def test_sizes_with_units(text, value):
    assert parse_size(text, "X") == value


@pytest.mark.parametrize("text", ["nan", "inf", "-1", "0", "B", "", "lots", "2GiBs",
                                  "2 XB", "1e999"])
def test_bad_memory_limits_are_named(monkeypatch, text):
    monkeypatch.setenv("IPVAE_SNN_MEMORY_LIMIT", text or "   x")
    with pytest.raises(InvalidValueError, match="IPVAE_SNN_MEMORY_LIMIT must be a "
                                                "positive size"):
        available_memory()


def test_the_memory_limit_on_the_command_line(tmp_path):
    for text in ("nan", "-1", "B"):
        code, out, err, _ = _cli(["infer", "--steps", "2", "--n-patches", "5"],
                                 env={"IPVAE_SNN_MEMORY_LIMIT": text}, cwd=tmp_path)
        _one_line_error(code, out, err, "IPVAE_SNN_MEMORY_LIMIT", repr(text))
    code, out, err, _ = _cli(["infer", "--steps", "2", "--n-patches", "5", "--json"],
                             env={"IPVAE_SNN_MEMORY_LIMIT": "2GiB"}, cwd=tmp_path)
    assert code == 0, err
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------- lock timeout (D16)
@pytest.mark.parametrize("text", ["-5", "nan", "soon"])
def test_a_bad_lock_timeout_names_its_variable(monkeypatch, tmp_path, text):
    monkeypatch.setenv("IPVAE_SNN_LOCK_TIMEOUT", text)
    with pytest.raises(InvalidValueError, match=f"IPVAE_SNN_LOCK_TIMEOUT must be a "
                                                f"number of seconds >= 0, got '{text}'"):
        ProgramCache(str(tmp_path))
    with pytest.raises(InvalidValueError, match="the lock timeout must be"):
        ProgramCache(str(tmp_path), lock_timeout=-5)


def test_a_bad_lock_timeout_on_the_command_line(tmp_path):
    code, out, err, _ = _cli(["simulate", "--n-patches", "2", "--windows", "2"],
                             env={"IPVAE_SNN_LOCK_TIMEOUT": "-5",
                                  "IPVAE_SNN_CACHE": str(tmp_path / "cache")},
                             cwd=tmp_path)
    _one_line_error(code, out, err, "IPVAE_SNN_LOCK_TIMEOUT", "'-5'")


# ------------------------------------------------------- spike volume (D3)
def test_spike_volume_follows_the_model_and_the_input(natural, hot_model):
    x = natural_patches(n_patches=50, seed=0)
    k = natural.n_latents
    # the bundled model on photographs: about the assumed activity
    calm = spike_volume(natural, x, 65, steps_per_window=100)
    assert calm.floor <= calm.events < 10 * calm.floor
    # a prior at the clamp: every neuron fires in every time step
    hot = spike_volume(hot_model, x, 17, steps_per_window=100)
    assert hot.events == k * 100 and hot.model_driven
    # max_count bounds it
    capped = spike_volume(hot_model, x, 17, steps_per_window=100, max_count=5)
    assert capped.events < 2 * 5 * k <= hot.events / 5
    # the window realization records one event per active neuron and window
    assert spike_volume(hot_model, x, 17).events == k
    # unwhitened pixels: thousands of spikes per neuron and window
    raw = spike_volume(natural, np.clip(40 * x + 128, 0, 255), 17)
    assert raw.spikes > 1000 * k


def test_a_model_at_its_clamp_is_refused_before_the_run(files, hot_model, monkeypatch,
                                                        cxx_compiler):
    """D3 (a): was OOM-killed at 23 GB after 223 s."""
    before = _hashes(files)
    cache = files / "cache"
    code, out, err, seconds = _cli(
        ["simulate", "--realization", "continuous", "--windows", "16", "--n-patches",
         "5", "--model", "hot.npz", "--quiet"],
        env={"IPVAE_SNN_CACHE": str(cache), "IPVAE_SNN_MEMORY_LIMIT": "8G"}, cwd=files)
    _one_line_error(code, out, err, "u_init up to 20", "clamp_u 20", "--max-count",
                    "memory")
    assert seconds < 30
    assert not cache.exists()                         # refused before compiling
    assert _hashes(files) == before
    monkeypatch.setenv("IPVAE_SNN_MEMORY_LIMIT", "8G")
    net = SpikingIPVAE(hot_model, realization="continuous", cache_dir=str(cache))
    with pytest.raises(InvalidValueError, match=r"u_init up to 20.*max_count"):
        net.run(natural_patches(n_patches=5, seed=0), 17)
    assert not cache.exists()


def test_saturated_spike_statistics_are_refused_before_the_spike_trains(files,
                                                                         natural):
    """D3 (c): unwhitened pixels grew without bound in the ISI statistics."""
    raw = np.load(files / "raw.npy")
    run = functools.partial(ipvae_snn.infer, natural, warn=False)
    start = time.monotonic()
    with pytest.raises(InvalidValueError, match=r"mean count is .* Hz\), above the "
                                                r"1000 Hz .* whitened"):
        cortex_experiment(run, raw, n_trials=2, n_windows=33)
    assert time.monotonic() - start < 30
    # whitened patches pass
    exp = cortex_experiment(run, natural_patches(n_patches=2, seed=0), n_trials=2,
                            n_windows=33)
    assert np.isfinite(exp.values["mean_rate_hz"])


def test_spike_statistics_that_do_not_fit_in_memory_are_refused(monkeypatch, natural):
    from ipvae_snn.stats import network_statistics
    x = np.repeat(natural_patches(n_patches=1, seed=0), 2, axis=0)
    result = ipvae_snn.infer(natural, x, 33, record_windows=np.arange(16, 33), warn=False)
    spikes = int(result.counts.sum(axis=(1, 2)).max())
    monkeypatch.setenv("IPVAE_SNN_MEMORY_LIMIT", str(spikes))   # bytes: < 1 per spike
    with pytest.raises(InvalidValueError, match="spike statistics of .* spikes in one "
                                                "trial: needs about"):
        network_statistics(result, 2)


# ------------------------------------------------------ divergent fits (D13)
def test_a_divergent_fit_stops_and_writes_no_model(tmp_path):
    """`fit --learning-rate 1e300` wrote an all-zero dictionary, exit 0."""
    code, out, err, seconds = _cli(
        ["fit", "--learning-rate", "1e300", "--n-patches", "200", "--out", "m.npz",
         "--quiet"], cwd=tmp_path)
    _one_line_error(code, out, err, "the fit diverged", "--learning-rate")
    assert seconds < 60 and os.listdir(tmp_path) == []


def test_a_model_whose_patches_all_run_away_stops_the_fit(files):
    """Fitting from an accepted extreme model printed 'count/neuron nan'."""
    before = _hashes(files)
    code, out, err, _ = _cli(["fit", "--init", "hot.npz", "--n-patches", "200", "--out",
                              "m.npz", "--quiet"], cwd=files)
    _one_line_error(code, out, err, "the fit diverged", "upper clamp", "u_init up to 20",
                    "--init")
    assert _hashes(files) == before


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from ipvae_snn.learning import SpikingDictionaryLearner, updates
    from ipvae_snn.learning.checkpoint import load_checkpoint
    x = natural_patches(n_patches=64, seed=0)
    path = str(tmp_path / "fit.npz")
    calls = []
    real_step = updates.optimizer_step

    def step(phi, grad, state, lr, optimizer):         # the third step overflows
        calls.append(1)
        return real_step(phi, grad, state, lr, optimizer) * (np.inf if len(calls) == 3
                                                             else 1.0)

    monkeypatch.setattr(updates, "optimizer_step", step)
    learner = SpikingDictionaryLearner(16, batch_size=16, max_iter=2, t_train=4,
                                       checkpoint=path, checkpoint_every=1,
                                       random_state=0, progress=False,
                                       operating_point=None, prior_cap=None)
    with pytest.raises(updates.FitDivergedError, match=r"epoch 0, batch 2: the "
                       r"dictionary has non-finite values .*learning rate.*last "
                       r"checkpoint"):
        learner.fit(x)
    state = load_checkpoint(path, x, learner._check_hyper_parameters(), 16)
    assert state["n_done"] == 2 and np.isfinite(state["params"].phi).all()
    assert not hasattr(learner, "components_")


# -------------------------------------------------------- window length (D22)
@pytest.mark.parametrize("window_ms", ["1e-12", "1e-100", "1e-300", "0.0005"])
def test_windows_shorter_than_the_clocks_resolve_are_refused(tmp_path, window_ms):
    """`--window-ms 1e-12` ran with wrong inputs (R² -0.02 for 0.68), exit 0,
    after compiling a new program."""
    cache = tmp_path / "cache"
    code, out, err, seconds = _cli(["simulate", "--window-ms", window_ms, "--n-patches",
                                    "2", "--windows", "2", "--quiet"],
                                   env={"IPVAE_SNN_CACHE": str(cache)}, cwd=tmp_path)
    _one_line_error(code, out, err, "window must be at least 0.001 ms", "--window-ms")
    assert seconds < 30 and not cache.exists()


def test_window_and_step_bounds_in_the_api():
    from brian2 import ms
    from ipvae_snn.network.model import MIN_DT_S, MIN_WINDOW_S
    p = IPVAEParams.random(16, 8, random_state=0, template=None)
    with pytest.raises(InvalidValueError, match="window must be at least"):
        SpikingIPVAE(p, device="runtime", window=MIN_WINDOW_S * 1e3 / 2 * ms)
    with pytest.raises(InvalidValueError, match="dt must be at least"):
        SpikingIPVAE(p, realization="continuous", device="runtime", window=1 * ms,
                     dt=MIN_DT_S * 1e3 / 2 * ms)
    net = SpikingIPVAE(p, device="runtime", window=MIN_WINDOW_S * 1e3 * ms)
    assert net.window_s == pytest.approx(MIN_WINDOW_S)


@pytest.mark.standalone
def test_the_shortest_window_gives_the_counts_of_the_default_one(tmp_path,
                                                                cxx_compiler):
    """The bound is where the compiled network still runs exactly: the counts
    at 1 µs are those at 100 ms (the dynamics depend on t / window only)."""
    from brian2 import ms
    from ipvae_snn.network.model import MIN_WINDOW_S
    p = IPVAEParams.random(16, 8, random_state=0, template=None)
    p = IPVAEParams(p.phi, p.sigma, p.bias, p.lr, np.zeros(8))      # active neurons
    x = np.random.default_rng(0).standard_normal((3, 16))
    runs = [SpikingIPVAE(p, window=w, n_jobs=1, cache_dir=str(tmp_path)).run(
        x, 6, seed=1, warn=False) for w in (100 * ms, MIN_WINDOW_S * 1e3 * ms)]
    assert runs[0].counts.sum() > 0
    np.testing.assert_array_equal(runs[0].counts, runs[1].counts)
