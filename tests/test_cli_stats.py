"""``ipvae-snn stats``: the network-vs-cortex table on the command line."""

import json
import re

import numpy as np
import pytest

from ipvae_snn import stats
from ipvae_snn.cli import main
from ipvae_snn.network import SpikingIPVAE

# 65 windows: the same compiled network as the examples' --quick runs.
SMALL = ("stats", "--n-patches", "4", "--trials", "3", "--windows", "65", "--quiet")
#: Skips where cpp_standalone has no C++ compiler (the fixture is in conftest.py).
needs_compiler = pytest.mark.usefixtures("cxx_compiler")


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def cache_env(monkeypatch, snn_cache):
    monkeypatch.setenv("IPVAE_SNN_CACHE", snn_cache)
    return snn_cache


@pytest.mark.standalone
@needs_compiler
def test_stats_json_equals_the_library_on_the_same_inputs(capsys, tmp_path, params,
                                                          cache_env):
    fig = tmp_path / "cortex.png"
    rc, out, err = _run(capsys, *SMALL, "--json", "--figure", str(fig))
    assert rc == 0, err
    doc = json.loads(out)                          # the whole of stdout
    assert (doc["n_patches"], doc["trials"], doc["n_windows"]) == (4, 3, 65)
    assert doc["realization"] == "window"
    assert doc["n_gratings"] == len(stats.TUNING_ORIENTATIONS) * 8
    # The command computes what the library computes from the same patches
    # and seed (the network's draws are seeded).
    from ipvae_snn.data import natural_patches
    x = natural_patches(n_patches=4, seed=0)
    exp = stats.cortex_experiment(SpikingIPVAE(params).run, x, n_trials=3,
                                  n_windows=65, seed=0)
    for key in ("fano_factor", "noise_correlation", "isi_cv", "median_rate_hz",
                "circular_variance", "orientation_bandwidth_deg",
                "orientation_bandwidth_raw_deg"):
        assert doc["values"][key] == pytest.approx(exp.values[key], rel=1e-9), key
    measures = list(stats.load_cortex_reference()["measures"])
    assert [r["measure"] for r in doc["rows"]] == measures
    for r in doc["rows"]:
        if r["inside"] is not None:
            assert r["inside"] == (r["low"] <= r["network"] <= r["high"])
    bw = {r["measure"]: r for r in doc["rows"]}["orientation_bandwidth_deg"]
    assert "smoothed" in bw["label"] and "Ringach" in bw["note"]
    assert bw["raw"] == pytest.approx(doc["values"]["orientation_bandwidth_raw_deg"])
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.standalone
@needs_compiler
def test_stats_table_lists_every_measure_with_its_range(capsys, cache_env):
    rc, out, err = _run(capsys, *SMALL)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("ipvae-snn stats: model bundled natural (K=512), "
                               "window realization on cpp_standalone; 4 patches")
    for m in stats.load_cortex_reference()["measures"].values():
        assert any(line.startswith(m["label"]) for line in lines), m["label"]
    bw = next(line for line in lines if line.startswith("orientation bandwidth"))
    match = re.search(r"smoothed\*\s+([\d.]+) \(raw ([\d.]+)\)", bw)
    assert match, bw
    value, raw = float(match.group(1)), float(match.group(2))
    assert 0 < raw <= 90 and 0 < value <= 90
    assert any(line.startswith("* ") and "Hanning" in line for line in lines)


@pytest.mark.standalone
@needs_compiler
def test_stats_takes_a_patch_file(capsys, tmp_path, cache_env):
    from ipvae_snn.data import natural_patches
    path = tmp_path / "p.npy"
    np.save(path, natural_patches(n_patches=6, seed=3).reshape(6, 16, 16))
    rc, out, err = _run(capsys, "stats", "--patches", str(path), "--n-patches", "3",
                        "--trials", "2", "--windows", "65", "--quiet", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["n_patches"] == 3 and doc["patches"] == str(path)
    assert doc["values"]["n_stimuli"] == 3 and doc["values"]["n_trials"] == 2


@pytest.mark.parametrize("argv, message", [
    (("--windows", "20"), "--windows must be at least 33"),
    (("--trials", "1"), "--trials must be at least 2"),
    (("--windows", "40", "--count-windows", "30"), "--count-windows (30) must not"),
    (("--images", "nonexistent"), "image 'nonexistent' is not available"),
    (("--patches", "missing.npy"), "missing.npy"),
    (("--figure", "table.xyz"), "unknown format '.xyz'"),
])
def test_stats_bad_input_is_one_line_before_any_simulation(capsys, argv, message):
    rc, out, err = _run(capsys, "stats", "--quiet", *argv)
    assert rc == 2
    assert err.startswith("ipvae-snn: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and out == ""


def test_stats_is_a_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["stats", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--images", "--patches", "--n-patches", "--trials", "--windows",
                 "--device", "--realization", "--json", "--figure"):
        assert flag in out


def test_bandwidth_row_reports_ringach_smoothing_and_the_raw_value():
    # A von Mises tuning curve in 2θ has a closed-form half-width at level L:
    # cos(2w) = 1 + ln(L)/κ.
    kappa, level = 3.0, stats.RINGACH_LEVEL
    ori = np.arange(36) * 5.0
    pref = np.array([20.0, 95.0, 150.0])
    resp = np.exp(kappa * (np.cos(np.deg2rad(2 * (ori[:, None] - pref))) - 1))
    exact = np.rad2deg(np.arccos(1 + np.log(level) / kappa)) / 2
    tuning = stats.orientation_tuning(resp, ori, smoothing=stats.RINGACH_SMOOTHING)
    summary = stats.orientation_summary(tuning)
    assert summary["orientation_bandwidth_raw_deg"] == pytest.approx(exact, abs=0.3)
    # Smoothing a peaked curve can only broaden it.
    assert summary["orientation_bandwidth_deg"] > summary["orientation_bandwidth_raw_deg"] + 1
    assert summary["orientation_smoothing_deg"] == stats.RINGACH_SMOOTHING
    rows = {r["measure"]: r for r in stats.cortex_table(summary)}
    bw = rows["orientation_bandwidth_deg"]
    assert bw["network"] == pytest.approx(summary["orientation_bandwidth_deg"])
    assert bw["raw"] == pytest.approx(exact, abs=0.3)
    assert bw["label"].endswith("smoothed*") and "13.5°" in bw["note"]
    text = stats.format_cortex_table(list(rows.values()))
    assert f"{bw['network']:.3g} (raw {bw['raw']:.3g})" in text
    assert "\n* " + bw["note"] in text
    # Without smoothing the row is the plain measure, nothing added.
    plain = stats.orientation_summary(stats.orientation_tuning(resp, ori))
    row = {r["measure"]: r for r in stats.cortex_table(plain)}["orientation_bandwidth_deg"]
    assert row["raw"] is None and row["note"] is None and "smoothed" not in row["label"]
    assert row["network"] == pytest.approx(exact, abs=0.3)
