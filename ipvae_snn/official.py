"""
Import models trained with the paper's official PyTorch code.

The official trainer (github.com/hadivafaii/IterativeVAE) writes one folder
per fit::

    ConfigPoisVAE.json                       model configuration
    ConfigTrain.json                         trainer configuration (not needed here)
    IPVAE+Trainer-0300_(2025_05_13,16:11).pt torch.save'd trainer dict

The ``.pt`` file holds a dict whose ``model`` entry is the model's
``state_dict``. `from_official` reads the parameters the inference dynamics
need from it and returns an `IPVAEParams`:

=========================  =============================================
state_dict key             parameter
=========================  =============================================
``layer.phi.weight``       Φ, shape (n_pixels, n_latents)
``layer.dec_log_sigma``    σ = exp(3.45 · tanh(dec_log_sigma / 3.45))
``layer.log_bias``         b = exp(log_bias)
``layer.log_lr.0``         lr = exp(log_lr)
``layer.u_init.0``         u_init (the prior log-rate)
``layer.eps``              clamp blend: c = 2 + eps · (clamp - 2)
=========================  =============================================

and from ``ConfigPoisVAE.json``: ``clamp_u`` and ``clamp_du`` (the clamp
levels c_u, c_du after blending with ``eps``), ``n_latents`` (checked against
Φ), plus the checks that the model is one the spiking network realizes: a
Poisson model (not the Gaussian iG-VAE), a linear decoder, gradient
inference (``inf_type = "grad"``) with one inner iteration and one layer.

The soft clamp and the exponentials are evaluated as the official code does,
in float32 (torch's ``tanh`` and ``exp``; σ with numpy's float32 ``exp``, the
convention of the reference ``.npz`` files), and then widened to float64, so
a converted checkpoint equals the ``.npz`` exported from the same weights:
bit for bit on the same kind of CPU, and to one unit in the last float32 place
for σ, b and lr across CPUs (torch's vectorised ``exp`` differs in the last
bit between instruction sets).

torch is needed only here: install it with ``pip install "ipvae-snn[official]"``.

Examples
--------
>>> from ipvae_snn.official import from_official
>>> params = from_official("runs/IPVAE_vH16")     # doctest: +SKIP
>>> params.save("ipvae_vH16.npz")                 # doctest: +SKIP
"""

import json
import os
import pickle
import re

import numpy as np

from .defaults import CLAMP_MIN, FLOAT32_EPS, SIGMA_SOFTCLAMP, SOFTPLUS_THRESHOLD
from .params import IPVAEParams
from .validation import (InvalidValueError, MissingDependencyError, MissingFileError,
                         MissingKeyError, check_folder, check_int)

__all__ = ["from_official", "list_checkpoints", "read_official_config",
           "MODEL_CONFIG", "REQUIRED_KEYS"]

#: Name of the official Poisson model configuration file.
MODEL_CONFIG = "ConfigPoisVAE.json"

#: Other official model configurations, and what they are (all unsupported).
_OTHER_CONFIGS = {
    "ConfigGausVAE.json": "a Gaussian iG-VAE (continuous latents, no spikes)",
    "ConfigLapVAE.json": "a Laplace VAE (continuous latents, no spikes)",
}

#: state_dict entries a Poisson model with a linear decoder must have.
REQUIRED_KEYS = ("layer.phi.weight", "layer.dec_log_sigma", "layer.log_bias",
                 "layer.log_lr.0", "layer.u_init.0", "layer.eps")

# Buffers of the official layer that are kept as metadata when present.
_OPTIONAL_KEYS = ("layer.temp", "layer.beta_inner", "layer.n_exp")

# Constant of the official code (main/layers.py, get_c: c_init for Poisson
# layers); its other constants are in `ipvae_snn.defaults` (SIGMA_SOFTCLAMP
# of get_dec_log_sigma, CLAMP_MIN of softclamp, SOFTPLUS_THRESHOLD).
_CLAMP_INIT_POISSON = 2.0

# The trainer's file name: <Model>+<Trainer>[-<checkpoint>]_(<timestamp>).pt
_CHECKPOINT_RE = re.compile(r"-(\d+)_\(")


def _import_torch():
    try:
        import torch
    except ImportError:
        raise MissingDependencyError(
            "reading official checkpoints needs PyTorch: "
            'pip install "ipvae-snn[official]"') from None
    return torch


def list_checkpoints(folder):
    """
    The ``.pt`` files of an official checkpoint folder with their numbers.

    Returns
    -------
    list of (int or None, str)
        ``(checkpoint number, file name)`` sorted by number (files whose name
        carries no number come first, as None).
    """
    folder = _check_folder(folder)
    files = [f for f in os.listdir(folder) if f.endswith(".pt")]
    out = []
    for f in files:
        m = _CHECKPOINT_RE.search(f)
        out.append((int(m.group(1)) if m else None, f))
    return sorted(out, key=lambda item: (item[0] is not None, item[0] or 0, item[1]))


def read_official_config(folder):
    """
    The model configuration of an official checkpoint folder, as a dict.

    Raises
    ------
    FileNotFoundError
        No ``ConfigPoisVAE.json`` in the folder.
    ValueError
        The folder holds another model type (e.g. ``ConfigGausVAE.json``, a
        Gaussian iG-VAE), or the file is not valid JSON.
    """
    folder = _check_folder(folder)
    names = set(os.listdir(folder))
    path = os.path.join(folder, MODEL_CONFIG)
    if MODEL_CONFIG not in names:
        for other, what in _OTHER_CONFIGS.items():
            if other in names:
                raise InvalidValueError(
                    f"official checkpoint folder '{folder}' holds {what} "
                    f"({other}); only Poisson iP-VAE models ({MODEL_CONFIG}) "
                    f"can run as a spiking network")
        configs = sorted(n for n in names if n.startswith("Config")
                         and n.endswith(".json"))
        raise MissingFileError(
            f"official checkpoint folder '{folder}' has no model configuration "
            f"'{MODEL_CONFIG}' (config files present: {configs or 'none'})")
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as exc:
        raise InvalidValueError(f"'{path}' is not a readable JSON file: {exc}") from None
    if not isinstance(cfg, dict):
        raise InvalidValueError(f"'{path}': expected a JSON object, got "
                         f"{type(cfg).__name__}")
    return cfg


def from_official(folder, checkpoint=None, use_ema=False, trust_pickle=False):
    """
    Read an official iP-VAE checkpoint folder into `IPVAEParams`.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder the official trainer wrote (``ConfigPoisVAE.json`` and one
        or more ``.pt`` files).
    checkpoint : int or str, optional
        Which ``.pt`` file: its checkpoint number (the ``-0300`` in
        ``IPVAE+Trainer-0300_(...).pt``) or its file name. Default: the only
        one, or the highest-numbered one.
    use_ema : bool
        Read the exponential-moving-average weights (``model_ema``) instead of
        ``model`` (only fits trained with ``ema_rate`` have them).
    trust_pickle : bool
        The trainer's file is a pickle. By default it is read with
        ``torch.load(weights_only=True)``, allowing only tensors, plain
        containers and numpy scalars/dtypes (the trainer's statistics hold
        numpy floats) — nothing in it can run code. Files that need other
        Python objects are refused with a message naming them; pass
        ``trust_pickle=True`` to unpickle such a file fully, only if you trust
        its source.

    Returns
    -------
    IPVAEParams
        With the official raw constants in ``metadata`` (``beta_outer``,
        ``t_train``, ``n_iters_inner``, ``clamp_init``, ``temp_buffer``,
        ``beta_inner``, ``n_exp``, ``official_checkpoint``).

    Raises
    ------
    ImportError
        torch is not installed.
    FileNotFoundError
        The folder, its ``ConfigPoisVAE.json`` or a ``.pt`` file is missing.
    KeyError
        The state_dict lacks a parameter (the message lists the missing keys).
    ValueError
        Several ``.pt`` files and no way to pick one, a model the spiking
        network does not realize (Gaussian/Laplace, non-linear decoder,
        several layers, several inner iterations, an activation), shapes that
        disagree with the configuration, or an unreadable file.
    """
    folder = _check_folder(folder)
    cfg = read_official_config(folder)
    _check_supported(cfg, folder)
    pt_name = _pick_checkpoint(folder, checkpoint)
    torch = _import_torch()
    blob = _load_pt(torch, os.path.join(folder, pt_name), trust_pickle)
    which = "model_ema" if use_ema else "model"
    if not isinstance(blob, dict) or which not in blob:
        keys = sorted(blob) if isinstance(blob, dict) else type(blob).__name__
        raise MissingKeyError(f"'{pt_name}': expected the official trainer's dict with "
                       f"a '{which}' entry, got {keys}")
    state = blob[which]
    if state is None:
        raise InvalidValueError(f"'{pt_name}' has no '{which}' weights (the fit did not "
                         f"keep an exponential moving average); use use_ema=False")
    if not isinstance(state, dict):
        raise InvalidValueError(f"'{pt_name}': '{which}' is not a state_dict "
                         f"(got {type(state).__name__})")
    return _params_from_state(torch, state, cfg, pt_name, blob)


# --------------------------------------------------------------- internals
def _check_folder(folder):
    return check_folder(folder, "official checkpoint folder",
                        hint=f"; pass the official checkpoint folder (the one holding "
                             f"{MODEL_CONFIG} and the .pt file)")


def _check_supported(cfg, folder):
    """Refuse configurations whose dynamics the spiking network does not realize."""
    src = f"{os.path.join(folder, MODEL_CONFIG)}"
    for key in ("n_latents", "clamp_u", "clamp_du"):
        if key not in cfg:
            raise MissingKeyError(f"{src}: missing key '{key}'")
    problems = []
    if cfg.get("dec_type", "lin") != "lin":
        problems.append(f"decoder dec_type={cfg['dec_type']!r} (only the linear "
                        f"dictionary decoder 'lin' is supported)")
    if cfg.get("inf_type", "grad") != "grad":
        problems.append(f"inference inf_type={cfg['inf_type']!r} (only the FOND "
                        f"gradient update 'grad' is supported)")
    if int(cfg.get("n_iters_inner", 1)) != 1:
        problems.append(f"n_iters_inner={cfg['n_iters_inner']} (with several inner "
                        f"iterations the update has an extra KL term; only 1 is "
                        f"supported)")
    if cfg.get("latent_act") is not None:
        problems.append(f"latent activation latent_act={cfg['latent_act']!r}")
    n_latents = cfg["n_latents"]
    if isinstance(n_latents, list) and len(n_latents) != 1:
        problems.append(f"n_latents={n_latents} (hierarchical models with several "
                        f"layers are not supported)")
    for key in ("clamp_u", "clamp_du"):
        value = cfg[key]
        if isinstance(value, list) and len(value) != 1:
            problems.append(f"{key}={value} (one clamp level expected)")
    if problems:
        raise InvalidValueError(f"{src}: unsupported model: " + "; ".join(problems))


def _scalar_cfg(cfg, key):
    value = cfg[key]
    if isinstance(value, list):
        value = value[0]
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidValueError(f"{MODEL_CONFIG}: '{key}' must be a number, got "
                         f"{value!r}") from None


def _pick_checkpoint(folder, checkpoint):
    found = list_checkpoints(folder)
    names = [f for _, f in found]
    if not found:
        raise MissingFileError(f"official checkpoint folder '{folder}' has no .pt "
                                f"file (the trainer's torch.save output)")
    if checkpoint is not None:
        if isinstance(checkpoint, (str, os.PathLike)):
            name = os.path.basename(os.fspath(checkpoint))
            if name not in names:
                raise MissingFileError(f"checkpoint file '{name}' is not in "
                                        f"'{folder}' (found: {names})")
            return name
        checkpoint = check_int(checkpoint, "checkpoint", minimum=None,
                               reason="a checkpoint number, or a file name")
        hits = [f for n, f in found if n == checkpoint]
        if len(hits) != 1:
            numbers = [n for n, _ in found]
            raise (MissingFileError if not hits else InvalidValueError)(
                f"checkpoint={checkpoint}: {'no' if not hits else len(hits)} "
                f".pt file(s) with that number in '{folder}' (numbers: {numbers}"
                f"; files: {names})")
        return hits[0]
    if len(found) == 1:
        return found[0][1]
    numbers = [n for n, _ in found]
    best = numbers[-1]
    if best is None or numbers.count(best) > 1:
        raise InvalidValueError(
            f"official checkpoint folder '{folder}' holds several .pt files and "
            f"the latest cannot be told from their names: {names}; pass "
            f"checkpoint=<number or file name>")
    return found[-1][1]


def _numpy_scalar_globals():
    """The classes a pickled numpy scalar needs (data only, no code)."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    allowed = [multiarray.scalar, np.dtype]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        allowed += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return allowed


def _load_pt(torch, path, trust_pickle):
    kwargs = dict(map_location="cpu")
    try:
        if trust_pickle:
            return torch.load(path, weights_only=False, **kwargs)
        safe = getattr(torch.serialization, "safe_globals", None)
        if safe is None:       # torch < 2.5: no allowlist context
            return torch.load(path, weights_only=True, **kwargs)
        with safe(_numpy_scalar_globals()):
            return torch.load(path, weights_only=True, **kwargs)
    except pickle.UnpicklingError as exc:
        unsafe = [] if trust_pickle else _unsafe_globals(torch, path)
        if unsafe or (not trust_pickle and "Unsupported global" in str(exc)):
            raise InvalidValueError(
                f"'{path}' needs Python objects beyond tensors and numpy scalars "
                f"to load{': ' + ', '.join(unsafe) if unsafe else ''}; it was "
                f"refused because unpickling them could run code. If you trust "
                f"the file's source, pass trust_pickle=True (CLI: "
                f"--trust-pickle)") from None
        raise InvalidValueError(f"'{path}' is not a readable torch checkpoint: "
                         f"{exc}") from None
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise InvalidValueError(f"'{path}' is not a readable torch checkpoint: "
                         f"{exc}") from None


def _unsafe_globals(torch, path):
    getter = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    if getter is None:
        return []
    try:
        allowed = {f"{c.__module__}.{c.__qualname__}" for c in _numpy_scalar_globals()}
        return [g for g in getter(path) if g not in allowed]
    except Exception:
        return []


def _params_from_state(torch, state, cfg, pt_name, blob):
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise MissingKeyError(f"'{pt_name}': the state_dict lacks {missing} (an iP-VAE "
                       f"with a linear decoder has {list(REQUIRED_KEYS)}); keys "
                       f"present: {sorted(state)}")
    known = set(REQUIRED_KEYS) | set(_OPTIONAL_KEYS)
    extra = sorted(k for k in state if k not in known)
    if extra:
        raise InvalidValueError(f"'{pt_name}': unsupported model: the state_dict has "
                         f"parameters an iP-VAE with a linear decoder lacks: "
                         f"{extra}")

    def tensor(key, ndim=None):
        value = state[key]
        if not torch.is_tensor(value):
            raise InvalidValueError(f"'{pt_name}': state_dict entry '{key}' is not a "
                             f"tensor (got {type(value).__name__})")
        return value.detach().to("cpu", torch.float32)

    phi = tensor("layer.phi.weight")
    if phi.ndim != 2:
        raise InvalidValueError(f"'{pt_name}': 'layer.phi.weight' must be 2-D "
                         f"(pixels x latents), got shape {tuple(phi.shape)}")
    n_pixels, n_latents = phi.shape
    expected = cfg["n_latents"]
    expected = int(expected[0] if isinstance(expected, list) else expected)
    if n_latents != expected:
        raise InvalidValueError(f"'{pt_name}': 'layer.phi.weight' has {n_latents} latents "
                         f"but {MODEL_CONFIG} says n_latents={expected}")
    shapes = {"layer.dec_log_sigma": n_pixels, "layer.log_bias": n_latents,
              "layer.log_lr.0": 1, "layer.u_init.0": n_latents, "layer.eps": 1}
    flat = {}
    for key, n in shapes.items():
        t = tensor(key).reshape(-1)
        if t.numel() != n:
            raise InvalidValueError(f"'{pt_name}': state_dict entry '{key}' has "
                             f"{t.numel()} values, expected {n} (from "
                             f"'layer.phi.weight' {tuple(phi.shape)})")
        flat[key] = t

    # The official code's float32 arithmetic, op for op (module docstring).
    log_sigma = flat["layer.dec_log_sigma"].div(SIGMA_SOFTCLAMP).tanh().mul(
        SIGMA_SOFTCLAMP).numpy()
    sigma = np.exp(log_sigma)
    bias = flat["layer.log_bias"].exp().numpy()
    lr = flat["layer.log_lr.0"].exp().numpy()[0]
    eps = flat["layer.eps"]
    clamps = {}
    for which in ("u", "du"):
        c_final = _scalar_cfg(cfg, f"clamp_{which}")
        clamps[which] = (_CLAMP_INIT_POISSON + eps * (c_final - _CLAMP_INIT_POISSON)
                         ).numpy()[0]
    metadata = dict(
        clamp_init=np.float32(_CLAMP_INIT_POISSON),
        beta_outer=np.float32(cfg.get("beta_outer", np.nan)),
        t_train=np.int32(cfg.get("t_train", 0)),
        n_iters_inner=np.int32(cfg.get("n_iters_inner", 1)),
        official_checkpoint=np.array(pt_name),
    )
    if "layer.temp" in state:
        metadata["temp_buffer"] = tensor("layer.temp").reshape(()).numpy()
    if "layer.beta_inner" in state:
        metadata["beta_inner"] = tensor("layer.beta_inner").reshape(()).numpy()
    if "layer.n_exp" in state and torch.is_tensor(state["layer.n_exp"]):
        metadata["n_exp"] = state["layer.n_exp"].detach().cpu().numpy().astype(np.int32)
    try:
        return IPVAEParams(
            phi=phi.numpy(), sigma=sigma, bias=bias, lr=lr,
            u_init=flat["layer.u_init.0"].numpy(), clamp_u=clamps["u"],
            clamp_du=clamps["du"], clamp_min=CLAMP_MIN,
            rate_eps=FLOAT32_EPS, softplus_threshold=SOFTPLUS_THRESHOLD,
            metadata=metadata)
    except ValueError as exc:
        raise InvalidValueError(f"'{pt_name}': {exc}") from None
