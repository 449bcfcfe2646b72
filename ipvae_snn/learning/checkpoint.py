"""
Fit checkpoints of `SpikingDictionaryLearner`: the whole state of a fit after
n batches, written atomically, read back with every key and value checked.

The state is a plain dict (see `SpikingDictionaryLearner._initial_state`): the
parameters, the optimizer's moments, the running averages, the base seed, the
epoch and batch counters, the history, the result-relevant hyper-parameters
and a hash of the data. Because every random stream derives from (seed,
epoch, batch), a fit resumed from a checkpoint ends with exactly the
parameters of an uninterrupted one.
"""

import os
import hashlib
import json
import numbers

import numpy as np
from sklearn.utils import check_random_state

from ..io import atomic_savez
from ..params import IPVAEParams
from ..validation import InvalidValueError, MissingKeyError

__all__ = ["CHECKPOINT_FORMAT", "HISTORY_KEYS", "save_checkpoint", "load_checkpoint",
           "is_checkpoint", "check_new_checkpoint",
           "data_hash", "base_seed", "stream_seed", "STREAM_INIT", "STREAM_ORDER",
           "STREAM_BATCH", "STREAM_TRANSFORM", "STREAM_PRIOR"]

#: Tag stored in (and required of) fit checkpoints.
CHECKPOINT_FORMAT = "ipvae-snn-fit-checkpoint-v1"

#: Per-batch records of a fit (`SpikingDictionaryLearner.history_`).
HISTORY_KEYS = ("epoch", "nll", "kl", "r2", "r2_median", "zero_fraction",
                "mean_count", "learning_rate", "sigma_mean", "bias_mean", "n_runaway")

# Scalars and arrays of the state, as stored (name -> converter on load).
_SCALARS = {"seed": int, "epoch": int, "batch": int, "n_done": int, "opt_step": int,
            "grad_norm": float, "max_norm": float, "seconds": float}
_ARRAYS = ("opt_m", "opt_v", "sigma2", "rate")


def base_seed(random_state):
    """The base seed of a fit: ``random_state`` itself, or one drawn from it."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise InvalidValueError(f"random_state must be >= 0, got {random_state}")
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2 ** 31 - 1))


#: The random streams of a fit, each seeded by (base seed, stream, ...).
STREAM_INIT, STREAM_ORDER, STREAM_BATCH, STREAM_TRANSFORM, STREAM_PRIOR = range(5)


def stream_seed(seed, *keys):
    """
    An integer seed for the stream (seed, *keys), independent of the others:
    every random stream of a fit derives from (base seed, stream, epoch,
    batch), which makes a resumed fit exact.
    """
    ss = np.random.SeedSequence([int(seed), *map(int, keys)])
    return int(ss.generate_state(1, np.uint64)[0])


def data_hash(X):
    """SHA-1 of the training data (shape and bytes): a resumed fit needs the same X."""
    h = hashlib.sha1()
    h.update(str(X.shape).encode())
    h.update(np.ascontiguousarray(X).view(np.uint8))
    return h.hexdigest()


def save_checkpoint(path, state):
    """Write the fit ``state`` to ``path`` (``.npz``, atomically)."""
    arrays = {"format": np.array(CHECKPOINT_FORMAT),
              "hyper_json": np.array(json.dumps(state["hyper"], sort_keys=True,
                                                default=str)),
              "data_hash": np.array(state["data_hash"])}
    arrays.update({k: np.asarray(state[k]) for k in _SCALARS})
    arrays.update({k: state[k] for k in _ARRAYS})
    for k, v in state["params"].to_arrays().items():
        arrays["params__" + k] = v
    for k, v in state["history"].items():
        arrays["history__" + k] = np.asarray(v, dtype=np.float64)
    atomic_savez(path, **arrays)


def is_checkpoint(path):
    """
    Whether ``path`` is a readable file holding a fit checkpoint (its format
    tag), read without loading the arrays.

    Examples
    --------
    >>> from ipvae_snn.params import default_model_path
    >>> is_checkpoint(default_model_path()), is_checkpoint("missing.npz")
    (False, False)
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return "format" in data.files and str(data["format"]) == CHECKPOINT_FORMAT
    except Exception:  # not a file, not an .npz, damaged: not a checkpoint
        return False


def check_new_checkpoint(path, name="checkpoint"):
    """
    Refuse a new fit's checkpoint ``path`` where it would overwrite a file that
    is no fit checkpoint (a model, the data); an earlier fit's checkpoint is
    replaced, as a new fit restarts.

    Examples
    --------
    >>> from ipvae_snn.params import default_model_path
    >>> check_new_checkpoint(None), check_new_checkpoint("missing.npz")
    (None, None)
    >>> check_new_checkpoint(default_model_path())
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: checkpoint '...' exists and is not a fit ...
    """
    if path is not None and os.path.exists(path) and not is_checkpoint(path):
        raise InvalidValueError(f"{name} '{os.fspath(path)}' exists and is not a fit "
                                f"checkpoint; the fit would overwrite it: give another "
                                f"path (resume=True continues a fit from a checkpoint)")


def _read(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:
        raise InvalidValueError(f"checkpoint '{path}' is not a readable .npz file: "
                                f"{exc}") from exc


def load_checkpoint(path, X, hyper, n_components, names=None):
    """
    The fit state saved in ``path``, checked against this fit.

    ``names`` maps the learner's argument names (and ``"X"``) to how the
    caller's user knows them (the command line's options) for the messages;
    by default the messages name the arguments.

    Raises
    ------
    InvalidValueError
        When the file is no checkpoint, is damaged, or comes from a model of
        another size, other hyper-parameters or other data (each named).
    MissingKeyError
        Naming the first missing key.
    """
    names = dict(names or {})

    def named(key):
        return names.get(key, key)
    arrays = _read(path)
    if str(arrays.get("format", "")) != CHECKPOINT_FORMAT:
        raise InvalidValueError(f"'{path}' is not a fit checkpoint of "
                                f"SpikingDictionaryLearner (no '{CHECKPOINT_FORMAT}' tag)")
    needed = ("hyper_json", "data_hash", *_SCALARS, *_ARRAYS,
              *(f"history__{k}" for k in HISTORY_KEYS))
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise MissingKeyError(f"checkpoint '{path}' has no key {missing[0]!r}"
                              + (f" (nor {missing[1:]})" if len(missing) > 1 else "")
                              + "; it is damaged or from another version")
    params = IPVAEParams.from_arrays(
        {k[len("params__"):]: v for k, v in arrays.items() if k.startswith("params__")},
        source=f"checkpoint '{path}'")
    if params.n_pixels != X.shape[1] or params.n_latents != n_components:
        raise InvalidValueError(
            f"checkpoint '{path}' is from a model of another size: "
            f"{params.n_pixels} pixels x {params.n_latents} latents, but this fit "
            f"has {X.shape[1]} features and {named('n_components')}={n_components}")
    try:
        saved = json.loads(str(arrays["hyper_json"]))
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise InvalidValueError(f"checkpoint '{path}': its key 'hyper_json' is not the "
                                f"JSON of the hyper-parameters ({exc})") from None
    current = json.loads(json.dumps(hyper, sort_keys=True, default=str))
    diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if diff:
        detail = ", ".join(f"{named(k)}: {saved.get(k)!r} -> {current.get(k)!r}"
                           for k in diff)
        raise InvalidValueError(f"checkpoint '{path}' was written by a fit with other "
                                f"hyper-parameters ({detail}); a resumed fit must use the "
                                f"same ones")
    if str(arrays["data_hash"]) != data_hash(X):
        data = named("X")
        raise InvalidValueError(f"checkpoint '{path}' was written by a fit on other data "
                                f"(different {data}); resume with the same {data}, or "
                                f"start a new fit with {named('init')}=<the checkpoint's "
                                f"model>")
    try:
        state = {k: convert(arrays[k]) for k, convert in _SCALARS.items()}
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"checkpoint '{path}' holds a value of the wrong kind "
                                f"({exc}); it is damaged") from None
    state.update({k: arrays[k] for k in _ARRAYS})
    state.update(params=params, hyper=hyper, data_hash=str(arrays["data_hash"]),
                 history={k: arrays["history__" + k].tolist() for k in HISTORY_KEYS})
    return state
