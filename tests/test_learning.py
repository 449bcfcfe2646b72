"""
`SpikingDictionaryLearner`: the learning rules against their closed forms, a
warm start that keeps held-out R², exact resume, scikit-learn conformance and bad
input.

The update rules are checked on one batch against an independent
computation from the counts the fit saw (captured by wrapping the backend):
the Olshausen–Field gradient of the Gaussian NLL for Φ, the mean squared
residual for σ², the mean count for the prior rate, the homeostatic step of b.
"""

import os
import sys

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from ipvae_snn import IPVAEParams, infer, metrics
from ipvae_snn.learning import CHECKPOINT_FORMAT, SpikingDictionaryLearner

# A small, fast configuration for behaviour that does not need the full model.
SMALL = dict(n_components=24, t_train=4, transform_window=4, batch_size=50,
             max_iter=2, random_state=3)


@pytest.fixture(scope="module")
def rng_patches():
    """Whitened-looking random patches (no reference data needed)."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((300, 64))


def _capture(monkeypatch, learner):
    """Record every InferenceResult the learner's backend returns."""
    seen = []
    original = SpikingDictionaryLearner._infer

    def spy(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(SpikingDictionaryLearner, "_infer", spy)
    return seen


# ------------------------------------------------------------ update rules
def test_one_batch_updates_match_closed_forms(rng_patches, monkeypatch):
    x = rng_patches[:80]
    lr, target, eta = 1e-3, 0.05, 0.1
    learner = SpikingDictionaryLearner(
        n_components=16, t_train=5, batch_size=80, max_iter=1, learning_rate=lr,
        optimizer="sgd", lr_schedule="constant", norm_control=None,
        learn_sigma=True, learn_prior=True, running_decay=0.0, target_rate=target,
        homeostasis="neuron", homeostasis_rate=eta, prior_cap=None, random_state=1)
    seen = _capture(monkeypatch, learner)
    learner.fit(x)
    (result,) = seen
    p0, p1 = result.params, learner.params_
    assert result.windows.tolist() == [1, 2, 3, 4, 5]
    assert not np.any(result.runaway_onset >= 0)
    order = result.x                       # the batch, in the fit's order
    z = result.counts.astype(np.float64)   # [B, T, K]
    resid = order[:, None, :] - z @ p0.phi.T
    # Φ: one SGD step on the Gaussian NLL averaged over patches and windows,
    # -dNLL/dΦ = < Σ⁻¹ (x - Φz) zᵀ >.
    grad = np.einsum("btm,btk->mk", resid * p0.precision, z) / (z.shape[0] * z.shape[1])
    np.testing.assert_allclose(p1.phi, p0.phi + lr * grad, rtol=1e-5, atol=1e-9)
    # σ² = mean squared residual per pixel.
    np.testing.assert_allclose(p1.sigma ** 2, (resid ** 2).mean(axis=(0, 1)),
                               rtol=1e-5)
    # Prior rate = mean posterior rate, estimated by the mean count.
    mean_count = z.mean(axis=(0, 1))
    np.testing.assert_allclose(p1.u_init, np.clip(np.log(mean_count), p0.clamp_min,
                                                  p0.clamp_u - 1.0), rtol=1e-6)
    # Homeostasis: log b moves by eta * clipped relative rate error of the
    # last read-out window.
    last = z[:, -1].mean(axis=0)
    rel = np.clip((last - target) / target, -1, 1)
    np.testing.assert_allclose(p1.bias, p0.bias * np.exp(eta * rel), rtol=1e-12)
    assert learner.n_batches_ == 1 and learner.n_iter_ == 1


@pytest.mark.slow
def test_norm_control(rng_patches):
    common = dict(SMALL, max_iter=1, learning_rate=0.05, random_state=0)
    clip = SpikingDictionaryLearner(norm_control="clip", max_norm=0.31, **common)
    fixed = SpikingDictionaryLearner(norm_control="fixed", max_norm=0.2, **common)
    norms = np.linalg.norm(clip.fit(rng_patches).params_.phi, axis=0)
    assert norms.max() <= 0.31 + 1e-12
    norms = np.linalg.norm(fixed.fit(rng_patches).params_.phi, axis=0)
    np.testing.assert_allclose(norms, 0.2, rtol=1e-12)


@pytest.mark.slow
def test_learning_rate_schedule(rng_patches):
    learner = SpikingDictionaryLearner(**SMALL).fit(rng_patches)
    lrs = learner.history_["learning_rate"]
    assert lrs[0] == pytest.approx(learner.learning_rate)
    assert np.all(np.diff(lrs) < 0)
    assert lrs[-1] == pytest.approx(0.02 * learner.learning_rate, rel=1e-9)
    const = SpikingDictionaryLearner(lr_schedule="constant", **SMALL).fit(rng_patches)
    assert np.all(const.history_["learning_rate"] == const.learning_rate)


# ----------------------------------------------------------- warm start
@pytest.mark.slow
def test_warm_start_keeps_held_out_r2(reference_params, shared_patches):
    """Fitting from the reference dictionary does not lower held-out R² at T = 16."""
    held_out = shared_patches["shared"]

    def r2_at_16(params):
        result = infer(params, held_out, 17, seed=11, record_windows=[16], warn=False)
        return float(np.nanmean(result.r2[:, 16]))

    before = r2_at_16(reference_params)
    learner = SpikingDictionaryLearner(init=reference_params, max_iter=1,
                                       batch_size=250, random_state=0)
    learner.fit(shared_patches["train_sample"])
    assert learner.n_batches_ == 20
    after = r2_at_16(learner.params_)
    assert after >= before - 0.01, (before, after)


@pytest.mark.slow
def test_resume_after_interrupt_equals_uninterrupted_fit(rng_patches, tmp_path):
    hyper = dict(SMALL, checkpoint_every=3, learn_sigma=True, target_rate=0.1)
    full = SpikingDictionaryLearner(checkpoint=str(tmp_path / "full.npz"), **hyper)
    full.fit(rng_patches)
    assert full.n_batches_ == 12

    class Killed(Exception):
        pass

    def kill_after_7(learner, info):
        if info["n_batches"] == 7:          # after the checkpoints at 3 and 6
            raise Killed

    path = str(tmp_path / "run.npz")
    first = SpikingDictionaryLearner(checkpoint=path, callback=kill_after_7, **hyper)
    with pytest.raises(Killed):
        first.fit(rng_patches)
    with np.load(path) as ckpt:
        assert str(ckpt["format"]) == CHECKPOINT_FORMAT
        assert int(ckpt["n_done"]) == 6
    resumed = SpikingDictionaryLearner(checkpoint=path, **hyper)
    resumed.fit(rng_patches, resume=True)
    assert resumed.n_batches_ == 12 and resumed.n_iter_ == 2
    for name in ("phi", "sigma", "bias", "lr", "u_init"):
        assert np.array_equal(getattr(resumed.params_, name),
                              getattr(full.params_, name)), name
    for key, values in full.history_.items():
        np.testing.assert_array_equal(resumed.history_[key], values, err_msg=key)
    np.testing.assert_array_equal(resumed.transform(rng_patches[:20]),
                                  full.transform(rng_patches[:20]))
    leftovers = [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]
    assert leftovers == []


@pytest.mark.slow
def test_callback_can_stop_and_resume_continues(rng_patches, tmp_path):
    path = str(tmp_path / "ckpt.npz")
    full = SpikingDictionaryLearner(**SMALL).fit(rng_patches)
    stopped = SpikingDictionaryLearner(checkpoint=path, checkpoint_every=100,
                                       callback=lambda learner, i: i["n_batches"] == 5,
                                       **SMALL).fit(rng_patches)
    assert stopped.n_batches_ == 5          # the final checkpoint holds batch 5
    resumed = SpikingDictionaryLearner(checkpoint=path, **SMALL)
    resumed.fit(rng_patches, resume=path)
    assert resumed.params_ == full.params_


def test_resume_true_without_checkpoint_file_is_an_error(rng_patches, tmp_path):
    """A mistyped checkpoint path never silently starts a fit from scratch."""
    path = str(tmp_path / "typo.npz")
    with pytest.raises(FileNotFoundError, match="typo.npz' does not exist"):
        SpikingDictionaryLearner(checkpoint=path, **SMALL).fit(rng_patches, resume=True)
    assert not os.path.exists(path)


# ------------------------------------------------------------- bad resume
@pytest.fixture(scope="module")
def small_checkpoint(rng_patches, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ckpt") / "ckpt.npz")
    SpikingDictionaryLearner(checkpoint=path, **SMALL).fit(rng_patches)
    return path


def test_resume_from_another_model_size(rng_patches, small_checkpoint):
    other = SpikingDictionaryLearner(**dict(SMALL, n_components=32))
    with pytest.raises(ValueError, match="another size"):
        other.fit(rng_patches, resume=small_checkpoint)
    with pytest.raises(ValueError, match="another size"):
        SpikingDictionaryLearner(**SMALL).fit(rng_patches[:, :49],
                                              resume=small_checkpoint)


def test_resume_with_other_hyper_parameters(rng_patches, small_checkpoint):
    other = SpikingDictionaryLearner(**dict(SMALL, learning_rate=0.01))
    with pytest.raises(ValueError, match="learning_rate"):
        other.fit(rng_patches, resume=small_checkpoint)


def test_resume_on_other_data(rng_patches, small_checkpoint):
    with pytest.raises(ValueError, match="other data"):
        SpikingDictionaryLearner(**SMALL).fit(rng_patches[::-1],
                                              resume=small_checkpoint)


def test_resume_from_bad_files(rng_patches, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SpikingDictionaryLearner(**SMALL).fit(rng_patches,
                                              resume=str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="checkpoint parameter"):
        SpikingDictionaryLearner(**SMALL).fit(rng_patches, resume=True)
    model = tmp_path / "model.npz"
    IPVAEParams.random(64, 24, random_state=0).save(model)
    with pytest.raises(ValueError, match="not a fit checkpoint"):
        SpikingDictionaryLearner(**SMALL).fit(rng_patches, resume=str(model))


# -------------------------------------------------------------- transform
@pytest.mark.slow
def test_transform_counts_rates_score(rng_patches):
    learner = SpikingDictionaryLearner(**SMALL).fit(rng_patches)
    x = rng_patches[:40]
    counts = learner.transform(x, seed=5)
    assert counts.dtype == np.int32 and counts.shape == (40, 24)
    # The counts are those of window T of the reference algorithm.
    truth = infer(learner.params_, x, 5, seed=5, record_windows=[4], block_size=128,
                  warn=False)
    np.testing.assert_array_equal(counts, truth.counts_at(4))
    # score = mean R² of inverse_transform(transform(X)), design note §5.
    recon = learner.inverse_transform(learner.transform(x))
    np.testing.assert_allclose(recon, learner.transform(x) @ learner.params_.phi.T)
    assert learner.score(x) == pytest.approx(np.nanmean(metrics.r2_score(x, recon)),
                                             abs=1e-5)
    # Rates: exp(u) of window T, the potential the counts were drawn from.
    learner.set_params(transform_output="rates")
    rates = learner.transform(x, seed=5)
    np.testing.assert_allclose(np.log(rates), truth_u(learner.params_, x), rtol=1e-5,
                               atol=1e-5)


def truth_u(params, x):
    result = infer(params, x, 5, seed=5, record_windows=[4], record_u=True,
                   block_size=128, warn=False)
    return result.u[:, 0]


@pytest.mark.standalone
def test_network_backend_learns_from_brian2_spikes_without_recompiling(
        rng_patches, monkeypatch, tmp_path):
    from ipvae_snn import network
    monkeypatch.setenv("IPVAE_SNN_CACHE", str(tmp_path))
    builds = []
    compile_ = network.CppStandaloneBackend.compile
    monkeypatch.setattr(network.CppStandaloneBackend, "compile",
                        lambda self, spec, *a, **k: builds.append(spec.key())
                        or compile_(self, spec, *a, **k))
    seen = _capture(monkeypatch, SpikingDictionaryLearner)
    learner = SpikingDictionaryLearner(backend="network", device="cpp_standalone",
                                       prior_cap=None, **SMALL).fit(rng_patches)
    # every batch ran through the compiled Brian2 network, with new weights
    # each time, and the network was compiled once for all of them (no
    # calibration at the end: prior_cap=None)
    assert learner.n_batches_ == 12 and len(seen) == 12
    assert all(r.info["realization"] == "window" and r.info["device"] == "cpp_standalone"
               for r in seen)
    assert len(builds) == 1
    assert learner.params_.phi.shape == (64, 24)
    assert np.isfinite(learner.params_.phi).all()
    assert learner.score(rng_patches[:50]) > seen[0].r2[:, 4].mean()


def test_network_backend_reports_missing_module(rng_patches, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipvae_snn.network", None)
    learner = SpikingDictionaryLearner(backend="network", **SMALL)
    with pytest.raises(ImportError, match="backend='network'"):
        learner.fit(rng_patches)


# -------------------------------------------------------------- bad input
def test_bad_input(rng_patches):
    learner = SpikingDictionaryLearner(**SMALL)
    bad = rng_patches.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        learner.fit(bad)
    with pytest.raises(ValueError, match="0 sample"):
        learner.fit(np.empty((0, 64)))
    learner.fit(rng_patches)
    with pytest.raises(ValueError, match="64 features"):
        learner.transform(rng_patches[:, :60])
    with pytest.raises(ValueError, match="NaN"):
        learner.score(bad)
    with pytest.raises(ValueError, match=r"expected shape \(n_samples, 24\)"):
        learner.inverse_transform(np.ones((3, 5)))


def test_bad_init_and_hyper_parameters(rng_patches, params):
    with pytest.raises(ValueError, match="expects 256 pixels"):
        SpikingDictionaryLearner(init="default", **dict(SMALL, n_components=512)
                                 ).fit(rng_patches)
    with pytest.raises(ValueError, match="n_components=24"):
        SpikingDictionaryLearner(init=params, **SMALL).fit(
            np.zeros((10, 256)) + np.arange(256))
    with pytest.raises(ValueError, match="batch_size"):
        SpikingDictionaryLearner(**dict(SMALL, batch_size=0)).fit(rng_patches)
    with pytest.raises(ValueError, match="optimizer"):
        SpikingDictionaryLearner(**dict(SMALL, optimizer="lbfgs")).fit(rng_patches)
    with pytest.raises(ValueError, match="init"):
        SpikingDictionaryLearner(**dict(SMALL, init=3.0)).fit(rng_patches)


# ------------------------------------------------------------ scikit-learn
def _expected_failures(estimator):
    reason = ("transform draws Poisson spike counts; the patches of a block share "
              "one random stream, so a patch's counts depend on the other patches "
              "in the call (equal in distribution, not element-wise)")
    return {"check_methods_subset_invariance": reason,
            "check_methods_sample_order_invariance": reason}


@pytest.mark.slow
@parametrize_with_checks(
    [SpikingDictionaryLearner(n_components=8, t_train=4, transform_window=4,
                              batch_size=16, max_iter=2, random_state=0)],
    expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ---------------------------------------------------------------- command line
@pytest.mark.slow
def test_cli_fit_writes_model_and_figure(tmp_path, capsys):
    import json

    from ipvae_snn.cli import main
    out = tmp_path / "model.npz"
    argv = ["fit", "--out", str(out), "--n-patches", "300", "--epochs", "1",
            "--batch-size", "100", "--n-components", "32", "--t-train", "4",
            "--target-rate", "0.2", "--eval-patches", "40", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["n_batches"] == 3 and doc["n_latents"] == 32
    assert doc["held_out"]["n_patches"] == 40 and doc["held_out"]["T"] == 4
    params = IPVAEParams.load(out)
    assert params.phi.shape == (256, 32)
    with open(doc["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert doc["figure"] == str(tmp_path / "model_dictionary.png")


def test_cli_fit_user_patches_and_errors(tmp_path, rng_patches, capsys):
    from ipvae_snn.cli import main
    np.save(tmp_path / "p.npy", rng_patches)
    out = tmp_path / "m.npz"
    assert main(["fit", "--out", str(out), "--patches", str(tmp_path / "p.npy"),
                 "--n-components", "16", "--epochs", "1", "--t-train", "3",
                 "--no-figure", "--quiet"]) == 0
    assert IPVAEParams.load(out).phi.shape == (64, 16)
    assert "held-out" not in capsys.readouterr().out
    assert main(["fit", "--out", str(out), "--resume"]) == 2
    assert "--resume needs --checkpoint" in capsys.readouterr().err
    bad = rng_patches.copy()
    bad[0, 0] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    assert main(["fit", "--out", str(out), "--patches", str(tmp_path / "bad.npy")]) == 2
    assert "non-finite" in capsys.readouterr().err


def test_cli_fit_digits_records_its_provenance(tmp_path, capsys):
    import json
    import shlex

    from ipvae_snn.cli import main
    out = tmp_path / "digits.npz"
    argv = ["fit", "--digits", "--out", str(out), "--epochs", "1", "--n-components",
            "32", "--t-train", "4", "--spike-cost", "0.05", "--augment",
            "--operating-point", "0.7,1.1", "--prior-cap", "none", "--no-figure",
            "--json", "--seed", "3"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["n_patches"] == 1437 and doc["held_out"]["n_patches"] == 360
    params = IPVAEParams.load(out)
    meta = json.loads(str(params.metadata["provenance"]))
    assert shlex.split(meta["command"]) == ["ipvae-snn", *argv]
    assert meta["seed"] == 3 and meta["operating_point"] == [0.7, 1.1]
    assert meta["prior_cap"] is None and meta["training_patches"] == 1437
    assert meta["hyper_parameters"]["spike_cost"] == 0.05
    assert meta["package_version"] == __import__("ipvae_snn").__version__


@pytest.mark.parametrize("option, value", [("--operating-point", "0.5"),
                                           ("--operating-point", "a,b"),
                                           ("--prior-cap", "low")])
def test_cli_fit_rejects_bad_calibration_options(tmp_path, capsys, option, value):
    from ipvae_snn.cli import main
    out = tmp_path / "m.npz"
    assert main(["fit", "--out", str(out), "--n-patches", "64", option, value]) == 2
    assert option in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("extra", [["--calibration-images", "camera"],
                                   ["--calibration-images", ","],
                                   ["--digits", "--calibration-images", "chelsea"]])
def test_cli_fit_calibration_images_must_be_held_out(tmp_path, capsys, extra):
    from ipvae_snn.cli import main
    out = tmp_path / "m.npz"
    argv = ["fit", "--out", str(out), "--n-patches", "64", *extra]
    if "--digits" in extra:
        argv.remove("--n-patches"), argv.remove("64")
    assert main(argv) == 2
    assert "--calibration-images" in capsys.readouterr().err
    assert not out.exists()


def test_kl_step_gradient_matches_finite_differences():
    """The one-step KL term's gradient (beta > 0) against central differences."""
    from ipvae_snn.learning.updates import kl_step_gradient as _kl_step_gradient
    from ipvae_snn.reference import fond_clamp
    rng = np.random.default_rng(2)
    # A small clamp_du puts some updates on the curved part of the soft clamp.
    params = IPVAEParams.random(16, 6, random_state=0).replace(
        sigma=rng.uniform(0.8, 1.2, 16), lr=0.7, clamp_du=1.5)
    x = rng.standard_normal((5, 16))
    z = rng.poisson(1.0, (5, 6)).astype(np.float64)
    u = rng.normal(0.0, 1.0, (5, 6))

    def kl(phi):
        p = params.replace(phi=phi)
        d = p.lr * (((x - z @ phi.T) * p.precision) @ phi - p.bias)
        d = fond_clamp(d, p.clamp_du, p)
        # True Poisson KL(q_{t+1} || q_t), rates exp(u) -> exp(u + d).
        return np.sum(np.exp(u) * (1 + np.exp(d) * (d - 1))) / x.shape[0]

    err = ((x - z @ params.phi.T) * params.precision).astype(np.float32)
    value, grad = _kl_step_gradient(params, u, z.astype(np.float32), err)
    assert value == pytest.approx(kl(params.phi), rel=1e-5)
    numeric = np.zeros_like(params.phi)
    h = 1e-6
    for i in range(16):
        for j in range(6):
            up, down = params.phi.copy(), params.phi.copy()
            up[i, j] += h
            down[i, j] -= h
            numeric[i, j] = (kl(up) - kl(down)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-5 * np.abs(numeric).max())


# ------------------------------------------------------------ calibrations
def test_changing_the_spike_size_keeps_the_amplitude_dynamics(official_params):
    """
    Φ → cΦ, b → cb, lr → lr/c, u → u - log c: with the counts in units of the
    new spike (z/c), the FOND update moves u by exactly the same amount, and
    the rates reconstruct the same patch. (Exactly, but for the upper soft
    clamps' e^(v - c) term, which the test makes negligible with c = 20.)
    """
    from ipvae_snn.learning.updates import change_spike_size
    from ipvae_snn.reference import fond_update
    p = official_params.replace(clamp_u=20.0, clamp_du=20.0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, p.n_pixels))
    u = rng.uniform(-3, 1, (5, p.n_latents))
    z = rng.poisson(np.exp(u)).astype(np.float64)
    for c in (0.5, 0.7):
        q = change_spike_size(p, c)
        np.testing.assert_allclose(fond_update(q, u - np.log(c), z / c, x),
                                   fond_update(p, u, z, x) - np.log(c), atol=1e-7)
        np.testing.assert_allclose(np.exp(u - np.log(c)) @ q.phi.T, np.exp(u) @ p.phi.T,
                                   rtol=1e-9)
        np.testing.assert_allclose(q.u_init, p.u_init - np.log(c))
    q = change_spike_size(p, 0.5, 1.3)
    np.testing.assert_allclose(q.bias, p.bias * 0.5 * 1.3)


def test_robust_mean_floors_each_patch_at_minus_one():
    from ipvae_snn.learning.updates import robust_mean_r2
    assert robust_mean_r2([0.5, -1e6, np.nan]) == pytest.approx(-0.25)
    assert robust_mean_r2([np.nan]) == -1.0


def test_auto_calibrations_pick_the_best_candidate(rng_patches):
    learner = SpikingDictionaryLearner(
        **dict(SMALL, max_iter=1), operating_point="auto", calibration_window=8,
        prior_cap="auto").fit(rng_patches)
    points = learner.calibration_["operating_point"]
    from ipvae_snn.learning.updates import COST_SCALES, SPIKE_SCALES
    assert len(points) == len(SPIKE_SCALES) * len(COST_SCALES)
    best = min(points, key=lambda row: row[2])
    assert learner.operating_point_ == best[:2]
    caps = learner.calibration_["prior_cap"]
    assert learner.prior_cap_ == max(caps, key=lambda row: row[1])[0]
    # the fitted model is the training state moved to that point, then capped
    from ipvae_snn.learning.updates import change_spike_size
    plain = SpikingDictionaryLearner(**dict(SMALL, max_iter=1), prior_cap=None)
    moved = change_spike_size(plain.fit(rng_patches).params_, *best[:2])
    np.testing.assert_allclose(learner.params_.phi, moved.phi)
    u = moved.u_init if learner.prior_cap_ is None else np.minimum(moved.u_init,
                                                                   learner.prior_cap_)
    np.testing.assert_allclose(learner.params_.u_init, u)


def test_prior_calibration_keeps_only_caps_whose_r2_does_not_fall(official_params):
    """A stub inference whose R² curves are known: the uncapped prior peaks at
    window 64 and falls, a cap of -0.5 keeps rising; -0.5 wins although the
    uncapped prior scores better at the read-out window."""
    from types import SimpleNamespace

    from ipvae_snn.learning.updates import SETTLED_WINDOW, calibrate_prior
    curves = {None: (0.80, 0.85, 0.84), 0.0: (0.78, 0.84, 0.835), -0.5: (0.70, 0.83, 0.84)}

    def infer_fn(params, x, n_windows):
        top = float(params.u_init.max())
        cap = None if top == 0.4 else top
        r2 = np.zeros((x.shape[0], max(n_windows, SETTLED_WINDOW + 1)))
        at16, settled, late = curves[cap]
        r2[:, n_windows - 1], r2[:, SETTLED_WINDOW], r2[:, 16] = late, settled, at16
        return SimpleNamespace(r2=r2)
    params = official_params.replace(u_init=np.full(512, 0.4))
    x = np.zeros((4, 256))
    capped, table, cap = calibrate_prior(params, x, 16, infer_fn, caps=list(curves),
                                         late=256)
    assert cap == -0.5 and capped.u_init.max() == -0.5
    assert [row[0] for row in table] == list(curves)
    # no settling test (late window before the transient's end): best R² at 16
    _, _, cap = calibrate_prior(params, x, 16, infer_fn, caps=list(curves), late=None)
    assert cap is None
    # none settled: the one that falls least
    curves[-0.5] = (0.70, 0.85, 0.849)
    _, _, cap = calibrate_prior(params, x, 16, infer_fn, caps=list(curves), late=256)
    assert cap == -0.5


def test_operating_point_calibration_weighs_both_read_outs(official_params):
    """A stub inference with known scores: the smaller spikes reconstruct
    better from the counts, the larger ones from the rates (exactly); the
    mean of the two read-outs' distances picks the larger spikes, which the
    spike read-out alone would not."""
    from types import SimpleNamespace

    from ipvae_snn.learning.updates import calibrate_operating_point, change_spike_size
    from ipvae_snn.ratedistortion import distance
    rates = np.random.default_rng(1).uniform(0.1, 2.0, (6, 512))
    x = (rates + official_params.rate_eps) @ change_spike_size(official_params, 2.0).phi.T
    spike_r2 = {1.0: 0.9, 2.0: 0.8}

    def infer_fn(params, x, n_windows):
        scale = round(float(params.phi[0, 0] / official_params.phi[0, 0]), 6)
        r2 = np.zeros((x.shape[0], n_windows))
        r2[:, -1] = spike_r2[scale]
        zeros = np.full((x.shape[0], n_windows), 0.8)
        u = np.log(rates) if scale == 2.0 else np.full_like(rates, -30.0)   # A: silent rates
        result = SimpleNamespace(r2=r2, zero_fraction=zeros, x=x,
                                 runaway_onset=np.full(rates.shape, -1))
        return result, u
    moved, table, point = calibrate_operating_point(official_params, x, 4, infer_fn,
                                                    scales=(1.0, 2.0), cost_scales=(1.0,))
    assert point == (2.0, 1.0)
    np.testing.assert_allclose(moved.phi, 2 * official_params.phi)
    (_, _, d_a, spike_a, rate_a), (_, _, d_b, spike_b, rate_b) = table
    assert spike_a == pytest.approx(distance(0.9, 0.8)) and spike_a < spike_b
    assert spike_b == pytest.approx(distance(0.8, 0.8))
    assert rate_b == pytest.approx(distance(1.0, 0.8)) and rate_a > 1.0  # R² ≤ 0 from silence
    assert d_b == pytest.approx((spike_b + rate_b) / 2) and d_b < d_a


def test_calibration_patches_replace_the_training_patches(rng_patches, monkeypatch):
    """With ``X_calibration`` the calibrations score those patches, never the
    training ones, and choose the point best on them."""
    held_out = np.random.default_rng(9).standard_normal((60, 64)) * 0.5
    learner = SpikingDictionaryLearner(
        **dict(SMALL, max_iter=1), operating_point="auto", calibration_window=8,
        prior_cap="auto")
    seen = _capture(monkeypatch, learner)
    learner.fit(rng_patches, X_calibration=held_out)
    n_training = -(-rng_patches.shape[0] // SMALL["batch_size"])
    calibration_runs = seen[n_training:]
    assert len(calibration_runs) == len(learner.calibration_["operating_point"]) + len(
        learner.calibration_["prior_cap"])
    for result in calibration_runs:
        np.testing.assert_array_equal(np.sort(result.x, axis=0), np.sort(held_out, axis=0))
    best = min(learner.calibration_["operating_point"], key=lambda row: row[2])
    assert learner.operating_point_ == best[:2]
    with pytest.raises(ValueError, match="features"):
        SpikingDictionaryLearner(**SMALL).fit(rng_patches, X_calibration=held_out[:, :16])


def test_a_fixed_operating_point_and_cap(rng_patches):
    learner = SpikingDictionaryLearner(**dict(SMALL, max_iter=1), operating_point=(0.5, 1.2),
                                       prior_cap=-2.0).fit(rng_patches)
    assert learner.operating_point_ == (0.5, 1.2) and learner.prior_cap_ == -2.0
    assert learner.params_.u_init.max() <= -2.0
    with pytest.raises(ValueError, match="operating_point"):
        SpikingDictionaryLearner(**SMALL, operating_point=(0.5,)).fit(rng_patches)
    with pytest.raises(ValueError, match="operating_point"):
        SpikingDictionaryLearner(**SMALL, operating_point=(0.5, -1)).fit(rng_patches)


def test_resume_ignores_the_calibration_settings(rng_patches, tmp_path):
    ckpt = str(tmp_path / "fit.npz")
    first = SpikingDictionaryLearner(**SMALL, checkpoint=ckpt, prior_cap=None).fit(
        rng_patches)
    again = SpikingDictionaryLearner(**SMALL, checkpoint=ckpt, prior_cap=-1.0,
                                     operating_point=(0.7, 1.0))
    again.fit(rng_patches, resume=True)
    assert again.n_batches_ == first.n_batches_
    assert again.fit_seconds_ == pytest.approx(first.fit_seconds_)
    np.testing.assert_allclose(again.params_.phi, 0.7 * first.params_.phi)
