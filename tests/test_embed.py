"""
The iP-VAE embedded in a user's own Brian2 model (`ipvae_snn.network.ipvae_network`)
on every code-generation target, against independent truth: the reference
`ipvae_snn.infer` (the read-outs), the network's own spike monitor (what a
user's downstream synapses received) and brian2cuda's build (cuda_standalone).
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ipvae_snn import IPVAEParams, infer
from ipvae_snn.network import IPVAENetwork, ipvae_network
from ipvae_snn.validation import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "embed_in_brian2.py")
#: Downstream LIF neurons of the tests; iP-VAE neuron i drives LIF neuron i % N_LIF.
N_LIF = 16
#: The acceptance tolerance on mean R² and zero fraction against infer.
TOLERANCE = 0.01


@pytest.fixture
def brian_state():
    """Restores Brian2's device and code-generation target after the test."""
    from brian2 import device, prefs
    from brian2.devices.device import reset_device
    saved = prefs.codegen.target
    yield
    device.reinit()
    reset_device("runtime")
    prefs.codegen.target = saved


def _user_model(v1, window_realization=True):
    """A user's LIF group, synapses from the iP-VAE and a spike monitor."""
    from brian2 import NeuronGroup, SpikeMonitor, Synapses, ms
    lif = NeuronGroup(N_LIF, """dv/dt = -v / (20*ms) : 1 (unless refractory)
                                received : 1
                                t_last : second""",
                      threshold="v > 1", reset="v = 0", refractory=2 * ms,
                      method="exact", dt=1 * ms, name="user_lif")
    # the window realization's spike event carries the window's count z
    per_event = "z_pre" if window_realization else "1"
    syn = Synapses(v1.group, lif, "w : 1",
                   on_pre=f"v_post += w * {per_event}\nreceived_post += {per_event}\n"
                          f"t_last_post = t", name="user_synapses")
    syn.connect(condition=f"j == i % {N_LIF}")
    syn.w = 0.05
    return lif, syn, SpikeMonitor(lif, name="user_lif_spikes")


def _run_embedded(target, params, x, n_windows, seed, directory, realization="window",
                  window=None):
    """
    The iP-VAE with a user's LIF group in one user `Network` on ``target``;
    returns its result, what the LIF neurons received and their spike count.
    """
    from brian2 import Network, device, ms, prefs, set_device, start_scope
    from brian2 import seed as brian_seed
    from brian2.devices.device import reset_device
    start_scope()
    standalone = target == "cpp_standalone"
    if standalone:
        set_device("cpp_standalone", directory=directory, build_on_run=False)
        device.reinit()
        device.activate(directory=directory, build_on_run=False)
    else:
        reset_device("runtime")
        prefs.codegen.target = target
    v1 = ipvae_network(params, x, n_windows, realization=realization,
                       window=20 * ms if window is None else window)
    lif, syn, mon = _user_model(v1, realization == "window")
    net = Network(v1, lif, syn, mon)
    brian_seed(seed)
    net.run(v1.duration)
    if standalone:
        device.build(directory=directory, compile=True, run=True, with_output=False)
    return (v1, v1.result(), np.array(lif.received[:]), int(mon.num_spikes),
            np.array(lif.t_last[:]))


def _expected_received(counts):
    """What LIF neuron j receives: the counts of the iP-VAE neurons i with i % N_LIF == j."""
    per_neuron = counts.sum(axis=(0, 1))
    return np.bincount(np.arange(per_neuron.size) % N_LIF, weights=per_neuron,
                       minlength=N_LIF)


@pytest.fixture(scope="module")
def reference_64(params, few_shared_patches):
    """The reference read-outs of the 64 patches at T = 16 and 64, over 4 seeds."""
    x = few_shared_patches["shared"]
    runs = [infer(params, x, 65, seed=s, record_windows=[16, 64], progress=False)
            for s in range(4)]
    return x, {T: dict(r2=np.mean([np.nanmean(r.r2[:, T]) for r in runs]),
                       zero_fraction=np.mean([r.zero_fraction[:, T].mean() for r in runs]))
               for T in (16, 64)}


@pytest.mark.slow
@pytest.mark.parametrize("target", [
    pytest.param("numpy", marks=pytest.mark.runtime),
    pytest.param("cython", marks=pytest.mark.runtime),
    pytest.param("cpp_standalone", marks=pytest.mark.standalone),
])
def test_embedded_network_matches_infer(target, params, reference_64, brian_state,
                                        tmp_path, cxx_compiler):
    """64 patches, T = 16 and 64: the acceptance of the embedding on each CPU target."""
    if target == "cython":
        pytest.importorskip("Cython")
    x, ref = reference_64
    v1, res, received, lif_spikes, _ = _run_embedded(target, params, x, 65, seed=3,
                                                     directory=str(tmp_path / "project"))
    assert res.counts.shape == (64, 65, params.n_latents)
    for T in (16, 64):
        for name in ("r2", "zero_fraction"):
            got = float(np.nanmean(getattr(res, name)[:, T]))
            print(f"\n{target}: {name} at T={T}: embedded {got:.4f}, "
                  f"infer {ref[T][name]:.4f}")
            assert abs(got - ref[T][name]) <= TOLERANCE, (target, name, T)
    # the user's synapses delivered every spike the network's own monitor saw
    np.testing.assert_array_equal(received, _expected_received(res.counts))
    assert received.sum() > 0 and lif_spikes > 0


@pytest.mark.runtime
@pytest.mark.parametrize("target", ["numpy", pytest.param("cython", marks=pytest.mark.slow)])
def test_softplus_on_runtime_targets(target, brian_state, cxx_compiler):
    """The equations' softplus on Brian2's runtime targets against numpy's logaddexp."""
    if target == "cython":
        pytest.importorskip("Cython")
    from brian2 import Network, NeuronGroup, prefs, start_scope
    from ipvae_snn.network.functions import softplus_function
    start_scope()
    prefs.codegen.target = target
    x = np.concatenate([np.linspace(-40, 40, 801), [6.999, 7.0, 7.001, 19.99, 20.01]])
    group = NeuronGroup(x.size, "x : 1\ny : 1", namespace={"softplus": softplus_function()})
    group.x = x
    group.run_regularly("y = softplus(x, 20.0)")
    Network(group).run(group.clock.dt)
    expected = np.where(x > 20.0, x, np.logaddexp(0.0, x))
    np.testing.assert_allclose(np.asarray(group.y), expected, rtol=4e-16, atol=1e-300)


def _first_update(params, drive, z0):
    """u after the first window's update, from the equations' rule written in numpy."""
    def softplus(v):
        return np.where(v > params.softplus_threshold, v, np.log1p(np.exp(
            np.minimum(v, params.softplus_threshold))))

    def clamp(v, c):
        return c - softplus(c - np.maximum(v, params.clamp_min))

    du = params.lr * (drive - params.bias - z0 @ params.lateral_weights().T)
    return clamp(params.u_init + clamp(du, params.clamp_du), params.clamp_u)


@pytest.mark.standalone
def test_standalone_new_patches_as_run_arguments(params, few_shared_patches, brian_state,
                                                 tmp_path, cxx_compiler):
    """A built cpp_standalone project takes new patches as a run argument."""
    from brian2 import Network, device, ms, set_device, start_scope
    start_scope()
    directory = str(tmp_path / "project")
    set_device("cpp_standalone", directory=directory, build_on_run=False)
    device.reinit()
    device.activate(directory=directory, build_on_run=False)
    x = few_shared_patches["shared"]
    v1 = ipvae_network(params, x[:2], 3, window=20 * ms, record_u=True)
    Network(v1).run(v1.duration)
    device.build(directory=directory, compile=True, run=True, with_output=False)
    for patches in (x[:2], x[2:4]):
        if patches is not x[:2]:
            device.run(directory=directory, with_output=False,
                       run_args={v1.input: v1.drive(patches)})
        res = v1.result(patches=patches)
        u1 = res.u_trace[:, :, 1]              # after window 0's update
        expected = _first_update(params, v1.drive(patches), res.counts[:, 0])
        np.testing.assert_allclose(u1, expected, atol=1e-9)
    assert not np.allclose(v1.drive(x[:2]), v1.drive(x[2:4]))


@pytest.mark.runtime
def test_downstream_spikes_window_realization(params, few_shared_patches, brian_state,
                                              tmp_path):
    """One event per neuron and window, at the window's start, carrying its count."""
    from brian2 import ms
    x = few_shared_patches["shared"][:2]
    v1, res, received, _, t_last = _run_embedded("numpy", params, x, 6, seed=0,
                                                 directory=str(tmp_path), window=50 * ms)
    assert (res.counts > 1).any()     # counts above one: z_pre is not just "a spike"
    np.testing.assert_array_equal(received, _expected_received(res.counts))
    events = v1.monitors["spikes"]
    # events at window starts only (t is a whole number of windows)
    steps = np.asarray(events.t / v1.window)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)
    assert (np.asarray(events.z) >= 1).all()
    hit = received > 0
    last = np.asarray(t_last / v1.window)[hit]
    np.testing.assert_allclose(last, np.round(last), atol=1e-9)


@pytest.mark.runtime
def test_downstream_spikes_continuous_realization(params, few_shared_patches, brian_state,
                                                  tmp_path):
    """One event per spike, at its own time step: spike times inside windows."""
    from brian2 import ms
    x = few_shared_patches["shared"][:2]
    v1, res, received, _, _ = _run_embedded("numpy", params, x, 4, seed=0,
                                            directory=str(tmp_path),
                                            realization="continuous", window=10 * ms)
    assert res.counts.sum() > 0
    np.testing.assert_array_equal(received, _expected_received(res.counts))
    t = np.asarray(v1.monitors["spikes"].t / v1.window)
    assert (np.abs(t - np.round(t)) > 1e-6).any()     # real spike times, not windows
    assert float(v1.window / v1.dt) == pytest.approx(100)


@pytest.mark.runtime
def test_magic_network_and_units(brian_state):
    """Brian2's magic run() finds it; float seconds equal quantities."""
    from brian2 import ms, prefs, run, start_scope
    start_scope()
    prefs.codegen.target = "numpy"
    params = IPVAEParams.random(16, 8, random_state=0)
    x = np.random.default_rng(0).standard_normal((3, 16))
    v1 = ipvae_network(params, x, 4, window=0.05)
    assert isinstance(v1, IPVAENetwork)
    assert float(v1.window / ms) == 50.0
    assert float(v1.duration / ms) == pytest.approx(3 * 4 * 50)
    run(v1.duration)
    assert v1.result().counts.shape == (3, 4, 8)
    np.testing.assert_allclose(v1.drive(x), np.asarray(v1.input.values))


@pytest.mark.runtime
def test_embedded_network_sees_the_normalised_patches(brian_state):
    """A model with a contrast normalisation: the drive, the result's input and
    its gains are those of the patches divided by their contrast, as in infer."""
    from brian2 import prefs, run, start_scope

    from ipvae_snn.contrast import ContrastNormalization
    start_scope()
    prefs.codegen.target = "numpy"
    params = IPVAEParams.random(16, 8, random_state=0).replace(
        contrast=ContrastNormalization(1.0))
    x = 4.0 * np.random.default_rng(0).standard_normal((3, 16))
    seen, gain = params.contrast(x)
    v1 = ipvae_network(params, x, 4, window=0.05)
    np.testing.assert_allclose(np.asarray(v1.input.values), params.feedforward(seen))
    np.testing.assert_allclose(v1.drive(x), params.feedforward(seen))
    run(v1.duration)
    result = v1.result()
    np.testing.assert_allclose(result.x, seen)
    np.testing.assert_allclose(result.input_gain, gain)
    np.testing.assert_allclose(v1.result(patches=x).input_gain, gain)


@pytest.mark.parametrize("kwargs, match", [
    (dict(window="100 ms"), "window must be a time"),
    (dict(realization="both"), "realization"),
    (dict(dt=0.03), "dt"),
    (dict(n_windows=0), "n_windows"),
])
def test_bad_arguments(kwargs, match):
    params = IPVAEParams.random(16, 8, random_state=0)
    args = dict(params=params, patches=np.zeros((2, 16)), n_windows=3) | kwargs
    with pytest.raises(InputError, match=match):
        ipvae_network(**args)


@pytest.mark.runtime
def test_result_needs_the_run_and_the_monitors(brian_state):
    from brian2 import Network, prefs, start_scope
    start_scope()
    prefs.codegen.target = "numpy"
    params = IPVAEParams.random(16, 8, random_state=0)
    x = np.zeros((2, 16))
    v1 = ipvae_network(params, x, 4)
    Network(v1).run(v1.duration / 4)
    with pytest.raises(InputError, match="run it for at least"):
        v1.result()
    bare = ipvae_network(params, x, 4, record=False)
    assert bare.monitors == {} and len(bare.objects) == 2
    with pytest.raises(InputError, match="record=False"):
        bare.result()
    with pytest.raises(InputError, match="built for 2 inputs"):
        v1.drive(np.zeros((3, 16)))


@pytest.mark.slow
@pytest.mark.parametrize("target", [
    pytest.param("numpy", marks=pytest.mark.runtime),
    pytest.param("cython", marks=pytest.mark.runtime),
    pytest.param("cpp_standalone", marks=pytest.mark.standalone),
])
def test_example_runs_on_each_target(target, tmp_path, cxx_compiler):
    if target == "cython":
        pytest.importorskip("Cython")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, EXAMPLE, "--quick", "--target", target,
                           "--out", str(out)], capture_output=True, text=True,
                          timeout=1200, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.listdir(out) == ["embed_in_brian2.png"]     # the project is not left there
    assert (out / "embed_in_brian2.png").stat().st_size > 10_000
    spikes = int(proc.stdout.split("downstream LIF spikes")[1].split()[0])
    assert spikes > 0


# ----------------------------------------------------------- cuda_standalone
#: A Python with brian2cuda (e.g. a Python 3.12 environment with ipvae-snn[cuda]).
CUDA_PYTHON_ENV = "IPVAE_SNN_CUDA_PYTHON"

_CUDA_BUILD = """
import sys, time
import numpy as np
import brian2cuda  # noqa: F401
from brian2 import Network, NeuronGroup, SpikeMonitor, Synapses, device, ms, set_device
from ipvae_snn import default_params
from ipvae_snn.network import ipvae_network
from ipvae_snn.network.cuda import configure_cuda_build
realization, out = sys.argv[1], sys.argv[2]
params = default_params()
if realization in ("pipeline", "batched"):    # the package's own cuda_standalone device
    from ipvae_snn.network import builder
    from ipvae_snn.network.standalone import CudaStandaloneBackend
    if realization == "pipeline":   # window realization, patches one after another
        spec = builder.NetworkSpec("window", params.n_latents, 5, 2, 0.1, 1, (), False,
                                   "float64")
    else:                           # continuous, 4 patches side by side (2 each)
        spec = builder.NetworkSpec("continuous", params.n_latents, 5, 8, 0.1, 10, (0,),
                                   False, "float64", batch=4)
    t0 = time.perf_counter()
    CudaStandaloneBackend().compile(spec, out, builder.run_values(params, spec.realization,
                                                                  0.1))
    print(f"built {realization} in {time.perf_counter() - t0:.0f} s")
    sys.exit(0)
set_device("cuda_standalone", directory=out, build_on_run=False)
configure_cuda_build()
x = np.random.default_rng(0).standard_normal((2, params.n_pixels))
v1 = ipvae_network(params, x, 5, realization=realization)
# every object on a clock of its own (no defaultclock): see cuda.defaultclock_anchor
cells = NeuronGroup(4, "dv/dt = -v / (10*ms) : 1", threshold="v > 1", reset="v = 0",
                    method="exact", dt=0.5 * ms)
syn = Synapses(v1.group, cells, "w : 1",
               on_pre="v_post += w * z_pre" if realization == "window" else "v_post += w")
syn.connect(p=0.1)
syn.w = 0.1
Network(v1, cells, syn, SpikeMonitor(cells)).run(v1.duration)
t0 = time.perf_counter()
device.build(directory=out, compile=True, run=False)
print(f"built {realization} in {time.perf_counter() - t0:.0f} s")
"""


def _cuda_python():
    """A Python with brian2cuda, and nvcc, or a reason to skip."""
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc (the CUDA toolkit) is not on PATH")
    candidates = [os.environ.get(CUDA_PYTHON_ENV), sys.executable]
    for python in filter(None, candidates):
        probe = subprocess.run([python, "-c", "import brian2cuda, ipvae_snn"],
                               capture_output=True, timeout=300)
        if probe.returncode == 0:
            return python
    pytest.skip(f"no Python with brian2cuda and ipvae_snn (install ipvae-snn[cuda] "
                f"in Python >= 3.12 and set {CUDA_PYTHON_ENV} to its python)")


# Each nvcc build takes 4-5 minutes on two cores: the two cases between them
# cover both realizations, the embedding (a user's group and synapses) and the
# package's own device with patches side by side; "continuous" (embedded) and
# "pipeline" (the package's device, one patch after another) are there to run
# by name (-k) where time allows.
CUDA_CASES = ["window", "batched"]
if os.environ.get("IPVAE_SNN_CUDA_ALL"):
    CUDA_CASES += ["continuous", "pipeline"]


@pytest.mark.slow
@pytest.mark.standalone
@pytest.mark.parametrize("realization", CUDA_CASES)
def test_cuda_standalone_builds(realization, tmp_path):
    """
    The embedded network (window realization, with a user's group and
    synapses) and the package's own cuda_standalone device (continuous
    realization, patches side by side: ``batch``, block-diagonal synapses)
    compile, with no GPU needed; ``IPVAE_SNN_CUDA_ALL=1`` adds the embedded
    continuous realization and the package's device one patch after another.
    """
    python = _cuda_python()
    out = tmp_path / "cuda_project"
    env = dict(os.environ, IPVAE_SNN_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([python, "-c", _CUDA_BUILD, realization, str(out)],
                          capture_output=True, text=True, timeout=3000, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert (out / "main").exists()
    print(proc.stdout.strip().splitlines()[-1])
