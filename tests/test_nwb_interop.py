"""
NWB files that other tools read: ``simulate --nwb`` stores every window's
spikes (so rates read from the file are the run's), the paper, the command
line and the user's metadata; DANDI's nwbinspector configuration finds
nothing critical; neo's NWBIO reads the spike trains; ``stats --from-nwb``
computes the statistics table from our files and from a plain pynwb file;
neo trains of a result span the whole trial, so Elephant's binning keeps every
spike.
"""

import datetime
import json

import numpy as np
import pytest

from ipvae_snn import stats
from ipvae_snn.cli import main
from ipvae_snn.nwb import PAPER, SPECIES, read_nwb, write_nwb
from ipvae_snn.results import SpikingResult
from ipvae_snn.validation import InvalidTypeError, InvalidValueError

pynwb = pytest.importorskip(
    "pynwb", reason='the NWB tests need the nwb extra: pip install "ipvae-snn[nwb]"')

pytestmark = pytest.mark.nwb

WINDOWS = 64


def findings(path, importance="CRITICAL"):
    """nwbinspector's findings with DANDI's configuration, of this importance or more."""
    nwbinspector = pytest.importorskip("nwbinspector")
    from nwbinspector import Importance
    return [(m.check_function_name, m.message) for m in nwbinspector.inspect_nwbfile(
        nwbfile_path=str(path), config=nwbinspector.load_config("dandi"))
        if m.importance.value >= Importance[importance].value]


def critical_findings(path):
    return findings(path, "CRITICAL")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """``simulate --windows 64 --nwb`` with the metadata options, and its --out."""
    folder = tmp_path_factory.mktemp("simulate")
    nwb, npz = folder / "run.nwb", folder / "run.npz"
    argv = ["simulate", "--device", "runtime", "--n-patches", "4", "--windows",
            str(WINDOWS), "--seed", "3", "--quiet", "--nwb", str(nwb), "--out", str(npz),
            "--experimenter", "Doe, Jane", "--lab", "V1 lab", "--institution", "Uni",
            "--subject-id", "model-a"]
    assert main(argv) == 0
    return nwb, SpikingResult.load(npz), argv


@pytest.mark.runtime
def test_simulate_nwb_holds_every_windows_spikes(simulated):
    nwb, run, _ = simulated
    assert np.array_equal(run.windows, np.arange(WINDOWS + 1))    # every window
    duration = run.n_windows * run.window_s
    with pynwb.NWBHDF5IO(str(nwb), "r") as io:
        f = io.read()
        units = f.units
        spikes = [np.asarray(units["spike_times"][j]) for j in range(len(units))]
        assert sum(len(t) for t in spikes) == run.counts.sum() > 0
        # observed: the whole recording, so spikes / observed time is the rate
        total = run.n_patches * duration
        for j in (0, len(units) - 1):
            assert np.allclose(units["obs_intervals"][j], [[0.0, total]])
        rates = np.array([len(t) for t in spikes]) / total
        assert np.allclose(rates, run.counts.sum(axis=(0, 1)) / total)
        assert np.median(rates) == pytest.approx(
            np.median(stats.firing_rates(run.counts, run.window_s)))
        # the window realization knows a spike's window: that is its resolution
        assert units.resolution == run.window_s


@pytest.mark.runtime
def test_simulate_nwb_metadata(simulated):
    nwb, run, argv = simulated
    with pynwb.NWBHDF5IO(str(nwb), "r") as io:
        f = io.read()
        assert list(f.related_publications) == [PAPER]
        assert f.source_script.split()[:2] == ["ipvae-snn", "simulate"]
        assert "'Doe, Jane'" in f.source_script and str(nwb) in f.source_script
        assert f.source_script_file_name == "ipvae-snn"
        assert list(f.experimenter) == ["Doe, Jane"]
        assert (f.lab, f.institution) == ("V1 lab", "Uni")
        assert (f.subject.subject_id, f.subject.species) == ("model-a", SPECIES)
        # the settings as tables, not JSON strings
        module = f.processing["ipvae_snn"]
        provenance = module["provenance"].to_dataframe().set_index("key")["value"]
        assert json.loads(provenance["seed"]) == 3
        assert json.loads(provenance["realization"]) == "window"
        assert "timing/total_s" in provenance.index
        versions = module["versions"].to_dataframe().set_index("key")["value"]
        assert "ipvae_snn" in versions.index
    assert critical_findings(nwb) == []
    # no JSON strings in tables, no missing metadata: the one violation left is
    # the resolution, the window, which nwbinspector finds large for spikes
    assert [name for name, _ in findings(nwb, "BEST_PRACTICE_VIOLATION")] == [
        "check_units_resolution_is_valid"]
    back = read_nwb(nwb)
    assert back.info["timing"] == run.info["timing"]
    assert np.array_equal(back.counts, run.counts)


@pytest.mark.runtime
def test_neo_nwbio_reads_the_spike_trains(tmp_path):
    pytest.importorskip("neo")
    from neo.io import NWBIO
    nwb, npz = tmp_path / "neo.nwb", tmp_path / "neo.npz"
    assert main(["simulate", "--device", "runtime", "--n-patches", "3", "--windows",
                 "16", "--seed", "1", "--quiet", "--nwb", str(nwb), "--out", str(npz),
                 "--nwb-for-neo", "--experimenter", "Doe, Jane"]) == 0
    run = SpikingResult.load(npz)
    blocks = NWBIO(str(nwb), mode="r").read_all_blocks()
    trains = [st for b in blocks for s in b.segments for st in s.spiketrains]
    assert len(trains) == run.params.n_latents
    assert sum(len(st) for st in trains) == run.counts.sum() > 0
    total = run.n_patches * run.n_windows * run.window_s
    assert all(float(st.t_start) == 0 and float(st.t_stop) == pytest.approx(total)
               for st in trains)
    with pynwb.NWBHDF5IO(str(nwb), "r") as io:
        f = io.read()
        # the lists neo cannot read went into the notes
        assert f.related_publications is None and f.experimenter is None
        assert PAPER in f.notes and "Doe, Jane" in f.notes
    assert critical_findings(nwb) == []


@pytest.mark.runtime
def test_stats_from_nwb_of_a_simulation(simulated, capsys):
    nwb, run, _ = simulated
    capsys.readouterr()
    assert main(["stats", "--from-nwb", str(nwb), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    values = out["values"]
    # windows 16 on (after the transient), one trial per distinct patch
    counts = run.counts[:, 16:]
    assert values["median_rate_hz"] == pytest.approx(
        np.median(counts.mean(axis=(0, 1)) / run.window_s))
    assert values["mean_rate_hz"] == pytest.approx(counts.mean() / run.window_s)
    assert values["fano_factor"] is None and values["n_trials"] == 1     # NaN in JSON
    assert np.isfinite(values["isi_cv"])
    assert out["n_trials"] == 4 and out["n_units"] == run.params.n_latents
    assert main(["stats", "--from-nwb", str(nwb)]) == 0
    assert "median rate" in capsys.readouterr().out


def plain_units_file(path, rates=(5.0, 10.0, 20.0), n_stimuli=2, n_trials=30,
                     trial_s=2.0, seed=0):
    """A pynwb file as another tool writes it: Poisson units, trials, a stimulus."""
    rng = np.random.default_rng(seed)
    f = pynwb.NWBFile(session_description="Poisson units", identifier="plain",
                      session_start_time=datetime.datetime.now(datetime.timezone.utc))
    f.add_trial_column("stimulus", "which stimulus the trial shows")
    n = n_stimuli * n_trials
    for p in range(n):
        f.add_trial(start_time=p * trial_s, stop_time=(p + 1) * trial_s,
                    stimulus=f"s{p % n_stimuli}")
    for rate in rates:
        t = np.sort(rng.uniform(0, n * trial_s, rng.poisson(rate * n * trial_s)))
        f.add_unit(spike_times=t)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        units = io.read().units
        return [np.asarray(units["spike_times"][j]) for j in range(len(units))]


def test_stats_from_nwb_of_a_plain_pynwb_units_file(tmp_path, capsys):
    path = tmp_path / "plain.nwb"
    spikes = plain_units_file(path)
    trials = stats.read_trials(path)
    assert trials.stimulus_column == "stimulus" and len(trials.trains) == 60
    assert sum(len(t) for tr in trials.trains for t in tr) == sum(len(t) for t in spikes)
    assert main(["stats", "--from-nwb", str(path), "--json", "--bin-ms", "100"]) == 0
    values = json.loads(capsys.readouterr().out)["values"]
    # rates: each unit's spikes over the recording
    expected = np.array([len(t) for t in spikes]) / 120.0
    assert values["mean_rate_hz"] == pytest.approx(expected.mean())
    assert values["median_rate_hz"] == pytest.approx(np.median(expected))
    # Poisson trains: Fano factor and ISI CV near 1, no noise correlation
    assert values["fano_factor"] == pytest.approx(1.0, abs=0.3)
    assert values["isi_cv"] == pytest.approx(1.0, abs=0.15)
    assert abs(values["noise_correlation"]) < 0.15
    assert values["n_stimuli"] == 2 and values["n_trials"] == 30
    assert main(["stats", "--from-nwb", str(path), "--stimulus-column", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err


def test_stats_from_nwb_refuses_a_file_without_units(tmp_path, capsys):
    path = tmp_path / "empty.nwb"
    f = pynwb.NWBFile(session_description="nothing", identifier="x",
                      session_start_time=datetime.datetime.now(datetime.timezone.utc))
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    assert main(["stats", "--from-nwb", str(path)]) == 2
    assert "no Units table" in capsys.readouterr().err


@pytest.fixture(scope="module")
def small_run():
    from ipvae_snn import IPVAEParams
    from ipvae_snn.network import SpikingIPVAE
    params = IPVAEParams.random(16, 8, random_state=0)
    x = 3 * np.random.default_rng(0).standard_normal((3, 16))
    return SpikingIPVAE(params, device="runtime").run(x, 12, seed=0, warn=False)


@pytest.mark.runtime
def test_subject_from_pynwb_or_dict(small_run, tmp_path):
    from pynwb.file import Subject
    subject = Subject(subject_id="net-1", species="Mus musculus", age="P90D", sex="M")
    path = write_nwb(small_run, tmp_path / "a.nwb", subject=subject)
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        assert io.read().subject.species == "Mus musculus"
    path = write_nwb(small_run, tmp_path / "b.nwb", subject=dict(subject_id="net-2"),
                     source_script="python make.py")
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        f = io.read()
        assert (f.subject.subject_id, f.subject.species) == ("net-2", SPECIES)
        assert (f.source_script, f.source_script_file_name) == ("python make.py",
                                                                "python")
    with pytest.raises(InvalidTypeError, match="subject"):
        write_nwb(small_run, tmp_path / "c.nwb", subject="mouse")


@pytest.mark.runtime
def test_result_neo_trains_span_the_trial_and_elephant_keeps_every_spike(small_run):
    pytest.importorskip("neo")
    elephant = pytest.importorskip("elephant")
    import quantities as pq
    from elephant.conversion import BinnedSpikeTrain
    block = stats.result_to_neo(small_run)
    assert len(block.segments) == small_run.n_patches
    duration = small_run.n_windows * small_run.window_s
    for p, segment in enumerate(block.segments):
        trains = segment.spiketrains
        assert all(float(st.t_stop) == pytest.approx(duration) for st in trains)
        binned = BinnedSpikeTrain(trains, bin_size=small_run.window_s * pq.s)
        counts = binned.to_array()                       # (neuron, window)
        assert counts.sum() == small_run.counts[p].sum()
        assert np.array_equal(counts.T, small_run.counts[p])
    assert elephant is not None


def test_to_neo_needs_the_trials_end():
    pytest.importorskip("neo")
    with pytest.raises(InvalidValueError, match="t_stop"):
        stats.to_neo([0, 1], [0.1, 0.2])
    trains = stats.to_neo([0, 1], [0.1, 0.2], t_stop=1.0)
    assert [float(st.t_stop) for st in trains] == [1.0, 1.0]


@pytest.mark.runtime
def test_result_to_neo_refuses_windows_with_gaps(small_run):
    pytest.importorskip("neo")
    from ipvae_snn.network import SpikingIPVAE
    gaps = SpikingIPVAE(small_run.params, device="runtime").run(
        small_run.x, 12, seed=0, record_windows=[1, 4, 8], warn=False)
    with pytest.raises(InvalidValueError, match="not consecutive"):
        stats.result_to_neo(gaps)
