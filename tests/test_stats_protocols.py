"""The protocols (contrast, noise correlation, natural scenes, time scale) and
their ``ipvae-snn stats --protocol`` options.

The protocols' plumbing is checked with stand-in models whose statistics have
closed forms (the stand-in takes the place of the reference algorithm or the
network as the ``run`` callable); the reference algorithm runs them once,
small, for the direction of the contrast effect.
"""

import json
import types
from importlib import resources

import numpy as np
import pytest

import ipvae_snn
from ipvae_snn import stats
from ipvae_snn.cli import main
from ipvae_snn.validation import InputError


class _Result:
    """The parts of an InferenceResult that the protocols read."""

    def __init__(self, x, counts, windows):
        self.x, self.counts = np.asarray(x), np.asarray(counts)
        self.windows = np.asarray(windows)
        self.n_patches = len(x)
        self.info = {"window_s": 0.1}


def _stand_in(make_counts):
    """``run(patches, n_windows, seed, record_windows)`` from a counts maker
    (rng, patches, n_windows recorded) -> (n_patches, windows, neurons)."""
    def run(patches, n_windows, seed=None, record_windows=None):
        windows = np.arange(n_windows) if record_windows is None else \
            np.asarray(record_windows)
        rng = np.random.default_rng(seed)
        return _Result(patches, make_counts(rng, np.asarray(patches), windows.size),
                       windows)
    return run


def test_contrast_protocol_on_poisson_neurons_with_rate_proportional_to_contrast():
    # rate 4*c*g_k counts per window (c = the patch's RMS contrast, g_k of mean
    # 1 spread over neurons so that the contrasts share mean counts), independent
    # Poisson: Fano 1, r_sc 0, mean rate 40*c spikes/s at 0.1 s windows
    g = np.linspace(0.25, 1.75, 12)

    def counts(rng, x, w):
        c = x.std(axis=1)
        return rng.poisson(4.0 * c[:, None, None] * g, size=(len(x), w, g.size))
    p = stats.contrast_protocol(None, _stand_in(counts), contrasts=(0.25, 0.5, 1.0),
                                n_stimuli=4, n_trials=40, n_windows=66)
    np.testing.assert_allclose(p.mean_rate_hz, [10.0, 20.0, 40.0], rtol=0.05)
    np.testing.assert_allclose(p.fano, 1.0, atol=0.1)
    np.testing.assert_allclose(p.fano_matched, 1.0, atol=0.1)
    np.testing.assert_allclose(p.noise_correlation, 0.0, atol=0.02)
    doc = json.loads(json.dumps(p.to_dict()))
    assert doc["contrasts"] == [0.25, 0.5, 1.0] and doc["settings"]["n_trials"] == 40


def test_noise_correlation_protocol_recovers_a_shared_input():
    # every neuron: Poisson(2) + a shared Poisson(1) per trial and window, plus a
    # deterministic stimulus offset common to all (r_signal = 1 for every pair):
    # r_sc = var(shared) / var(count) = 1 / (2 + 1) over any number of windows
    n_trials = 200

    def counts(rng, x, w):
        stim = np.arange(len(x)) // n_trials
        shared = rng.poisson(1.0, size=(len(x), w, 1))
        return rng.poisson(2.0, size=(len(x), w, 5)) + shared + stim[:, None, None]
    params = types.SimpleNamespace(phi=np.random.default_rng(0).normal(size=(16, 5)))
    patches = np.random.default_rng(1).normal(size=(4, 16))
    p = stats.noise_correlation_protocol(params, _stand_in(counts), patches=patches,
                                         n_stimuli=4, n_trials=n_trials, n_windows=36)
    assert p.mean_r_sc == pytest.approx(1 / 3, abs=0.03)
    b = p.pairs.by_signal
    assert b.count[-1] == 10 and b.mean[-1] == pytest.approx(1 / 3, abs=0.03)
    assert p.pairs.by_overlap.count.sum() == 10
    assert json.loads(json.dumps(p.to_dict()))["n_pairs"] == 10


def test_natural_scenes_protocol_on_one_neuron_per_image():
    # image i drives neuron i only, with the same time course on every trial:
    # lifetime sparseness 1, image selectivity 1 - 2/n, reliability 1
    n_images, n_trials, course = 4, 5, np.array([0, 3, 1, 2, 2, 1])

    def counts(rng, x, w):
        out = np.zeros((len(x), w, n_images))
        out[np.arange(len(x)), :, np.arange(len(x)) // n_trials] = course[:w]
        return out
    patches = np.random.default_rng(1).normal(size=(n_images, 16))
    p = stats.natural_scenes_protocol(None, _stand_in(counts), patches=patches,
                                      n_images=n_images, n_trials=n_trials, n_windows=6)
    np.testing.assert_allclose(p.metrics.lifetime_sparseness, 1.0)
    np.testing.assert_allclose(p.metrics.image_selectivity, 1 - 2 / n_images)
    np.testing.assert_allclose(p.metrics.reliability, 1.0)
    assert p.metrics.preferred_image.tolist() == list(range(n_images))
    assert p.summary["n_responsive"] == n_images


def test_protocol_stimuli_have_the_asked_contrast():
    for kind in ("gratings", "natural"):
        x = stats.protocol_stimuli(kind, n_stimuli=3, contrast=0.5)
        np.testing.assert_allclose(x.std(axis=1), 0.5)
        np.testing.assert_allclose(x.mean(axis=1), 0.0, atol=1e-12)
    with pytest.raises(InputError):
        stats.protocol_stimuli("noise")
    with pytest.raises(InputError):
        stats.contrast_protocol(None, _stand_in(None), contrasts=(1.0,))


def test_contrast_raises_the_reference_models_rate():
    p = stats.contrast_protocol(ipvae_snn.default_params(), contrasts=(0.125, 0.5, 1.0),
                                n_stimuli=4, n_trials=4, n_windows=36)
    assert np.all(np.diff(p.mean_rate_hz) > 0)


def test_literature_values_and_confirmed_flags_are_readable():
    ref = stats.load_protocol_reference()
    for key in ("fano_onset_drop", "noise_correlation_by_signal"):
        assert key in ref and "confirmed" in ref[key] and ref[key]["sources"]
    data = json.loads(resources.files("ipvae_snn").joinpath("cortex_v1.json").read_text(
        encoding="utf-8"))
    known = {**data["references"], **data["protocol_references"]}
    for m in ref.values():
        for s in m["sources"]:
            assert s["reference"] in known
    flags = stats.confirmed_ranges()
    assert set(flags) == set(stats.load_cortex_reference()["measures"])
    # a range marked confirmed says where it was seen
    for key, m in data["measures"].items():
        assert m["confirmed_note"]
        if flags[key]:
            assert m["confirmed_where"] and m["confirmed_url"].startswith("http")


def _cli(capsys, *argv):
    rc = main(["stats", "--quiet", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_timescale_json(capsys):
    rc, out, err = _cli(capsys, "--protocol", "timescale", "--n-patches", "3",
                        "--trials", "2", "--windows", "33", "--window-lengths",
                        "10,100", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    r10, r100 = doc["values"]["rows"]
    assert r10["median_rate_hz"] == pytest.approx(10 * r100["median_rate_hz"])
    assert r10["log10_rate_sd"] == pytest.approx(r100["log10_rate_sd"])
    assert doc["values"]["documented_window_s"] == stats.DOCUMENTED_WINDOW_S


def test_cli_allen_and_contrast(capsys, tmp_path):
    fig = tmp_path / "allen.png"
    rc, out, err = _cli(capsys, "--protocol", "allen", "--n-patches", "3", "--trials", "3",
                        "--presentation-windows", "4", "--json", "--figure", str(fig))
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["values"]["settings"]["n_images"] == 3
    assert 0 <= doc["values"]["lifetime_sparseness"] <= 1
    assert fig.read_bytes()[:4] == b"\x89PNG"
    rc, out, err = _cli(capsys, "--protocol", "contrast", "--contrasts", "0.25,1",
                        "--n-patches", "3", "--trials", "3", "--windows", "33")
    assert rc == 0, err
    assert "contrast" in out and len(out.strip().splitlines()) == 4


@pytest.mark.parametrize("argv", [("--protocol", "contrast", "--contrasts", "1"),
                                  ("--protocol", "contrast", "--contrasts", "a,b"),
                                  ("--protocol", "allen", "--from-nwb", "x.nwb"),
                                  ("--protocol", "timescale", "--windows", "20"),
                                  ("--protocol", "allen", "--presentation-windows", "0")])
def test_cli_protocol_errors_are_one_line(capsys, argv):
    try:
        rc = main(["stats", *argv])
    except SystemExit as exc:                  # argparse's own errors
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and any(o in err[-1] for o in ("--contrasts", "--from-nwb", "--windows",
                                               "--presentation-windows")), err


@pytest.mark.standalone
@pytest.mark.usefixtures("cxx_compiler")
def test_cli_protocol_on_the_network(capsys, monkeypatch, snn_cache):
    # --engine network runs the spiking network (its draws seeded): the command
    # gives what the library gives with SpikingIPVAE(params).run on the same input
    from ipvae_snn.data import natural_patches
    from ipvae_snn.network import SpikingIPVAE
    monkeypatch.setenv("IPVAE_SNN_CACHE", snn_cache)
    rc, out, err = _cli(capsys, "--protocol", "allen", "--engine", "network",
                        "--n-patches", "3", "--trials", "3", "--presentation-windows", "4",
                        "--json")
    assert rc == 0, err
    doc = json.loads(out)
    params = ipvae_snn.default_params()
    lib = stats.natural_scenes_protocol(
        params, SpikingIPVAE(params).run, patches=natural_patches(n_patches=3, seed=0),
        n_images=3, n_trials=3, n_windows=4)
    assert doc["engine"] == "network"
    for key in ("lifetime_sparseness", "reliability", "image_selectivity"):
        assert doc["values"][key] == pytest.approx(lib.summary[key], nan_ok=True), key


def test_protocol_figures(tmp_path):
    import matplotlib.pyplot as plt

    from ipvae_snn import plotting
    rng = np.random.default_rng(0)

    def counts(rng, x, w):
        return rng.poisson(2.0 * x.std(axis=1)[:, None, None], size=(len(x), w, 4))
    run = _stand_in(counts)
    params = types.SimpleNamespace(phi=rng.normal(size=(256, 4)))
    c = stats.contrast_protocol(None, run, contrasts=(0.5, 1.0), n_stimuli=3, n_trials=5,
                                n_windows=36)
    n = stats.noise_correlation_protocol(params, run, stimulus="gratings", n_stimuli=3,
                                         n_trials=5, n_windows=36)
    a = stats.natural_scenes_protocol(None, run, patches=rng.normal(size=(3, 256)),
                                      n_images=3, n_trials=4, n_windows=3)
    rows = stats.rates_by_window(np.ones((3, 4)), [0.01, 0.1])
    f = stats.mean_matched_fano(rng.poisson(2.0, size=(10, 4, 8)))
    for name, fig in (("c", plotting.plot_contrast_protocol(c, path=tmp_path / "c.png")),
                      ("n", plotting.plot_noise_correlation_protocol(
                          n, path=tmp_path / "n.png")),
                      ("a", plotting.plot_natural_scenes_protocol(a, path=tmp_path / "a.png")),
                      ("t", plotting.plot_rates_by_window(rows, documented=0.02,
                                                          path=tmp_path / "t.png")),
                      ("f", plotting.plot_mean_matched_fano(f, onset=1,
                                                            path=tmp_path / "f.png"))):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert len(fig.axes) == {"c": 3, "n": 2, "a": 3, "t": 1, "f": 2}[name]
        plt.close(fig)
