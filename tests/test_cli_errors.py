"""
Mistakes on the command line and in the API end in one line naming the
option (or argument) and the problem, before any work, with the user's files
untouched; standard output that closes or fills up gives no traceback.
"""

import hashlib
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import ipvae_snn
from ipvae_snn.cli import main
from ipvae_snn.validation import InputError

CLI = [sys.executable, "-m", "ipvae_snn.cli"]
INFER = ["infer", "--n-patches", "5", "--steps", "4", "--quiet"]
# a fit of a few seconds
FIT = ["fit", "--n-patches", "200", "--epochs", "1", "--batch-size", "100",
       "--n-components", "8", "--eval-patches", "0", "--no-figure", "--quiet"]


def _cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(rc, err, *needles):
    assert rc == 2, err
    assert err.startswith("ipvae-snn: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, (needle, err)


def _hashes(folder):
    return {name: hashlib.sha1(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder))
            if os.path.isfile(os.path.join(folder, name))}


@pytest.fixture
def trained(tmp_path, capsys, monkeypatch):
    """A folder with a model and the checkpoint of its fit."""
    monkeypatch.chdir(tmp_path)
    rc, out, err = _cli(capsys, *FIT, "--out", "model.npz", "--checkpoint", "ck.npz")
    assert rc == 0, err
    return tmp_path


# ------------------------------------------------------- fit: checks first
@pytest.mark.parametrize("out, needle", [
    ("folder", "it is a folder"),
    ("afile/model.npz", "is a file, not a folder"),
])
def test_fit_checks_out_before_training(tmp_path, capsys, monkeypatch, out, needle):
    monkeypatch.chdir(tmp_path)
    os.mkdir("folder")
    open("afile", "w").close()
    from ipvae_snn.learning import SpikingDictionaryLearner

    def no_fit(*args, **kwargs):
        raise AssertionError("trained before checking --out")
    monkeypatch.setattr(SpikingDictionaryLearner, "fit", no_fit)
    rc, out_text, err = _cli(capsys, *FIT, "--out", out)
    _one_line_error(rc, err, f"--out '{out}'", needle)


def test_fit_checks_the_operating_point_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    rc, out, err = _cli(capsys, *FIT, "--out", "m.npz", "--operating-point", "1e300,1")
    _one_line_error(rc, err, "--operating-point 1e300,1")
    assert time.perf_counter() - start < 30 and os.listdir(tmp_path) == []


def test_fit_refuses_to_overwrite_a_model_or_an_earlier_checkpoint(trained, capsys):
    before = _hashes(trained)
    rc, out, err = _cli(capsys, *FIT, "--out", "new.npz", "--checkpoint", "model.npz")
    _one_line_error(rc, err, "--checkpoint 'model.npz'", "not a fit checkpoint",
                    "another path")
    rc, out, err = _cli(capsys, *FIT, "--out", "new.npz", "--checkpoint", "ck.npz")
    _one_line_error(rc, err, "--checkpoint 'ck.npz'", "--resume")
    assert _hashes(trained) == before


def test_the_learner_api_refuses_to_overwrite_a_file_that_is_no_checkpoint(trained):
    from ipvae_snn.learning import SpikingDictionaryLearner
    from ipvae_snn.validation import InvalidValueError
    before = _hashes(trained)
    x = ipvae_snn.data.natural_patches(n_patches=20, seed=0)
    learner = SpikingDictionaryLearner(n_components=8, max_iter=1, batch_size=10,
                                       checkpoint=str(trained / "model.npz"))
    with pytest.raises(InvalidValueError, match="model.npz' exists and is not a fit "
                                                "checkpoint") as info:
        learner.fit(x)
    assert "\n" not in str(info.value)
    assert _hashes(trained) == before              # the model is untouched
    # a new fit replaces an earlier fit's checkpoint, as the API restarts a fit
    SpikingDictionaryLearner(n_components=8, max_iter=1, batch_size=10,
                             checkpoint=str(trained / "ck.npz")).fit(x)
    from ipvae_snn.learning.checkpoint import is_checkpoint
    assert is_checkpoint(trained / "ck.npz")


def test_fit_names_its_options_when_a_batch_would_record_too_much(tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    rc, out, err = _cli(capsys, *FIT, "--t-train", "100000", "--n-components", "512",
                        "--out", "m.npz")
    _one_line_error(rc, err, "--t-train 100000", "--batch-size 100", "GiB")
    assert "record_windows" not in err and "max_record_bytes" not in err
    assert time.perf_counter() - start < 30 and os.listdir(tmp_path) == []


def test_a_resumed_fit_names_the_options_that_differ(trained, capsys):
    before = _hashes(trained)
    args = [a if a != "1" else "2" for a in FIT]                  # --epochs 2
    rc, out, err = _cli(capsys, *args, "--out", "new.npz", "--checkpoint", "ck.npz",
                        "--resume")
    _one_line_error(rc, err, "--epochs: 1 -> 2")
    assert "max_iter" not in err
    assert _hashes(trained) == before


def test_an_interrupted_fit_says_no_checkpoint_was_written(tmp_path, capsys,
                                                           monkeypatch):
    from ipvae_snn._signals import Terminated
    from ipvae_snn.learning import SpikingDictionaryLearner
    monkeypatch.chdir(tmp_path)

    def terminated(*args, **kwargs):
        raise Terminated()
    monkeypatch.setattr(SpikingDictionaryLearner, "fit", terminated)
    rc, out, err = _cli(capsys, *FIT, "--out", "m.npz", "--checkpoint", "ck.npz")
    assert rc == 143
    assert "no checkpoint was written yet" in err and "--resume" not in err
    assert not os.path.exists("ck.npz")


def test_fit_accepts_a_bundled_model_as_init(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = _cli(capsys, *[a for a in FIT if a not in ("--n-components", "8")],
                        "--init", "official", "--out", "m.npz")
    assert rc == 0, err
    assert ipvae_snn.load_model("m.npz").n_latents == 512
    rc, out, err = _cli(capsys, *FIT, "--init", "offical", "--out", "m2.npz")
    _one_line_error(rc, err, "--init", "did you mean 'official'")


# -------------------------------------------------------- inputs, messages
def test_messages_name_the_kind_of_a_wrong_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open("p.npy", "w") as f:
        f.write("0.1 0.2 0.3\n")
    with open("run.nwb", "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n" + bytes(100))
    rc, out, err = _cli(capsys, "infer", "--patches", "p.npy", "--steps", "2")
    _one_line_error(rc, err, "'p.npy'", "text file")
    rc, out, err = _cli(capsys, "infer", "--model", "run.nwb", "--n-patches", "2",
                        "--steps", "2")
    _one_line_error(rc, err, "'run.nwb'", "HDF5")
    for text in (err,):
        assert "pickled" not in text
    rc, out, err = _cli(capsys, "infer", "--model", "naturl", "--n-patches", "2")
    _one_line_error(rc, err, "did you mean 'natural'")
    from ipvae_snn.validation import check_file
    with pytest.raises(InputError, match="^NWB file 'x.nwb' does not exist$"):
        check_file("x.nwb", "NWB file")


def test_help_mentions_jobs_only_where_it_exists(capsys):
    for command in ("infer", "fit", "stats", "simulate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        has = "--jobs JOBS" in out or "--jobs N" in out
        assert ("--jobs" in out) == has, command


@pytest.mark.parametrize("shape, ok", [((3, 16, 16), True), ((3, 256), True),
                                       ((3, 8, 32), False), ((3, 32, 8), False)])
def test_patches_must_have_the_models_shape(tmp_path, capsys, monkeypatch, shape, ok):
    monkeypatch.chdir(tmp_path)
    np.save("p.npy", np.random.default_rng(0).standard_normal(shape))
    rc, out, err = _cli(capsys, "infer", "--patches", "p.npy", "--steps", "2")
    if ok:
        assert rc == 0, err
    else:
        _one_line_error(rc, err, "'p.npy'", str(shape))
        fit = [a for a in FIT if a not in ("--n-patches", "200")]
        rc, out, err = _cli(capsys, *fit, "--patches", "p.npy", "--out", "m.npz")
        _one_line_error(rc, err, "'p.npy'", "square")


# ------------------------------------------------------------- the API
@pytest.fixture(scope="module")
def params():
    return ipvae_snn.load_model("official")


@pytest.mark.parametrize("kwargs, needle", [
    (dict(params=None), "params must be an IPVAEParams"),
    (dict(params={}), "params must be an IPVAEParams"),
    (dict(params="natural"), "load_model"),
    (dict(seed=-1), "seed must be"),
    (dict(seed="a"), "seed must be"),
    (dict(seed=1.5), "seed must be"),
    (dict(record_windows="all"), "record_windows must be"),
])
def test_infer_misuse_is_an_input_error(params, kwargs, needle):
    args = dict(params=params, x=np.zeros((2, 256)), n_windows=3)
    args.update(kwargs)
    with pytest.raises(InputError, match=needle):
        ipvae_snn.infer(**args)


@pytest.mark.parametrize("model", [None, {}, 123, ""])
def test_load_model_misuse_is_an_input_error(model):
    with pytest.raises(InputError, match="model must be an IPVAEParams"):
        ipvae_snn.load_model(model)


def test_from_arrays_needs_a_mapping():
    with pytest.raises(InputError, match="must be a mapping"):
        ipvae_snn.IPVAEParams.from_arrays(None)


def test_network_run_checks_its_seed(params):
    from ipvae_snn.network import SpikingIPVAE
    net = SpikingIPVAE(params, device="runtime")
    with pytest.raises(InputError, match="seed must be"):
        net.run(np.zeros((1, 256)), 2, seed=-1)


# -------------------------------------------------------- standard output
def _infer_process(**kwargs):
    return subprocess.Popen(CLI + INFER, stderr=subprocess.PIPE, text=True, **kwargs)


def test_a_reader_that_goes_away_ends_the_command_quietly():
    proc = _infer_process(stdout=subprocess.PIPE)
    proc.stdout.close()                             # `| head -0`: nobody reads
    err = proc.stderr.read()
    assert proc.wait(60) == 141 and err == ""


def test_a_full_or_closed_stdout_is_one_line():
    with open("/dev/full", "w") as full:
        proc = _infer_process(stdout=full)
        err = proc.stderr.read()
    assert proc.wait(60) == 2
    assert err == "ipvae-snn: error: cannot write to standard output: No space left on " \
                  "device\n"
    proc = _infer_process(stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
    err = proc.stderr.read()
    assert proc.wait(60) == 2
    assert err.startswith("ipvae-snn: error: standard output is closed") \
        and err.count("\n") == 1
