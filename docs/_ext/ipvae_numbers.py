"""
The numbers the documentation pages quote, made by runs during the build.

`compute` returns ``{name: text}``; ``docs/_ext/ipvae_docs.py`` hands them to
MyST as substitutions, so a page writes ``{{ default_r2_t64 }}`` where it
quotes the default model's mean R² at window 64, and the build puts in what
this build's run gave. Nothing here is copied from an earlier run:

- the bundled models' constants (neurons, pixels, step size, clamps) are read
  from the model files;
- the read-out numbers come from the numpy reference algorithm
  (`ipvae_snn.infer`, equal step for step to the network's window
  realization) on the demo's inputs, `N_PATCHES` held-out patches
  (`ipvae_snn.data.natural_patches`, seed 0), for `N_WINDOWS` windows, seed 0;
- the digits model's read-out of the test split of scikit-learn's digits
  (`ipvae_snn.data.digit_split`), with the same reference run;
- the numpy reference's run of ``examples/natural_images.py`` (its 64
  patches, seed 0, the same call the example makes), for the page that shows
  that example's figures;
- the training record of the default model from the provenance its file
  carries (the command that made it recorded those when it ran);
- a stimulus sequence with either kind of blank against separate runs, with
  the reference (docs/brian2-embedding.md's table).

The results are cached in ``docs/_build/numbers.json`` under a key of the
package version, the models' fingerprints and this file's text, so an
unchanged rebuild does not rerun them. ``python docs/_ext/ipvae_numbers.py``
prints them.
"""

import hashlib
import json
import os
import sys

import numpy as np

__all__ = ["compute", "N_PATCHES", "N_WINDOWS"]

#: Inputs of the documented run: the demo's held-out patches.
N_PATCHES = 500
#: Windows of the documented run (windows 0 … 1000: T = 1000 updates).
N_WINDOWS = 1001

_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "_build", "numbers.json")


def _fmt(value, digits=3):
    return f"{value:.{digits}f}"


def _thousands(value):
    return f"{int(round(value)):,}"


def _readout(params, x):
    import ipvae_snn
    result = ipvae_snn.infer(params, x, n_windows=N_WINDOWS, seed=0,
                             record_counts=False, progress=False, warn=False)
    rows = {row["T"]: row for row in result.summary(windows=(1, 4, 16, 64, 256, 1000))}
    return rows, result


def _run():
    import ipvae_snn
    from ipvae_snn.data import natural_patches

    x = natural_patches(n_patches=N_PATCHES, seed=0)
    numbers = {"docs_n_patches": _thousands(N_PATCHES),
               "docs_t_max": _thousands(N_WINDOWS - 1)}
    for name in ("default", "official"):
        params = (ipvae_snn.default_params() if name == "default"
                  else ipvae_snn.load_model("official"))
        rows, result = _readout(params, x)
        for t in (1, 4, 16, 64, 256, 1000):
            numbers[f"{name}_r2_t{t}"] = _fmt(rows[t]["r2"])
            numbers[f"{name}_zeros_t{t}"] = _fmt(rows[t]["zero_fraction"])
            numbers[f"{name}_count_t{t}"] = _fmt(rows[t]["mean_count"], 2)
        numbers[f"{name}_count_t0"] = _fmt(float(np.mean(result.mean_count[:, 0])), 2)
        numbers[f"{name}_runaway_patches"] = str(int(np.sum(
            np.any(result.runaway_onset >= 0, axis=-1))))
        numbers[f"{name}_lr"] = _fmt(float(np.mean(params.lr)), 2)
        numbers[f"{name}_k"] = str(params.n_latents)
    params = ipvae_snn.default_params()
    # examples/natural_images.py's batch (64 patches, seed 0, 1,001 windows):
    # the reference run it draws beside the network, as the example makes it
    ex = ipvae_snn.infer(params, natural_patches(n_patches=64, seed=0), N_WINDOWS,
                         seed=0, record_counts=False, progress=False, warn=False)
    ex_rows = {row["T"]: row for row in ex.summary(windows=(1, 4, 16, 64, 1000))}
    for t, row in ex_rows.items():
        numbers[f"natural_example_r2_t{t}"] = _fmt(row["r2"])
        numbers[f"natural_example_r2_t{t}_rounded"] = _fmt(row["r2"], 2)
        numbers[f"natural_example_zeros_t{t}"] = _fmt(row["zero_fraction"], 2)
        numbers[f"natural_example_active_t{t}"] = f"{100 * (1 - row['zero_fraction']):.0f} %"
        numbers[f"natural_example_count_t{t}"] = _fmt(row["mean_count"], 1)
    # the digits model on the test split of scikit-learn's digits
    from ipvae_snn.data import digit_split
    x_train, x_test, _, _ = digit_split()
    numbers["digits_n_all"] = _thousands(len(x_train) + len(x_test))
    numbers["digits_n_train"] = _thousands(len(x_train))
    numbers["digits_n_test"] = _thousands(len(x_test))
    rows, _ = _readout(ipvae_snn.load_model("digits"), x_test)
    for t in (16, 1000):
        numbers[f"digits_r2_t{t}"] = _fmt(rows[t]["r2"])
        numbers[f"digits_zeros_pct_t{t}"] = f"{100 * rows[t]['zero_fraction']:.1f}"
    side = int(round(np.sqrt(params.n_pixels)))
    numbers["patch_side"] = str(side)
    numbers["n_pixels"] = str(params.n_pixels)
    numbers["clamp_u"] = f"{float(params.clamp_u):g}"
    numbers["clamp_min"] = f"{float(params.clamp_min):g}"
    numbers["clamp_u_count"] = _thousands(round(float(np.exp(params.clamp_u)), -3))
    from ipvae_snn.contrast import DEFAULT_SEMI_SATURATION
    numbers["contrast_semi_saturation"] = f"{DEFAULT_SEMI_SATURATION:g}"
    numbers["contrast_max_gain"] = f"{1 / DEFAULT_SEMI_SATURATION:.1f}"
    from ipvae_snn.network.program import DEFAULT_LOCK_TIMEOUT_S
    numbers["lock_timeout_s"] = f"{DEFAULT_LOCK_TIMEOUT_S:g}"
    # rates: counts per window over the default window length
    from ipvae_snn.defaults import DEFAULT_WINDOW_S
    numbers["window_ms"] = f"{DEFAULT_WINDOW_S * 1000:g}"
    numbers["window_hz"] = f"{1 / DEFAULT_WINDOW_S:g}"
    counts = [float(numbers[f"default_count_t{t}"]) for t in (0, 16, 1000)]
    numbers["default_rate_t0"] = f"{counts[0] / DEFAULT_WINDOW_S:.1f}"
    numbers["default_rate_t1000"] = f"{counts[2] / DEFAULT_WINDOW_S:.1f}"
    prov = json.loads(str(params.metadata["provenance"]))
    numbers["train_patches"] = _thousands(prov["training_patches"])
    numbers["train_batches"] = _thousands(prov["n_batches"])
    numbers["train_seconds"] = _thousands(prov["training_seconds"])
    numbers["train_minutes"] = _thousands(prov["training_seconds"] / 60)
    numbers["train_operating_point_c"] = f"{prov['operating_point'][0]:g}"
    numbers["train_operating_point_m"] = f"{prov['operating_point'][1]:g}"
    numbers["train_prior_cap"] = f"{prov['prior_cap']:g}"
    numbers["train_spike_cost"] = f"{prov['hyper_parameters']['spike_cost']:g}"
    numbers["train_epochs"] = str(prov["hyper_parameters"]["max_iter"])
    numbers["train_batch_size"] = str(prov["hyper_parameters"]["batch_size"])
    numbers["train_learning_rate"] = f"{prov['hyper_parameters']['learning_rate']:g}"
    numbers["train_init_scale"] = f"{prov['hyper_parameters']['init_scale']:g}"
    digits = json.loads(str(ipvae_snn.load_model("digits").metadata["provenance"]))
    numbers["digits_train_spike_cost"] = f"{digits['hyper_parameters']['spike_cost']:g}"
    numbers["digits_train_epochs"] = str(digits["hyper_parameters"]["max_iter"])
    numbers["digits_train_batches"] = _thousands(digits["n_batches"])
    numbers["digits_train_seconds"] = _thousands(digits["training_seconds"])
    numbers.update(_sequences(params))
    return numbers


def _sequences(params):
    """docs/brian2-embedding.md's blank table: a sequence with either blank
    against separate runs from the prior (the reference, seed 0)."""
    from ipvae_snn.data import natural_patches
    from ipvae_snn.reference import infer_sequence
    from ipvae_snn.sequences import StimulusSequence
    import ipvae_snn
    stimuli = natural_patches(n_patches=192, seed=5).reshape(64, 3, -1)
    rows = {}
    for blank in ("prior", "zero"):
        result = infer_sequence(params, StimulusSequence(stimuli, 65, 16, blank=blank),
                                seed=0)
        rows[blank] = {t: [row["r2"] for row in result.stimulus_metrics(t)]
                       for t in (16, 64)}
    separate = [ipvae_snn.infer(params, stimuli[:, s], 65, seed=0, record_counts=False,
                                progress=False, warn=False).r2 for s in range(3)]
    rows["separate"] = {t: [float(np.nanmean(r2[:, t])) for r2 in separate]
                        for t in (16, 64)}
    labels = {"prior": '`"prior"` (default)', "zero": '`"zero"`',
              "separate": "separate runs from the prior"}
    lines = ["| blank | T = 16 | T = 64 |", "|---|---|---|"]
    for name, by_t in rows.items():
        lines.append(f"| {labels[name]} | " + " | ".join(
            ", ".join(_fmt(v) for v in by_t[t]) for t in (16, 64)) + " |")
    return {"sequence_blank_table": "\n".join(lines)}


def _key():
    import ipvae_snn
    h = hashlib.sha256()
    with open(os.path.abspath(__file__), "rb") as f:
        h.update(f.read())
    h.update(ipvae_snn.__version__.encode())
    for name in ("natural", "official", "digits"):
        h.update(str(ipvae_snn.load_model(name).fingerprint).encode())
    return h.hexdigest()


def compute(cache=_CACHE):
    """
    The numbers, ``{name: text}``: from the cache when its key matches,
    otherwise from new runs (a few tens of seconds), then cached.
    """
    key = _key()
    try:
        with open(cache, encoding="utf-8") as f:
            stored = json.load(f)
        if stored.get("key") == key:
            return stored["numbers"]
    except (OSError, ValueError):
        pass
    numbers = _run()
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "w", encoding="utf-8") as f:
        json.dump({"key": key, "numbers": numbers}, f, indent=1, sort_keys=True)
    return numbers


if __name__ == "__main__":
    for name, value in sorted(compute(cache=sys.argv[1] if len(sys.argv) > 1
                                      else _CACHE).items()):
        print(f"{name} = {value}")
