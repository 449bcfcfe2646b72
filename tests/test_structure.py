"""
The package's structure keeps its promises: every public name imports from
where it is documented, with no deprecated aliases beside it (the
compatibility layer for the unpublished 0.1 is gone), times reach the network
as float seconds or Brian2 quantities, the validation module sorts errors into
the caller's and ours, the command line reports the first in one line and lets
the second show its traceback, the model's constants come from the equation
files, and the equations are found from a checkout.
"""

import importlib
import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import ipvae_snn
from ipvae_snn import _equations, equations, validation
from ipvae_snn.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Public names of the modules (those of version 0.1 that remain).
PUBLIC = {
    "ipvae_snn": ["IPVAEParams", "default_params", "infer", "replay", "fond_update",
                  "InferenceResult", "SpikingResult", "RunawayWarning", "SpikingIPVAE",
                  "SpikingDictionaryLearner", "from_official", "__version__"],
    "ipvae_snn.stats": [
        "split_spike_trains", "to_neo", "from_neo", "isi", "isi_cv", "isi_lv",
        "pooled_isi_cv", "pooled_isi_lv", "fano_factor", "noise_correlation",
        "pair_values", "firing_rates", "lognormal_fit", "LognormalFit", "sparseness",
        "lifetime_sparseness", "population_sparseness", "tuning_curves",
        "preferred_orientation", "circular_variance", "orientation_selectivity_index",
        "tuning_half_width", "orientation_tuning", "OrientationTuning",
        "receptive_field_tuning", "orientation_summary", "RINGACH_LEVEL",
        "RINGACH_SMOOTHING", "repeat_trials", "trial_counts", "network_statistics",
        "cortex_experiment", "CortexExperiment", "load_cortex_reference",
        "cortex_table", "format_cortex_table"],
    "ipvae_snn.network": ["SpikingIPVAE", "DEVICES", "default_cache_dir",
                          "check_compiler"],
    "ipvae_snn.cli": ["main", "build_parser", "SUBCOMMANDS", "CLIError", "positive_int",
                      "nonnegative_int"],
    "ipvae_snn.plotting": ["plot_reconstructions", "save_figure", "check_figure_path",
                           "plot_raster", "plot_membrane_traces", "plot_dictionary",
                           "plot_window_curves", "plot_cortex_comparison",
                           "plot_tuning_curves"],
    "ipvae_snn.results": ["InferenceResult", "SpikingResult", "RunawayWarning",
                          "window_metrics", "summary_windows", "spike_times_from_counts"],
    "ipvae_snn.data": ["check_patches", "load_patches", "available_images", "load_image",
                       "natural_patches", "digit_patches", "preprocess_frames",
                       "whitening_filter", "contrast_normalize", "TRAIN_IMAGES",
                       "HELD_OUT_IMAGES", "SHIFT_MU", "SHIFT_SD", "FRAME_SIZE"],
    "ipvae_snn.params": ["IPVAEParams", "DEFAULT_MODEL", "default_params",
                         "default_model_path"],
    "ipvae_snn.reference": ["infer", "replay", "fond_update", "fond_clamp",
                            "poisson_counts"],
    "ipvae_snn.metrics": ["mse", "r2_score", "zero_fraction", "mean_count", "sparseness",
                          "lifetime_sparseness", "population_sparseness"],
    "ipvae_snn.official": ["from_official", "list_checkpoints", "read_official_config",
                           "MODEL_CONFIG", "REQUIRED_KEYS"],
    "ipvae_snn.stimuli": ["grating", "bar", "drifting_grating", "grating_set", "bar_set",
                          "DEFAULT_SPATIAL_FREQUENCY"],
    "ipvae_snn.equations": ["load", "REALIZATIONS"],
    "ipvae_snn.io": ["atomic_path", "atomic_savez", "atomic_save_json",
                     "atomic_save_text", "load_array_file"],
    "ipvae_snn.datasets": ["find_reference_dir"],
    "ipvae_snn.defaults": ["DEFAULT_WINDOW_S", "SUMMARY_WINDOWS", "PATCH_SIZE",
                           "FLOAT32_EPS", "FIGURE_WINDOWS"],
}

#: Names of the single-module command line of 0.1, now only in their modules.
CLI_MOVED = ["DEFAULT_N_PATCHES", "DEFAULT_STEPS", "FIGURE_WINDOWS", "FIT_EPOCHS",
             "FIT_EVAL_PATCHES", "FIT_N_PATCHES", "PROG", "STATS_N_PATCHES",
             "STATS_TRIALS", "STATS_WINDOWS", "add_convert_parser", "add_fit_parser",
             "add_infer_parser", "add_input_arguments", "add_model_arguments",
             "add_output_arguments", "add_simulate_parser", "add_stats_parser",
             "check_output_arguments", "format_summary_table", "load_input_patches",
             "load_model", "record_windows_for", "report", "run_convert", "run_fit",
             "run_infer", "run_simulate", "run_stats", "summary_dict"]


# ---------------------------------------------------------------- names
@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_public_name_imports_without_a_warning(module):
    mod = importlib.import_module(module)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*ipvae_snn", category=DeprecationWarning)
        for name in PUBLIC[module]:
            assert getattr(mod, name) is not None, (module, name)


def test_no_compatibility_aliases_remain(params):
    import ipvae_snn.cli as cli
    from ipvae_snn import data, params as params_module, results, stimuli
    from ipvae_snn.cli import common
    from ipvae_snn.network import SpikingIPVAE
    for name in ("ipvae_snn._io", "ipvae_snn._shared_data"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(name)
    for name in CLI_MOVED + ["run_infer", "add_infer_parser"]:
        assert not hasattr(cli, name), name
    # constants live in ipvae_snn.defaults only, not re-exported by their users
    for module, names in ((results, ["DEFAULT_WINDOW_S", "SUMMARY_WINDOWS"]),
                          (data, ["PATCH_SIZE"]), (stimuli, ["PATCH_SIZE"]),
                          (params_module, ["FLOAT32_EPS"]), (common, ["FIGURE_WINDOWS"])):
        assert not set(names) & set(module.__all__), module.__name__
    with pytest.raises(TypeError, match="max_rate"):
        SpikingIPVAE(params, device="runtime", max_rate=200)
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["simulate", "--max-rate", "40"])


def test_no_module_is_too_long():
    exempt = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "ipvae_snn")):
        for name in files:
            if name.endswith(".py") and name not in exempt:
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    n = sum(1 for _ in f)
                assert n <= 600, f"{name}: {n} lines"


# ------------------------------------------------------------------ times
def test_times_are_float_seconds_or_brian2_quantities(params):
    from brian2 import Hz, ms
    from brian2.units.fundamentalunits import DimensionMismatchError

    from ipvae_snn.network import SpikingIPVAE
    from ipvae_snn.network.units import UnitError
    plain = SpikingIPVAE(params, device="runtime", realization="continuous",
                         window=0.05, dt=0.0005)
    with_units = SpikingIPVAE(params, device="runtime", realization="continuous",
                              window=50 * ms, dt=0.5 * ms)
    assert plain.window_s == with_units.window_s == 0.05
    assert plain.steps_per_window == with_units.steps_per_window == 100
    with pytest.raises(UnitError, match="window must have units of time") as exc:
        SpikingIPVAE(params, device="runtime", window=5 * Hz)
    assert isinstance(exc.value, DimensionMismatchError)
    assert isinstance(exc.value, validation.InputError)
    for bad, error in ((-0.1, ValueError), (0, ValueError), ("0.1", TypeError),
                       (True, TypeError)):
        with pytest.raises(error, match="window"):
            SpikingIPVAE(params, device="runtime", window=bad)
    with pytest.raises(TypeError, match="max_count"):
        SpikingIPVAE(params, device="runtime", max_count=2 * ms)


def test_cli_passes_the_window_in_seconds_as_brian2_would(monkeypatch):
    from brian2 import ms, second

    from ipvae_snn import network
    from ipvae_snn.cli import build_parser, simulate
    seen = {}

    class Stop(Exception):
        pass

    def spy(params, **options):
        seen.update(options)
        raise Stop

    monkeypatch.setattr(network, "SpikingIPVAE", spy)
    args = build_parser().parse_args(["simulate", "--window-ms", "7", "--dt-ms", "0.3",
                                      "--realization", "continuous", "--n-patches", "1"])
    with pytest.raises(Stop):
        simulate.run(args)
    assert seen["window"] == float(7 * ms / second) and isinstance(seen["window"], float)
    assert seen["dt"] == float(0.3 * ms / second)


def test_record_u_means_the_same_in_infer_and_the_network(params):
    x = np.random.default_rng(3).standard_normal((3, 256))
    every = ipvae_snn.infer(params, x, 12, seed=1, record_u=True, record_windows=[2, 9],
                            dtype=np.float64)
    some = ipvae_snn.infer(params, x, 12, seed=1, record_u=[7, 3], record_windows=[2, 9],
                           dtype=np.float64)
    none = ipvae_snn.infer(params, x, 12, seed=1, record_u=False)
    assert every.u.shape == (3, 2, 512) and every.u_neurons.tolist() == list(range(512))
    assert some.u_neurons.tolist() == [7, 3]
    np.testing.assert_array_equal(some.u, every.u[:, :, [7, 3]])
    assert none.u is None and none.u_neurons.size == 0
    with pytest.raises(ValueError, match="record_u"):
        ipvae_snn.infer(params, x, 3, record_u=[512])


def test_record_u_of_the_network_at_the_recorded_windows():
    from brian2 import ms

    from ipvae_snn import IPVAEParams
    from ipvae_snn.network import SpikingIPVAE
    from ipvae_snn.reference import replay
    small = IPVAEParams.random(16, 6, random_state=2)
    x = np.random.default_rng(4).standard_normal((2, 16))
    res = SpikingIPVAE(small, device="runtime", window=10 * ms,
                       record_u=[4, 1]).run(x, 8, seed=0)
    # the window realization is deterministic given its counts
    u = replay(small, x, res.counts)[:, :8]
    np.testing.assert_allclose(res.u, u[:, :, [4, 1]], atol=1e-9)
    assert res.u_neurons.tolist() == [4, 1] == res.u_trace_neurons.tolist()
    quiet = SpikingIPVAE(small, device="runtime", window=10 * ms, record_u=False)
    assert quiet.record_u == ()


def test_u_neurons_survive_save_and_load(params, tmp_path):
    x = np.random.default_rng(0).standard_normal((2, 256))
    res = ipvae_snn.infer(params, x, 4, seed=0, record_u=[5, 2])
    res.save(tmp_path / "r.npz")
    back = ipvae_snn.InferenceResult.load(tmp_path / "r.npz")
    assert back.u_neurons.tolist() == [5, 2]
    np.testing.assert_array_equal(back.u, res.u)


# ---------------------------------------------------------------- validation
def test_validation_sorts_types_and_values():
    with pytest.raises(TypeError):
        validation.check_int(2.5, "n")
    with pytest.raises(ValueError):
        validation.check_int(0, "n")
    for exc in (validation.InvalidTypeError("x"), validation.InvalidValueError("x"),
                validation.MissingKeyError("x")):
        assert isinstance(exc, validation.InputError)
    assert str(validation.MissingKeyError("no key 'a'")) == "no key 'a'"


def test_one_json_converter_writes_valid_json(tmp_path):
    from ipvae_snn.io import atomic_save_json, json_dumps
    doc = {"a": np.float32(0.5), "b": np.array([1.0, np.nan]), "c": (np.inf, None)}
    assert json.loads(json_dumps(doc)) == {"a": 0.5, "b": [1.0, None], "c": [None, None]}
    atomic_save_json(tmp_path / "d.json", doc)
    text = (tmp_path / "d.json").read_text()
    assert "NaN" not in text and json.loads(text)["b"] == [1.0, None]


# ------------------------------------------------------------- command line
def test_cli_user_error_is_one_line_with_exit_2(capsys, tmp_path):
    rc = main(["infer", "--steps", "2", "--n-patches", "2", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("ipvae-snn: error: ")     # --out is a folder
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_internal_bug_shows_its_traceback(monkeypatch):
    import ipvae_snn.reference

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug, not the user's fault")

    monkeypatch.setattr(ipvae_snn.reference, "infer", broken)
    with pytest.raises(ZeroDivisionError, match="a bug"):
        main(["infer", "--steps", "2", "--n-patches", "2"])
    # an error type users also cause, but raised as a bug, is not hidden either
    monkeypatch.setattr(ipvae_snn.reference, "infer",
                        lambda *a, **k: {}["missing"])
    with pytest.raises(KeyError):
        main(["infer", "--steps", "2", "--n-patches", "2"])


def test_cli_internal_bug_in_a_subprocess_exits_with_a_traceback(tmp_path):
    code = ("import sys, ipvae_snn.reference as r\n"
            "r.infer = lambda *a, **k: 1 / 0\n"
            "from ipvae_snn.cli import main\n"
            "sys.exit(main(['infer', '--steps', '2', '--n-patches', '2']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "ZeroDivisionError" in proc.stderr


def test_subcommand_registry_is_explicit():
    from ipvae_snn import cli
    assert [m.NAME for m in cli.SUBCOMMANDS] == ["infer", "simulate", "stats",
                                                 "convert", "fit"]
    actions = [a for a in cli.build_parser()._actions if a.dest == "command"]
    assert list(actions[0].choices) == [m.NAME for m in cli.SUBCOMMANDS]


# ---------------------------------------------------------------- equations
@pytest.mark.parametrize("realization", equations.REALIZATIONS)
def test_model_constants_come_from_the_equation_files(params, realization):
    from ipvae_snn.network.builder import run_values
    path = os.path.join(ROOT, "equations", f"{realization}.txt")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n[constants]\n", 1)[1].split("\n[", 1)[0]
    names = [line.split(":")[0].strip() for line in section.splitlines()
             if line.split("#")[0].strip()]
    assert list(equations.constant_names(realization)) == names
    values = run_values(params, realization, 0.1, max_count=5.0)
    assert list(values.constants) == names
    assert values.constants["lr"] == params.lr and values.constants["window"] == 0.1
    assert values.constants["inv_max_count"] == pytest.approx(0.2)


def test_equations_are_found_in_either_layout(tmp_path):
    real = _equations.equations_dir()
    assert _equations.equations_dir((str(tmp_path / "none"), real)) == real
    with pytest.raises(FileNotFoundError, match="window.txt"):
        _equations.equations_dir((str(tmp_path / "none"),))


def test_a_checkout_without_an_installed_equations_package_imports_the_network(tmp_path):
    # A regular install run from the checkout's root imports the checkout's
    # ipvae_snn/, which has no equations subpackage: copy that layout and
    # import it with no installed copy (nor editable finder) in the way.
    checkout = tmp_path / "checkout"
    shutil.copytree(os.path.join(ROOT, "ipvae_snn"), checkout / "ipvae_snn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(os.path.join(ROOT, "equations"), checkout / "equations",
                    ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import sys\n"
            "sys.meta_path[:] = [f for f in sys.meta_path\n"
            "                    if 'editable' not in repr(f).lower()]\n"
            "import ipvae_snn.network, ipvae_snn._equations as e\n"
            f"assert ipvae_snn.__file__.startswith({str(checkout)!r}), ipvae_snn.__file__\n"
            "assert 'ipvae_snn.equations' not in sys.modules\n"
            "print(e.equations_dir(), sorted(e.load('window')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=checkout, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(str(checkout / "equations"))
    assert "update" in proc.stdout


# ----------------------------------------------------------------- backends
def test_a_device_is_a_registered_backend(params, monkeypatch):
    from ipvae_snn import network

    class Recorder(network.Backend):
        name = "recorder"
        calls = []

        def inputs_per_run(self, n_inputs, n_windows, requested=None):
            return 2

        def run_chunk(self, job, drive, replay, seed):
            # hand back silence: no spikes, every input at u_init
            k, n = job.spec.n_latents, job.spec.inputs_per_run
            self.calls.append(len(drive))
            return dict(
                spike_i=np.zeros(0, np.int32), spike_t=np.zeros(0),
                spike_count=np.zeros(0, np.int32),
                boundary_u=np.tile(job.values.arrays["u_init"], n),
                boundary_onset=np.full(n * k, -1), final_u=np.zeros(k),
                final_onset=np.full(k, -1)), dict(build_s=0.0, run_s=0.0, compiled=False)

    assert "recorder" not in network.DEVICES           # defining it offers nothing
    key = network.builder.program_code_digest()
    network.register_backend("recorder", Recorder)
    try:
        assert network.BACKENDS["recorder"] is Recorder
        assert "recorder" in network.DEVICES
        # the build key covers every registered backend's code
        assert network.builder.program_code_digest() != key
        net = network.SpikingIPVAE(params, device="recorder", n_jobs=1)
        res = net.run(np.zeros((5, 256)) + 0.01 * np.arange(256), 3, seed=0)
    finally:
        network.unregister_backend("recorder")
    assert network.builder.program_code_digest() == key
    assert Recorder.calls == [2, 2, 1]
    assert res.counts.sum() == 0 and res.info["device"] == "recorder"
    assert network.DEVICES == ("runtime", "cpp_standalone", "cuda_standalone")
