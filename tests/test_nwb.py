"""
NWB files (`ipvae_snn.nwb`): what ``simulate --nwb`` and ``stats --nwb`` write
reads back with pynwb — one unit per neuron with exactly the run's spikes,
one trial per input, the patches as stimulus — passes nwbinspector without a
critical finding, and reads back into the same `SpikingResult`.
"""

import json
import os
import sys

import numpy as np
import pytest

from ipvae_snn.cli import main
from ipvae_snn.io import json_dumps
from ipvae_snn.nwb import read_nwb, write_nwb
from ipvae_snn.results import SpikingResult

pynwb = pytest.importorskip(
    "pynwb", reason='the NWB tests need the nwb extra: pip install "ipvae-snn[nwb]"')

pytestmark = pytest.mark.nwb

#: Every array of a SpikingResult (None where a run does not record it).
ARRAYS = ("x", "input_gain", "windows", "counts", "u", "u_neurons", "u_final", "r2", "mse",
          "zero_fraction", "mean_count", "runaway_onset", "u_trace", "u_trace_t",
          "u_trace_neurons")


def assert_same_result(a, b):
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is None and y is None, name
            continue
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), name
    assert a.n_windows == b.n_windows
    assert a.params.fingerprint() == b.params.fingerprint() and a.params == b.params
    assert json.loads(json_dumps(a.info)) == json.loads(json_dumps(b.info))
    assert (a.spikes is None) == (b.spikes is None)
    for (i1, t1), (i2, t2) in zip(a.spikes or (), b.spikes or ()):
        assert i1.dtype == i2.dtype and np.array_equal(i1, i2)
        assert t1.dtype == t2.dtype and np.array_equal(t1, t2)


def assert_no_critical_finding(path):
    """nwbinspector with DANDI's configuration (what ``dandi validate`` requires)."""
    nwbinspector = pytest.importorskip("nwbinspector")
    from nwbinspector import Importance
    found = [m for m in nwbinspector.inspect_nwbfile(
                 nwbfile_path=str(path), config=nwbinspector.load_config("dandi"))
             if m.importance.value >= Importance.CRITICAL.value]
    assert not found, [(m.importance.name, m.check_function_name, m.message)
                       for m in found]


def unit_spikes(nwbfile):
    units = nwbfile.units
    return [np.asarray(units["spike_times"][j]) for j in range(len(units))]


@pytest.mark.runtime
@pytest.mark.slow
def test_simulate_nwb_has_the_runs_spikes_and_reads_back_exactly(capsys, tmp_path):
    nwb, npz = tmp_path / "run.nwb", tmp_path / "run.npz"
    rc = main(["simulate", "--device", "runtime", "--n-patches", "6", "--windows", "16",
               "--seed", "1", "--quiet", "--nwb", str(nwb), "--out", str(npz)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"NWB file written to {nwb}" in out
    run = SpikingResult.load(npz)                      # the run, as --out saved it
    duration = run.n_windows * run.window_s
    with pynwb.NWBHDF5IO(str(nwb), "r") as io:
        f = io.read()
        # one unit per neuron, with exactly the run's spikes on the file's timeline
        assert list(f.units.id[:]) == list(range(run.params.n_latents))
        spikes = unit_spikes(f)
        expected = [[] for _ in spikes]
        for p in range(run.n_patches):
            neuron, t = run.spike_trains(p)
            for i, ti in zip(neuron, t):
                expected[i].append(p * duration + ti)
        for j, times in enumerate(spikes):
            assert np.array_equal(times, np.sort(expected[j])), j
        assert sum(len(t) for t in spikes) == run.counts.sum() > 0
        # binned by trial and window, the spikes are the recorded counts
        counts = np.zeros_like(run.counts)
        pos = {w: k for k, w in enumerate(run.windows)}
        for j, times in enumerate(spikes):
            p = np.floor(times / duration).astype(int)
            w = np.floor((times - p * duration) / run.window_s).astype(int)
            for pi, wi in zip(p, w):
                counts[pi, pos[wi], j] += 1
        assert np.array_equal(counts, run.counts)
        # one trial per input, with its interval and patch index
        trials = f.trials.to_dataframe()
        assert list(trials["patch_index"]) == list(range(run.n_patches))
        assert np.allclose(trials["stop_time"] - trials["start_time"], duration)
        assert np.array_equal(trials["r2"], run.r2[:, -1])
        # the input patches as stimulus, and the run as metadata
        images = f.stimulus_template["input_patches"]
        shown = f.trials["input_image"].data[:]
        x = np.stack([images.images[f"patch{k}"].data[:] for k in shown])
        assert np.array_equal(x.reshape(run.x.shape), run.x)
        meta = f.processing["ipvae_snn"]["run"].to_dataframe().iloc[0]
        assert meta["fingerprint"] == run.params.fingerprint()
        assert (meta["realization"], meta["device"]) == ("window", "runtime")
        assert meta["window_s"] == run.window_s and meta["seed"] == "1"
        assert "runtime" in f.devices
    assert_no_critical_finding(nwb)
    assert_same_result(read_nwb(nwb), run)


@pytest.mark.runtime
def test_continuous_realization_round_trip_keeps_spike_lists_and_traces(tmp_path):
    from ipvae_snn import IPVAEParams
    from ipvae_snn.network import SpikingIPVAE
    from ipvae_snn.contrast import ContrastNormalization
    # with a contrast normalisation: its gains and the model's keys travel too
    params = IPVAEParams.random(16, 8, random_state=0).replace(
        contrast=ContrastNormalization(1.0))
    net = SpikingIPVAE(params, device="runtime", realization="continuous",
                       record_u=[0, 3])
    x = 3 * np.random.default_rng(0).standard_normal((3, 16))
    result = net.run(x, 6, seed=0, record_windows=[1, 4, 5], warn=False)
    assert sum(len(i) for i, _ in result.spikes) > 0
    path = write_nwb(result, tmp_path / "c.nwb")
    back = read_nwb(path)
    assert_same_result(back, result)
    assert back.input_gain is not None and back.params.contrast == params.contrast
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        spikes = unit_spikes(io.read())
    assert sum(len(t) for t in spikes) == sum(len(i) for i, _ in result.spikes)
    assert_no_critical_finding(path)
    # written atomically: a second write replaces the file, no temporary is left
    write_nwb(result, path)
    assert os.listdir(tmp_path) == ["c.nwb"]


@pytest.mark.standalone
@pytest.mark.usefixtures("cxx_compiler")
def test_stats_nwb_marks_the_repeated_trials(capsys, tmp_path, monkeypatch, snn_cache):
    monkeypatch.setenv("IPVAE_SNN_CACHE", snn_cache)        # the stats tests' program
    nwb = tmp_path / "stats.nwb"
    rc = main(["stats", "--n-patches", "4", "--trials", "3", "--windows", "65", "--quiet",
               "--nwb", str(nwb)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"NWB file written to {nwb}" in out
    with pynwb.NWBHDF5IO(str(nwb), "r") as io:
        f = io.read()
        trials = f.trials.to_dataframe()
        assert list(trials["stimulus_index"]) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
        assert list(trials["repeat"]) == [0, 1, 2] * 4
        assert len(f.stimulus_template["input_patches"].images) == 4    # distinct
        assert len(f.units) == 512
        # windows 16..64 of each trial recorded: one observed interval per trial
        obs = np.asarray(f.units["obs_intervals"][0])
        starts = trials["start_time"].to_numpy()
        assert np.allclose(obs, np.c_[starts + 1.6, starts + 6.5])
        assert all(np.array_equal(f.units["obs_intervals"][j], obs) for j in (1, 511))
    back = read_nwb(nwb)
    assert back.n_patches == 12 and back.windows[0] == 16
    assert_no_critical_finding(nwb)
    # the file's spike trains give the run's count statistics
    from ipvae_snn import stats
    expected = stats.network_statistics(back, 3)
    assert main(["stats", "--from-nwb", str(nwb), "--json"]) == 0
    values = json.loads(capsys.readouterr().out)["values"]
    for key in ("fano_factor", "noise_correlation", "median_rate_hz", "mean_rate_hz",
                "lifetime_sparseness", "population_sparseness", "n_fano_pairs"):
        want = None if np.isnan(expected[key]) else pytest.approx(expected[key], rel=1e-9)
        assert values[key] == want, key


def test_missing_pynwb_names_the_extra_before_any_work(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pynwb", None)
    rc = main(["simulate", "--device", "runtime", "--n-patches", "2", "--windows", "2",
               "--nwb", str(tmp_path / "x.nwb")])
    err = capsys.readouterr().err
    assert rc == 2 and 'pip install "ipvae-snn[nwb]"' in err, err
    assert not os.listdir(tmp_path)


def test_reader_refuses_other_nwb_files(tmp_path):
    import datetime
    path = tmp_path / "other.nwb"
    f = pynwb.NWBFile(session_description="not ours", identifier="x",
                      session_start_time=datetime.datetime.now(datetime.timezone.utc))
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    with pytest.raises(ValueError, match="not written by ipvae-snn"):
        read_nwb(path)
    with pytest.raises(FileNotFoundError):
        read_nwb(tmp_path / "missing.nwb")


@pytest.fixture(scope="module")
def small_nwb(tmp_path_factory):
    """An NWB file of this package (a runtime run of a tiny model)."""
    from ipvae_snn import IPVAEParams
    from ipvae_snn.network import SpikingIPVAE
    params = IPVAEParams.random(16, 8, random_state=0, template=None)
    result = SpikingIPVAE(params, device="runtime").run(
        np.random.default_rng(0).standard_normal((2, 16)), 3, seed=0, warn=False)
    return write_nwb(result, tmp_path_factory.mktemp("nwb") / "run.nwb")


def _garble(data):
    out = bytearray(data)
    for i in range(len(out) // 3, len(out), 97):
        out[i] ^= 0xA5
    return bytes(out)


@pytest.mark.parametrize("damage, why", [
    ("truncated", "it is truncated"),
    ("garbled", ""),
    ("text", "not an HDF5 file"),
    ("empty", "not an HDF5 file"),
    ("plain HDF5", ""),
])
def test_unreadable_nwb_files_are_named_errors(small_nwb, tmp_path, damage, why):
    """h5py's OSError, KeyError and TypeError came through without the path."""
    from ipvae_snn.validation import InvalidValueError
    path = tmp_path / "bad.nwb"
    data = open(small_nwb, "rb").read()
    if damage == "plain HDF5":
        import h5py
        with h5py.File(path, "w") as f:
            f["x"] = np.arange(3)
    else:
        path.write_bytes({"truncated": data[:len(data) // 2], "garbled": _garble(data),
                          "text": b"hello, not an NWB file\n", "empty": b""}[damage])
    before = path.read_bytes()
    with pytest.raises(InvalidValueError) as exc:
        read_nwb(path)
    message = str(exc.value)
    assert f"NWB file '{path}'" in message and why in message, message
    assert "\n" not in message and path.read_bytes() == before
