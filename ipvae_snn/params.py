"""
The parameters of an iP-VAE and their ``.npz`` file format.

One `IPVAEParams` object holds everything the inference dynamics need
(``../shared/design/ipvae-math.md`` §3): the dictionary ``phi`` (Φ, pixels ×
latents), the decoder std ``sigma`` (σ), the per-neuron leak ``bias`` (b ≥ 0),
the step size ``lr``, the prior log-rate ``u_init`` and the clamp constants.
Everything else in a model file (the official raw parameters, training
constants) is kept in ``metadata`` and written back on `IPVAEParams.save`.

Examples
--------
>>> import ipvae_snn
>>> params = ipvae_snn.default_params()
>>> params                                         # doctest: +ELLIPSIS
IPVAEParams(n_pixels=256, n_latents=512, lr=..., clamp_u=10, clamp_du=10, contrast=...)
>>> params.contrast                                # divides each input by its contrast
ContrastNormalization(reference=1.001, semi_saturation=0.3)
>>> params.replace(lr=0.05).lr
0.05
"""

import hashlib
import os
from importlib import resources

import numpy as np

from .contrast import CONTRAST_KEYS, ContrastNormalization
from .defaults import (CLAMP_DU, CLAMP_MIN, CLAMP_U, FLOAT32_EPS, MAX_ABS_VALUE,
                       MAX_CLAMP_U, MAX_SELF_INHIBITION, SIGMA_SOFTCLAMP,
                       SOFTPLUS_THRESHOLD)
from .io import atomic_savez, unreadable_reason
from .validation import (InvalidTypeError, InvalidValueError, MissingFileError,
                         MissingKeyError, check_file)

__all__ = ["IPVAEParams", "DEFAULT_MODEL", "BUNDLED_MODELS",
           "default_params", "load_model", "bundled_model_path", "unknown_model_message",
           "check_params"]

#: The models shipped inside the package: name -> (file in ``ipvae_snn/models``,
#: what it is). Each file's ``metadata`` holds its provenance.
BUNDLED_MODELS = {
    "natural": ("ipvae_snn_natural_k512.npz",
                "the default: K = 512, trained by this package from a random start "
                "on whitened 16x16 patches of the bundled training photographs "
                "(`ipvae-snn fit`, provenance in its metadata)"),
    "official": ("ipvae_k512.npz",
                 "K = 512, trained with the paper's official code (short CPU run, "
                 "1,024 iterations; shared/reference/README.md); the reference of "
                 "the step-exact tests"),
    "digits": ("ipvae_snn_digits_k512.npz",
               "K = 512, trained by this package on the training split of "
               "scikit-learn's digits (`ipvae_snn.data.digit_split`)"),
}
#: Name of the model `default_params` returns.
DEFAULT_MODEL_NAME = "natural"
#: File name of the default model.
DEFAULT_MODEL = BUNDLED_MODELS[DEFAULT_MODEL_NAME][0]

# Scalar constants: file key -> (attribute, default). The official files store
# the *effective* clamp levels as c_u / c_du (clamp_init + eps * (clamp -
# clamp_init)); plain clamp_u / clamp_du are the fallback.
_SCALARS = {
    "clamp_u": ("c_u", "clamp_u", CLAMP_U),
    "clamp_du": ("c_du", "clamp_du", CLAMP_DU),
    "clamp_min": ("hard_clamp_min", None, CLAMP_MIN),
    "rate_eps": ("rate_eps", None, FLOAT32_EPS),
    "softplus_threshold": ("softplus_threshold", None, SOFTPLUS_THRESHOLD),
}

# Keys that `save` derives from the fields; stale copies of them are never
# carried over from ``metadata``.
_DERIVED_KEYS = {
    "phi", "dec_sigma", "dec_var", "dec_log_sigma", "dec_log_sigma_softclamped",
    "dec_log_sigma_clamp_c", "bias", "log_bias", "lr", "log_lr", "u_init",
    "clamp_u", "clamp_du", "c_u", "c_du", "eps", "hard_clamp_min", "rate_eps",
    "softplus_threshold", *CONTRAST_KEYS,
}


def _as_float_array(name, value, ndim):
    try:
        dtype = np.asarray(value).dtype
        if dtype.kind in "cmMSUV":          # complex, times, text: not real numbers
            raise TypeError(f"dtype {dtype}")
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"parameter '{name}' is not numeric: {exc}") from None
    if arr.ndim != ndim:
        kind = {0: "a scalar", 1: "a 1-D array", 2: "a 2-D array"}[ndim]
        raise InvalidValueError(f"parameter '{name}' must be {kind}, "
                         f"got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InvalidValueError(f"parameter '{name}' contains {int(bad.sum())} "
                         f"non-finite value(s) (NaN or inf)")
    return arr


class IPVAEParams:
    """
    Parameters of an iterative Poisson VAE with a linear decoder.

    Parameters
    ----------
    phi : array_like, shape (n_pixels, n_latents)
        Dictionary Φ; column k is neuron k's receptive field.
    sigma : array_like, shape (n_pixels,)
        Effective per-pixel decoder std σ (> 0).
    bias : array_like, shape (n_latents,)
        Per-neuron leak b (≥ 0), the cost of a spike.
    lr : float
        Step size of the FOND update (> 0).
    u_init : array_like, shape (n_latents,)
        Initial membrane potential, the prior log-rate.
    clamp_u, clamp_du : float
        Upper soft-clamp levels of u and of the update Δu (official ``c_u``,
        ``c_du``).
    clamp_min : float
        Hard lower clamp of u and Δu (official ``hard_clamp_min``, -8).
    rate_eps : float
        Constant added to ``exp(u)`` to form the Poisson rate.
    softplus_threshold : float
        Above this argument softplus returns its input (torch's convention).
    contrast : ContrastNormalization, optional
        Divides every input by its contrast before the network (`ipvae_snn.contrast`).
    metadata : dict, optional
        Further arrays kept with the model and written back on `save`.

    Raises
    ------
    InvalidValueError
        (a `ValueError`) Naming the parameter: wrong shape, NaN/inf,
        ``sigma <= 0``, ``bias < 0``, ``lr <= 0``, ``clamp_min >= clamp_u``,
        ``u_init > clamp_u``, ``clamp_u > 20``, and finite values that would
        overflow the dynamics: magnitudes beyond 1e6 (σ below 1e-6), a
        self-inhibition ``‖φ_k‖²/σ²`` beyond 1e12 (`ipvae_snn.defaults`).

    Examples
    --------
    >>> import numpy as np
    >>> p = IPVAEParams(phi=np.eye(4, 3), sigma=np.ones(4), bias=np.full(3, 0.1),
    ...                 lr=0.5, u_init=np.full(3, -2.0))
    >>> p.n_pixels, p.n_latents
    (4, 3)
    >>> p.feedforward(np.ones(4)).tolist()
    [1.0, 1.0, 1.0]
    >>> IPVAEParams(phi=np.eye(4, 3), sigma=np.ones(4), bias=np.full(3, -0.1),
    ...             lr=0.5, u_init=np.zeros(3))
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: parameter 'bias' must be >= 0, got -0.1 at neuron 0
    """

    def __init__(self, phi, sigma, bias, lr, u_init, clamp_u=CLAMP_U,
                 clamp_du=CLAMP_DU, clamp_min=CLAMP_MIN, rate_eps=FLOAT32_EPS,
                 softplus_threshold=SOFTPLUS_THRESHOLD, contrast=None, metadata=None):
        self.phi = _as_float_array("phi", phi, 2)
        n_pixels, n_latents = self.phi.shape
        if n_pixels == 0 or n_latents == 0:
            raise InvalidValueError(f"parameter 'phi' is empty (shape {self.phi.shape})")
        self.sigma = _as_float_array("sigma", sigma, 1)
        self.bias = _as_float_array("bias", bias, 1)
        self.u_init = _as_float_array("u_init", u_init, 1)
        for name, arr, n, what in (("sigma", self.sigma, n_pixels, "n_pixels"),
                                   ("bias", self.bias, n_latents, "n_latents"),
                                   ("u_init", self.u_init, n_latents, "n_latents")):
            if arr.shape != (n,):
                raise InvalidValueError(
                    f"parameter '{name}' has shape {arr.shape}, but phi "
                    f"{self.phi.shape} implies ({what},) = ({n},)")
        self.lr = float(_as_float_array("lr", lr, 0))
        self.clamp_u = float(_as_float_array("clamp_u", clamp_u, 0))
        self.clamp_du = float(_as_float_array("clamp_du", clamp_du, 0))
        self.clamp_min = float(_as_float_array("clamp_min", clamp_min, 0))
        self.rate_eps = float(_as_float_array("rate_eps", rate_eps, 0))
        self.softplus_threshold = float(
            _as_float_array("softplus_threshold", softplus_threshold, 0))
        if (self.sigma <= 0).any():
            i = int(np.argmin(self.sigma))
            raise InvalidValueError(f"parameter 'sigma' must be > 0, got "
                             f"{self.sigma[i]:g} at pixel {i}")
        if (self.bias < 0).any():
            i = int(np.argmin(self.bias))
            raise InvalidValueError(f"parameter 'bias' must be >= 0, got "
                             f"{self.bias[i]:g} at neuron {i}")
        if self.lr <= 0:
            raise InvalidValueError(f"parameter 'lr' must be > 0, got {self.lr:g}")
        if self.rate_eps < 0:
            raise InvalidValueError(f"parameter 'rate_eps' must be >= 0, got {self.rate_eps:g}")
        for name in (n for n in ("clamp_u", "clamp_du") if getattr(self, n) <= self.clamp_min):
            raise InvalidValueError(f"parameter '{name}' ({getattr(self, name):g}) "
                                    f"must exceed clamp_min ({self.clamp_min:g})")
        self._check_magnitudes()
        self.contrast = ContrastNormalization.check(contrast, "parameter 'contrast'")
        self.metadata = dict(metadata or {})

    def _check_magnitudes(self):
        """
        Finite values that would overflow the dynamics: every intermediate of a
        run must stay finite in float32 (see `~ipvae_snn.defaults.MAX_ABS_VALUE`).
        """
        big = MAX_ABS_VALUE
        for name, arr, what in (("phi", self.phi, "entry"), ("bias", self.bias, "neuron"),
                                ("u_init", self.u_init, "neuron"),
                                ("sigma", self.sigma, "pixel")):
            worst = tuple(int(i) for i in
                          np.unravel_index(int(np.argmax(np.abs(arr))), arr.shape))
            if abs(arr[worst]) > big:
                at = worst if arr.ndim > 1 else worst[0]
                raise InvalidValueError(
                    f"parameter '{name}' has a value of {arr[worst]:.3g} (at {what} {at}); "
                    f"magnitudes beyond {big:g} overflow the network's arithmetic (the "
                    f"model works on whitened patches of unit scale)")
        if self.sigma.min() < 1 / big:
            i = int(np.argmin(self.sigma))
            raise InvalidValueError(f"parameter 'sigma' must be >= {1 / big:g}, got "
                                    f"{self.sigma[i]:.3g} at pixel {i} (its inverse square "
                                    f"overflows the network's arithmetic)")
        for name in ("lr", "clamp_du", "clamp_min", "rate_eps", "softplus_threshold"):
            value = getattr(self, name)
            if abs(value) > big:
                raise InvalidValueError(f"parameter '{name}' is {value:.3g}; magnitudes "
                                        f"beyond {big:g} overflow the network's arithmetic")
        if self.clamp_u > MAX_CLAMP_U:
            raise InvalidValueError(
                f"parameter 'clamp_u' is {self.clamp_u:g}, above {MAX_CLAMP_U:g}: rates up "
                f"to exp(clamp_u) spikes per window overflow the spike counts")
        if (self.u_init > self.clamp_u).any():
            i = int(np.argmax(self.u_init))
            raise InvalidValueError(
                f"parameter 'u_init' must not exceed clamp_u ({self.clamp_u:g}), got "
                f"{self.u_init[i]:g} at neuron {i}: the first window would draw from a "
                f"rate of exp({self.u_init[i]:g}) spikes")
        # the diagonal of W = Φᵀ Σ⁻¹ Φ, the largest lateral weight
        self_inhibition = np.square(self.phi / self.sigma[:, None]).sum(axis=0)
        k = int(np.argmax(self_inhibition))
        if not self_inhibition[k] <= MAX_SELF_INHIBITION:
            raise InvalidValueError(
                f"parameters 'phi' and 'sigma' give neuron {k} a self-inhibition "
                f"|phi_k|^2 / sigma^2 of {self_inhibition[k]:.3g}, beyond "
                f"{MAX_SELF_INHIBITION:g}: the lateral weights W = phi^T Sigma^-1 phi "
                f"overflow the network's arithmetic")

    # ------------------------------------------------------------------ sizes
    @property
    def n_pixels(self):
        """Number of input pixels M."""
        return self.phi.shape[0]

    @property
    def n_latents(self):
        """Number of latent neurons K."""
        return self.phi.shape[1]

    # ------------------------------------------------------- derived arrays
    @property
    def precision(self):
        """Per-pixel decoder precision 1/σ², shape (n_pixels,)."""
        return 1.0 / self.sigma ** 2

    def lateral_weights(self, dtype=np.float64):
        """
        The lateral inhibition W = Φᵀ Σ⁻¹ Φ, shape (n_latents, n_latents).

        ``W[i, j]`` is how much one spike of neuron j lowers neuron i's drive;
        the diagonal ``‖φ_i‖²/σ²`` is the self-inhibition that acts as reset.
        """
        scaled = self.phi * self.precision[:, None]
        return (self.phi.T @ scaled).astype(dtype, copy=False)

    def feedforward(self, x, dtype=np.float64):
        """
        The feed-forward drive ``Φᵀ Σ⁻¹ x`` of each neuron, shape (..., n_latents).
        """
        x = np.asarray(x, dtype=np.float64)
        return ((x * self.precision) @ self.phi).astype(dtype, copy=False)

    def fingerprint(self):
        """A hex digest identifying these parameters (build caches key on it)."""
        h = hashlib.sha256()
        for arr in (self.phi, self.sigma, self.bias, self.u_init):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(np.array([self.lr, self.clamp_u, self.clamp_du, self.clamp_min,
                           self.rate_eps, self.softplus_threshold]).tobytes())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------- copying
    def get_params(self):
        """All constructor arguments as a dict (arrays are copies)."""
        return dict(phi=self.phi.copy(), sigma=self.sigma.copy(),
                    bias=self.bias.copy(), lr=self.lr, u_init=self.u_init.copy(),
                    clamp_u=self.clamp_u, clamp_du=self.clamp_du,
                    clamp_min=self.clamp_min, rate_eps=self.rate_eps,
                    softplus_threshold=self.softplus_threshold,
                    contrast=self.contrast, metadata=dict(self.metadata))

    def replace(self, **changes):
        """A validated copy with some parameters changed."""
        kwargs = self.get_params()
        unknown = set(changes) - set(kwargs)
        if unknown:
            raise MissingKeyError(f"unknown parameter(s) {sorted(unknown)}; "
                           f"known: {sorted(kwargs)}")
        kwargs.update(changes)
        return IPVAEParams(**kwargs)

    def __eq__(self, other):
        if not isinstance(other, IPVAEParams):
            return NotImplemented
        a, b = self.get_params(), other.get_params()
        a.pop("metadata"), b.pop("metadata")
        return a.pop("contrast") == b.pop("contrast") and all(
            np.array_equal(a[k], b[k]) for k in a)

    def __repr__(self):
        return (f"IPVAEParams(n_pixels={self.n_pixels}, n_latents={self.n_latents}, "
                f"lr={self.lr:.4g}, clamp_u={self.clamp_u:g}, clamp_du={self.clamp_du:g}"
                + ("" if self.contrast is None else f", contrast={self.contrast!r}") + ")")

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_arrays(cls, arrays, source="model"):
        """
        Build parameters from a mapping in the ``.npz`` key format.

        Required keys: ``phi``, ``u_init`` and each of ``dec_sigma``, ``bias``,
        ``lr`` or its raw official form (``dec_log_sigma_softclamped`` /
        ``dec_log_sigma``, ``log_bias``, ``log_lr``).

        Raises
        ------
        InvalidTypeError
            ``arrays`` is not a mapping (None, a list, ...).
        """
        if not hasattr(arrays, "keys") or not hasattr(arrays, "__getitem__"):
            raise InvalidTypeError(f"{source}: arrays must be a mapping of key -> array "
                                   f"(a dict, an opened .npz), got "
                                   f"{type(arrays).__name__}")
        keys = set(arrays.keys())

        def need(*candidates):
            for key in candidates:
                if key in keys:
                    return key
            raise MissingKeyError(f"{source}: missing key '{candidates[0]}'"
                           + (f" (or {', '.join(repr(c) for c in candidates[1:])})"
                              if len(candidates) > 1 else "")
                           + f"; keys present: {sorted(keys)}")

        def numeric(key):
            if np.asarray(arrays[key]).dtype.kind in "cmMSUV":
                raise InvalidValueError(f"{source}: key '{key}' is not numeric (dtype "
                                        f"{np.asarray(arrays[key]).dtype})")
            try:
                return np.asarray(arrays[key], dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise InvalidValueError(f"{source}: key '{key}' is not numeric "
                                        f"({exc})") from None

        phi = arrays[need("phi")]
        u_init = arrays[need("u_init")]
        key = need("dec_sigma", "dec_log_sigma_softclamped", "dec_log_sigma")
        sigma = numeric(key)
        # raw forms: an overflow becomes inf, which the constructor names
        with np.errstate(over="ignore", invalid="ignore"):
            if key == "dec_log_sigma_softclamped":
                sigma = np.exp(sigma)
            elif key == "dec_log_sigma":
                c = (numeric("dec_log_sigma_clamp_c") if "dec_log_sigma_clamp_c" in keys
                     else np.float64(SIGMA_SOFTCLAMP))
                if c.ndim != 0 or not np.isfinite(c) or c <= 0:
                    raise InvalidValueError(f"{source}: key 'dec_log_sigma_clamp_c' must "
                                            f"be a positive number, got {c!r}")
                sigma = np.exp(c * np.tanh(sigma / c))
            key = need("bias", "log_bias")
            bias = numeric(key)
            bias = np.exp(bias) if key == "log_bias" else bias
            key = need("lr", "log_lr")
            lr = numeric(key)
            lr = np.exp(lr) if key == "log_lr" else lr
        scalars = {}
        for attr, (key, fallback, default) in _SCALARS.items():
            if key in keys:
                scalars[attr] = arrays[key]
            elif fallback is not None and fallback in keys:
                scalars[attr] = arrays[fallback]
            else:
                scalars[attr] = default
        metadata = {k: np.asarray(arrays[k]) for k in keys - _DERIVED_KEYS}
        contrast = ContrastNormalization.from_arrays(arrays, source)
        try:
            return cls(phi=phi, sigma=sigma, bias=bias, lr=lr, u_init=u_init,
                       contrast=contrast, metadata=metadata, **scalars)
        except ValueError as exc:
            raise InvalidValueError(f"{source}: {exc}") from None

    def to_arrays(self):
        """The ``.npz`` key format: fields, their official raw forms, metadata."""
        out = {k: v for k, v in self.metadata.items() if k not in _DERIVED_KEYS}
        log_sigma = np.log(self.sigma)
        out.update(
            phi=self.phi, dec_sigma=self.sigma, dec_var=self.sigma ** 2,
            dec_log_sigma_softclamped=log_sigma, bias=self.bias,
            lr=np.float64(self.lr), log_lr=np.log(np.float64(self.lr)),
            u_init=self.u_init, c_u=np.float64(self.clamp_u),
            c_du=np.float64(self.clamp_du), clamp_u=np.float64(self.clamp_u),
            clamp_du=np.float64(self.clamp_du), eps=np.float64(1.0),
            hard_clamp_min=np.float64(self.clamp_min),
            rate_eps=np.float64(self.rate_eps),
            softplus_threshold=np.float64(self.softplus_threshold),
        )
        if np.all(np.abs(log_sigma) < SIGMA_SOFTCLAMP):
            out["dec_log_sigma_clamp_c"] = np.float64(SIGMA_SOFTCLAMP)
            out["dec_log_sigma"] = SIGMA_SOFTCLAMP * np.arctanh(
                log_sigma / SIGMA_SOFTCLAMP)
        if np.all(self.bias > 0):
            out["log_bias"] = np.log(self.bias)
        out.update({} if self.contrast is None else self.contrast.to_arrays())
        return out

    @classmethod
    def load(cls, path):
        """
        Load parameters from a ``.npz`` model file.

        Raises
        ------
        MissingFileError
            (a `FileNotFoundError`) If ``path`` does not exist.
        MissingKeyError
            (a `KeyError`) Naming a missing key.
        InvalidValueError
            (a `ValueError`) Naming the key with a wrong shape, non-finite or
            out-of-range value.
        """
        path = check_file(path, "model")
        try:
            data = np.load(path, allow_pickle=False)
            if isinstance(data, np.ndarray):
                raise ValueError("it holds a single array, not named arrays")
            with data:
                arrays = {k: data[k] for k in data.files}
        except Exception as exc:
            raise InvalidValueError(f"model file '{path}' is not a readable .npz "
                                    f"file: {unreadable_reason(path, exc)}") from exc
        return cls.from_arrays(arrays, source=f"model file '{path}'")

    def save(self, path):
        """Save to ``path`` (``.npz``) atomically: temporary file, then rename."""
        atomic_savez(path, **self.to_arrays())

    @classmethod
    def default(cls):
        """The default bundled model (``BUNDLED_MODELS["natural"]``)."""
        return cls.bundled(DEFAULT_MODEL_NAME)

    @classmethod
    def bundled(cls, name):
        """
        A model shipped with the package, by name (`BUNDLED_MODELS`).

        Examples
        --------
        >>> IPVAEParams.bundled("official").n_latents
        512
        """
        return cls.load(bundled_model_path(name))

    @classmethod
    def random(cls, n_pixels, n_latents, random_state=None, scale=None,
               template=None):
        """
        Random parameters for learning from scratch.

        Φ has Gaussian entries with unit-norm columns times ``scale`` (default
        ``0.3``, the column norm of the reference model's dictionary), σ = 1,
        and the remaining parameters are copied from ``template`` (default: the
        bundled official model when its shape matches, else b = 0.05, lr = 0.5,
        u_init = -4). The template is fixed, not the default model, so that a
        fit from a random start reproduces whatever the default is.
        """
        rng = np.random.default_rng(random_state)
        phi = rng.standard_normal((n_pixels, n_latents))
        phi /= np.linalg.norm(phi, axis=0, keepdims=True)
        phi *= 0.3 if scale is None else scale
        if template is None:
            template = cls.bundled("official")
            if template.n_latents != n_latents:
                template = None
        if template is not None:
            return cls(phi=phi, sigma=np.ones(n_pixels), bias=template.bias,
                       lr=template.lr, u_init=template.u_init,
                       clamp_u=template.clamp_u, clamp_du=template.clamp_du,
                       clamp_min=template.clamp_min, rate_eps=template.rate_eps,
                       softplus_threshold=template.softplus_threshold)
        return cls(phi=phi, sigma=np.ones(n_pixels), bias=np.full(n_latents, 0.05),
                   lr=0.5, u_init=np.full(n_latents, -4.0))


def bundled_model_path(name):
    """Path of the file of the bundled model ``name`` (`BUNDLED_MODELS`)."""
    if name not in BUNDLED_MODELS:
        raise InvalidValueError(f"unknown bundled model {name!r}; choose one of "
                                f"{sorted(BUNDLED_MODELS)} or give a model file")
    return str(resources.files("ipvae_snn") / "models" / BUNDLED_MODELS[name][0])


def default_model_path():
    """Path of the default bundled model file."""
    return bundled_model_path(DEFAULT_MODEL_NAME)


def default_params():
    """
    The default model: `IPVAEParams.default` (``BUNDLED_MODELS["natural"]``).

    Examples
    --------
    >>> default_params().n_latents
    512
    """
    return IPVAEParams.default()


def check_params(params, name="params"):
    """
    ``params`` if it is an `IPVAEParams`; the functions that run a model
    take one, not a name or a path (`load_model` turns those into one), and
    raise `InvalidTypeError` saying so.

    Examples
    --------
    >>> check_params("natural")
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidTypeError: params must be an IPVAEParams, got str 'natural'; ...
    """
    if not isinstance(params, IPVAEParams):
        shown = f" {params!r}" if isinstance(params, (str, os.PathLike)) else ""
        raise InvalidTypeError(f"{name} must be an IPVAEParams, got "
                               f"{type(params).__name__}{shown}; load a model with "
                               f"ipvae_snn.load_model(name or path), e.g. "
                               f"load_model('{DEFAULT_MODEL_NAME}')")
    return params


def unknown_model_message(name):
    """
    The message for a model ``name`` that is neither bundled nor a file,
    with the closest bundled name.

    Examples
    --------
    >>> unknown_model_message("naturl")
    "model 'naturl' is neither a bundled model nor a file; did you mean 'natural'? ..."
    """
    import difflib
    close = difflib.get_close_matches(str(name), list(BUNDLED_MODELS), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return (f"model '{name}' is neither a bundled model nor a file; {hint}bundled "
            f"models: {', '.join(sorted(BUNDLED_MODELS))}")


def load_model(model, name="model"):
    """
    A model by bundled name (`BUNDLED_MODELS`) or ``.npz`` path; an
    `IPVAEParams` passes through. ``name``: the argument's, for messages.

    Raises
    ------
    InvalidTypeError
        ``model`` is none of the three (None, a dict, a number, ...).
    MissingFileError
        Neither a bundled name nor an existing file (the message suggests
        the closest bundled name).

    Examples
    --------
    >>> load_model("official").n_pixels
    256
    >>> load_model({"phi": 1})
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidTypeError: model must be an IPVAEParams, a bundled model's ...
    """
    if isinstance(model, IPVAEParams):
        return model
    if isinstance(model, str) and model in BUNDLED_MODELS:
        return IPVAEParams.bundled(model)
    if not isinstance(model, (str, os.PathLike)) or not os.fspath(model):
        names = ", ".join(repr(n) for n in sorted(BUNDLED_MODELS))
        raise InvalidTypeError(f"{name} must be an IPVAEParams, a bundled model's name "
                               f"({names}) or the path of a model .npz, got "
                               f"{type(model).__name__ if model != '' else repr(model)}")
    path = os.fspath(model)
    if not os.path.exists(path) and os.sep not in path and "." not in path:
        raise MissingFileError(unknown_model_message(path))
    return IPVAEParams.load(path)
