"""The onset protocol: mean-matched Fano factor and rate around stimulus onset."""

import json

import numpy as np
import pytest

import ipvae_snn
from ipvae_snn.sequences import SequenceResult
from ipvae_snn.stats import onset_protocol
from ipvae_snn.validation import InputError


@pytest.fixture(scope="module")
def params():
    return ipvae_snn.default_params()


def _poisson_run(params, rate_blank, rate_stim, fano_stim=1.0):
    """A stand-in ``run_sequence``: independent counts with known rates per
    window (Poisson in blanks; gamma-Poisson of Fano factor ``fano_stim`` while
    a stimulus is shown), so the protocol's read-out has a closed form."""
    def run(sequence, seed=None):
        rng = np.random.default_rng(seed)
        shape = (sequence.n_trials, sequence.n_windows, params.n_latents)
        lam = np.where(sequence.stimulus_on[None, :, None], rate_stim, rate_blank)
        lam = np.broadcast_to(lam, shape)
        if fano_stim > 1.0:
            # gamma-Poisson: Var = λ + λ²/k = λ F  ->  k = λ / (F - 1), per window
            k = rate_stim / (fano_stim - 1.0)
            g = rng.gamma(k, 1.0 / k, size=shape)
            lam = np.where(sequence.stimulus_on[None, :, None], lam * g, lam)
        return SequenceResult(params, sequence, rng.poisson(lam), window_s=0.02)
    return run


def test_onset_protocol_reads_closed_form_rates_and_fano_factors(params):
    # counts of 3 windows: mean 3λ; Poisson blank (Fano 1). In the stimulus each
    # window's count is gamma-Poisson with Fano 1.5, independent across windows,
    # so the 3-window count keeps Fano 1.5. The same mean in blank and stimulus
    # (λ = 1), so matching keeps every point.
    run = _poisson_run(params, 1.0, 1.0, fano_stim=1.5)
    p = onset_protocol(params, run, n_stimuli=2, n_trials=200, stimulus_windows=10,
                       blank_windows=10, before=6, count_windows=3, bin_width=2.0)
    assert p.times_s.tolist() == pytest.approx([0.02 * (d + 1) for d in range(-6, 10)])
    np.testing.assert_allclose(p.rate_hz, 1.0 / 0.02, rtol=0.03)
    assert p.fano_before == pytest.approx(1.0, abs=0.05)
    assert p.fano_after == pytest.approx(1.5, abs=0.08)
    assert p.change == pytest.approx(p.fano_after - p.fano_before)
    json.dumps(p.to_dict())


def test_onset_rate_rise_is_read_from_the_counts(params):
    run = _poisson_run(params, 0.2, 1.0)
    p = onset_protocol(params, run, n_stimuli=2, n_trials=50, stimulus_windows=8,
                       blank_windows=8, before=4, count_windows=2)
    np.testing.assert_allclose(p.rate_hz[p.times_s <= 0], 0.2 / 0.02, rtol=0.1)
    np.testing.assert_allclose(p.rate_hz[p.times_s >= 0.04], 1.0 / 0.02, rtol=0.05)


def test_onset_protocol_on_the_reference_with_and_without_gain(params):
    off = onset_protocol(params, n_stimuli=4, n_trials=30, stimulus_windows=20,
                         blank_windows=20, before=10)
    on = onset_protocol(params, n_stimuli=4, n_trials=30, stimulus_windows=20,
                        blank_windows=20, before=10, gain_noise=0.4)
    # before onset the beliefs sit at the prior: Poisson counts, Fano 1; the gain
    # adds λσ² (λ of a 3-window count at the prior ≈ 1.8)
    assert off.fano_before == pytest.approx(1.0, abs=0.05)
    assert on.fano_all_before > off.fano_all_before + 0.15
    assert on.settings["gain_noise"] == 0.4 and off.settings["gain_noise"] == 0.0
    assert off.rate_hz[-1] > 1.5 * off.rate_hz[0]


def test_onset_protocol_refuses_a_before_longer_than_the_blank(params):
    with pytest.raises(InputError, match="before"):
        onset_protocol(params, n_stimuli=1, n_trials=2, stimulus_windows=4,
                       blank_windows=4, before=10)


def test_cli_onset_reports_the_default_beside_the_variant(capsys, tmp_path):
    from ipvae_snn.cli import main
    fig = tmp_path / "onset.png"
    rc = main(["stats", "--protocol", "onset", "--gain-noise", "0.4", "--trials", "6",
               "--n-patches", "2", "--window-ms", "20", "--json", "--figure", str(fig)])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and fig.stat().st_size > 0
    runs = out["values"]["runs"]
    assert [r["gain_noise"] for r in runs] == [0.0, 0.4]
    assert runs[0]["settings"]["window_s"] == 0.02
    assert all(r["change"] == pytest.approx(r["fano_after"] - r["fano_before"])
               for r in runs)


def test_cli_refuses_a_negative_gain_noise(capsys):
    from ipvae_snn.cli import main
    with pytest.raises(SystemExit) as exc:
        main(["infer", "--gain-noise", "-1"])
    assert exc.value.code == 2 and "gain-noise" in capsys.readouterr().err


@pytest.mark.standalone
@pytest.mark.slow
def test_onset_protocol_on_the_network_agrees_with_the_reference(params):
    from ipvae_snn.network import SpikingIPVAE
    kw = dict(n_stimuli=4, n_trials=40, stimulus_windows=20, blank_windows=20, before=10)
    ref = onset_protocol(params, gain_noise=0.4, **kw)
    net = onset_protocol(params, SpikingIPVAE(params, gain_noise=0.4).run_sequence, **kw)
    print(f"reference {ref.fano_all_before:.3f} -> {ref.fano_all_after:.3f}, network "
          f"{net.fano_all_before:.3f} -> {net.fano_all_after:.3f}")
    assert net.settings["gain_noise"] == 0.4
    for a, b in ((ref.fano_all_before, net.fano_all_before),
                 (ref.fano_all_after, net.fano_all_after)):
        assert a > 1.1 and abs(b - a) < 0.1 * a
    np.testing.assert_allclose(net.rate_hz, ref.rate_hz, rtol=0.1)
